"""Attacks on the cached registry metadata that the gate's offline view must refuse.

Each test builds a real repository with python-tuf, then plays one attacker move on the
trust directory (or signs something an attacker with some keys could sign) and checks the
view refuses it with the right reason code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from securesystemslib.signer import SSlibKey

from sealgate.errors import Reason, RegistryError, RegistryIntegrityError
from sealgate.registry.view import RegistryView
from tests.registry.tufgen import TufRepo, make_signer, ngclient_updater, sealgate_registry, sign_document


def _load(trust: Path, now: Any = None) -> RegistryView:
    # The reference time is taken per call: metadata made to expire seconds ago must still
    # be expired however long the rest of the suite ran before this test.
    return RegistryView.load(trust, time.time() if now is None else now)


def _assert_refused(
    trust: Path, reason: Reason, *, lookup: str | None = None, now: Any = None
) -> RegistryIntegrityError:
    with pytest.raises(RegistryIntegrityError) as info:
        view = _load(trust, now)
        if lookup is not None:
            view.get_target(lookup)
    assert info.value.reason is reason, str(info.value)
    return info.value


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[TufRepo, Path]:
    # No hashes in snapshot/timestamp meta, so that tampering reaches the signature checks,
    # and one root rotation, so that the chain (not only the pin) is exercised.
    repo = sealgate_registry(namespaces={"tools/acme": 6}, snapshot_hashes=False, timestamp_hashes=False)
    repo.publish()
    repo.rotate_root()
    return repo, repo.write_trust(tmp_path_factory.mktemp("pub") / "trust", pin_version=1)


@pytest.fixture
def trust(tmp_path: Path, published: tuple[TufRepo, Path]) -> Path:
    return Path(shutil.copytree(published[1], tmp_path / "trust"))


def _bin_of(trust: Path, path: str) -> str:
    entry = _load(trust).get_target(path)
    assert entry is not None
    return entry.role


# -- expiry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["root", "timestamp", "snapshot", "targets"])
def test_expired_top_level_metadata_rejected(tmp_path: Path, role: str) -> None:
    repo = sealgate_registry(expiry={role: timedelta(seconds=-10)})
    repo.publish()
    error = _assert_refused(repo.write_trust(tmp_path / "trust"), Reason.METADATA_EXPIRED)
    assert role in str(error) and "expired at" in str(error)


def test_expired_delegated_bin_rejected_at_lookup(tmp_path: Path) -> None:
    repo = sealgate_registry(expiry={"tools.acme-0": timedelta(seconds=-10)}, bit_length=1)
    repo.publish()
    trust = repo.write_trust(tmp_path / "trust")
    view = _load(trust)  # bins are verified lazily, on the lookup that needs them
    paths = [p for p in repo.target_data if p.startswith("tools/")]
    errors = []
    for path in paths:
        try:
            view.get_target(path)
        except RegistryIntegrityError as exc:
            errors.append(exc)
    assert errors and all(e.reason is Reason.METADATA_EXPIRED and "tools.acme-0 " in str(e) for e in errors)


def test_expired_namespace_role_rejected_at_lookup(tmp_path: Path) -> None:
    repo = sealgate_registry(expiry={"tools.acme": timedelta(seconds=-10)})
    repo.publish()
    _assert_refused(repo.write_trust(tmp_path / "trust"), Reason.METADATA_EXPIRED, lookup="tools/acme/tool0/1.0.0")


def test_one_reference_time_for_lazily_loaded_roles(published: tuple[TufRepo, Path]) -> None:
    repo, trust = published
    # Bins expire after 90 days, timestamp after 1: a view loaded "now" stays valid for its
    # lookups even if they happen later in wall-clock time; a view loaded in 100 days fails.
    view = _load(trust, repo.now)
    assert view.get_target("tools/acme/tool0/1.0.0") is not None
    _assert_refused(trust, Reason.METADATA_EXPIRED, now=repo.now + timedelta(days=100))


# -- tampering -------------------------------------------------------------------------------


def _signed_span(data: bytes) -> tuple[int, int]:
    start = data.index(b'"signed":') + len(b'"signed":')
    return start, len(data) - 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.sampled_from(["root", "timestamp", "snapshot", "targets", "bin"]),
    where=st.floats(0, 1),
    delta=st.integers(1, 255),
)
def test_single_byte_flip_in_any_signed_metadata_detected(
    tmp_path_factory: pytest.TempPathFactory, published: tuple[TufRepo, Path], which: str, where: float, delta: int
) -> None:
    trust = Path(shutil.copytree(published[1], tmp_path_factory.mktemp("flip") / "trust"))
    lookup = "tools/acme/tool0/1.0.0"
    name = {"root": "root.json", "bin": f"{_bin_of(trust, lookup)}.json"}.get(which, f"{which}.json")
    path = trust / "metadata" / name
    data = bytearray(path.read_bytes())
    start, end = _signed_span(bytes(data))
    offset = start + int(where * (end - start - 1))
    data[offset] = (data[offset] + delta) % 256
    path.write_bytes(bytes(data))
    if which == "root":  # the rotated root v2: the same bytes in the chain and in ngclient's cache
        (trust / "roots" / "2.root.json").write_bytes(bytes(data))
    _assert_refused(trust, Reason.REGISTRY_TAMPERED, lookup=lookup)


@pytest.mark.parametrize("name", ["timestamp.json", "snapshot.json", "targets.json", "root.json"])
def test_signature_bytes_altered_detected(trust: Path, name: str) -> None:
    path = trust / "metadata" / name
    document = json.loads(path.read_bytes())
    sig = document["signatures"][0]["sig"]
    document["signatures"][0]["sig"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    path.write_text(json.dumps(document))
    if name == "root.json":  # root v2, reached from the pinned v1 through the chain
        (trust / "roots" / "2.root.json").write_text(json.dumps(document))
    error = _assert_refused(trust, Reason.REGISTRY_TAMPERED)
    assert "signed by" in str(error)


def test_unparseable_metadata_is_tampered(trust: Path) -> None:
    (trust / "metadata" / "snapshot.json").write_bytes(b'{"signed": ')
    _assert_refused(trust, Reason.REGISTRY_TAMPERED)


def test_targets_signed_by_wrong_key_rejected(tmp_path: Path, published: tuple[TufRepo, Path]) -> None:
    repo, _ = published
    repo.resign("targets", [make_signer()])
    trust = repo.write_trust(tmp_path / "trust")
    repo.resign("targets", repo.signers("targets"))
    error = _assert_refused(trust, Reason.REGISTRY_TAMPERED)
    assert "signed by 0/1" in str(error)


def test_bin_signed_by_another_namespaces_key_rejected(tmp_path: Path) -> None:
    repo = sealgate_registry(namespaces={"tools/acme": 3, "tools/evil": 3}, snapshot_hashes=False)
    repo.publish()
    lookup = "tools/acme/tool0/1.0.0"
    victim = repo.responsible_role(lookup)
    repo.add_target(lookup, b"evil build", role=victim)
    repo.publish()
    repo.resign(victim, repo.signers("tools.evil"))
    _assert_refused(repo.write_trust(tmp_path / "trust"), Reason.REGISTRY_TAMPERED, lookup=lookup)


def test_threshold_not_met_one_of_two_rejected(tmp_path: Path) -> None:
    repo = TufRepo(snapshot_hashes=False)
    signers = repo.delegate("targets", "tools.acme", paths=["tools/acme/*/*"], keys=2, threshold=2)
    repo.add_target("tools/acme/x/1", b"x")
    repo.publish()
    trust = repo.write_trust(tmp_path / "ok")
    assert _load(trust).get_target("tools/acme/x/1") is not None
    repo.resign("tools.acme", signers[:1])
    error = _assert_refused(repo.write_trust(tmp_path / "bad"), Reason.REGISTRY_TAMPERED, lookup="tools/acme/x/1")
    assert "1/2" in str(error)


def _resign_role_raw(repo: TufRepo, role: str, signed: dict[str, Any], signers: list[Any], **kw: Any) -> None:
    repo.history[role][signed["version"]] = sign_document(signed, signers, **kw)


def test_same_key_listed_twice_does_not_meet_threshold_of_two(tmp_path: Path) -> None:
    repo = TufRepo(snapshot_hashes=False)
    repo.delegate("targets", "tools.acme", paths=["tools/acme/*/*"], keys=1, threshold=2)
    repo.add_target("tools/acme/x/1", b"x")
    repo.publish()
    key_id = repo.signers("tools.acme")[0].public_key.keyid
    signed = repo.md("targets").signed.to_dict()
    signed["delegations"]["roles"][0]["keyids"] = [key_id, key_id]
    _resign_role_raw(repo, "targets", signed, repo.signers("targets"))
    _assert_refused(repo.write_trust(tmp_path / "trust"), Reason.REGISTRY_TAMPERED, lookup="tools/acme/x/1")


def test_repeated_signature_counts_once(tmp_path: Path) -> None:
    repo = TufRepo(snapshot_hashes=False)
    signers = repo.delegate("targets", "tools.acme", paths=["tools/acme/*/*"], keys=2, threshold=2)
    repo.add_target("tools/acme/x/1", b"x")
    repo.publish()
    signed = repo.md("tools.acme").signed.to_dict()
    one = sign_document(signed, signers[:1])
    duplicate = json.loads(one)["signatures"][0]
    _resign_role_raw(repo, "tools.acme", signed, signers[:1], extra=[duplicate])
    _assert_refused(repo.write_trust(tmp_path / "trust"), Reason.REGISTRY_TAMPERED, lookup="tools/acme/x/1")


def test_one_key_under_two_key_ids_refused(tmp_path: Path) -> None:
    # The attack key ids prevent: list one public key under a second id to count it twice.
    repo = TufRepo(snapshot_hashes=False)
    signers = repo.delegate("targets", "tools.acme", paths=["tools/acme/*/*"], keys=1, threshold=2)
    repo.add_target("tools/acme/x/1", b"x")
    repo.publish()
    real = signers[0].public_key
    alias = "f" * 64
    signed = repo.md("targets").signed.to_dict()
    signed["delegations"]["keys"][alias] = real.to_dict()
    signed["delegations"]["roles"][0]["keyids"] = [real.keyid, alias]
    _resign_role_raw(repo, "targets", signed, repo.signers("targets"))
    role_signed = repo.md("tools.acme").signed.to_dict()
    sig = json.loads(sign_document(role_signed, signers))["signatures"][0]
    _resign_role_raw(repo, "tools.acme", role_signed, signers, extra=[{"keyid": alias, "sig": sig["sig"]}])
    error = _assert_refused(repo.write_trust(tmp_path / "trust"), Reason.REGISTRY_TAMPERED, lookup="tools/acme/x/1")
    assert "key id" in str(error)


def test_key_id_not_matching_key_material_refused(tmp_path: Path) -> None:
    repo = TufRepo(snapshot_hashes=False)
    forged = make_signer(keyid="ab" * 32)  # python-tuf accepts any key id; sealgate does not
    repo.delegate("targets", "tools.acme", paths=["tools/acme/*/*"], signers=[forged])
    repo.add_target("tools/acme/x/1", b"x")
    repo.publish()
    trust = repo.write_trust(tmp_path / "trust")
    updater = ngclient_updater(repo.write_repository(tmp_path / "repo"), tmp_path / "ng", repo.root_history[0])
    assert updater.get_targetinfo("tools/acme/x/1") is not None
    error = _assert_refused(trust, Reason.REGISTRY_TAMPERED, lookup="tools/acme/x/1")
    assert "SubjectPublicKeyInfo" in str(error)


def test_root_key_id_not_matching_key_material_refused(tmp_path: Path) -> None:
    repo = TufRepo()
    repo.publish()
    forged = make_signer(keyid="cd" * 32)
    repo.rotate_root(new_signers=[forged])
    _assert_refused(repo.write_trust(tmp_path / "trust"), Reason.REGISTRY_TAMPERED)


def test_unknown_key_type_cannot_sign(tmp_path: Path) -> None:
    repo = TufRepo(snapshot_hashes=False)
    signer = make_signer()
    key = signer.public_key
    # Valid Ed25519 material and signatures, but announced under a key type we do not know.
    signer._public_key = SSlibKey(key.keyid, "ed448", "ed448", dict(key.keyval))
    repo.delegate("targets", "tools.acme", paths=["tools/acme/*/*"], signers=[signer])
    repo.add_target("tools/acme/x/1", b"x")
    repo.publish()
    _assert_refused(repo.write_trust(tmp_path / "trust"), Reason.REGISTRY_TAMPERED, lookup="tools/acme/x/1")


# -- mix and match, rollback -----------------------------------------------------------------


@pytest.mark.parametrize("hashes", [False, True])
def test_mix_and_match_old_targets_with_valid_signature_rejected(tmp_path: Path, hashes: bool) -> None:
    repo = sealgate_registry(snapshot_hashes=hashes)
    repo.publish()
    old_targets = repo.current("targets")
    repo.add_target("advisories/SG-2024-0002", b'{"id":"SG-2024-0002","revokes":"tools/acme/tool0/1.0.0"}')
    repo.publish()
    trust = repo.write_trust(tmp_path / "trust")
    assert _load(trust).get_target("advisories/SG-2024-0002") is not None
    (trust / "metadata" / "targets.json").write_bytes(old_targets)  # hide the advisory
    error = _assert_refused(trust, Reason.REGISTRY_TAMPERED)
    assert ("version" in str(error)) if not hashes else ("bytes" in str(error) or "sha256" in str(error))


def test_old_bin_served_with_new_snapshot_rejected(tmp_path: Path) -> None:
    repo = sealgate_registry(snapshot_hashes=False)
    repo.publish()
    lookup = "tools/acme/tool0/1.0.0"
    role = repo.responsible_role(lookup)
    old_bin = repo.current(role)
    repo.add_target(lookup, b"rebuilt", custom={"status": "revoked"}, role=role)
    repo.publish()
    trust = repo.write_trust(tmp_path / "trust")
    (trust / "metadata" / f"{role}.json").write_bytes(old_bin)  # un-revoke by replaying the old bin
    _assert_refused(trust, Reason.REGISTRY_TAMPERED, lookup=lookup)


def test_old_snapshot_with_new_timestamp_rejected(tmp_path: Path) -> None:
    repo = sealgate_registry(snapshot_hashes=False, timestamp_hashes=False)
    repo.publish()
    old_snapshot = repo.current("snapshot")
    repo.add_target("advisories/SG-2024-0003", b"{}")
    repo.publish()
    trust = repo.write_trust(tmp_path / "trust")
    (trust / "metadata" / "snapshot.json").write_bytes(old_snapshot)
    error = _assert_refused(trust, Reason.REGISTRY_TAMPERED)
    assert "snapshot is version 1" in str(error)


def test_snapshot_longer_than_signed_length_rejected(tmp_path: Path) -> None:
    repo = sealgate_registry()
    repo.publish()
    trust = repo.write_trust(tmp_path / "trust")
    path = trust / "metadata" / "snapshot.json"
    path.write_bytes(path.read_bytes() + b" " * 10)
    _assert_refused(trust, Reason.REGISTRY_TAMPERED)


# -- root pinning and rotation ---------------------------------------------------------------


def test_pinned_root_replaced_rejected(trust: Path) -> None:
    pin = json.loads((trust / "pin.json").read_text())
    pin["root_sha256"] = "0" * 64
    (trust / "pin.json").write_text(json.dumps(pin))
    error = _assert_refused(trust, Reason.REGISTRY_TAMPERED)
    assert "pin" in str(error)


def test_attacker_root_with_matching_pin_still_needs_self_signature(tmp_path: Path, trust: Path) -> None:
    # A root file whose hash the attacker also wrote into pin.json must still be self-signed.
    document = json.loads((trust / "roots" / "1.root.json").read_bytes())
    document["signatures"] = []
    data = json.dumps(document).encode()
    (trust / "roots" / "1.root.json").write_bytes(data)
    (trust / "metadata" / "root.json").write_bytes(data)
    (trust / "pin.json").write_text(json.dumps({"root_version": 1, "root_sha256": hashlib.sha256(data).hexdigest()}))
    _assert_refused(trust, Reason.REGISTRY_TAMPERED)


def _rotated(tmp_path: Path, **kwargs: Any) -> tuple[TufRepo, Path]:
    repo = TufRepo(root_keys=2, root_threshold=2)
    repo.add_target("policy/trust-policy.json", b"{}")
    repo.publish()
    repo.rotate_root(new_keys=2, threshold=2, **kwargs)
    return repo, repo.write_trust(tmp_path / "trust", pin_version=1)


def test_root_rotation_signed_by_old_and_new_thresholds_accepted(tmp_path: Path) -> None:
    repo, trust = _rotated(tmp_path)
    view = _load(trust)
    assert view.root_version == 2
    updater = ngclient_updater(repo.write_repository(tmp_path / "repo"), tmp_path / "ng", repo.root_history[0])
    updater.refresh()  # python-tuf agrees


def test_root_rotation_signed_only_by_new_keys_rejected(tmp_path: Path) -> None:
    _, trust = _rotated(tmp_path, sign_with_old=0)
    error = _assert_refused(trust, Reason.REGISTRY_TAMPERED)
    assert "0/2" in str(error) and "previous root" in str(error)


def test_root_rotation_below_old_threshold_rejected(tmp_path: Path) -> None:
    _, trust = _rotated(tmp_path, sign_with_old=1)
    _assert_refused(trust, Reason.REGISTRY_TAMPERED)


def test_root_rotation_not_signed_by_new_keys_rejected(tmp_path: Path) -> None:
    _, trust = _rotated(tmp_path, sign_with_new=1)
    error = _assert_refused(trust, Reason.REGISTRY_TAMPERED)
    assert "itself" in str(error)


def test_root_version_skip_rejected(tmp_path: Path) -> None:
    repo = TufRepo()
    repo.publish()
    repo.rotate_root(new_signers=repo.signers("root"))
    v3 = repo.rotate_root(new_signers=repo.signers("root"))  # validly signed by the v1 keys too
    trust = repo.write_trust(tmp_path / "trust", pin_version=1)
    (trust / "roots" / "3.root.json").unlink()
    (trust / "roots" / "2.root.json").write_bytes(v3)
    error = _assert_refused(trust, Reason.REGISTRY_TAMPERED)
    assert "expected root version 2" in str(error)


def test_cached_root_not_matching_chain_rejected(tmp_path: Path) -> None:
    _, trust = _rotated(tmp_path)
    (trust / "roots" / "2.root.json").unlink()  # the chain now ends at v1, metadata/root.json is v2
    error = _assert_refused(trust, Reason.REGISTRY_TAMPERED)
    assert "metadata/root.json" in str(error)


def test_timestamp_signed_by_key_removed_in_rotation_rejected(tmp_path: Path) -> None:
    repo = TufRepo(timestamp_hashes=False)
    repo.publish()
    old_timestamp_signers = repo.signers("timestamp")
    root = repo.root
    new = make_signer()
    root.revoke_key(old_timestamp_signers[0].public_key.keyid, "timestamp")
    root.add_key(new.public_key, "timestamp")
    repo.rotate_root(new_signers=repo.signers("root"), sign_with_new=1)
    trust = repo.write_trust(tmp_path / "trust")
    _assert_refused(trust, Reason.REGISTRY_TAMPERED)
    repo.roles["timestamp"].signers = [new]
    repo.publish()
    assert _load(repo.write_trust(tmp_path / "trust2")).root_version == 2


# -- delegations must not reach protected paths ----------------------------------------------


@pytest.mark.parametrize("target", ["policy/trust-policy.json", "index/tool/acme/hello", "advisories/SG-1"])
def test_delegation_covering_protected_paths_is_never_consulted(tmp_path: Path, target: str) -> None:
    repo = TufRepo()
    depth = target.count("/") + 1
    repo.delegate("targets", "tools.evil", paths=["/".join(["*"] * depth)], terminating=False)
    repo.add_target(target, b'{"environment":"development"}', role="tools.evil")
    repo.publish()
    trust = repo.write_trust(tmp_path / "trust")
    # python-tuf alone would follow the delegation: the protection is sealgate's rule.
    updater = ngclient_updater(repo.write_repository(tmp_path / "repo"), tmp_path / "ng", repo.root_history[0])
    assert updater.get_targetinfo(target) is not None
    view = _load(trust)
    assert view.get_target(target) is None
    with pytest.raises(RegistryError, match="not in the registry"):
        view.read_target_bytes(target)


def test_top_level_policy_wins_over_covering_delegation(tmp_path: Path) -> None:
    repo = TufRepo()
    repo.add_target("policy/trust-policy.json", b'{"environment":"production"}')
    repo.delegate("targets", "anything", paths=["*/*"], terminating=True)
    evil = b'{"environment":"development"}'
    digest = {"sha256": hashlib.sha256(evil).hexdigest()}
    repo.add_target("policy/trust-policy.json", role="anything", length=len(evil), hashes=digest)
    repo.publish()
    view = _load(repo.write_trust(tmp_path / "trust"))
    entry = view.get_target("policy/trust-policy.json")
    assert entry is not None and entry.role == "targets"
    assert view.read_target_bytes("policy/trust-policy.json") == b'{"environment":"production"}'


# -- target files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change", [lambda b: b[:-1] + b"X", lambda b: b[:-1], lambda b: b + b" ", lambda b: b"{}".ljust(len(b))]
)
def test_target_file_bytes_altered_detected(trust: Path, change: Any) -> None:
    path = trust / "targets" / "policy" / "trust-policy.json"
    path.write_bytes(change(path.read_bytes()))
    view = _load(trust)
    with pytest.raises(RegistryIntegrityError) as info:
        view.read_target_bytes("policy/trust-policy.json")
    assert info.value.reason is Reason.REGISTRY_TAMPERED


def test_target_file_replaced_by_fifo_refused(trust: Path) -> None:
    path = trust / "targets" / "policy" / "trust-policy.json"
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(RegistryIntegrityError):
        _load(trust).read_target_bytes("policy/trust-policy.json")
