"""A sealgate home built by driving the real CLI, for the CLI tests.

One ``SEALGATE_HOME`` plays the registry host, every signer and the gate host (the embedded
default), so a test can run any command against it. Everything is done with ``sealgate``
commands in-process through :func:`sealgate.cli.main`, the console script's own entry point:
keys (encrypted), a trust policy, ``registry init`` approved by root and both publication
keys, a ``tools/acme`` namespace, the root pinned by hash, ``acme/hello@1.0.0`` signed by
its author and reviewer, proposed, approved and published, one allowed ``verify`` and one
signed audit checkpoint.

The layout of a built base directory::

    BASE/home/        SEALGATE_HOME
    BASE/work/        policy.yaml, hello.sh (+ .statements.json), proposals carried by hand

Building takes about a second; tests copy a template with :func:`copy_cli_home`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from sealgate.canonical import canonical_bytes

PASSPHRASE = "correct horse battery staple, cli tests"

# Who signs what: two approvers also hold the publication (top-level targets) keys.
PEOPLE = {"alice": "author", "bob": "reviewer", "carol": "approver", "dave": "approver"}
PUBLICATION_KEYS = ("carol", "dave")
HOST_KEYS = ("root", "snapshot", "timestamp", "audit-log")

HELLO = b"#!/bin/sh\necho 'hello from a sealed tool'\n"
HELLO_MANIFEST = """name: {name}
version: {version}
description: The CLI tests' sample tool.
command: ["/bin/sh", "{{tool}}/hello.sh"]
files: [hello.sh]
"""
HELLO_ARGS = ("--kind", "tool", "--name", "acme/hello", "--version", "1.0.0")

POLICY_TEMPLATE = """_type: sealgate/trust-policy/v1
environment: development
principals:
{principals}
bindings:
  - {{principal: alice, roles: [author], namespaces: ["tools/acme"]}}
  - {{principal: bob, roles: [reviewer], namespaces: ["tools/*"]}}
  - {{principal: carol, roles: [approver], namespaces: ["tools/*"]}}
  - {{principal: dave, roles: [approver], namespaces: ["tools/*"]}}
levels:
  default: standard
  rules:
    - {{stage: PROD, level: strict}}
requirements:
  standard: {{roles: {{author: 1, reviewer: 1}}, allow_deprecated: true, deny_from: high}}
  strict: {{roles: {{author: 1, reviewer: 1, approver: 2}}, allow_deprecated: false, deny_from: medium}}
max_staleness: 86400
"""

# The variables a caller's environment might carry that would change what a command does.
SEALGATE_VARIABLES = ("SEALGATE_HOME", "SEALGATE_DATABASE_URL", "SEALGATE_KEY_PASSPHRASE", "SEALGATE_ALLOW_UNSIGNED")


class CliFailed(AssertionError):
    """A CLI step exited with another code than the one expected."""


@dataclass(frozen=True)
class CliHome:
    base: Path

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def work(self) -> Path:
        return self.base / "work"

    @property
    def keys(self) -> Path:
        return self.home / "keys"

    @property
    def repository(self) -> Path:
        return self.home / "repository"

    @property
    def trust(self) -> Path:
        return self.home / "trust"

    @property
    def audit_db(self) -> Path:
        return self.home / "audit.db"

    @property
    def hello(self) -> Path:
        """The sample tool directory (manifest and ``hello.sh``), compiled."""
        return self.work / "hello"

    def run(self, *args: str, expect: int = 0) -> str:
        """Run ``sealgate --home HOME ARGS`` in-process (test passphrase set); return stdout, check the exit code."""
        with sealgate_environment():
            return run_in_process(["--home", str(self.home), *args], expect=expect)

    def approve_and_publish(self, proposal: Path, signers: tuple[str, ...] = PUBLICATION_KEYS) -> None:
        for who in signers:
            self.run("registry", "approve", str(proposal), "--key", who)
        self.run("registry", "publish", str(proposal))


@contextmanager
def sealgate_environment(passphrase: str | None = PASSPHRASE) -> Iterator[None]:
    """Set the variables of :data:`SEALGATE_VARIABLES` for in-process runs, then restore them."""
    saved = {k: os.environ.get(k) for k in SEALGATE_VARIABLES}
    for key in SEALGATE_VARIABLES:
        os.environ.pop(key, None)
    if passphrase is not None:
        os.environ["SEALGATE_KEY_PASSPHRASE"] = passphrase
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_in_process(argv: list[str], *, expect: int = 0) -> str:
    from sealgate.cli import main

    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    if code != expect:
        raise CliFailed(f"`sealgate {' '.join(argv)}` exited {code}, expected {expect}\n{err.getvalue()}")
    return out.getvalue()


def _policy_yaml(keys: Path) -> str:
    blocks = []
    for person in PEOPLE:
        pem = (keys / f"{person}.pub").read_text(encoding="ascii").strip()
        blocks.append(f"  {person}:\n    keys:\n      - |\n" + "\n".join("        " + ln for ln in pem.splitlines()))
    return POLICY_TEMPLATE.format(principals="\n".join(blocks))


def build_cli_home(base: Path) -> CliHome:
    """Build a complete home under ``base`` with the CLI (see the module docstring)."""
    ch = CliHome(base)
    ch.work.mkdir(parents=True)
    with sealgate_environment():
        for name in HOST_KEYS:
            ch.run("key", "generate", name)
        for person in PEOPLE:
            ch.run("key", "generate", person, *(["--type", "ecdsa-p256"] if person == "bob" else []))
        policy = ch.work / "policy.yaml"
        policy.write_text(_policy_yaml(ch.keys), encoding="utf-8")

        init = ch.work / "init.proposal.json"
        ch.run("registry", "init", "--policy", str(policy), "--root-key", "root", "--root-threshold", "1",
               "--targets-key", "carol", "--targets-key", "dave", "--threshold", "2",
               "--snapshot-key", "snapshot", "--timestamp-key", "timestamp", "--out", str(init))  # fmt: skip
        ch.approve_and_publish(init, ("root", *PUBLICATION_KEYS))
        namespace = ch.work / "namespace.proposal.json"
        ch.run("registry", "namespace", "tools/acme", "--key", "carol", "--key", "dave", "--threshold", "2",
               "--bits", "1", "--out", str(namespace))  # fmt: skip
        ch.approve_and_publish(namespace)

        root = ch.repository / "metadata" / "1.root.json"
        digest = hashlib.sha256(root.read_bytes()).hexdigest()
        ch.run("init", "--root", str(root), "--root-sha256", digest, "--source", str(ch.repository))

        write_hello(ch.hello)
        ch.run("tool", "compile", str(ch.hello))
        for person in ("alice", "bob"):
            ch.run("sign", str(ch.hello), *HELLO_ARGS, "--role", PEOPLE[person], "--key", person)
        hello = ch.work / "hello.proposal.json"
        ch.run("registry", "propose", str(ch.hello), *HELLO_ARGS, "--stage", "DEV", "--out", str(hello))
        ch.approve_and_publish(hello)
        ch.run("registry", "refresh")
        ch.run("verify", str(ch.hello), *HELLO_ARGS)
        ch.run("audit", "checkpoint")
    return ch


def write_hello(path: Path, *, name: str = "acme/hello", version: str = "1.0.0", script: bytes = HELLO) -> Path:
    """Write a tool like the sample one (not compiled) into the directory ``path``; return ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "sealgate-tool.yaml").write_text(HELLO_MANIFEST.format(name=name, version=version), encoding="utf-8")
    (path / "hello.sh").write_bytes(script)
    (path / "hello.sh").chmod(0o755)
    return path


def copy_cli_home(template: CliHome, dest: Path) -> CliHome:
    """Copy a built home; point the copy's remembered registry source at its own repository.

    ``trust/source.json`` holds the absolute path given to ``sealgate init``; without this a
    refresh in the copy would read the template's repository.
    """
    shutil.copytree(template.base, dest, symlinks=True)
    ch = CliHome(dest)
    (ch.trust / "source.json").write_bytes(canonical_bytes({"source": str(ch.repository)}))
    return ch


def tree_state(*roots: Path) -> Mapping[str, str]:
    """Every file and symlink under ``roots`` -> its SHA-256 (or link target): "nothing changed" checks."""
    state: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            state[str(root)] = "absent"
            continue
        if root.is_file():
            state[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in sorted(dirnames + filenames):
                path = Path(dirpath) / name
                if path.is_symlink():
                    state[str(path)] = "-> " + os.readlink(path)
                elif path.is_file():
                    state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
                else:
                    state[str(path)] = "dir"
    return state


# -- subprocesses of the console script -------------------------------------------------------

# The console script installed next to this interpreter: what a shell runs.
SEALGATE = Path(sys.executable).with_name("sealgate")

ERROR_LINE = re.compile(r"^sealgate: (?P<reason>[a-z][a-z-]*): (?P<sentence>\S.*)$", re.MULTILINE)


def run_cli(
    home: Path,
    *args: str,
    passphrase: str | None = PASSPHRASE,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``sealgate ARGS`` as a process with ``SEALGATE_HOME=home``, no terminal on stdin."""
    environ = {k: v for k, v in os.environ.items() if k not in SEALGATE_VARIABLES}
    environ["SEALGATE_HOME"] = str(home)
    if passphrase is not None:
        environ["SEALGATE_KEY_PASSPHRASE"] = passphrase
    environ.update(env or {})
    return subprocess.run(
        [str(SEALGATE), *args],
        env=environ,
        cwd=home.parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def assert_refused(result: subprocess.CompletedProcess[str], code: int, reason: str) -> re.Match[str]:
    """The documented failure: exit ``code``, one ``sealgate: REASON: sentence`` line, no result, no traceback."""
    assert_no_traceback(result)
    assert result.returncode == code, f"exit {result.returncode}, expected {code}\n{result.stderr}"
    lines = list(ERROR_LINE.finditer(result.stderr))
    assert len(lines) == 1, f"expected one `sealgate: <reason>: <sentence>` line on stderr:\n{result.stderr}"
    assert lines[0]["reason"] == reason, result.stderr
    assert result.stdout == "", f"a failed command printed a result: {result.stdout!r}"
    return lines[0]


def assert_usage_error(result: subprocess.CompletedProcess[str]) -> None:
    """Exit 2 with click's usage message; nothing on stdout, no traceback."""
    assert_no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert "Usage: sealgate" in result.stderr and "Error: " in result.stderr, result.stderr
    assert result.stdout == ""


def changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Paths added, removed or changed between two :func:`tree_state` snapshots."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def refused_and_unchanged(
    ch: CliHome,
    args: Sequence[str],
    code: int,
    reason: str,
    *,
    passphrase: str | None = PASSPHRASE,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command that must fail; check the failure and that no file under BASE changed."""
    before = tree_state(ch.base)
    result = run_cli(ch.home, *args, passphrase=passphrase, env=env)
    assert_refused(result, code, reason)
    assert changes(before, tree_state(ch.base)) == [], "a refused command wrote something"
    return result
