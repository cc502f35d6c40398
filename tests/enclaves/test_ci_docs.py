"""docs/ci.md and the example workflow cannot drift from the commands and the check-mock rules."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from sealgate.enclaves import mockscan
from sealgate.enclaves.candidate import CANDIDATE_PREDICATE_TYPE
from tests.cli.clitree import CommandInfo, long_names, walk

ROOT = Path(__file__).resolve().parents[2]
CI_DOC = ROOT / "docs" / "ci.md"
WORKFLOW = ROOT / "docs" / "examples" / "github-actions-enclave.yml"
COMMANDS = {c.title: c for c in walk()}


def _invocations(text: str) -> list[list[str]]:
    """Every ``sealgate …`` command line in ``text`` (continuations joined), as argv."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for match in re.finditer(r"(?<![\w./-])sealgate (?:[a-z-]+)[^\n`|>#;]*", joined):
        argv = [t.strip("[]…") for t in shlex.split(match.group(), posix=True)]
        found.append([t for t in argv if t])
    return found


def _command(argv: list[str]) -> CommandInfo:
    for size in range(len(argv), 0, -1):
        title = " ".join(argv[:size])
        if title in COMMANDS:
            return COMMANDS[title]
    raise AssertionError(f"no such command: {' '.join(argv)}")


def _sources() -> list[tuple[str, list[str]]]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    runs = [step["run"] for step in workflow["jobs"]["build"]["steps"] if "run" in step]
    text = CI_DOC.read_text(encoding="utf-8")
    # Code only: fenced blocks, then inline spans of the prose around them.
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    out = [("docs/ci.md", argv) for code in (*blocks, *spans) for argv in _invocations(code)]
    out += [("workflow", argv) for run in runs for argv in _invocations(run)]
    return out


def test_the_doc_and_the_workflow_run_the_three_ci_commands() -> None:
    used = {_command(argv).title for _, argv in _sources()}
    expected = {"sealgate ci measure", "sealgate ci check-mock", "sealgate ci candidate", "sealgate enclave measure"}
    assert expected <= used
    assert {"sealgate sign", "sealgate registry propose"} <= used


@pytest.mark.parametrize(("where", "argv"), _sources(), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_every_documented_invocation_uses_real_options(where: str, argv: list[str]) -> None:
    info = _command(argv)
    known = {name for option in info.options() for name in long_names(option)}
    used = {t.split("=", 1)[0] for t in argv if t.startswith("--")}
    assert used <= known, f"{where}: `{' '.join(argv)}` uses {sorted(used - known)}"


def test_workflow_needs_no_secret_and_reads_only() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)
    assert workflow["permissions"] == {"contents": "read"}
    assert "secrets." not in text
    # Untrusted values reach the shell only through environment variables, never by ${{ }} in run.
    for step in workflow["jobs"]["build"]["steps"]:
        assert "${{" not in step.get("run", ""), step


def test_every_rule_is_documented() -> None:
    text = CI_DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z-]+)`(?:, `([a-z-]+)`)? \|", text, re.MULTILINE))
    names = {n for pair in documented for n in pair if n}
    assert names == set(mockscan.RULES)


def test_the_words_are_documented() -> None:
    text = CI_DOC.read_text(encoding="utf-8")
    for word in (*mockscan.MOCK_WORDS, *mockscan.CONTEXT_FRAGMENTS, *mockscan.CONTEXT_WORDS):
        assert f"`{word}`" in text, word
    assert CANDIDATE_PREDICATE_TYPE in text
