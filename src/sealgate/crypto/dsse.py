"""DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1).

Signatures are over the pre-authentication encoding (PAE) of the payload type and the
payload bytes, never over the JSON envelope. Verification returns the payload bytes exactly
as they were signed; callers parse those bytes once and never re-serialise them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from sealgate._dataclass import dataclass
from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.crypto.keys import KeyId, PrivateKey, PublicKey
from sealgate.errors import MalformedInputError, VerificationError

__all__ = ["MAX_ENVELOPE_SIZE", "MAX_SIGNATURES", "Envelope", "VerifiedPayload", "pae", "sign_envelope"]

MAX_ENVELOPE_SIZE = 1 << 20
MAX_SIGNATURES = 16


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 pre-authentication encoding: ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def _b64decode(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedInputError(f"DSSE envelope: {what} must be a base64 string")
    try:
        # DSSE allows standard or URL-safe base64; accept both, with padding validated.
        if "-" in value or "_" in value:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInputError(f"DSSE envelope: {what} is not valid base64") from exc


@dataclass(frozen=True, slots=True)
class VerifiedPayload:
    """The exact payload bytes of an envelope and the key ids whose signatures verified."""

    payload_type: str
    payload: bytes
    keyids: frozenset[KeyId]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed, structurally valid DSSE envelope (signatures not yet verified)."""

    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]  # (keyid, signature)

    @classmethod
    def from_dict(cls, data: object) -> Envelope:
        if not isinstance(data, dict):
            raise MalformedInputError("DSSE envelope must be a JSON object")
        payload_type = data.get("payloadType")
        if not isinstance(payload_type, str) or not payload_type:
            raise MalformedInputError("DSSE envelope: payloadType missing or not a string")
        payload = _b64decode(data.get("payload"), "payload")
        sigs = data.get("signatures")
        if not isinstance(sigs, list) or not sigs:
            raise MalformedInputError("DSSE envelope: signatures must be a non-empty list")
        if len(sigs) > MAX_SIGNATURES:
            raise MalformedInputError(f"DSSE envelope: more than {MAX_SIGNATURES} signatures")
        parsed: list[tuple[str, bytes]] = []
        for entry in sigs:
            if not isinstance(entry, dict):
                raise MalformedInputError("DSSE envelope: each signature must be an object")
            keyid = entry.get("keyid", "")
            if not isinstance(keyid, str):
                raise MalformedInputError("DSSE envelope: keyid must be a string")
            parsed.append((keyid, _b64decode(entry.get("sig"), "sig")))
        return cls(payload_type, payload, tuple(parsed))

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        return cls.from_dict(loads_strict(data, what="DSSE envelope", max_size=MAX_ENVELOPE_SIZE))

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [
                {"keyid": kid, "sig": base64.b64encode(sig).decode("ascii")} for kid, sig in self.signatures
            ],
        }

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_dict())

    def verify(self, keys: Mapping[KeyId, PublicKey], *, payload_type: str) -> VerifiedPayload:
        """Verify against ``keys`` as DSSE's multi-signature verification says.

        The payload type is pinned by the caller. KEYID is only a hint: a signature whose
        key id names a trusted key is tried against that key, any other against every
        trusted key. A signature that verifies against no trusted key is skipped; the result
        holds the set of distinct trusted keys that signed, and an envelope with none is
        rejected. Thresholds are the caller's (the gate counts principals, not keys).
        """
        if self.payload_type != payload_type:
            raise VerificationError(f"DSSE payloadType is {self.payload_type!r}, expected {payload_type!r}")
        message = pae(self.payload_type, self.payload)
        good: set[KeyId] = set()
        for keyid, sig in self.signatures:
            hinted = keys.get(KeyId(keyid))
            candidates = [hinted] if hinted is not None else list(keys.values())
            for key in candidates:
                if key.keyid in good:
                    continue
                try:
                    key.verify(sig, message)
                except VerificationError:
                    continue
                good.add(key.keyid)
                break
        if not good:
            raise VerificationError("DSSE envelope is not signed by any trusted key")
        return VerifiedPayload(self.payload_type, self.payload, frozenset(good))


def sign_envelope(payload_type: str, payload: bytes, key: PrivateKey) -> Envelope:
    """Create a one-signature envelope over ``payload``."""
    return Envelope(payload_type, payload, ((key.keyid, key.sign(pae(payload_type, payload))),))
