"""Reading the published repository and verifying it from ``1.root.json`` down, plus shared helpers.

Used by :class:`sealgate.registry.repository.Repository` before every operation and by
:class:`sealgate.registry.repository.ProposalBuilder` to read what a change starts from.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib import parse

from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.crypto.keys import KeyId, PublicKey
from sealgate.errors import (
    MalformedInputError,
    Reason,
    RegistryError,
    RegistryIntegrityError,
    UsageError,
)
from sealgate.registry import _checks
from sealgate.registry._files import format_time, read_bounded
from sealgate.registry._tuf import (
    JSONSerializer,
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    SuccinctRoles,
    Targets,
    Timestamp,
)
from sealgate.registry._tuf import exceptions as tuf_exceptions
from sealgate.registry._tufkeys import check_tuf_key
from sealgate.registry.proposal import SignerRequirement

ROOT_MAX = 512_000
TIMESTAMP_MAX = 16_384
SNAPSHOT_MAX = 32 << 20
TARGETS_MAX = 64 << 20
TARGET_FILE_MAX = 64 << 20
MAX_ROOT_VERSIONS = 100_000
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_GIT = re.compile(r"^[0-9a-f]{40}$")
_ADVISORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_COMPACT = JSONSerializer(compact=True)

T = TypeVar("T", Root, Timestamp, Snapshot, Targets)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _integrity(message: str, reason: Reason = Reason.REGISTRY_TAMPERED) -> RegistryIntegrityError:
    return RegistryIntegrityError(message, reason=reason)


def _parse(raw: bytes, expected: type[T], fname: str, limit: int) -> Metadata[T]:
    try:
        doc = loads_strict(raw, what=f"registry file {fname}", max_size=limit)
        md: Metadata[T] = Metadata.from_dict(doc)
    except MalformedInputError as exc:
        raise _integrity(f"{exc.message}: the repository file is corrupt or was edited") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _integrity(f"registry file {fname} is not valid TUF metadata ({exc})") from exc
    if not isinstance(md.signed, expected):
        raise _integrity(f"registry file {fname} holds {md.signed.type} metadata, expected {expected.type}")
    # sealgate writes every metadata file as python-tuf's compact JSON; anything else was
    # edited, even where the edit keeps signatures valid (hex case of a signature, key order).
    if md.to_bytes(_COMPACT) != raw:
        raise _integrity(f"registry file {fname} is not byte-for-byte what sealgate wrote: it was edited")
    return md


def _copy(md: Metadata[T]) -> Metadata[T]:
    copied: Metadata[T] = Metadata.from_dict(copy.deepcopy(md.to_dict()))
    return copied


def _role_file(role: str, version: int) -> str:
    return f"{version}.{parse.quote(role, '')}.json"


def _read_meta(md_dir: Path, fname: str, limit: int) -> bytes:
    try:
        return read_bounded(md_dir / fname, limit, "registry file")
    except FileNotFoundError as exc:
        raise _integrity(f"registry file metadata/{fname} is missing: the repository is incomplete") from exc
    except MalformedInputError as exc:
        raise _integrity(exc.message) from exc


def _verify_role(delegator: Root | Targets, role: str, md: Metadata[Any], where: str) -> None:
    try:
        result = delegator.get_verification_result(role, md.signed_bytes, md.signatures)
    except ValueError as exc:
        raise _integrity(f"{where}: role {role} is not delegated") from exc
    if not result.verified:
        raise _integrity(
            f"{where}: {role} is signed by {len(result.signed)} of the {result.threshold} required keys;"
            " the file was changed after signing or signed with the wrong keys"
        )
    _only_good_signatures(md, set(result.signed), where)


def _only_good_signatures(md: Metadata[Any], good: set[str], where: str) -> None:
    """Stricter than a client: sealgate publishes only valid signatures by keys that count.

    A client ignores a bad extra signature once the threshold is met; the repository treats
    one as an edit of the file.
    """
    # Hex is case-insensitive to the verifier; sealgate writes lowercase, so case is an edit too.
    bad = [keyid for keyid, sig in md.signatures.items() if keyid not in good or sig.signature != sig.signature.lower()]
    if bad:
        raise _integrity(
            f"{where}: the signature by key {bad[0][:16]} does not verify or is by a key that does not count;"
            " the file was edited"
        )


def _strip_signatures(md: Metadata[T], keep: set[str]) -> Metadata[T]:
    """A copy of ``md`` with only the signatures by keys in ``keep`` (what publish writes)."""
    stripped = _copy(md)
    for keyid in list(stripped.signatures):
        if keyid not in keep:
            del stripped.signatures[keyid]
    return stripped


def _load_root_chain(md_dir: Path) -> list[tuple[Metadata[Root], bytes]]:
    """Every root from 1 up, each verified by its predecessor's threshold and its own."""
    chain: list[tuple[Metadata[Root], bytes]] = []
    for version in range(1, MAX_ROOT_VERSIONS):
        fname = f"{version}.root.json"
        try:
            raw = read_bounded(md_dir / fname, ROOT_MAX, "registry file")
        except FileNotFoundError:
            break
        except MalformedInputError as exc:
            raise _integrity(exc.message) from exc
        md = _parse(raw, Root, fname, ROOT_MAX)
        if md.signed.version != version:
            raise _integrity(f"registry file {fname} holds root version {md.signed.version}")
        _checks.check_root(md.signed, fname)
        previous = chain[-1][0].signed if chain else None
        result = md.signed.get_root_verification_result(previous, md.signed_bytes, md.signatures)
        if not result.verified:
            raise _integrity(
                f"{fname}: root v{version} has {len(result.first.signed)} of {result.first.threshold} signatures"
                f" from the previous root's keys and {len(result.second.signed)} of {result.second.threshold} from"
                " its own; both thresholds are required"
            )
        _only_good_signatures(md, set(result.first.signed) | set(result.second.signed), fname)
        chain.append((md, raw))
    if not chain:
        raise RegistryError(
            f"there is no registry in {md_dir.parent}: metadata/1.root.json is missing; initialise one first",
            reason=Reason.REGISTRY_UNAVAILABLE,
        )
    return chain


class _State:
    """The repository's current metadata, verified from ``1.root.json`` down.

    Root chain, timestamp, snapshot, top-level targets and namespace roles are verified on
    load; every listed role file is hash-checked against the signed snapshot on load; bins
    are parsed and signature-checked when first used (their files are immutable once
    referenced, so loading them later is safe).
    """

    def __init__(self, path: Path, *, now: datetime, check_expiry: bool) -> None:
        self.path = path
        self.md_dir = path / "metadata"
        self.now = now
        self.check_expiry = check_expiry
        chain = _load_root_chain(self.md_dir)
        self.root, self.root_raw = chain[-1]
        self._expiry(self.root.signed, f"root v{self.root.signed.version}")
        self.timestamp_raw = _read_meta(self.md_dir, "timestamp.json", TIMESTAMP_MAX)
        self.timestamp = _parse(self.timestamp_raw, Timestamp, "timestamp.json", TIMESTAMP_MAX)
        _verify_role(self.root.signed, "timestamp", self.timestamp, "timestamp.json")
        self._expiry(self.timestamp.signed, "timestamp")
        snap_meta = self.timestamp.signed.snapshot_meta
        fname = f"{snap_meta.version}.snapshot.json"
        self.snapshot_raw = _read_meta(self.md_dir, fname, SNAPSHOT_MAX)
        self._check_hash(snap_meta, self.snapshot_raw, fname, "timestamp")
        self.snapshot = _parse(self.snapshot_raw, Snapshot, fname, SNAPSHOT_MAX)
        _verify_role(self.root.signed, "snapshot", self.snapshot, fname)
        if self.snapshot.signed.version != snap_meta.version:
            raise _integrity(f"{fname} holds snapshot version {self.snapshot.signed.version}", Reason.REGISTRY_ROLLBACK)
        self._expiry(self.snapshot.signed, "snapshot")
        self.meta: dict[str, MetaFile] = {
            name[: -len(".json")]: meta for name, meta in self.snapshot.signed.meta.items() if name.endswith(".json")
        }
        if len(self.meta) != len(self.snapshot.signed.meta):
            raise _integrity(f"{fname} lists a file that is not a .json role")
        self._roles: dict[str, Metadata[Targets]] = {}
        self.parent: dict[str, str] = {"targets": "root"}
        self.targets = self._load("targets")
        self.namespaces: dict[str, SuccinctRoles] = {}
        delegations = self.targets.signed.delegations
        for name in (delegations.roles or {}) if delegations is not None else {}:
            self.parent[name] = "targets"
            md = self._load(name)
            succinct = _checks.check_namespace_role(name, md.signed)
            self.namespaces[name] = succinct
            for bin_name in succinct.get_roles():
                if bin_name in self.parent:
                    raise _integrity(f"role {bin_name} is delegated twice")
                self.parent[bin_name] = name
        missing = [name for name in self.parent if name != "targets" and name not in self.meta]
        if missing:
            raise _integrity(
                f"role {missing[0]} is delegated but not listed in snapshot v{self.snapshot.signed.version}"
            )
        extra = [name for name in self.meta if name not in self.parent]
        if extra:
            raise _integrity(f"snapshot v{self.snapshot.signed.version} lists role {extra[0]}, which nothing delegates")
        # Every role file must be the one the signed snapshot describes, byte for byte.
        for name in self.meta:
            if name not in self._roles:
                self._read_role(name)

    # -- helpers --------------------------------------------------------------------------

    def _expiry(self, signed: Signed, what: str) -> None:
        if self.check_expiry and signed.is_expired(self.now):
            raise _integrity(
                f"{what} metadata expired at {format_time(signed.expires)}; re-sign it"
                " (`timestamp` for snapshot/timestamp, a renewal proposal for the others)",
                Reason.METADATA_EXPIRED,
            )

    @staticmethod
    def _check_hash(meta: MetaFile, raw: bytes, fname: str, parent: str) -> None:
        if meta.hashes is None or meta.length is None:
            raise _integrity(f"{parent} does not record the length and hashes of {fname}")
        try:
            meta.verify_length_and_hashes(raw)
        except tuf_exceptions.LengthOrHashMismatchError as exc:
            raise _integrity(
                f"registry file metadata/{fname} does not match the length and sha256 recorded in {parent}:"
                " it was changed after publication"
            ) from exc

    def _read_role(self, name: str) -> bytes:
        meta = self.meta[name]
        fname = _role_file(name, meta.version)
        raw = _read_meta(self.md_dir, fname, TARGETS_MAX)
        self._check_hash(meta, raw, fname, f"snapshot v{self.snapshot.signed.version}")
        return raw

    def _load(self, name: str) -> Metadata[Targets]:
        meta = self.meta.get(name)
        if meta is None:
            raise _integrity(f"role {name} is not listed in snapshot v{self.snapshot.signed.version}")
        fname = _role_file(name, meta.version)
        md = _parse(self._read_role(name), Targets, fname, TARGETS_MAX)
        parent_name = self.parent[name]
        delegator: Root | Targets = self.root.signed if parent_name == "root" else self._roles[parent_name].signed
        _verify_role(delegator, name, md, fname)
        if md.signed.version != meta.version:
            raise _integrity(f"{fname} holds version {md.signed.version}", Reason.REGISTRY_ROLLBACK)
        self._expiry(md.signed, name)
        if name == "targets":
            _checks.check_top_targets(md.signed, fname)
        elif parent_name != "targets":
            _checks.check_bin(name, md.signed, self.namespaces[parent_name], _checks.namespace_of_role(parent_name))
        self._roles[name] = md
        return md

    # -- queries --------------------------------------------------------------------------

    def has_role(self, name: str) -> bool:
        return name in self.meta

    def role(self, name: str) -> Metadata[Targets]:
        if name in self._roles:
            return self._roles[name]
        if name not in self.parent:
            raise UsageError(f"role {name} does not exist in the registry")
        return self._load(name)

    def role_sha(self, name: str) -> str:
        hashes = self.meta[name].hashes or {}
        return hashes["sha256"]

    def bin_names(self) -> list[str]:
        return [name for name, parent in self.parent.items() if parent not in ("root", "targets")]


def _target_dest(targets_dir: Path, path: str, sha: str) -> Path:
    parts = path.split("/")
    if any(part in ("", ".", "..") or "\\" in part or "\x00" in part for part in parts):
        raise _integrity(f"target path {path!r} is not a safe relative path")
    return targets_dir.joinpath(*parts[:-1], f"{sha}.{parts[-1]}")


def _require_canonical_json(data: bytes, what: str) -> None:
    value = loads_strict(data, what=what)
    if canonical_bytes(value) != data:
        raise MalformedInputError(f"{what} must be canonical JSON (RFC 8785); re-encode it before publishing")


def _unique_keys(keys: Sequence[PublicKey], threshold: int, what: str) -> list[PublicKey]:
    if not keys:
        raise UsageError(f"{what} needs at least one key")
    ids = [k.keyid for k in keys]
    if len(set(ids)) != len(ids):
        raise UsageError(f"{what}: the same key is listed twice")
    if not 1 <= threshold <= len(keys):
        raise UsageError(f"{what}: threshold {threshold} must be between 1 and the number of keys ({len(keys)})")
    return list(keys)


def _requirement(
    label: str, keyids: Iterable[str], threshold: int, keys: Mapping[str, Any], where: str
) -> SignerRequirement:
    return SignerRequirement(label, threshold, {KeyId(k): check_tuf_key(k, keys[k], where) for k in keyids})
