"""Fixtures for the runner tests: a real gate token, and helpers to run code in the real sandbox.

Every test here runs real bwrap with the real seccomp filter and real processes; nothing
about the sandbox is faked. The token comes from the real gate over a real registry
(tests/gatehome.py), because the runner accepts nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from sealgate.gate import GateRequest
from sealgate.runner import HostPath, Limits, RunResult, SandboxSpec, run_sandboxed
from sealgate.tokens import VerifiedArtifact
from tests.gatehome import GateHome, build_gate_home

PYTHON = "/usr/bin/python3"  # the system interpreter: /usr is bound, pyenv/venv homes are not (bwrap.md)
TOOL_SCRIPT = b"#!/bin/sh\necho verified-tool-bytes\n"


def py(code: str, *args: str) -> list[str]:
    """argv running ``code`` with the system python inside the sandbox."""
    return [PYTHON, "-I", "-S", "-c", code, *args]


@pytest.fixture(scope="session")
def gate_home(tmp_path_factory: pytest.TempPathFactory) -> GateHome:
    return build_gate_home(tmp_path_factory.mktemp("runner-gate") / "home")


@pytest.fixture(scope="session")
def tool_path(gate_home: GateHome) -> Path:
    return gate_home.register("acme/sandboxed", "1.0.0", TOOL_SCRIPT)


@pytest.fixture(scope="session")
def token(gate_home: GateHome, tool_path: Path) -> VerifiedArtifact:
    gate = gate_home.gate()
    try:
        return gate.verify(GateRequest(kind="tool", name="acme/sandboxed", version="1.0.0", path=tool_path))
    finally:
        gate.close()


class Sandbox:
    """Runs specs for the session's token; ``production=True`` unless a test says otherwise."""

    def __init__(self, token: VerifiedArtifact) -> None:
        self.token = token

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[int, bytes]] | None = None,
        host_paths: Sequence[HostPath] = (),
        limits: Limits | None = None,
        backend: str = "bwrap",
        production: bool = True,
        network: str | Sequence[str] = "none",
    ) -> RunResult:
        spec = SandboxSpec(
            argv, env=env or {}, files=files or {}, host_paths=host_paths, limits=limits or Limits(), network=network
        )
        with spec:
            return run_sandboxed(self.token, spec, backend=backend, production=production)

    def json(self, code: str, *args: str, **kw: Any) -> Any:
        """Run python ``code`` that prints one JSON document; return it (the run must exit 0)."""
        result = self.run(py(code, *args), **kw)
        assert result.exit_code == 0, result.stderr.decode(errors="replace")
        return json.loads(result.stdout)


@pytest.fixture
def sandbox(token: VerifiedArtifact) -> Sandbox:
    return Sandbox(token)


def processes_with(marker: bytes) -> list[int]:
    """Host pids whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry))
    return found


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A host directory the sandbox's uid can reach (mode 0755 up to /tmp).

    pytest's ``tmp_path`` lives under a 0700 directory; a root caller's sandbox runs as uid
    65534 (docs/sandbox.md "Who runs the sandbox") and could not reach a path below it.
    """
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="sealgate-test-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def session_tempdir() -> Iterator[Path]:
    """A temp directory of this session's own for the runner's work and egress directories.

    Other test sessions on the same machine create ``sealgate-job-*`` directories in /tmp
    at the same time; with a directory of its own, ``no_job_dirs_left`` sees only this
    session's. Mode 0755: a root caller's sandbox runs as uid 65534 and must reach it.
    """
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="sealgate-runner-tests-", dir="/tmp"))
    base.chmod(0o755)
    previous, tempfile.tempdir = tempfile.tempdir, str(base)
    try:
        yield base
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def no_job_dirs_left() -> Iterator[None]:
    """Assert the runner deleted every work directory (and egress proxy socket directory) it created."""
    import tempfile

    base = Path(tempfile.gettempdir())
    patterns = ("sealgate-job-*", "sealgate-egress-*")
    before = {p.name for pattern in patterns for p in base.glob(pattern)}
    yield
    after = {p.name for pattern in patterns for p in base.glob(pattern)}
    assert after <= before, f"work directories left behind: {sorted(after - before)}"
