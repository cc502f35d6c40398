"""Fixtures for the CLI tests: one home built through the CLI per session, copied per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.clihome import SEALGATE, CliHome, build_cli_home, copy_cli_home


@pytest.fixture(scope="session", autouse=True)
def _console_script() -> None:
    if not SEALGATE.is_file():
        pytest.fail(f"the console script {SEALGATE} is missing: install sealgate into this interpreter's venv")


@pytest.fixture(scope="session")
def cli_template(tmp_path_factory: pytest.TempPathFactory) -> CliHome:
    return build_cli_home(tmp_path_factory.mktemp("cli-template") / "base")


@pytest.fixture
def ch(tmp_path: Path, cli_template: CliHome) -> CliHome:
    """A private copy of the template home (registry, pinned root, hello@1.0.0, audit checkpoint)."""
    return copy_cli_home(cli_template, tmp_path / "base")
