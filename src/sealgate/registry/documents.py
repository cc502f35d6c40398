"""The two small JSON documents the registry publishes as target files: name indexes and enclave entries.

Both are canonical JSON (RFC 8785) with a ``_type`` so their bytes are stable and their
purpose is explicit. This module imports no python-tuf, so the gate and the enclave
domain can parse the documents they read from the offline view.

* ``index/<kind>/<ns>/<name>``: ``{"_type": "sealgate/index/v1", "kind", "name",
  "versions": [{"version", "status", "target"}, ...]}``, versions in the order they were
  added (the newest last).
* ``enclaves/<name>/<version>``: ``{"_type": "sealgate/enclave-entry/v1", "mrenclave"``
  (64 lowercase hex) *or* ``"legacy_measurement"`` (anything else a legacy registry held; it
  can never match a quote), ``"version", "git_commit", "build_timestamp", "stage",
  "status", "revocation_reason"}``. ``status`` and ``revocation_reason`` record the state
  at registration; the authoritative, changeable status is ``custom.status`` of the
  target, because rewriting the document would change its digest and void its statements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.errors import MalformedInputError
from sealgate.registry.layout import INDEX_TYPE, KIND_PLURAL, STAGES, STATUSES

__all__ = [
    "ENCLAVE_ENTRY_TYPE",
    "MAX_DOCUMENT_SIZE",
    "EnclaveEntryDocument",
    "IndexDocument",
    "IndexVersion",
    "is_mrenclave",
]

ENCLAVE_ENTRY_TYPE = "sealgate/enclave-entry/v1"
MAX_DOCUMENT_SIZE = 4 << 20
MAX_INDEX_VERSIONS = 10_000
_MRENCLAVE = re.compile(r"^[0-9a-f]{64}$")


def is_mrenclave(value: str) -> bool:
    """True for a real SGX MRENCLAVE: exactly 64 lowercase hex digits."""
    return bool(_MRENCLAVE.match(value))


def _str_or_none(doc: dict[str, Any], key: str, what: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedInputError(f"{what}: {key} must be a string or null")
    return value


@dataclass(frozen=True, slots=True)
class IndexVersion:
    """One version line of a name index."""

    version: str
    status: str
    target: str

    def to_dict(self) -> dict[str, str]:
        return {"version": self.version, "status": self.status, "target": self.target}


@dataclass(frozen=True, slots=True)
class IndexDocument:
    """The signed list of versions of one name (``index/<kind>/<ns>/<name>``)."""

    kind: str
    name: str
    versions: tuple[IndexVersion, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": INDEX_TYPE,
            "kind": self.kind,
            "name": self.name,
            "versions": [v.to_dict() for v in self.versions],
        }

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes) -> IndexDocument:
        what = "index document"
        doc = loads_strict(data, what=what, max_size=MAX_DOCUMENT_SIZE)
        if not isinstance(doc, dict) or doc.get("_type") != INDEX_TYPE:
            raise MalformedInputError(f"{what} does not have _type {INDEX_TYPE!r}")
        kind, name, versions = doc.get("kind"), doc.get("name"), doc.get("versions")
        if kind not in KIND_PLURAL or not isinstance(name, str) or not isinstance(versions, list):
            raise MalformedInputError(f"{what} needs a kind, a name and a list of versions")
        if len(versions) > MAX_INDEX_VERSIONS:
            raise MalformedInputError(f"{what} lists more than {MAX_INDEX_VERSIONS} versions")
        parsed: list[IndexVersion] = []
        for entry in versions:
            if not isinstance(entry, dict) or set(entry) != {"version", "status", "target"}:
                raise MalformedInputError(f"{what}: each version needs exactly version, status and target")
            if not all(isinstance(entry[k], str) for k in entry) or entry["status"] not in STATUSES:
                raise MalformedInputError(f"{what}: version entry {entry!r} is not valid")
            parsed.append(IndexVersion(entry["version"], entry["status"], entry["target"]))
        return cls(kind, name, tuple(parsed))

    def find(self, version: str) -> IndexVersion | None:
        for entry in self.versions:
            if entry.version == version:
                return entry
        return None

    def with_version(self, entry: IndexVersion) -> IndexDocument:
        """A copy with ``entry`` replacing the line of the same version, or appended."""
        if self.find(entry.version) is None:
            return IndexDocument(self.kind, self.name, (*self.versions, entry))
        return IndexDocument(
            self.kind, self.name, tuple(entry if v.version == entry.version else v for v in self.versions)
        )


@dataclass(frozen=True, slots=True)
class EnclaveEntryDocument:
    """The target file of an enclave entry: its measurement and the facts of its build."""

    version: str
    stage: str
    status: str
    mrenclave: str | None = None
    legacy_measurement: str | None = None
    git_commit: str | None = None
    build_timestamp: str | None = None
    revocation_reason: str | None = None

    def __post_init__(self) -> None:
        what = "enclave entry document"
        if (self.mrenclave is None) == (self.legacy_measurement is None):
            raise MalformedInputError(f"{what} needs exactly one of mrenclave or legacy_measurement")
        if self.mrenclave is not None and not is_mrenclave(self.mrenclave):
            raise MalformedInputError(f"{what}: mrenclave must be 64 lowercase hex digits")
        if self.legacy_measurement is not None and is_mrenclave(self.legacy_measurement):
            raise MalformedInputError(f"{what}: a 64-hex-digit measurement is an mrenclave, not a legacy one")
        if self.stage not in STAGES:
            raise MalformedInputError(f"{what}: stage {self.stage!r} is not one of {', '.join(STAGES)}")
        if self.status not in STATUSES:
            raise MalformedInputError(f"{what}: status {self.status!r} is not one of {', '.join(STATUSES)}")

    @classmethod
    def for_measurement(cls, measurement: str, **fields: Any) -> EnclaveEntryDocument:
        """Store ``measurement`` as ``mrenclave`` only when it is 64 hex digits, else as legacy."""
        normalised = measurement.lower()
        if is_mrenclave(normalised):
            return cls(mrenclave=normalised, **fields)
        return cls(legacy_measurement=measurement, **fields)

    @property
    def measurement(self) -> str:
        """The measurement as the legacy format spells it (mrenclave or the legacy string)."""
        value = self.mrenclave if self.mrenclave is not None else self.legacy_measurement
        assert value is not None
        return value

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "_type": ENCLAVE_ENTRY_TYPE,
            "version": self.version,
            "git_commit": self.git_commit,
            "build_timestamp": self.build_timestamp,
            "stage": self.stage,
            "status": self.status,
            "revocation_reason": self.revocation_reason,
        }
        if self.mrenclave is not None:
            doc["mrenclave"] = self.mrenclave
        else:
            doc["legacy_measurement"] = self.legacy_measurement
        return doc

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes) -> EnclaveEntryDocument:
        what = "enclave entry document"
        doc = loads_strict(data, what=what, max_size=MAX_DOCUMENT_SIZE)
        if not isinstance(doc, dict) or doc.get("_type") != ENCLAVE_ENTRY_TYPE:
            raise MalformedInputError(f"{what} does not have _type {ENCLAVE_ENTRY_TYPE!r}")
        allowed = {
            "_type",
            "mrenclave",
            "legacy_measurement",
            "version",
            "git_commit",
            "build_timestamp",
            "stage",
            "status",
            "revocation_reason",
        }
        unknown = set(doc) - allowed
        if unknown:
            raise MalformedInputError(f"{what} has unknown fields {sorted(unknown)}")
        version, stage, status = doc.get("version"), doc.get("stage"), doc.get("status")
        if not isinstance(version, str) or not isinstance(stage, str) or not isinstance(status, str):
            raise MalformedInputError(f"{what} needs string version, stage and status")
        return cls(
            version=version,
            stage=stage,
            status=status,
            mrenclave=_str_or_none(doc, "mrenclave", what),
            legacy_measurement=_str_or_none(doc, "legacy_measurement", what),
            git_commit=_str_or_none(doc, "git_commit", what),
            build_timestamp=_str_or_none(doc, "build_timestamp", what),
            revocation_reason=_str_or_none(doc, "revocation_reason", what),
        )
