"""Key rotation: root, top-level targets, online keys and namespace keys, seen by real ngclient clients."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sealgate.canonical import canonical_bytes
from sealgate.crypto.keys import PrivateKey, generate_key
from sealgate.errors import Reason, RegistryError, RegistryIntegrityError, UsageError
from sealgate.registry._tuf import JSONSerializer
from sealgate.registry._tufkeys import signer_for
from sealgate.registry.client import refresh
from sealgate.registry.repository import OnlineKeys

from .conftest import Keys, Registry, ngclient_download, pinned_client, sign_all


def _new_keys(count: int) -> list[PrivateKey]:
    return [generate_key("ed25519") for _ in range(count)]


def test_root_rotation_accepted_by_existing_client_and_fresh_one_pinned_to_v1(
    writer: Registry, writer_keys: Keys, tmp_path: Path
) -> None:
    existing = pinned_client(tmp_path, writer, "existing")
    refresh(existing)
    pending = writer.repo.propose_policy(canonical_bytes({"made": "before the rotation"}))
    new_root = _new_keys(3)
    proposal = writer.repo.propose_rotate("root", [k.public for k in new_root], 2)
    labels = [r.label for r in proposal.roles["root"].requirements]
    assert labels == ["root v1 (current)", "root v2 (new)"]
    writer.repo.publish(sign_all(proposal, [*writer_keys.root[:2], *new_root[:2]]), writer_keys.online)
    policy = canonical_bytes({"after": "rotation"})
    writer.publish(writer.repo.propose_policy(policy))
    assert refresh(existing).root_version == 2
    with pytest.raises(RegistryError) as stale:
        writer.publish(pending)
    assert stale.value.reason is Reason.REGISTRY_STALE and "root v1" in str(stale.value)
    assert (existing / "trust" / "roots" / "2.root.json").read_bytes() == writer.root_bytes(2)
    assert (existing / "trust" / "metadata" / "root.json").read_bytes() == writer.root_bytes(2)
    fresh = pinned_client(tmp_path, writer, "fresh", root_version=1)
    assert refresh(fresh).root_version == 2
    assert ngclient_download(writer.path, writer.root_bytes(1), "policy/trust-policy.json", tmp_path / "ng") == policy
    # The old root keys alone can no longer change root.
    again = writer.repo.propose_rotate("root", [k.public for k in _new_keys(1)], 1)
    sign_all(again, writer_keys.root)
    with pytest.raises(RegistryError) as err:
        writer.repo.publish(again, writer_keys.online)
    assert err.value.reason is Reason.THRESHOLD_NOT_MET


def test_root_signed_only_by_new_keys_refused(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    client = pinned_client(tmp_path, writer)
    refresh(client)
    new_root = _new_keys(2)
    proposal = writer.repo.propose_rotate("root", [k.public for k in new_root], 2)
    sign_all(proposal, new_root)
    with pytest.raises(RegistryError) as err:
        writer.repo.publish(proposal, writer_keys.online)
    assert err.value.reason is Reason.THRESHOLD_NOT_MET
    assert "0 of 2 required signatures from the current root's keys" in str(err.value)
    # An attacker who writes such a root straight into the served directory gains nothing either.
    md = proposal.roles["root"].metadata
    (writer.path / "metadata" / "2.root.json").write_bytes(md.to_bytes(JSONSerializer(compact=True)))
    with pytest.raises(RegistryIntegrityError) as refused:
        refresh(client)
    assert refused.value.reason is Reason.REGISTRY_TAMPERED
    assert not (client / "trust" / "roots" / "2.root.json").exists()


def test_old_root_threshold_alone_is_not_enough(writer: Registry, writer_keys: Keys) -> None:
    new_root = _new_keys(3)
    proposal = writer.repo.propose_rotate("root", [k.public for k in new_root], 2)
    sign_all(proposal, [*writer_keys.root[:2], new_root[0]])
    with pytest.raises(RegistryError, match="1 of 2 from the new root's keys"):
        writer.repo.publish(proposal, writer_keys.online)


def test_targets_key_rotation(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    client = pinned_client(tmp_path, writer)
    refresh(client)
    new_targets = _new_keys(1)
    proposal = writer.repo.propose_rotate("targets", [k.public for k in new_targets], 1)
    assert set(proposal.roles) == {"root", "targets"}
    writer.repo.publish(sign_all(proposal, [*writer_keys.root[:2], *new_targets]), writer_keys.online)
    assert refresh(client).root_version == 2
    stale_keys = writer.repo.propose_policy(canonical_bytes({"by": "old keys"}))
    assert not stale_keys.roles_for_key(writer_keys.targets[0].keyid)
    stale_keys.roles["targets"].metadata.sign(signer_for(writer_keys.targets[0]), append=True)
    stale_keys.roles["targets"].metadata.sign(signer_for(writer_keys.targets[1]), append=True)
    with pytest.raises(RegistryError, match="0 of 1"):
        writer.repo.publish(stale_keys, writer_keys.online)
    writer.repo.publish(
        sign_all(writer.repo.propose_policy(canonical_bytes({"by": "new key"})), new_targets), writer_keys.online
    )
    refresh(client)


def test_online_key_rotation(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    client = pinned_client(tmp_path, writer)
    refresh(client)
    new_online = OnlineKeys(generate_key("ed25519"), generate_key("ecdsa-p256"))
    builder = writer.repo.builder()
    builder.rotate("snapshot", [new_online.snapshot.public], 1)
    builder.rotate("timestamp", [new_online.timestamp.public], 1)
    proposal = sign_all(builder.build(), writer_keys.root[:2])
    with pytest.raises(UsageError, match="snapshot key"):
        writer.repo.publish(proposal, writer_keys.online)
    writer.repo.publish(proposal, new_online)
    assert refresh(client).root_version == 2
    with pytest.raises(UsageError):
        writer.repo.timestamp(writer_keys.online)
    writer.repo.timestamp(new_online)
    assert refresh(client).timestamp_version == writer.timestamp_version()
    with pytest.raises(UsageError, match="exactly one key"):
        writer.repo.propose_rotate("timestamp", [k.public for k in _new_keys(2)], 1)


def test_namespace_key_rotation(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    writer.add_tool("acme/hello", "1.0.0")
    client = pinned_client(tmp_path, writer)
    refresh(client)
    new_acme = _new_keys(1)
    proposal = writer.repo.propose_rotate("tools/acme", [k.public for k in new_acme], 1)
    assert {"targets", "tools.acme", *(f"tools.acme-{i:x}" for i in range(16))} == set(proposal.roles)
    writer.repo.publish(sign_all(proposal, [*writer_keys.targets, *new_acme]), writer_keys.online)
    refresh(client)
    # The old namespace keys can no longer add entries; the new one can.
    data = b"v2"
    entry = writer.repo.propose_add_entry(
        kind="tool",
        name="acme/hello",
        version="2.0.0",
        digest=hashlib.sha256(data).hexdigest(),
        size=2,
        stage="DEV",
        content=data,
    )
    assert not entry.roles_for_key(writer_keys.acme[0].keyid)
    sign_all(entry, [*writer_keys.targets, *new_acme])
    writer.repo.publish(entry, writer_keys.online)
    assert [e.version for e in writer.repo.list_entries(kind="tool")] == ["1.0.0", "2.0.0"]
    assert refresh(client).targets_version == writer.repo.verify().targets_version
