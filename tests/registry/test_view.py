"""The gate's offline registry view on valid registries: lookups, agreement with ngclient, costs.

Every repository here is built by python-tuf (``tests/registry/tufgen.py``) with real keys
and signatures; the answers are cross-checked against python-tuf's own ngclient.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sealgate.errors import MalformedInputError, Reason, RegistryError, RegistryIntegrityError
from sealgate.registry.view import RegistryView, TargetInfo
from tests.registry.tufgen import (
    TufRepo,
    entry_custom,
    make_signer,
    ngclient_updater,
    sealgate_registry,
)

NOW = time.time()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[TufRepo, Path]:
    repo = sealgate_registry(namespaces={"tools/acme": 9, "modules/beta": 4})
    repo.publish()
    return repo, repo.write_trust(tmp_path_factory.mktemp("reg") / "trust")


def test_valid_registry_finds_top_level_namespace_and_bin_targets(registry: tuple[TufRepo, Path]) -> None:
    repo, trust = registry
    view = RegistryView.load(trust, NOW)

    policy = view.get_target("policy/trust-policy.json")
    assert policy is not None and policy.role == "targets"
    assert policy.length == len(repo.target_data["policy/trust-policy.json"])

    entry = view.get_target("tools/acme/tool1/1.4.0")
    assert isinstance(entry, TargetInfo)
    assert entry.role.startswith("tools.acme-")  # found in a succinct bin below the namespace
    assert entry.custom == entry_custom("tools/acme/tool1/1.4.0", statements=1)
    assert entry.sha256 == repo.md(entry.role).signed.targets[entry.path].hashes["sha256"]
    assert view.get_target("modules/beta/tool0/1.3.0") is not None
    assert view.version == repo.md("snapshot").signed.version
    assert view.root_version == 1
    assert view.last_refresh == datetime.fromtimestamp(int(repo.now.timestamp()), UTC)


def test_unregistered_paths_return_none(registry: tuple[TufRepo, Path]) -> None:
    view = RegistryView.load(registry[1], NOW)
    assert view.get_target("tools/acme/tool1/9.9.9") is None  # namespace and bin consulted, not there
    assert view.get_target("tools/other/x/1.0") is None  # no delegation matches
    assert view.get_target("tools/acme/tool1") is None  # segment count differs from tools/acme/*/*
    assert view.get_target("policy/other.json") is None


@pytest.mark.parametrize("path", ["", "/policy/trust-policy.json", "tools/../policy/x", "tools//acme", "a/./b", "a\\b"])
def test_malformed_target_path_refused(registry: tuple[TufRepo, Path], path: str) -> None:
    view = RegistryView.load(registry[1], NOW)
    with pytest.raises(MalformedInputError):
        view.get_target(path)


def _delegation_maze(key_type: str) -> TufRepo:
    """Orderings, non-terminating roles, hash prefixes, nesting and bins in one graph."""
    repo = TufRepo(key_type=key_type)
    repo.add_target("policy/trust-policy.json", b"{}")
    repo.add_target("tools/top/x/1", b"top-level entry")
    # Non-terminating role first: a miss there backtracks to the next matching role.
    repo.delegate("targets", "early", paths=["tools/*/*/*"], terminating=False)
    repo.add_target("tools/shared/a/1", b"early a", role="early")
    repo.delegate("targets", "late", paths=["tools/shared/*/*"], terminating=False)
    repo.add_target("tools/shared/a/1", b"late a (shadowed by early)", role="late")
    repo.add_target("tools/shared/b/1", b"late b", role="late")
    # A terminating role stops the search: "after" is never consulted for tools/stop/*/*.
    repo.delegate("targets", "stopper", paths=["tools/stop/*/*"], terminating=True)
    repo.delegate("targets", "after", paths=["tools/stop/*/*", "modules/*/*/*"])
    repo.add_target("tools/stop/z/1", b"hidden behind the terminating role", role="after")
    repo.add_target("modules/m/z/1", b"after m", role="after")
    # Hash-prefix delegation and a nested namespace with bins, ECDSA or Ed25519 alike.
    repo.delegate("targets", "hashed", path_hash_prefixes=["0", "1", "2", "3", "4", "5", "6", "7"])
    repo.add_namespace("tools/acme", bit_length=3, keys=2, threshold=2)
    for i in range(12):
        repo.add_target(f"tools/acme/t{i}/1.0", f"acme {i}".encode(), custom=entry_custom(f"tools/acme/t{i}/1.0"))
    for i in range(6):
        path = f"hashed/item{i}"
        repo.add_target(path, path.encode(), role="hashed")
    return repo


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa"])
def test_view_agrees_with_ngclient_get_targetinfo(tmp_path: Path, key_type: str) -> None:
    repo = _delegation_maze(key_type)
    repo.publish()
    trust = repo.write_trust(tmp_path / "trust")
    repo_dir = repo.write_repository(tmp_path / "repo")
    paths = [
        *repo.target_data,
        "tools/stop/z/1",
        "tools/acme/t99/1.0",
        "tools/none/x/1",
        "hashed/missing",
        "modules/m/z/2",
        "policy/none",
    ]
    updater = ngclient_updater(repo_dir, tmp_path / "ngclient", repo.root_history[0])
    updater.refresh()
    view = RegistryView.load(trust, NOW)
    for path in paths:
        expected = updater.get_targetinfo(path)
        got = view.get_target(path)
        if expected is None:
            assert got is None, path
        else:
            assert got is not None, path
            assert (got.length, got.hashes, got.custom) == (expected.length, expected.hashes, expected.custom or {})
    found = view.get_target("tools/shared/a/1")
    assert found is not None and found.role == "early"
    assert view.get_target("tools/stop/z/1") is None


def test_view_reads_the_cache_ngclient_itself_wrote(tmp_path: Path) -> None:
    repo = sealgate_registry(namespaces={"tools/acme": 6})
    repo.publish()
    repo.rotate_root()
    repo.publish()
    repo_dir = repo.write_repository(tmp_path / "repo")
    trust = tmp_path / "trust"
    pinned = repo.write_trust(tmp_path / "pinned", pin_version=1)
    shutil.copytree(pinned, trust, ignore=shutil.ignore_patterns("metadata"))
    updater = ngclient_updater(repo_dir, trust / "metadata", repo.root_history[0])
    paths = [p for p in repo.target_data if p.startswith("tools/")]
    expected = {p: updater.get_targetinfo(p) for p in paths}  # caches the bins it walks
    assert (trust / "metadata" / "root.json").is_symlink()  # ngclient 7: link into root_history/
    view = RegistryView.load(trust, NOW)
    assert view.root_version == 2
    for path, info in expected.items():
        got = view.get_target(path)
        assert info is not None and got is not None
        assert (got.length, got.hashes, got.custom) == (info.length, info.hashes, info.custom)


def test_more_than_32_delegations_is_not_found_like_ngclient(tmp_path: Path) -> None:
    repo = TufRepo()
    parent = "targets"
    for depth in range(34):
        role = f"level{depth}"
        repo.delegate(parent, role, paths=["deep/*"], terminating=False)
        parent = role
    repo.add_target("deep/file", b"too deep", role=parent)
    repo.add_target("deep/near", b"within reach", role="level3")
    repo.publish()
    trust = repo.write_trust(tmp_path / "trust")
    updater = ngclient_updater(repo.write_repository(tmp_path / "repo"), tmp_path / "ng", repo.root_history[0])
    view = RegistryView.load(trust, NOW)
    assert updater.get_targetinfo("deep/file") is None
    assert view.get_target("deep/file") is None
    assert updater.get_targetinfo("deep/near") is not None
    found = view.get_target("deep/near")
    assert found is not None and found.role == "level3"


def test_legacy_ecdsa_keytype_accepted(tmp_path: Path) -> None:
    from securesystemslib.signer import CryptoSigner, SSlibKey

    signer = make_signer("ecdsa")
    key = signer.public_key
    legacy = SSlibKey(key.keyid, "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", dict(key.keyval))
    legacy_signer = CryptoSigner(signer._private_key, legacy)
    repo = TufRepo()
    repo.delegate("targets", "tools.old", paths=["tools/old/*/*"], signers=[legacy_signer])
    repo.add_target("tools/old/x/1", b"x")
    repo.publish()
    view = RegistryView.load(repo.write_trust(tmp_path / "trust"), NOW)
    assert view.get_target("tools/old/x/1") is not None


def test_read_target_bytes_returns_verified_bytes(registry: tuple[TufRepo, Path]) -> None:
    repo, trust = registry
    view = RegistryView.load(trust, NOW)
    assert view.read_target_bytes("policy/trust-policy.json") == repo.target_data["policy/trust-policy.json"]
    index_path = next(p for p in repo.target_data if p.startswith("index/"))
    assert json.loads(view.read_target_bytes(index_path))["_type"] == "sealgate/index/v1"
    with pytest.raises(RegistryError) as info:
        view.read_target_bytes("policy/absent.json")
    assert info.value.reason is Reason.NOT_REGISTERED
    with pytest.raises(RegistryError) as info:
        view.read_target_bytes("policy/trust-policy.json", max_size=3)
    assert info.value.reason is Reason.TOO_LARGE


def test_fresh_registry_is_not_stale(registry: tuple[TufRepo, Path]) -> None:
    repo, trust = registry
    view = RegistryView.load(trust, NOW)
    view.check_staleness(3600, repo.now + timedelta(minutes=59))


def test_stale_registry_denied_with_its_age(registry: tuple[TufRepo, Path]) -> None:
    repo, trust = registry
    view = RegistryView.load(trust, NOW)
    with pytest.raises(RegistryError) as info:
        view.check_staleness(3600, repo.now + timedelta(hours=5))
    assert info.value.reason is Reason.REGISTRY_STALE
    assert "5.0 hours old" in str(info.value)
    assert not isinstance(info.value, RegistryIntegrityError)


def test_never_refreshed_registry_is_stale(tmp_path: Path, registry: tuple[TufRepo, Path]) -> None:
    trust = tmp_path / "trust"
    shutil.copytree(registry[1], trust)
    (trust / "refresh.json").unlink()
    view = RegistryView.load(trust, NOW)
    assert view.last_refresh is None
    with pytest.raises(RegistryError) as info:
        view.check_staleness(3600, NOW)
    assert info.value.reason is Reason.REGISTRY_STALE


def test_refresh_recorded_in_the_future_is_not_trusted(tmp_path: Path, registry: tuple[TufRepo, Path]) -> None:
    trust = tmp_path / "trust"
    shutil.copytree(registry[1], trust)
    (trust / "refresh.json").write_text(json.dumps({"last_refresh": "2999-01-01T00:00:00Z", "source": "x"}))
    view = RegistryView.load(trust, NOW)
    with pytest.raises(RegistryError) as info:
        view.check_staleness(10**12, NOW)
    assert info.value.reason is Reason.REGISTRY_STALE


def test_fresh_refresh_never_extends_an_expired_timestamp(registry: tuple[TufRepo, Path]) -> None:
    repo, trust = registry
    later = repo.now + timedelta(days=2)  # timestamp expires after one day
    with pytest.raises(RegistryIntegrityError) as info:
        RegistryView.load(trust, later)
    assert info.value.reason is Reason.METADATA_EXPIRED


@pytest.mark.parametrize(
    ("remove", "hint"),
    [("pin.json", "sealgate init"), ("roots/1.root.json", "sealgate init"), ("metadata/timestamp.json", "refresh")],
)
def test_missing_trust_files_are_unavailable(
    tmp_path: Path, registry: tuple[TufRepo, Path], remove: str, hint: str
) -> None:
    trust = tmp_path / "trust"
    shutil.copytree(registry[1], trust)
    (trust / remove).unlink()
    with pytest.raises(RegistryError) as info:
        RegistryView.load(trust, NOW)
    assert info.value.reason is Reason.REGISTRY_UNAVAILABLE
    assert hint in str(info.value)


def test_missing_bin_is_unavailable_at_lookup(tmp_path: Path, registry: tuple[TufRepo, Path]) -> None:
    trust = tmp_path / "trust"
    shutil.copytree(registry[1], trust)
    view = RegistryView.load(trust, NOW)
    entry = view.get_target("tools/acme/tool0/1.0.0")
    assert entry is not None
    (trust / "metadata" / f"{entry.role}.json").unlink()
    with pytest.raises(RegistryError) as info:
        RegistryView.load(trust, NOW).get_target("tools/acme/tool0/1.0.0")
    assert info.value.reason is Reason.REGISTRY_UNAVAILABLE


def test_reference_time_must_be_aware(registry: tuple[TufRepo, Path]) -> None:
    with pytest.raises(ValueError, match="aware"):
        RegistryView.load(registry[1], datetime(2030, 1, 1))


_PROBE = """
import sys, time
from pathlib import Path
from typing import Any
from sealgate.registry.view import RegistryView
view = RegistryView.load(Path(sys.argv[1]), time.time())
assert view.get_target("tools/acme/tool1/1.1.0") is not None
assert view.read_target_bytes("policy/trust-policy.json")
view.check_staleness(10**9, time.time())
heavy = ("tuf", "securesystemslib", "yaml", "jsonschema", "pydantic", "urllib3", "requests")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print(",".join(loaded))
"""


def test_gate_view_never_imports_python_tuf(registry: tuple[TufRepo, Path]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(registry[1])], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_view_verifies_what_sealgate_refresh_wrote(writer: Any, tmp_path: Path) -> None:
    """End to end with the real writer and client (fixtures in tests/registry/conftest.py)."""
    from sealgate.registry.client import refresh

    from .conftest import pinned_client

    path = writer.add_tool("acme/hello", "1.0.0")
    home = pinned_client(tmp_path, writer)
    refresh(home)
    view = RegistryView.load(home / "trust", NOW)
    entry = view.get_target(path)
    assert entry is not None and entry.role.startswith("tools.acme-")
    assert entry.custom["status"] == "active" and entry.custom["statements"]
    assert view.read_target_bytes("policy/trust-policy.json")
    assert view.get_target("tools/acme/hello/9.9.9") is None
    timestamp = json.loads((writer.path / "metadata" / "timestamp.json").read_bytes())
    assert view.version == timestamp["signed"]["meta"]["snapshot.json"]["version"]
    view.check_staleness(3600, time.time())


def test_refresh_swapping_generations_mid_decision_keeps_one_view(tmp_path: Path) -> None:
    # The client publishes each refresh as a new directory behind symlinks (trust/metadata ->
    # .current/metadata -> .views/<gen>/metadata). A view loaded before a swap must keep
    # reading its own generation, also for the bins it loads lazily afterwards.
    repo = sealgate_registry(namespaces={"tools/acme": 6}, snapshot_hashes=False)
    repo.publish()
    trust = tmp_path / "trust"
    first = repo.write_trust(trust / ".views" / "1")
    lookup = "tools/acme/tool0/1.0.0"
    repo.add_target(lookup, b"rebuilt", custom={"status": "revoked"})
    repo.publish()
    second = repo.write_trust(trust / ".views" / "2")
    for name in ("pin.json", "refresh.json"):
        shutil.copy(first / name, trust / name)
    os.symlink(".views/1", trust / ".current")
    for name in ("metadata", "roots", "targets"):
        os.symlink(f".current/{name}", trust / name)

    view = RegistryView.load(trust, NOW)
    os.symlink(".views/2", trust / ".current.new")
    os.replace(trust / ".current.new", trust / ".current")  # the refresh's atomic swap
    entry = view.get_target(lookup)
    assert entry is not None and entry.custom["status"] == "active"  # the old generation, consistently
    renewed = RegistryView.load(trust, NOW).get_target(lookup)
    assert renewed is not None and renewed.custom == {"status": "revoked"}
    assert second.exists()
