"""sealgate drift against real git repositories: removals, weakenings and unsafe settings fail.

Each test commits a rule set (the "released" commit), edits the working tree as an attacker
or a careless change would, and runs the real command. Names say which attack is caught.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.drift.gitrepo import Repo, drift, git

RULES = """\
    rules:
      - id: email
        pattern: '[\\w.+-]+@[\\w-]+\\.[\\w.]+'
        examples: ["mail alice@example.com now"]
      - id: ssn
        pattern: '\\b\\d{3}-\\d{2}-\\d{4}\\b'
        examples: ["ssn 123-45-6789"]
        negatives: ["call 555-1234"]
      - id: token
        pattern: 'tok_[a-z0-9]{8}'
    """

INVARIANTS = """\
    invariants:
      log_level: {value: warning, order: [debug, info, warning, error], safe: higher}
      pii_level: {value: masked, order: [raw, partial, masked], safe: higher}
      attestation_required: {value: true, safe: true}
      capabilities: {value: [net_bind], safe: fewer}
      redacted_fields: {value: [password, token], safe: more}
      max_log_bytes: {value: 4096, safe: lower}
    """


def _report(out: str) -> dict[str, object]:
    value = json.loads(out)
    assert isinstance(value, dict)
    return value


def _kinds(report: dict[str, object]) -> dict[str, str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return {f["id"]: f["kind"] for f in findings}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo.create(tmp_path / "repo")


def test_removed_rule_detected(repo: Repo) -> None:
    path = repo.write("rules/redact.yaml", RULES)
    base = repo.commit("release")
    repo.write(
        "rules/redact.yaml",
        """\
        rules:
          - id: email
            pattern: '[\\w.+-]+@[\\w-]+\\.[\\w.]+'
            examples: ["mail alice@example.com now"]
          - id: token
            pattern: 'tok_[a-z0-9]{8}'
        """,
    )
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3, result.err
    report = _report(result.out)
    assert report["failed"] is True
    [removed] = [f for f in report["findings"] if f["kind"] == "removed"]  # type: ignore[union-attr]
    assert removed["id"] == "ssn" and removed["file"] == "rules/redact.yaml"
    assert removed["baseline_line"] == 5 and removed["line"] is None and removed["fails"] is True
    assert "DRIFT removed rule 'ssn' at rules/redact.yaml:5" in result.err
    assert result.err.rstrip().splitlines()[-1].startswith("sealgate: drift-detected: 1 removed")


def test_rule_file_deleted_reports_every_rule_removed(repo: Repo) -> None:
    path = repo.write("rules/redact.yaml", RULES)
    base = repo.commit("release")
    path.unlink()
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3
    assert _kinds(_report(result.out)) == {"email": "removed", "ssn": "removed", "token": "removed"}


def test_weakened_regex_detected_when_former_example_no_longer_matches(repo: Repo) -> None:
    path = repo.write("rules/redact.yaml", RULES)
    base = repo.commit("release")
    repo.write("rules/redact.yaml", RULES.replace("[\\w-]+\\.[\\w.]+", "example\\.org"))
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3, result.err
    report = _report(result.out)
    assert _kinds(report) == {"email": "weakened"}
    [finding] = report["findings"]  # type: ignore[misc]
    assert "'mail alice@example.com now' no longer matches" in finding["message"]
    assert finding["line"] == 2


def test_narrowed_match_counts_as_weakened(repo: Repo) -> None:
    # \d{3} still "matches" the SSN example, but would redact only part of it.
    path = repo.write("rules/redact.yaml", RULES)
    base = repo.commit("release")
    repo.write("rules/redact.yaml", RULES.replace("\\b\\d{3}-\\d{2}-\\d{4}\\b", "\\d{3}"))
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3
    report = _report(result.out)
    assert _kinds(report) == {"ssn": "weakened"}
    assert "matched only in part" in report["findings"][0]["message"]  # type: ignore[index]


def test_flags_dropped_is_weakened(repo: Repo) -> None:
    path = repo.write(
        "r.json",
        '{"rules": [{"id": "secret", "pattern": "secret=\\\\S+", "flags": ["IGNORECASE"], '
        '"examples": ["SECRET=hunter2"]}]}',
    )
    base = repo.commit("release")
    path.write_text('{"rules": [{"id": "secret", "pattern": "secret=\\\\S+", "examples": ["SECRET=hunter2"]}]}')
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3
    report = _report(result.out)
    assert _kinds(report) == {"secret": "weakened"}
    assert report["findings"][0]["message"].startswith("flags changed")  # type: ignore[index]


def test_unsafe_setting_changes_detected(repo: Repo) -> None:
    path = repo.write("invariants.yaml", INVARIANTS)
    base = repo.commit("release")
    repo.write(
        "invariants.yaml",
        INVARIANTS.replace("value: warning", "value: debug")
        .replace("value: true", "value: false")
        .replace("[net_bind]", "[net_bind, sys_admin]")
        .replace("value: masked", "value: raw")
        .replace("[password, token]", "[password]")
        .replace("4096", "1048576"),
    )
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3, result.err
    report = _report(result.out)
    assert _kinds(report) == {
        "log_level": "unsafe-setting",
        "attestation_required": "unsafe-setting",
        "capabilities": "unsafe-setting",
        "pii_level": "unsafe-setting",
        "redacted_fields": "unsafe-setting",
        "max_log_bytes": "unsafe-setting",
    }
    messages = {f["id"]: f["message"] for f in report["findings"]}  # type: ignore[union-attr]
    assert messages["log_level"].startswith('"warning" -> "debug" moved in the unsafe direction')
    assert messages["attestation_required"].startswith("true -> false moved in the unsafe direction")
    assert messages["capabilities"].endswith('added ["sys_admin"]')
    assert messages["redacted_fields"].endswith('dropped ["token"]')
    assert {f["line"] for f in report["findings"]} == {2, 3, 4, 5, 6, 7}  # type: ignore[union-attr]


def test_each_unsafe_setting_alone_fails(repo: Repo) -> None:
    path = repo.write("invariants.yaml", INVARIANTS)
    base = repo.commit("release")
    for old, new, name in (
        ("value: warning", "value: info", "log_level"),
        ("value: true", "value: false", "attestation_required"),
        ("[net_bind]", "[net_bind, net_raw]", "capabilities"),
    ):
        repo.write("invariants.yaml", INVARIANTS.replace(old, new))
        result = drift("--rules", str(path), "--since", base, "--json")
        assert result.code == 3, (name, result.err)
        assert _kinds(_report(result.out)) == {name: "unsafe-setting"}


def test_removed_setting_detected(repo: Repo) -> None:
    path = repo.write("invariants.yaml", INVARIANTS)
    base = repo.commit("release")
    repo.write("invariants.yaml", "\n".join(line for line in INVARIANTS.splitlines() if "attestation" not in line))
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3
    assert _kinds(_report(result.out)) == {"attestation_required": "removed"}


def test_flipping_the_declared_direction_is_unsafe(repo: Repo) -> None:
    # Declaring "lower is safe" would make debug look safer than warning: judged by the baseline's declaration.
    path = repo.write("invariants.yaml", INVARIANTS)
    base = repo.commit("release")
    changed = INVARIANTS.replace(
        "value: warning, order: [debug, info, warning, error], safe: higher",
        "value: debug, order: [debug, info, warning, error], safe: lower",
    )
    repo.write("invariants.yaml", changed)
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3
    findings = _report(result.out)["findings"]
    messages = [f["message"] for f in findings if f["id"] == "log_level"]  # type: ignore[union-attr]
    assert any("declared safe direction changed" in m for m in messages)
    assert any("moved in the unsafe direction" in m for m in messages)


def test_reordering_the_order_to_hide_a_downgrade_is_unsafe(repo: Repo) -> None:
    path = repo.write("invariants.yaml", INVARIANTS)
    base = repo.commit("release")
    repo.write(
        "invariants.yaml",
        INVARIANTS.replace(
            "value: warning, order: [debug, info, warning, error]", "value: debug, order: [info, warning, error, debug]"
        ),
    )
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3
    assert _kinds(_report(result.out)) == {"log_level": "unsafe-setting"}


def test_safe_changes_pass(repo: Repo) -> None:
    rules = repo.write("rules/redact.yaml", RULES)
    inv = repo.write("invariants.yaml", INVARIANTS)
    base = repo.commit("release")
    # Broader email pattern (the old example still matches in full), a new rule, stricter settings,
    # a new level inserted into the order without reordering the old ones.
    repo.write(
        "rules/redact.yaml",
        RULES.replace("[\\w.+-]+@[\\w-]+\\.[\\w.]+", "\\S+@\\S+").rstrip(" ")
        + "      - id: iban\n"
        + "        pattern: '[A-Z]{2}\\d{2}[A-Z0-9]{11,30}'\n"
        + "        examples: [DE89370400440532013000]\n",
    )
    repo.write(
        "invariants.yaml",
        INVARIANTS.replace(
            "value: warning, order: [debug, info, warning, error]",
            "value: error, order: [trace, debug, info, warning, error, critical]",
        )
        .replace("[net_bind]", "[]")
        .replace("[password, token]", "[password, token, ssn]")
        .replace("4096", "1024"),
    )
    result = drift("--rules", str(rules), "--rules", str(inv), "--since", base, "--json")
    assert result.code == 0, result.err
    report = _report(result.out)
    assert report["failed"] is False
    assert _kinds(report) == {
        "email": "changed",
        "iban": "added",
        "log_level": "changed",
        "capabilities": "changed",
        "redacted_fields": "changed",
        "max_log_bytes": "changed",
    }
    assert "no drift" in result.err


def test_unchanged_rules_pass_without_findings(repo: Repo) -> None:
    path = repo.write("rules/redact.yaml", RULES)
    base = repo.commit("release")
    result = drift("--rules", str(path), "--since", base)
    assert result.code == 0, result.err
    assert result.out == ""
    assert "no drift: no change" in result.err


def test_pattern_change_without_examples_is_unverifiable(repo: Repo) -> None:
    path = repo.write("rules/redact.yaml", RULES)
    base = repo.commit("release")
    repo.write("rules/redact.yaml", RULES.replace("tok_[a-z0-9]{8}", "tok_[a-z0-9]{32}"))

    standard = drift("--rules", str(path), "--since", base, "--json")
    assert standard.code == 0, standard.err
    report = _report(standard.out)
    assert _kinds(report) == {"token": "unverifiable-change"}
    assert report["findings"][0]["fails"] is False  # type: ignore[index]
    assert "warning: unverifiable-change rule 'token'" in standard.err

    strict = drift("--rules", str(path), "--since", base, "--level", "strict", "--json")
    assert strict.code == 3
    report = _report(strict.out)
    assert report["level"] == "strict" and report["findings"][0]["fails"] is True  # type: ignore[index]
    assert "sealgate: drift-detected: 1 unverifiable-change" in strict.err


def test_examples_added_with_the_new_pattern_do_not_vouch_for_it(repo: Repo) -> None:
    path = repo.write("rules/redact.yaml", RULES)
    base = repo.commit("release")
    repo.write(
        "rules/redact.yaml",
        RULES.replace("pattern: 'tok_[a-z0-9]{8}'", "pattern: 'tok_x'\n        examples: [tok_x]"),
    )
    result = drift("--rules", str(path), "--since", base, "--json", "--level", "strict")
    assert result.code == 3
    assert _kinds(_report(result.out)) == {"token": "unverifiable-change"}


def test_missing_baseline_commit_is_an_error_never_a_pass(repo: Repo) -> None:
    path = repo.write("rules/redact.yaml", RULES)
    repo.commit("release")
    result = drift("--rules", str(path), "--since", "0123456789abcdef0123456789abcdef01234567")
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith("sealgate: invalid-argument: the baseline commit 0123456789ab")
    assert "not a commit of the repository" in result.err


def test_revision_that_looks_like_an_option_is_refused(repo: Repo, tmp_path: Path) -> None:
    path = repo.write("rules/redact.yaml", RULES)
    repo.commit("release")
    result = drift("--rules", str(path), "--since", f"--output={tmp_path / 'x'}")
    assert result.code == 1
    assert "invalid-argument" in result.err
    assert not (tmp_path / "x").exists()


def test_shallow_clone_without_the_baseline_is_an_error(repo: Repo, tmp_path: Path) -> None:
    repo.write("rules/redact.yaml", RULES)
    base = repo.commit("release")
    repo.write("rules/redact.yaml", RULES.replace("tok_", "key_"))
    repo.commit("later")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.root}", str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    (clone / "rules" / "redact.yaml").write_text("rules: []\n")  # every rule removed, yet it must not pass
    result = drift("--rules", str(clone / "rules" / "redact.yaml"), "--since", base, "--json")
    assert result.code == 1
    assert result.out == ""
    assert "shallow clone" in result.err and "fetch" in result.err


def test_shallow_clone_holding_the_baseline_works(repo: Repo, tmp_path: Path) -> None:
    repo.write("rules/redact.yaml", RULES)
    repo.commit("release")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.root}", str(clone))
    (clone / "rules" / "redact.yaml").write_text("rules: []\n")
    result = drift("--rules", str(clone / "rules" / "redact.yaml"), "--since", "HEAD", "--json")
    assert result.code == 3
    assert set(_kinds(_report(result.out)).values()) == {"removed"}


PY_BASE = '''\
"""A sanitiser module: drift reads it, never runs it."""
import re
from re import compile as rx, IGNORECASE

open(__file__ + ".executed", "w").close()

# drift-example: card 4111 1111 1111 1111
# drift-negative: order 1234
CARD_RE = re.compile(r"\\b(?:\\d{4}[ -]?){3}\\d{4}\\b")

SECRET = rx(r"secret=\\S+", IGNORECASE)
API_KEY_PATTERN = r"sk-[A-Za-z0-9]{20,}"
GREETING = "hello"

DRIFT_EXAMPLES = {
    "SECRET": ["SECRET=hunter2", "secret=x"],
    "API_KEY_PATTERN": ["key sk-abcdefghijklmnopqrstuvwxyz"],
}
'''


def test_python_regex_constants_found_by_ast_and_weakened_one_flagged(repo: Repo) -> None:
    path = repo.write("app/sanitise.py", PY_BASE)
    base = repo.commit("release")
    repo.write(
        "app/sanitise.py",
        PY_BASE.replace('rx(r"secret=\\S+", IGNORECASE)', 'rx(r"secret=\\S+")').replace("{20,}", "{40,}"),
    )
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3, result.err
    report = _report(result.out)
    assert _kinds(report) == {"SECRET": "weakened", "API_KEY_PATTERN": "weakened"}
    assert report["files"][0]["format"] == "python" and report["files"][0]["rules"] == 3  # type: ignore[index]
    lines = {f["id"]: f["line"] for f in report["findings"]}  # type: ignore[union-attr]
    assert lines == {"SECRET": 11, "API_KEY_PATTERN": 12}
    assert not Path(str(path) + ".executed").exists(), "drift must never import or run the module"


def test_python_removed_constant_and_comment_examples(repo: Repo) -> None:
    path = repo.write("app/sanitise.py", PY_BASE)
    base = repo.commit("release")
    repo.write("app/sanitise.py", PY_BASE.replace('r"\\b(?:\\d{4}[ -]?){3}\\d{4}\\b"', 'r"\\b\\d{16}\\b"'))
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3
    report = _report(result.out)
    assert _kinds(report) == {"CARD_RE": "weakened"}
    assert "'card 4111 1111 1111 1111' no longer matches" in report["findings"][0]["message"]  # type: ignore[index]

    repo.write("app/sanitise.py", "\n".join(line for line in PY_BASE.splitlines() if "CARD_RE" not in line))
    result = drift("--rules", str(path), "--since", base, "--json")
    assert result.code == 3
    assert _kinds(_report(result.out)) == {"CARD_RE": "removed"}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("r.yaml", "rules:\n  - id: a\n    pattern: [unclosed\n", "is not valid YAML at line"),
        ("r.yaml", "rules:\n  - id: a\n    pattern: 'x'\n  - id: a\n    pattern: 'y'\n", "two rules have the id 'a'"),
        ("r.yaml", "rules:\n  - {id: a, pattern: x, flags: [LOCALE]}\n", "unknown flag 'LOCALE'"),
        ("r.yaml", "base: &b {id: a, pattern: x}\nrules: [*b]\n", "anchors and aliases are not allowed"),
        ("r.yaml", "rule:\n  - {id: a, pattern: x}\n", "unknown top-level keys ['rule']"),
        (
            "r.yaml",
            "invariants:\n  log_level: {value: loud, order: [debug, info], safe: higher}\n",
            "is not in its `order`",
        ),
        ("r.yaml", "invariants:\n  attestation: {value: 'yes', safe: true}\n", "needs a boolean value"),
        ("r.yaml", "invariants:\n  x: {value: 1, safe: sideways}\n", "`safe` must be one of"),
        ("r.json", '{"rules": [{"id": "a", "pattern": "x", "id": "b"}]}', "duplicate JSON key"),
        ("r.toml", "rules = []\n", "unknown rule-set format"),
        ("m.py", "import re\nX_RE = re.compile(PREFIX + 'x')\n", "is not a string literal"),
        ("m.py", "import re\nX = re.compile('x', re.I | get_flags())\n", "drift cannot read this expression"),
        ("m.py", "DRIFT_EXAMPLES = {'NOPE': ['x']}\n", "which are not regex constants"),
        ("m.py", "def broken(:\n", "is not valid Python"),
    ],
)
def test_malformed_rule_file_is_malformed_input(repo: Repo, name: str, content: str, expected: str) -> None:
    repo.write("placeholder", "x")
    base = repo.commit("release")
    path = repo.root / name
    path.write_text(content)
    result = drift("--rules", str(path), "--since", base)
    assert result.code == 3, result.err
    assert result.out == ""
    assert result.err.startswith("sealgate: malformed-input: "), result.err
    assert expected in result.err
    assert "Traceback" not in result.err


def test_malformed_file_at_the_baseline_is_named_with_its_commit(repo: Repo) -> None:
    path = repo.write("r.yaml", "rules: {not: a list}\n")
    base = repo.commit("release")
    path.write_text("rules: []\n")
    result = drift("--rules", str(path), "--since", base)
    assert result.code == 3
    assert f"sealgate: malformed-input: r.yaml at {base[:12]}" in result.err


def test_malformed_input_from_the_console_script_has_no_traceback(repo: Repo) -> None:
    path = repo.write("r.yaml", "rules: []\n")
    base = repo.commit("release")
    path.write_text("rules:\n  - id: a\n")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from sealgate.cli import main; sys.exit(main(sys.argv[1:]))",
         "drift", "--rules", str(path), "--since", base],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 3
    assert proc.stderr.strip() == "sealgate: malformed-input: r.yaml line 2: rule 'a' has no `pattern`"


def test_symlinked_rule_file_is_refused(repo: Repo, tmp_path: Path) -> None:
    path = repo.write("r.yaml", RULES)
    base = repo.commit("release")
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(RULES)
    path.unlink()
    path.symlink_to(elsewhere)
    result = drift("--rules", str(path), "--since", base)
    assert result.code == 3
    assert "is a symbolic link" in result.err


def test_baseline_and_options_are_required_and_exclusive(repo: Repo) -> None:
    path = repo.write("r.yaml", RULES)
    base = repo.commit("release")
    neither = drift("--rules", str(path))
    assert neither.code == 1 and "no baseline" in neither.err
    both = drift("--rules", str(path), "--since", base, "--name", "signal")
    assert both.code == 1 and "leave out --kind and --name" in both.err


def test_rule_file_outside_any_repository_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "lonely" / "r.yaml"
    path.parent.mkdir()
    path.write_text(RULES)
    result = drift("--rules", str(path), "--since", "HEAD")
    assert result.code == 1
    assert "is not inside a git working tree" in result.err
