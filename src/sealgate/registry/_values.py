"""Value types of the registry writer: settings, keys handed to publish, and results the CLI prints.

Every result type has ``to_dict()`` for ``--json`` output. Re-exported by
:mod:`sealgate.registry.repository`, which is where callers import them from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.crypto.keys import PrivateKey
from sealgate.errors import (
    MalformedInputError,
    UsageError,
)
from sealgate.registry.proposal import InitSettings

DEFAULT_BIT_LENGTH = 4
CONFIG_TYPE = "sealgate/repository-config/v1"


@dataclass(frozen=True, slots=True)
class Expiries:
    """How long each role's metadata stays valid after it is signed."""

    root: timedelta = timedelta(days=365)
    targets: timedelta = timedelta(days=90)
    snapshot: timedelta = timedelta(days=7)
    timestamp: timedelta = timedelta(days=1)

    def __post_init__(self) -> None:
        for name in ("root", "targets", "snapshot", "timestamp"):
            if getattr(self, name) < timedelta(seconds=1):
                raise UsageError(f"the {name} expiry must be at least one second")

    def to_seconds(self) -> dict[str, int]:
        return {name: int(getattr(self, name).total_seconds()) for name in ("root", "targets", "snapshot", "timestamp")}

    @classmethod
    def from_seconds(cls, seconds: Mapping[str, int]) -> Expiries:
        return cls(
            **{name: timedelta(seconds=int(seconds[name])) for name in ("root", "targets", "snapshot", "timestamp")}
        )


@dataclass(frozen=True, slots=True)
class OnlineKeys:
    """The repository host's online keys; the caller loads them (never this module)."""

    snapshot: PrivateKey
    timestamp: PrivateKey


@dataclass(frozen=True, slots=True)
class OnlineKeyFiles:
    """Where the online keys live, relative to ``SEALGATE_HOME`` (recorded in ``config.json``)."""

    snapshot: str = "keys/snapshot.key"
    timestamp: str = "keys/timestamp.key"


@dataclass(frozen=True, slots=True)
class RepositoryConfig:
    """``repository/config.json``: operational settings, not signed."""

    online_key_files: OnlineKeyFiles
    expiries: Expiries

    def to_bytes(self) -> bytes:
        return canonical_bytes(
            {
                "_type": CONFIG_TYPE,
                "online_key_files": {
                    "snapshot": self.online_key_files.snapshot,
                    "timestamp": self.online_key_files.timestamp,
                },
                "expiry_seconds": self.expiries.to_seconds(),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> RepositoryConfig:
        doc = loads_strict(data, what="repository config.json", max_size=64 * 1024)
        if not isinstance(doc, dict) or doc.get("_type") != CONFIG_TYPE:
            raise MalformedInputError(f"repository config.json is not a {CONFIG_TYPE} document")
        settings = InitSettings.from_dict(
            {"online_key_files": doc.get("online_key_files"), "expiry_seconds": doc.get("expiry_seconds")}
        )
        files = settings.online_key_files
        return cls(
            OnlineKeyFiles(files["snapshot"], files["timestamp"]), Expiries.from_seconds(settings.expiry_seconds)
        )


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What a publish wrote (or that the proposal was already published)."""

    root_version: int
    targets_version: int
    snapshot_version: int
    timestamp_version: int
    roles: Mapping[str, int]
    target_files_written: int
    already_published: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "root_version": self.root_version,
            "targets_version": self.targets_version,
            "snapshot_version": self.snapshot_version,
            "timestamp_version": self.timestamp_version,
            "roles": dict(self.roles),
            "target_files_written": self.target_files_written,
            "already_published": self.already_published,
        }


@dataclass(frozen=True, slots=True)
class RoleExpiry:
    role: str
    version: int
    expires: str

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "version": self.version, "expires": self.expires}


@dataclass(frozen=True, slots=True)
class TimestampResult:
    """What :meth:`Repository.timestamp` re-signed, and roles that need a renewal proposal soon."""

    timestamp_version: int
    timestamp_expires: str
    snapshot_version: int
    snapshot_expires: str
    snapshot_resigned: bool
    expiring_soon: tuple[RoleExpiry, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp_version": self.timestamp_version,
            "timestamp_expires": self.timestamp_expires,
            "snapshot_version": self.snapshot_version,
            "snapshot_expires": self.snapshot_expires,
            "snapshot_resigned": self.snapshot_resigned,
            "expiring_soon": [r.to_dict() for r in self.expiring_soon],
        }


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    namespace: str
    role: str
    keyids: tuple[str, ...]
    threshold: int
    bit_length: int
    bins: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "role": self.role,
            "keyids": list(self.keyids),
            "threshold": self.threshold,
            "bit_length": self.bit_length,
            "bins": self.bins,
        }


@dataclass(frozen=True, slots=True)
class RepositoryReport:
    """Result of a full verification: versions, expiries and what was checked."""

    root_version: int
    targets_version: int
    snapshot_version: int
    timestamp_version: int
    expires: Mapping[str, str]
    namespaces: tuple[NamespaceInfo, ...]
    roles_verified: int
    entries: int
    target_files_verified: int
    interrupted_publish: bool
    expiring_soon: tuple[RoleExpiry, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root_version": self.root_version,
            "targets_version": self.targets_version,
            "snapshot_version": self.snapshot_version,
            "timestamp_version": self.timestamp_version,
            "expires": dict(self.expires),
            "namespaces": [n.to_dict() for n in self.namespaces],
            "roles_verified": self.roles_verified,
            "entries": self.entries,
            "target_files_verified": self.target_files_verified,
            "interrupted_publish": self.interrupted_publish,
            "expiring_soon": [r.to_dict() for r in self.expiring_soon],
        }


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """One registered artifact version, as its bin's signed target describes it."""

    kind: str
    name: str
    version: str
    target: str
    status: str
    stage: str
    digest: str
    size: int
    git_commit: str | None
    revocation_reason: str | None
    statements: int
    role: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "target": self.target,
            "status": self.status,
            "stage": self.stage,
            "digest": self.digest,
            "size": self.size,
            "git_commit": self.git_commit,
            "revocation_reason": self.revocation_reason,
            "statements": self.statements,
            "role": self.role,
        }


@dataclass(frozen=True, slots=True)
class EntryDetail:
    """An entry with its statements and, for enclaves, its parsed entry document."""

    entry: EntryInfo
    statements: tuple[Mapping[str, Any], ...] = field(repr=False)
    document: Mapping[str, Any] | None
    has_file: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.entry.to_dict(),
            "statements": [dict(s) for s in self.statements],
            "document": dict(self.document) if self.document is not None else None,
            "has_file": self.has_file,
        }
