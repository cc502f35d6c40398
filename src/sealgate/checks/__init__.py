"""Runtime checks: command, path, URL and environment analysers returning findings.

A service layer below the gate (ARCHITECTURE.md "Layers"). Each analyser is a pure
function returning a list of :class:`Finding` with a stable code and a fixed severity
(docs/checks.md lists them); the gate merges them with :func:`merge_findings` and decides
with :func:`evaluate`: a finding denies at or above the level's ``deny_from`` unless its
analyser runs in ``audit`` mode. Nothing here spawns a process or opens a socket; only
:func:`check_no_symlink_escape` reads the file system.

Importing this package is cheap: ``bashlex`` is imported on the first shell string to
parse, ``ipaddress`` on the first URL.
"""

from __future__ import annotations

from sealgate.checks._command import analyse_command
from sealgate.checks._env import DEFAULT_BASE_ENV, sanitise_env
from sealgate.checks._finding import CODES, Finding, Verdict, deny_threshold, evaluate, merge_findings
from sealgate.checks._path import analyse_path, check_no_symlink_escape
from sealgate.checks._url import analyse_url

__all__ = [
    "CODES",
    "DEFAULT_BASE_ENV",
    "Finding",
    "Verdict",
    "analyse_command",
    "analyse_path",
    "analyse_url",
    "check_no_symlink_escape",
    "deny_threshold",
    "evaluate",
    "merge_findings",
    "sanitise_env",
]
