"""Statement bundles: the approvals collected for one artifact before it is proposed.

``sealgate sign`` appends a DSSE envelope to ``<artifact>.statements.json``; ``registry
propose`` copies the envelopes into the registry entry. The bundle is only a carrier: the
gate verifies every envelope against the signed policy, whatever the bundle says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealgate._fs import atomic_write
from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.crypto.dsse import MAX_ENVELOPE_SIZE, Envelope
from sealgate.errors import MalformedInputError

__all__ = ["BUNDLE_TYPE", "StatementBundle", "bundle_path_for"]

BUNDLE_TYPE = "sealgate/statements/v1"
MAX_STATEMENTS = 64


def bundle_path_for(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".statements.json")


@dataclass(frozen=True, slots=True)
class StatementBundle:
    target: str
    sha256: str
    envelopes: tuple[Envelope, ...]

    @classmethod
    def read(cls, path: Path) -> StatementBundle:
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise MalformedInputError(f"statement bundle {path} does not exist; sign the artifact first") from exc
        doc = loads_strict(data, what=f"statement bundle {path}", max_size=MAX_ENVELOPE_SIZE * MAX_STATEMENTS)
        if not isinstance(doc, dict) or doc.get("_type") != BUNDLE_TYPE:
            raise MalformedInputError(f"{path} is not a sealgate statement bundle ({BUNDLE_TYPE})")
        subject = doc.get("subject")
        envelopes = doc.get("envelopes")
        if not isinstance(subject, dict) or not isinstance(envelopes, list) or len(envelopes) > MAX_STATEMENTS:
            raise MalformedInputError(f"statement bundle {path} is malformed")
        target, sha = subject.get("name"), subject.get("sha256")
        if not isinstance(target, str) or not isinstance(sha, str):
            raise MalformedInputError(f"statement bundle {path} has no subject name and sha256")
        return cls(target, sha, tuple(Envelope.from_dict(e) for e in envelopes))

    def with_envelope(self, envelope: Envelope) -> StatementBundle:
        if len(self.envelopes) >= MAX_STATEMENTS:
            raise MalformedInputError(f"a bundle holds at most {MAX_STATEMENTS} statements")
        kept = tuple(e for e in self.envelopes if e.to_bytes() != envelope.to_bytes())
        return StatementBundle(self.target, self.sha256, (*kept, envelope))

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": BUNDLE_TYPE,
            "subject": {"name": self.target, "sha256": self.sha256},
            "envelopes": [e.to_dict() for e in self.envelopes],
        }

    def write(self, path: Path) -> None:
        atomic_write(path, canonical_bytes(self.to_dict()), mode=0o600)
