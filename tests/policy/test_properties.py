"""Property tests: canonical round trips are exact, tighten is monotone, the level check is exact."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealgate.errors import PolicyError, Reason, Severity
from sealgate.policy import (
    ALLOW_LISTS,
    DENY_LISTS,
    HARD_CAPS,
    MAX_STALENESS,
    TAINT_LABELS,
    TAINT_SINKS,
    AnalyserMode,
    Level,
    LevelRule,
    LocalPolicy,
    Requirements,
    TrustPolicy,
    tighten,
)
from sealgate.policy._levels import find_lowered
from sealgate.policy._types import DEFAULT_TAINT
from sealgate.registry.layout import KIND_PLURAL, STAGES

from .helpers import POOL, encode, pem

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KINDS = list(KIND_PLURAL)
NAMES = ["a", "ab", "b", "acme", "acme-x", "core-1", "zz", "a.b"]
SEGMENTS = ["a", "ab", "a*", "*", "?", "a?", "*b", "acme", "acme-*", "core-*", "c?"]
HEADS = ["tools", "modules", "enclaves", "*"]
ENTRIES = ["a", "b", "c", "d"]
SEVERITIES = [s.value for s in Severity]
ANALYSERS = ["command", "path", "url", "env", "taint"]
RESOURCE_CAPS = HARD_CAPS.as_dict()

globs = st.builds(lambda head, seg: f"{head}/{seg}", st.sampled_from(HEADS), st.sampled_from(SEGMENTS))


def rules(levels: list[str]) -> st.SearchStrategy[list[dict[str, str]]]:
    rule = st.fixed_dictionaries(
        {"level": st.sampled_from(levels)},
        optional={"kind": st.sampled_from(KINDS), "namespace": globs, "stage": st.sampled_from(STAGES)},
    ).filter(lambda r: len(r) > 1)
    return st.lists(rule, max_size=4, unique_by=lambda r: tuple(sorted(r.items())))


def entry_lists(names: tuple[str, ...]) -> st.SearchStrategy[dict[str, list[str]]]:
    def values(name: str) -> st.SearchStrategy[list[str]]:
        return st.lists(st.sampled_from(STAGES if name == "stages" else ENTRIES), unique=True, max_size=4)

    return st.fixed_dictionaries({}, optional={name: values(name) for name in names})


resources = st.fixed_dictionaries({}, optional={n: st.integers(1, cap) for n, cap in RESOURCE_CAPS.items()})
analysers = st.fixed_dictionaries({}, optional={a: st.sampled_from(["enforce", "audit"]) for a in ANALYSERS})
sink_lists = st.lists(st.sampled_from(TAINT_SINKS), unique=True, max_size=len(TAINT_SINKS))
taints = st.fixed_dictionaries({}, optional=dict.fromkeys(TAINT_LABELS, sink_lists))


@st.composite
def signed_docs(draw: st.DrawFn) -> dict[str, Any]:
    development = draw(st.booleans())
    levels = ["standard", "strict"] + (["permissive"] if development else [])
    count = draw(st.integers(1, 4))
    keys = draw(st.permutations(POOL))
    principals = {
        f"p{i}": {"keys": [pem(keys[2 * i]), *([pem(keys[2 * i + 1])] if draw(st.booleans()) else [])]}
        for i in range(count)
    }
    bindings = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "principal": st.sampled_from(sorted(principals)),
                    "roles": st.lists(
                        st.sampled_from(["author", "reviewer", "approver", "advisory"]),
                        min_size=1,
                        max_size=4,
                        unique=True,
                    ),
                    "namespaces": st.lists(globs, min_size=1, max_size=3, unique=True),
                }
            ),
            min_size=1,
            max_size=4,
        )
    )
    level_rules = draw(rules(levels))
    default = draw(st.sampled_from(levels))
    # Requirements that grow with the level (the policy requires it): draw increments.
    requirements: dict[str, Any] = {}
    roles: dict[str, int] = {}
    deny_rank = len(SEVERITIES) - 1
    allow_deprecated = True
    for level in ("permissive", "standard", "strict"):
        for role in ("author", "reviewer", "approver"):
            roles[role] = roles.get(role, 0) + draw(st.integers(0, 1))
        if not any(roles.values()):
            roles["author"] = 1
        deny_rank = draw(st.integers(0, deny_rank))
        allow_deprecated = allow_deprecated and draw(st.booleans())
        if level in levels:
            requirements[level] = {
                "roles": {r: n for r, n in roles.items() if n},
                "deny_from": SEVERITIES[deny_rank],
                "allow_deprecated": allow_deprecated,
            }
    doc: dict[str, Any] = {
        "_type": "sealgate/trust-policy/v1",
        "environment": "development" if development else "production",
        "principals": principals,
        "bindings": bindings,
        "levels": {"default": default, "rules": level_rules},
        "requirements": requirements,
    }
    optional = {
        "max_staleness": st.integers(1, MAX_STALENESS),
        "resources": resources,
        "analysers": analysers,
        "allow": entry_lists(ALLOW_LISTS),
        "deny": entry_lists(DENY_LISTS),
        "taint": taints,
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            doc[name] = draw(strategy)
    return doc


local_requirements = st.fixed_dictionaries(
    {},
    optional={
        "roles": st.fixed_dictionaries({}, optional={r: st.integers(1, 4) for r in ("author", "reviewer", "approver")}),
        "allow_deprecated": st.booleans(),
        "deny_from": st.sampled_from(SEVERITIES),
    },
)

local_docs = st.fixed_dictionaries(
    {"_type": st.just("sealgate/local-policy/v1")},
    optional={
        "environment": st.sampled_from(["development", "production"]),
        "levels": st.fixed_dictionaries(
            {},
            optional={
                "default": st.sampled_from(["permissive", "standard", "strict"]),
                "rules": rules(["permissive", "standard", "strict"]),
            },
        ),
        "requirements": st.fixed_dictionaries(
            {}, optional={lv: local_requirements for lv in ("permissive", "standard", "strict")}
        ),
        "max_staleness": st.integers(1, MAX_STALENESS),
        "resources": resources,
        "analysers": analysers,
        "allow": entry_lists(ALLOW_LISTS),
        "deny": entry_lists(DENY_LISTS),
        "taint": taints,
    },
)


@st.composite
def tightening_docs(draw: st.DrawFn, signed: TrustPolicy) -> dict[str, Any]:
    """A local document that only tightens ``signed`` (so tighten must accept it)."""
    doc: dict[str, Any] = {"_type": "sealgate/local-policy/v1"}
    if draw(st.booleans()):
        doc["environment"] = "production"
    if draw(st.booleans()):
        default = draw(st.sampled_from([lv for lv in Level if lv >= signed.default_level]))
        doc["levels"] = {"default": default.value, "rules": draw(rules(["strict"]))}
    requirements: dict[str, Any] = {}
    for level, req in signed.requirements_by_level.items():
        if draw(st.booleans()):
            requirements[level.value] = {
                "roles": {role.value: count + draw(st.integers(0, 2)) for role, count in req.roles.items()},
                "deny_from": draw(st.sampled_from([s.value for s in Severity if s <= req.deny_from])),
                "allow_deprecated": req.allow_deprecated and draw(st.booleans()),
            }
    if requirements:
        doc["requirements"] = requirements
    doc["max_staleness"] = draw(st.integers(1, signed.max_staleness))
    doc["resources"] = {n: draw(st.integers(1, v)) for n, v in signed.resources.as_dict().items()}
    doc["analysers"] = {a.value: draw(st.sampled_from(["enforce", m.value])) for a, m in signed.analysers.items()}
    allow = {}
    for name in ALLOW_LISTS:
        signed_list = signed.allow_list(name)
        universe = sorted(signed_list) if signed_list is not None else (list(STAGES) if name == "stages" else ENTRIES)
        if draw(st.booleans()):
            allow[name] = draw(st.lists(st.sampled_from(universe), unique=True)) if universe else []
    doc["allow"] = allow
    doc["deny"] = draw(entry_lists(DENY_LISTS))
    taint = {}
    for label in TAINT_LABELS:
        if draw(st.booleans()):
            universe = sorted(signed.taint_sinks(label))
            taint[label] = draw(st.lists(st.sampled_from(universe), unique=True)) if universe else []
    doc["taint"] = taint
    return doc


# ---- the strictness order ------------------------------------------------------------------------

SUBJECTS = [(kind, f"{KIND_PLURAL[kind]}/{name}", stage) for kind in KINDS for name in NAMES for stage in STAGES]


def stricter_requirements(a: Requirements, b: Requirements) -> None:
    """``a`` demands at least what ``b`` demands."""
    for role, count in b.roles.items():
        assert a.threshold(role) >= count
    assert a.deny_from <= b.deny_from
    assert not a.allow_deprecated or b.allow_deprecated


def assert_at_least_as_strict(result: TrustPolicy, base: TrustPolicy) -> None:
    assert result.environment.rank >= base.environment.rank
    assert result.principals == base.principals and result.bindings == base.bindings  # no trust added
    for subject in SUBJECTS:
        was, now = base.level_for(*subject), result.level_for(*subject)
        assert now >= was, subject
        stricter_requirements(result.requirements(now), base.requirements(was))
    assert result.max_staleness <= base.max_staleness
    for name, value in base.resources.as_dict().items():
        assert result.resources.as_dict()[name] <= value
    for analyser, mode in base.analysers.items():
        if mode is AnalyserMode.ENFORCE:
            assert result.analyser_mode(analyser) is AnalyserMode.ENFORCE
    for name in ALLOW_LISTS:
        base_list = base.allow_list(name)
        if base_list is not None:
            result_list = result.allow_list(name)
            assert result_list is not None and result_list <= base_list
    for name in DENY_LISTS:
        assert result.deny_list(name) >= base.deny_list(name)
    for label in TAINT_LABELS:
        assert result.taint_sinks(label) <= base.taint_sinks(label), label


def local_level(local: LocalPolicy, kind: str, namespace: str, stage: str) -> Level | None:
    for rule in local.level_rules:
        if rule.matches(kind, namespace, stage):
            return rule.level
    return local.default_level


def assert_at_least_as_strict_as_local(result: TrustPolicy, local: LocalPolicy) -> None:
    if local.environment is not None:
        assert result.environment.rank >= local.environment.rank
    for subject in SUBJECTS:
        wanted = local_level(local, *subject)
        if wanted is not None:
            assert result.level_for(*subject) >= wanted
    for level, want in local.requirements_by_level.items():
        if level in result.requirements_by_level:
            have = result.requirements(level)
            for role, count in want.roles.items():
                assert have.threshold(role) >= count
            if want.deny_from is not None:
                assert have.deny_from <= want.deny_from
            if want.allow_deprecated is False:
                assert have.allow_deprecated is False
    if local.max_staleness is not None:
        assert result.max_staleness <= local.max_staleness
    for name, value in local.resources.items():
        assert result.resources.as_dict()[name] <= value
    for analyser, mode in local.analysers.items():
        if mode is AnalyserMode.ENFORCE:
            assert result.analyser_mode(analyser) is AnalyserMode.ENFORCE
    for name, entries in local.allow_lists.items():
        result_list = result.allow_list(name)  # type: ignore[arg-type]
        assert result_list is not None and result_list <= entries
    for name, entries in local.deny_lists.items():
        assert result.deny_list(name) >= entries  # type: ignore[arg-type]
    for label, sinks in local.taint.items():
        assert result.taint_sinks(label) <= sinks, label


# ---- properties ------------------------------------------------------------------------------------


@SETTINGS
@given(signed_docs())
def test_canonical_round_trip_is_exact(doc: dict[str, Any]) -> None:
    policy = TrustPolicy.from_json_bytes(encode(doc))
    data = policy.to_json_bytes()
    again = TrustPolicy.from_json_bytes(data)
    assert again.to_json_bytes() == data
    assert again == policy


@SETTINGS
@given(local_docs)
def test_local_policy_round_trip_is_exact(doc: dict[str, Any]) -> None:
    local = LocalPolicy.from_json_bytes(encode(doc))
    data = local.to_json_bytes()
    assert LocalPolicy.from_json_bytes(data).to_json_bytes() == data
    assert LocalPolicy.from_json_bytes(data) == local


@SETTINGS
@given(signed_docs())
def test_tighten_with_empty_local_policy_is_identity(doc: dict[str, Any]) -> None:
    policy = TrustPolicy.from_json_bytes(encode(doc))
    assert tighten(policy, LocalPolicy.empty()) == policy
    assert tighten(policy, LocalPolicy.empty()).to_json_bytes() == policy.to_json_bytes()


@SETTINGS
@given(signed_docs(), local_docs)
def test_tighten_is_monotone_or_refuses(signed_doc: dict[str, Any], local_doc: dict[str, Any]) -> None:
    signed = TrustPolicy.from_json_bytes(encode(signed_doc))
    local = LocalPolicy.from_json_bytes(encode(local_doc))
    try:
        result = tighten(signed, local)
    except PolicyError as exc:
        assert exc.reason in (Reason.POLICY_LOOSENED, Reason.POLICY_INVALID)
        return
    assert_at_least_as_strict(result, signed)
    assert_at_least_as_strict_as_local(result, local)
    assert TrustPolicy.from_json_bytes(result.to_json_bytes()) == result


@SETTINGS
@given(st.data())
def test_tightening_local_policy_is_accepted_and_monotone(data: st.DataObject) -> None:
    signed = TrustPolicy.from_json_bytes(encode(data.draw(signed_docs())))
    local = LocalPolicy.from_json_bytes(encode(data.draw(tightening_docs(signed))))
    result = tighten(signed, local)
    assert_at_least_as_strict(result, signed)
    assert_at_least_as_strict_as_local(result, local)
    assert TrustPolicy.from_json_bytes(result.to_json_bytes()) == result


def _level(rules: list[LevelRule], default: Level, kind: str, namespace: str, stage: str) -> Level:
    for rule in rules:
        if rule.matches(kind, namespace, stage):
            return rule.level
    return default


level_rules = st.lists(
    st.tuples(
        st.sampled_from(list(Level)),
        st.sampled_from([*KINDS, None]),
        st.one_of(st.none(), globs),
        st.sampled_from([*STAGES, None]),
    )
    .filter(lambda t: any(x is not None for x in t[1:]))
    .map(lambda t: LevelRule(level=t[0], kind=t[1], namespace=t[2], stage=t[3])),
    max_size=4,
)


@SETTINGS
@given(level_rules, st.sampled_from(list(Level)), level_rules, st.sampled_from(list(Level)))
def test_level_lowering_check_is_exact(
    before: list[LevelRule], before_default: Level, after: list[LevelRule], after_default: Level
) -> None:
    found = find_lowered(before, before_default, after, after_default)
    names = ["a", "b", "ab", "ba", "aa", "acme", "acme-", "acme-x", "core-", "core-1", "c1", "cb", "z", "a.b"]
    brute = [
        (kind, f"{KIND_PLURAL[kind]}/{name}", stage)
        for kind in KINDS
        for name in names
        for stage in STAGES
        if _level(after, after_default, kind, f"{KIND_PLURAL[kind]}/{name}", stage)
        < _level(before, before_default, kind, f"{KIND_PLURAL[kind]}/{name}", stage)
    ]
    if found is not None:
        # The witness is real.
        assert _level(after, after_default, found.kind, found.namespace, found.stage) == found.after
        assert _level(before, before_default, found.kind, found.namespace, found.stage) == found.before
        assert found.after < found.before
    else:
        assert brute == []


@SETTINGS
@given(signed_docs(), st.text(max_size=12))
def test_taint_sinks_are_the_written_or_default_sinks_and_unknown_labels_reach_nothing(
    doc: dict[str, Any], label: str
) -> None:
    policy = TrustPolicy.from_json_bytes(encode(doc))
    written = doc.get("taint", {})
    for known in TAINT_LABELS:
        if known in written:
            assert policy.taint_sinks(known) == frozenset(written[known])
        else:
            assert policy.taint_sinks(known) == DEFAULT_TAINT[known]
            assert known == "user_input" or "shell" not in policy.taint_sinks(known)
    if label not in TAINT_LABELS:
        assert policy.taint_sinks(label) == frozenset()


@SETTINGS
@given(signed_docs(), st.sampled_from(TAINT_LABELS), sink_lists)
def test_local_taint_is_accepted_exactly_when_it_names_only_signed_sinks(
    doc: dict[str, Any], label: str, sinks: list[str]
) -> None:
    signed = TrustPolicy.from_json_bytes(encode(doc))
    local = LocalPolicy.from_json_bytes(encode({"_type": "sealgate/local-policy/v1", "taint": {label: sinks}}))
    if set(sinks) <= signed.taint_sinks(label):
        result = tighten(signed, local)
        assert result.taint_sinks(label) == frozenset(sinks)
    else:
        with pytest.raises(PolicyError) as info:
            tighten(signed, local)
        assert info.value.reason is Reason.POLICY_LOOSENED
        assert f"taint.{label}" in info.value.message
