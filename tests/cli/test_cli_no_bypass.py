"""There is no way to skip a check from the command line: no command, option, flag or variable."""

from __future__ import annotations

import re
from pathlib import Path

import click

from tests.cli.clihome import run_cli
from tests.cli.clitree import long_names, walk

BYPASS = re.compile(r"skip|no-verify|force|insecure(?!-no-passphrase)|unsafe|bypass|allow-unsigned", re.IGNORECASE)

# Every boolean flag of the tree, reviewed: none of them relaxes a check. A new flag must be
# added here on purpose, with its reason.
REVIEWED_FLAGS = {
    "--verbose": "shows tracebacks of unexpected errors",
    "--version": "prints the version",
    "--json": "machine output on stdout",
    "--insecure-no-passphrase": "writes a throwaway key unencrypted; warned every time; no check is skipped",
    "--local": "policy compile: the file is a local tightening file (which may only tighten)",
    "--keep": "demo: keeps its throwaway homes",
    "--no-confirm": "run: no terminal prompt; the inputs are then labelled untrusted (stricter, never looser)",
}


def _names(option: click.Option) -> list[str]:
    # Also the Python parameter name, spelled as an option, so `skip_checks` cannot hide.
    return [*option.opts, *option.secondary_opts, "--" + (option.name or "").replace("_", "-")]


def test_no_command_or_option_is_named_like_a_bypass() -> None:
    offenders = []
    for info in walk():
        offenders += [info.title for segment in info.path if BYPASS.search(segment)]
        offenders += [f"{info.title} {n}" for o in info.options() for n in _names(o) if BYPASS.search(n)]
    assert offenders == []


def test_every_flag_is_reviewed() -> None:
    flags = {n for info in walk() for o in info.options() if o.is_flag for n in long_names(o)}
    assert flags <= set(REVIEWED_FLAGS), f"unreviewed flags: {sorted(flags - set(REVIEWED_FLAGS))}"


def test_no_option_reads_an_environment_variable_but_home() -> None:
    envvars = {(info.title, n): o.envvar for info in walk() for o in info.options() if o.envvar for n in long_names(o)}
    assert envvars == {("sealgate", "--home"): "SEALGATE_HOME"}


def test_verify_help_offers_no_bypass_flag() -> None:
    result = run_cli(Path("/nonexistent-sealgate-home"), "verify", "--help")
    assert result.returncode == 0, result.stderr
    offered = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", result.stdout))
    assert offered == {"--kind", "--name", "--version", "--json", "--help"}
    assert not BYPASS.search(result.stdout)
