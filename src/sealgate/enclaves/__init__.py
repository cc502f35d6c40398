"""Enclave governance (issue 4): measurements, DCAP quote verification, mock attestation."""
