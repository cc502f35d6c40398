"""Build real TUF repositories with python-tuf, in the layouts sealgate reads, for tests and benchmarks.

One in-memory repository (python-tuf ``Metadata`` objects, securesystemslib ``CryptoSigner``
keys made with pyca/cryptography, key ids passed explicitly as the SHA-256 of the DER SPKI,
as sealgate does) can be written two ways:

* :meth:`TufRepo.write_trust` — the client side, ``SEALGATE_HOME/trust/`` exactly as
  ``sealgate.registry.layout`` describes it: ``pin.json``, ``roots/N.root.json``, ngclient's
  cache in ``metadata/`` (``root.json``, ``timestamp.json``, ``snapshot.json``,
  ``targets.json``, ``<quote(role, "")>.json``), ``targets/<path>`` and ``refresh.json``;
* :meth:`TufRepo.write_repository` — the server side with consistent snapshots
  (``N.root.json``, ``timestamp.json``, ``N.snapshot.json``, ``N.<role>.json``,
  ``targets/<dir>/<sha256>.<name>``), which :class:`FolderFetcher` serves to ``tuf.ngclient``.

Every version of every role is kept (``history``) so tests can mix versions, re-sign with
other keys (:meth:`TufRepo.resign`) or hand-craft signed documents python-tuf would not
build (:func:`sign_document`). Only tests and benchmarks import this module.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.exceptions import DownloadHTTPError
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.ngclient import FetcherInterface, Updater

__all__ = [
    "BASE_URL",
    "DEFAULT_EXPIRY",
    "FolderFetcher",
    "TufRepo",
    "entry_custom",
    "make_signer",
    "ngclient_updater",
    "sealgate_registry",
    "sign_document",
    "spki_keyid",
]

DEFAULT_EXPIRY: Mapping[str, timedelta] = {
    "root": timedelta(days=365),
    "timestamp": timedelta(days=1),
    "snapshot": timedelta(days=7),
    "targets": timedelta(days=90),
}
PROTECTED = ("policy/", "advisories/", "index/")
BASE_URL = "https://registry.invalid/"


def spki_keyid(public: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey) -> str:
    """sealgate's key id: hex SHA-256 of the DER SubjectPublicKeyInfo."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def make_signer(key_type: str = "ed25519", *, keyid: str | None = None) -> CryptoSigner:
    """A fresh signer (``ed25519`` or ``ecdsa`` P-256) whose key id is the SPKI hash (or ``keyid``)."""
    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if key_type == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif key_type == "ecdsa":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unknown key type {key_type!r}")
    public = private.public_key()
    return CryptoSigner(private, SSlibKey.from_crypto(public, keyid=keyid or spki_keyid(public)))


def sign_document(
    signed: dict[str, Any], signers: Iterable[CryptoSigner], *, extra: Iterable[dict[str, str]] = ()
) -> bytes:
    """Sign an arbitrary ``signed`` dict over its securesystemslib canonical JSON; compact file bytes.

    For documents python-tuf's object model refuses to build (duplicate key ids, ...).
    """
    text = encode_canonical(signed)
    assert text is not None
    payload = text.encode("utf-8")
    signatures = [signer.sign(payload).to_dict() for signer in signers]
    signatures.extend(extra)
    return json.dumps({"signatures": signatures, "signed": signed}, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class _Role:
    md: Metadata[Any]
    signers: list[CryptoSigner]


class TufRepo:
    """A TUF repository under construction. Call :meth:`publish` before writing it out."""

    def __init__(
        self,
        *,
        key_type: str = "ed25519",
        root_keys: int = 1,
        root_threshold: int = 1,
        thresholds: Mapping[str, tuple[int, int]] | None = None,
        expiry: Mapping[str, timedelta] | None = None,
        now: datetime | None = None,
        snapshot_hashes: bool = True,
        timestamp_hashes: bool = True,
        consistent_snapshot: bool = True,
    ) -> None:
        """``thresholds`` maps timestamp/snapshot/targets to (number of keys, threshold)."""
        self.key_type = key_type
        self.now = (now or datetime.now(UTC)).replace(microsecond=0)
        self.expiry = dict(DEFAULT_EXPIRY)
        self.expiry.update(expiry or {})
        self.snapshot_hashes = snapshot_hashes
        self.timestamp_hashes = timestamp_hashes
        self.roles: dict[str, _Role] = {}
        self.history: dict[str, dict[int, bytes]] = {}
        self.root_history: list[bytes] = []
        self.target_data: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._published = False

        counts = {"root": (root_keys, root_threshold), "timestamp": (1, 1), "snapshot": (1, 1), "targets": (1, 1)}
        counts.update(thresholds or {})
        root = Root(expires=self._expires("root"), consistent_snapshot=consistent_snapshot)
        role_signers: dict[str, list[CryptoSigner]] = {}
        for name, (n_keys, threshold) in counts.items():
            role_signers[name] = [make_signer(key_type) for _ in range(n_keys)]
            for signer in role_signers[name]:
                root.add_key(signer.public_key, name)
            root.roles[name].threshold = threshold
        self.roles["root"] = _Role(Metadata(root), role_signers["root"])
        for name in ("timestamp", "snapshot", "targets"):
            self.roles[name] = _Role(self._new_md(name), role_signers[name])
        self._sign("root")
        self.root_history.append(self.roles["root"].md.to_bytes())
        self._dirty.add("targets")

    # -- construction helpers -----------------------------------------------------------------

    def _expires(self, role: str) -> datetime:
        delta = self.expiry.get(role) or self.expiry.get("delegated") or self.expiry["targets"]
        return self.now + delta

    def _new_md(self, role: str) -> Metadata[Any]:
        expires = self._expires(role)
        if role == "timestamp":
            return Metadata(Timestamp(expires=expires))
        if role == "snapshot":
            return Metadata(Snapshot(expires=expires))
        return Metadata(Targets(expires=expires))

    @property
    def root(self) -> Root:
        return self.roles["root"].md.signed  # type: ignore[no-any-return]

    def md(self, role: str) -> Metadata[Any]:
        return self.roles[role].md

    def signers(self, role: str) -> list[CryptoSigner]:
        return self.roles[role].signers

    def targets_roles(self) -> list[str]:
        return [name for name in self.roles if name not in ("root", "timestamp", "snapshot")]

    def delegate(
        self,
        parent: str,
        role: str,
        *,
        paths: list[str] | None = None,
        path_hash_prefixes: list[str] | None = None,
        keys: int = 1,
        threshold: int = 1,
        terminating: bool = True,
        key_type: str | None = None,
        signers: list[CryptoSigner] | None = None,
    ) -> list[CryptoSigner]:
        """Delegate from ``parent`` to a new targets role ``role``; returns its signers."""
        signers = signers if signers is not None else [make_signer(key_type or self.key_type) for _ in range(keys)]
        parent_targets: Targets = self.roles[parent].md.signed
        if parent_targets.delegations is None:
            parent_targets.delegations = Delegations(keys={}, roles={})
        assert parent_targets.delegations.roles is not None, "parent already delegates to succinct bins"
        parent_targets.delegations.roles[role] = DelegatedRole(
            name=role,
            keyids=[],
            threshold=threshold,
            terminating=terminating,
            paths=paths,
            path_hash_prefixes=path_hash_prefixes,
        )
        for signer in signers:
            parent_targets.add_key(signer.public_key, role)
        self.roles[role] = _Role(self._new_md(role), signers)
        self._dirty.update((parent, role))
        return signers

    def delegate_bins(
        self,
        parent: str,
        *,
        bit_length: int,
        name_prefix: str | None = None,
        keys: int = 1,
        threshold: int = 1,
        signers: list[CryptoSigner] | None = None,
    ) -> list[str]:
        """TAP 15 succinct hash bins under ``parent`` (``<prefix>-<hex>``); returns the bin names."""
        signers = signers if signers is not None else [make_signer(self.key_type) for _ in range(keys)]
        parent_targets: Targets = self.roles[parent].md.signed
        assert parent_targets.delegations is None, "a role delegates either to named roles or to bins"
        succinct = SuccinctRoles(
            keyids=[s.public_key.keyid for s in signers],
            threshold=threshold,
            bit_length=bit_length,
            name_prefix=name_prefix or parent,
        )
        parent_targets.delegations = Delegations(
            keys={s.public_key.keyid: s.public_key for s in signers}, succinct_roles=succinct
        )
        names = list(succinct.get_roles())
        for name in names:
            self.roles[name] = _Role(self._new_md(name), signers)
        self._dirty.add(parent)
        self._dirty.update(names)
        return names

    def add_namespace(
        self,
        namespace: str,
        *,
        bit_length: int | None = 8,
        keys: int = 1,
        threshold: int = 1,
        key_type: str | None = None,
        paths: list[str] | None = None,
    ) -> str:
        """sealgate's namespace layout: terminating role ``tools.acme`` for ``tools/acme/*/*``, then bins."""
        role = namespace.replace("/", ".")
        if paths is None:
            paths = [f"{namespace}/*"] if namespace.startswith("enclaves/") else [f"{namespace}/*/*"]
        signers = self.delegate("targets", role, paths=paths, keys=keys, threshold=threshold, key_type=key_type)
        if bit_length:
            self.delegate_bins(role, bit_length=bit_length, threshold=threshold, signers=signers)
        return role

    def responsible_role(self, path: str) -> str:
        """The role a new target goes to: follow the first matching delegation down to a leaf."""
        role = "targets"
        if path.startswith(PROTECTED):
            return role
        while True:
            delegations = self.roles[role].md.signed.delegations
            if delegations is None:
                return role
            child = next(iter(delegations.get_roles_for_target(path)), None)
            if child is None:
                return role
            role = child[0]

    def add_target(
        self,
        path: str,
        data: bytes | None = None,
        *,
        custom: dict[str, Any] | None = None,
        role: str | None = None,
        length: int | None = None,
        hashes: dict[str, str] | None = None,
    ) -> TargetFile:
        """Add a target signed by ``role`` (default: :meth:`responsible_role`).

        With ``data`` the file is also written under ``targets/`` by the writers; without it
        give ``length`` and ``hashes`` (benchmarks list 100,000 entries without files).
        """
        role = role or self.responsible_role(path)
        if data is not None:
            target = TargetFile.from_data(path, data, ["sha256"])
            self.target_data[path] = data
        else:
            assert length is not None and hashes is not None
            target = TargetFile(length, hashes, path)
        if custom is not None:
            target.unrecognized_fields["custom"] = custom
        self.roles[role].md.signed.targets[path] = target
        self._dirty.add(role)
        return target

    # -- signing and publishing ---------------------------------------------------------------

    def _sign(self, role: str, signers: Iterable[CryptoSigner] | None = None) -> bytes:
        md = self.roles[role].md
        md.signatures.clear()
        for signer in self.roles[role].signers if signers is None else signers:
            md.sign(signer, append=True)
        data = md.to_bytes()
        self.history.setdefault(role, {})[md.signed.version] = data
        return data

    def publish(self) -> None:
        """Sign every changed targets role (bumping versions after the first publish), then snapshot and timestamp."""
        roles = self.targets_roles() if not self._published else sorted(self._dirty & set(self.targets_roles()))
        for role in roles:
            md = self.roles[role].md
            if self._published:
                md.signed.version += 1
            md.signed.expires = self._expires(role)
            self._sign(role)
        snapshot: Snapshot = self.roles["snapshot"].md.signed
        for role in self.targets_roles():
            data = self.current(role)
            version = self.roles[role].md.signed.version
            snapshot.meta[f"{role}.json"] = (
                MetaFile.from_data(version, data, ["sha256"]) if self.snapshot_hashes else MetaFile(version)
            )
        self._bump_and_sign("snapshot")
        timestamp: Timestamp = self.roles["timestamp"].md.signed
        snap_data = self.current("snapshot")
        version = snapshot.version
        timestamp.snapshot_meta = (
            MetaFile.from_data(version, snap_data, ["sha256"]) if self.timestamp_hashes else MetaFile(version)
        )
        self._bump_and_sign("timestamp")
        self._dirty.clear()
        self._published = True

    def _bump_and_sign(self, role: str) -> None:
        md = self.roles[role].md
        if self._published:
            md.signed.version += 1
        md.signed.expires = self._expires(role)
        self._sign(role)

    def current(self, role: str) -> bytes:
        """The bytes of the newest version of ``role`` (``root``: the newest root)."""
        if role == "root":
            return self.root_history[-1]
        return self.history[role][self.roles[role].md.signed.version]

    def resign(self, role: str, signers: Iterable[CryptoSigner]) -> bytes:
        """Re-sign the current version of ``role`` with other keys (snapshot/timestamp untouched)."""
        return self._sign(role, signers)

    def rotate_root(
        self,
        *,
        new_keys: int = 1,
        threshold: int = 1,
        sign_with_old: int | None = None,
        sign_with_new: int | None = None,
        new_signers: list[CryptoSigner] | None = None,
    ) -> bytes:
        """Root version +1 with new root keys, signed by some old and some new root keys.

        Defaults sign with every old and every new key (a valid rotation). Returns the bytes.
        """
        old_signers = self.roles["root"].signers
        new_signers = new_signers if new_signers is not None else [make_signer(self.key_type) for _ in range(new_keys)]
        root_md = self.roles["root"].md
        root: Root = root_md.signed
        for keyid in list(root.roles["root"].keyids):
            root.revoke_key(keyid, "root")
        for signer in new_signers:
            root.add_key(signer.public_key, "root")
        root.roles["root"].threshold = threshold
        root.version += 1
        root.expires = self._expires("root")
        use_old = old_signers[: len(old_signers) if sign_with_old is None else sign_with_old]
        use_new = new_signers[: len(new_signers) if sign_with_new is None else sign_with_new]
        root_md.signatures.clear()
        for signer in [*use_old, *use_new]:
            root_md.sign(signer, append=True)
        data = root_md.to_bytes()
        self.root_history.append(data)
        self.roles["root"].signers = new_signers
        return data

    # -- writers -----------------------------------------------------------------------------

    def write_trust(
        self,
        trust_dir: Path,
        *,
        pin_version: int = 1,
        last_refresh: datetime | None = None,
        with_cached_root: bool = True,
    ) -> Path:
        """Write ``trust/`` as ``sealgate init`` + ``sealgate registry refresh`` would leave it."""
        assert self._published, "publish() first"
        (trust_dir / "roots").mkdir(parents=True, exist_ok=True)
        (trust_dir / "metadata").mkdir(parents=True, exist_ok=True)
        pinned = self.root_history[pin_version - 1]
        pin = {"root_version": pin_version, "root_sha256": hashlib.sha256(pinned).hexdigest()}
        (trust_dir / "pin.json").write_text(json.dumps(pin))
        for version, data in enumerate(self.root_history, start=1):
            if version >= pin_version:
                (trust_dir / "roots" / f"{version}.root.json").write_bytes(data)
        if with_cached_root:
            (trust_dir / "metadata" / "root.json").write_bytes(self.root_history[-1])
        for role in ("timestamp", "snapshot", *self.targets_roles()):
            (trust_dir / "metadata" / f"{quote(role, safe='')}.json").write_bytes(self.current(role))
        for path, data in self.target_data.items():
            target = trust_dir / "targets" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        refreshed = (last_refresh or self.now).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        (trust_dir / "refresh.json").write_text(json.dumps({"last_refresh": refreshed, "source": BASE_URL}))
        return trust_dir

    def write_repository(self, repo_dir: Path) -> Path:
        """Write the served repository (consistent snapshots), every version of every role."""
        assert self._published, "publish() first"
        metadata = repo_dir / "metadata"
        metadata.mkdir(parents=True, exist_ok=True)
        for version, data in enumerate(self.root_history, start=1):
            (metadata / f"{version}.root.json").write_bytes(data)
        (metadata / "timestamp.json").write_bytes(self.current("timestamp"))
        for role, versions in self.history.items():
            if role in ("root", "timestamp"):
                continue
            for version, data in versions.items():
                (metadata / f"{version}.{quote(role, safe='')}.json").write_bytes(data)
        for path, data in self.target_data.items():
            directory, _, name = path.rpartition("/")
            target = repo_dir / "targets" / directory / f"{hashlib.sha256(data).hexdigest()}.{name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return repo_dir


class FolderFetcher(FetcherInterface):
    """Serve a repository folder to ngclient; a missing file is an HTTP 404 (ngclient needs that)."""

    def __init__(self, folder: Path, base_url: str = BASE_URL) -> None:
        self.folder = folder.resolve()
        self.base = base_url

    def _fetch(self, url: str) -> Iterator[bytes]:
        if not url.startswith(self.base):
            raise DownloadHTTPError(url, 404)
        path = (self.folder / url[len(self.base) :]).resolve()  # no unquote: role files are %-encoded on disk
        if not path.is_relative_to(self.folder):
            raise DownloadHTTPError(url, 403)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise DownloadHTTPError(url, 404) from None
        return iter([data])


def ngclient_updater(repo_dir: Path, metadata_dir: Path, bootstrap: bytes, target_dir: Path | None = None) -> Updater:
    """A python-tuf ngclient over ``repo_dir`` (as written by :meth:`TufRepo.write_repository`)."""
    metadata_dir.mkdir(parents=True, exist_ok=True)
    return Updater(
        str(metadata_dir),
        f"{BASE_URL}metadata/",
        str(target_dir) if target_dir else None,
        f"{BASE_URL}targets/",
        fetcher=FolderFetcher(repo_dir),
        bootstrap=bootstrap,
    )


def entry_custom(path: str, *, status: str = "active", statements: int = 0) -> dict[str, Any]:
    """A ``custom`` like sealgate's entries (layout.CUSTOM_FIELDS), with fake DSSE-shaped statements."""
    kind_plural, _, rest = path.partition("/")
    version = rest.rpartition("/")[2]
    custom: dict[str, Any] = {
        "kind": {"tools": "tool", "modules": "module", "enclaves": "enclave"}.get(kind_plural, kind_plural),
        "status": status,
        "stage": "PROD",
        "version": version,
        "git_commit": hashlib.sha1(path.encode(), usedforsecurity=False).hexdigest(),
        "digest_scheme": "sealgate-digest-v1",
    }
    if statements:
        seed = hashlib.sha256(path.encode()).hexdigest()
        custom["statements"] = [
            {
                "payloadType": "application/vnd.in-toto+json",
                "payload": base64.b64encode((seed * 7)[: 280 + i].encode()).decode(),
                "signatures": [{"keyid": seed, "sig": base64.b64encode(bytes.fromhex(seed) * 2).decode()}],
            }
            for i in range(statements)
        ]
    return custom


def sealgate_registry(
    *,
    namespaces: Mapping[str, int] | None = None,
    bit_length: int | None = 2,
    key_type: str = "ed25519",
    **kwargs: Any,
) -> TufRepo:
    """A small registry shaped like sealgate's: policy, an advisory and an index at the top level,
    namespace roles with bins below. ``namespaces`` maps ``tools/acme`` to how many entries it holds.
    Not published: add to it, then call :meth:`TufRepo.publish`.
    """
    repo = TufRepo(key_type=key_type, **kwargs)
    repo.add_target("policy/trust-policy.json", b'{"environment":"production","version":1}')
    repo.add_target("advisories/SG-2024-0001", b'{"id":"SG-2024-0001"}')
    for namespace, count in (namespaces or {"tools/acme": 6}).items():
        repo.add_namespace(namespace, bit_length=bit_length)
        kind = namespace.split("/")[0]
        versions = []
        for i in range(count):
            path = f"{namespace}/tool{i % 3}/1.{i}.0"
            versions.append(path)
            repo.add_target(path, f"artifact {path}".encode(), custom=entry_custom(path, statements=1))
        index = {"_type": "sealgate/index/v1", "versions": sorted(p.rpartition("/")[2] for p in versions)}
        repo.add_target(f"index/{kind[:-1]}/{namespace.partition('/')[2]}/tool0", json.dumps(index).encode())
    return repo
