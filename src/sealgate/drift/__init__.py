"""Drift detector: has a sanitiser, redaction rule set or invariant manifest weakened since the release?

``check_drift`` compares rule files in a git working tree with the same files at a baseline
commit: ``--since COMMIT``, or by default the git commit of the newest active PROD entry in
the verified registry view (:func:`registry_baseline`). It reports removed rules, weakened
rules (a former positive example no longer matched in full), settings moved in their
unsafe direction, and pattern changes that no example can vouch for
(``unverifiable-change``, failing under ``strict``). docs/drift.md has the formats.
"""

from __future__ import annotations

from sealgate.drift._baseline import registry_baseline
from sealgate.drift._check import check_drift
from sealgate.drift._formats import parse_rule_set
from sealgate.drift._git import BaselineMissingError
from sealgate.drift._model import (
    Baseline,
    Direction,
    DriftDetectedError,
    DriftReport,
    Finding,
    FindingKind,
    RegexRule,
    RuleSet,
    Setting,
)
from sealgate.drift._regex import Matcher, MatchResult

__all__ = [
    "Baseline",
    "BaselineMissingError",
    "Direction",
    "DriftDetectedError",
    "DriftReport",
    "Finding",
    "FindingKind",
    "MatchResult",
    "Matcher",
    "RegexRule",
    "RuleSet",
    "Setting",
    "check_drift",
    "parse_rule_set",
    "registry_baseline",
]
