"""Decide exactly whether one list of level rules ever gives a lower level than another.

A local policy may put its own level rules in front of the signed ones, but only if no
artifact ends up at a lower level. Kinds and stages are finite, and the namespace of a kind
is ``<kinds>/<name>`` with ``<name>`` drawn from ``[a-z0-9][a-z0-9._-]*``, so the question
is about one string. Namespace globs use only ``*`` and ``?``, which makes each a small
automaton; we walk the product of all of them breadth first, so we either visit every
distinguishable name or find the shortest name that is lowered (the witness named in the
error). The length limit of 64 and the ``..`` ban on names are ignored, which can only make
the check stricter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Final

from sealgate._dataclass import dataclass
from sealgate.errors import PolicyError, Reason
from sealgate.policy._types import KINDS, Level, LevelRule
from sealgate.registry.layout import KIND_PLURAL, STAGES

__all__ = ["Lowered", "find_lowered"]

_FIRST: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_REST: Final = _FIRST + "._-"
MAX_STATES: Final = 50_000


@dataclass(frozen=True, slots=True)
class Lowered:
    """An artifact whose level the candidate rules lower: the witness for a loosening."""

    kind: str
    namespace: str
    stage: str
    before: Level
    after: Level
    rule_index: int | None  # index into the candidate rules, or None for the candidate default


_State = tuple[frozenset[int], ...]


def _closure(pattern: str, positions: set[int]) -> frozenset[int]:
    out = set(positions)
    stack = list(positions)
    while stack:
        pos = stack.pop()
        if pos < len(pattern) and pattern[pos] == "*" and pos + 1 not in out:
            out.add(pos + 1)
            stack.append(pos + 1)
    return frozenset(out)


def _step(pattern: str, positions: frozenset[int], char: str) -> frozenset[int]:
    nxt: set[int] = set()
    for pos in positions:
        if pos >= len(pattern):
            continue
        symbol = pattern[pos]
        if symbol == "*":
            nxt.add(pos)
        elif symbol in ("?", char):
            nxt.add(pos + 1)
    return _closure(pattern, nxt)


def _relevant(rules: Sequence[LevelRule], kind: str, stage: str) -> list[tuple[int, Level, str | None]]:
    """The rules that can match ``kind``/``stage`` at all, with the glob for the name segment."""
    plural = KIND_PLURAL[kind]
    out: list[tuple[int, Level, str | None]] = []
    for i, rule in enumerate(rules):
        if rule.kind not in (None, kind) or rule.stage not in (None, stage):
            continue
        if rule.namespace is None:
            out.append((i, rule.level, None))
            continue
        head, name = rule.namespace.split("/")
        if fnmatchcase(plural, head):
            out.append((i, rule.level, name))
    return out


def _first(
    rules: list[tuple[int, Level, str | None]], accepted: dict[str, bool], default: Level
) -> tuple[Level, int | None]:
    for index, level, glob in rules:
        if glob is None or accepted[glob]:
            return level, index
    return default, None


def find_lowered(
    before: Sequence[LevelRule],
    before_default: Level,
    after: Sequence[LevelRule],
    after_default: Level,
) -> Lowered | None:
    """The first artifact (kind, namespace, stage) that ``after`` puts below ``before``, if any."""
    for kind in KINDS:
        for stage in STAGES:
            old = _relevant(before, kind, stage)
            new = _relevant(after, kind, stage)
            globs = sorted({g for _, _, g in old + new if g is not None})
            found = _search(globs, old, before_default, new, after_default)
            if found is not None:
                name, was, now, index = found
                return Lowered(kind, f"{KIND_PLURAL[kind]}/{name}", stage, was, now, index)
    return None


def _search(
    globs: list[str],
    old: list[tuple[int, Level, str | None]],
    old_default: Level,
    new: list[tuple[int, Level, str | None]],
    new_default: Level,
) -> tuple[str, Level, Level, int | None] | None:
    start: _State = tuple(_closure(g, {0}) for g in globs)
    seen: set[_State] = set()
    queue: deque[tuple[_State, str]] = deque()
    for char in _FIRST:
        state = tuple(_step(g, s, char) for g, s in zip(globs, start, strict=True))
        if state not in seen:
            seen.add(state)
            queue.append((state, char))
    while queue:
        state, name = queue.popleft()
        accepted = {g: len(g) in s for g, s in zip(globs, state, strict=True)}
        was, _ = _first(old, accepted, old_default)
        now, index = _first(new, accepted, new_default)
        if now < was:
            return name, was, now, index
        for char in _REST:
            nxt = tuple(_step(g, s, char) for g, s in zip(globs, state, strict=True))
            if nxt not in seen:
                if len(seen) >= MAX_STATES:
                    raise PolicyError(
                        "local policy field levels.rules is too complex to check against the signed rules; "
                        "use fewer or simpler namespace globs",
                        reason=Reason.POLICY_INVALID,
                    )
                seen.add(nxt)
                queue.append((nxt, name + char))
    return None
