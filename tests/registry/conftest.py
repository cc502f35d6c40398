"""Fixtures for the registry writer and client tests: real keys, real python-tuf, real files.

Every test gets a fresh repository in its own ``SEALGATE_HOME`` (``tmp_path/"host"``), with
root 2-of-3, top-level targets 2-of-2 (the publication threshold) and a namespace
``tools/acme`` whose bins need 2 of 2 keys. Approvers each get their own home directory
holding only their key, so approval really happens without the repository.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from sealgate.canonical import canonical_bytes
from sealgate.crypto.intoto import make_approval
from sealgate.crypto.keys import Passphrase, PrivateKey, generate_key, read_private_key_file, write_new_file
from sealgate.registry._tuf import TargetFile, Updater
from sealgate.registry.client import DirectoryFetcher, pin_root
from sealgate.registry.proposal import ApprovalResult, Proposal, approve
from sealgate.registry.repository import Expiries, OnlineKeys, PublishResult, Repository, init_repository

POLICY = canonical_bytes({"_type": "sealgate/trust-policy/v1", "environment": "development"})
PASSPHRASE = Passphrase(b"correct horse battery staple")


@dataclass
class Keys:
    root: list[PrivateKey]
    targets: list[PrivateKey]
    online: OnlineKeys
    acme: list[PrivateKey]

    @property
    def publication(self) -> list[PrivateKey]:
        return self.targets


@pytest.fixture(scope="session")
def writer_keys() -> Keys:
    # One ECDSA P-256 key among Ed25519 ones so both key types go through python-tuf.
    return Keys(
        root=[generate_key("ed25519") for _ in range(3)],
        targets=[generate_key("ecdsa-p256"), generate_key("ed25519")],
        online=OnlineKeys(generate_key("ed25519"), generate_key("ed25519")),
        acme=[generate_key("ed25519"), generate_key("ed25519")],
    )


def sign_all(proposal: Proposal, signers: Iterable[PrivateKey]) -> Proposal:
    """Sign with every key that counts for some role of the proposal (others are skipped)."""
    for key in signers:
        if proposal.roles_for_key(key.keyid):
            proposal.sign(key)
    return proposal


def approver_home(base: Path, name: str, key: PrivateKey) -> Path:
    """A separate SEALGATE_HOME that holds nothing but one encrypted private key."""
    home = base / f"approver-{name}"
    write_new_file(home / "keys" / f"{name}.key", key.to_pem(PASSPHRASE))
    return home


def approve_in_home(home: Path, proposal_path: Path) -> ApprovalResult:
    """Copy the proposal to the approver's home, approve there with the key read from disk, copy back."""
    key_file = next((home / "keys").glob("*.key"))
    local = home / "inbox" / proposal_path.name
    local.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(proposal_path, local)
    result = approve(local, read_private_key_file(key_file, PASSPHRASE))
    shutil.copyfile(local, proposal_path)
    return result


@dataclass
class Registry:
    """A repository host in ``home`` with every key at hand (like the demo)."""

    home: Path
    keys: Keys

    @property
    def repo(self) -> Repository:
        return Repository.at_home(self.home)

    @property
    def path(self) -> Path:
        return self.home / "repository"

    def publish(
        self, proposal: Proposal, signers: Sequence[PrivateKey] | None = None, now: datetime | None = None
    ) -> PublishResult:
        if signers is None:
            signers = [*self.keys.targets, *self.keys.acme]
        return self.repo.publish(sign_all(proposal, signers), self.keys.online, now=now)

    def add_tool(self, name: str, version: str, content: bytes | None = None, stage: str = "DEV") -> str:
        data = content if content is not None else f"tool {name} {version}\n".encode()
        digest = hashlib.sha256(data).hexdigest()
        path = f"tools/{name}/{version}"
        statement = make_approval(path, digest, "author", self.keys.acme[0])
        proposal = self.repo.propose_add_entry(
            kind="tool",
            name=name,
            version=version,
            digest=digest,
            size=len(data),
            stage=stage,
            statements=[statement],
            content=data,
        )
        self.publish(proposal)
        return path

    def root_bytes(self, version: int = 1) -> bytes:
        return (self.path / "metadata" / f"{version}.root.json").read_bytes()

    def timestamp_version(self) -> int:
        from sealgate.canonical import loads_strict

        doc = loads_strict((self.path / "metadata" / "timestamp.json").read_bytes())
        return int(doc["signed"]["version"])


def make_registry(
    home: Path, keys: Keys, *, bit_length: int = 4, expiries: Expiries | None = None, now: datetime | None = None
) -> Registry:
    init_repository(
        home / "repository",
        root_keys=keys.root,
        root_threshold=2,
        targets_keys=keys.targets,
        targets_threshold=2,
        online_keys=keys.online,
        policy=POLICY,
        expiries=expiries or Expiries(),
        now=now,
    )
    registry = Registry(home, keys)
    proposal = registry.repo.propose_add_namespace("tools/acme", [k.public for k in keys.acme], 2, bit_length, now=now)
    registry.publish(proposal, now=now)
    return registry


@pytest.fixture(scope="session")
def _writer_template(tmp_path_factory: pytest.TempPathFactory, writer_keys: Keys) -> Path:
    return make_registry(tmp_path_factory.mktemp("template") / "host", writer_keys).home


@pytest.fixture
def writer(tmp_path: Path, writer_keys: Keys, _writer_template: Path) -> Registry:
    """A fresh repository host, copied from one built per session (names avoid the view tests' ``registry``)."""
    home = tmp_path / "host"
    shutil.copytree(_writer_template, home, symlinks=True)
    return Registry(home, writer_keys)


def pinned_client(base: Path, registry: Registry, name: str = "client", root_version: int = 1) -> Path:
    """A gate host's SEALGATE_HOME pinned to root ``root_version`` by its hash."""
    home = base / name
    data = registry.root_bytes(root_version)
    pin_root(home, data, hashlib.sha256(data).hexdigest(), str(registry.path))
    return home


def ngclient_lookup(repo_dir: Path, root: bytes, target_path: str, workdir: Path) -> TargetFile | None:
    """Ask a plain tuf.ngclient Updater, bootstrapped from ``root``, for ``target_path``."""
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "metadata").mkdir(parents=True)
    base = "https://sealgate-local.invalid/"
    updater = Updater(
        str(workdir / "metadata"),
        base + "metadata/",
        str(workdir / "targets"),
        base + "targets/",
        fetcher=DirectoryFetcher(repo_dir),
        bootstrap=root,
    )
    updater.refresh()
    info: TargetFile | None = updater.get_targetinfo(target_path)
    return info


def ngclient_download(repo_dir: Path, root: bytes, target_path: str, workdir: Path) -> bytes:
    info = ngclient_lookup(repo_dir, root, target_path, workdir)
    assert info is not None, f"{target_path} not found by ngclient"
    base = "https://sealgate-local.invalid/"
    updater = Updater(
        str(workdir / "metadata"),
        base + "metadata/",
        str(workdir / "targets"),
        base + "targets/",
        fetcher=DirectoryFetcher(repo_dir),
        bootstrap=root,
    )
    updater.refresh()
    info = updater.get_targetinfo(target_path)
    assert info is not None
    return Path(updater.download_target(info)).read_bytes()
