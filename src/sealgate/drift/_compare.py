"""Compare a rule set at the baseline with the working tree: the findings, and nothing else.

Regex rules (docs/drift.md, "What is checked"): a rule whose id is gone is ``removed``. A
rule whose pattern or flags changed is judged by the baseline's positive examples, which
are the contract the released build was reviewed against: every example must still be
matched, over at least every character the baseline pattern matched in it (coverage, see
:mod:`sealgate.drift._regex`); otherwise the rule is ``weakened``. Examples the baseline
pattern did not match itself prove nothing and are ignored; with no example left the
change is ``unverifiable-change``. Examples written next to the new pattern do not count:
they were written with it.

Settings: a setting whose name is gone is ``removed``; a value that moved in the unsafe
direction, as the *baseline* declares it, is ``unsafe-setting``; so is a change of the
declaration itself (``safe``, or an ``order`` that does not keep the baseline's values in
their order), because flipping the declared direction would otherwise make any move "safe".
"""

from __future__ import annotations

import json
from typing import Final

from sealgate.drift._model import Direction, Finding, FindingKind, RegexRule, RuleSet, Setting, SettingValue
from sealgate.drift._regex import Matcher, MatchResult

__all__ = ["compare_rule_sets"]

_SHOW: Final = 60


def _show(text: str) -> str:
    return repr(text if len(text) <= _SHOW else text[:_SHOW] + "…")


def compare_rule_sets(baseline: RuleSet | None, current: RuleSet | None, file: str, matcher: Matcher) -> list[Finding]:
    """Every difference between ``baseline`` and ``current`` (either may be absent: no file)."""
    base = baseline or RuleSet("none")
    cur = current or RuleSet("none")
    findings: list[Finding] = []
    for rule_id, rule in base.rules.items():
        findings += _compare_rule(rule, cur.rules.get(rule_id), file, matcher)
    for rule_id, rule in cur.rules.items():
        if rule_id not in base.rules:
            findings.append(Finding(FindingKind.ADDED, rule_id, file, f"new rule {rule_id!r}", line=rule.line))
    for name, setting in base.settings.items():
        findings += _compare_setting(setting, cur.settings.get(name), file)
    for name, setting in cur.settings.items():
        if name not in base.settings:
            findings.append(
                Finding(
                    FindingKind.ADDED, name, file, f"new setting {name!r} = {_value(setting.value)}",
                    line=setting.line, subject="setting",
                )
            )  # fmt: skip
    return findings


# -- regex rules ------------------------------------------------------------------------------


def _compare_rule(base: RegexRule, cur: RegexRule | None, file: str, matcher: Matcher) -> list[Finding]:
    if cur is None:
        return [
            Finding(
                FindingKind.REMOVED, base.id, file,
                f"rule {base.id!r} is gone (pattern {_show(_text(base.pattern))})",
                baseline_line=base.line,
            )
        ]  # fmt: skip
    out: list[Finding] = []
    lost = [e for e in base.examples if e not in cur.examples]
    if base.signature == cur.signature:
        if lost:
            out.append(
                Finding(
                    FindingKind.CHANGED, cur.id, file,
                    f"pattern unchanged, but {len(lost)} positive example(s) were dropped, e.g. {_show(lost[0])}; "
                    "future changes of this rule will be checked against fewer examples",
                    line=cur.line, baseline_line=base.line,
                )
            )  # fmt: skip
        return out

    what_changed = "pattern" if base.pattern != cur.pattern else "flags"
    if base.pattern != cur.pattern and base.flags != cur.flags:
        what_changed = "pattern and flags"
    proven: list[tuple[str, MatchResult]] = []
    for example in base.examples:
        before = matcher.search(base.pattern, base.flags, example)
        if before.matched:
            proven.append((example, before))
    if not proven:
        why = (
            "the baseline rule had no positive example"
            if not base.examples
            else "none of the baseline's examples matched the baseline pattern"
        )
        return [
            Finding(
                FindingKind.UNVERIFIABLE, cur.id, file,
                f"{what_changed} changed and {why}, so drift cannot tell whether it was weakened "
                f"(was {_show(_text(base.pattern))}, now {_show(_text(cur.pattern))})",
                line=cur.line, baseline_line=base.line,
            )
        ]  # fmt: skip
    failures: list[str] = []
    for example, before in proven:
        after = matcher.search(cur.pattern, cur.flags, example)
        if after.error is not None:
            failures.append(f"{_show(example)}: the new pattern {after.error}")
        elif not after.spans:
            failures.append(f"{_show(example)} no longer matches")
        elif not after.covers(before):
            failures.append(f"{_show(example)} is matched only in part (was {_spans(before)}, now {_spans(after)})")
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        return [
            Finding(
                FindingKind.WEAKENED, cur.id, file,
                f"{what_changed} changed and a former positive example {failures[0]}{more}",
                line=cur.line, baseline_line=base.line,
            )
        ]  # fmt: skip
    return [
        Finding(
            FindingKind.CHANGED, cur.id, file,
            f"{what_changed} changed; all {len(proven)} former positive example(s) still match in full",
            line=cur.line, baseline_line=base.line,
        )
    ]  # fmt: skip


def _text(pattern: str | bytes) -> str:
    return pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern


def _spans(result: MatchResult) -> str:
    return ",".join(f"{s}-{e}" for s, e in result.spans) or "nothing"


# -- settings ---------------------------------------------------------------------------------


def _value(value: SettingValue) -> str:
    # JSON spelling (true, "debug", ["net_raw"]): what the manifest's author wrote.
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _declaration(setting: Setting) -> str:
    order = f", order {_value(setting.order)}" if setting.order is not None else ""
    return f"safe: {setting.safe.value}{order}"


def _keeps_order(base: tuple[object, ...], cur: tuple[object, ...]) -> bool:
    """True when ``base`` is a subsequence of ``cur`` (new values inserted, none reordered or dropped)."""
    it = iter(cur)
    return all(any(v == w and type(v) is type(w) for w in it) for v in base)


def _compare_setting(base: Setting, cur: Setting | None, file: str) -> list[Finding]:
    def finding(kind: FindingKind, message: str) -> Finding:
        return Finding(
            kind, base.name, file, message,
            line=cur.line if cur is not None else None, baseline_line=base.line, subject="setting",
        )  # fmt: skip

    if cur is None:
        return [finding(FindingKind.REMOVED, f"setting {base.name!r} (was {_value(base.value)}) is gone")]
    out: list[Finding] = []
    compatible = cur.safe is base.safe and (
        (base.order is None and cur.order is None)
        or (base.order is not None and cur.order is not None and _keeps_order(base.order, cur.order))
    )
    if not compatible:
        out.append(
            finding(
                FindingKind.UNSAFE_SETTING,
                f"the declared safe direction changed from ({_declaration(base)}) to ({_declaration(cur)}); "
                "the value is judged by the baseline's declaration",
            )
        )
    order = cur.order if compatible else base.order
    verdict = _judge(base.safe, order, base.value, cur.value)
    change = f"{_value(base.value)} -> {_value(cur.value)}"
    if verdict == "same":
        return out
    if verdict == "safer":
        out.append(finding(FindingKind.CHANGED, f"{change}, in the safe direction ({_declaration(base)})"))
    elif verdict == "incomparable":
        out.append(
            finding(
                FindingKind.UNSAFE_SETTING,
                f"{change} cannot be placed in the baseline's declaration ({_declaration(base)}); treated as unsafe",
            )
        )
    else:
        out.append(
            finding(
                FindingKind.UNSAFE_SETTING, f"{change} moved in the unsafe direction ({_declaration(base)}){verdict}"
            )
        )
    return out


def _judge(
    safe: Direction, order: tuple[str | int | float | bool, ...] | None, before: SettingValue, after: SettingValue
) -> str:
    """``"same"``, ``"safer"``, ``"incomparable"``, or an unsafe verdict (``""`` or a detail to append)."""
    if before == after and type(before) is type(after):
        return "same"
    if safe in (Direction.TRUE, Direction.FALSE):
        if not isinstance(after, bool) or not isinstance(before, bool):
            return "incomparable"
        wanted = safe is Direction.TRUE
        return "safer" if after == wanted else ""
    if safe in (Direction.FEWER, Direction.MORE):
        if not isinstance(before, tuple) or not isinstance(after, tuple):
            return "incomparable"
        added = [v for v in after if v not in before]
        dropped = [v for v in before if v not in after]
        if safe is Direction.FEWER and added:
            return f": added {_value(tuple(added))}"
        if safe is Direction.MORE and dropped:
            return f": dropped {_value(tuple(dropped))}"
        return "safer" if (added or dropped) else "same"
    # HIGHER / LOWER
    if order is not None:
        if before not in order or after not in order or isinstance(before, tuple) or isinstance(after, tuple):
            return "incomparable"
        rank_before: float = order.index(before)
        rank_after: float = order.index(after)
    else:
        if isinstance(before, (bool, tuple, str)) or isinstance(after, (bool, tuple, str)):
            return "incomparable"
        rank_before, rank_after = before, after
    if rank_after == rank_before:
        return "same"
    went_up = rank_after > rank_before
    return "safer" if went_up == (safe is Direction.HIGHER) else ""
