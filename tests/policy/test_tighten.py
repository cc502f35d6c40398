"""A local policy may only tighten the signed one; any loosening stops the gate with policy-loosened."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sealgate.canonical import canonical_bytes
from sealgate.errors import PolicyError, Reason, Severity
from sealgate.policy import (
    TAINT_SINKS,
    Analyser,
    AnalyserMode,
    Environment,
    Level,
    LocalPolicy,
    Role,
    TrustPolicy,
    effective_policy,
    tighten,
)

from .helpers import dev_doc, encode, local, policy, policy_doc


def loosened(signed: TrustPolicy, *fragments: str, **fields: Any) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        tighten(signed, local(**fields))
    assert info.value.reason is Reason.POLICY_LOOSENED
    for fragment in fragments:
        assert fragment in info.value.message, info.value.message
    return info.value


# ---- no-op ------------------------------------------------------------------------------------


def test_empty_local_policy_changes_nothing_digest_included() -> None:
    p = policy()
    assert tighten(p, LocalPolicy.empty()) is p
    assert tighten(p, local()) is p
    assert LocalPolicy.empty().is_empty


def test_local_policy_restating_signed_values_changes_nothing() -> None:
    p = policy()
    same = local(max_staleness=3600, environment="production", analysers={"command": "enforce"})
    assert tighten(p, same) is p


# ---- environment ------------------------------------------------------------------------------


def test_environment_may_go_from_development_to_production() -> None:
    signed = TrustPolicy.from_json_bytes(encode(dev_doc()))
    result = tighten(signed, local(environment="production"))
    assert result.environment is Environment.PRODUCTION
    # Permissive does not exist in production: what was permissive is now standard.
    assert result.level_for("tool", "tools/x", "DEV") is Level.STANDARD
    assert Level.PERMISSIVE not in result.requirements_by_level
    assert result.digest != signed.digest


def test_environment_production_to_development_loosens() -> None:
    loosened(policy(), "environment: signed production, local development", environment="development")


# ---- levels -----------------------------------------------------------------------------------


def test_level_rule_may_raise_a_level() -> None:
    result = tighten(policy(), local(levels={"rules": [{"kind": "module", "level": "strict"}]}))
    assert result.level_for("module", "modules/x", "DEV") is Level.STRICT
    assert result.level_for("tool", "tools/x", "DEV") is Level.STANDARD


def test_local_default_may_raise_the_default() -> None:
    result = tighten(policy(), local(levels={"default": "strict"}))
    assert result.level_for("module", "modules/x", "DEV") is Level.STRICT


def test_local_default_lowering_the_default_loosens() -> None:
    signed = TrustPolicy.from_json_bytes(encode(dev_doc()))
    loosened(signed, "levels.default: signed standard, local permissive", levels={"default": "permissive"})


def test_local_default_is_a_floor_for_every_artifact() -> None:
    doc = policy_doc()
    doc["levels"]["rules"] = [{"namespace": "tools/acme", "level": "standard"}]
    signed = TrustPolicy.from_json_bytes(encode(doc))
    result = tighten(signed, local(levels={"default": "strict"}))
    # The signed rule said standard; the local floor raises it.
    assert result.level_for("tool", "tools/acme", "DEV") is Level.STRICT
    assert result.level_for("module", "modules/x", "DEV") is Level.STRICT


def test_applying_a_local_policy_twice_changes_nothing_more() -> None:
    once = tighten(policy(), local(levels={"rules": [{"kind": "module", "level": "strict"}]}))
    twice = tighten(once, local(levels={"rules": [{"kind": "module", "level": "strict"}]}))
    assert twice.to_json_bytes() == once.to_json_bytes()


def test_level_rule_lowering_a_signed_rule_loosens_and_names_the_artifact() -> None:
    err = loosened(
        policy(),
        "levels.rules[0]",
        "tool tools/acme at stage PROD from signed strict to local standard",
        levels={"rules": [{"namespace": "tools/*", "level": "standard"}]},
    )
    assert "may only raise a level" in err.message


def test_level_rule_overlapping_only_at_equal_or_higher_levels_is_accepted() -> None:
    # tools/acme stays strict because the local file says so first; every other tool is
    # standard in both policies.
    rules = [{"namespace": "tools/acme", "level": "strict"}, {"namespace": "tools/*", "level": "standard"}]
    result = tighten(policy(), local(levels={"rules": rules}))
    assert result.level_for("tool", "tools/acme", "PROD") is Level.STRICT
    assert result.level_for("tool", "tools/acme", "DEV") is Level.STRICT


def test_permissive_rule_against_production_policy_loosens() -> None:
    loosened(policy(), "to local permissive", levels={"rules": [{"stage": "DEV", "level": "permissive"}]})


def test_glob_level_rule_lowering_only_some_names_loosens() -> None:
    doc = policy_doc()
    doc["levels"]["rules"] = [{"namespace": "modules/core-*", "level": "strict"}]
    signed = TrustPolicy.from_json_bytes(encode(doc))
    # "modules/c*" covers modules/core-x, which the signed policy makes strict.
    loosened(signed, "modules/core-", levels={"rules": [{"namespace": "modules/c*", "level": "standard"}]})
    # "modules/c?" never matches a name starting with core-: accepted.
    result = tighten(signed, local(levels={"rules": [{"namespace": "modules/c?", "level": "standard"}]}))
    assert result.level_for("module", "modules/core-x", "DEV") is Level.STRICT


# ---- requirements -----------------------------------------------------------------------------


def test_threshold_takes_the_maximum_and_a_role_may_be_added() -> None:
    result = tighten(policy(), local(requirements={"standard": {"roles": {"reviewer": 2, "approver": 1}}}))
    req = result.requirements(Level.STANDARD)
    assert dict(req.roles) == {Role.AUTHOR: 1, Role.REVIEWER: 2, Role.APPROVER: 1}


def test_lower_threshold_loosens() -> None:
    loosened(
        policy(),
        "requirements.strict.roles.approver: signed 2, local 1",
        requirements={"strict": {"roles": {"approver": 1}}},
    )


def test_allow_deprecated_may_go_true_to_false() -> None:
    result = tighten(policy(), local(requirements={"standard": {"allow_deprecated": False}}))
    assert result.requirements(Level.STANDARD).allow_deprecated is False


def test_allow_deprecated_false_to_true_loosens() -> None:
    loosened(
        policy(),
        "requirements.strict.allow_deprecated: signed false, local true",
        requirements={"strict": {"allow_deprecated": True}},
    )


def test_deny_from_may_only_go_lower() -> None:
    result = tighten(policy(), local(requirements={"standard": {"deny_from": "low"}}))
    assert result.requirements(Level.STANDARD).deny_from is Severity.LOW
    loosened(
        policy(),
        "requirements.strict.deny_from: signed medium, local critical",
        requirements={"strict": {"deny_from": "critical"}},
    )


def test_requirements_for_a_level_the_signed_policy_lacks_are_ignored() -> None:
    # Production has no permissive level and no local rule can create one.
    signed = policy()
    assert tighten(signed, local(requirements={"permissive": {"deny_from": "low"}})) is signed


# ---- staleness and resources ------------------------------------------------------------------


def test_staleness_takes_the_minimum() -> None:
    assert tighten(policy(), local(max_staleness=60)).max_staleness == 60


def test_bigger_staleness_loosens() -> None:
    loosened(policy(), "max_staleness: signed 3600, local 7200", max_staleness=7200)


def test_resource_limits_take_the_minimum() -> None:
    result = tighten(policy(), local(resources={"wall_seconds": 5, "processes": 4}))
    assert result.resources.wall_seconds == 5
    assert result.resources.processes == 4
    assert result.resources.memory_mib == 256


@pytest.mark.parametrize(("name", "signed", "value"), [("wall_seconds", 20, 25), ("memory_mib", 256, 300)])
def test_bigger_resource_limit_loosens(name: str, signed: int, value: int) -> None:
    loosened(policy(), f"resources.{name}: signed {signed}, local {value}", resources={name: value})


def test_resource_limit_over_hard_cap_in_local_file_invalid() -> None:
    with pytest.raises(PolicyError) as info:
        local(resources={"cpu_seconds": 31})
    assert info.value.reason is Reason.POLICY_INVALID


# ---- analysers --------------------------------------------------------------------------------


def test_enforce_beats_audit() -> None:
    result = tighten(policy(), local(analysers={"taint": "enforce"}))
    assert result.analyser_mode(Analyser.TAINT) is AnalyserMode.ENFORCE
    # A local "audit" where the signed policy already says audit changes nothing.
    signed = policy()
    assert tighten(signed, local(analysers={"url": "audit"})) is signed


def test_audit_where_signed_enforces_loosens() -> None:
    loosened(policy(), "analysers.command: signed enforce, local audit", analysers={"command": "audit"})


# ---- allow- and deny-lists --------------------------------------------------------------------


def test_allow_lists_intersect() -> None:
    result = tighten(policy(), local(allow={"hosts": ["a.example"], "stages": []}))
    assert result.allow_list("hosts") == frozenset({"a.example"})
    assert result.allow_list("stages") == frozenset()  # nothing allowed


def test_local_allow_list_where_signed_has_none_restricts() -> None:
    result = tighten(policy(), local(allow={"commands": ["python3"]}))
    assert result.allow_list("commands") == frozenset({"python3"})


def test_allow_entry_not_in_signed_allow_list_loosens() -> None:
    loosened(
        policy(),
        "allow.hosts: local entries evil.example are not in the signed allow-list (a.example, b.example)",
        allow={"hosts": ["a.example", "evil.example"]},
    )


def test_deny_lists_unite() -> None:
    result = tighten(policy(), local(deny={"commands": ["wget"], "hosts": ["169.254.169.254"]}))
    assert result.deny_list("commands") == {"curl", "wget"}
    assert result.deny_list("hosts") == {"169.254.169.254"}


# ---- taint ------------------------------------------------------------------------------------

NO_SHELL = ["argv", "path", "url", "env"]


@pytest.mark.parametrize(
    ("signed_taint", "local_taint", "label", "expected"),
    [
        # Default signed sinks, local keeps fewer: the intersection.
        (None, {"llm_output": ["argv", "path", "url"]}, "llm_output", {"argv", "path", "url"}),
        (None, {"network": []}, "network", set()),
        (None, {"user_input": ["argv"]}, "user_input", {"argv"}),
        # A label the local file does not mention keeps the signed sinks.
        (None, {"untrusted": ["argv"]}, "llm_output", set(NO_SHELL)),
        # The signed policy let llm_output reach a shell; a local file may take it away.
        ({"llm_output": ["argv", "shell"]}, {"llm_output": ["argv"]}, "llm_output", {"argv"}),
        ({"llm_output": ["argv", "shell"]}, {"llm_output": ["argv", "shell"]}, "llm_output", {"argv", "shell"}),
    ],
)
def test_local_taint_intersects_per_label(
    signed_taint: dict[str, list[str]] | None, local_taint: dict[str, list[str]], label: str, expected: set[str]
) -> None:
    signed = policy() if signed_taint is None else policy(taint=signed_taint)
    result = tighten(signed, local(taint=local_taint))
    assert result.taint_sinks(label) == expected
    for other in signed.taint:
        assert result.taint_sinks(other) <= signed.taint_sinks(other)
    assert TrustPolicy.from_json_bytes(result.to_json_bytes()) == result


@pytest.mark.parametrize(
    ("signed_taint", "local_taint", "fragment"),
    [
        # The attack: a writable local file letting model output reach a shell.
        (None, {"llm_output": ["argv", "shell"]}, "taint.llm_output: local sinks shell are not among the signed sinks"),
        (None, {"untrusted": ["shell"]}, "taint.untrusted: local sinks shell"),
        (None, {"network": [*NO_SHELL, "shell"]}, "taint.network: local sinks shell"),
        (
            {"llm_output": ["argv"]},
            {"llm_output": ["argv", "path"]},
            "local sinks path are not among the signed sinks (argv)",
        ),
        (
            {"untrusted": []},
            {"untrusted": ["env", "url"]},
            "local sinks env, url are not among the signed sinks (none)",
        ),
        (
            {"user_input": ["argv"]},
            {"user_input": list(TAINT_SINKS)},
            "taint.user_input: local sinks env, path, shell, url",
        ),
    ],
)
def test_local_taint_reaching_a_sink_the_signed_policy_withholds_loosens(
    signed_taint: dict[str, list[str]] | None, local_taint: dict[str, list[str]], fragment: str
) -> None:
    signed = policy() if signed_taint is None else policy(taint=signed_taint)
    loosened(signed, fragment, "(the sinks a label may reach intersect)", taint=local_taint)


def test_local_taint_restating_signed_sinks_changes_nothing() -> None:
    p = policy()
    assert tighten(p, local(taint={"llm_output": NO_SHELL, "user_input": list(TAINT_SINKS)})) is p


def test_local_taint_changes_the_effective_digest() -> None:
    signed = policy()
    result = tighten(signed, local(taint={"llm_output": ["argv"]}))
    assert result.digest != signed.digest
    assert json.loads(result.to_json_bytes())["taint"]["llm_output"] == ["argv"]


def test_taint_loosening_is_reported_with_the_others() -> None:
    err = loosened(
        policy(),
        "max_staleness",
        "taint.llm_output",
        "taint.untrusted",
        max_staleness=99999,
        taint={"llm_output": ["shell"], "untrusted": ["shell"]},
    )
    assert err.message.count(";") == 2


def test_effective_policy_applies_local_taint() -> None:
    signed = encode(policy_doc())
    doc = {"_type": "sealgate/local-policy/v1", "taint": {"llm_output": ["argv"]}}
    assert effective_policy(signed, canonical_bytes(doc)).taint_sinks("llm_output") == {"argv"}
    doc["taint"] = {"llm_output": ["shell"]}
    with pytest.raises(PolicyError) as info:
        effective_policy(signed, canonical_bytes(doc))
    assert info.value.reason is Reason.POLICY_LOOSENED


# ---- trust ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["principals", "bindings", "keys"])
def test_local_policy_cannot_add_trust(field: str) -> None:
    value: Any = {"mallory": {"keys": []}} if field == "principals" else [{"principal": "mallory"}]
    doc = {"_type": "sealgate/local-policy/v1", field: value}
    with pytest.raises(PolicyError) as info:
        LocalPolicy.from_json_bytes(canonical_bytes(doc))
    assert info.value.reason is Reason.POLICY_LOOSENED
    assert f"local policy field {field}" in info.value.message
    assert "would add trust" in info.value.message


def test_unknown_local_field_invalid() -> None:
    with pytest.raises(PolicyError) as info:
        local(unsafe_allow_unsigned=True)
    assert info.value.reason is Reason.POLICY_INVALID
    assert "unsafe_allow_unsigned is not a known field" in info.value.message


# ---- several at once --------------------------------------------------------------------------


def test_every_loosening_is_reported_in_one_sentence() -> None:
    err = loosened(
        policy(),
        "max_staleness",
        "analysers.command",
        "environment",
        max_staleness=99999,
        analysers={"command": "audit"},
        environment="development",
    )
    assert err.message.count(";") == 2


def test_effective_policy_reads_both_documents() -> None:
    signed = encode(policy_doc())
    assert effective_policy(signed, None).digest == TrustPolicy.from_json_bytes(signed).digest
    tightened = effective_policy(signed, canonical_bytes({"_type": "sealgate/local-policy/v1", "max_staleness": 5}))
    assert tightened.max_staleness == 5
    # The tightened policy round-trips through its own canonical encoding.
    assert TrustPolicy.from_json_bytes(tightened.to_json_bytes()) == tightened


# ---- levels stay ordered ----------------------------------------------------------------------


def test_higher_level_demanding_less_is_invalid() -> None:
    # Otherwise raising a level (all a local rule may do) could lower the thresholds.
    doc = policy_doc()
    doc["requirements"]["standard"]["roles"] = {"author": 3}
    with pytest.raises(PolicyError) as info:
        TrustPolicy.from_json_bytes(encode(doc))
    assert "requirements.strict.roles.author is 1, below the 3 that standard requires" in info.value.message


def test_raising_a_lower_level_carries_up_to_higher_levels() -> None:
    result = tighten(policy(), local(requirements={"standard": {"roles": {"reviewer": 3}, "deny_from": "info"}}))
    assert result.requirements(Level.STRICT).threshold(Role.REVIEWER) == 3
    assert result.requirements(Level.STRICT).deny_from is Severity.INFO
