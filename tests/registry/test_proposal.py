"""Proposals: approval on other machines, idempotence, and refusal of edited proposal files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

from sealgate.canonical import canonical_bytes
from sealgate.crypto.keys import generate_key
from sealgate.errors import MalformedInputError, Reason, RegistryError, UsageError, VerificationError
from sealgate.registry.client import refresh
from sealgate.registry.proposal import PROPOSAL_TYPE, Proposal, approve, describe_proposal, merge_proposals
from sealgate.registry.repository import propose_init

from .conftest import POLICY, Keys, Registry, approve_in_home, approver_home, pinned_client


def _entry_proposal(writer: Registry, path: Path) -> Path:
    data = b"#!/bin/sh\n"
    proposal = writer.repo.propose_add_entry(
        kind="tool",
        name="acme/hello",
        version="1.0.0",
        digest=hashlib.sha256(data).hexdigest(),
        size=len(data),
        stage="DEV",
        content=data,
    )
    proposal.save(path)
    return path


def test_approval_from_another_home_adds_signature(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    path = _entry_proposal(writer, tmp_path / "change.json")
    homes = [approver_home(tmp_path, f"t{i}", k) for i, k in enumerate(writer_keys.targets)]
    homes += [approver_home(tmp_path, f"a{i}", k) for i, k in enumerate(writer_keys.acme)]
    # The approver's home holds no repository: only its key.
    assert not (homes[0] / "repository").exists()
    result = approve_in_home(homes[0], path)
    assert result.signed_roles == ("targets",) and result.already_signed == ()
    targets = next(r for r in result.description.roles if r.name == "targets")
    assert targets.requirements[0].signed_by == (writer_keys.targets[0].keyid,)
    assert targets.requirements[0].missing == 1
    # What the approver is shown comes from the signed content.
    bin_role = next(r for r in result.description.roles if r.name.startswith("tools.acme-"))
    assert [t.path for t in bin_role.targets] == ["tools/acme/hello/1.0.0"]
    assert not result.description.complete
    for home in homes[1:]:
        approve_in_home(home, path)
    assert describe_proposal(path).complete
    published = writer.repo.publish(path, writer_keys.online)
    assert published.roles["targets"] == 3
    client = pinned_client(tmp_path, writer)
    refresh(client)
    assert (client / "trust" / "targets" / "index" / "tool" / "acme" / "hello").is_file()


def test_approve_twice_with_one_key_counted_once(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    path = _entry_proposal(writer, tmp_path / "change.json")
    home = approver_home(tmp_path, "t0", writer_keys.targets[0])
    approve_in_home(home, path)
    mtime = os.stat(path).st_mtime_ns
    again = approve_in_home(home, path)
    assert again.signed_roles == () and again.already_signed == ("targets",)
    doc = json.loads(path.read_bytes())
    assert len(doc["roles"]["targets"]["metadata"]["signatures"]) == 1
    assert os.stat(path).st_mtime_ns >= mtime
    for key in writer_keys.acme:
        approve(path, key)
    with pytest.raises(RegistryError) as err:
        writer.repo.publish(path, writer_keys.online)
    assert err.value.reason is Reason.THRESHOLD_NOT_MET and "1 of 2" in str(err.value)


def test_hand_edited_proposal_refused(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    path = _entry_proposal(writer, tmp_path / "change.json")
    for key in [*writer_keys.targets, *writer_keys.acme]:
        approve(path, key)
    doc = json.loads(path.read_bytes())
    bin_name = next(n for n in doc["roles"] if n.startswith("tools.acme-"))
    doc["roles"][bin_name]["metadata"]["signed"]["targets"]["tools/acme/hello/1.0.0"]["custom"]["stage"] = "PROD"
    path.write_text(json.dumps(doc))
    with pytest.raises(VerificationError) as err:
        writer.repo.publish(path, writer_keys.online)
    assert err.value.reason is Reason.SIGNATURE_INVALID and bin_name in str(err.value)
    with pytest.raises(VerificationError):
        approve(path, writer_keys.acme[0])


def test_proposal_with_swapped_target_file_refused(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    path = _entry_proposal(writer, tmp_path / "change.json")
    for key in [*writer_keys.targets, *writer_keys.acme]:
        approve(path, key)
    doc = json.loads(path.read_bytes())
    doc["target_files"]["tools/acme/hello/1.0.0"] = base64.b64encode(b"#!/bin/rm\n").decode()
    path.write_text(json.dumps(doc))
    with pytest.raises(VerificationError) as err:
        writer.repo.publish(path, writer_keys.online)
    assert err.value.reason is Reason.DIGEST_MISMATCH


def test_key_that_counts_for_nothing_refused(writer: Registry, tmp_path: Path) -> None:
    path = _entry_proposal(writer, tmp_path / "change.json")
    with pytest.raises(UsageError, match="not among the signers"):
        approve(path, generate_key("ed25519"))


def test_parallel_approvals_merge(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    path = _entry_proposal(writer, tmp_path / "change.json")
    copies = []
    for i, key in enumerate([*writer_keys.targets, *writer_keys.acme]):
        copy = tmp_path / f"copy{i}.json"
        copy.write_bytes(path.read_bytes())
        approve(copy, key)
        copies.append(copy)
    added = merge_proposals(path, copies)
    assert len(added) == 4
    assert describe_proposal(path).complete
    writer.repo.publish(path, writer_keys.online)


def test_proposal_format_is_versioned_and_strict(writer: Registry, tmp_path: Path) -> None:
    path = _entry_proposal(writer, tmp_path / "change.json")
    doc = json.loads(path.read_bytes())
    assert doc["_type"] == PROPOSAL_TYPE
    assert set(doc["base"]) == {"initial", "root_version", "snapshot_version", "timestamp_version"}
    roundtrip = Proposal.from_bytes(Proposal.from_bytes(path.read_bytes()).to_bytes())
    assert roundtrip.to_bytes() == path.read_bytes()
    for mutate in (
        lambda d: d.update({"_type": "other"}),
        lambda d: d.update({"extra": 1}),
        lambda d: d["roles"]["targets"]["base"].update({"version": 7}),
    ):
        broken = json.loads(path.read_bytes())
        mutate(broken)
        with pytest.raises(MalformedInputError):
            Proposal.from_bytes(json.dumps(broken).encode())
    with pytest.raises(MalformedInputError, match="duplicate"):
        Proposal.from_bytes(b'{"_type": "a", "_type": "b"}')


def test_initial_proposal_approved_in_separate_homes(tmp_path: Path, writer_keys: Keys) -> None:
    proposal = propose_init(
        root_keys=[k.public for k in writer_keys.root],
        root_threshold=2,
        targets_keys=[k.public for k in writer_keys.targets],
        targets_threshold=2,
        snapshot_key=writer_keys.online.snapshot.public,
        timestamp_key=writer_keys.online.timestamp.public,
        policy=POLICY,
    )
    path = tmp_path / "init.json"
    proposal.save(path)
    from sealgate.registry.repository import Repository

    repo = Repository(tmp_path / "host" / "repository")
    for i, key in enumerate(writer_keys.root[:1] + writer_keys.targets):
        approve_in_home(approver_home(tmp_path, f"k{i}", key), path)
    with pytest.raises(RegistryError) as err:
        repo.publish(path, writer_keys.online)
    assert err.value.reason is Reason.THRESHOLD_NOT_MET and "root v1" in str(err.value)
    assert not (repo.metadata_dir / "1.root.json").exists()
    approve_in_home(approver_home(tmp_path, "k9", writer_keys.root[2]), path)
    repo.publish(path, writer_keys.online)
    assert repo.verify().root_version == 1
    assert repo.publish(path, writer_keys.online).already_published


def test_summary_is_not_what_approvers_sign(writer: Registry, tmp_path: Path) -> None:
    path = _entry_proposal(writer, tmp_path / "change.json")
    doc = json.loads(path.read_bytes())
    doc["summary"] = "harmless typo fix"
    path.write_text(json.dumps(doc))
    description = describe_proposal(path)
    assert description.summary == "harmless typo fix"
    assert "summary_unsigned" in description.to_dict()
    assert any(t.path == "tools/acme/hello/1.0.0" for r in description.roles for t in r.targets)


def test_policy_change_needs_publication_threshold(writer: Registry, writer_keys: Keys, tmp_path: Path) -> None:
    new_policy = canonical_bytes({"environment": "production"})
    proposal = writer.repo.propose_policy(new_policy)
    assert set(proposal.roles) == {"targets"}
    assert set(proposal.roles["targets"].requirements[0].keys) == {k.keyid for k in writer_keys.targets}
