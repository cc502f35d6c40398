"""Real git repositories for the drift tests: init, write, commit, clone shallow.

Everything goes through the ``git`` binary with a fixed identity and no user or system
configuration, so the tests see what a CI checkout sees.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from sealgate.cli import main

_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Drift Test",
    "GIT_AUTHOR_EMAIL": "drift@example.invalid",
    "GIT_COMMITTER_NAME": "Drift Test",
    "GIT_COMMITTER_EMAIL": "drift@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_ENV)
    env["HOME"] = str(cwd)  # no ~/.gitconfig of the person running the tests
    proc = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env, check=False, timeout=60
    )
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


@dataclass
class Repo:
    root: Path

    @classmethod
    def create(cls, root: Path) -> Repo:
        root.mkdir(parents=True, exist_ok=True)
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "commit.gpgsign", "false")
        return cls(root)

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def commit(self, message: str = "change") -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.root, "rev-parse", "HEAD")


@dataclass
class Result:
    code: int
    out: str
    err: str


def drift(*args: str, home: Path | None = None) -> Result:
    """``sealgate [--home H] drift ARGS`` in-process through the console entry point."""
    out, err = StringIO(), StringIO()
    argv: Sequence[str] = [*(("--home", str(home)) if home is not None else ()), "drift", *args]
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())
