"""The drift check: compare rule sets in the working tree with the same files at a baseline commit.

The orchestrator of the package: it finds the repository, resolves the baseline commit
(missing or outside a shallow clone: an error), reads each file from the working tree and
from the commit, parses both (:mod:`._formats`, :mod:`._pyrules`), compares them
(:mod:`._compare`) with regexes run under a time budget (:mod:`._regex`), and returns the
report or raises :class:`~sealgate.drift._model.DriftDetectedError` carrying it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sealgate.drift._compare import compare_rule_sets
from sealgate.drift._formats import MAX_FILE_BYTES, parse_rule_set
from sealgate.drift._git import GitRepository
from sealgate.drift._model import Baseline, DriftDetectedError, DriftReport, Finding, RuleSet
from sealgate.drift._regex import Matcher
from sealgate.errors import MalformedInputError, UsageError
from sealgate.policy import Level

__all__ = ["check_drift"]

MAX_RULE_FILES = 256


def _read_working(path: Path) -> bytes | None:
    """The working-tree file, or ``None`` when it is gone. Symlinks and special files are refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MalformedInputError(f"{path} is a symbolic link; give the rule file itself") from exc
        raise MalformedInputError(f"{path} cannot be read: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise MalformedInputError(f"{path} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise MalformedInputError(f"{path} is {info.st_size} bytes, over the {MAX_FILE_BYTES}-byte limit")
        with os.fdopen(fd, "rb", closefd=True) as handle:
            fd = -1
            data = handle.read(MAX_FILE_BYTES + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise MalformedInputError(f"{path} is over the {MAX_FILE_BYTES}-byte limit")
    return data


def _describe(rel: str, base: RuleSet | None, cur: RuleSet | None) -> dict[str, Any]:
    shown = cur or base
    return {
        "path": rel,
        "format": shown.format if shown is not None else None,
        "in_baseline": base is not None,
        "in_working_tree": cur is not None,
        "rules": len(cur.rules) if cur is not None else 0,
        "settings": len(cur.settings) if cur is not None else 0,
        "baseline_rules": len(base.rules) if base is not None else 0,
        "baseline_settings": len(base.settings) if base is not None else 0,
    }


def check_drift(
    rules: Sequence[Path | str],
    baseline: Baseline,
    *,
    level: Level = Level.STANDARD,
    matcher: Matcher | None = None,
) -> DriftReport:
    """Compare the rule files ``rules`` in the working tree with the same paths at ``baseline``.

    The level is the stricter of ``level`` and the one the policy gives the baseline's
    registry entry. Returns the report when nothing fails at that level; raises
    :class:`DriftDetectedError` (exit 3, ``drift-detected``) with the report otherwise, and
    :class:`~sealgate.drift._git.BaselineMissingError` (exit 1) when the commit is not in
    the clone. Malformed files raise :class:`~sealgate.errors.MalformedInputError`.
    """
    paths = [Path(p) for p in rules]
    if not paths:
        raise UsageError("give at least one rule file (--rules PATH)")
    if len(paths) > MAX_RULE_FILES:
        raise UsageError(f"at most {MAX_RULE_FILES} rule files per run")
    if baseline.level is not None and baseline.level > level:
        level = baseline.level
    repo = GitRepository.containing(paths[0])
    for path in paths[1:]:
        other = GitRepository.containing(path)
        if os.path.realpath(other.toplevel) != os.path.realpath(repo.toplevel):
            raise UsageError(f"{path} is in {other.toplevel}, not in {repo.toplevel}: compare one repository per run")
    commit = repo.resolve_commit(baseline.commit)

    findings: list[Finding] = []
    files: list[dict[str, Any]] = []
    seen: set[str] = set()
    own_matcher = matcher is None
    active = matcher if matcher is not None else Matcher()
    try:
        for path in paths:
            rel = repo.relative(path)
            if rel in seen:
                continue
            seen.add(rel)
            base_bytes = repo.read_at(commit, rel, max_size=MAX_FILE_BYTES)
            cur_bytes = _read_working(path)
            if base_bytes is None and cur_bytes is None:
                raise UsageError(f"{path}: no such rule file, neither in the working tree nor at {commit[:12]}")
            base = None if base_bytes is None else parse_rule_set(base_bytes, rel, what=f"{rel} at {commit[:12]}")
            cur = None if cur_bytes is None else parse_rule_set(cur_bytes, rel, what=rel)
            findings += compare_rule_sets(base, cur, rel, active)
            files.append(_describe(rel, base, cur))
    finally:
        if own_matcher:
            active.close()
    report = DriftReport(
        baseline=baseline,
        commit=commit,
        repository=str(repo.toplevel),
        level=level,
        files=tuple(files),
        findings=tuple(findings),
    )
    if report.failed:
        raise DriftDetectedError(report)
    return report
