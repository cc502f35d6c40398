"""Cryptographic foundation: keys, DSSE envelopes and in-toto statements."""
