"""Findings, their stable codes and severities, and the verdict the gate draws from them.

Every analyser returns a list of :class:`Finding`; the gate merges them and asks
:func:`evaluate` which deny at the level's ``deny_from`` (ARCHITECTURE.md "The gate, step by
step", step 4: ``strict`` denies from ``medium`` up, ``standard`` from ``high`` up). An
analyser the policy runs in ``audit`` mode reports but never denies. The code strings and
their severities are part of the public interface and documented in docs/checks.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from sealgate._dataclass import dataclass
from sealgate.errors import Severity

if TYPE_CHECKING:
    from sealgate.policy import Analyser, AnalyserMode

__all__ = ["CODES", "Finding", "Verdict", "deny_threshold", "evaluate", "merge_findings"]

_C = Severity.CRITICAL
_H = Severity.HIGH
_M = Severity.MEDIUM

# code -> severity. One severity per code, so a code means the same thing in every audit
# record. The analyser is the code's first dash-separated word.
CODES: Final[Mapping[str, Severity]] = MappingProxyType(
    {
        # command analysis
        "command-download-exec": _C,
        "command-reverse-shell": _C,
        "command-destructive-delete": _C,
        "command-fork-bomb": _C,
        "command-loader-injection": _H,
        "command-base64-exec": _H,
        "command-writes-system-config": _H,
        "command-shell-escape": _H,
        "command-unparseable": _H,
        "command-analysis-failed": _H,
        "command-denied": _H,
        "command-not-allowed": _H,
        "command-chmod-world-writable": _M,
        "command-chmod-setuid": _M,
        "command-non-literal-name": _M,
        "command-ansi-c-quoting": _M,
        # environment sanitisation
        "env-dangerous-variable": _H,
        "env-invalid-variable": _H,
        "env-unsafe-path": _H,
        "env-denied": _H,
        "env-not-allowed": _H,
        # paths
        "path-traversal": _H,
        "path-sensitive": _H,
        "path-symlink-escape": _H,
        "path-invalid": _H,
        "path-unverifiable": _H,
        "path-denied": _H,
        "path-not-allowed": _H,
        # URLs
        "url-metadata-address": _C,
        "url-private-address": _H,
        "url-scheme-not-allowed": _H,
        "url-unparseable": _H,
        "url-resolution-failed": _H,
        "url-host-denied": _H,
        "url-host-not-allowed": _H,
        "url-ip-obfuscation": _M,
        "url-idn-lookalike": _M,
        "url-userinfo": _M,
        # taint: an input reaching a sink the policy closes to its label
        "taint-shell": _C,
        "taint-sink-not-allowed": _H,
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing an analyser found: a stable ``code``, its ``severity`` and a human sentence.

    ``analyser`` is the value of a :class:`sealgate.policy.Analyser` (``command``, ``path``,
    ``url``, ``env``); ``location`` says where, in the analyser's own terms (character span
    of a shell string, ``argv``, a variable name, an address), or ``None``.
    """

    code: str
    severity: Severity
    message: str
    analyser: str
    location: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate does with a set of findings: ``deny`` holds every finding that denies,
    ``warn`` every other one (below the threshold, or from an analyser in ``audit`` mode).

    Both are recorded; only ``deny`` changes the decision.
    """

    deny: tuple[Finding, ...]
    warn: tuple[Finding, ...]


def make(code: str, message: str, location: str | None) -> Finding:
    """Build a finding of a registered ``code`` with its fixed severity and analyser."""
    return Finding(code, CODES[code], message, code.split("-", 1)[0], location)


def _order(f: Finding) -> tuple[int, str, str, str, str]:
    return (-f.severity.rank, f.analyser, f.code, f.location or "", f.message)


def merge_findings(*groups: Iterable[Finding]) -> list[Finding]:
    """Merge findings from several analysers: duplicates dropped, most severe first.

    The order is total (severity, analyser, code, location, message), so the same findings
    always give the same list and the same audit record.
    """
    seen: set[Finding] = set()
    merged: list[Finding] = []
    if len(groups) == 1 and isinstance(groups[0], list) and not groups[0]:
        return merged
    for group in groups:
        for finding in group:
            if finding not in seen:
                seen.add(finding)
                merged.append(finding)
    merged.sort(key=_order)
    return merged


def deny_threshold(findings: Iterable[Finding], deny_from: Severity) -> list[Finding]:
    """The findings at or above ``deny_from``, merged and ordered (analyser modes not applied)."""
    return [f for f in merge_findings(findings) if f.severity >= deny_from]


def _mode_key(key: object) -> str:
    value = getattr(key, "value", key)
    return value if isinstance(value, str) else repr(value)


def evaluate(
    findings: Iterable[Finding],
    deny_from: Severity,
    modes: Mapping[str, AnalyserMode] | Mapping[Analyser, AnalyserMode],
) -> Verdict:
    """Split findings into those that deny and those that only warn.

    A finding denies when its severity is at or above ``deny_from`` and its analyser is in
    ``enforce`` mode. ``modes`` is the policy's ``analysers`` mapping (keys may be
    :class:`~sealgate.policy.Analyser` members or their string values). An analyser missing
    from ``modes``, or a mode that is not ``audit``, enforces: the safe reading of a gap.
    """
    audit = {_mode_key(k) for k, mode in modes.items() if _mode_key(mode) == "audit"}
    deny: list[Finding] = []
    warn: list[Finding] = []
    for finding in merge_findings(findings):
        if finding.severity >= deny_from and finding.analyser not in audit:
            deny.append(finding)
        else:
            warn.append(finding)
    return Verdict(tuple(deny), tuple(warn))
