"""``sealgate.checks`` exports what we meant, and importing it is cheap (no bashlex, YAML, JSON Schema)."""

from __future__ import annotations

import json
import subprocess
import sys

import sealgate.checks as checks

EXPECTED = {
    "CODES", "DEFAULT_BASE_ENV", "Finding", "Verdict", "analyse_command", "analyse_path", "analyse_url",
    "check_no_symlink_escape", "deny_threshold", "evaluate", "merge_findings", "sanitise_env",
}  # fmt: skip
HEAVY = ("bashlex", "yaml", "_yaml", "jsonschema", "referencing", "pydantic", "dataclasses", "inspect", "sqlalchemy")


def _modules_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_all_is_the_intended_public_api() -> None:
    assert set(checks.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(checks, name) is not None


def test_importing_checks_loads_no_parser_or_schema_library() -> None:
    loaded = _modules_after("import sealgate.checks")
    assert [m for m in loaded if m.split(".")[0] in HEAVY] == []
    assert "sealgate.checks._shellwalk" not in loaded
    assert "ipaddress" not in loaded


def test_url_path_env_and_argv_checks_never_import_bashlex() -> None:
    code = (
        "from sealgate.checks import analyse_url, analyse_path, sanitise_env, analyse_command\n"
        "analyse_url('https://127.0.0.1/'); analyse_path('~/.ssh/id_rsa'); sanitise_env({'A': 'b'})\n"
        "analyse_command(['find', '.', '-exec', 'rm', '-rf', '/', ';'], shell=False)"
    )
    loaded = _modules_after(code)
    assert [m for m in loaded if m.split(".")[0] in HEAVY] == []


def test_plain_word_command_is_analysed_without_importing_bashlex() -> None:
    loaded = _modules_after("from sealgate.checks import analyse_command\nanalyse_command('rm -rf /', shell=True)")
    assert "bashlex" not in loaded


def test_shell_string_imports_bashlex_on_first_use_only() -> None:
    loaded = _modules_after("from sealgate.checks import analyse_command\nanalyse_command('ls | wc', shell=True)")
    assert "bashlex" in loaded
    # bashlex's yacc brings inspect with it; the schema and YAML libraries still stay out.
    assert [m for m in loaded if m.split(".")[0] in HEAVY and m.split(".")[0] not in ("bashlex", "inspect")] == []


def test_every_code_belongs_to_an_analyser_of_the_policy() -> None:
    from sealgate.policy import Analyser

    analysers = {a.value for a in Analyser}
    for code in checks.CODES:
        assert code.split("-", 1)[0] in analysers, code
