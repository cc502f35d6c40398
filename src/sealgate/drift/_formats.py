"""Parse a rule set from bytes: YAML or JSON rule lists and invariant manifests (docs/drift.md).

Python modules are handed to :mod:`sealgate.drift._pyrules`. Every input is bounded (file
size, number of rules, pattern and example lengths) and anything unexpected is a
:class:`~sealgate.errors.MalformedInputError` naming the file and, for YAML, the line. YAML
is composed to nodes first and refused when it holds what ``safe_load`` would silently
accept (duplicate keys, aliases, merge keys, non-string keys, YAML-only types), as the
policy compiler does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

from sealgate.canonical import loads_strict
from sealgate.drift._model import Direction, RegexRule, RuleSet, Setting, SettingValue
from sealgate.errors import MalformedInputError

if TYPE_CHECKING:
    import yaml

__all__ = [
    "FLAG_NAMES",
    "MAX_EXAMPLES",
    "MAX_EXAMPLE_CHARS",
    "MAX_FILE_BYTES",
    "MAX_PATTERN_CHARS",
    "MAX_RULES",
    "parse_rule_set",
]

MAX_FILE_BYTES: Final = 4 << 20
MAX_RULES: Final = 10_000
MAX_PATTERN_CHARS: Final = 4096
MAX_EXAMPLES: Final = 64
MAX_EXAMPLE_CHARS: Final = 4096
MAX_ID_CHARS: Final = 200
MAX_ORDER: Final = 256
MAX_MEMBERS: Final = 1024

RULES_TYPE: Final = "sealgate/drift-rules/v1"

# Flag spellings accepted in a rule's ``flags`` list (and as ``re.X`` in Python modules), by
# their canonical name. LOCALE is refused: its meaning depends on the machine's locale.
FLAG_NAMES: Final = {
    "I": "IGNORECASE",
    "IGNORECASE": "IGNORECASE",
    "M": "MULTILINE",
    "MULTILINE": "MULTILINE",
    "S": "DOTALL",
    "DOTALL": "DOTALL",
    "X": "VERBOSE",
    "VERBOSE": "VERBOSE",
    "A": "ASCII",
    "ASCII": "ASCII",
    "U": "UNICODE",
    "UNICODE": "UNICODE",
}

_STR: Final = "tag:yaml.org,2002:str"
_SCALARS: Final = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:float",
}
_TOP_KEYS: Final = {"_type", "rules", "invariants"}
_SETTING_KEYS: Final = {"value", "safe", "order", "description"}


def _fail(what: str, message: str, line: int | None = None) -> MalformedInputError:
    where = f" line {line}" if line is not None else ""
    return MalformedInputError(f"{what}{where}: {message}")


def parse_rule_set(data: bytes, path: str, *, what: str) -> RuleSet:
    """Parse ``data``, the content of ``path`` (its suffix picks the format); ``what`` names it in errors."""
    if len(data) > MAX_FILE_BYTES:
        raise MalformedInputError(f"{what} is {len(data)} bytes, over the {MAX_FILE_BYTES}-byte limit")
    lower = path.lower()
    if lower.endswith(".py"):
        from sealgate.drift._pyrules import parse_python_rules

        return parse_python_rules(data, what=what)
    if lower.endswith(".json"):
        value = loads_strict(data, what=what, max_size=MAX_FILE_BYTES)
        return _from_value(value, None, what=what, fmt="json")
    if lower.endswith((".yaml", ".yml")):
        value, root = _load_yaml(data, what)
        return _from_value(value, root, what=what, fmt="yaml")
    raise MalformedInputError(
        f"{what}: unknown rule-set format; name the file *.yaml, *.yml, *.json (rule lists and invariant "
        "manifests) or *.py (regex constants), see docs/drift.md"
    )


# -- YAML -------------------------------------------------------------------------------------


def _check_nodes(root: yaml.Node, what: str) -> None:
    import yaml

    seen: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        line = node.start_mark.line + 1
        if id(node) in seen:
            raise _fail(what, "anchors and aliases are not allowed", line)
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag != _STR:
                    raise _fail(what, "mapping keys must be plain strings (no merge keys)", key.start_mark.line + 1)
                if key.value in keys:
                    raise _fail(what, f"duplicate key {key.value!r}", key.start_mark.line + 1)
                keys.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.ScalarNode):
            if node.tag not in _SCALARS:
                raise _fail(
                    what,
                    f"value {node.value[:40]!r} has YAML type {node.tag.rsplit(':', 1)[-1]}; "
                    "only strings, numbers, booleans and null are allowed (quote it)",
                    line,
                )
        else:
            raise _fail(what, "unsupported YAML node", line)


def _load_yaml(data: bytes, what: str) -> tuple[Any, yaml.Node | None]:
    import yaml

    try:
        root = yaml.compose(data, Loader=yaml.SafeLoader)
        if root is not None:
            _check_nodes(root, what)
        value = yaml.safe_load(data)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise MalformedInputError(f"{what} is not valid YAML{where}: {exc.problem or exc.context}") from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise MalformedInputError(f"{what} is not valid YAML: {exc}") from exc
    return value, root


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    """The YAML node under ``node`` at ``key`` (a mapping key or a sequence index), if any."""
    import yaml

    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for k, v in node.value:
            if k.value == key:
                found: yaml.Node = v
                return found
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        item: yaml.Node = node.value[key]
        return item
    return None


def _key_line(node: yaml.Node | None, key: str) -> int | None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return int(k.start_mark.line) + 1
    return None


def _line(node: yaml.Node | None) -> int | None:
    return None if node is None else int(node.start_mark.line) + 1


# -- values -----------------------------------------------------------------------------------


def _from_value(value: Any, root: yaml.Node | None, *, what: str, fmt: str) -> RuleSet:
    if value is None:
        return RuleSet(fmt)  # an empty document: no rule, no setting (so all former ones are removed)
    if isinstance(value, list):
        return RuleSet(fmt, rules=_rules(value, root, what))
    if not isinstance(value, dict):
        raise _fail(what, "must be a list of rules or a mapping with `rules` and/or `invariants`", _line(root))
    unknown = sorted(set(value) - _TOP_KEYS)
    if unknown:
        raise _fail(what, f"unknown top-level keys {unknown}; expected _type, rules, invariants", _line(root))
    if "_type" in value and value["_type"] != RULES_TYPE:
        raise _fail(what, f"_type must be {RULES_TYPE!r}", _key_line(root, "_type"))
    if "rules" not in value and "invariants" not in value:
        raise _fail(what, "needs `rules` (a list) or `invariants` (a mapping)", _line(root))
    rules = _rules(value.get("rules", []), _child(root, "rules"), what)
    settings = _settings(value.get("invariants", {}), _child(root, "invariants"), what)
    return RuleSet(fmt, rules=rules, settings=settings)


def _text_list(value: Any, field: str, rule: str, what: str, line: int | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(what, f"rule {rule!r}: {field} must be a list of strings", line)
    if len(value) > MAX_EXAMPLES:
        raise _fail(what, f"rule {rule!r}: more than {MAX_EXAMPLES} {field}", line)
    for text in value:
        if len(text) > MAX_EXAMPLE_CHARS:
            raise _fail(what, f"rule {rule!r}: an entry of {field} is over {MAX_EXAMPLE_CHARS} characters", line)
    return tuple(value)


def check_rule_id(rule_id: Any, what: str, line: int | None) -> str:
    if not isinstance(rule_id, str) or not rule_id.strip() or len(rule_id) > MAX_ID_CHARS:
        raise _fail(what, f"every rule needs an `id`: a non-empty string of at most {MAX_ID_CHARS} characters", line)
    if any(ord(c) < 32 or ord(c) == 127 for c in rule_id):
        raise _fail(what, f"rule id {rule_id!r} holds control characters", line)
    return rule_id


def check_pattern(pattern: Any, rule: str, what: str, line: int | None) -> str | bytes:
    if not isinstance(pattern, (str, bytes)):
        raise _fail(what, f"rule {rule!r}: `pattern` must be a string", line)
    if len(pattern) > MAX_PATTERN_CHARS:
        raise _fail(what, f"rule {rule!r}: pattern is over {MAX_PATTERN_CHARS} characters", line)
    return pattern


def canonical_flags(names: Any, rule: str, what: str, line: int | None) -> frozenset[str]:
    if names is None:
        return frozenset()
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _fail(what, f"rule {rule!r}: `flags` must be a list of flag names", line)
    out = set()
    for name in names:
        canonical = FLAG_NAMES.get(name.upper())
        if canonical is None:
            raise _fail(
                what, f"rule {rule!r}: unknown flag {name!r}; use {', '.join(sorted(set(FLAG_NAMES.values())))}", line
            )
        out.add(canonical)
    return frozenset(out)


def _rules(value: Any, node: yaml.Node | None, what: str) -> dict[str, RegexRule]:
    if not isinstance(value, list):
        raise _fail(what, "`rules` must be a list", _line(node))
    if len(value) > MAX_RULES:
        raise _fail(what, f"more than {MAX_RULES} rules", _line(node))
    out: dict[str, RegexRule] = {}
    for index, item in enumerate(value):
        item_node = _child(node, index)
        line = _line(item_node)
        if not isinstance(item, dict):
            raise _fail(what, f"rule #{index + 1} must be a mapping with id, pattern and examples", line)
        rule_id = check_rule_id(item.get("id"), what, line)
        if rule_id in out:
            raise _fail(what, f"two rules have the id {rule_id!r}", line)
        if "pattern" not in item:
            raise _fail(what, f"rule {rule_id!r} has no `pattern`", line)
        pattern = check_pattern(item["pattern"], rule_id, what, line)
        out[rule_id] = RegexRule(
            id=rule_id,
            pattern=pattern,
            flags=canonical_flags(item.get("flags"), rule_id, what, line),
            examples=_text_list(item.get("examples"), "examples", rule_id, what, line),
            negatives=_text_list(item.get("negatives"), "negatives", rule_id, what, line),
            line=line,
        )
    return out


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int, bool))


def _settings(value: Any, node: yaml.Node | None, what: str) -> dict[str, Setting]:
    if not isinstance(value, dict):
        raise _fail(what, "`invariants` must be a mapping of setting name to {value, safe[, order]}", _line(node))
    if len(value) > MAX_RULES:
        raise _fail(what, f"more than {MAX_RULES} invariants", _line(node))
    out: dict[str, Setting] = {}
    for name, spec in value.items():
        line = _key_line(node, name)
        check_rule_id(name, what, line)
        out[name] = _setting(name, spec, what, line)
    return out


def _direction(raw: Any, name: str, what: str, line: int | None) -> Direction:
    if isinstance(raw, bool):
        return Direction.TRUE if raw else Direction.FALSE
    if isinstance(raw, str):
        try:
            return Direction(raw.lower())
        except ValueError:
            pass
    raise _fail(
        what, f"setting {name!r}: `safe` must be one of higher, lower, true, false, fewer, more (not {raw!r})", line
    )


def _setting(name: str, spec: Any, what: str, line: int | None) -> Setting:
    if not isinstance(spec, dict) or "value" not in spec or "safe" not in spec:
        raise _fail(what, f"setting {name!r} must be a mapping with `value` and `safe`", line)
    unknown = sorted(set(spec) - _SETTING_KEYS)
    if unknown:
        raise _fail(what, f"setting {name!r} has unknown keys {unknown}", line)
    safe = _direction(spec["safe"], name, what, line)
    raw, order_raw = spec["value"], spec.get("order")
    order: tuple[str | int | float | bool, ...] | None = None
    value: SettingValue
    if order_raw is not None and safe not in (Direction.HIGHER, Direction.LOWER):
        raise _fail(what, f"setting {name!r}: `order` only goes with safe: higher or lower", line)
    if safe in (Direction.HIGHER, Direction.LOWER):
        if order_raw is not None:
            if (
                not isinstance(order_raw, list)
                or not order_raw
                or len(order_raw) > MAX_ORDER
                or not all(_scalar(v) and not isinstance(v, bool) for v in order_raw)
                or len(set(order_raw)) != len(order_raw)
            ):
                raise _fail(
                    what,
                    f"setting {name!r}: `order` must be a list of 1 to {MAX_ORDER} distinct strings or numbers, "
                    "least to most",
                    line,
                )
            order = tuple(order_raw)
            if raw not in order or isinstance(raw, bool):
                raise _fail(what, f"setting {name!r}: value {raw!r} is not in its `order`", line)
            value = raw
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool) and _scalar(raw):
            value = raw
        else:
            raise _fail(what, f"setting {name!r}: safe: {safe.value} needs a number, or a value and an `order`", line)
    elif safe in (Direction.TRUE, Direction.FALSE):
        if not isinstance(raw, bool):
            raise _fail(what, f"setting {name!r}: safe: {safe.value} needs a boolean value", line)
        value = raw
    else:
        if (
            not isinstance(raw, list)
            or len(raw) > MAX_MEMBERS
            or not all(_scalar(v) and not isinstance(v, bool) for v in raw)
        ):
            raise _fail(
                what,
                f"setting {name!r}: safe: {safe.value} needs a list of at most {MAX_MEMBERS} strings or numbers",
                line,
            )
        if len(set(raw)) != len(raw):
            raise _fail(what, f"setting {name!r}: its list names a member twice", line)
        value = tuple(raw)
    return Setting(name=name, value=value, safe=safe, order=order, line=line)
