"""The plain-words fast path gives exactly the findings the bashlex path gives."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealgate.checks import Finding, analyse_command
from sealgate.checks import _shellwalk as shellwalk

CORPUS = Path(__file__).resolve().parents[1] / "vectors" / "commands"
NEVER = re.compile(r"(?!)")


def _both(command: str | list[str]) -> tuple[list[Finding], list[Finding]]:
    fast = analyse_command(command, shell=isinstance(command, str))
    saved = shellwalk.PLAIN
    shellwalk.PLAIN = NEVER
    try:
        slow = analyse_command(command, shell=isinstance(command, str))
    finally:
        shellwalk.PLAIN = saved
    return fast, slow


def _corpus() -> list[dict[str, Any]]:
    rows = []
    for name in ("seed.jsonl", "generated.jsonl"):
        rows += [json.loads(line) for line in (CORPUS / name).read_text("utf-8").splitlines() if line.strip()]
    return rows


def test_fast_path_matches_bashlex_on_the_whole_corpus() -> None:
    plain = 0
    for row in _corpus():
        command = row.get("command", row.get("argv"))
        fast, slow = _both(command)
        assert fast == slow, row["id"]
        plain += isinstance(command, str) and shellwalk.PLAIN.fullmatch(command) is not None
    assert plain >= 100  # the fast path is exercised, not just present


@pytest.mark.parametrize("command", ["time ls", "for x", "FOO=bar ls", "if true", "  ls  -la  ", "a=b"])
def test_fast_path_leaves_keywords_and_assignments_to_bashlex(command: str) -> None:
    fast, slow = _both(command)
    assert fast == slow


WORDS = st.sampled_from(
    ["rm", "-rf", "/", "-r", "/etc", "sudo", "env", "timeout", "5", "nice", "-n", "sh", "bash", "-c", "-i", "curl",
     "nc", "-e", "chmod", "777", "a+w", "o+w", "find", ".", "-exec", "-delete", "+", "xargs", "python3", "-m", "base64",
     "-d", "export", "PATH=/tmp", "LD_PRELOAD=x.so", "tee", "/etc/hosts", "cp", "x", "dd", "of=/dev/sda", "time", "if",
     "for", "in", "git", "-c", "core.pager=sh", "socat", "exec:sh", "mkfs.ext4", "/dev/sdb", "eval", "source", "vim",
     "+!sh", "tar", "--to-command=sh", "awk", "ls"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=8), st.sampled_from([" ", "  ", "\t", " \t "]))
def test_fast_path_matches_bashlex_on_generated_plain_text(words: list[str], blank: str) -> None:
    command = blank.join(words)
    fast, slow = _both(command)
    assert fast == slow
    nested = ["sh", "-c", command]
    assert _both(nested)[0] == _both(nested)[1]
