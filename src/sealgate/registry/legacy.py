"""Import and export of the legacy signed measurement registry (the "signal" format).

The legacy file is ``{schema_version, measurements: [{mrenclave, version, git_commit,
build_timestamp, profile, status, revocation_reason}], signatures: [{signature, algorithm:
"ed25519"}]}``; each signature is Ed25519, base64, over the UTF-8 bytes of Python's
``json.dumps(measurements, sort_keys=True)`` with default separators (``schema_version``
is not covered). See /work/shared/vectors/signal-registry/.

Import verifies a signature by the given key *before* interpreting any measurement and
turns the measurements into an ordinary proposal (enclave entries under
``enclaves/<name>/<version>``) that still needs the publication and namespace thresholds.
A measurement that is not 64 hex digits is kept as ``legacy_measurement``, never as
``mrenclave``, so it can never match a quote. Export writes the same format from the
registry's enclave entries, signed with an Ed25519 key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sealgate.canonical import loads_strict
from sealgate.crypto.keys import PrivateKey, PublicKey
from sealgate.errors import MalformedInputError, Reason, UsageError, VerificationError
from sealgate.registry.documents import EnclaveEntryDocument
from sealgate.registry.proposal import Proposal
from sealgate.registry.repository import Repository

__all__ = [
    "LEGACY_SCHEMA_VERSION",
    "PROFILE_TO_STAGE",
    "export_signal",
    "import_signal",
    "verify_signal",
]

LEGACY_SCHEMA_VERSION = "1.0"
MAX_LEGACY_SIZE = 16 << 20
MAX_MEASUREMENTS = 10_000
MAX_LEGACY_SIGNATURES = 16
LEGACY_REVOCATION_REASON = "revoked in the legacy registry (no reason recorded)"

# Legacy build profiles, upper-cased, to sealgate stages. Anything else is refused rather
# than guessed: a wrong stage could let a debug build run where only PROD builds may.
PROFILE_TO_STAGE: Mapping[str, str] = {
    "DEV": "DEV",
    "DEVELOPMENT": "DEV",
    "DEBUG": "DEV",
    "TEST": "TEST",
    "TESTING": "TEST",
    "STAGE": "STAGE",
    "STAGING": "STAGE",
    "PRERELEASE": "STAGE",
    "PROD": "PROD",
    "PRODUCTION": "PROD",
    "RELEASE": "PROD",
}
_FIELDS = ("mrenclave", "version", "git_commit", "build_timestamp", "profile", "status", "revocation_reason")
_REQUIRED = ("mrenclave", "version", "profile", "status")
_GIT = re.compile(r"^[0-9a-f]{40}$")


def _signed_bytes(measurements: object) -> bytes:
    # Exactly what the legacy signer hashed: default separators, sorted keys, ASCII escapes.
    return json.dumps(measurements, sort_keys=True).encode("utf-8")


def verify_signal(file_bytes: bytes, public_key: PublicKey) -> list[Any]:
    """Verify a legacy file's Ed25519 signature and only then return its measurements list.

    Raises :class:`VerificationError` for a file with no signature or none by ``public_key``.
    """
    if public_key.keytype != "ed25519":
        raise UsageError("the legacy registry is signed with Ed25519; give its Ed25519 public key")
    document = loads_strict(file_bytes, what="legacy registry file", max_size=MAX_LEGACY_SIZE)
    if not isinstance(document, dict):
        raise MalformedInputError("legacy registry file must be a JSON object")
    signatures = document.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise VerificationError(
            "the legacy registry file has no signatures; refusing it", reason=Reason.SIGNATURE_INVALID
        )
    if len(signatures) > MAX_LEGACY_SIGNATURES:
        raise MalformedInputError(f"the legacy registry file has more than {MAX_LEGACY_SIGNATURES} signatures")
    if "measurements" not in document:
        raise MalformedInputError("legacy registry file has no measurements")
    measurements = document["measurements"]
    message = _signed_bytes(measurements)
    for entry in signatures:
        if not isinstance(entry, dict) or entry.get("algorithm") != "ed25519":
            continue
        encoded = entry.get("signature")
        if not isinstance(encoded, str):
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        try:
            public_key.verify(signature, message)
        except VerificationError:
            continue
        if not isinstance(measurements, list):
            raise MalformedInputError("legacy registry measurements must be a list")
        return measurements
    raise VerificationError(
        f"no signature in the legacy registry file verifies with key {public_key.keyid[:16]}: the file was changed or"
        " signed by another key; refusing it",
        reason=Reason.SIGNATURE_INVALID,
    )


def _measurement(raw: object, number: int) -> dict[str, Any]:
    where = f"legacy measurement {number}"
    if not isinstance(raw, dict):
        raise MalformedInputError(f"{where} must be an object")
    unknown = set(raw) - set(_FIELDS)
    if unknown:
        raise MalformedInputError(f"{where} has unknown fields {sorted(unknown)}; refusing to drop them silently")
    missing = [f for f in _REQUIRED if not isinstance(raw.get(f), str) or not raw.get(f)]
    if missing:
        raise MalformedInputError(f"{where} needs a non-empty string {missing[0]}")
    for optional in ("git_commit", "build_timestamp", "revocation_reason"):
        if raw.get(optional) is not None and not isinstance(raw.get(optional), str):
            raise MalformedInputError(f"{where}: {optional} must be a string or null")
    return {f: raw.get(f) for f in _FIELDS}


def import_signal(
    repository: Repository,
    file_bytes: bytes,
    public_key: PublicKey,
    name: str,
    *,
    now: datetime | None = None,
) -> Proposal:
    """Verify a legacy file and turn its measurements into a proposal of enclave entries ``enclaves/<name>/*``.

    The namespace ``enclaves/<name>`` must exist. Profiles map to stages through
    :data:`PROFILE_TO_STAGE`; statuses are kept (a revocation without a reason gets a
    fixed one, since sealgate requires a reason).
    """
    measurements = verify_signal(file_bytes, public_key)
    if len(measurements) > MAX_MEASUREMENTS:
        raise MalformedInputError(f"the legacy registry holds more than {MAX_MEASUREMENTS} measurements")
    if not measurements:
        raise UsageError("the legacy registry holds no measurements; nothing to import")
    builder = repository.builder(now=now)
    for number, raw in enumerate(measurements, start=1):
        item = _measurement(raw, number)
        stage = PROFILE_TO_STAGE.get(item["profile"].upper())
        if stage is None:
            raise MalformedInputError(
                f"legacy measurement {number} has profile {item['profile']!r}; known profiles:"
                f" {', '.join(sorted(PROFILE_TO_STAGE))}"
            )
        status = item["status"]
        if status not in ("active", "deprecated", "revoked"):
            raise MalformedInputError(f"legacy measurement {number} has unknown status {status!r}")
        document = EnclaveEntryDocument.for_measurement(
            item["mrenclave"],
            version=item["version"],
            stage=stage,
            status=status,
            git_commit=item["git_commit"],
            build_timestamp=item["build_timestamp"],
            revocation_reason=item["revocation_reason"],
        )
        data = document.to_bytes()
        commit = item["git_commit"]
        full_commit = commit.lower() if isinstance(commit, str) and _GIT.match(commit.lower()) else None
        builder.add_entry(
            kind="enclave",
            name=name,
            version=item["version"],
            digest=hashlib.sha256(data).hexdigest(),
            size=len(data),
            stage=stage,
            git_commit=full_commit,
            content=data,
        )
        if status == "revoked":
            builder.set_status(
                "enclave", name, item["version"], "revoked", item["revocation_reason"] or LEGACY_REVOCATION_REASON
            )
        elif status == "deprecated":
            builder.set_status("enclave", name, item["version"], "deprecated")
    return builder.build(
        summary=f"import {len(measurements)} measurement(s) from a legacy registry signed by key"
        f" {public_key.keyid[:16]} as enclaves/{name}/*"
    )


def export_signal(repository: Repository, key: PrivateKey, *, name: str, kind: str = "enclave") -> bytes:
    """The registry's enclave entries for ``name`` in the legacy format, signed with Ed25519 ``key``."""
    if kind != "enclave":
        raise UsageError("only enclave entries can be exported to the legacy measurement format")
    if key.public.keytype != "ed25519":
        raise UsageError("the legacy format is signed with Ed25519; give an Ed25519 key")
    measurements: list[dict[str, Any]] = []
    for entry, document in repository.enclave_entries(name):
        measurements.append(
            {
                "mrenclave": document.measurement,
                "version": entry.version,
                "git_commit": document.git_commit,
                "build_timestamp": document.build_timestamp,
                "profile": entry.stage,
                "status": entry.status,
                "revocation_reason": entry.revocation_reason,
            }
        )
    if not measurements:
        raise UsageError(f"the registry has no enclave entries for {name}")
    signature = base64.b64encode(key.sign(_signed_bytes(measurements))).decode("ascii")
    document_out = {
        "schema_version": LEGACY_SCHEMA_VERSION,
        "measurements": measurements,
        "signatures": [{"signature": signature, "algorithm": "ed25519"}],
    }
    return (json.dumps(document_out, indent=2) + "\n").encode("utf-8")
