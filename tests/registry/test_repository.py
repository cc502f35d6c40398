"""The registry writer: publication rules, structure rules and tamper detection, checked with ngclient."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.crypto.intoto import make_approval
from sealgate.crypto.keys import generate_key
from sealgate.errors import (
    MalformedInputError,
    Reason,
    RegistryError,
    RegistryIntegrityError,
    UsageError,
)
from sealgate.registry._files import utcnow
from sealgate.registry._tuf import DelegatedRole, Metadata, SSlibKey
from sealgate.registry._tufkeys import check_tuf_key, tuf_key
from sealgate.registry.client import refresh
from sealgate.registry.documents import IndexDocument
from sealgate.registry.proposal import Proposal
from sealgate.registry.repository import OnlineKeys, Repository

from .conftest import POLICY, Keys, Registry, make_registry, ngclient_download, ngclient_lookup, pinned_client, sign_all


def _index(writer: Registry, kind: str, name: str) -> IndexDocument:
    path = f"index/{kind}/{name}"
    info = writer.repo._state(utcnow(), check_expiry=False).targets.signed.targets[path]
    return IndexDocument.from_bytes(writer.repo._read_target(path, info))


def _role_versions(writer: Registry) -> dict[str, int]:
    state = writer.repo._state(utcnow(), check_expiry=False)
    return {name: meta.version for name, meta in state.meta.items()}


def test_init_publishes_layout_a_client_verifies(writer: Registry, tmp_path: Path) -> None:
    metadata = writer.path / "metadata"
    for name in ("1.root.json", "timestamp.json", "1.targets.json", "1.snapshot.json", "2.targets.json"):
        assert (metadata / name).is_file(), name
    config = loads_strict((writer.path / "config.json").read_bytes())
    assert config["online_key_files"] == {"snapshot": "keys/snapshot.key", "timestamp": "keys/timestamp.key"}
    assert config["expiry_seconds"] == {
        "root": 365 * 86400,
        "targets": 90 * 86400,
        "snapshot": 7 * 86400,
        "timestamp": 86400,
    }
    # Every bin is published, even empty ones, and listed in the snapshot.
    versions = _role_versions(writer)
    assert {f"tools.acme-{i:x}" for i in range(16)} <= set(versions)
    assert ngclient_download(writer.path, writer.root_bytes(), "policy/trust-policy.json", tmp_path / "ng") == POLICY
    report = writer.repo.verify()
    assert report.root_version == 1 and report.namespaces[0].bins == 16
    assert writer.repo.policy() == POLICY


def test_entry_published_with_custom_fields_and_index(writer: Registry, tmp_path: Path) -> None:
    data = b"#!/bin/sh\necho hello\n"
    path = writer.add_tool("acme/hello", "1.0.0", data, stage="PROD")
    info = ngclient_lookup(writer.path, writer.root_bytes(), path, tmp_path / "ng")
    assert info is not None
    assert info.hashes == {"sha256": hashlib.sha256(data).hexdigest()} and info.length == len(data)
    custom = info.custom
    assert custom["kind"] == "tool" and custom["status"] == "active" and custom["stage"] == "PROD"
    assert custom["version"] == "1.0.0" and custom["digest_scheme"] == "sealgate-tree-v1"
    assert custom["revocation_reason"] is None and custom["git_commit"] is None
    assert len(custom["statements"]) == 1
    assert ngclient_download(writer.path, writer.root_bytes(), path, tmp_path / "ng2") == data
    index = _index(writer, "tool", "acme/hello")
    assert [(v.version, v.status, v.target) for v in index.versions] == [("1.0.0", "active", path)]
    entries = writer.repo.list_entries(kind="tool", name="acme/hello")
    assert [e.target for e in entries] == [path]
    detail = writer.repo.show_entry("tool", "acme/hello", "1.0.0")
    assert detail.has_file and detail.entry.statements == 1
    assert json.loads(json.dumps(detail.to_dict()))["target"] == path


def test_publication_threshold_not_met_refused(writer: Registry, writer_keys: Keys) -> None:
    before = writer.timestamp_version()
    proposal = writer.repo.propose_policy(canonical_bytes({"environment": "production"}))
    sign_all(proposal, writer_keys.targets[:1])
    with pytest.raises(RegistryError) as err:
        writer.repo.publish(proposal, writer_keys.online)
    assert err.value.reason is Reason.THRESHOLD_NOT_MET
    assert "role targets" in str(err.value) and "1 of 2" in str(err.value)
    assert writer.timestamp_version() == before


def test_namespace_threshold_not_met_refused(writer: Registry, writer_keys: Keys) -> None:
    data = b"x"
    proposal = writer.repo.propose_add_entry(
        kind="tool",
        name="acme/x",
        version="1",
        digest=hashlib.sha256(data).hexdigest(),
        size=1,
        stage="DEV",
        content=data,
    )
    sign_all(proposal, [*writer_keys.targets, writer_keys.acme[0]])
    with pytest.raises(RegistryError) as err:
        writer.repo.publish(proposal, writer_keys.online)
    assert err.value.reason is Reason.THRESHOLD_NOT_MET
    assert "tools.acme-" in str(err.value) and "1 of 2" in str(err.value)


def test_stale_proposal_refused(writer: Registry) -> None:
    first = writer.repo.propose_policy(canonical_bytes({"v": 1}))
    second = writer.repo.propose_policy(canonical_bytes({"v": 2}))
    writer.publish(first)
    with pytest.raises(RegistryError) as err:
        writer.publish(second)
    assert err.value.reason is Reason.REGISTRY_STALE
    assert writer.repo.policy() == canonical_bytes({"v": 1})


def test_publishing_the_same_proposal_twice_is_reported_not_repeated(writer: Registry) -> None:
    proposal = writer.repo.propose_policy(canonical_bytes({"v": 1}))
    first = writer.publish(proposal)
    again = writer.repo.publish(proposal, writer.keys.online)
    assert again.already_published and again.timestamp_version == first.timestamp_version


@pytest.mark.parametrize("victim", ["bin", "targets", "timestamp", "snapshot", "root", "target-file"])
def test_hand_edited_repository_file_detected(writer: Registry, victim: str) -> None:
    writer.add_tool("acme/hello", "1.0.0")
    metadata = writer.path / "metadata"
    state = writer.repo._state(utcnow(), check_expiry=False)
    if victim == "bin":
        name = next(n for n in state.bin_names() if state.role(n).signed.targets)
        path = metadata / f"{state.meta[name].version}.{name}.json"
        path.write_bytes(path.read_bytes().replace(b'"DEV"', b'"PROD"'))
    elif victim == "targets":
        path = metadata / f"{state.meta['targets'].version}.targets.json"
        doc = json.loads(path.read_bytes())
        doc["signed"]["expires"] = "2099-01-01T00:00:00Z"
        path.write_bytes(json.dumps(doc).encode())
    elif victim == "timestamp":
        path = metadata / "timestamp.json"
        doc = json.loads(path.read_bytes())
        doc["signed"]["expires"] = "2099-01-01T00:00:00Z"
        path.write_bytes(json.dumps(doc).encode())
    elif victim == "snapshot":
        path = metadata / f"{state.snapshot.signed.version}.snapshot.json"
        path.write_bytes(path.read_bytes() + b" ")
    elif victim == "root":
        path = metadata / "1.root.json"
        doc = json.loads(path.read_bytes())
        doc["signed"]["roles"]["targets"]["threshold"] = 1
        path.write_bytes(json.dumps(doc).encode())
    else:
        path = next((writer.path / "targets" / "policy").iterdir())
        path.write_bytes(b'{"environment":"production"}')
    with pytest.raises(RegistryIntegrityError):
        writer.repo.verify()
    if victim != "target-file":
        # Every mutating operation checks the current state first.
        with pytest.raises(RegistryIntegrityError):
            writer.repo.timestamp(writer.keys.online)


def test_delegation_reaching_policy_refused(writer: Registry, writer_keys: Keys) -> None:
    for namespace in ("policy/x", "index/acme", "advisories/a", "tools/*", "tools/../policy"):
        with pytest.raises(MalformedInputError):
            writer.repo.propose_add_namespace(namespace, [writer_keys.acme[0].public], 1)
    # A hand-made, fully signed proposal whose delegation covers policy/ is refused too.
    proposal = writer.repo.propose_add_namespace("tools/evil", [writer_keys.acme[0].public], 1)
    top = proposal.roles["targets"].metadata.signed
    top.delegations.roles["tools.evil"].paths = ["*/*"]
    sign_all(proposal, [*writer_keys.targets, writer_keys.acme[0]])
    raw = proposal.to_bytes()
    with pytest.raises(RegistryIntegrityError, match="protected prefix"):
        Proposal.from_bytes(raw)
    with pytest.raises(RegistryIntegrityError, match="protected prefix"):
        writer.repo.publish(proposal, writer_keys.online)


def test_namespace_cannot_be_removed(writer: Registry, writer_keys: Keys) -> None:
    proposal = writer.repo.propose_policy(canonical_bytes({"v": 9}))
    del proposal.roles["targets"].metadata.signed.delegations.roles["tools.acme"]
    sign_all(proposal, writer_keys.targets)
    with pytest.raises(RegistryError, match="never removed"):
        writer.repo.publish(proposal, writer_keys.online)


def test_top_level_targets_may_not_sign_entries(writer: Registry, writer_keys: Keys) -> None:
    proposal = writer.repo.propose_policy(canonical_bytes({"v": 3}))
    top = proposal.roles["targets"].metadata.signed
    entry = next(iter(top.targets.values()))
    from sealgate.registry._tuf import TargetFile

    top.targets["tools/acme/sneaky/1.0"] = TargetFile(entry.length, dict(entry.hashes), "tools/acme/sneaky/1.0")
    with pytest.raises(RegistryIntegrityError, match="namespace bins"):
        Proposal.from_bytes(sign_all(proposal, writer_keys.targets).to_bytes())


@pytest.mark.parametrize("wrong", ["subject", "digest"])
def test_entry_with_statement_for_other_artifact_refused(writer: Registry, writer_keys: Keys, wrong: str) -> None:
    data = b"artifact"
    digest = hashlib.sha256(data).hexdigest()
    subject = "tools/acme/other/1.0.0" if wrong == "subject" else "tools/acme/hello/1.0.0"
    statement_digest = hashlib.sha256(b"other").hexdigest() if wrong == "digest" else digest
    statement = make_approval(subject, statement_digest, "author", writer_keys.acme[0])
    with pytest.raises(MalformedInputError):
        writer.repo.propose_add_entry(
            kind="tool",
            name="acme/hello",
            version="1.0.0",
            digest=digest,
            size=len(data),
            stage="DEV",
            statements=[statement],
        )


def test_content_must_match_digest(writer: Registry) -> None:
    with pytest.raises(MalformedInputError) as err:
        writer.repo.propose_add_entry(
            kind="tool", name="acme/hello", version="1", digest="0" * 64, size=3, stage="DEV", content=b"abc"
        )
    assert err.value.reason is Reason.DIGEST_MISMATCH


def test_published_version_is_immutable(writer: Registry) -> None:
    writer.add_tool("acme/hello", "1.0.0")
    with pytest.raises(UsageError, match="already registered"):
        writer.add_tool("acme/hello", "1.0.0", b"different bytes")


def test_entry_needs_existing_namespace(writer: Registry) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        writer.add_tool("other/hello", "1.0.0")


def test_status_changes_bump_versions_and_reach_clients(writer: Registry, tmp_path: Path) -> None:
    path = writer.add_tool("acme/hello", "1.0.0")
    writer.add_tool("acme/hello", "1.1.0")
    state = writer.repo._state(utcnow(), check_expiry=False)
    bin_name = state.namespaces["tools.acme"].get_role_for_target(path)

    def check(status: str, reason: str | None) -> None:
        info = ngclient_lookup(writer.path, writer.root_bytes(), path, tmp_path / f"ng-{status}")
        assert info is not None
        assert info.custom["status"] == status and info.custom["revocation_reason"] == reason
        assert _index(writer, "tool", "acme/hello").find("1.0.0").status == status  # type: ignore[union-attr]

    steps = [
        (writer.repo.propose_deprecate("tool", "acme/hello", "1.0.0"), "deprecated", None),
        (writer.repo.propose_reactivate, "active", None),
        (writer.repo.propose_revoke, "revoked", "CVE-2099-0001"),
    ]
    for proposal_or_factory, status, reason in steps:
        before = _role_versions(writer)
        if callable(proposal_or_factory):
            if status == "revoked":
                proposal = proposal_or_factory("tool", "acme/hello", "1.0.0", reason)
            else:
                proposal = proposal_or_factory("tool", "acme/hello", "1.0.0")
        else:
            proposal = proposal_or_factory
        writer.publish(proposal)
        after = _role_versions(writer)
        assert after[bin_name] == before[bin_name] + 1 and after["targets"] == before["targets"] + 1
        assert all(after[name] >= before[name] for name in before)
        check(status, reason)
    with pytest.raises(UsageError, match="needs a reason"):
        writer.repo.propose_revoke("tool", "acme/hello", "1.1.0", " ")
    with pytest.raises(UsageError, match="already revoked"):
        writer.repo.propose_revoke("tool", "acme/hello", "1.0.0", "again")


def test_rollback_is_one_change(writer: Registry, tmp_path: Path) -> None:
    writer.add_tool("acme/hello", "1.0.0")
    writer.publish(writer.repo.propose_deprecate("tool", "acme/hello", "1.0.0"))
    writer.add_tool("acme/hello", "1.1.0")
    before = writer.timestamp_version()
    proposal = writer.repo.propose_rollback("tool", "acme/hello", "1.1.0", "crashes on start")
    writer.publish(proposal)
    assert writer.timestamp_version() == before + 1
    statuses = {e.version: (e.status, e.revocation_reason) for e in writer.repo.list_entries(kind="tool")}
    assert statuses == {"1.0.0": ("active", None), "1.1.0": ("revoked", "crashes on start")}
    client = pinned_client(tmp_path, writer)
    refresh(client)
    index = json.loads((client / "trust" / "targets" / "index" / "tool" / "acme" / "hello").read_bytes())
    assert [(v["version"], v["status"]) for v in index["versions"]] == [("1.0.0", "active"), ("1.1.0", "revoked")]


def test_policy_must_be_canonical_json(writer: Registry) -> None:
    with pytest.raises(MalformedInputError, match="canonical"):
        writer.repo.propose_policy(b'{ "environment": "development" }')


def test_timestamp_resigns_and_renews_snapshot_near_expiry(writer: Registry) -> None:
    now = utcnow()
    first = writer.repo.timestamp(writer.keys.online, now=now)
    assert not first.snapshot_resigned
    later = now + timedelta(days=6)
    second = writer.repo.timestamp(writer.keys.online, now=later)
    assert second.timestamp_version == first.timestamp_version + 1
    assert second.snapshot_resigned and second.snapshot_version == first.snapshot_version + 1
    writer.repo.verify(now=later + timedelta(hours=1))
    # An expired timestamp (cron was down) is fixed by the next run.
    much_later = later + timedelta(days=3)
    with pytest.raises(RegistryIntegrityError) as err:
        writer.repo.verify(now=much_later)
    assert err.value.reason is Reason.METADATA_EXPIRED
    writer.repo.timestamp(writer.keys.online, now=much_later)
    writer.repo.verify(now=much_later)


def test_wrong_online_key_refused(writer: Registry) -> None:
    bad = OnlineKeys(generate_key("ed25519"), writer.keys.online.timestamp)
    with pytest.raises(UsageError, match="snapshot key"):
        writer.repo.timestamp(bad)


def test_renewal_proposal_extends_expiring_roles(writer: Registry) -> None:
    now = utcnow() + timedelta(days=80)
    proposal = writer.repo.propose_renew(within=timedelta(days=30), now=now)
    assert "targets" in proposal.roles and "tools.acme-0" in proposal.roles and "root" not in proposal.roles
    writer.publish(proposal, now=now)
    report = writer.repo.verify(now=now, warn_within=timedelta(days=30))
    assert report.expiring_soon == ()


def test_namespace_bins_support_256(tmp_path: Path, writer_keys: Keys) -> None:
    writer = make_registry(tmp_path / "host", writer_keys, bit_length=8)
    writer.add_tool("acme/hello", "1.0.0")
    versions = _role_versions(writer)
    assert sum(1 for name in versions if name.startswith("tools.acme-")) == 256
    client = pinned_client(tmp_path, writer)
    result = refresh(client)
    assert result.roles_loaded == 1 + 1 + 256
    assert len(list((client / "trust" / "metadata").glob("tools.acme-*.json"))) == 256


def test_namespace_colliding_with_bin_names_refused(writer: Registry, writer_keys: Keys) -> None:
    # tools/acme's 16 bins are tools.acme-0 .. tools.acme-f; a namespace "tools/acme-a" would be one of them.
    with pytest.raises(UsageError, match="already exists"):
        writer.repo.propose_add_namespace("tools/acme-a", [writer_keys.acme[0].public], 1)


def test_key_id_must_be_spki_hash(writer_keys: Keys) -> None:
    public = writer_keys.acme[0].public
    assert check_tuf_key(public.keyid, tuf_key(public), "test") == public
    default_id = SSlibKey.from_crypto(public.key)  # python-tuf's own key id scheme
    with pytest.raises(RegistryIntegrityError, match="SPKI"):
        check_tuf_key(default_id.keyid, default_id, "test")


def test_duplicated_key_under_two_ids_cannot_double_count(writer: Registry, writer_keys: Keys) -> None:
    proposal = writer.repo.propose_add_namespace("tools/dup", [writer_keys.acme[0].public], 1)
    top = proposal.roles["targets"].metadata.signed
    key = writer_keys.acme[0].public
    fake_id = "f" * 64
    top.delegations.keys[fake_id] = SSlibKey(fake_id, "ed25519", "ed25519", tuf_key(key).keyval)
    top.delegations.roles["tools.dup"] = DelegatedRole(
        "tools.dup", [key.keyid, fake_id], 2, True, paths=["tools/dup/*/*"]
    )
    with pytest.raises(RegistryIntegrityError, match="SPKI"):
        Proposal.from_bytes(proposal.to_bytes())


def test_repository_not_initialised(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as err:
        Repository(tmp_path / "nothing").verify()
    assert err.value.reason is Reason.REGISTRY_UNAVAILABLE


def test_init_refuses_existing_repository(writer: Registry, writer_keys: Keys) -> None:
    with pytest.raises(RegistryError, match="already holds"):
        make_registry(writer.home, writer_keys)


def test_advisory_published_at_top_level(writer: Registry, tmp_path: Path) -> None:
    advisory = canonical_bytes({"id": "SG-1", "affects": ["tools/acme/hello/1.0.0"]})
    writer.publish(writer.repo.propose_advisory("SG-1", advisory))
    assert ngclient_download(writer.path, writer.root_bytes(), "advisories/SG-1", tmp_path / "ng") == advisory


def test_enclave_entry_document(writer: Registry, writer_keys: Keys) -> None:
    writer.publish(writer.repo.propose_add_namespace("enclaves/signer", [writer_keys.acme[0].public], 1))
    mrenclave = "ab" * 32
    writer.publish(
        writer.repo.propose_add_enclave(
            name="signer", version="2.0.0", measurement=mrenclave.upper(), stage="PROD", git_commit="c" * 40
        )
    )
    detail = writer.repo.show_entry("enclave", "signer", "2.0.0")
    assert detail.document is not None and detail.document["sgx"]["mrenclave"] == mrenclave
    assert detail.document["_type"] == "sealgate/enclave-entry/v2" and detail.document["tee"] == "sgx"
    assert detail.entry.git_commit == "c" * 40 and detail.entry.stage == "PROD"
    writer.publish(writer.repo.propose_add_enclave(name="signer", version="2.0.1", measurement="not-hex", stage="DEV"))
    detail = writer.repo.show_entry("enclave", "signer", "2.0.1")
    assert detail.document is not None and "sgx" not in detail.document and detail.document["tee"] == "legacy"
    assert detail.document["legacy_measurement"] == "not-hex"


def test_metadata_roundtrip_is_byte_stable(writer: Registry) -> None:
    # What publish hashes into the snapshot is exactly the file written.
    state = writer.repo._state(utcnow(), check_expiry=False)
    for name, meta in state.meta.items():
        raw = (writer.path / "metadata" / f"{meta.version}.{name}.json").read_bytes()
        assert meta.hashes == {"sha256": hashlib.sha256(raw).hexdigest()} and meta.length == len(raw)
        Metadata.from_bytes(raw)


_FLIP_FILES = ("1.root.json", "timestamp.json", "snapshot", "targets", "bin")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(_FLIP_FILES), position=st.floats(0, 1, exclude_max=True), delta=st.integers(1, 256))
def test_any_byte_change_in_repository_metadata_detected(
    writer: Registry, which: str, position: float, delta: int
) -> None:
    state = writer.repo._state(utcnow(), check_expiry=False)
    metadata = writer.path / "metadata"
    names = {
        "snapshot": f"{state.snapshot.signed.version}.snapshot.json",
        "targets": f"{state.meta['targets'].version}.targets.json",
        "bin": f"{state.meta['tools.acme-0'].version}.tools.acme-0.json",
    }
    path = metadata / names.get(which, which)
    original = path.read_bytes()
    data = bytearray(original)
    index = int(position * len(data))
    # delta 256 stands for "swap ASCII case", the one edit hex signatures would otherwise survive.
    data[index] = (data[index] + delta) % 256 if delta < 256 else bytes([data[index]]).swapcase()[0]
    if bytes(data) == original:
        return
    path.write_bytes(bytes(data))
    try:
        with pytest.raises(RegistryIntegrityError):
            writer.repo.verify()
    finally:
        path.write_bytes(original)
