"""in-toto Statement v1 payloads carrying sealgate approvals.

An approval statement says "this principal, acting as ROLE, approves the artifact whose
registry target path is NAME and whose SHA-256 is DIGEST". The role inside the statement is
only a claim: it counts only when the signed trust policy binds the signer's principal to
that role and namespace (ARCHITECTURE.md "Words: principal").
"""

from __future__ import annotations

from collections.abc import Mapping

from sealgate._dataclass import dataclass
from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.crypto.dsse import Envelope, sign_envelope
from sealgate.crypto.keys import KeyId, PrivateKey, PublicKey
from sealgate.errors import MalformedInputError, VerificationError

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "ROLES",
    "STATEMENT_TYPE",
    "ApprovalStatement",
    "make_approval",
    "verify_approval",
]

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://sealgate.dev/approval/v1"
ROLES = ("author", "reviewer", "approver")


@dataclass(frozen=True, slots=True)
class ApprovalStatement:
    """A verified approval: who signed (key ids), the claimed role, the subject."""

    subject_name: str
    subject_sha256: str
    role: str
    keyids: frozenset[KeyId]


def make_approval(subject_name: str, subject_sha256: str, role: str, key: PrivateKey) -> Envelope:
    if role not in ROLES:
        raise MalformedInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {"sha256": subject_sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"role": role},
    }
    return sign_envelope(PAYLOAD_TYPE, canonical_bytes(statement), key)


def verify_approval(envelope: Envelope, keys: Mapping[KeyId, PublicKey]) -> ApprovalStatement:
    """Verify the envelope's signatures, then parse the exact signed payload once."""
    verified = envelope.verify(keys, payload_type=PAYLOAD_TYPE)
    statement = loads_strict(verified.payload, what="in-toto statement")
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise VerificationError("statement is not an in-toto Statement v1")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise VerificationError(f"statement predicateType is not {PREDICATE_TYPE}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise VerificationError("statement must name exactly one subject")
    name = subjects[0].get("name")
    digest = subjects[0].get("digest")
    if not isinstance(name, str) or not isinstance(digest, dict) or not isinstance(digest.get("sha256"), str):
        raise VerificationError("statement subject must have a name and a sha256 digest")
    predicate = statement.get("predicate")
    role = predicate.get("role") if isinstance(predicate, dict) else None
    if role not in ROLES:
        raise VerificationError(f"statement role {role!r} is not one of {', '.join(ROLES)}")
    return ApprovalStatement(name, digest["sha256"], role, verified.keyids)
