"""The library side of the drift detector: hostile regexes, parsers, git seams, the report type."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sealgate.drift import (
    Baseline,
    Direction,
    DriftDetectedError,
    FindingKind,
    Matcher,
    check_drift,
    parse_rule_set,
)
from sealgate.errors import ExitCode, MalformedInputError, Reason
from sealgate.policy import Level
from tests.drift.gitrepo import Repo


def test_catastrophic_backtracking_pattern_times_out_and_fails(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    path = repo.write(
        "r.yaml",
        """\
        rules:
          - id: runs
            pattern: 'a+!'
            examples: ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"]
        """,
    )
    base = repo.commit("release")
    # (a+)+$ on forty-odd a's and a '!' backtracks for minutes in Python's re.
    path.write_text(
        'rules:\n  - id: runs\n    pattern: "(a+)+$"\n    examples: ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"]\n'
    )
    started = time.monotonic()
    with Matcher(match_timeout=0.3) as matcher, pytest.raises(DriftDetectedError) as caught:
        check_drift([path], Baseline(commit=base, source="since"), matcher=matcher)
    assert time.monotonic() - started < 20
    [finding] = caught.value.report.findings
    assert finding.kind is FindingKind.WEAKENED
    assert "did not finish within 0.3 s" in finding.message
    assert caught.value.reason is Reason.DRIFT_DETECTED and caught.value.exit_code is ExitCode.DENIED


def test_matcher_recovers_after_a_killed_worker() -> None:
    with Matcher(match_timeout=0.3) as matcher:
        hung = matcher.search("(a+)+$", frozenset(), "a" * 44 + "!")
        assert hung.error is not None and not hung.matched
        ok = matcher.search("b+", frozenset({"IGNORECASE"}), "aBBa bb")
        assert ok.spans == ((1, 3), (5, 7))
        bad = matcher.search("(", frozenset(), "x")
        assert bad.error is not None and bad.error.startswith("does not compile")


def test_matcher_total_budget_fails_closed() -> None:
    with Matcher(total_budget=0.0) as matcher:
        result = matcher.search("x", frozenset(), "x")
    assert not result.matched and result.error is not None and "budget" in result.error


def test_bytes_patterns_from_python_modules_are_checked() -> None:
    with Matcher() as matcher:
        result = matcher.search(b"caf\xc3\xa9", frozenset(), "un café")
    assert result.spans == ((3, 8),)  # bytes offsets of the UTF-8 encoded example


def test_git_dir_of_the_caller_does_not_redirect_the_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A hook or CI step may export GIT_DIR; the comparison must still read the rule file's own repository.
    decoy = Repo.create(tmp_path / "decoy")
    decoy.write("r.yaml", "rules: []\n")
    decoy_commit = decoy.commit("decoy")
    repo = Repo.create(tmp_path / "repo")
    path = repo.write("r.yaml", "rules:\n  - {id: a, pattern: 'x', examples: [x]}\n")
    base = repo.commit("release")
    path.write_text("rules: []\n")
    monkeypatch.setenv("GIT_DIR", str(decoy.root / ".git"))
    with pytest.raises(DriftDetectedError) as caught:
        check_drift([path], Baseline(commit=base, source="since"))
    assert caught.value.report.commit == base != decoy_commit
    assert [f.kind for f in caught.value.report.findings] == [FindingKind.REMOVED]


def test_report_json_shape(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    path = repo.write("r.yaml", "rules:\n  - {id: a, pattern: 'x', examples: [x]}\n")
    base = repo.commit("release")
    path.write_text("rules:\n  - {id: a, pattern: 'x', examples: [x]}\n  - {id: b, pattern: 'y'}\n")
    report = check_drift([path], Baseline(commit=base, source="since"), level=Level.STRICT)
    value = report.to_json()
    assert value["_type"] == "sealgate/drift-report/v1"
    assert value["failed"] is False and value["level"] == "strict"
    assert value["baseline"] == {"commit": base, "requested": base, "source": "since", "entry": None}
    assert value["findings"] == [
        {"kind": "added", "subject": "rule", "id": "b", "file": "r.yaml", "line": 3, "baseline_line": None,
         "message": "new rule 'b'", "fails": False}
    ]  # fmt: skip
    assert value["counts"]["added"] == 1


# -- parsers ----------------------------------------------------------------------------------


def test_yaml_rule_list_and_invariants_parse_with_lines() -> None:
    data = b"""_type: sealgate/drift-rules/v1
rules:
  - id: email
    pattern: '\\S+@\\S+'
    flags: [i, MULTILINE]
    examples: [a@b]
    negatives: [ab]
    replacement: "[EMAIL]"
invariants:
  log_level: {value: warning, order: [debug, info, warning], safe: higher}
  attestation_required: {value: true, safe: true}
  caps: {value: [a, b], safe: fewer}
  timeout: {value: 2.5, safe: lower}
"""
    rs = parse_rule_set(data, "x.yml", what="x.yml")
    rule = rs.rules["email"]
    assert rule.flags == frozenset({"IGNORECASE", "MULTILINE"}) and rule.line == 3
    assert rule.examples == ("a@b",) and rule.negatives == ("ab",)
    assert rs.settings["log_level"].order == ("debug", "info", "warning")
    assert rs.settings["attestation_required"].safe is Direction.TRUE
    assert rs.settings["caps"].value == ("a", "b") and rs.settings["caps"].line == 12
    assert rs.settings["timeout"].safe is Direction.LOWER


def test_bare_list_and_empty_document_are_rule_sets() -> None:
    assert set(parse_rule_set(b'[{"id": "a", "pattern": "x"}]', "r.json", what="r").rules) == {"a"}
    assert parse_rule_set(b"", "r.yaml", what="r").rules == {}


@pytest.mark.parametrize(
    "data",
    [
        b"rules:\n  - {id: a, pattern: x, examples: [1]}\n",
        b"rules:\n  - {id: '', pattern: x}\n",
        b"rules:\n  - {id: a, pattern: 7}\n",
        b"rules:\n  - {id: a, pattern: !!binary aGk=}\n",
        b"rules:\n  - {id: a, pattern: x}\n  - {id: b, pattern: x, <<: {c: d}}\n",
        b"invariants:\n  x: {value: [a, a], safe: fewer}\n",
        b"invariants:\n  x: {value: 1, safe: true}\n",
        b"invariants:\n  x: {value: a, safe: higher}\n",
        b"invariants:\n  x: {value: a, order: [a], safe: fewer}\n",
        b"invariants:\n  x: {value: 1, safe: lower, extra: 1}\n",
        b"_type: something/else\nrules: []\n",
        b"rules:\n  - {id: a, pattern: '" + b"x" * 5000 + b"'}\n",
        b"rules:\n  - {id: a, pattern: x, examples: [" + b"e, " * 70 + b"e]}\n",
        b"just a string\n",
    ],
)
def test_malformed_documents_refused(data: bytes) -> None:
    with pytest.raises(MalformedInputError):
        parse_rule_set(data, "r.yaml", what="r.yaml")


def test_oversized_file_refused() -> None:
    with pytest.raises(MalformedInputError, match="over the"):
        parse_rule_set(b"#" * (4 << 20) + b"x", "r.yaml", what="r.yaml")


def test_python_module_rules_by_ast() -> None:
    source = b"""import re as regex
from re import compile, MULTILINE as ML

PREFIX = r"user-"
# a plain comment
# drift-example: user-42
# drift-example: id user-7 here
USER_RE = regex.compile(PREFIX, regex.IGNORECASE)
LINE = compile(r"^x$", flags=ML | regex.RegexFlag.DOTALL)
HOST_PATTERN: str = r"[a-z]+\\.example"
TITLE = "not a regex"
# drift-negative: nope
MARKED = "m+"
BYTES_RE = regex.compile(b"\\x00+")
REDACTIONS = [
    # drift-example: pw=secret
    (regex.compile(r"pw=\\S+"), "[PW]"),
    (regex.compile(r"pin=\\d+"), "[PIN]"),
]
BY_NAME = {"iban": regex.compile(r"[A-Z]{2}\\d{2}")}
DRIFT_EXAMPLES = {"LINE": ["x"], "BY_NAME[iban]": ["DE89"]}

if True:
    GUARDED = regex.compile("g")


class Rules:
    INNER = regex.compile("i")


def f():
    IGNORED_RE = regex.compile("not module level")
"""
    rs = parse_rule_set(source, "m.py", what="m.py")
    assert set(rs.rules) == {
        "USER_RE", "LINE", "HOST_PATTERN", "MARKED", "BYTES_RE", "REDACTIONS[0][0]", "REDACTIONS[1][0]",
        "BY_NAME[iban]", "GUARDED", "Rules.INNER",
    }  # fmt: skip
    user = rs.rules["USER_RE"]
    assert user.pattern == "user-" and user.flags == frozenset({"IGNORECASE"})
    assert user.examples == ("user-42", "id user-7 here") and user.line == 8
    assert rs.rules["LINE"].flags == frozenset({"MULTILINE", "DOTALL"}) and rs.rules["LINE"].examples == ("x",)
    assert rs.rules["MARKED"].negatives == ("nope",)
    assert rs.rules["BYTES_RE"].pattern == b"\x00+"
    assert rs.rules["REDACTIONS[0][0]"].examples == ("pw=secret",) and rs.rules["REDACTIONS[0][0]"].line == 17
    assert rs.rules["BY_NAME[iban]"].examples == ("DE89",)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (b"import re\nX = re.compile('a') if True else None\n", "X: re.compile is used in an expression"),
        (b"import re\nregister(re.compile('a'))\n", "the statement at line 2"),
        (b"import re\nA, B = re.compile('a'), re.compile('b')\n", "the assignment at line 2"),
        (b"import re\nX = re.compile(PREFIX + 'x')\n", "X: the pattern is not a string literal"),
        (b"import re\nX = re.compile('x', re.L)\n", "drift cannot read this expression"),
        (b"import re\nX = re.compile('x', 2)\n", "drift cannot read this expression"),
    ],
)
def test_python_regexes_drift_cannot_read_are_refused(source: bytes, expected: str) -> None:
    with pytest.raises(MalformedInputError, match=expected):
        parse_rule_set(source, "m.py", what="m.py")
