"""The console script's exit codes, error lines and "nothing half-written", input by input.

Every test runs ``sealgate`` as a process (the console script next to the interpreter) in a
copy of a home built through the CLI. A failure must exit with the documented code
(docs/cli.md), print one ``sealgate: <reason-code>: <sentence>`` line and no traceback, print
no result on stdout, and leave every file of the home and of the work folder as it was.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli.clihome import (
    HELLO,
    HELLO_ARGS,
    CliHome,
    assert_no_traceback,
    assert_refused,
    assert_usage_error,
    changes,
    refused_and_unchanged,
    run_cli,
    tree_state,
    write_hello,
)

DECISION_KEYS = {"allowed", "reason", "severity", "message", "audit_index", "record"}


def audit_records(ch: CliHome) -> list[dict[str, object]]:
    result = run_cli(ch.home, "audit", "show", "--limit", "10000", "--json")
    assert result.returncode == 0, result.stderr
    return [row["record"] for row in json.loads(result.stdout)]


def revoke_proposal(ch: CliHome, *, approvers: tuple[str, ...]) -> Path:
    proposal = ch.work / "revoke.proposal.json"
    ch.run("registry", "revoke", "tool", "acme/hello", "1.0.0", "--reason", "CVE-2026-0001", "--out", str(proposal))
    for who in approvers:
        ch.run("registry", "approve", str(proposal), "--key", who)
    return proposal


# -- malformed YAML policy ------------------------------------------------------------------

MALFORMED_YAML = b"_type: sealgate/trust-policy/v1\nprincipals: [alice\n"
INIT_KEYS = ("--root-key", "root", "--root-threshold", "1", "--targets-key", "carol", "--threshold", "1",
             "--snapshot-key", "snapshot", "--timestamp-key", "timestamp")  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        ("policy", "compile", "{file}", "--out", "{work}/compiled.json"),
        ("policy", "compile", "--local", "{file}"),
        ("policy", "tighten", "{file}"),
        ("registry", "policy", "{file}"),
        ("registry", "init", "--policy", "{file}", *INIT_KEYS),
    ],
    ids=["compile", "compile-local", "tighten", "registry-policy", "registry-init"],
)
def test_malformed_yaml_policy_refused_and_nothing_written(ch: CliHome, command: tuple[str, ...]) -> None:
    bad = ch.work / "bad-policy.yaml"
    bad.write_bytes(MALFORMED_YAML)
    args = [a.format(file=bad, work=ch.work) for a in command]
    result = refused_and_unchanged(ch, args, 3, "malformed-input")
    assert " line " in result.stderr  # the sentence says where
    assert not (ch.home / "local-policy.json").exists()
    assert not (ch.home / "proposals").exists()


@pytest.mark.parametrize("command", [("policy", "compile"), ("registry", "policy")], ids=["compile", "registry-policy"])
def test_schema_invalid_policy_refused_as_policy_invalid(ch: CliHome, command: tuple[str, ...]) -> None:
    bad = ch.work / "invalid-policy.yaml"
    bad.write_text("_type: sealgate/trust-policy/v1\nenvironment: staging\n", encoding="utf-8")
    refused_and_unchanged(ch, [*command, str(bad)], 1, "policy-invalid")


def test_loosening_local_policy_not_installed(ch: CliHome) -> None:
    loose = ch.work / "loose.yaml"
    loose.write_text("_type: sealgate/local-policy/v1\nmax_staleness: 2592000\n", encoding="utf-8")
    refused_and_unchanged(ch, ["policy", "tighten", str(loose)], 1, "policy-loosened")
    assert not (ch.home / "local-policy.json").exists()


# -- malformed JSON proposal ----------------------------------------------------------------


def _truncated_proposal(ch: CliHome) -> bytes:
    data = (ch.work / "hello.proposal.json").read_bytes()
    return data[: len(data) // 2]


PROPOSALS = {
    "not-json": lambda ch: b"{not json",
    "truncated": _truncated_proposal,
    "not-a-proposal": lambda ch: b'{"_type": "sealgate/proposal/v0", "roles": {}}',
    "array": lambda ch: b"[]",
}


@pytest.mark.parametrize("kind", sorted(PROPOSALS))
@pytest.mark.parametrize(
    "command",
    [("registry", "describe"), ("registry", "approve", "--key", "carol"), ("registry", "publish")],
    ids=["describe", "approve", "publish"],
)
def test_malformed_proposal_refused_and_registry_unchanged(ch: CliHome, kind: str, command: tuple[str, ...]) -> None:
    bad = ch.work / "bad.proposal.json"
    bad.write_bytes(PROPOSALS[kind](ch))
    refused_and_unchanged(ch, [*command[:2], str(bad), *command[2:]], 3, "malformed-input")


# -- malformed PEM key file -----------------------------------------------------------------

PEMS = {
    "garbage": b"this is not a key\n",
    "bad-base64": b"-----BEGIN PRIVATE KEY-----\n!!!!not base64!!!!\n-----END PRIVATE KEY-----\n",
    "wrong-der": b"-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n",
}


@pytest.mark.parametrize("pem", sorted(PEMS))
@pytest.mark.parametrize(
    "command",
    [
        ("sign", "{work}/hello", *HELLO_ARGS, "--role", "author", "--key", "{key}"),
        ("registry", "approve", "{work}/hello.proposal.json", "--key", "{key}"),
        ("audit", "checkpoint", "--key", "{key}"),
    ],
    ids=["sign", "approve", "checkpoint"],
)
def test_malformed_private_key_file_refused_and_nothing_signed(ch: CliHome, pem: str, command: tuple[str, ...]) -> None:
    key = ch.work / "bad.pem"
    key.write_bytes(PEMS[pem])
    args = [a.format(work=ch.work, key=key) for a in command]
    refused_and_unchanged(ch, args, 3, "malformed-input")


def test_public_key_given_as_signing_key_refused(ch: CliHome) -> None:
    args = ["sign", str(ch.hello), *HELLO_ARGS, "--role", "author", "--key", str(ch.keys / "alice.pub")]
    refused_and_unchanged(ch, args, 3, "malformed-input")


def test_malformed_public_key_refused_where_keys_are_named(ch: CliHome) -> None:
    bad = ch.work / "bad.pub"
    bad.write_bytes(b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n")
    args = ["registry", "namespace", "tools/evil", "--key", str(bad), "--threshold", "1"]
    refused_and_unchanged(ch, args, 3, "malformed-input")


def test_malformed_public_key_in_key_store_breaks_key_list_loudly(ch: CliHome) -> None:
    (ch.keys / "broken.pub").write_bytes(b"garbage\n")
    refused_and_unchanged(ch, ["key", "list"], 3, "malformed-input")


def test_wrong_passphrase_refused_and_nothing_signed(ch: CliHome) -> None:
    args = ["sign", str(ch.hello), *HELLO_ARGS, "--role", "author", "--key", "alice"]
    result = refused_and_unchanged(ch, args, 1, "key-unavailable", passphrase="not the passphrase")
    assert "wrong passphrase" in result.stderr


def test_encrypted_key_without_passphrase_or_terminal_refused(ch: CliHome) -> None:
    args = ["registry", "approve", str(ch.work / "hello.proposal.json"), "--key", "carol"]
    result = refused_and_unchanged(ch, args, 1, "key-unavailable", passphrase=None)
    assert "no terminal" in result.stderr


# -- malformed DSSE bundle ------------------------------------------------------------------


def _bundle(ch: CliHome, mutate: str) -> bytes:
    bundle = json.loads((ch.work / "hello.statements.json").read_bytes())
    if mutate == "no-signatures":
        bundle["envelopes"][0]["signatures"] = []
    elif mutate == "payload-not-base64":
        bundle["envelopes"][0]["payload"] = "!!not base64!!"
    elif mutate == "wrong-type":
        bundle["_type"] = "sealgate/statements/v0"
    return json.dumps(bundle).encode()


BUNDLES = ["no-signatures", "payload-not-base64", "wrong-type", "not-json"]


@pytest.mark.parametrize("mutate", BUNDLES)
@pytest.mark.parametrize(
    "command",
    [
        ("sign", "{hello}", *HELLO_ARGS, "--role", "reviewer", "--key", "bob", "--bundle", "{bundle}"),
        ("registry", "propose", "{hello}", *HELLO_ARGS[:-1], "1.0.1", "--stage", "DEV", "--bundle", "{bundle}"),
    ],
    ids=["sign", "propose"],
)
def test_malformed_dsse_bundle_refused_and_left_unchanged(ch: CliHome, mutate: str, command: tuple[str, ...]) -> None:
    bundle = ch.work / "bad.statements.json"
    bundle.write_bytes(b"{ not json" if mutate == "not-json" else _bundle(ch, mutate))
    args = [a.format(hello=ch.hello, bundle=bundle) for a in command]
    refused_and_unchanged(ch, args, 3, "malformed-input")


def test_bundle_of_another_artifact_not_mixed_in(ch: CliHome) -> None:
    other = ch.work / "other"
    write_hello(other, version="2.0.0", script=HELLO + b"# another artifact\n")
    ch.run("tool", "compile", str(other))
    bundle = ch.work / "hello.statements.json"
    sign = [
        "sign",
        str(other),
        *HELLO_ARGS[:-1],
        "2.0.0",
        "--role",
        "author",
        "--key",
        "alice",
        "--bundle",
        str(bundle),
    ]
    refused_and_unchanged(ch, sign, 3, "malformed-input")
    propose = ["registry", "propose", str(other), *HELLO_ARGS[:-1], "2.0.0", "--stage", "DEV", "--bundle", str(bundle)]
    refused_and_unchanged(ch, propose, 3, "malformed-input")


# -- nonexistent files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "code", "reason"),
    [
        (("sign", "{missing}", *HELLO_ARGS, "--role", "author", "--key", "alice"), 3, "malformed-input"),
        (("registry", "propose", "{missing}", *HELLO_ARGS, "--stage", "DEV"), 3, "malformed-input"),
        (("policy", "compile", "{missing}"), 3, "malformed-input"),
        (("policy", "tighten", "{missing}"), 3, "malformed-input"),
        (("registry", "policy", "{missing}"), 3, "malformed-input"),
        (("registry", "init", "--policy", "{missing}", *INIT_KEYS), 3, "malformed-input"),
        (
            ("registry", "import", "{missing}", "--format", "signal", "--key", "alice", "--name", "enc"),
            3,
            "malformed-input",
        ),
        (("init", "--root", "{missing}", "--root-sha256", "0" * 64, "--source", "{missing}"), 3, "malformed-input"),
        (("registry", "describe", "{missing}"), 1, "invalid-argument"),
        (("registry", "approve", "{missing}", "--key", "carol"), 1, "invalid-argument"),
        (("registry", "publish", "{missing}"), 1, "invalid-argument"),
        (("sign", "{hello}", *HELLO_ARGS, "--role", "author", "--key", "{missing}"), 1, "key-unavailable"),
        (("key", "export", "{missing}"), 1, "key-unavailable"),
    ],
    ids=[
        "sign-file",
        "propose-file",
        "compile",
        "tighten",
        "registry-policy",
        "registry-init",
        "import",
        "init-root",
        "describe",
        "approve",
        "publish",
        "sign-key",
        "key-export",
    ],
)
def test_nonexistent_file_refused_without_traceback(
    ch: CliHome, command: tuple[str, ...], code: int, reason: str
) -> None:
    missing = ch.work / "does-not-exist"
    args = [a.format(missing=missing, hello=ch.hello) for a in command]
    result = refused_and_unchanged(ch, args, code, reason)
    assert "does-not-exist" in result.stderr


def test_nonexistent_artifact_denied_and_audited(ch: CliHome) -> None:
    before = audit_records(ch)
    result = run_cli(ch.home, "verify", str(ch.work / "does-not-exist"), *HELLO_ARGS, "--json")
    assert_no_traceback(result)
    assert result.returncode == 3
    assert result.stderr.startswith("DENIED malformed-input: ")
    decision = json.loads(result.stdout)
    assert (decision["allowed"], decision["reason"]) == (False, "malformed-input")
    after = audit_records(ch)
    assert after[:-1] == before and after[-1]["decision"] == "deny"


# -- usage errors (exit 2) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("verify", "{hello}", *HELLO_ARGS, "--skip-checks"),
        ("verify", "{hello}", *HELLO_ARGS, "--no-verify"),
        ("verify", "{hello}", "--kind", "tool", "--name", "acme/hello"),
        ("verify", "{hello}", "--kind", "binary", "--name", "acme/hello", "--version", "1.0.0"),
        ("--allow-unsigned", "verify", "{hello}", *HELLO_ARGS),
        ("registry", "publish", "{work}/hello.proposal.json", "--force"),
        ("key", "generate", "zed", "--type", "rsa"),
        ("no-such-command",),
        ("registry",),
    ],
    ids=[
        "unknown-option",
        "no-verify",
        "missing-option",
        "bad-choice",
        "root-option",
        "force",
        "bad-type",
        "unknown-command",
        "no-subcommand",
    ],
)
def test_usage_error_exits_2_and_runs_nothing(ch: CliHome, command: tuple[str, ...]) -> None:
    before = tree_state(ch.base)
    result = run_cli(ch.home, *(a.format(hello=ch.hello, work=ch.work) for a in command))
    if command == ("registry",):
        assert_no_traceback(result)
        assert result.returncode == 2 and "Usage: sealgate registry" in result.stderr and result.stdout == ""
    else:
        assert_usage_error(result)
    assert changes(before, tree_state(ch.base)) == [], "a usage error ran something (an audit record?)"


# -- verify: allowed and denied, --json -----------------------------------------------------


def test_allowed_verify_prints_decision_json_and_exits_0(ch: CliHome) -> None:
    before = audit_records(ch)
    result = run_cli(ch.home, "verify", str(ch.hello), *HELLO_ARGS, "--json")
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert set(decision) >= DECISION_KEYS
    assert decision["allowed"] is True
    assert (decision["reason"], decision["severity"]) == ("allowed", "info")
    assert decision["audit_index"] == len(before)
    assert isinstance(decision["message"], str) and decision["message"]
    assert audit_records(ch)[-1] == decision["record"]  # the very record that was logged
    assert result.stderr.rstrip().splitlines()[-1].startswith("ALLOWED tools/acme/hello/1.0.0 sha256:")


@pytest.mark.parametrize(
    ("artifact", "name", "reason", "severity"),
    [
        ("tampered", "acme/hello", "digest-mismatch", "critical"),
        ("hello", "acme/stray", "not-registered", "high"),
    ],
)
def test_denied_verify_prints_decision_json_and_exits_3(
    ch: CliHome, artifact: str, name: str, reason: str, severity: str
) -> None:
    path = ch.hello
    if artifact == "tampered":
        path = write_hello(ch.work / "hello-tampered", script=HELLO.replace(b"hello from", b"owned from"))
        ch.run("tool", "compile", str(path))
    before_state = tree_state(ch.base)
    before = audit_records(ch)
    result = run_cli(ch.home, "verify", str(path), "--kind", "tool", "--name", name, "--version", "1.0.0", "--json")
    assert_no_traceback(result)
    assert result.returncode == 3, result.stderr
    decision = json.loads(result.stdout)
    assert set(decision) >= DECISION_KEYS
    assert (decision["allowed"], decision["reason"], decision["severity"]) == (False, reason, severity)
    assert decision["audit_index"] == len(before)
    assert result.stderr.startswith(f"DENIED {reason}: ")
    # The denial is audited, and it is the only thing that changed.
    assert audit_records(ch) == [*before, decision["record"]]
    assert changes(before_state, tree_state(ch.base)) == [str(ch.audit_db)]


# -- tampered audit log and repository (exit 4) ---------------------------------------------


def flip_audit_record_byte(db: Path, index: int) -> None:
    """Change one byte of a stored record, as someone who can write audit.db could."""
    conn = sqlite3.connect(db)
    try:
        (trigger,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_entry_no_update'").fetchone()
        (record,) = conn.execute("SELECT record FROM audit_entry WHERE idx = ?", (index,)).fetchone()
        changed = bytearray(record)
        changed[len(changed) // 2] ^= 0x01
        with conn:
            conn.execute("DROP TRIGGER audit_entry_no_update")
            conn.execute("UPDATE audit_entry SET record = ? WHERE idx = ?", (bytes(changed), index))
            conn.execute(trigger)
    finally:
        conn.close()


def test_audit_single_byte_flip_detected_by_audit_verify(ch: CliHome) -> None:
    ok = run_cli(ch.home, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    flip_audit_record_byte(ch.audit_db, 0)
    result = refused_and_unchanged(ch, ["audit", "verify", "--json"], 4, "audit-tampered")
    assert "record 0" in result.stderr


def test_deleted_audit_log_detected_against_checkpoint(ch: CliHome) -> None:
    ch.audit_db.unlink()
    result = run_cli(ch.home, "audit", "verify")
    assert_refused(result, 4, "audit-tampered")
    assert "truncated" in result.stderr


def test_audit_verify_without_checkpoint_key_refuses_instead_of_skipping(ch: CliHome) -> None:
    """Deleting the checkpoint's public key must not turn a truncated log into "no checkpoint yet"."""
    ch.audit_db.unlink()
    (ch.keys / "audit-log.pub").unlink()
    refused_and_unchanged(ch, ["audit", "verify"], 1, "key-unavailable")


def test_audit_proof_with_consistency_verifies(ch: CliHome) -> None:
    run_cli(ch.home, "verify", str(ch.hello), *HELLO_ARGS)
    result = run_cli(ch.home, "audit", "proof", "0", "--consistency-from", "1", "--json")
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    proof = json.loads(result.stdout)
    assert (proof["index"], proof["tree_size"], proof["consistency"]["old_size"]) == (0, 2, 1)


def _current(ch: CliHome, role: str) -> Path:
    return max((ch.repository / "metadata").glob(f"*.{role}.json"), key=lambda p: int(p.name.split(".")[0]))


@pytest.mark.parametrize("what", ["targets-metadata", "bin-metadata", "target-file"])
def test_tampered_repository_file_detected_by_registry_verify(ch: CliHome, what: str) -> None:
    if what == "targets-metadata":
        path = _current(ch, "targets")
    elif what == "bin-metadata":
        path = max((ch.repository / "metadata").glob("*.tools.acme-*.json"), key=lambda p: int(p.name.split(".")[0]))
    else:
        # A directory tool's bytes are not stored in the repository; its signed name index is.
        (path,) = (ch.repository / "targets" / "index" / "tool" / "acme").iterdir()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    refused_and_unchanged(ch, ["registry", "verify", "--json"], 4, "registry-tampered")


# -- refused registry operations leave the registry, the view and the audit log as they were -


@pytest.mark.parametrize("approvers", [(), ("carol",)], ids=["unsigned", "one-of-two"])
def test_publish_below_threshold_refused_and_registry_unchanged(ch: CliHome, approvers: tuple[str, ...]) -> None:
    proposal = revoke_proposal(ch, approvers=approvers)
    result = refused_and_unchanged(ch, ["registry", "publish", str(proposal)], 1, "threshold-not-met")
    assert "of 2 required signatures" in result.stderr


def test_proposal_edited_after_approval_refused_by_next_approver(ch: CliHome) -> None:
    proposal = revoke_proposal(ch, approvers=("carol",))
    proposal.write_text(
        proposal.read_text(encoding="utf-8").replace("CVE-2026-0001", "CVE-2026-0002"), encoding="utf-8"
    )
    refused_and_unchanged(ch, ["registry", "approve", str(proposal), "--key", "dave"], 3, "signature-invalid")


def test_proposal_edited_after_all_approvals_refused_at_publish(ch: CliHome) -> None:
    proposal = revoke_proposal(ch, approvers=("carol", "dave"))
    proposal.write_text(
        proposal.read_text(encoding="utf-8").replace("CVE-2026-0001", "CVE-2026-0002"), encoding="utf-8"
    )
    refused_and_unchanged(ch, ["registry", "publish", str(proposal)], 3, "signature-invalid")


def test_refresh_rollback_refused_and_view_kept(ch: CliHome) -> None:
    old_timestamp = (ch.repository / "metadata" / "timestamp.json").read_bytes()
    proposal = revoke_proposal(ch, approvers=("carol", "dave"))
    ch.run("registry", "publish", str(proposal))
    ch.run("registry", "refresh")
    (ch.repository / "metadata" / "timestamp.json").write_bytes(old_timestamp)
    refused_and_unchanged(ch, ["registry", "refresh"], 4, "registry-rollback")
    denied = run_cli(ch.home, "verify", str(ch.hello), *HELLO_ARGS)
    assert denied.returncode == 3 and denied.stderr.startswith("DENIED revoked: "), denied.stderr


def test_init_with_wrong_root_hash_refused_and_nothing_pinned(ch: CliHome, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh-home"
    fresh.mkdir()
    root = ch.repository / "metadata" / "1.root.json"
    result = run_cli(fresh, "init", "--root", str(root), "--root-sha256", "0" * 64, "--source", str(ch.repository))
    assert_refused(result, 4, "registry-tampered")
    assert list(fresh.iterdir()) == []


def test_proposal_never_overwritten(ch: CliHome) -> None:
    existing = ch.work / "hello.proposal.json"
    args = ["registry", "revoke", "tool", "acme/hello", "1.0.0", "--reason", "x", "--out", str(existing)]
    refused_and_unchanged(ch, args, 1, "invalid-argument")
