"""Crash safety of publish: a crash at any point leaves clients the previous version or the new one.

Two complementary tests: an exhaustive one that stops a publish before each of its durable
file operations in turn (a crash there leaves exactly what the completed steps wrote), and a
blunt one that SIGKILLs real publishing processes at random moments, many times.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sealgate.crypto.keys import PrivateKey, generate_key
from sealgate.errors import Reason, RegistryIntegrityError
from sealgate.registry import repository as repository_module
from sealgate.registry.client import refresh
from sealgate.registry.proposal import Proposal
from sealgate.registry.repository import OnlineKeys, Repository

from .conftest import Keys, Registry, pinned_client, sign_all


class _Crash(BaseException):
    """Stands in for the process dying: no ``except Exception`` in the code under test catches it."""


def _crash_at(monkeypatch: pytest.MonkeyPatch, step: int) -> list[str]:
    """Make the ``step``-th durable file operation of the next publish 'crash'; return the log of steps."""
    log: list[str] = []
    real_write, real_fsync = repository_module.atomic_write, repository_module.fsync_dir

    def counted(name: str, real: Callable[..., None]) -> Callable[..., None]:
        def wrapper(path: Path, *args: object, **kwargs: object) -> None:
            log.append(f"{name} {Path(path).name}")
            if len(log) == step:
                raise _Crash(log[-1])
            real(path, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(repository_module, "atomic_write", counted("write", real_write))
    monkeypatch.setattr(repository_module, "fsync_dir", counted("fsync", real_fsync))
    return log


def _run_crash_matrix(
    tmp_path: Path,
    writer: Registry,
    make: Callable[[Registry], Proposal],
    publish_keys: OnlineKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> list[str]:
    """Crash before each step in turn; return the steps after which clients saw a broken registry."""
    template = tmp_path / "template"
    shutil.copytree(writer.home, template, symlinks=True)
    client_template = pinned_client(tmp_path, writer, "client-template")
    refresh(client_template)
    old_ts = writer.timestamp_version()
    broken: list[str] = []
    step = 1
    while True:
        home = tmp_path / f"run{step}"
        shutil.copytree(template, home, symlinks=True)
        run = Registry(home, writer.keys)
        proposal = make(run)
        log = _crash_at(monkeypatch, step)
        crashed = True
        try:
            run.repo.publish(proposal, publish_keys)
            crashed = False
        except _Crash:
            pass
        finally:
            monkeypatch.undo()
        client = tmp_path / f"client{step}"
        shutil.copytree(client_template, client, symlinks=True)
        try:
            seen = refresh(client, run.path).timestamp_version
            assert seen in (old_ts, old_ts + 1), f"crash before {log[-1]}: client saw timestamp v{seen}"
        except RegistryIntegrityError as exc:
            assert exc.reason is Reason.REGISTRY_TAMPERED
            broken.append(log[-1])
        # Whatever happened, the next operation on the repository completes or discards the publish.
        if run.repo.recover() or broken[-1:] == [log[-1]]:
            assert refresh(client, run.path).timestamp_version == old_ts + 1
        run.repo.verify()
        if not crashed:
            assert run.timestamp_version() == old_ts + 1
            return broken
        step += 1
        assert step < 60, "publish never completed"


def test_crash_at_every_step_of_an_entry_publish_serves_old_or_new(
    writer: Registry, writer_keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def make(run: Registry) -> Proposal:
        data = b"crash me"
        proposal = run.repo.propose_add_entry(
            kind="tool",
            name="acme/crash",
            version="1.0.0",
            digest=hashlib.sha256(data).hexdigest(),
            size=len(data),
            stage="DEV",
            content=data,
        )
        return sign_all(proposal, [*writer_keys.targets, *writer_keys.acme])

    assert _run_crash_matrix(tmp_path, writer, make, writer_keys.online, monkeypatch) == []


def test_crash_during_online_key_rotation_is_repaired_by_recovery(
    writer: Registry, writer_keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_online = OnlineKeys(generate_key("ed25519"), generate_key("ed25519"))

    def make(run: Registry) -> Proposal:
        builder = run.repo.builder()
        builder.rotate("timestamp", [new_online.timestamp.public], 1)
        builder.rotate("snapshot", [new_online.snapshot.public], 1)
        return sign_all(builder.build(), writer_keys.root[:2])

    broken = _run_crash_matrix(tmp_path, writer, make, new_online, monkeypatch)
    # The one unavoidable window: the new root is visible, the new timestamp not yet; the journal
    # written before it lets recovery (run by every mutating operation) finish the publish.
    assert broken == ["write timestamp.json"]


_PUBLISHER = """
import hashlib, sys
from pathlib import Path
from sealgate.crypto.keys import read_private_key_file
from sealgate.registry.repository import OnlineKeys, Repository

repo, keydir, prefix = Repository(Path(sys.argv[1])), Path(sys.argv[2]), sys.argv[3]
load = lambda name: read_private_key_file(keydir / f"{name}.key", None)
signers = [load(n) for n in ("targets0", "targets1", "acme0", "acme1")]
online = OnlineKeys(load("snapshot"), load("timestamp"))
print("ready", flush=True)
for i in range(1000):
    data = f"{prefix}-{i}".encode()
    proposal = repo.propose_add_entry(kind="tool", name="acme/crash", version=f"{prefix}.{i}",
                                      digest=hashlib.sha256(data).hexdigest(), size=len(data), stage="DEV",
                                      content=data)
    for key in signers:
        proposal.sign(key)
    repo.publish(proposal, online)
"""


def _write_keys(directory: Path, keys: Keys) -> None:
    directory.mkdir()
    named: dict[str, PrivateKey] = {
        "targets0": keys.targets[0],
        "targets1": keys.targets[1],
        "acme0": keys.acme[0],
        "acme1": keys.acme[1],
        "snapshot": keys.online.snapshot,
        "timestamp": keys.online.timestamp,
    }
    for name, key in named.items():
        (directory / f"{name}.key").write_bytes(key.to_pem(None, insecure_no_passphrase=True))


@pytest.mark.slow
def test_sigkill_during_publish_never_breaks_clients(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    keydir = tmp_path / "keys"
    _write_keys(keydir, writer_keys)
    client = pinned_client(tmp_path, writer)
    refresh(client)
    rng = random.Random(1234)
    last_seen = writer.timestamp_version()
    for attempt in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", _PUBLISHER, str(writer.path), str(keydir), f"k{attempt}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready", proc.stderr.read() if proc.stderr else b""
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        # Between the kill and any repair, clients refresh fine and never go backwards.
        seen = refresh(client).timestamp_version
        assert seen >= last_seen
        last_seen = seen
        Repository(writer.path).verify()
    assert Repository(writer.path).recover() in (True, False)
    report = Repository(writer.path).verify()
    assert report.entries == len(Repository(writer.path).list_entries(kind="tool", name="acme/crash"))
    assert refresh(client).timestamp_version == report.timestamp_version
