"""The client: root pinning, refresh with tuf.ngclient, and the attacks a mirror can try."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.errors import Reason, RegistryError, RegistryIntegrityError, UsageError
from sealgate.registry._files import utcnow
from sealgate.registry.client import pin_root, refresh

from .conftest import POLICY, Keys, Registry, pinned_client


def _view_versions(client: Path) -> tuple[int, int]:
    metadata = client / "trust" / "metadata"
    ts = loads_strict((metadata / "timestamp.json").read_bytes())
    targets = loads_strict((metadata / "targets.json").read_bytes())
    return int(ts["signed"]["version"]), int(targets["signed"]["version"])


def test_first_root_with_wrong_hash_refused(writer: Registry, tmp_path: Path) -> None:
    data = writer.root_bytes()
    with pytest.raises(RegistryIntegrityError) as err:
        pin_root(tmp_path / "client", data, hashlib.sha256(b"another root").hexdigest(), str(writer.path))
    assert err.value.reason is Reason.REGISTRY_TAMPERED
    assert not (tmp_path / "client" / "trust" / "pin.json").exists()
    with pytest.raises(UsageError):
        pin_root(tmp_path / "client", data, "not-hex", str(writer.path))


def test_pin_writes_layout_and_is_idempotent(writer: Registry, tmp_path: Path) -> None:
    client = pinned_client(tmp_path, writer)
    trust = client / "trust"
    assert json.loads((trust / "pin.json").read_bytes()) == {
        "root_sha256": hashlib.sha256(writer.root_bytes()).hexdigest(),
        "root_version": 1,
    }
    assert (trust / "roots" / "1.root.json").read_bytes() == writer.root_bytes()
    assert (trust / "metadata" / "root.json").read_bytes() == writer.root_bytes()
    data = writer.root_bytes()
    pin_root(client, data, hashlib.sha256(data).hexdigest(), str(writer.path))
    with pytest.raises(UsageError, match="already pinned"):
        other = writer.root_bytes().replace(b'"version":1', b'"version":1 ')
        pin_root(client, other, hashlib.sha256(other).hexdigest(), str(writer.path))


def test_refresh_caches_every_role_and_document(writer: Registry, tmp_path: Path) -> None:
    writer.add_tool("acme/hello", "1.0.0")
    client = pinned_client(tmp_path, writer)
    result = refresh(client)
    trust = client / "trust"
    assert result.roles_loaded == 18 and result.timestamp_version == writer.timestamp_version()
    names = {p.name for p in (trust / "metadata").iterdir()}
    assert {"root.json", "timestamp.json", "snapshot.json", "targets.json", "tools.acme.json"} <= names
    assert {f"tools.acme-{i:x}.json" for i in range(16)} <= names
    assert not (trust / "metadata" / "root.json").is_symlink()
    assert (trust / "targets" / "policy" / "trust-policy.json").read_bytes() == POLICY
    assert (trust / "targets" / "index" / "tool" / "acme" / "hello").is_file()
    record = json.loads((trust / "refresh.json").read_bytes())
    assert set(record) == {"last_refresh", "source"} and record["last_refresh"].endswith("Z")
    # A second refresh reuses verified documents instead of downloading them again.
    again = refresh(client)
    assert again.targets_downloaded == 0 and again.targets_reused == 2
    assert len(list((trust / ".views").iterdir())) <= 2


def test_rollback_to_older_registry_refused(writer: Registry, tmp_path: Path) -> None:
    old_copy = tmp_path / "old-repository"
    shutil.copytree(writer.path, old_copy)
    writer.add_tool("acme/hello", "1.0.0")
    client = pinned_client(tmp_path, writer)
    refresh(client)
    before = _view_versions(client)
    with pytest.raises(RegistryIntegrityError) as err:
        refresh(client, old_copy)
    assert err.value.reason is Reason.REGISTRY_ROLLBACK
    assert "rollback" in str(err.value) and "previous registry view is kept" in str(err.value)
    assert _view_versions(client) == before


def test_rollback_of_snapshot_with_fresh_timestamp_refused(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    writer.add_tool("acme/hello", "1.0.0")
    client = pinned_client(tmp_path, writer)
    refresh(client)
    # A mirror holding the timestamp key signs a new timestamp that points at an old snapshot.
    from sealgate.registry.repository import Expiries

    old_snapshot = 2
    data = (writer.path / "metadata" / f"{old_snapshot}.snapshot.json").read_bytes()
    ts = writer.repo._sign_timestamp(
        writer.timestamp_version() + 1, old_snapshot, data, utcnow(), Expiries(), writer_keys.online.timestamp
    )
    (writer.path / "metadata" / "timestamp.json").write_bytes(ts)
    with pytest.raises(RegistryIntegrityError) as err:
        refresh(client)
    assert err.value.reason is Reason.REGISTRY_ROLLBACK


def test_freeze_with_expired_timestamp_refused(writer: Registry, tmp_path: Path) -> None:
    client = pinned_client(tmp_path, writer)
    refresh(client)
    before = _view_versions(client)
    with pytest.raises(RegistryIntegrityError) as err:
        refresh(client, now=utcnow() + timedelta(days=2))
    assert err.value.reason is Reason.METADATA_EXPIRED
    assert _view_versions(client) == before


def test_mix_and_match_of_metadata_versions_refused(writer: Registry, tmp_path: Path) -> None:
    path = writer.add_tool("acme/hello", "1.0.0")
    state = writer.repo._state(utcnow(), check_expiry=False)
    bin_name = state.namespaces["tools.acme"].get_role_for_target(path)
    metadata = writer.path / "metadata"
    # Serve the validly signed v1 of the bin under the name of the current v2.
    shutil.copyfile(metadata / f"1.{bin_name}.json", metadata / f"2.{bin_name}.json")
    client = pinned_client(tmp_path, writer)
    with pytest.raises(RegistryIntegrityError) as err:
        refresh(client)
    assert err.value.reason is Reason.REGISTRY_TAMPERED
    assert not (client / "trust" / "refresh.json").exists()


def test_tampered_target_file_refused(writer: Registry, tmp_path: Path) -> None:
    client = pinned_client(tmp_path, writer)
    policy_file = next((writer.path / "targets" / "policy").iterdir())
    policy_file.write_bytes(POLICY.replace(b"development", b"developmenX"))
    with pytest.raises(RegistryIntegrityError) as err:
        refresh(client)
    assert err.value.reason is Reason.REGISTRY_TAMPERED


def test_unreachable_registry_is_unavailable(writer: Registry, tmp_path: Path) -> None:
    client = pinned_client(tmp_path, writer)
    refresh(client)
    os.unlink(writer.path / "metadata" / "timestamp.json")
    with pytest.raises(RegistryError) as err:
        refresh(client)
    assert err.value.reason is Reason.REGISTRY_UNAVAILABLE
    assert not isinstance(err.value, RegistryIntegrityError)
    with pytest.raises(RegistryError):
        refresh(client, tmp_path / "no-such-dir")


def test_refresh_without_pin_refused(writer: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="pinned"):
        refresh(tmp_path / "nobody", writer.path)


def test_refresh_over_http(writer: Registry, tmp_path: Path) -> None:
    handler = functools.partial(_QuietHandler, directory=str(writer.path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = pinned_client(tmp_path, writer)
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        result = refresh(client, url, timeout=5)
        assert result.source == url and result.roles_loaded == 18
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    with pytest.raises(UsageError, match="https"):
        refresh(client, "http://registry.example/")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


_REFRESHER = """
import sys
from pathlib import Path
from sealgate.registry.client import refresh
for _ in range(int(sys.argv[3])):
    refresh(Path(sys.argv[1]), Path(sys.argv[2]))
print("ok")
"""


def test_two_processes_refreshing_at_once(writer: Registry, tmp_path: Path) -> None:
    writer.add_tool("acme/hello", "1.0.0")
    client = pinned_client(tmp_path, writer)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REFRESHER, str(client), str(writer.path), "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert out.strip() == b"ok"
    assert _view_versions(client)[0] == writer.timestamp_version()
    assert refresh(client).roles_loaded == 18
    views = list((client / "trust" / ".views").iterdir())
    assert 1 <= len(views) <= 2
    # The swapped-in view is complete and self-consistent.
    snapshot = loads_strict((client / "trust" / "metadata" / "snapshot.json").read_bytes())
    for role in snapshot["signed"]["meta"]:
        assert (client / "trust" / "metadata" / role).is_file()


def test_policy_change_reaches_client(writer: Registry, tmp_path: Path) -> None:
    client = pinned_client(tmp_path, writer)
    refresh(client)
    policy = canonical_bytes({"environment": "production"})
    writer.publish(writer.repo.propose_policy(policy))
    refresh(client)
    assert (client / "trust" / "targets" / "policy" / "trust-policy.json").read_bytes() == policy


def test_gate_view_reads_the_refreshed_trust_directory(writer: Registry, tmp_path: Path) -> None:
    from sealgate.registry.view import RegistryView

    path = writer.add_tool("acme/hello", "1.0.0")
    client = pinned_client(tmp_path, writer)
    refresh(client)
    view = RegistryView.load(client / "trust", utcnow())
    assert view.timestamp_version == writer.timestamp_version()
    info = view.get_target(path)
    assert info is not None and info.custom["status"] == "active" and info.role.startswith("tools.acme-")
    assert view.read_target_bytes("policy/trust-policy.json") == POLICY
