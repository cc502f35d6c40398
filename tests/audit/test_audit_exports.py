"""The public API of ``sealgate.audit`` is exactly what we meant to export (httpx-style check)."""

from __future__ import annotations

import sealgate.audit

EXPECTED = {
    # opening and using a log
    "open_audit_log",
    "AuditLog",
    "AppendReceipt",
    "AppendStats",
    "TreeHead",
    "check_canonical_record",
    "DEFAULT_LOCK_TIMEOUT",
    "MAX_RECORD_SIZE",
    # proofs (pure verifiers)
    "InclusionProof",
    "ConsistencyProof",
    "verify_inclusion",
    "verify_consistency",
    "leaf_hash",
    "node_hash",
    "EMPTY_ROOT",
    # checkpoints and the verifier's state
    "Checkpoint",
    "NoteVerifier",
    "sign_checkpoint",
    "verify_checkpoint",
    "MAX_NOTE_SIZE",
    "VerifierState",
    "ProofSource",
    "LAST_CHECKPOINT",
    # errors beyond sealgate.errors
    "AuditTamperedError",
}


def test_audit_all_is_the_intended_public_api() -> None:
    assert set(sealgate.audit.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(sealgate.audit, name) is not None


def test_audit_public_names_do_not_leak_internals() -> None:
    public = {name for name in dir(sealgate.audit) if not name.startswith("_")}
    # Submodules are private (_log, _merkle, ...); "annotations" comes from the __future__ import.
    assert public - EXPECTED <= {"annotations"}
