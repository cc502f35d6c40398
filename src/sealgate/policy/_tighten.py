"""Apply a local policy to the signed one: it may only tighten, field by field, or the gate stops.

The rules (ARCHITECTURE.md "Formats: Trust policy"; the table is in docs/policy.md):
thresholds and required roles take the maximum, allow-lists intersect, deny-lists unite,
``enforce`` beats ``audit``, the sinks each taint label may reach intersect, staleness and
resource limits take the minimum, the environment
may go from development to production, ``deny_from`` may only go lower, ``allow_deprecated``
may only go from true to false, and a level rule may only raise a level. A local value that
would loosen any of them is refused with ``policy-loosened``, naming the field and both values;
all loosenings found are reported in one sentence.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Final

from sealgate._dataclass import replace
from sealgate.errors import PolicyError, Reason
from sealgate.policy._levels import find_lowered
from sealgate.policy._policy import MAX_LEVEL_RULES, LocalPolicy, TrustPolicy
from sealgate.policy._types import AnalyserMode, Environment, Level, Requirements, Resources

__all__ = ["effective_policy", "tighten"]

_MAX_SHOWN: Final = 8


def _show(entries: frozenset[str]) -> str:
    items = sorted(entries)
    if not items:
        return "(none)"
    text = ", ".join(items[:_MAX_SHOWN])
    if len(items) > _MAX_SHOWN:
        text += f" and {len(items) - _MAX_SHOWN} more"
    return text


def tighten(signed: TrustPolicy, local: LocalPolicy) -> TrustPolicy:
    """The signed policy made stricter by ``local``; ``PolicyError(policy-loosened)`` if ``local`` loosens anything.

    ``tighten(p, LocalPolicy.empty())`` is ``p`` itself, digest included. Otherwise the result's
    ``digest`` is the SHA-256 of its canonical encoding (audit ``signed.digest`` and
    ``local.digest`` as well).
    """
    loosened: list[str] = []

    # Environment: development -> production only.
    environment = signed.environment
    if local.environment is not None:
        if local.environment.rank < signed.environment.rank:
            loosened.append(
                f"environment: signed {signed.environment.value}, local {local.environment.value} "
                "(may go from development to production, not back)"
            )
        elif local.environment.rank > signed.environment.rank:
            environment = local.environment

    # Levels, taken as the pointwise maximum of the two policies: the local default is a floor
    # (every signed rule and the signed default are raised to at least it) and the local rules
    # go in front of the signed ones. A local rule is refused if it would put any artifact
    # below the level the signed policy gives it; that is decided exactly (``_levels.py``) and
    # the artifact is named. Exact duplicate rules are dropped (a later copy can never match
    # first), so applying one local file twice changes nothing more.
    floor = local.default_level
    if floor is not None and floor < signed.default_level:
        loosened.append(
            f"levels.default: signed {signed.default_level.value}, local {floor.value} (a level may only be raised)"
        )
    default = signed.default_level if floor is None else max(signed.default_level, floor)
    raised_signed = tuple(
        rule if floor is None or rule.level >= floor else replace(rule, level=floor) for rule in signed.level_rules
    )
    rules = tuple(dict.fromkeys((*local.level_rules, *raised_signed)))
    lowered = find_lowered(signed.level_rules, signed.default_level, rules, default)
    if lowered is not None:
        # Only a local rule can lower a level (raised signed rules and the maximum default
        # cannot), so the culprit is normally among the local rules; refuse in any case.
        rule = rules[lowered.rule_index] if lowered.rule_index is not None else None
        culprit = f"levels.rules[{local.level_rules.index(rule)}]" if rule in local.level_rules else "levels"
        loosened.append(
            f"{culprit}: would lower {lowered.kind} {lowered.namespace} at stage "
            f"{lowered.stage} from signed {lowered.before.value} to local {lowered.after.value} (a level rule may "
            "only raise a level)"
        )
    if len(rules) > MAX_LEVEL_RULES:
        raise PolicyError(
            f"local policy field levels.rules: with the signed rules there would be {len(rules)}, over the limit "
            f"of {MAX_LEVEL_RULES}",
            reason=Reason.POLICY_INVALID,
        )

    requirements = dict(signed.requirements_by_level)
    for level, want in local.requirements_by_level.items():
        have = signed.requirements_by_level.get(level)
        if have is None:
            # The signed policy has no such level (permissive in production), and no local
            # rule can create one, so nothing is ever judged by these requirements.
            continue
        roles = dict(have.roles)
        for role, count in want.roles.items():
            if count < have.threshold(role):
                loosened.append(
                    f"requirements.{level.value}.roles.{role.value}: signed {have.threshold(role)}, local {count} "
                    "(thresholds may only go up)"
                )
            roles[role] = max(count, have.threshold(role))
        allow_deprecated = have.allow_deprecated
        if want.allow_deprecated is not None:
            if want.allow_deprecated and not have.allow_deprecated:
                loosened.append(
                    f"requirements.{level.value}.allow_deprecated: signed false, local true (may go from true to "
                    "false only)"
                )
            allow_deprecated = have.allow_deprecated and want.allow_deprecated
        deny_from = have.deny_from
        if want.deny_from is not None:
            if want.deny_from > have.deny_from:
                loosened.append(
                    f"requirements.{level.value}.deny_from: signed {have.deny_from.value}, local "
                    f"{want.deny_from.value} (may only go lower)"
                )
            deny_from = min(want.deny_from, have.deny_from)
        requirements[level] = Requirements(roles=roles, allow_deprecated=allow_deprecated, deny_from=deny_from)

    # Keep "a higher level never demands less": what a local file raises at one level is
    # carried up to the levels above it (this only ever tightens).
    present = [lv for lv in Level if lv in requirements]
    for lower, higher in pairwise(present):
        low, high = requirements[lower], requirements[higher]
        roles = {role: max(high.threshold(role), low.threshold(role)) for role in (*high.roles, *low.roles)}
        requirements[higher] = Requirements(
            roles=roles,
            allow_deprecated=high.allow_deprecated and low.allow_deprecated,
            deny_from=min(high.deny_from, low.deny_from),
        )

    staleness = signed.max_staleness
    if local.max_staleness is not None:
        if local.max_staleness > staleness:
            loosened.append(f"max_staleness: signed {staleness}, local {local.max_staleness} (may only go down)")
        staleness = min(staleness, local.max_staleness)

    limits = signed.resources.as_dict()
    for name, value in local.resources.items():
        if value > limits[name]:
            loosened.append(f"resources.{name}: signed {limits[name]}, local {value} (limits may only go down)")
        limits[name] = min(limits[name], value)

    analysers = dict(signed.analysers)
    for analyser, mode in local.analysers.items():
        if mode is AnalyserMode.AUDIT and analysers[analyser] is AnalyserMode.ENFORCE:
            loosened.append(f"analysers.{analyser.value}: signed enforce, local audit (enforce beats audit)")
        if mode is AnalyserMode.ENFORCE:
            analysers[analyser] = AnalyserMode.ENFORCE

    allow = dict(signed.allow_lists)
    for name, entries in local.allow_lists.items():
        signed_entries = signed.allow_lists.get(name)
        if signed_entries is None:
            allow[name] = entries
            continue
        extra = entries - signed_entries
        if extra:
            loosened.append(
                f"allow.{name}: local entries {_show(extra)} are not in the signed allow-list "
                f"({_show(signed_entries)}) (allow-lists intersect)"
            )
        allow[name] = entries & signed_entries

    deny = dict(signed.deny_lists)
    for name, entries in local.deny_lists.items():
        deny[name] = deny.get(name, frozenset()) | entries

    # Taint: per label, the sinks it may reach intersect (issue 3). A local file may keep
    # llm_output away from a path; it may never let it reach a shell the signed policy keeps
    # it from.
    taint = dict(signed.taint)
    for label, sinks in local.taint.items():
        signed_sinks = signed.taint_sinks(label)
        extra = sinks - signed_sinks
        if extra:
            loosened.append(
                f"taint.{label}: local sinks {_show(extra)} are not among the signed sinks "
                f"({_show(signed_sinks) if signed_sinks else 'none'}) (the sinks a label may reach intersect)"
            )
        taint[label] = sinks & signed_sinks

    if loosened:
        raise PolicyError(
            "the local policy may only tighten the signed policy, but it loosens " + "; ".join(loosened),
            reason=Reason.POLICY_LOOSENED,
        )

    if environment is Environment.PRODUCTION:
        # Going to production removes the permissive level: anything that was permissive is
        # now standard, which only raises levels.
        def raised(level: Level) -> Level:
            return Level.STANDARD if level is Level.PERMISSIVE else level

        default = raised(default)
        rules = tuple(dict.fromkeys(replace(rule, level=raised(rule.level)) for rule in rules))
        requirements.pop(Level.PERMISSIVE, None)

    result = TrustPolicy(
        environment=environment,
        principals=signed.principals,
        bindings=signed.bindings,
        default_level=default,
        level_rules=tuple(rules),
        requirements_by_level=requirements,
        max_staleness=staleness,
        resources=Resources(**limits),
        analysers=analysers,
        allow_lists=allow,
        deny_lists=deny,
        taint=taint,
    )
    # A local file that changes nothing leaves the signed policy, and its digest, as they are.
    return signed if result == signed else result


def effective_policy(signed_json: bytes, local_json: bytes | None) -> TrustPolicy:
    """What the gate enforces: the published policy, tightened by ``local-policy.json`` when there is one."""
    signed = TrustPolicy.from_json_bytes(signed_json)
    if local_json is None:
        return signed
    return tighten(signed, LocalPolicy.from_json_bytes(local_json))
