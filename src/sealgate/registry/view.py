"""The gate's offline view of the registry: verified TUF metadata from ``SEALGATE_HOME/trust/``.

``sealgate verify`` runs in a fresh process and must cost tens of milliseconds, so this
module never imports python-tuf (nor securesystemslib, YAML, jsonschema, HTTP clients): it
reads what ``tuf.ngclient`` cached, verifies it from the pinned root with the checks of
``sealgate.registry._tufverify`` (TUF specification 1.0.x §5), and answers target lookups
with the same pre-order depth-first delegation walk as ngclient. ARCHITECTURE.md, "The gate,
step by step", step 1.

Files read (``sealgate.registry.layout`` fixes the layout)::

    trust/pin.json                 {"root_version": N, "root_sha256": HEX}
    trust/roots/N.root.json ...    the pinned root and every later root, contiguous
    trust/metadata/root.json       optional; must be byte-identical to the final root
    trust/metadata/timestamp.json, snapshot.json, targets.json, <quote(role, "")>.json
    trust/targets/<target path>    target files read with read_target_bytes()
    trust/refresh.json             {"last_refresh": RFC 3339 UTC, "source": URL}

One reference time (``now``) is fixed when the view is loaded and used for every expiry
check it makes, including delegated roles loaded later by lookups; likewise the
``metadata``/``roots``/``targets`` symlinks a refresh swaps are resolved once, so one view
reads one generation of files. Errors:
:class:`RegistryIntegrityError` with ``metadata-expired`` or ``registry-tampered``, and
:class:`RegistryError` with ``registry-unavailable`` (files missing) or ``registry-stale``.
"""

from __future__ import annotations

import json
import math
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from sealgate._dataclass import dataclass
from sealgate.errors import MalformedInputError, Reason, RegistryError, RegistryIntegrityError
from sealgate.registry import _tufverify as tv
from sealgate.registry.layout import PROTECTED_PREFIXES

__all__ = [
    "MAX_METADATA_BYTES",
    "MAX_ROOT_ROTATIONS",
    "MAX_TARGET_READ_BYTES",
    "RegistryView",
    "TargetInfo",
]

MAX_METADATA_BYTES: Final = 32 << 20
MAX_TARGET_READ_BYTES: Final = 64 << 20
# ngclient's UpdaterConfig.max_root_rotations.
MAX_ROOT_ROTATIONS: Final = 256
MAX_TARGET_PATH_LENGTH: Final = 1024
_MAX_SMALL_FILE: Final = 64 << 10
# A refresh recorded this far in the future is not believed (clock moved back, or forged).
_REFRESH_CLOCK_SKEW: Final = 300.0

_INIT_HINT: Final = "run `sealgate init` to pin a root"
_REFRESH_HINT: Final = "run `sealgate registry refresh`"


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """A registry entry as the verified metadata describes it.

    ``hashes`` and ``custom`` are fresh shallow copies of the signed values; ``role`` is the
    TUF role whose metadata signed the entry (``targets`` for the top level).
    """

    path: str
    length: int
    hashes: dict[str, str]
    custom: dict[str, Any]
    role: str

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")


class _TrustDirs:
    """``trust/`` and its ``metadata``, ``roots`` and ``targets`` directories, symlinks resolved once.

    ``sealgate registry refresh`` builds each new view in a fresh directory and swaps symlinks
    to it; resolving them once per view keeps every read of one view (including delegated
    roles loaded later by lookups) in one generation of files.
    """

    __slots__ = ("metadata", "roots", "targets", "trust")

    def __init__(self, trust: Path, metadata: Path, roots: Path, targets: Path) -> None:
        self.trust = trust
        self.metadata = metadata
        self.roots = roots
        self.targets = targets

    @classmethod
    def resolve(cls, trust: Path) -> _TrustDirs:
        def real(name: str) -> Path:
            return Path(os.path.realpath(trust / name))

        return cls(trust, real("metadata"), real("roots"), real("targets"))


def _reference_time(now: float | datetime) -> float:
    if isinstance(now, datetime):
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the reference time must be a timezone-aware datetime")
        return now.timestamp()
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise TypeError("the reference time must be unix seconds (a finite number) or an aware datetime")
    return float(now)


def _read_file(path: Path, *, limit: int, what: str, hint: str) -> bytes:
    """Read a regular file of at most ``limit`` bytes; missing => registry-unavailable."""
    try:
        # O_NONBLOCK so that a FIFO planted in place of a file cannot hang the gate.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise RegistryError(f"{what} is missing ({path}): {hint}", reason=Reason.REGISTRY_UNAVAILABLE) from exc
    except OSError as exc:
        raise RegistryError(
            f"{what} cannot be read ({path}): {exc.strerror}", reason=Reason.REGISTRY_UNAVAILABLE
        ) from exc
    with open(fd, "rb", closefd=True) as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RegistryIntegrityError(f"{what} ({path}) is not a regular file", reason=Reason.REGISTRY_TAMPERED)
        if info.st_size > limit:
            raise RegistryIntegrityError(
                f"{what} ({path}) is {info.st_size} bytes, over its {limit}-byte bound",
                reason=Reason.REGISTRY_TAMPERED,
            )
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise RegistryIntegrityError(f"{what} ({path}) is over its {limit}-byte bound", reason=Reason.REGISTRY_TAMPERED)
    return data


def _file_exists(path: Path) -> bool:
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def _check_target_path(path: str) -> None:
    """Target paths are relative, ``/``-separated, without empty, ``.`` or ``..`` segments."""
    if (
        not isinstance(path, str)
        or not path
        or len(path) > MAX_TARGET_PATH_LENGTH
        or "\x00" in path
        or "\\" in path
        or any(segment in ("", ".", "..") for segment in path.split("/"))
    ):
        raise MalformedInputError(f"{str(path)[:200]!r} is not a valid registry target path")


class RegistryView:
    """Verified, read-only TUF metadata for one decision. Build it with :meth:`load`."""

    __slots__ = (
        "_delegated",
        "_last_refresh",
        "_lookups",
        "_metadata_dir",
        "_now",
        "_root",
        "_snapshot",
        "_targets",
        "_targets_dir",
        "_timestamp",
        "_trust_dir",
    )

    def __init__(
        self,
        dirs: _TrustDirs,
        now: float,
        root: tv.RootMetadata,
        timestamp: tv.TimestampMetadata,
        snapshot: tv.SnapshotMetadata,
        targets: tv.TargetsMetadata,
    ) -> None:
        self._trust_dir = dirs.trust
        self._metadata_dir = dirs.metadata
        self._targets_dir = dirs.targets
        self._now = now
        self._root = root
        self._timestamp = timestamp
        self._snapshot = snapshot
        self._targets = targets
        self._delegated: dict[tuple[str, str], tv.TargetsMetadata] = {}
        # path -> (signed entry, role) or None, shared with views made by at(): the metadata
        # never changes within one view lineage, and at() re-checks every role's expiry.
        self._lookups: dict[str, tuple[dict[str, Any], str] | None] = {}
        self._last_refresh: datetime | bool | None = False  # False: not read yet

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, trust_dir: Path, now: float | datetime) -> RegistryView:
        """Verify root chain, timestamp, snapshot and top-level targets at reference time ``now``.

        Delegated roles are verified later, when a lookup first needs them.
        """
        reference = _reference_time(now)
        dirs = _TrustDirs.resolve(Path(trust_dir))
        root = cls._load_root_chain(dirs)
        tv.check_final_root(root, reference)

        metadata = dirs.metadata
        cached_root = metadata / "root.json"
        if _file_exists(cached_root):
            cached = _read_file(cached_root, limit=MAX_METADATA_BYTES, what="cached root.json", hint=_REFRESH_HINT)
            if cached != root.raw:
                raise RegistryIntegrityError(
                    f"metadata/root.json is not the root v{root.version} that the chain from the pinned root "
                    "reaches: the trust directory was tampered with or left half-refreshed",
                    reason=Reason.REGISTRY_TAMPERED,
                )

        data = _read_file(
            metadata / "timestamp.json", limit=MAX_METADATA_BYTES, what="timestamp.json", hint=_REFRESH_HINT
        )
        timestamp = tv.verify_timestamp(root, data, reference)

        data = _read_file(
            metadata / "snapshot.json",
            limit=_bound(timestamp.snapshot_meta),
            what="snapshot.json",
            hint=_REFRESH_HINT,
        )
        snapshot = tv.verify_snapshot(root, timestamp, data, reference)

        targets = cls._load_targets_role(
            metadata, snapshot, reference, "targets", root.roles["targets"], root.keyring, f"root v{root.version}"
        )
        return cls(dirs, reference, root, timestamp, snapshot, targets)

    def at(self, now: float | datetime) -> RegistryView:
        """This verified view at a later reference time ``now``, for a process deciding many times.

        Nothing is re-read: the metadata was verified from the pinned root when it was loaded,
        and only expiry depends on the time, so every expiry (root, timestamp, snapshot,
        targets and each delegated role loaded so far) is checked again at ``now``.
        The caller must load a fresh view when the trust directory changes.
        """
        reference = _reference_time(now)
        tv.check_final_root(self._root, reference)
        for role, md in (("timestamp", self._timestamp), ("snapshot", self._snapshot), ("targets", self._targets)):
            if reference >= md.expires:
                raise tv._expired(role, md.expires_text, reference)
        for (_parent, role), md in list(self._delegated.items()):
            if reference >= md.expires:
                raise tv._expired(role, md.expires_text, reference)
        view = object.__new__(RegistryView)
        for name in RegistryView.__slots__:
            object.__setattr__(view, name, getattr(self, name))
        view._now = reference
        return view

    @staticmethod
    def _load_root_chain(dirs: _TrustDirs) -> tv.RootMetadata:
        pin_path = dirs.trust / "pin.json"
        pin = tv.parse_json(_read_file(pin_path, limit=_MAX_SMALL_FILE, what="pin.json", hint=_INIT_HINT), "pin.json")
        if not isinstance(pin, dict):
            raise RegistryIntegrityError("pin.json must be a JSON object", reason=Reason.REGISTRY_TAMPERED)
        version, digest = pin.get("root_version"), pin.get("root_sha256")
        if (
            type(version) is not int
            or version < 1
            or not isinstance(digest, str)
            or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest)
        ):
            raise RegistryIntegrityError(
                'pin.json must be {"root_version": N >= 1, "root_sha256": 64 lowercase hex digits}',
                reason=Reason.REGISTRY_TAMPERED,
            )
        roots = dirs.roots
        data = _read_file(
            roots / f"{version}.root.json", limit=MAX_METADATA_BYTES, what=f"pinned root v{version}", hint=_INIT_HINT
        )
        root = tv.load_trusted_root(data, pinned_sha256=digest, pinned_version=version)
        # §5.3.2-5.3.9: follow N+1, N+2, ... until the next file is missing (like ngclient's
        # probe for a 404), bounded like UpdaterConfig.max_root_rotations.
        for _ in range(MAX_ROOT_ROTATIONS):
            next_path = roots / f"{root.version + 1}.root.json"
            if not _file_exists(next_path):
                break
            data = _read_file(next_path, limit=MAX_METADATA_BYTES, what=f"root v{root.version + 1}", hint=_REFRESH_HINT)
            root = tv.verify_next_root(root, data)
        return root

    @staticmethod
    def _load_targets_role(
        metadata_dir: Path,
        snapshot: tv.SnapshotMetadata,
        now: float,
        role: str,
        keys: tv.RoleKeys | None,
        keyring: tv.KeyRing,
        delegator: str,
    ) -> tv.TargetsMetadata:
        meta = snapshot.meta.get(f"{role}.json")
        if meta is None:
            raise RegistryIntegrityError(
                f"role {role!r} is delegated by {delegator} but snapshot does not list {role}.json",
                reason=Reason.REGISTRY_TAMPERED,
            )
        # ngclient stores a role as quote(role, "") + ".json": "/" and other specials are
        # percent-encoded, so a role name can never name a path outside metadata/.
        path = metadata_dir / f"{quote(role, safe='')}.json"
        data = _read_file(path, limit=_bound(meta), what=f"metadata of role {role!r}", hint=_REFRESH_HINT)
        return tv.verify_delegated_targets(role, keys, keyring, delegator, snapshot, data, now)

    # -- facts about the view -----------------------------------------------------------------

    @property
    def version(self) -> int:
        """The registry version: the version of the verified snapshot."""
        return self._snapshot.version

    @property
    def root_version(self) -> int:
        return self._root.version

    @property
    def timestamp_version(self) -> int:
        return self._timestamp.version

    @property
    def targets_version(self) -> int:
        return self._targets.version

    @property
    def reference_time(self) -> datetime:
        """The one reference time every expiry check of this view uses."""
        return datetime.fromtimestamp(self._now, UTC)

    @property
    def expires(self) -> datetime:
        """The earliest expiry among root, timestamp, snapshot and top-level targets."""
        earliest = min(self._root.expires, self._timestamp.expires, self._snapshot.expires, self._targets.expires)
        return datetime.fromtimestamp(earliest, UTC)

    @property
    def last_refresh(self) -> datetime | None:
        """When the last successful refresh finished (``trust/refresh.json``); ``None`` if never.

        Raises :class:`RegistryError` (``registry-unavailable``) when the file is unreadable.
        """
        if self._last_refresh is False:
            self._last_refresh = self._read_last_refresh()
        assert not isinstance(self._last_refresh, bool)
        return self._last_refresh

    def _read_last_refresh(self) -> datetime | None:
        path = self._trust_dir / "refresh.json"
        if not _file_exists(path):
            return None
        raw = _read_file(path, limit=_MAX_SMALL_FILE, what="refresh.json", hint=_REFRESH_HINT)
        try:
            document = json.loads(raw)
            value = document["last_refresh"]
            if not isinstance(value, str):
                raise TypeError("last_refresh is not a string")
            when = datetime.fromisoformat(value)
            if when.tzinfo is None or when.utcoffset() != UTC.utcoffset(None):
                raise ValueError("last_refresh is not in UTC")
        except (ValueError, TypeError, KeyError) as exc:
            raise RegistryError(
                f"refresh.json is unreadable ({exc}): {_REFRESH_HINT}", reason=Reason.REGISTRY_UNAVAILABLE
            ) from exc
        return when.astimezone(UTC)

    def check_staleness(self, max_staleness_seconds: float, now: float | datetime) -> None:
        """Raise ``registry-stale`` when the last refresh is older than ``max_staleness_seconds``.

        This is a separate requirement from TUF expiry: a fresh refresh never makes expired
        metadata acceptable, and unexpired metadata does not excuse a stale refresh.
        """
        if isinstance(max_staleness_seconds, bool) or not isinstance(max_staleness_seconds, (int, float)):
            raise TypeError("max_staleness_seconds must be a number")
        if not max_staleness_seconds >= 0:
            raise ValueError("max_staleness_seconds must be >= 0")
        reference = _reference_time(now)
        last = self.last_refresh
        if last is None:
            raise RegistryError(
                f"the registry has never been refreshed on this host: {_REFRESH_HINT}", reason=Reason.REGISTRY_STALE
            )
        age = reference - last.timestamp()
        if age < -_REFRESH_CLOCK_SKEW:
            raise RegistryError(
                f"the last registry refresh is recorded at {tv.format_time(last.timestamp())}, in the future of "
                f"{tv.format_time(reference)}: check the clock, then {_REFRESH_HINT}",
                reason=Reason.REGISTRY_STALE,
            )
        if age > max_staleness_seconds:
            raise RegistryError(
                f"the registry view is {_duration(age)} old (last refresh {tv.format_time(last.timestamp())}), "
                f"older than the {_duration(max_staleness_seconds)} the policy allows: {_REFRESH_HINT}",
                reason=Reason.REGISTRY_STALE,
            )

    # -- lookups ------------------------------------------------------------------------------

    def get_target(self, path: str) -> TargetInfo | None:
        """The verified entry for ``path``, or ``None`` when the registry does not list it.

        Paths under ``policy/``, ``advisories/`` and ``index/`` are looked up in the
        top-level targets only: no delegation is ever consulted for them, whatever its
        patterns cover. Other paths follow ngclient's pre-order depth-first walk (at most
        32 roles visited, terminating delegations stop backtracking). Raises
        :class:`RegistryIntegrityError` when a role on the way fails verification.
        """
        if path in self._lookups:
            found = self._lookups[path]
            return None if found is None else _target_info(path, found[0], found[1])
        _check_target_path(path)
        found = self._find(path)
        if len(self._lookups) < _MAX_CACHED_LOOKUPS:
            self._lookups[path] = found
        return None if found is None else _target_info(path, found[0], found[1])

    def _find(self, path: str) -> tuple[dict[str, Any], str] | None:
        if path.startswith(PROTECTED_PREFIXES):
            entry = self._targets.targets.get(path)
            return None if entry is None else (entry, self._targets.name)

        # Stack of (role, delegator) pairs, popped from the end: pre-order, in delegation order.
        to_visit: list[tuple[str, tv.TargetsMetadata | None]] = [("targets", None)]
        visited: set[str] = set()
        while len(visited) <= tv.MAX_DELEGATIONS and to_visit:
            role, parent = to_visit.pop()
            if role in visited:
                continue
            current = self._targets if parent is None else self._load_delegated(role, parent)
            entry = current.targets.get(path)
            if entry is not None:
                return (entry, role)
            visited.add(role)
            if current.delegations is not None:
                children: list[tuple[str, tv.TargetsMetadata | None]] = []
                for child, terminating in current.delegations.roles_for_target(path):
                    children.append((child, current))
                    if terminating:
                        to_visit = []
                        break
                children.reverse()
                to_visit.extend(children)
        return None

    def _load_delegated(self, role: str, parent: tv.TargetsMetadata) -> tv.TargetsMetadata:
        key = (parent.name, role)
        cached = self._delegated.get(key)
        if cached is not None:
            if self._now >= cached.expires:  # cached by an earlier view of this process (see at())
                raise tv._expired(role, cached.expires_text, self._now)
            return cached
        assert parent.delegations is not None
        loaded = self._load_targets_role(
            self._metadata_dir,
            self._snapshot,
            self._now,
            role,
            parent.delegations.role_keys(role),
            parent.delegations.keyring,
            parent.name,
        )
        self._delegated[key] = loaded
        return loaded

    def read_target_bytes(self, path: str, *, max_size: int = MAX_TARGET_READ_BYTES) -> bytes:
        """The bytes of target ``path`` from ``trust/targets/``, checked against its verified entry.

        Reads at most the signed length (plus one byte to detect a longer file) and checks
        length and every listed hash (SHA-256 must be among them). Raises
        :class:`RegistryError` (``not-registered``) when the registry does not list the path,
        ``registry-unavailable`` when the file was not downloaded, ``too-large`` over
        ``max_size``, and :class:`RegistryIntegrityError` when the bytes do not match.
        """
        info = self.get_target(path)
        if info is None:
            raise RegistryError(f"{path} is not in the registry", reason=Reason.NOT_REGISTERED)
        if info.sha256 is None:
            raise RegistryIntegrityError(
                f"the registry entry for {path} has no sha256 hash", reason=Reason.REGISTRY_TAMPERED
            )
        if info.length > max_size:
            raise RegistryError(
                f"{path} is {info.length} bytes, over the {max_size}-byte limit for reading it",
                reason=Reason.TOO_LARGE,
            )
        data = _read_file(self._targets_dir / path, limit=info.length, what=f"target file {path}", hint=_REFRESH_HINT)
        if len(data) != info.length:
            raise RegistryIntegrityError(
                f"target file {path} is {len(data)} bytes, the registry says {info.length}",
                reason=Reason.REGISTRY_TAMPERED,
            )
        tv.verify_hashes(data, info.hashes, f"target file {path}")
        return data


_MAX_CACHED_LOOKUPS = 65536


def _bound(meta: tv.MetaFile) -> int:
    """Read at most the signed length when the parent lists one (ngclient does the same)."""
    return MAX_METADATA_BYTES if meta.length is None else min(meta.length, MAX_METADATA_BYTES)


def _target_info(path: str, entry: dict[str, Any], role: str) -> TargetInfo:
    return TargetInfo(
        path=path,
        length=entry["length"],
        hashes=dict(entry["hashes"]),
        custom=dict(entry.get("custom", {})),
        role=role,
    )


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"
