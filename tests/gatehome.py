"""A complete sealgate home for gate and CLI tests: real TUF registry, real policy, real audit log.

One home plays both the registry host and the gate host (the embedded default). Principals:
alice (author), bob (reviewer), carol and dave (approvers), eve (author, but only in
``tools/acme-evil``), and mallory (a key the policy does not know).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sealgate.config import Home
from sealgate.crypto.intoto import make_approval
from sealgate.crypto.keys import PrivateKey, generate_key
from sealgate.digest import read_artifact
from sealgate.gate import Gate
from sealgate.policy import compile_policy_yaml
from sealgate.registry.client import pin_root, refresh
from sealgate.registry.layout import target_path
from sealgate.registry.repository import Expiries, OnlineKeys, Repository, init_repository
from sealgate.tools import ToolCheck, install_tool, installed_path
from sealgate.tools.manifest import compile_tool_dir

PRINCIPALS = ("alice", "bob", "carol", "dave", "eve")


def policy_yaml(keys: dict[str, PrivateKey], *, environment: str = "development", extra: str = "") -> bytes:
    def pem(name: str) -> str:
        text = keys[name].public.to_pem().decode().strip()
        return "\n".join("        " + line for line in text.splitlines())

    principals = "\n".join(f"  {n}:\n    keys:\n      - |\n{pem(n)}" for n in PRINCIPALS)
    return f"""_type: sealgate/trust-policy/v1
environment: {environment}
principals:
{principals}
bindings:
  - {{principal: alice, roles: [author], namespaces: ["tools/acme"]}}
  - {{principal: bob, roles: [reviewer], namespaces: ["tools/*"]}}
  - {{principal: carol, roles: [approver], namespaces: ["tools/*"]}}
  - {{principal: dave, roles: [approver], namespaces: ["tools/*"]}}
  - {{principal: eve, roles: [author], namespaces: ["tools/acme-evil"]}}
levels:
  default: standard
  rules:
    - {{stage: PROD, level: strict}}
requirements:
  standard: {{roles: {{author: 1, reviewer: 1}}, allow_deprecated: true, deny_from: high}}
  strict: {{roles: {{author: 1, reviewer: 1, approver: 2}}, allow_deprecated: false, deny_from: medium}}
max_staleness: 86400
{extra}""".encode()


@dataclass
class GateHome:
    root: Path
    keys: dict[str, PrivateKey]
    online: OnlineKeys
    clock_now: float = field(default_factory=lambda: datetime.now(UTC).timestamp())

    @property
    def home(self) -> Home:
        return Home(self.root)

    @property
    def repo(self) -> Repository:
        return Repository.at_home(self.root)

    @property
    def registry_keys(self) -> list[PrivateKey]:
        return [self.keys["targets"], self.keys["ns"]]

    def publish(self, proposal: object) -> None:
        from sealgate.registry.proposal import Proposal

        assert isinstance(proposal, Proposal)
        for key in self.registry_keys:
            if proposal.roles_for_key(key.keyid):
                proposal.sign(key)
        self.repo.publish(proposal, self.online)

    def add_namespace(self, namespace: str) -> None:
        self.publish(self.repo.propose_add_namespace(namespace, [self.keys["ns"].public], 1, 2))

    def register(
        self,
        name: str,
        version: str,
        content: bytes,
        *,
        signers: Sequence[tuple[str, str]] = (("alice", "author"), ("bob", "reviewer")),
        stage: str = "DEV",
        kind: str = "tool",
        statement_digest: str | None = None,
    ) -> Path:
        """Publish ``content`` as an entry approved by ``signers`` ((key name, role) pairs); refresh."""
        digest = hashlib.sha256(content).hexdigest()
        target = target_path(kind, name, version)
        statements = [
            make_approval(target, statement_digest or digest, role, self.keys[key]).to_dict() for key, role in signers
        ]
        proposal = self.repo.propose_add_entry(
            kind=kind,
            name=name,
            version=version,
            digest=digest,
            size=len(content),
            stage=stage,
            statements=statements,
            content=content,
        )
        self.publish(proposal)
        self.refresh()
        path = self.root / "artifacts" / f"{name.replace('/', '_')}-{version}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    def register_tool(
        self,
        tool_dir: Path,
        *,
        signers: Sequence[tuple[str, str]] = (("alice", "author"), ("bob", "reviewer")),
        stage: str = "DEV",
        install: bool = True,
        compile: bool = True,
    ) -> tuple[str, str]:
        """Compile, approve and publish the tool directory ``tool_dir``; install it in the store.

        ``compile=False`` registers the directory's ``sealgate-tool.json`` as it is, unchecked:
        what an attacker who writes the compiled form by hand could get approved.
        """
        if compile:
            manifest = compile_tool_dir(tool_dir)
            name, version = manifest.name, manifest.version
        else:
            raw = json.loads((tool_dir / "sealgate-tool.json").read_bytes())
            name, version = raw["name"], raw["version"]
        artifact = read_artifact(tool_dir)
        target = target_path("tool", name, version)
        statements = [make_approval(target, artifact.digest, role, self.keys[key]).to_dict() for key, role in signers]
        proposal = self.repo.propose_add_entry(
            kind="tool",
            name=name,
            version=version,
            digest=artifact.digest,
            size=artifact.size,
            stage=stage,
            statements=statements,
        )
        self.publish(proposal)
        self.refresh()
        if install and compile:
            install_tool(self.home, tool_dir)
        elif install:
            shutil.copytree(tool_dir, installed_path(self.home, name, version), dirs_exist_ok=True)
        return name, version

    def tool_gate(self, *, environ: dict[str, str] | None = None, offset: float = 0.0) -> Gate:
        env = environ or {}
        return Gate(
            self.home,
            clock=lambda: self.clock_now + offset,
            environ=env,
            database_url=None,
            checks={"tool": ToolCheck(env)},
        )

    def set_policy(self, text: bytes) -> None:
        self.publish(self.repo.propose_policy(compile_policy_yaml(text)))
        self.refresh()

    def refresh(self) -> None:
        refresh(self.root, str(self.root / "repository"))

    def gate(self, *, environ: dict[str, str] | None = None, offset: float = 0.0) -> Gate:
        return Gate(self.home, clock=lambda: self.clock_now + offset, environ=environ or {}, database_url=None)


def build_gate_home(root: Path, *, environment: str = "development") -> GateHome:
    keys = {name: generate_key("ed25519") for name in (*PRINCIPALS, "root", "targets", "ns", "mallory")}
    keys["bob"] = generate_key("ecdsa-p256")  # one P-256 principal so both key types reach the gate
    online = OnlineKeys(generate_key("ed25519"), generate_key("ed25519"))
    init_repository(
        root / "repository",
        root_keys=[keys["root"]],
        root_threshold=1,
        targets_keys=[keys["targets"]],
        targets_threshold=1,
        online_keys=online,
        policy=compile_policy_yaml(policy_yaml(keys, environment=environment)),
        expiries=Expiries(),
    )
    gh = GateHome(root, keys, online)
    gh.add_namespace("tools/acme")
    gh.add_namespace("tools/acme-evil")
    root_bytes = (root / "repository" / "metadata" / "1.root.json").read_bytes()
    pin_root(root, root_bytes, hashlib.sha256(root_bytes).hexdigest(), str(root / "repository"))
    gh.refresh()
    return gh


def copy_gate_home(template: GateHome, dest: Path) -> GateHome:
    shutil.copytree(template.root, dest, symlinks=True)
    return GateHome(dest, template.keys, template.online)


DAY = timedelta(days=1).total_seconds()


def make_tool(parent: Path, manifest_yaml: str, files: dict[str, tuple[int, bytes]] | None = None) -> Path:
    """A tool directory under ``parent``: the authored manifest and its shipped files (not compiled)."""
    import textwrap

    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="tool-", dir=parent))
    (path / "sealgate-tool.yaml").write_text(textwrap.dedent(manifest_yaml))
    for rel, (mode, data) in (files or {}).items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)
    return path
