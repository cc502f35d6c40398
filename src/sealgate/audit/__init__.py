"""The tamper-evident audit log (ARCHITECTURE.md "Formats: Audit log"; docs/audit.md).

Every gate decision and run outcome is appended as RFC 8785 canonical JSON to an
append-only Merkle log hashed per RFC 9162. Signed checkpoints (C2SP tlog-checkpoint in a
C2SP signed note) commit to its tree head; inclusion and consistency proofs show that a
record is in it and that it only ever grew. Storage is SQLite under ``SEALGATE_HOME`` by
default and PostgreSQL for many hosts, where the gate's role may only append through a
server-side function.

Typical use::

    log = open_audit_log(home)                       # or open_audit_log(home, "postgresql://…")
    receipt = log.append({"_type": "sealgate/decision/v1", ...})
    note = log.checkpoint("sealgate.example/audit", key)
    state = VerifierState.for_home(home, origin="sealgate.example/audit",
                                   verifiers=[NoteVerifier("sealgate.example/audit", key.public)])
    state.accept(note, log)                          # consistent with the last accepted one?
    log.verify(checkpoint=state.last())              # every stored byte re-hashed

Importing this package does not import psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from ._checkpoint import MAX_NOTE_SIZE, Checkpoint, NoteVerifier, sign_checkpoint, verify_checkpoint
    from ._log import DEFAULT_LOCK_TIMEOUT, AuditLog, check_canonical_record, open_audit_log
    from ._merkle import (
        EMPTY_ROOT,
        ConsistencyProof,
        InclusionProof,
        leaf_hash,
        node_hash,
        verify_consistency,
        verify_inclusion,
    )
    from ._state import LAST_CHECKPOINT, ProofSource, VerifierState
    from ._types import MAX_RECORD_SIZE, AppendReceipt, AppendStats, AuditTamperedError, TreeHead

# Names are resolved on first use (PEP 562) so that the gate, which only appends, does not pay
# at start-up for checkpoints, notes and the verifier state.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ["MAX_NOTE_SIZE", "Checkpoint", "NoteVerifier", "sign_checkpoint", "verify_checkpoint"], "_checkpoint"
    ),
    **dict.fromkeys(["DEFAULT_LOCK_TIMEOUT", "AuditLog", "check_canonical_record", "open_audit_log"], "_log"),
    **dict.fromkeys(
        [
            "EMPTY_ROOT",
            "ConsistencyProof",
            "InclusionProof",
            "leaf_hash",
            "node_hash",
            "verify_consistency",
            "verify_inclusion",
        ],
        "_merkle",
    ),
    **dict.fromkeys(["LAST_CHECKPOINT", "ProofSource", "VerifierState"], "_state"),
    **dict.fromkeys(["MAX_RECORD_SIZE", "AppendReceipt", "AppendStats", "AuditTamperedError", "TreeHead"], "_types"),
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "EMPTY_ROOT",
    "LAST_CHECKPOINT",
    "MAX_NOTE_SIZE",
    "MAX_RECORD_SIZE",
    "AppendReceipt",
    "AppendStats",
    "AuditLog",
    "AuditTamperedError",
    "Checkpoint",
    "ConsistencyProof",
    "InclusionProof",
    "NoteVerifier",
    "ProofSource",
    "TreeHead",
    "VerifierState",
    "check_canonical_record",
    "leaf_hash",
    "node_hash",
    "open_audit_log",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]
