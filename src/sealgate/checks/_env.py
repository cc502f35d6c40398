"""Environment sanitisation: a sandboxed run sees only declared variables plus a safe base.

Variables that make a program load or run code chosen by whoever sets them (the dynamic
loader's ``LD_*``, interpreter start-up hooks, shell start-up files, Git's command hooks,
glibc's tunables and charset modules, …) are removed, and declaring one is a HIGH finding
(``env-dangerous-variable``). The same table tells command analysis which assignments are
loader injection (``command-loader-injection``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Final

from sealgate.checks._finding import Finding, make, merge_findings
from sealgate.errors import UsageError

__all__ = ["DEFAULT_BASE_ENV", "MAX_ENV_BYTES", "MAX_ENV_VARIABLES", "dangerous_variable", "sanitise_env"]

# The base every run starts from when the caller gives none. HOME points at a directory the
# sandbox provides; the runner passes its own base with the real work directory.
DEFAULT_BASE_ENV: Final[Mapping[str, str]] = MappingProxyType(
    {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TZ": "UTC"}  # noqa: S108 - the sandbox's private /tmp
)

MAX_ENV_VARIABLES: Final = 256
MAX_ENV_BYTES: Final = 128 * 1024  # names and values together, like a modest ARG_MAX share

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Exact names (compared upper-cased: some programs read lower-case spellings too).
_EXACT: Final[Mapping[str, str]] = MappingProxyType(
    {
        "BASH_ENV": "bash sources this file before running a script",
        "ENV": "POSIX shells source this file at start-up",
        "ZDOTDIR": "zsh reads its start-up files from this directory",
        "PROMPT_COMMAND": "bash runs this command before each prompt",
        "PS4": "bash expands command substitutions in the xtrace prompt",
        "SHELLOPTS": "changes shell options of every bash started below",
        "BASHOPTS": "changes shell options of every bash started below",
        "IFS": "changes how shells split words",
        "CDPATH": "changes where cd goes",
        "GLOBIGNORE": "changes shell globbing",
        "PERL5LIB": "perl loads modules from here first",
        "PERLLIB": "perl loads modules from here first",
        "PERL5OPT": "perl reads command-line options (such as -M) from here",
        "PERL5DB": "perl runs this debugger code",
        "RUBYOPT": "ruby reads command-line options (such as -r) from here",
        "RUBYLIB": "ruby loads libraries from here first",
        "NODE_OPTIONS": "node reads options (such as --require) from here",
        "NODE_PATH": "node resolves modules from here",
        "GCONV_PATH": "glibc loads charset conversion modules from here",
        "GLIBC_TUNABLES": "glibc tunables (CVE-2023-4911 class)",
        "HOSTALIASES": "redirects host name lookups",
        "RESOLV_HOST_CONF": "redirects resolver configuration",
        "LOCPATH": "glibc loads locale data from here",
        "NLSPATH": "loads message catalogues from here",
        "JAVA_TOOL_OPTIONS": "the JVM reads options (such as -javaagent) from here",
        "_JAVA_OPTIONS": "the JVM reads options (such as -javaagent) from here",
        "JDK_JAVA_OPTIONS": "the java launcher reads options from here",
        "LUA_INIT": "lua runs this code at start-up",
        "LUA_PATH": "lua loads modules from here",
        "LUA_CPATH": "lua loads native modules from here",
        "TCLLIBPATH": "tcl loads packages from here",
        "PHPRC": "php reads its configuration (auto_prepend_file) from here",
        "PHP_INI_SCAN_DIR": "php reads extra configuration from here",
        "OPENSSL_CONF": "OpenSSL loads engines named by this configuration",
        "OPENSSL_ENGINES": "OpenSSL loads engines from here",
        "SSLKEYLOGFILE": "TLS libraries write session keys here",
        "GIT_SSH": "git runs this program for ssh",
        "GIT_SSH_COMMAND": "git runs this command for ssh",
        "GIT_EXEC_PATH": "git runs its sub-commands from here",
        "GIT_ASKPASS": "git runs this program for credentials",
        "GIT_EDITOR": "git runs this editor command",
        "GIT_PAGER": "git runs this pager command",
        "GIT_EXTERNAL_DIFF": "git runs this diff command",
        "GIT_PROXY_COMMAND": "git runs this proxy command",
        "GIT_TEMPLATE_DIR": "git copies hooks from here into new repositories",
        "GIT_DIR": "points git at another repository (and its hooks)",
        "SSH_ASKPASS": "ssh runs this program for passphrases",
        "SUDO_ASKPASS": "sudo runs this program for passwords",
        "LESSOPEN": "less runs this input preprocessor",
        "LESSCLOSE": "less runs this input postprocessor",
        "PAGER": "programs run this pager command",
        "MANPAGER": "man runs this pager command",
        "EDITOR": "programs run this editor command",
        "VISUAL": "programs run this editor command",
        "BROWSER": "programs run this browser command",
    }
)

# Prefixes (compared upper-cased).
_PREFIXES: Final = (
    ("LD_", "the dynamic loader reads it (preload, library path, audit modules)"),
    ("DYLD_", "the macOS dynamic loader reads it"),
    ("PYTHON", "the Python interpreter reads it (start-up code, module path, options)"),
    ("MALLOC_", "glibc malloc debugging hooks"),
    ("BASH_FUNC_", "bash imports it as a function definition"),
    ("GIT_CONFIG", "git reads configuration (and with it command hooks) from it"),
    ("NPM_CONFIG_", "npm reads configuration (script shell, hooks) from it"),
)

# Of the above, these make a later program load or run attacker code when assigned in a
# shell command; the rest (IFS, PYTHONUNBUFFERED, PAGER, …) are ordinary in scripts and are
# handled by command analysis in their own way.
_LOADER_EXACT: Final = frozenset(
    {
        "BASH_ENV", "ENV", "ZDOTDIR", "PROMPT_COMMAND", "PERL5LIB", "PERLLIB", "PERL5OPT", "PERL5DB",
        "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH", "GCONV_PATH", "GLIBC_TUNABLES", "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "LUA_INIT", "LUA_PATH", "LUA_CPATH", "PHPRC", "PHP_INI_SCAN_DIR",
        "OPENSSL_CONF", "OPENSSL_ENGINES", "GIT_EXEC_PATH", "GIT_TEMPLATE_DIR", "PATH",
        "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONINSPECT", "PYTHONEXECUTABLE",
    }
)  # fmt: skip
_LOADER_PREFIXES: Final = ("LD_", "DYLD_", "BASH_FUNC_", "GIT_CONFIG")


def dangerous_variable(name: str) -> str | None:
    """Why ``name`` must not reach a sandboxed program, or ``None`` when it may."""
    upper = name.upper()
    reason = _EXACT.get(upper)
    if reason is not None:
        return reason
    for prefix, why in _PREFIXES:
        if upper.startswith(prefix):
            return why
    return None


def loader_variable(name: str) -> bool:
    """A lookup for command analysis: does assigning ``name`` make later programs load other code?"""
    upper = name.upper()
    return upper in _LOADER_EXACT or upper.startswith(_LOADER_PREFIXES)


# Directories anyone may write to; names, not files we open.
_UNSAFE_PATH_DIRS: Final = ("/tmp", "/var/tmp", "/dev/shm", "/run/user")  # noqa: S108


def unsafe_path_value(value: str) -> str | None:
    """Why a ``PATH`` value lets another party choose the programs found, or ``None``."""
    for entry in value.split(":"):
        if not entry or entry == "." or not entry.startswith("/"):
            return f"entry {entry!r} is relative, so the working directory decides which program runs"
        if "/../" in entry + "/" or "/./" in entry + "/":
            return f"entry {entry!r} is not normalised"
        for unsafe in _UNSAFE_PATH_DIRS:
            if entry == unsafe or entry.startswith(unsafe + "/"):
                return f"entry {entry!r} is under the world-writable {unsafe}"
    return None


def _matches(name: str, patterns: Collection[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def _checked(
    name: object, value: object, where: str, findings: list[Finding], allow: Collection[str] | None,
    deny: Collection[str],
) -> bool:  # fmt: skip
    """Record the findings for one variable; true when it may be passed on."""
    if not isinstance(name, str) or not isinstance(value, str) or not _NAME.fullmatch(name) or "\x00" in value:
        findings.append(
            make("env-invalid-variable", f"{where} variable {name!r} is not a NAME=string pair; dropped", str(name))
        )
        return False
    reason = dangerous_variable(name)
    if reason is not None:
        findings.append(make("env-dangerous-variable", f"{where} variable {name} removed: {reason}", name))
        return False
    if name == "PATH":
        why = unsafe_path_value(value)
        if why is not None:
            findings.append(make("env-unsafe-path", f"{where} PATH not used: {why}", name))
            return False
    if deny and _matches(name, deny):
        findings.append(make("env-denied", f"{where} variable {name} is on the policy's env deny-list; dropped", name))
        return False
    if allow is not None and where == "declared" and not _matches(name, allow):
        findings.append(
            make("env-not-allowed", f"{where} variable {name} is not on the policy's env allow-list; dropped", name)
        )
        return False
    return True


def sanitise_env(
    declared: Mapping[str, str],
    *,
    base: Mapping[str, str] | None = None,
    allow: Collection[str] | None = None,
    deny: Collection[str] = (),
) -> tuple[dict[str, str], list[Finding]]:
    """The environment a sandboxed run gets, and the findings about what was left out.

    The result holds ``base`` (default :data:`DEFAULT_BASE_ENV`) overlaid with ``declared``,
    minus every dangerous, invalid, denied or (for declared variables) not-allowed variable.
    ``allow`` and ``deny`` are the policy's ``env`` lists (``policy.allow_list("env")``,
    ``policy.deny_list("env")``); entries are names or ``fnmatch`` patterns such as
    ``AWS_*``. ``allow=None`` means no restriction; an empty ``allow`` admits no declared
    variable. Nothing from the caller's own environment is ever inherited.
    """
    if isinstance(allow, str) or isinstance(deny, str):
        raise UsageError("sanitise_env: allow and deny are collections of names or patterns, not one string")
    findings: list[Finding] = []
    env: dict[str, str] = {}
    for name, value in (DEFAULT_BASE_ENV if base is None else base).items():
        if _checked(name, value, "base", findings, allow, deny):
            env[name] = value
    total = 0
    for count, name in enumerate(sorted(declared, key=str)):
        value = declared[name]
        total += len(str(name)) + len(str(value)) + 2
        if count >= MAX_ENV_VARIABLES or total > MAX_ENV_BYTES:
            findings.append(
                make(
                    "env-invalid-variable",
                    f"declared variable {name!r} dropped: more than {MAX_ENV_VARIABLES} variables or "
                    f"{MAX_ENV_BYTES} bytes declared",
                    str(name),
                )
            )
            continue
        if _checked(name, value, "declared", findings, allow, deny):
            env[name] = value
    return env, merge_findings(findings)
