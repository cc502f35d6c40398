"""Compile authored YAML policies to the canonical JSON the registry publishes and the gate parses.

Authoring time only: ``yaml`` and ``jsonschema`` are imported inside the functions, so
importing :mod:`sealgate.policy` on the gate's hot path never loads them. The steps:

1. YAML with ``yaml.safe_load`` (never ``yaml.load``). Before that the document is composed
   (``yaml.compose`` with the safe loader: nodes only, nothing constructed) to refuse what
   ``safe_load`` would silently accept: duplicate keys (the last one wins, so two readers could
   disagree on what was signed), aliases and merge keys, non-string keys, and YAML-only types
   such as timestamps. Syntax errors become :class:`MalformedInputError` with the line.
2. The JSON Schema (``trust-policy.schema.json`` / ``local-policy.schema.json``) and the same
   strict parser the gate uses; the document must pass both. When both refuse, the parser's
   sentence (which names the field) is reported, with the YAML line.
3. The parser's output, canonical JSON (RFC 8785), is parsed once more by ``from_json_bytes``
   so what is published is exactly what the gate accepts.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from sealgate.errors import MalformedInputError, PolicyError
from sealgate.policy._policy import MAX_POLICY_BYTES, LocalPolicy, TrustPolicy, refuse_trust_fields
from sealgate.policy._reader import PolicyFieldError, format_path

if TYPE_CHECKING:
    import jsonschema
    import yaml

__all__ = ["compile_local_policy_yaml", "compile_policy_yaml", "schema"]

TRUST_SCHEMA: Final = "trust-policy.schema.json"
LOCAL_SCHEMA: Final = "local-policy.schema.json"
_STR: Final = "tag:yaml.org,2002:str"
_SCALARS: Final = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:float",
}


def schema(name: str = TRUST_SCHEMA) -> dict[str, Any]:
    """The JSON Schema shipped with the package (``trust-policy.schema.json`` or ``local-policy.schema.json``)."""
    if name not in (TRUST_SCHEMA, LOCAL_SCHEMA):
        raise ValueError(f"unknown schema {name!r}")
    value: dict[str, Any] = json.loads(resources.files("sealgate.policy").joinpath(name).read_text("utf-8"))
    return value


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    import jsonschema
    from referencing import Registry, Resource

    trust = schema(TRUST_SCHEMA)
    registry: Registry[Any] = Registry().with_resource(trust["$id"], Resource.from_contents(trust))
    own = schema(name)
    jsonschema.Draft202012Validator.check_schema(own)
    return jsonschema.Draft202012Validator(own, registry=registry)


def _line(node: yaml.Node | None) -> str:
    return f" (line {node.start_mark.line + 1})" if node is not None else ""


def _check_nodes(root: yaml.Node, what: str) -> None:
    """Refuse duplicate keys, aliases, merge keys, non-string keys and non-JSON scalar types."""
    import yaml

    seen: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        where = f"{what} line {node.start_mark.line + 1}"
        if id(node) in seen:
            raise MalformedInputError(f"{where}: anchors and aliases are not allowed")
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag != _STR:
                    raise MalformedInputError(
                        f"{what} line {key.start_mark.line + 1}: mapping keys must be plain strings "
                        "(merge keys '<<' and non-string keys are not allowed)"
                    )
                if key.value in keys:
                    raise MalformedInputError(f"{what} line {key.start_mark.line + 1}: duplicate key {key.value!r}")
                keys.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.ScalarNode) and node.tag not in _SCALARS:
            raise MalformedInputError(
                f"{where}: value {node.value[:40]!r} has YAML type {node.tag.rsplit(':', 1)[-1]}"
                "; only strings, numbers, booleans and null are allowed (quote it)"
            )
        elif not isinstance(node, (yaml.MappingNode, yaml.SequenceNode, yaml.ScalarNode)):
            raise MalformedInputError(f"{where}: unsupported YAML node")


def _load_yaml(text: bytes, what: str) -> tuple[dict[str, Any], yaml.Node]:
    import yaml

    if not isinstance(text, bytes):
        raise MalformedInputError(f"{what} must be given as bytes, not {type(text).__name__}")
    if len(text) > MAX_POLICY_BYTES:
        raise MalformedInputError(f"{what} is {len(text)} bytes, over the {MAX_POLICY_BYTES}-byte limit")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            _check_nodes(root, what)
        value = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise MalformedInputError(f"{what} is not valid YAML{where}: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise MalformedInputError(f"{what} is not valid YAML: {exc}") from exc
    if root is None or not isinstance(value, dict):
        raise PolicyError(f"{what} must be a mapping of fields (see docs/policy.md)")
    return value, root


def _node_at(root: yaml.Node, path: tuple[str | int, ...]) -> yaml.Node:
    """The YAML node at ``path``, or the deepest one that exists (for a missing field: its parent)."""
    import yaml

    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
            if not found:
                return node
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def _schema_error(value: dict[str, Any], name: str, what: str) -> PolicyFieldError | None:
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator(name).iter_errors(value))
    if error is None:
        return None
    path = tuple(error.absolute_path)
    message = error.message if len(error.message) <= 200 else error.message[:199] + "…"
    return PolicyFieldError(f"{what} field {format_path(path)} does not match the schema: {message}", path=path)


def _with_line(exc: PolicyError, root: yaml.Node) -> PolicyError:
    if isinstance(exc, PolicyFieldError):
        return PolicyFieldError(f"{exc.message}{_line(_node_at(root, exc.path))}", path=exc.path, reason=exc.reason)
    return PolicyError(exc.message, reason=exc.reason)


def compile_policy_yaml(text: bytes) -> bytes:
    """Validate an authored trust policy and return its canonical JSON, ready to publish.

    Raises :class:`MalformedInputError` for YAML that does not parse (with the line) and
    :class:`PolicyError` (``policy-invalid``) for content that is not a valid policy.
    """
    value, root = _load_yaml(text, "policy YAML")
    # Both checks run; when both refuse, the parser's sentence is the clearer one (JSON Schema
    # says "... should not be valid under {...}"). The schema alone refusing is still fatal.
    schema_error = _schema_error(value, TRUST_SCHEMA, "trust policy")
    try:
        policy = TrustPolicy._from_document(value)
    except PolicyError as exc:
        raise _with_line(exc, root) from exc
    if schema_error is not None:
        raise _with_line(schema_error, root)
    out = policy.to_json_bytes()
    TrustPolicy.from_json_bytes(out)
    return out


def compile_local_policy_yaml(text: bytes) -> bytes:
    """Validate an authored local policy and return its canonical JSON (``local-policy.json``).

    Whether it only tightens can be decided only against the signed policy: ``tighten`` does it.
    Principals, keys or bindings are refused here already (``policy-loosened``).
    """
    value, root = _load_yaml(text, "local policy YAML")
    schema_error = _schema_error(value, LOCAL_SCHEMA, "local policy")
    try:
        refuse_trust_fields(value)
        policy = LocalPolicy._from_document(value)
    except PolicyError as exc:
        raise _with_line(exc, root) from exc
    if schema_error is not None:
        raise _with_line(schema_error, root)
    out = policy.to_json_bytes()
    LocalPolicy.from_json_bytes(out)
    return out
