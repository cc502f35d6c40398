"""Environment sanitisation: only declared variables and a safe base reach a sandboxed run."""

from __future__ import annotations

import pytest

from sealgate.checks import DEFAULT_BASE_ENV, sanitise_env
from sealgate.checks._env import MAX_ENV_VARIABLES
from sealgate.errors import Severity


@pytest.mark.parametrize(
    "name",
    [
        "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "PYTHONPATH", "PYTHONSTARTUP", "BASH_ENV",
        "ENV", "PROMPT_COMMAND", "PERL5LIB", "PERL5OPT", "RUBYOPT", "NODE_OPTIONS", "GIT_SSH_COMMAND", "GIT_EXEC_PATH",
        "GIT_CONFIG_COUNT", "IFS", "SHELLOPTS", "BASHOPTS", "GCONV_PATH", "MALLOC_CHECK_", "GLIBC_TUNABLES",
        "BASH_FUNC_ls%%", "JAVA_TOOL_OPTIONS", "ld_preload",
    ],
)  # fmt: skip
def test_declaring_a_dangerous_variable_is_high_and_it_is_removed(name: str) -> None:
    env, findings = sanitise_env({name: "/tmp/evil", "GREETING": "hi"})
    assert name not in env and env["GREETING"] == "hi"
    bad = [f for f in findings if f.location == name]
    assert bad and bad[0].severity is Severity.HIGH
    assert bad[0].code in ("env-dangerous-variable", "env-invalid-variable")


def test_nothing_is_inherited_from_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("LD_PRELOAD", "/tmp/x.so")
    env, findings = sanitise_env({})
    assert env == dict(DEFAULT_BASE_ENV) and findings == []
    assert env["PATH"] == "/usr/bin:/bin" and env["LANG"] == "C.UTF-8" and "HOME" in env


def test_declared_variables_override_the_base() -> None:
    env, findings = sanitise_env({"LANG": "de_DE.UTF-8", "TOKEN": "x"}, base={"PATH": "/usr/bin", "LANG": "C"})
    assert env == {"PATH": "/usr/bin", "LANG": "de_DE.UTF-8", "TOKEN": "x"} and findings == []


def test_dangerous_variable_in_the_base_is_removed_too() -> None:
    env, findings = sanitise_env({}, base={"PATH": "/usr/bin", "LD_PRELOAD": "/x.so"})
    assert env == {"PATH": "/usr/bin"}
    assert [(f.code, f.location) for f in findings] == [("env-dangerous-variable", "LD_PRELOAD")]


@pytest.mark.parametrize("path", ["/tmp/bin:/usr/bin", ".:/usr/bin", "/usr/bin::/bin", "bin:/usr/bin", "/dev/shm/x"])
def test_declared_path_that_lets_others_choose_programs_is_refused(path: str) -> None:
    env, findings = sanitise_env({"PATH": path})
    assert env["PATH"] == DEFAULT_BASE_ENV["PATH"]
    assert [f.code for f in findings] == ["env-unsafe-path"]


def test_declared_safe_path_is_kept() -> None:
    env, findings = sanitise_env({"PATH": "/opt/tool/bin:/usr/bin:/bin"})
    assert env["PATH"] == "/opt/tool/bin:/usr/bin:/bin" and findings == []


@pytest.mark.parametrize("name, value", [("1BAD", "x"), ("A-B", "x"), ("A=B", "x"), ("", "x"), ("OK", "a\x00b")])
def test_invalid_names_and_values_are_dropped(name: str, value: str) -> None:
    env, findings = sanitise_env({name: value})
    assert name not in env
    assert [f.code for f in findings] == ["env-invalid-variable"]


def test_too_many_declared_variables_are_dropped_beyond_the_bound() -> None:
    declared = {f"V{i:04d}": "x" for i in range(MAX_ENV_VARIABLES + 5)}
    env, findings = sanitise_env(declared)
    assert sum(1 for k in env if k.startswith("V")) == MAX_ENV_VARIABLES
    assert len(findings) == 5 and {f.code for f in findings} == {"env-invalid-variable"}


def test_policy_env_lists_are_applied() -> None:
    env, findings = sanitise_env({"AWS_KEY": "k", "TOKEN": "t", "LANG": "C"}, allow={"AWS_*", "LANG"}, deny={"AWS_KEY"})
    assert "AWS_KEY" not in env and "TOKEN" not in env and env["LANG"] == "C"
    assert {(f.code, f.location) for f in findings} == {("env-denied", "AWS_KEY"), ("env-not-allowed", "TOKEN")}
    env, findings = sanitise_env({"A": "1"}, allow=set())
    assert "A" not in env and [f.code for f in findings] == ["env-not-allowed"]
