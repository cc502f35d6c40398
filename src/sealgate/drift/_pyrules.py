"""Find the regex constants of a Python module by reading its syntax tree; never import or run it.

Read are the statements of the module and of its classes (also inside ``if``/``try``/
``with`` blocks), never function bodies. A constant is a rule when its value is
``re.compile(<literal>[, <flags>])`` (``re`` under any alias, or ``compile`` imported from
``re``); when it is a list, tuple or dict literal, each ``re.compile`` call in it is a rule
with the id ``NAME[index]`` or ``NAME[key]``; a string literal is a rule when its name ends
in ``_RE``, ``_REGEX`` or ``_PATTERN`` or it has examples. Class constants are ``Class.NAME``.
Examples come from ``# drift-example: TEXT`` and ``# drift-negative: TEXT`` comment lines
directly above the line where the constant (or the list item) starts, and from the
module-level literal dicts ``DRIFT_EXAMPLES`` / ``DRIFT_NEGATIVES`` (rule id -> list of str).
docs/drift.md describes the format. A ``re.compile`` at module or class level that the
reader cannot decide statically (a pattern built at run time, a flag expression it does not
know, a call inside another expression) is refused as malformed input rather than skipped,
so a rule cannot hide from the comparison.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from typing import Final

from sealgate.drift._formats import (
    FLAG_NAMES,
    MAX_EXAMPLE_CHARS,
    MAX_EXAMPLES,
    MAX_RULES,
    check_pattern,
    check_rule_id,
)
from sealgate.drift._model import RegexRule, RuleSet
from sealgate.errors import MalformedInputError

__all__ = ["parse_python_rules"]

_NAMED: Final = re.compile(r"(?:_RE|_REGEX|_PATTERN)$")
_EXAMPLE_COMMENT: Final = re.compile(r"^#\s*drift-(example|negative):[ ]?(.*)$")
_DICTS: Final = {"DRIFT_EXAMPLES": "examples", "DRIFT_NEGATIVES": "negatives"}


def _fail(what: str, message: str, line: int | None) -> MalformedInputError:
    where = f" line {line}" if line is not None else ""
    return MalformedInputError(f"{what}{where}: {message}")


class _Reader:
    def __init__(self, tree: ast.Module, what: str) -> None:
        self.what = what
        self.re_modules: set[str] = set()  # names bound to the re module
        self.re_compile: set[str] = set()  # names bound to re.compile
        self.re_flags: dict[str, str] = {}  # names bound to re flags -> canonical flag name
        self.strings: dict[str, str | bytes] = {}  # module-level string constants seen so far
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "re":
                        self.re_modules.add(alias.asname or "re")
            elif isinstance(node, ast.ImportFrom) and node.module == "re" and node.level == 0:
                for alias in node.names:
                    if alias.name == "compile":
                        self.re_compile.add(alias.asname or alias.name)
                    elif alias.name in FLAG_NAMES:
                        self.re_flags[alias.asname or alias.name] = FLAG_NAMES[alias.name]

    def is_compile(self, func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            return func.id in self.re_compile
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "compile"
            and isinstance(func.value, ast.Name)
            and func.value.id in self.re_modules
        )

    def pattern(self, node: ast.expr, name: str) -> str | bytes:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            return node.value
        if isinstance(node, ast.Name) and node.id in self.strings:
            return self.strings[node.id]
        raise _fail(
            self.what,
            f"{name}: the pattern is not a string literal (or a module-level string constant defined above it), "
            "so drift cannot check it; write it as a literal",
            node.lineno,
        )

    def flags(self, node: ast.expr, name: str) -> frozenset[str]:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.flags(node.left, name) | self.flags(node.right, name)
        if isinstance(node, ast.Constant) and node.value == 0 and not isinstance(node.value, bool):
            return frozenset()
        if isinstance(node, ast.Name) and node.id in self.re_flags:
            return frozenset({self.re_flags[node.id]})
        if isinstance(node, ast.Attribute) and node.attr in FLAG_NAMES:
            base = node.value
            if isinstance(base, ast.Attribute) and base.attr == "RegexFlag":
                base = base.value
            if isinstance(base, ast.Name) and base.id in self.re_modules:
                return frozenset({FLAG_NAMES[node.attr]})
        raise _fail(
            self.what,
            f"{name}: flags must be re flags joined with | (re.IGNORECASE | re.MULTILINE …); "
            "drift cannot read this expression",
            node.lineno,
        )


def _comment_examples(data: bytes, what: str) -> dict[int, list[tuple[str, str]]]:
    """Line number -> the (kind, text) example comments of the comment-only lines."""
    out: dict[int, list[tuple[str, str]]] = {}
    try:
        for tok in tokenize.tokenize(io.BytesIO(data).readline):
            if tok.type != tokenize.COMMENT or tok.line[: tok.start[1]].strip():
                continue
            match = _EXAMPLE_COMMENT.match(tok.string)
            out[tok.start[0]] = [] if match is None else [(match.group(1), match.group(2))]
    except (tokenize.TokenError, SyntaxError) as exc:
        raise MalformedInputError(f"{what} cannot be tokenised: {exc}") from exc
    return out


def _examples_above(comments: dict[int, list[tuple[str, str]]], line: int) -> tuple[list[str], list[str]]:
    examples: list[str] = []
    negatives: list[str] = []
    current = line - 1
    while current in comments:
        for kind, text in comments[current]:
            (examples if kind == "example" else negatives).insert(0, text)
        current -= 1
    return examples, negatives


def _dict_examples(node: ast.expr, name: str, what: str) -> dict[str, list[str]]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise _fail(what, f"{name} must be a literal dict of name -> list of strings", node.lineno) from exc
    if (
        not isinstance(value, dict)
        or not all(isinstance(k, str) for k in value)
        or not all(isinstance(v, (list, tuple)) and all(isinstance(s, str) for s in v) for v in value.values())
    ):
        raise _fail(what, f"{name} must be a literal dict of name -> list of strings", node.lineno)
    return {k: list(v) for k, v in value.items()}


def _bounded(texts: list[str], name: str, field: str, what: str, line: int) -> tuple[str, ...]:
    if len(texts) > MAX_EXAMPLES:
        raise _fail(what, f"{name}: more than {MAX_EXAMPLES} {field}", line)
    for text in texts:
        if len(text) > MAX_EXAMPLE_CHARS:
            raise _fail(what, f"{name}: an entry of {field} is over {MAX_EXAMPLE_CHARS} characters", line)
    return tuple(texts)


_Found = dict[str, tuple[str | bytes, frozenset[str], int, bool]]  # id -> pattern, flags, line, compiled


class _Collector:
    """Walks module and class bodies (not functions) and records every regex constant."""

    def __init__(self, reader: _Reader, what: str) -> None:
        self.reader = reader
        self.what = what
        self.found: _Found = {}
        self.extra: dict[str, dict[str, list[str]]] = {"examples": {}, "negatives": {}}
        self.extra_lines: dict[str, int] = {}

    def contains_compile(self, node: ast.AST) -> bool:
        return any(isinstance(n, ast.Call) and self.reader.is_compile(n.func) for n in ast.walk(node))

    def refuse(self, name: str, line: int) -> MalformedInputError:
        return _fail(
            self.what,
            f"{name}: re.compile is used in an expression drift cannot read (only NAME = re.compile(...), "
            "string constants, and list, tuple or dict literals of re.compile calls are read; see docs/drift.md)",
            line,
        )

    def body(self, stmts: list[ast.stmt], prefix: str) -> None:
        for stmt in stmts:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                self.assign(stmt, prefix)
            elif isinstance(stmt, ast.ClassDef):
                self.body(stmt.body, f"{prefix}{stmt.name}.")
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue  # patterns built when a function runs are not module constants
            elif isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.TryStar)):
                for field in ("body", "orelse", "finalbody"):
                    self.body(getattr(stmt, field, []), prefix)
                for handler in getattr(stmt, "handlers", []):
                    self.body(handler.body, prefix)
            elif self.contains_compile(stmt):
                raise self.refuse(f"the statement at line {stmt.lineno}", stmt.lineno)

    def assign(self, stmt: ast.Assign | ast.AnnAssign, prefix: str) -> None:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            return
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if len(names) != len(targets):
            if self.contains_compile(value):
                raise self.refuse(f"the assignment at line {stmt.lineno}", stmt.lineno)
            return  # tuple unpacking, attributes, subscripts: not a named constant
        for short in names:
            name = prefix + short
            if not prefix and short in _DICTS:
                self.extra[_DICTS[short]] = _dict_examples(value, short, self.what)
                self.extra_lines[short] = stmt.lineno
            elif isinstance(value, ast.Constant) and isinstance(value.value, (str, bytes)):
                self.reader.strings[short] = value.value
                self.found[name] = (value.value, frozenset(), stmt.lineno, False)
            else:
                self.reader.strings.pop(short, None)
                for key in [k for k in self.found if k == name or k.startswith(name + "[")]:
                    del self.found[key]  # rebound: what it held before is gone
                self.value(name, value, stmt.lineno)

    def value(self, name: str, node: ast.expr, line: int) -> None:
        if isinstance(node, ast.Call) and self.reader.is_compile(node.func):
            if not node.args or len(node.args) > 2 or any(k.arg != "flags" for k in node.keywords):
                raise _fail(self.what, f"{name}: re.compile takes a pattern and optional flags here", node.lineno)
            pattern = self.reader.pattern(node.args[0], name)
            flag_node = node.args[1] if len(node.args) == 2 else next((k.value for k in node.keywords), None)
            flags = self.reader.flags(flag_node, name) if flag_node is not None else frozenset()
            self.found[name] = (pattern, flags, line, True)
        elif isinstance(node, (ast.List, ast.Tuple)):
            for index, item in enumerate(node.elts):
                self.value(f"{name}[{index}]", item, item.lineno)
        elif isinstance(node, ast.Dict):
            for key, item in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and isinstance(key.value, (str, int))
                    and not isinstance(key.value, bool)
                ):
                    self.value(f"{name}[{key.value}]", item, item.lineno)
                elif self.contains_compile(item):
                    raise self.refuse(name, item.lineno)
        elif self.contains_compile(node):
            raise self.refuse(name, node.lineno)


def parse_python_rules(data: bytes, *, what: str) -> RuleSet:
    """The regex rules of a Python module's source ``data`` (never imported, never run)."""
    try:
        tree = ast.parse(data, filename=what)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        raise _fail(what, f"is not valid Python: {getattr(exc, 'msg', exc)}", line) from exc
    comments = _comment_examples(data, what)
    collector = _Collector(_Reader(tree, what), what)
    collector.body(tree.body, "")

    rules: dict[str, RegexRule] = {}
    extra = collector.extra
    for name, (pattern, flags, line, compiled) in collector.found.items():
        examples, negatives = _examples_above(comments, line)
        examples += extra["examples"].get(name, [])
        negatives += extra["negatives"].get(name, [])
        if not (compiled or _NAMED.search(name) or examples or negatives):
            continue  # an ordinary string constant
        check_rule_id(name, what, line)
        rules[name] = RegexRule(
            id=name,
            pattern=check_pattern(pattern, name, what, line),
            flags=flags,
            examples=_bounded(examples, name, "examples", what, line),
            negatives=_bounded(negatives, name, "negatives", what, line),
            line=line,
        )
        if len(rules) > MAX_RULES:
            raise _fail(what, f"more than {MAX_RULES} regex constants", line)
    for dict_name, field in _DICTS.items():
        unknown = sorted(set(extra[field]) - set(rules))
        if unknown:
            raise _fail(
                what,
                f"{dict_name} names {unknown}, which are not regex constants of this module",
                collector.extra_lines[dict_name],
            )
    return RuleSet("python", rules=rules)
