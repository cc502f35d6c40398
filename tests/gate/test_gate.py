"""The gate end to end over a real registry, policy and audit log; each test names the attack."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sealgate.audit import open_audit_log
from sealgate.errors import DeniedError, MalformedInputError, Reason
from sealgate.gate import GateRequest
from sealgate.tokens import VerifiedArtifact
from tests.gatehome import DAY, GateHome, build_gate_home, copy_gate_home, policy_yaml

STRICT_SIGNERS = (("alice", "author"), ("bob", "reviewer"), ("carol", "approver"), ("dave", "approver"))


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> GateHome:
    return build_gate_home(tmp_path_factory.mktemp("gate-template") / "home")


@pytest.fixture
def gh(tmp_path: Path, _template: GateHome) -> GateHome:
    return copy_gate_home(_template, tmp_path / "home")


def req(path: Path, name: str = "acme/hello", version: str = "1.0.0", **kw: str) -> GateRequest:
    return GateRequest(kind="tool", name=name, version=version, path=path, interface="api", **kw)


def denied(gh: GateHome, request: GateRequest, **gate_kw: object) -> DeniedError:
    gate = gh.gate(**gate_kw)  # type: ignore[arg-type]
    try:
        with pytest.raises(DeniedError) as exc:
            gate.verify(request)
    finally:
        gate.close()
    return exc.value


def allowed(gh: GateHome, request: GateRequest, **gate_kw: object) -> VerifiedArtifact:
    gate = gh.gate(**gate_kw)  # type: ignore[arg-type]
    try:
        return gate.verify(request)
    finally:
        gate.close()


def audit_records(gh: GateHome) -> list[dict]:
    log = open_audit_log(gh.root)
    try:
        size = log.size()
        return [json.loads(r) for r in log.records(0, size)] if size else []
    finally:
        log.close()


def test_signed_registered_artifact_allowed_and_audited(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"#!/bin/sh\necho hello\n")
    token = allowed(gh, req(path))
    assert token.artifact.files[""][1] == b"#!/bin/sh\necho hello\n"
    assert token.level == "standard"
    assert token.principals == {"author": ("alice",), "reviewer": ("bob",)}
    rec = audit_records(gh)[token.audit_index]
    assert rec["decision"] == "allow" and rec["reason"] == "allowed"
    assert rec["subject"]["digest"]["sha256"] == token.digest
    assert rec["policy_digest"] == token.policy_digest and rec["registry_version"] == token.registry_version
    assert rec["interface"] == "api"


def test_tampered_artifact_denied(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"echo hello\n")
    path.write_bytes(b"echo pwned\n")
    err = denied(gh, req(path))
    assert err.reason is Reason.DIGEST_MISMATCH
    assert audit_records(gh)[-1]["reason"] == "digest-mismatch"


def test_unregistered_artifact_denied(gh: GateHome, tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"never registered")
    err = denied(gh, req(path, version="9.9.9"))
    assert err.reason is Reason.NOT_REGISTERED
    assert "registry" in err.message


def test_revoked_version_denied(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"v1")
    gh.publish(gh.repo.propose_revoke("tool", "acme/hello", "1.0.0", reason="CVE-2026-0001"))
    gh.refresh()
    err = denied(gh, req(path))
    assert err.reason is Reason.REVOKED and "CVE-2026-0001" in err.message


def test_deprecated_allowed_with_warning_at_standard_denied_at_strict(gh: GateHome) -> None:
    dev = gh.register("acme/hello", "1.0.0", b"dev")
    prod = gh.register("acme/hello", "2.0.0", b"prod", stage="PROD", signers=STRICT_SIGNERS)
    for version in ("1.0.0", "2.0.0"):
        gh.publish(gh.repo.propose_deprecate("tool", "acme/hello", version))
    gh.refresh()
    token = allowed(gh, req(dev))
    assert any("deprecated" in w for w in token.warnings)
    assert denied(gh, req(prod, version="2.0.0")).reason is Reason.DEPRECATED


def test_unsigned_registered_artifact_denied(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x", signers=())
    assert denied(gh, req(path)).reason is Reason.THRESHOLD_NOT_MET


def test_role_threshold_not_met_at_strict(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x", stage="PROD", signers=STRICT_SIGNERS[:3])
    err = denied(gh, req(path))
    assert err.reason is Reason.THRESHOLD_NOT_MET and "approver ×1" in err.message


def test_same_principal_counted_once_across_roles(gh: GateHome) -> None:
    # alice signs as author and reviewer (bound only as author): one principal, one role.
    path = gh.register("acme/hello", "1.0.0", b"x", signers=(("alice", "author"), ("alice", "reviewer")))
    assert denied(gh, req(path)).reason is Reason.KEY_NOT_BOUND_TO_ROLE


def test_same_principal_two_keys_counted_once(gh: GateHome) -> None:
    # carol holds two keys; two approver statements by her count as one approver.
    from sealgate.crypto.keys import generate_key

    second = generate_key("ed25519")
    gh.keys["carol2"] = second
    extra_key = "\n".join("        " + line for line in second.public.to_pem().decode().strip().splitlines())
    text = policy_yaml(gh.keys).replace(
        b"  carol:\n    keys:\n", b"  carol:\n    keys:\n      - |\n" + extra_key.encode() + b"\n"
    )
    gh.set_policy(text)
    signers = (("alice", "author"), ("bob", "reviewer"), ("carol", "approver"), ("carol2", "approver"))
    path = gh.register("acme/hello", "1.0.0", b"x", stage="PROD", signers=signers)
    err = denied(gh, req(path))
    assert err.reason is Reason.THRESHOLD_NOT_MET and "approver ×1" in err.message


def test_key_not_bound_to_role_ignored(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x", signers=(("alice", "author"), ("carol", "reviewer")))
    err = denied(gh, req(path))
    assert err.reason is Reason.KEY_NOT_BOUND_TO_ROLE and "carol as reviewer" in err.message


def test_key_bound_to_other_namespace_not_counted(gh: GateHome) -> None:
    # eve is an author only in tools/acme-evil; her statement on tools/acme counts for nothing.
    path = gh.register("acme/hello", "1.0.0", b"x", signers=(("eve", "author"), ("bob", "reviewer")))
    assert denied(gh, req(path)).reason is Reason.KEY_NOT_BOUND_TO_ROLE
    evil = gh.register("acme-evil/hello", "1.0.0", b"y", signers=(("eve", "author"), ("bob", "reviewer")))
    allowed(gh, req(evil, name="acme-evil/hello"))


def test_unknown_key_statement_counts_for_nothing(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x", signers=(("mallory", "author"), ("bob", "reviewer")))
    assert denied(gh, req(path)).reason is Reason.THRESHOLD_NOT_MET


def test_statement_over_another_digest_refused_at_proposal(gh: GateHome) -> None:
    # The writer refuses it; the gate would also ignore such a statement (defence in depth).
    with pytest.raises(MalformedInputError, match="different digest"):
        gh.register("acme/hello", "1.0.0", b"x", statement_digest="00" * 32)


def test_expired_timestamp_freeze_denied(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    err = denied(gh, req(path), offset=2 * DAY)
    assert err.reason is Reason.METADATA_EXPIRED


def test_stale_registry_view_denied(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    gh.set_policy(policy_yaml(gh.keys).replace(b"max_staleness: 86400", b"max_staleness: 60"))
    err = denied(gh, req(path), offset=600)
    assert err.reason is Reason.REGISTRY_STALE


def test_tampered_cached_policy_denied(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    policy_file = gh.root / "trust" / "targets" / "policy" / "trust-policy.json"
    data = policy_file.read_bytes().replace(b"development", b"developmenT")
    os.chmod(policy_file, 0o644)
    policy_file.unlink()
    policy_file.write_bytes(data)
    assert denied(gh, req(path)).reason is Reason.REGISTRY_TAMPERED


def test_loosened_local_policy_stops_gate(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    gh.home.local_policy.write_bytes(b'{"_type":"sealgate/local-policy/v1","max_staleness":999999}')
    err = denied(gh, req(path))
    assert err.reason is Reason.POLICY_LOOSENED
    assert audit_records(gh)[-1]["reason"] == "policy-loosened"


def test_tightening_local_policy_applies(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    gh.home.local_policy.write_bytes(
        b'{"_type":"sealgate/local-policy/v1","requirements":{"standard":{"roles":{"approver":1}}}}'
    )
    assert denied(gh, req(path)).reason is Reason.THRESHOLD_NOT_MET


def test_audit_store_unavailable_denies(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    db = gh.home.audit_db
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.mkdir()  # a directory where the database should be: it cannot be opened
    err = denied(gh, req(path))
    assert err.reason is Reason.AUDIT_UNAVAILABLE


def test_development_override_allows_unregistered_with_high_audit(gh: GateHome, tmp_path: Path) -> None:
    path = tmp_path / "local-tool"
    path.write_bytes(b"unsigned")
    token = allowed(gh, req(path, version="0.0.1"), environ={"SEALGATE_ALLOW_UNSIGNED": "1"})
    assert any("OVERRIDE" in w for w in token.warnings)
    rec = audit_records(gh)[token.audit_index]
    assert rec["reason"] == "override-used" and rec["severity"] == "high"
    assert rec["override"]["would_deny"] == "not-registered"


def test_development_override_never_for_prod_stage(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x", stage="PROD", signers=(("alice", "author"),))
    err = denied(gh, req(path), environ={"SEALGATE_ALLOW_UNSIGNED": "1"})
    assert err.reason is Reason.OVERRIDE_REFUSED


def test_development_override_never_hides_tampering(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    path.write_bytes(b"y")
    err = denied(gh, req(path), environ={"SEALGATE_ALLOW_UNSIGNED": "1"})
    assert err.reason is Reason.DIGEST_MISMATCH


def test_development_override_refused_under_production_policy(gh: GateHome, tmp_path: Path) -> None:
    gh.set_policy(policy_yaml(gh.keys, environment="production"))
    path = tmp_path / "local-tool"
    path.write_bytes(b"unsigned")
    err = denied(gh, req(path), environ={"SEALGATE_ALLOW_UNSIGNED": "1"})
    assert err.reason is Reason.OVERRIDE_REFUSED
    assert audit_records(gh)[-1]["reason"] == "override-refused"


def test_trust_anchors_writable_in_production_denied(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    gh.set_policy(policy_yaml(gh.keys, environment="production"))
    err = denied(gh, req(path))
    assert err.reason is Reason.TRUST_ANCHOR_WRITABLE


def test_malformed_name_denied_as_malformed_input(gh: GateHome, tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"x")
    assert denied(gh, req(path, name="../../etc")).reason is Reason.MALFORMED_INPUT


def test_token_cannot_be_constructed_outside_the_gate(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    token = allowed(gh, req(path))
    fields = {f: getattr(token, f) for f in token.__dataclass_fields__ if f != "capability"}
    with pytest.raises(TypeError, match=r"only be constructed by sealgate\.gate"):
        VerifiedArtifact(capability=object(), **fields)  # type: ignore[arg-type]


def test_every_decision_is_audited_allow_and_deny(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    before = len(audit_records(gh))
    allowed(gh, req(path))
    path.write_bytes(b"z")
    denied(gh, req(path))
    recs = audit_records(gh)[before:]
    assert [r["decision"] for r in recs] == ["allow", "deny"]
    for r in recs:
        assert {"time", "reason", "severity", "message", "interface", "subject", "policy_digest", "taint"} <= set(r)


def test_long_lived_gate_rechecks_expiry_on_every_decision(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    now = [gh.clock_now]
    gate = gh.gate()
    gate._clock = lambda: now[0]
    try:
        gate.verify(req(path))
        now[0] += 2 * DAY  # the cached, verified view must not outlive the timestamp's expiry
        with pytest.raises(DeniedError) as exc:
            gate.verify(req(path))
        assert exc.value.reason is Reason.METADATA_EXPIRED
    finally:
        gate.close()


def test_long_lived_gate_sees_revocation_after_refresh(gh: GateHome) -> None:
    path = gh.register("acme/hello", "1.0.0", b"x")
    gate = gh.gate()
    try:
        gate.verify(req(path))
        gh.publish(gh.repo.propose_revoke("tool", "acme/hello", "1.0.0", reason="bad build"))
        gh.refresh()
        with pytest.raises(DeniedError) as exc:
            gate.verify(req(path))
        assert exc.value.reason is Reason.REVOKED
    finally:
        gate.close()


def test_long_lived_gate_applies_a_new_policy_that_unbinds_a_signer(gh: GateHome) -> None:
    # The gate remembers which principal is bound where, per policy: a newly published
    # policy that moves bob's reviewer binding elsewhere must count his statement for nothing.
    path = gh.register("acme/hello", "1.0.0", b"x")
    gate = gh.gate()
    try:
        gate.verify(req(path))
        text = policy_yaml(gh.keys).replace(
            b'{principal: bob, roles: [reviewer], namespaces: ["tools/*"]}',
            b'{principal: bob, roles: [reviewer], namespaces: ["tools/other"]}',
        )
        gh.set_policy(text)
        gh.refresh()
        with pytest.raises(DeniedError) as exc:
            gate.verify(req(path))
        assert exc.value.reason is Reason.KEY_NOT_BOUND_TO_ROLE and "bob as reviewer" in exc.value.message
    finally:
        gate.close()


def test_repeated_decision_audits_the_same_approvals(gh: GateHome) -> None:
    # A long-lived gate remembers step 3's verdict per entry; a repeated decision must still
    # record who approved and which statements counted for nothing.
    signers = (("alice", "author"), ("bob", "reviewer"), ("mallory", "approver"))
    path = gh.register("acme/hello", "1.0.0", b"x", signers=signers)
    gate = gh.gate()
    try:
        gate.verify(req(path))
        gate.verify(req(path))
    finally:
        gate.close()
    first, second = audit_records(gh)[-2:]
    assert first["ignored_statements"] and first["principals"] == {"author": ["alice"], "reviewer": ["bob"]}
    for field in ("principals", "ignored_statements", "decision", "reason", "subject"):
        assert first[field] == second[field]
