"""Authoring: YAML is compiled safely, checked by the JSON Schema and by the gate's own parser."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sealgate.errors import MalformedInputError, PolicyError, Reason
from sealgate.policy import (
    ALLOW_LISTS,
    DENY_LISTS,
    TAINT_LABELS,
    TAINT_SINKS,
    Level,
    LocalPolicy,
    TrustPolicy,
    compile_local_policy_yaml,
    compile_policy_yaml,
    tighten,
)
from sealgate.policy._compile import LOCAL_SCHEMA, TRUST_SCHEMA, _validator, schema
from sealgate.policy._policy import LOCAL_FIELDS, SIGNED_FIELDS, SIGNED_REQUIRED

from .helpers import ED, compressed_pem, dev_doc, encode, pem, policy_doc

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "policy.yaml"
LOCAL_EXAMPLE = ROOT / "examples" / "local-policy.yaml"


def to_yaml(doc: dict[str, Any]) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False).encode()


def test_example_policy_compiles_to_canonical_json() -> None:
    out = compile_policy_yaml(EXAMPLE.read_bytes())
    parsed = TrustPolicy.from_json_bytes(out)
    assert parsed.to_json_bytes() == out
    assert out == encode(json.loads(out))  # already canonical


def test_example_local_policy_tightens_the_example_policy() -> None:
    signed = TrustPolicy.from_json_bytes(compile_policy_yaml(EXAMPLE.read_bytes()))
    local = LocalPolicy.from_json_bytes(compile_local_policy_yaml(LOCAL_EXAMPLE.read_bytes()))
    result = tighten(signed, local)
    assert result.level_for("module", "modules/acme", "DEV") is Level.STRICT
    assert result.max_staleness == 900


def test_compiled_output_spells_out_defaults() -> None:
    doc = policy_doc()
    del doc["resources"], doc["analysers"], doc["max_staleness"]
    out = json.loads(compile_policy_yaml(to_yaml(doc)))
    assert out["resources"]["wall_seconds"] == 30
    assert out["analysers"] == dict.fromkeys(["command", "env", "path", "taint", "url"], "enforce")
    assert out["taint"] == {
        "user_input": ["argv", "shell", "path", "url", "env"],
        "untrusted": ["argv", "path", "url", "env"],
        "llm_output": ["argv", "path", "url", "env"],
        "network": ["argv", "path", "url", "env"],
    }
    assert out["max_staleness"] == 86400
    assert out["requirements"]["strict"]["deny_from"] == "medium"


def test_taint_yaml_compiles_with_absent_labels_spelled_out() -> None:
    text = to_yaml(policy_doc()) + b"taint:\n  llm_output: [argv, path, url]\n  untrusted: [argv]\n"
    out = compile_policy_yaml(text)
    taint = json.loads(out)["taint"]
    assert taint["llm_output"] == ["argv", "path", "url"]
    assert taint["untrusted"] == ["argv"]
    assert taint["network"] == ["argv", "path", "url", "env"]
    assert TrustPolicy.from_json_bytes(out).taint_sinks("untrusted") == {"argv"}
    assert not list(_validator(TRUST_SCHEMA).iter_errors(json.loads(out)))


def test_taint_yaml_with_unknown_sink_refused_with_field_and_line() -> None:
    text = to_yaml(policy_doc()) + b"taint:\n  llm_output: [argv, bash]\n"
    with pytest.raises(PolicyError) as info:
        compile_policy_yaml(text)
    assert info.value.reason is Reason.POLICY_INVALID
    assert "taint.llm_output[1] must be one of argv, shell, path, url, env" in info.value.message
    assert re.search(r"\(line \d+\)", info.value.message)


def test_local_policy_taint_compiles_canonically() -> None:
    out = compile_local_policy_yaml(
        b"_type: sealgate/local-policy/v1\ntaint:\n  llm_output: [url, argv]\n  network: []\n"
    )
    assert out == b'{"_type":"sealgate/local-policy/v1","taint":{"llm_output":["argv","url"],"network":[]}}'
    assert not list(_validator(LOCAL_SCHEMA).iter_errors(json.loads(out)))


def test_local_policy_schema_refuses_unknown_taint_label() -> None:
    doc = {"_type": "sealgate/local-policy/v1", "taint": {"llm": ["argv"]}}
    assert list(_validator(LOCAL_SCHEMA).iter_errors(doc))
    with pytest.raises(PolicyError, match=r"taint\.llm is not a known field"):
        compile_local_policy_yaml(to_yaml(doc))


def test_compiled_keys_are_normalised_pem() -> None:
    doc = policy_doc()
    from .helpers import EC

    doc["principals"]["dave"]["keys"] = [compressed_pem(EC[0])]
    out = json.loads(compile_policy_yaml(to_yaml(doc)))
    assert out["principals"]["dave"]["keys"] == [pem(EC[0])]


def test_malformed_yaml_reports_the_line() -> None:
    text = b"_type: sealgate/trust-policy/v1\nenvironment: production\nprincipals: [unclosed\n"
    with pytest.raises(MalformedInputError, match=r"line \d+, column \d+"):
        compile_policy_yaml(text)


def test_bad_indentation_reports_line_three() -> None:
    text = b"_type: sealgate/trust-policy/v1\nlevels:\n  default: strict\n rules: []\n"
    with pytest.raises(MalformedInputError, match="line 4"):
        compile_policy_yaml(text)


def test_duplicate_yaml_key_rejected_with_line() -> None:
    # safe_load alone would keep the last value silently: two readers, two policies.
    text = b"_type: sealgate/trust-policy/v1\nenvironment: development\nenvironment: production\n"
    with pytest.raises(MalformedInputError, match=r"line 3: duplicate key 'environment'"):
        compile_policy_yaml(text)


def test_yaml_alias_rejected() -> None:
    text = b"a: &x [1, 2]\nb: *x\n"
    with pytest.raises(MalformedInputError, match="aliases are not allowed"):
        compile_policy_yaml(text)


def test_yaml_merge_key_rejected() -> None:
    text = b"a:\n  <<: {b: 1}\n"
    with pytest.raises(MalformedInputError, match="merge keys"):
        compile_policy_yaml(text)


def test_yaml_timestamp_rejected() -> None:
    doc = to_yaml(policy_doc()) + b"expires: 2030-01-01\n"
    with pytest.raises(MalformedInputError, match="timestamp"):
        compile_policy_yaml(doc)


def test_yaml_python_object_tag_rejected() -> None:
    text = b"_type: !!python/object/apply:os.system ['true']\n"
    with pytest.raises(MalformedInputError):
        compile_policy_yaml(text)


def test_empty_yaml_rejected() -> None:
    with pytest.raises(PolicyError, match="must be a mapping"):
        compile_policy_yaml(b"")


def test_schema_error_names_field_and_line() -> None:
    doc = policy_doc(max_staleness=0)
    with pytest.raises(PolicyError) as info:
        compile_policy_yaml(to_yaml(doc))
    assert info.value.reason is Reason.POLICY_INVALID
    assert "max_staleness" in info.value.message
    assert re.search(r"\(line \d+\)", info.value.message)


def test_permissive_in_production_refused_at_compile_time() -> None:
    with pytest.raises(PolicyError) as info:
        compile_policy_yaml(to_yaml(dev_doc(environment="production")))
    assert "levels.rules[2].level" in info.value.message


def test_parser_only_rule_reported_with_line() -> None:
    # One key under two principals is beyond JSON Schema; the strict parser catches it.
    doc = policy_doc()
    doc["principals"]["bob"]["keys"] = [pem(ED[0])]
    with pytest.raises(PolicyError) as info:
        compile_policy_yaml(to_yaml(doc))
    assert "principals.bob.keys[0]" in info.value.message
    assert re.search(r"\(line \d+\)", info.value.message)


def test_local_policy_with_principals_refused_as_loosening() -> None:
    text = b"_type: sealgate/local-policy/v1\nprincipals:\n  mallory: {keys: []}\n"
    with pytest.raises(PolicyError) as info:
        compile_local_policy_yaml(text)
    assert info.value.reason is Reason.POLICY_LOOSENED


def test_local_policy_compiles_canonically() -> None:
    out = compile_local_policy_yaml(b"_type: sealgate/local-policy/v1\nmax_staleness: 60\n")
    assert out == b'{"_type":"sealgate/local-policy/v1","max_staleness":60}'


def test_yaml_is_only_loaded_with_safe_loader() -> None:
    source = (ROOT / "src" / "sealgate" / "policy" / "_compile.py").read_text()
    assert "yaml.load(" not in source
    assert "yaml.unsafe_load" not in source and "full_load" not in source
    assert "yaml.safe_load(" in source


# ---- the JSON Schema agrees with the hand-written parser ----------------------------------------


def test_schemas_are_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(schema(TRUST_SCHEMA))
    jsonschema.Draft202012Validator.check_schema(schema(LOCAL_SCHEMA))


def test_schema_fields_are_the_parser_fields() -> None:
    trust = schema(TRUST_SCHEMA)
    assert set(trust["properties"]) == set(SIGNED_FIELDS)
    assert set(trust["required"]) == set(SIGNED_REQUIRED)
    assert set(schema(LOCAL_SCHEMA)["properties"]) == set(LOCAL_FIELDS)
    assert set(trust["$defs"]["allow"]["properties"]) == set(ALLOW_LISTS)
    assert set(trust["$defs"]["deny"]["properties"]) == set(DENY_LISTS)
    assert tuple(trust["$defs"]["taint"]["properties"]) == TAINT_LABELS
    assert tuple(trust["$defs"]["taintSink"]["enum"]) == TAINT_SINKS
    assert trust["$defs"]["taintSinks"]["maxItems"] == len(TAINT_SINKS)


def _mutations() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []

    def mutate(name: str, change: Any) -> None:
        doc = policy_doc()
        change(doc)
        out.append((name, doc))

    mutate("unknown top field", lambda d: d.update(extra=1))
    mutate("wrong type", lambda d: d.update(_type="x"))
    mutate("missing levels", lambda d: d.pop("levels"))
    mutate("empty principals", lambda d: d.update(principals={}))
    mutate("bad glob", lambda d: d["bindings"][0].update(namespaces=["tools/a/b"]))
    mutate("bad role", lambda d: d["bindings"][0].update(roles=["root"]))
    mutate("threshold 0", lambda d: d["requirements"]["strict"]["roles"].update(author=0))
    mutate("threshold 33", lambda d: d["requirements"]["strict"]["roles"].update(author=33))
    mutate("empty roles", lambda d: d["requirements"]["strict"].update(roles={}))
    mutate("no strict", lambda d: d["requirements"].pop("strict"))
    mutate("rule without matcher", lambda d: d["levels"]["rules"].append({"level": "strict"}))
    mutate("permissive default in prod", lambda d: d["levels"].update(default="permissive"))
    mutate("staleness 0", lambda d: d.update(max_staleness=0))
    mutate("memory over cap", lambda d: d.update(resources={"memory_mib": 513}))
    mutate("analyser off", lambda d: d.update(analysers={"env": "off"}))
    mutate("unknown list", lambda d: d.update(deny={"urls": []}))
    mutate("duplicate entries", lambda d: d.update(deny={"hosts": ["a", "a"]}))
    mutate("bad stage", lambda d: d.update(allow={"stages": ["prod"]}))
    mutate("bool as int", lambda d: d.update(max_staleness=True))
    mutate("deny_from unknown", lambda d: d["requirements"]["strict"].update(deny_from="severe"))
    mutate("control char", lambda d: d.update(deny={"commands": ["a\tb"]}))
    mutate("unknown taint label", lambda d: d.update(taint={"llm": ["argv"]}))
    mutate("unknown taint sink", lambda d: d.update(taint={"llm_output": ["bash"]}))
    mutate("repeated taint sink", lambda d: d.update(taint={"network": ["url", "url"]}))
    mutate("taint sinks not a list", lambda d: d.update(taint={"untrusted": "argv"}))
    mutate("taint not an object", lambda d: d.update(taint=["llm_output"]))
    return out


@pytest.mark.parametrize(("name", "doc"), _mutations(), ids=[n for n, _ in _mutations()])
def test_schema_and_parser_both_reject(name: str, doc: dict[str, Any]) -> None:
    assert list(_validator(TRUST_SCHEMA).iter_errors(doc)), f"schema accepted: {name}"
    with pytest.raises(PolicyError):
        TrustPolicy.from_json_bytes(encode(doc))


@pytest.mark.parametrize(
    "doc",
    [policy_doc(), dev_doc(), policy_doc(taint={"llm_output": ["argv", "shell"], "network": []})],
    ids=["production", "development", "taint"],
)
def test_schema_and_parser_both_accept(doc: dict[str, Any]) -> None:
    assert not list(_validator(TRUST_SCHEMA).iter_errors(copy.deepcopy(doc)))
    TrustPolicy.from_json_bytes(encode(doc))
    compiled = json.loads(compile_policy_yaml(to_yaml(doc)))
    assert not list(_validator(TRUST_SCHEMA).iter_errors(compiled))


def test_docs_describe_every_field_and_list() -> None:
    text = (ROOT / "docs" / "policy.md").read_text()
    names = (*SIGNED_FIELDS, *ALLOW_LISTS, *DENY_LISTS, *TAINT_LABELS, *TAINT_SINKS)
    for name in (*names, "wall_seconds", "artifact_bytes", "deny_from"):
        assert f"`{name}`" in text, name
    assert "policy.taint_sinks(" in text
