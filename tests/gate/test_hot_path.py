"""The verify process stays import-light: a heavy import here costs every execution."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.gatehome import GateHome, build_gate_home, make_tool

BANNED = ("yaml", "tuf", "securesystemslib", "jsonschema", "pydantic", "psycopg", "mcp", "fastapi", "sqlalchemy",
          "click", "rich", "rfc8785", "dataclasses", "inspect", "urllib3", "bashlex")  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> GateHome:
    return build_gate_home(tmp_path_factory.mktemp("hot") / "home")


def _verify_importtime(home: GateHome, artifact: Path, version: str) -> tuple[int, set[str], str]:
    argv = ["--home", str(home.root), "verify", str(artifact), "--kind", "tool", "--name", "acme/hello",
            "--version", version, "--json"]  # fmt: skip
    code = f"import sys; from sealgate._entry import main; sys.exit(main({argv!r}))"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return proc.returncode, modules, proc.stdout


HELLO = """
    name: acme/hello
    version: 1.0.0
    description: says hi
    command: ["/bin/sh", "{tool}/hi.sh"]
    files: [hi.sh]
"""


def test_verify_process_imports_no_heavy_module_when_allowed(home: GateHome, tmp_path: Path) -> None:
    # A tool is verified with its manifest and the analysers (an argv command: no bashlex either).
    artifact = make_tool(tmp_path, HELLO, {"hi.sh": (0o755, b"echo hi\n")})
    home.register_tool(artifact)
    rc, modules, stdout = _verify_importtime(home, artifact, "1.0.0")
    assert rc == 0, stdout
    assert '"allowed": true' in stdout
    assert not modules & set(BANNED), sorted(modules & set(BANNED))


def test_verify_process_imports_no_heavy_module_when_denied(home: GateHome, tmp_path: Path) -> None:
    stray = tmp_path / "stray"
    stray.write_bytes(b"not registered")
    rc, modules, stdout = _verify_importtime(home, stray, "9.9.9")
    assert rc == 3
    assert '"reason": "not-registered"' in stdout
    assert not modules & set(BANNED), sorted(modules & set(BANNED))
