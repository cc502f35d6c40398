"""The values the drift detector works on: rules, settings, rule sets, findings and the report.

A rule set is what one file says, parsed from the working tree or from the baseline commit
(docs/drift.md gives the formats). Findings say how the working tree differs from the
baseline; whether a finding fails the check depends on the level (``unverifiable-change``
fails only under ``strict``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final

from sealgate.errors import Reason, VerificationError
from sealgate.policy import Level

__all__ = [
    "REPORT_TYPE",
    "Baseline",
    "Direction",
    "DriftDetectedError",
    "DriftReport",
    "Finding",
    "FindingKind",
    "RegexRule",
    "RuleSet",
    "Setting",
    "SettingValue",
]

REPORT_TYPE: Final = "sealgate/drift-report/v1"

SettingValue = str | int | float | bool | tuple[str | int | float | bool, ...]


class Direction(enum.Enum):
    """The declared safe direction of a setting (``safe:`` in an invariant manifest)."""

    HIGHER = "higher"  # ordered values (``order``) or numbers: moving down is unsafe
    LOWER = "lower"  # ordered values or numbers: moving up is unsafe
    TRUE = "true"  # a boolean whose safe value is true
    FALSE = "false"  # a boolean whose safe value is false
    FEWER = "fewer"  # a set: adding a member is unsafe (dangerous capabilities)
    MORE = "more"  # a set: removing a member is unsafe (fields that must be redacted)


@dataclass(frozen=True, slots=True)
class RegexRule:
    """One sanitiser or redaction rule: a regex and the examples it must keep matching."""

    id: str
    pattern: str | bytes
    flags: frozenset[str]
    examples: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()
    line: int | None = None

    @property
    def signature(self) -> tuple[str | bytes, frozenset[str]]:
        """What decides the rule's behaviour: a change here must be justified by the examples."""
        return (self.pattern, self.flags)


@dataclass(frozen=True, slots=True)
class Setting:
    """One invariant: a value and the direction in which changing it is safe."""

    name: str
    value: SettingValue
    safe: Direction
    order: tuple[str | int | float | bool, ...] | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Everything one file declares: regex rules by id, settings by name."""

    format: str  # "yaml", "json" or "python"
    rules: dict[str, RegexRule] = field(default_factory=dict)
    settings: dict[str, Setting] = field(default_factory=dict)


class FindingKind(enum.Enum):
    """What changed. ``removed``, ``weakened`` and ``unsafe-setting`` always fail the check."""

    REMOVED = "removed"
    WEAKENED = "weakened"
    UNSAFE_SETTING = "unsafe-setting"
    UNVERIFIABLE = "unverifiable-change"
    ADDED = "added"
    CHANGED = "changed"

    def fails(self, level: Level) -> bool:
        if self in (FindingKind.REMOVED, FindingKind.WEAKENED, FindingKind.UNSAFE_SETTING):
            return True
        if self is FindingKind.UNVERIFIABLE:
            return level >= Level.STRICT
        return False


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference between the baseline and the working tree.

    ``line`` is the line in the working-tree file (``None`` for a removal or when the format
    gives no lines); ``baseline_line`` the line in the file at the baseline commit.
    """

    kind: FindingKind
    id: str
    file: str
    message: str
    line: int | None = None
    baseline_line: int | None = None
    subject: str = "rule"  # "rule" or "setting"

    def to_json(self, level: Level) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "subject": self.subject,
            "id": self.id,
            "file": self.file,
            "line": self.line,
            "baseline_line": self.baseline_line,
            "message": self.message,
            "fails": self.kind.fails(level),
        }


@dataclass(frozen=True, slots=True)
class Baseline:
    """The commit the working tree is compared with, and where that commit came from.

    ``source`` is ``"since"`` (given on the command line) or ``"registry"`` (the git commit
    of the newest active PROD entry in the verified registry view, described by ``entry``).
    ``level`` is the level the signed policy gives that entry, ``None`` for ``--since``.
    """

    commit: str
    source: str
    entry: dict[str, Any] | None = None
    level: Level | None = None


@dataclass(frozen=True, slots=True)
class DriftReport:
    """The outcome of one comparison: what was compared, at which level, and every finding."""

    baseline: Baseline
    commit: str  # the baseline resolved to a full commit id
    repository: str
    level: Level
    files: tuple[dict[str, Any], ...]
    findings: tuple[Finding, ...]

    @property
    def failing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind.fails(self.level))

    @property
    def failed(self) -> bool:
        return bool(self.failing)

    def counts(self) -> dict[str, int]:
        out = {kind.value: 0 for kind in FindingKind}
        for finding in self.findings:
            out[finding.kind.value] += 1
        return out

    def summary(self) -> str:
        counts = self.counts()
        parts = [f"{counts[k.value]} {k.value}" for k in FindingKind if counts[k.value]]
        return ", ".join(parts) if parts else "no change"

    def to_json(self) -> dict[str, Any]:
        return {
            "_type": REPORT_TYPE,
            "baseline": {
                "commit": self.commit,
                "requested": self.baseline.commit,
                "source": self.baseline.source,
                "entry": self.baseline.entry,
            },
            "repository": self.repository,
            "level": self.level.value,
            "files": list(self.files),
            "findings": [f.to_json(self.level) for f in self.findings],
            "counts": self.counts(),
            "failed": self.failed,
        }


class DriftDetectedError(VerificationError):
    """A rule was removed or weakened, or a setting moved in its unsafe direction (exit 3).

    ``report`` holds the whole :class:`DriftReport`, so a front-end can still print it.
    """

    def __init__(self, report: DriftReport) -> None:
        failing = report.failing
        first = failing[0]
        where = f"{first.file}:{first.line or first.baseline_line or '-'}"
        more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
        super().__init__(
            f"{report.summary()} since {report.commit[:12]}; first: {first.kind.value} {first.subject} "
            f"{first.id!r} at {where}{more}",
            reason=Reason.DRIFT_DETECTED,
        )
        self.report = report
