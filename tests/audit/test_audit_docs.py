"""docs/audit.md shows a real record, checkpoint and verifier key: regenerate them and compare."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from sealgate.audit import NoteVerifier, open_audit_log, verify_checkpoint
from sealgate.crypto.keys import PrivateKey

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
ORIGIN = "sealgate.example/audit"
RECORD = {
    "_type": "sealgate/decision/v1",
    "allowed": True,
    "reason": "allowed",
    "subject": {"path": "tools/acme/hello/1.0.0", "digest": hashlib.sha256(b"test").hexdigest()},
    "interface": "cli",
}


def test_docs_example_record_checkpoint_and_key_are_real(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    seed = hashlib.sha256(b"sealgate docs/audit.md example key").digest()
    key = PrivateKey.from_crypto(ed25519.Ed25519PrivateKey.from_private_bytes(seed))
    verifier = NoteVerifier(ORIGIN, key.public)
    with open_audit_log(tmp_path) as log:
        log.append(RECORD)
        record = log.record(0).decode()
        note = log.checkpoint(ORIGIN, key).decode()
    assert record in text
    assert note.strip() in text
    assert verifier.vkey in text
    assert verify_checkpoint(note.encode(), origin=ORIGIN, verifiers=[verifier]).size == 1
