"""``SEALGATE_ALLOW_UNSIGNED`` through the CLI: development only, never PROD, never integrity, always audited."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.clihome import HELLO, HELLO_ARGS, CliHome, assert_no_traceback, run_cli, write_hello

OVERRIDE = {"SEALGATE_ALLOW_UNSIGNED": "1"}


def verify_json(ch: CliHome, path: Path, name: str, version: str, env: dict[str, str]) -> tuple[int, dict, str]:
    args = ("verify", str(path), "--kind", "tool", "--name", name, "--version", version, "--json")
    result = run_cli(ch.home, *args, env=env)
    assert_no_traceback(result)
    return result.returncode, json.loads(result.stdout), result.stderr


def stray(ch: CliHome) -> Path:
    path = write_hello(ch.work / "stray", name="acme/stray", version="0.1.0", script=b"echo never registered\n")
    ch.run("tool", "compile", str(path))
    return path


def test_override_allows_unregistered_artifact_in_development_audited_high(ch: CliHome) -> None:
    code, decision, stderr = verify_json(ch, stray(ch), "acme/stray", "0.1.0", OVERRIDE)
    assert code == 0, stderr
    assert (decision["allowed"], decision["reason"], decision["severity"]) == (True, "override-used", "high")
    assert decision["record"]["override"]["would_deny"] == "not-registered"
    assert "warning: DEVELOPMENT OVERRIDE" in stderr
    logged = json.loads(run_cli(ch.home, "audit", "show", "--start", str(decision["audit_index"]), "--json").stdout)
    assert logged[0]["record"]["reason"] == "override-used" and logged[0]["record"]["severity"] == "high"


def test_override_unset_empty_or_zero_is_no_override(ch: CliHome) -> None:
    for env in ({}, {"SEALGATE_ALLOW_UNSIGNED": ""}, {"SEALGATE_ALLOW_UNSIGNED": "0"}):
        code, decision, _ = verify_json(ch, stray(ch), "acme/stray", "0.1.0", env)
        assert (code, decision["reason"]) == (3, "not-registered")


def test_override_never_covers_a_changed_artifact(ch: CliHome) -> None:
    tampered = write_hello(ch.work / "hello-tampered", script=HELLO + b"# owned\n")
    ch.run("tool", "compile", str(tampered))
    code, decision, _ = verify_json(ch, tampered, "acme/hello", "1.0.0", OVERRIDE)
    assert (code, decision["allowed"], decision["reason"]) == (3, False, "digest-mismatch")


def test_override_never_applies_to_a_prod_stage_entry(ch: CliHome) -> None:
    # Signed by author and reviewer only: PROD is strict and also needs two approvers.
    prod = write_hello(ch.work / "prod", name="acme/prod", script=b"echo prod\n")
    ch.run("tool", "compile", str(prod))
    args = ("--kind", "tool", "--name", "acme/prod", "--version", "1.0.0")
    ch.run("sign", str(prod), *args, "--role", "author", "--key", "alice")
    ch.run("sign", str(prod), *args, "--role", "reviewer", "--key", "bob")
    proposal = ch.work / "prod.proposal.json"
    ch.run("registry", "propose", str(prod), *args, "--stage", "PROD", "--out", str(proposal))
    ch.approve_and_publish(proposal)
    ch.run("registry", "refresh")
    code, decision, _ = verify_json(ch, prod, "acme/prod", "1.0.0", {})
    assert (code, decision["reason"]) == (3, "threshold-not-met")
    code, decision, stderr = verify_json(ch, prod, "acme/prod", "1.0.0", OVERRIDE)
    assert (code, decision["allowed"], decision["reason"]) == (3, False, "override-refused"), stderr
    assert decision["audit_index"] is not None  # the attempt is audited


def test_override_refused_and_audited_under_a_production_policy(ch: CliHome) -> None:
    policy = ch.work / "production.yaml"
    text = (ch.work / "policy.yaml").read_text(encoding="utf-8")
    policy.write_text(text.replace("environment: development", "environment: production"), encoding="utf-8")
    proposal = ch.work / "production.proposal.json"
    ch.run("registry", "policy", str(policy), "--out", str(proposal))
    ch.approve_and_publish(proposal)
    ch.run("registry", "refresh")
    code, decision, stderr = verify_json(ch, ch.hello, "acme/hello", HELLO_ARGS[-1], OVERRIDE)
    assert (code, decision["allowed"], decision["reason"]) == (3, False, "override-refused"), stderr
    assert decision["severity"] == "critical"
    logged = json.loads(run_cli(ch.home, "audit", "show", "--start", str(decision["audit_index"]), "--json").stdout)
    assert logged[0]["record"]["reason"] == "override-refused"
    # Without the override, this home still fails closed: its trust anchors are writable by us.
    code, decision, _ = verify_json(ch, ch.hello, "acme/hello", HELLO_ARGS[-1], {})
    assert (code, decision["reason"]) == (3, "trust-anchor-writable")
