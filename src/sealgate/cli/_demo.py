"""``sealgate demo``: the whole flow, through the real CLI, in a throwaway set of homes.

Every step runs an actual ``sealgate`` command in-process (the same code path as a shell)
and checks its exit code, so the demo doubles as an end-to-end test of the product. Each
person has their own ``SEALGATE_HOME``; proposals travel between homes as files.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from io import StringIO
from pathlib import Path

import click

from sealgate.errors import ExitCode, SealgateError

PEOPLE = {
    "alice": "author",
    "bob": "reviewer",
    "carol": "approver (and publication key)",
    "dave": "approver (and publication key)",
}

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
    - {{stage: STAGE, level: strict}}
    - {{stage: PROD, level: strict}}
requirements:
  standard: {{roles: {{author: 1, reviewer: 1}}, allow_deprecated: true, deny_from: high}}
  strict: {{roles: {{author: 1, reviewer: 1, approver: 2}}, allow_deprecated: false, deny_from: medium}}
max_staleness: 86400
"""

ARTIFACT = b'#!/bin/sh\n# hello: the sample tool of the sealgate demo\necho "hello $1, from a sealed tool"\n'
MANIFEST = """name: {name}
version: {version}
description: The sample tool of the sealgate demo.
command: ["/bin/sh", "{{tool}}/hello.sh", "{{input:who}}"]
inputs:
  type: object
  properties:
    who: {{type: string, maxLength: 200}}
  required: [who]
files: [hello.sh]
resources: {{wall_seconds: 5, memory_mib: 128}}
"""


class DemoFailed(SealgateError):
    """A demo step did not end as expected."""


class _Demo:
    def __init__(self, base: Path) -> None:
        from rich.console import Console

        self.base = base
        self.console = Console(highlight=False)
        self.homes = {name: base / name for name in ("registry", *PEOPLE)}
        self.step_no = 0

    # -- output and running -------------------------------------------------------------

    def step(self, title: str, explanation: str) -> None:
        self.step_no += 1
        self.console.rule(f"[bold]{self.step_no}. {title}")
        self.console.print(f"[dim]{explanation}[/dim]")

    def run(self, who: str, args: Sequence[str], *, expect: int = 0, quiet: bool = False) -> str:
        from sealgate.cli import main

        shown = " ".join(a if " " not in a else repr(a) for a in args)
        self.console.print(f"[cyan]{who}$[/cyan] sealgate {shown}")
        out = StringIO()
        with redirect_stdout(out):
            code = main(["--home", str(self.homes[who]), *args])
        text = out.getvalue()
        if text.strip() and not quiet:
            self.console.print(text.rstrip(), markup=False, highlight=False)
        if code != expect:
            raise DemoFailed(f"demo step `sealgate {shown}` exited {code}, expected {expect}")
        verdict = {0: "[green]ok[/green]", 3: "[red]denied (exit 3)[/red]", 4: "[red]integrity failure (exit 4)[/red]"}
        self.console.print(f"   -> {verdict.get(code, f'exit {code}')}")
        return text

    def send(self, proposal: Path, to: str) -> Path:
        """Carry a proposal file to another person's home, as e-mail or a ticket would."""
        inbox = self.homes[to] / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(proposal, inbox / proposal.name))

    def approve_everywhere(self, proposal: Path, signers: Sequence[str]) -> None:
        for who in signers:
            copy = self.send(proposal, who)
            self.run(who, ["registry", "approve", str(copy), "--key", who], quiet=True)
            shutil.copy2(copy, proposal)  # the signed copy comes back to the registry host

    def propose(self, args: Sequence[str]) -> Path:
        return Path(self.run("registry", [*args, "--out", str(self._next_proposal())]).strip())

    def _next_proposal(self) -> Path:
        return self.homes["registry"] / "proposals" / f"{self.step_no:02d}-{secrets.token_hex(3)}.proposal.json"

    # -- the story ---------------------------------------------------------------------

    def keys(self) -> None:
        self.step(
            "Keys",
            "Everyone generates their own key in their own home (encrypted PKCS#8). The registry host "
            "holds the root key, the online snapshot/timestamp keys and the audit checkpoint key.",
        )
        for name in ("root", "snapshot", "timestamp", "audit-log"):
            self.run("registry", ["key", "generate", name], quiet=True)
        for person in PEOPLE:
            self.run(person, ["key", "generate", person, *(["--type", "ecdsa-p256"] if person == "bob" else [])])
            # Public keys travel to the registry host (out of band, like any key exchange).
            shutil.copy2(self.homes[person] / "keys" / f"{person}.pub", self.homes["registry"] / "keys")
        self.run("registry", ["key", "list"])

    def policy(self) -> Path:
        pubs = []
        for person in PEOPLE:
            pem = (self.homes["registry"] / "keys" / f"{person}.pub").read_text().strip()
            pubs.append(f"  {person}:\n    keys:\n      - |\n" + "\n".join("        " + ln for ln in pem.splitlines()))
        path = self.base / "policy.yaml"
        path.write_text(POLICY_TEMPLATE.format(principals="\n".join(pubs)), encoding="utf-8")
        return path

    def init_registry(self) -> None:
        policy = self.policy()
        self.step(
            "A registry needing two of two publication keys",
            "The trust policy binds alice as author, bob as reviewer, carol and dave as approvers; "
            "STAGE and PROD artifacts need all four distinct people. Carol and dave hold the "
            "publication keys (threshold 2): the registry host alone cannot publish anything.",
        )
        proposal = self.propose(
            ["registry", "init", "--policy", str(policy), "--root-key", "root", "--root-threshold", "1",
             "--targets-key", "carol", "--targets-key", "dave", "--threshold", "2",
             "--snapshot-key", "snapshot", "--timestamp-key", "timestamp"]
        )  # fmt: skip
        self.run("registry", ["registry", "approve", str(proposal), "--key", "root"], quiet=True)
        self.run("registry", ["registry", "publish", str(proposal)], expect=int(ExitCode.ERROR))
        self.console.print("   [dim](refused: the publication threshold is not met yet)[/dim]")
        self.approve_everywhere(proposal, ["carol", "dave"])
        self.run("registry", ["registry", "publish", str(proposal)])
        ns = self.propose(
            ["registry", "namespace", "tools/acme", "--key", "carol", "--key", "dave", "--threshold", "2"]
        )
        self.approve_everywhere(ns, ["carol", "dave"])
        self.run("registry", ["registry", "publish", str(ns)])

    def pin(self) -> None:
        self.step(
            "The gate host pins the root by its hash",
            "A new host never trusts the first root it downloads: the root's SHA-256 comes out of band.",
        )
        import hashlib

        root = self.homes["registry"] / "repository" / "metadata" / "1.root.json"
        digest = hashlib.sha256(root.read_bytes()).hexdigest()
        source = str(self.homes["registry"] / "repository")
        self.run("registry", ["init", "--root", str(root), "--root-sha256", "0" * 64, "--source", source],
                 expect=int(ExitCode.INTEGRITY))  # fmt: skip
        self.console.print("   [dim](a root with the wrong hash is refused)[/dim]")
        self.run("registry", ["init", "--root", str(root), "--root-sha256", digest, "--source", source])

    def tool_dir(self, name: str, version: str, content: bytes) -> Path:
        """A tool directory: the manifest people write and the script it ships."""
        artifact = self.base / "artifacts" / f"{name.replace('/', '-')}-{version}"
        artifact.mkdir(parents=True)
        (artifact / "sealgate-tool.yaml").write_text(MANIFEST.format(name=name, version=version), encoding="utf-8")
        (artifact / "hello.sh").write_bytes(content)
        (artifact / "hello.sh").chmod(0o755)
        return artifact

    def sign_and_publish(self, name: str, version: str, content: bytes, signers: Sequence[str], stage: str) -> Path:
        artifact = self.tool_dir(name, version, content)
        self.run("registry", ["tool", "compile", str(artifact)], quiet=True)
        for who in signers:
            self.run(who, ["tool", "sign", str(artifact), "--role", PEOPLE[who].split()[0], "--key", who],
                     quiet=True)  # fmt: skip
        proposal = self.propose(
            ["registry", "propose", str(artifact), "--kind", "tool", "--name", name, "--version", version,
             "--stage", stage]
        )  # fmt: skip
        self.approve_everywhere(proposal, ["carol", "dave"])
        self.run("registry", ["registry", "publish", str(proposal)])
        self.run("registry", ["registry", "refresh"])
        return artifact

    def verify(self, artifact: Path, name: str, version: str, *, expect: int) -> None:
        self.run("registry", ["verify", str(artifact), "--kind", "tool", "--name", name, "--version", version],
                 expect=expect)  # fmt: skip

    def story(self) -> None:
        self.keys()
        self.init_registry()
        self.pin()

        self.step(
            "Sign, approve and publish hello@1.0.0 (STAGE, strict level)",
            "alice signs as author, bob as reviewer, carol and dave as approvers: DSSE envelopes with "
            "in-toto statements over the artifact's SHA-256. Then the entry is proposed, approved by both "
            "publication keys from their own homes, and published.",
        )
        hello = self.sign_and_publish("acme/hello", "1.0.0", ARTIFACT, list(PEOPLE), "STAGE")

        self.step("The gate allows it", "Every check passes; the decision is in the audit log before the answer.")
        self.verify(hello, "acme/hello", "1.0.0", expect=0)

        self.step(
            "Run it in the sandbox",
            "`sealgate run` asks the gate again (manifest, inputs, command, env, paths, taint), then runs the "
            "argv the gate judged in bubblewrap with a seccomp filter and no network, from sealed copies of the "
            "verified bytes, and appends the outcome to the audit log.",
        )
        self.run("registry", ["tool", "install", str(hello)], quiet=True)
        self.run("registry", ["run", "acme/hello", "--input", "who=demo", "--no-confirm"])
        self.run("registry", ["run", "acme/hello", "--input", "who=~/.ssh/id_ed25519", "--no-confirm"],
                 expect=int(ExitCode.DENIED))  # fmt: skip
        self.console.print("   [dim](denied: an input naming a sensitive path is a check finding)[/dim]")

        self.step("A tampered copy is denied", "One byte changed after approval: the digest no longer matches.")
        tampered = self.tool_dir("acme/hello", "1.0.0-tampered", ARTIFACT.replace(b"hello", b"owned"))
        (tampered / "sealgate-tool.yaml").write_text(MANIFEST.format(name="acme/hello", version="1.0.0"))
        self.run("registry", ["tool", "compile", str(tampered)], quiet=True)
        self.verify(tampered, "acme/hello", "1.0.0", expect=int(ExitCode.DENIED))
        self.run("registry", ["run", str(tampered), "--input", "who=demo", "--no-confirm"],
                 expect=int(ExitCode.DENIED))  # fmt: skip
        self.console.print("   [dim](a local path goes through the same gate: no exemption)[/dim]")

        self.step(
            "An unsigned artifact is denied",
            "Registered by the registry keys, but nobody signed it as author or reviewer.",
        )
        unsigned = self.sign_and_publish("acme/unsigned", "1.0.0", b"echo unsigned\n", [], "DEV")
        self.verify(unsigned, "acme/unsigned", "1.0.0", expect=int(ExitCode.DENIED))
        stray = self.tool_dir("acme/stray", "0.1.0", b"echo never registered\n")
        self.run("registry", ["tool", "compile", str(stray)], quiet=True)
        self.verify(stray, "acme/stray", "0.1.0", expect=int(ExitCode.DENIED))

        self.step("A revoked version is denied", "hello@1.1.0 is published, then revoked by both approvers.")
        v11 = self.sign_and_publish("acme/hello", "1.1.0", ARTIFACT + b"# 1.1.0\n", list(PEOPLE), "STAGE")
        self.verify(v11, "acme/hello", "1.1.0", expect=0)
        metadata = self.homes["registry"] / "repository" / "metadata"
        old_timestamp = (metadata / "timestamp.json").read_bytes()
        revoke = self.propose(["registry", "revoke", "tool", "acme/hello", "1.1.0", "--reason", "CVE-2026-1234"])
        self.approve_everywhere(revoke, ["carol", "dave"])
        self.run("registry", ["registry", "publish", str(revoke)])
        self.run("registry", ["registry", "refresh"])
        self.verify(v11, "acme/hello", "1.1.0", expect=int(ExitCode.DENIED))

        self.step(
            "A rolled-back registry is refused",
            "An attacker serves the older, validly signed timestamp in which 1.1.0 was still active. "
            "The refresh refuses it (TUF rollback protection), and the gate keeps denying 1.1.0.",
        )
        (metadata / "timestamp.json").write_bytes(old_timestamp)
        self.run("registry", ["registry", "refresh"], expect=int(ExitCode.INTEGRITY))
        self.verify(v11, "acme/hello", "1.1.0", expect=int(ExitCode.DENIED))

        self.step(
            "The audit log proves what was decided",
            "Every allow and deny is a record in an RFC 9162 Merkle log; a signed checkpoint commits to it, "
            "and `audit verify` re-hashes every stored byte.",
        )
        self.run("registry", ["audit", "show"])
        self.run("registry", ["audit", "checkpoint"])
        self.run("registry", ["audit", "verify"])
        self.console.rule("[bold green]done")
        self.console.print(f"Everything above lives in {self.base}; it is removed when the demo ends unless --keep.")


@contextmanager
def _demo_environment(passphrase: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("SEALGATE_KEY_PASSPHRASE", "SEALGATE_DATABASE_URL", "SEALGATE_HOME")}
    os.environ["SEALGATE_KEY_PASSPHRASE"] = passphrase
    os.environ.pop("SEALGATE_DATABASE_URL", None)  # the demo shows the embedded default
    os.environ.pop("SEALGATE_HOME", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the throwaway homes and print where they are.")
def demo_cmd(keep: bool) -> None:
    """Run the whole flow (keys, policy, registry, approvals, gate, sandbox, audit) in a throwaway folder."""
    base = Path(tempfile.mkdtemp(prefix="sealgate-demo-"))
    try:
        with _demo_environment(secrets.token_urlsafe(24)):
            _Demo(base).story()
    finally:
        if keep:
            click.echo(f"kept {base}", err=True)
        else:
            shutil.rmtree(base, ignore_errors=True)
