"""The bypass matrix of issue 3: every entry point x every attempt -> denied or contained, and audited.

Entry points: the Python API (``run_tool`` by name), the CLI by name (``sealgate run
NS/NAME@V``) and the CLI by local path (``sealgate run ./dir``), all against one real home
(TUF registry, signed policy, SQLite audit log) and the real bwrap sandbox. The MCP entry
point has its own matrix over a real MCP client session in tests/mcp/.

Each attempt presents a tool directory (the bytes an attacker controls: the store copy for
runs by name, the directory itself for runs by path) and says what must happen: a denial
with a reason code, audited as a decision; or a run that is contained (the sandbox stops
it), audited as an outcome linked to its decision.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sealgate.audit import open_audit_log
from sealgate.canonical import canonical_bytes
from sealgate.cli import main
from sealgate.errors import DeniedError, SandboxError
from sealgate.gate import Gate, GateRequest
from sealgate.tokens import VerifiedArtifact
from sealgate.tools import installed_path, run_tool
from sealgate.tools.manifest import compile_tool_dir
from tests.gatehome import GateHome, build_gate_home, make_tool, policy_yaml

pytestmark = pytest.mark.slow

# The machine's own name resolves to a loopback address (127.0.0.1 or 127.0.1.1 in /etc/hosts):
# a real name, through the real resolver, whose answer the egress proxy must refuse.
LOOPBACK_NAME = socket.gethostname().lower()
FETCH = "import urllib.request as u; u.urlopen('https://{host}/', timeout=5)"
SCRIPT = b'#!/bin/sh\necho "verified script says $1"\n'
ECHO = """
    name: acme/{short}
    version: 1.0.0
    description: echoes its input
    command: ["/bin/sh", "{{tool}}/run.sh", "{{input:text}}"]
    inputs:
      type: object
      properties:
        text: {{type: string}}
    files: [run.sh]
"""


def _manifest(short: str, body: str = "") -> str:
    base = textwrap.dedent(ECHO.format(short=short)) if not body else ""
    return base + textwrap.dedent(body).replace("{short}", short)


@dataclass
class Outcome:
    """What one attempt ended as, whatever the entry point."""

    denied: str | None  # reason code of a gate denial
    sandbox_error: str | None  # reason code of a sandbox refusal after the decision
    result: dict[str, Any] | None  # ToolRun.to_json() of a run that happened


@dataclass
class Attempt:
    short: str
    manifest: str
    inputs: dict[str, object]
    signers: tuple[tuple[str, str], ...] = (("alice", "author"), ("bob", "reviewer"))
    stage: str = "DEV"
    files: dict[str, tuple[int, bytes]] | None = None
    after_register: Callable[[GateHome, Path], None] | None = None  # changes the presented bytes
    environ: dict[str, str] | None = None
    compiled: dict[str, Any] | None = None  # a compiled manifest written by hand, registered unchecked


# -- the home and its tools ---------------------------------------------------------------


@pytest.fixture(scope="module")
def host_area() -> Iterator[Path]:
    """A host directory outside the sandbox's system directories, reachable by its uid (0755)."""
    base = Path("/srv") if os.geteuid() == 0 else Path.home()
    base.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="sealgate-matrix-", dir=base))
    path.chmod(0o755)
    (path / "data.txt").write_text("declared data\n")
    (path / "secret.txt").write_text("host secret\n")
    (path / "secret.txt").chmod(0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def listener() -> Iterator[int]:
    """A TCP listener on the host's 127.0.0.1 that a sandboxed tool must not reach."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def _tamper_script(gh: GateHome, tool: Path) -> None:
    (tool / "run.sh").write_bytes(SCRIPT.replace(b"verified", b"tampered"))


def _tamper_manifest(gh: GateHome, tool: Path) -> None:
    yaml = (tool / "sealgate-tool.yaml").read_text().replace('"/bin/sh"', '"/usr/bin/env", "/bin/sh"')
    (tool / "sealgate-tool.yaml").write_text(yaml)
    compile_tool_dir(tool)


def _revoke(gh: GateHome, tool: Path) -> None:
    name = "acme/" + tool.name.split("--")[0]
    gh.publish(gh.repo.propose_revoke("tool", name, "1.0.0", reason="CVE-2026-0002"))
    gh.refresh()


def _deprecate(gh: GateHome, tool: Path) -> None:
    name = "acme/" + tool.name.split("--")[0]
    gh.publish(gh.repo.propose_deprecate("tool", name, "1.0.0"))
    gh.refresh()


STRICT = (("alice", "author"), ("bob", "reviewer"), ("carol", "approver"), ("dave", "approver"))


def attempts(area: Path, port: int) -> dict[str, tuple[Attempt, str]]:
    """name -> (attempt, expectation): ``deny:<reason>``, ``sandbox:<reason>`` or ``contained:<what>``."""
    script = {"run.sh": (0o755, SCRIPT)}
    py = '["/usr/bin/python3", "-I", "-S", "-c", "{code}"]'
    return {
        "unsigned": (Attempt("unsigned", _manifest("unsigned"), {"text": "x"}, signers=(), files=script),
                     "deny:threshold-not-met"),
        "tampered-manifest": (Attempt("tmanifest", _manifest("tmanifest"), {"text": "x"}, files=script,
                                      after_register=_tamper_manifest), "deny:digest-mismatch"),
        "tampered-shipped-file": (Attempt("tfile", _manifest("tfile"), {"text": "x"}, files=script,
                                          after_register=_tamper_script), "deny:digest-mismatch"),
        "revoked": (Attempt("revoked", _manifest("revoked"), {"text": "x"}, files=script, after_register=_revoke),
                    "deny:revoked"),
        "deprecated-under-strict": (Attempt("deprecated", _manifest("deprecated"), {"text": "x"}, files=script,
                                            signers=STRICT, stage="PROD", after_register=_deprecate),
                                    "deny:deprecated"),
        "author-as-reviewer": (Attempt("selfreview", _manifest("selfreview"), {"text": "x"}, files=script,
                                       signers=(("alice", "author"), ("alice", "reviewer"))),
                               "deny:threshold-not-met"),
        "same-reviewer-twice": (Attempt("twice", _manifest("twice"), {"text": "x"}, files=script, stage="PROD",
                                        signers=(("alice", "author"), ("bob", "reviewer"), ("carol", "approver"),
                                                 ("carol", "approver"))), "deny:threshold-not-met"),
        "key-bound-to-other-namespace": (Attempt("evil", _manifest("evil"), {"text": "x"}, files=script,
                                                 signers=(("eve", "author"), ("bob", "reviewer"))),
                                         "deny:key-not-bound-to-role"),
        "tainted-input-into-shell-string": (Attempt("shellish", _manifest("shellish", """
            name: acme/{short}
            version: 1.0.0
            description: runs code
            command: ["/bin/sh", "-c", "{input:code}"]
            inputs: {type: object, properties: {code: {type: string}}}
        """), {"code": "echo hi"}), "deny:check-denied"),
        "ld-preload-in-env": (Attempt("preload", _manifest("preload", """
            name: acme/{short}
            version: 1.0.0
            description: declares LD_PRELOAD
            command: ["/bin/true"]
            env: [LD_PRELOAD]
        """), {}, environ={"LD_PRELOAD": "/tmp/evil.so"}), "deny:check-denied"),
        "allow-listed-name-resolving-to-loopback": (Attempt("loopback", _manifest("loopback", f"""
            name: acme/{{short}}
            version: 1.0.0
            description: allow-lists this host's own name, which resolves to 127.0.0.1
            command: {py.format(code=FETCH.format(host=LOOPBACK_NAME))}
            network: {{allow: [{LOOPBACK_NAME}]}}
        """), {}), "contained:proxy"),
        "allow-listed-metadata-name": (Attempt("metadata", _manifest("metadata", """
            name: acme/{short}
            version: 1.0.0
            description: allow-lists the metadata endpoint's name
            command: ["/bin/true"]
            network: {allow: [metadata.google.internal]}
        """), {}), "deny:check-denied"),
        "allow-listed-metadata-address": (Attempt("metaddr", "", {}, compiled={
            "_type": "sealgate/tool-manifest/v1", "name": "acme/metaddr", "version": "1.0.0",
            "description": "a hand-written compiled manifest allow-listing the metadata address",
            "command": ["/bin/true"], "network": {"allow": ["169.254.169.254"]},
        }), "deny:malformed-input"),
        "fork-bomb": (Attempt("forkbomb", _manifest("forkbomb", """
            name: acme/{short}
            version: 1.0.0
            description: a fork bomb
            shell: true
            command: ":(){ :|:& };:"
        """), {}), "deny:check-denied"),
        "undeclared-network-use": (Attempt("netuse", _manifest("netuse", f"""
            name: acme/{{short}}
            version: 1.0.0
            description: connects to the host
            command: {py.format(code=f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)")}
        """), {}), "contained:network"),
        "write-outside-declared-paths": (Attempt("writer", _manifest("writer", f"""
            name: acme/{{short}}
            version: 1.0.0
            description: writes next to its declared file
            command: {py.format(code="open('" + str(area) + "/planted.txt', 'w').write('x')")}
            filesystem: {{read: ["{area}/data.txt"]}}
        """), {}), "contained:write"),
        "memory-hog": (Attempt("hog", _manifest("hog", """
            name: acme/{short}
            version: 1.0.0
            description: allocates a GiB
            command: ["/usr/bin/python3", "-I", "-S", "-c", "b = bytearray(1 << 30)"]
            resources: {memory_mib: 64}
        """), {}), "contained:memory"),
        "endless-output": (Attempt("yes", _manifest("yes", """
            name: acme/{short}
            version: 1.0.0
            description: never stops talking
            command: ["/usr/bin/yes"]
            resources: {output_bytes: 65536}
        """), {}), "contained:output"),
        "sleep-past-timeout": (Attempt("sleeper", _manifest("sleeper", """
            name: acme/{short}
            version: 1.0.0
            description: sleeps too long
            command: ["/bin/sleep", "20"]
            resources: {wall_seconds: 1}
        """), {}), "contained:timeout"),
        "file-swapped-after-verification": (Attempt("swapped", _manifest("swapped"), {"text": "x"}, files=script),
                                            "contained:swap"),
        "symlink-planted-after-verification": (Attempt("planted", _manifest("planted", f"""
            name: acme/{{short}}
            version: 1.0.0
            description: reads its declared file
            command: ["/bin/cat", "{area}/data.txt"]
            filesystem: {{read: ["{area}/data.txt"]}}
        """), {}), "sandbox:invalid-argument"),
    }  # fmt: skip


@dataclass
class Matrix:
    gh: GateHome
    area: Path
    cells: dict[str, tuple[Attempt, str]]
    sources: dict[str, Path]  # the registered directory of each attempt


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory, host_area: Path, listener: int) -> Matrix:
    root = tmp_path_factory.mktemp("matrix")
    gh = build_gate_home(root / "home")
    # alice may be author and reviewer: one principal still counts for one role only.
    both = b"{principal: alice, roles: [author, reviewer]"
    gh.set_policy(policy_yaml(gh.keys).replace(b"{principal: alice, roles: [author]", both))
    cells = attempts(host_area, listener)
    sources: dict[str, Path] = {}
    for key, (attempt, _) in cells.items():
        tool = make_tool(root / "src", attempt.manifest, attempt.files)
        final = tool.with_name(f"{attempt.short}--src")
        tool.rename(final)
        if attempt.compiled is not None:
            (final / "sealgate-tool.yaml").unlink()
            (final / "sealgate-tool.json").write_bytes(canonical_bytes(attempt.compiled))
        gh.register_tool(final, signers=attempt.signers, stage=attempt.stage, compile=attempt.compiled is None)
        if attempt.after_register is not None:
            attempt.after_register(gh, final)
        sources[key] = final
    return Matrix(gh, host_area, cells, sources)


# -- the entry points ---------------------------------------------------------------------


def _present(m: Matrix, key: str, tmp: Path, by_path: bool) -> tuple[str, Path]:
    """Put the attempt's bytes where the entry point reads them; return (ref, the directory read)."""
    attempt = m.cells[key][0]
    source = m.sources[key]
    name = f"acme/{attempt.short}"
    if by_path:
        local = tmp / f"{attempt.short}-local"
        shutil.copytree(source, local)
        return str(local), local
    store = installed_path(m.gh.home, name, "1.0.0")
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(source, store)  # the attacker may write the store: the gate re-verifies it
    return f"{name}@1.0.0", store


def via_api(m: Matrix, ref: str, inputs: dict[str, object]) -> Outcome:
    target: str | Path = Path(ref) if ref.startswith("/") else ref
    try:
        result = run_tool(target, inputs=inputs, taint="llm_output", home=m.gh.home)
    except DeniedError as denied:
        return Outcome(denied.reason.value, None, None)
    except SandboxError as exc:
        return Outcome(None, exc.reason.value, None)
    return Outcome(None, None, result.to_json())


def via_cli(m: Matrix, ref: str, inputs: dict[str, object], capsys: pytest.CaptureFixture[str]) -> Outcome:
    args = ["--home", str(m.gh.root), "run", ref, "--no-confirm", "--json"]
    for k, v in inputs.items():
        args += ["--input", f"{k}={v}"]
    capsys.readouterr()
    code = main(args)
    out = capsys.readouterr()
    if code == 3:
        return Outcome(json.loads(out.out)["reason"], None, None)
    if out.out.strip().startswith("{"):
        return Outcome(None, None, json.loads(out.out))
    line = out.err.strip().splitlines()[-1]
    assert line.startswith("sealgate: "), out.err
    return Outcome(None, line.split(": ")[1], None)


ENTRY_POINTS = ["api", "cli-name", "cli-path"]


def _records(home: Path) -> list[dict[str, Any]]:
    log = open_audit_log(home, None)
    try:
        size = log.size()
        return [json.loads(r) for r in log.records(0, size)] if size else []
    finally:
        log.close()


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("attempt", sorted(attempts(Path("/x"), 1)))
def test_bypass_attempt_is_denied_or_contained_and_audited(
    matrix: Matrix,
    entry: str,
    attempt: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cell, expect = matrix.cells[attempt]
    ref, presented = _present(matrix, attempt, tmp_path, by_path=entry == "cli-path")
    for name, value in (cell.environ or {}).items():
        monkeypatch.setenv(name, value)
    if attempt == "file-swapped-after-verification":
        _swap_after_verification(monkeypatch, presented)
    if attempt == "symlink-planted-after-verification":
        _plant_after_verification(monkeypatch, matrix.area)
    before = len(_records(matrix.gh.root))

    outcome = via_api(matrix, ref, cell.inputs) if entry == "api" else via_cli(matrix, ref, cell.inputs, capsys)

    records = _records(matrix.gh.root)[before:]
    kind, _, what = expect.partition(":")
    if kind == "deny":
        assert outcome.denied == what, outcome
        assert [r["reason"] for r in records] == [what]
        assert records[0]["decision"] == "deny" and records[0]["subject"]["name"] == f"acme/{cell.short}"
        return
    # Allowed by the gate, then refused by the sandbox or contained by it: decision + outcome.
    assert [r.get("decision", r["_type"]) for r in records] == ["allow", "sealgate/outcome/v1"], records
    assert records[1]["decision_index"] == before
    if kind == "sandbox":
        assert outcome.sandbox_error == what, outcome
        assert records[1]["outcome"]["error"]["reason"] == what
        return
    result = outcome.result
    assert result is not None, outcome
    assert records[1]["outcome"]["exit_code"] == result["exit_code"]
    _assert_contained(what, result, matrix.area)


def _assert_contained(what: str, result: dict[str, Any], area: Path) -> None:
    if what == "network":
        # Only the sandbox's own loopback exists: the host's listener is not there.
        assert result["exit_code"] != 0, result
        assert "Connection refused" in result["stderr"] or "Network is unreachable" in result["stderr"], result
    elif what == "proxy":
        # The tool's HTTPS request went to the egress proxy, which resolved the allow-listed
        # name itself and refused its loopback answer: the tool fails, nothing is reached.
        assert result["exit_code"] != 0 and "403" in result["stderr"], result
    elif what == "write":
        assert result["exit_code"] != 0, result
        assert "Read-only file system" in result["stderr"] or "No such file" in result["stderr"], result
        assert not (area / "planted.txt").exists()
    elif what == "memory":
        assert result["exit_code"] != 0 and "MemoryError" in result["stderr"], result
    elif what == "output":
        assert result["killed_reason"] == "output-limit" and result["stdout_truncated"], result
        assert len(result["stdout"]) <= 65536
    elif what == "timeout":
        assert result["timed_out"] and result["killed_reason"] == "wall-timeout" and result["duration_ms"] < 10_000
    elif what == "swap":
        # The sandbox ran the verified bytes, not the ones swapped in after the decision.
        assert result["exit_code"] == 0 and result["stdout"] == "verified script says x\n", result
    else:  # pragma: no cover - a typo in the table
        raise AssertionError(what)


def _swap_after_verification(monkeypatch: pytest.MonkeyPatch, presented: Path) -> None:
    real = Gate.verify

    def verify_then_swap(self: Gate, request: GateRequest) -> VerifiedArtifact:
        token = real(self, request)
        (presented / "run.sh").write_bytes(b"#!/bin/sh\necho swapped in after verification\n")
        return token

    monkeypatch.setattr(Gate, "verify", verify_then_swap)


def _plant_after_verification(monkeypatch: pytest.MonkeyPatch, area: Path) -> None:
    real = Gate.verify

    def verify_then_plant(self: Gate, request: GateRequest) -> VerifiedArtifact:
        token = real(self, request)
        declared = area / "data.txt"
        declared.unlink()
        declared.symlink_to(area / "secret.txt")
        return token

    monkeypatch.setattr(Gate, "verify", verify_then_plant)


def _restore(area: Path) -> None:
    declared = area / "data.txt"
    if declared.is_symlink():
        declared.unlink()
        declared.write_text("declared data\n")


@pytest.fixture(autouse=True)
def _declared_file_restored(host_area: Path) -> Iterator[None]:
    yield
    _restore(host_area)


def test_override_under_a_production_policy_is_refused_and_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gh = build_gate_home(tmp_path / "home", environment="production")
    tool = make_tool(tmp_path / "src", _manifest("unsigned"), {"run.sh": (0o755, SCRIPT)})
    gh.register_tool(tool, signers=())
    monkeypatch.setenv("SEALGATE_ALLOW_UNSIGNED", "1")
    for entry in ENTRY_POINTS:
        ref = str(tool) if entry == "cli-path" else "acme/unsigned@1.0.0"
        m = Matrix(gh, tmp_path, {}, {})
        outcome = via_api(m, ref, {"text": "x"}) if entry == "api" else via_cli(m, ref, {"text": "x"}, capsys)
        assert outcome.denied == "override-refused", (entry, outcome)
        last = _records(gh.root)[-1]
        assert (last["decision"], last["reason"], last["severity"]) == ("deny", "override-refused", "critical")
