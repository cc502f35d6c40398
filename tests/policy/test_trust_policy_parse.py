"""The signed trust policy is parsed strictly: every invalid or tampered document is refused, naming the field."""

from __future__ import annotations

import hashlib
import json
from types import MappingProxyType
from typing import Any

import pytest

from sealgate._dataclass import replace
from sealgate.errors import PolicyError, Reason
from sealgate.policy import (
    HARD_CAPS,
    TAINT_LABELS,
    TAINT_SINKS,
    Analyser,
    AnalyserMode,
    Environment,
    Level,
    TrustPolicy,
)

from .helpers import EC, ED, compressed_pem, dev_doc, encode, local, pem, policy, policy_doc


def invalid(doc: dict[str, Any] | bytes, *fragments: str) -> PolicyError:
    data = doc if isinstance(doc, bytes) else encode(doc)
    with pytest.raises(PolicyError) as info:
        TrustPolicy.from_json_bytes(data)
    assert info.value.reason is Reason.POLICY_INVALID
    for fragment in fragments:
        assert fragment in info.value.message, info.value.message
    return info.value


def test_valid_policy_parses_with_defaults_spelled_out() -> None:
    p = policy()
    assert p.environment is Environment.PRODUCTION
    assert p.max_staleness == 3600  # seconds
    assert p.resources.wall_seconds == 20
    assert p.resources.cpu_seconds == HARD_CAPS.cpu_seconds  # absent -> hard cap
    assert p.analyser_mode(Analyser.TAINT) is AnalyserMode.AUDIT
    assert p.analyser_mode(Analyser.COMMAND) is AnalyserMode.ENFORCE  # absent -> enforce
    assert p.requirements(Level.STRICT).deny_from.value == "medium"
    assert p.requirements(Level.STANDARD).deny_from.value == "high"
    assert p.requirements(Level.STRICT).allow_deprecated is False
    assert json.loads(p.to_json_bytes())["analysers"]["command"] == "enforce"


def test_digest_is_sha256_of_the_exact_bytes_received() -> None:
    data = encode(policy_doc())
    spaced = json.dumps(policy_doc(), indent=2).encode()
    assert TrustPolicy.from_json_bytes(data).digest == hashlib.sha256(data).hexdigest()
    assert TrustPolicy.from_json_bytes(spaced).digest == hashlib.sha256(spaced).hexdigest()
    # Same content, different bytes: equal policies, different digests.
    assert TrustPolicy.from_json_bytes(spaced) == TrustPolicy.from_json_bytes(data)


def test_tampered_threshold_changes_digest_and_invalid_value_is_named() -> None:
    data = encode(policy_doc())
    tampered = data.replace(b'"approver":2', b'"approver":0')
    assert tampered != data
    invalid(tampered, "requirements.strict.roles.approver", "from 1 to 32")


def test_truncated_policy_rejected() -> None:
    data = encode(policy_doc())
    invalid(data[:-1], "not valid JSON")


@pytest.mark.parametrize("flip", [0, 17, 400, -3])
def test_single_byte_flip_is_rejected_or_changes_digest(flip: int) -> None:
    data = bytearray(encode(policy_doc()))
    data[flip] ^= 0x01
    try:
        tampered = TrustPolicy.from_json_bytes(bytes(data))
    except PolicyError:
        return
    assert tampered.digest != hashlib.sha256(encode(policy_doc())).hexdigest()


def test_duplicate_json_key_rejected() -> None:
    data = encode(policy_doc()).replace(
        b'"environment":"production"', b'"environment":"development","environment":"production"'
    )
    invalid(data, "duplicate JSON key 'environment'")


def test_unknown_top_level_field_rejected() -> None:
    invalid(policy_doc(skip_signatures=True), "field skip_signatures is not a known field")


def test_unknown_nested_field_rejected() -> None:
    doc = policy_doc()
    doc["requirements"]["strict"]["unsafe_skip"] = True
    invalid(doc, "requirements.strict.unsafe_skip is not a known field")
    doc = policy_doc()
    doc["principals"]["alice"]["keyid"] = "00" * 32
    invalid(doc, "principals.alice.keyid is not a known field")


def test_wrong_type_marker_rejected() -> None:
    invalid(policy_doc(_type="sealgate/trust-policy/v2"), "_type must be 'sealgate/trust-policy/v1'")


def test_missing_required_field_rejected() -> None:
    doc = policy_doc()
    del doc["bindings"]
    invalid(doc, "bindings is required")


def test_environment_from_file_must_be_known() -> None:
    invalid(policy_doc(environment="staging"), "environment must be one of development, production")


def test_permissive_default_in_production_invalid() -> None:
    doc = policy_doc()
    doc["levels"]["default"] = "permissive"
    doc["requirements"]["permissive"] = {"roles": {"author": 1}}
    invalid(doc, "levels.default is permissive", "environment: development")


def test_permissive_rule_in_production_invalid() -> None:
    doc = dev_doc(environment="production")
    invalid(doc, "levels.rules[2].level is permissive")


def test_permissive_requirements_in_production_invalid() -> None:
    doc = policy_doc()
    doc["requirements"]["permissive"] = {"roles": {"author": 1}}
    invalid(doc, "requirements.permissive is allowed only under environment: development")


def test_permissive_in_development_is_valid_and_needs_requirements() -> None:
    p = TrustPolicy.from_json_bytes(encode(dev_doc()))
    assert p.level_for("tool", "tools/x", "DEV") is Level.PERMISSIVE
    doc = dev_doc()
    del doc["requirements"]["permissive"]
    invalid(doc, "requirements.permissive is required")


def test_one_key_under_two_principals_invalid() -> None:
    doc = policy_doc()
    doc["principals"]["bob"]["keys"] = [pem(ED[0])]
    invalid(doc, "principals.bob.keys[0]", "principal alice already holds", "only one principal")


def test_one_ec_key_compressed_and_uncompressed_under_two_principals_invalid() -> None:
    doc = policy_doc()
    doc["principals"]["eve"] = {"keys": [compressed_pem(EC[0])]}  # dave holds the uncompressed encoding
    err = invalid(doc, "principal dave already holds", EC[0].keyid[:16])
    assert "principals.eve.keys[0]" in err.message


def test_one_ec_key_in_two_encodings_under_one_principal_is_one_key() -> None:
    doc = policy_doc()
    doc["principals"]["dave"]["keys"] = [pem(EC[0]), compressed_pem(EC[0])]
    p = TrustPolicy.from_json_bytes(encode(doc))
    assert len(p.principals["dave"]) == 1
    assert p.principal_of(EC[0].keyid) == "dave"


def test_key_ids_are_computed_from_key_material() -> None:
    p = policy()
    assert set(p.keys) == {ED[0].keyid, ED[1].keyid, ED[2].keyid, EC[0].keyid}
    assert p.principal_of(ED[1].keyid) == "bob"
    assert p.principal_of(ED[5].keyid) is None


def test_garbage_public_key_rejected() -> None:
    doc = policy_doc()
    doc["principals"]["alice"]["keys"] = ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]
    invalid(doc, "principals.alice.keys[0] is not a usable public key")


def test_text_around_pem_block_rejected() -> None:
    doc = policy_doc()
    doc["principals"]["alice"]["keys"] = [pem(ED[0]) + "trailing words"]
    invalid(doc, "principals.alice.keys[0] must be exactly one PEM block")


def test_empty_principals_rejected() -> None:
    invalid(policy_doc(principals={}), "principals must name at least one principal")


def test_principal_without_keys_rejected() -> None:
    doc = policy_doc()
    doc["principals"]["alice"]["keys"] = []
    invalid(doc, "principals.alice.keys must have at least 1 entry")


def test_binding_to_unknown_principal_rejected() -> None:
    doc = policy_doc()
    doc["bindings"].append({"principal": "mallory", "roles": ["author"], "namespaces": ["tools/*"]})
    invalid(doc, "bindings[4].principal names 'mallory', which is not in principals")


def test_binding_namespace_must_be_two_segment_glob() -> None:
    for glob in ("tools", "tools/acme/x", "tools/[ab]", "Tools/acme", "tools/"):
        doc = policy_doc()
        doc["bindings"][0]["namespaces"] = [glob]
        invalid(doc, "bindings[0].namespaces[0]")


def test_unknown_role_rejected() -> None:
    doc = policy_doc()
    doc["bindings"][0]["roles"] = ["owner"]
    invalid(doc, "bindings[0].roles[0] must be one of author, reviewer, approver, advisory")


def test_empty_threshold_rejected() -> None:
    doc = policy_doc()
    doc["requirements"]["standard"]["roles"] = {}
    invalid(doc, "requirements.standard.roles must require at least one role")


def test_advisory_is_not_a_threshold_role() -> None:
    doc = policy_doc()
    doc["requirements"]["standard"]["roles"] = {"advisory": 1}
    invalid(doc, "requirements.standard.roles.advisory is not a known field")


def test_boolean_and_float_are_not_integers() -> None:
    doc = policy_doc()
    doc["requirements"]["standard"]["roles"]["author"] = True
    invalid(doc, "requirements.standard.roles.author must be an integer")
    # RFC 8785 would write 60.0 as 60, so spell the float in the bytes.
    data = encode(policy_doc()).replace(b'"max_staleness":3600', b'"max_staleness":3600.0')
    invalid(data, "max_staleness must be an integer, not 3600.0")


def test_staleness_bounded() -> None:
    invalid(policy_doc(max_staleness=0), "max_staleness must be an integer from 1 to 2592000")
    invalid(policy_doc(max_staleness=31 * 86400), "max_staleness")


@pytest.mark.parametrize(
    ("name", "over"),
    [
        ("wall_seconds", 31),
        ("cpu_seconds", 31),
        ("memory_mib", 513),
        ("processes", 65),
        ("output_bytes", (1 << 20) + 1),
        ("artifact_bytes", (64 << 20) + 1),
    ],
)
def test_resource_limit_over_hard_cap_rejected(name: str, over: int) -> None:
    invalid(policy_doc(resources={name: over}), f"resources.{name} must be an integer from 1 to {over - 1}")
    invalid(policy_doc(resources={name: 0}), f"resources.{name}")


def test_analyser_mode_must_be_enforce_or_audit() -> None:
    invalid(policy_doc(analysers={"command": "off"}), "analysers.command must be one of enforce, audit")


def test_only_analysers_may_be_audited() -> None:
    invalid(policy_doc(analysers={"signature": "audit"}), "analysers.signature is not a known field")


def test_unknown_allow_list_rejected() -> None:
    invalid(policy_doc(allow={"host": ["a"]}), "allow.host is not a known field")


def test_allow_stages_must_be_stages() -> None:
    invalid(policy_doc(allow={"stages": ["PRODUCTION"]}), "allow.stages[0] must be one of DEV, TEST, STAGE, PROD")


def test_repeated_list_entry_rejected() -> None:
    invalid(policy_doc(deny={"hosts": ["x", "x"]}), "deny.hosts[1] repeats the entry 'x'")


def test_control_characters_in_list_entry_rejected() -> None:
    invalid(policy_doc(deny={"commands": ["rm\n-rf"]}), "deny.commands[0] has an invalid value")


def test_level_rule_without_matcher_rejected() -> None:
    doc = policy_doc()
    doc["levels"]["rules"].append({"level": "strict"})
    invalid(doc, "levels.rules[2] needs at least one of kind, namespace, stage")


def test_repeated_level_rule_rejected() -> None:
    doc = policy_doc()
    doc["levels"]["rules"].append({"kind": "enclave", "level": "strict"})
    invalid(doc, "levels.rules[2] repeats levels.rules[0]")


def test_level_rule_unknown_kind_and_stage_rejected() -> None:
    doc = policy_doc()
    doc["levels"]["rules"] = [{"kind": "plugin", "level": "strict"}]
    invalid(doc, "levels.rules[0].kind must be one of tool, module, enclave")
    doc["levels"]["rules"] = [{"stage": "prod", "level": "strict"}]
    invalid(doc, "levels.rules[0].stage must be one of DEV, TEST, STAGE, PROD")


def test_oversized_policy_rejected() -> None:
    doc = policy_doc(deny={"commands": [f"c{i}-" + "x" * 250 for i in range(1024)]})
    doc["deny"]["hosts"] = [f"h{i}-" + "x" * 250 for i in range(1024)]
    data = encode(doc) + b" " * (1 << 20)
    invalid(data, "over the 1048576-byte limit")


def test_too_many_entries_rejected() -> None:
    invalid(policy_doc(deny={"commands": [f"c{i}" for i in range(1025)]}), "deny.commands has 1025 entries")


def test_policy_must_be_bytes_and_object() -> None:
    with pytest.raises(PolicyError):
        TrustPolicy.from_json_bytes(json.dumps(policy_doc()))  # type: ignore[arg-type]
    invalid(b"[]", "must be a JSON object")


def test_non_finite_number_rejected() -> None:
    data = encode(policy_doc()).replace(b'"max_staleness":3600', b'"max_staleness":NaN')
    invalid(data, "NaN")


# ---- taint (issue 3) ----------------------------------------------------------------------------

ALL_SINKS = frozenset(TAINT_SINKS)
NO_SHELL = ALL_SINKS - {"shell"}


def test_published_policy_without_taint_parses_to_defaults_llm_output_never_reaches_shell() -> None:
    p = policy()  # the document has no taint field, as every policy published before it
    assert p.taint_sinks("user_input") == ALL_SINKS
    for label in ("untrusted", "llm_output", "network"):
        assert p.taint_sinks(label) == NO_SHELL, label
    assert [label for label in TAINT_LABELS if "shell" in p.taint_sinks(label)] == ["user_input"]


def test_taint_defaults_are_spelled_out_in_canonical_json_and_round_trip() -> None:
    p = policy()
    out = json.loads(p.to_json_bytes())
    assert out["taint"] == {
        "user_input": ["argv", "shell", "path", "url", "env"],
        "untrusted": ["argv", "path", "url", "env"],
        "llm_output": ["argv", "path", "url", "env"],
        "network": ["argv", "path", "url", "env"],
    }
    again = TrustPolicy.from_json_bytes(p.to_json_bytes())
    assert again == p
    assert again.to_json_bytes() == p.to_json_bytes()
    # Writing the defaults out explicitly is the same policy as leaving them out.
    assert policy(taint=out["taint"]) == p


def test_absent_taint_label_keeps_its_default() -> None:
    p = policy(taint={"llm_output": ["argv", "path", "url"], "untrusted": ["argv"]})
    assert p.taint_sinks("llm_output") == {"argv", "path", "url"}
    assert p.taint_sinks("untrusted") == {"argv"}
    assert p.taint_sinks("network") == NO_SHELL
    assert p.taint_sinks("user_input") == ALL_SINKS


def test_signed_policy_may_let_llm_output_reach_a_shell() -> None:
    # The signed policy's authors decide; only the default never does.
    assert "shell" in policy(taint={"llm_output": ["argv", "shell"]}).taint_sinks("llm_output")


def test_empty_sink_list_means_the_label_reaches_nothing() -> None:
    p = policy(taint={"network": []})
    assert p.taint_sinks("network") == frozenset()
    assert json.loads(p.to_json_bytes())["taint"]["network"] == []


@pytest.mark.parametrize("label", ["none", "", "LLM_OUTPUT", "llm_output ", "llm-output", "shell", "admin"])
def test_unknown_taint_label_reaches_no_sink(label: str) -> None:
    # Fail closed: a label nobody wrote a rule for reaches nothing, not the defaults.
    assert policy().taint_sinks(label) == frozenset()
    assert policy(taint={"user_input": list(TAINT_SINKS)}).taint_sinks(label) == frozenset()


def test_unknown_taint_label_in_policy_rejected_naming_the_field() -> None:
    invalid(policy_doc(taint={"llm": ["argv"]}), "trust policy field taint.llm is not a known field")


def test_unknown_taint_sink_rejected_naming_the_field() -> None:
    invalid(
        policy_doc(taint={"llm_output": ["argv", "bash"]}),
        "taint.llm_output[1] must be one of argv, shell, path, url, env, not 'bash'",
    )


def test_repeated_taint_sink_rejected() -> None:
    invalid(policy_doc(taint={"untrusted": ["argv", "argv"]}), "taint.untrusted[1] repeats the entry 'argv'")


@pytest.mark.parametrize("value", ["argv", {"argv": True}, None, [1]])
def test_taint_sinks_must_be_a_list_of_sink_names(value: object) -> None:
    invalid(policy_doc(taint={"llm_output": value}), "taint.llm_output")


def test_taint_must_be_an_object() -> None:
    invalid(policy_doc(taint=["llm_output"]), "taint must be an object")


def test_built_policy_checks_taint_too() -> None:
    # Valid by construction: tighten and other code build TrustPolicy directly.
    p = policy()
    with pytest.raises(PolicyError, match="taint must give the sinks of every label"):
        replace(p, taint={"user_input": frozenset(TAINT_SINKS)})
    with pytest.raises(PolicyError, match=r"taint\.llm_output must be a set of sinks"):
        replace(p, taint={**p.taint, "llm_output": "argv"})
    with pytest.raises(PolicyError, match="'bash', which is not a sink"):
        replace(p, taint={**p.taint, "llm_output": frozenset({"bash"})})
    with pytest.raises(PolicyError, match=r"taint\.none is not a taint label"):
        replace(p, taint={**p.taint, "none": frozenset()})


def test_taint_lookup_is_a_precomputed_mapping() -> None:
    # The gate asks for every input: one lookup, no defaults merged or sets built per call.
    p = policy(taint={"llm_output": ["argv"]})
    assert isinstance(p.taint, MappingProxyType)
    assert tuple(p.taint) == TAINT_LABELS
    assert p.taint_sinks("llm_output") is p.taint["llm_output"]
    assert p.taint_sinks("nope") is p.taint_sinks("none")


def test_local_policy_taint_round_trips_and_keeps_empty_lists() -> None:
    lp = local(taint={"network": [], "llm_output": ["url", "argv"]})
    assert lp.taint == {"llm_output": {"argv", "url"}, "network": frozenset()}
    out = json.loads(lp.to_json_bytes())
    assert out["taint"] == {"llm_output": ["argv", "url"], "network": []}
    assert type(lp).from_json_bytes(lp.to_json_bytes()) == lp


def test_local_policy_unknown_taint_label_or_sink_invalid() -> None:
    for taint, fragment in (
        ({"llm": []}, "local policy field taint.llm is not a known field"),
        ({"network": ["socket"]}, "local policy field taint.network[0] must be one of"),
    ):
        with pytest.raises(PolicyError) as info:
            local(taint=taint)
        assert info.value.reason is Reason.POLICY_INVALID
        assert fragment in info.value.message
