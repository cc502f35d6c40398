"""docs/cli.md cannot drift from ``--help``: every command, synopsis, option, reason, exit code and variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sealgate.errors import ExitCode, Reason
from tests.cli.clitree import CommandInfo, long_names, walk

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cli.md"
COMMAND_HEADING = re.compile(r"^### (sealgate(?: \S+)*)[ \t]*$", re.MULTILINE)
ANY_HEADING = re.compile(r"^#{1,3} ", re.MULTILINE)

COMMANDS = list(walk())


def sections() -> dict[str, str]:
    """``### sealgate …`` heading -> its text, up to the next heading of level 1 to 3."""
    text = DOC.read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for match in COMMAND_HEADING.finditer(text):
        title = match.group(1)
        assert title not in out, f"docs/cli.md has two sections for {title!r}"
        following = ANY_HEADING.search(text, match.end())
        out[title] = text[match.end() : following.start() if following else len(text)]
    return out


def section(title: str) -> str:
    """A non-command section (``## Exit codes``, ``### Reason codes``, ``## Environment``)."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^#{{2,3}} {re.escape(title)}[ \t]*$", text, re.MULTILINE)
    assert match is not None, f"docs/cli.md has no section {title!r}"
    following = ANY_HEADING.search(text, match.end())
    return text[match.end() : following.start() if following else len(text)]


def test_walk_finds_every_group_and_subcommand() -> None:
    titles = {c.title for c in COMMANDS}
    for expected in ("sealgate key generate", "sealgate registry approve", "sealgate audit proof", "sealgate demo"):
        assert expected in titles
    assert len(titles) == len(COMMANDS)


def test_every_command_has_a_heading_and_every_heading_is_a_command() -> None:
    documented = set(sections())
    real = {c.title for c in COMMANDS}
    assert sorted(real - documented) == [], "commands without a `### sealgate …` section in docs/cli.md"
    assert sorted(documented - real) == [], "docs/cli.md documents commands that do not exist"


@pytest.mark.parametrize("info", COMMANDS, ids=lambda c: c.title)
def test_every_option_is_documented_in_its_commands_section(info: CommandInfo) -> None:
    text = sections().get(info.title, "")
    missing = [
        name
        for option in info.options()
        for name in long_names(option)
        if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)
    ]
    assert missing == [], f"docs/cli.md section {info.title!r} does not mention {missing}"


@pytest.mark.parametrize("info", COMMANDS, ids=lambda c: c.title)
def test_every_synopsis_is_the_usage_line_of_help(info: CommandInfo) -> None:
    text = sections().get(info.title, "")
    assert f"```\n{info.synopsis}\n```" in text, f"expected the synopsis `{info.synopsis}` in a code block"


def test_every_exit_code_is_in_the_table() -> None:
    table = section("Exit codes")
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \| \S", table, re.MULTILINE), f"exit code {int(code)} ({code.name})"


def test_every_reason_code_is_in_the_table() -> None:
    table = section("Reason codes")
    rows = re.findall(r"^\| `([a-z-]+)` \|", table, re.MULTILINE)
    assert sorted(rows) == sorted(r.value for r in Reason)


def test_every_environment_variable_in_the_source_is_documented() -> None:
    used: set[str] = set()
    for path in (ROOT / "src" / "sealgate").rglob("*.py"):
        used.update(re.findall(r"\bSEALGATE_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    rows = set(re.findall(r"^\| `(SEALGATE_[A-Z_]+)` \|", section("Environment"), re.MULTILINE))
    assert used == rows
    assert rows == {"SEALGATE_HOME", "SEALGATE_DATABASE_URL", "SEALGATE_KEY_PASSPHRASE", "SEALGATE_ALLOW_UNSIGNED"}
