"""Tests of the tamper-evident audit log (sealgate.audit) and its storage."""
