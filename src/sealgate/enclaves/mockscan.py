"""Find mock-attestation code in a build (``sealgate ci check-mock``).

A build meant for PROD must not carry a way to fake attestation: a mock quote provider, a
flag that switches to it, a configuration that selects it, a simulation-mode SGX runtime.
:func:`scan_for_mock` walks files and directories (never following a symbolic link, and
listing every link it did not follow) and reports every hit with its file, line or byte
offset, the rule that matched and an excerpt; :func:`require_no_mock` turns a report into a
verdict for a stage.

What is recognised (docs/ci.md has the full table):

* a *mock name*: an identifier or string whose words (split at ``_ . -`` and camelCase)
  hold a mock word (``mock``, ``fake``, ``sim``, ``simulation``…) and an attestation word
  (anything containing ``attest``, ``quote``, ``sgx``, ``tdx``, ``enclave``, ``dcap``, or
  ``tee``): ``MockQuoteProvider``, ``SGX_MOCK``, ``sealgate.enclaves.mock``,
  ``libsgx_urts_sim.so``;
* a *mock setting*: a key whose words name a mock with a value that is not clearly off
  (``mock_attestation: true``, ``SGX_MOCK=1``), or a key with an attestation word whose
  value holds a mock word (``attestation: mock``, ``ATTESTATION_MODE = "mock"``,
  ``SGX_MODE=SIM``);
* Python, by its syntax tree: imports of a mock name (``sealgate.enclaves.mock``, the
  mock provider's module); environment reads whose *default* is a mock setting
  (``os.environ.get("SGX_MOCK", "1")``, ``os.getenv("ATTESTATION_MODE", "mock")``);
  environment reads of a mock flag at all (the build can be switched to mock at run time);
  assignments, dict entries, keyword arguments and parameter defaults that are mock
  settings; comparisons of an attestation setting with a mock value; mock names and
  strings;
* configuration files (YAML, JSON, TOML, INI, ``.env``), parsed (nested keys count) and
  line by line; any other text file line by line;
* binaries: printable strings holding a mock name or setting, and ELF symbol and dynamic
  string tables;
* the user's own regular expressions, on every text line and over every binary.

A file that cannot be read or parsed is a :class:`ScanProblem`; it is never skipped
silently.
"""

from __future__ import annotations

import ast
import fnmatch
import mmap
import os
import re
import stat
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sealgate._dataclass import dataclass
from sealgate.errors import MalformedInputError, Reason, UsageError, VerificationError

__all__ = [
    "FATAL_STAGES",
    "RULES",
    "MockHit",
    "MockScanReport",
    "ScanProblem",
    "compile_patterns",
    "is_mock_name",
    "mock_setting",
    "read_patterns_file",
    "require_no_mock",
    "scan_for_mock",
]

#: Stages where a hit fails the build. STAGE rehearses PROD with the same bytes (the same
#: measurement is later registered for PROD), so a mock there is caught before promotion.
FATAL_STAGES = ("STAGE", "PROD")

#: Every rule a hit can name (docs/ci.md describes each).
RULES = (
    "python-import",
    "python-env-default",
    "python-env-switch",
    "python-setting",
    "python-mock-switch",
    "python-name",
    "python-string",
    "config-setting",
    "config-line",
    "text-setting",
    "text-name",
    "binary-string",
    "elf-symbol",
    "user-pattern",
)

MOCK_WORDS = frozenset(
    {"mock", "mocked", "mocking", "mocks", "fake", "faked", "sim", "simulation", "simulated", "simulator"}
)
CONTEXT_FRAGMENTS = ("attest", "quote", "sgx", "tdx", "enclave", "dcap")
CONTEXT_WORDS = frozenset({"tee"})
OFF_VALUES = frozenset({"", "~", "0", "false", "no", "off", "n", "none", "null", "disable", "disabled", "never"})

MAX_TEXT_SIZE = 16 << 20  # larger files are scanned as binaries (strings), not parsed
MAX_PATTERNS = 1000
MAX_PATTERN_LENGTH = 1000
MAX_HITS_PER_FILE = 1000
MAX_CONFIG_NODES = 200_000
_EXCERPT = 160
_SNIFF = 8192

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# KEY = VALUE / KEY: VALUE / "KEY": VALUE / KEY ?= VALUE, in any text format.
_KV = re.compile(r"""(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*(?:[?:+]?=|:)\s*["']?(?P<value>[^\s"',;#}\])]*)""")
_CANDIDATE = re.compile(rb"(?i)mock|fake|sim")
# Every mock word holds one of these: text without them is passed over without splitting it.
_QUICK = re.compile(r"(?i)mock|fake|sim")
_PRINTABLE_TAIL = re.compile(rb"[\x20-\x7e]*\Z")
_PRINTABLE_HEAD = re.compile(rb"[\x20-\x7e]*")
_NUL_TAIL = re.compile(rb"[^\x00]*\Z")
_NUL_HEAD = re.compile(rb"[^\x00]*")

PYTHON_SUFFIXES = frozenset({".py", ".pyw", ".pyi"})
CONFIG_SUFFIXES = frozenset({".yaml", ".yml", ".json", ".toml", ".ini", ".cfg", ".conf", ".env", ".properties"})


@dataclass(frozen=True, slots=True)
class MockHit:
    """One finding: where (``line`` for text, ``offset`` for binaries), which rule, why, and the text."""

    path: str
    rule: str
    message: str
    excerpt: str
    line: int | None = None
    offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "offset": self.offset,
            "rule": self.rule,
            "message": self.message,
            "excerpt": self.excerpt,
        }

    def location(self) -> str:
        if self.line is not None:
            return f"{self.path}:{self.line}"
        if self.offset is not None:
            return f"{self.path}@{self.offset:#x}"
        return self.path


@dataclass(frozen=True, slots=True)
class ScanProblem:
    """A path the scan could not fully judge (unreadable, unparseable) or did not follow (a link)."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass(frozen=True, slots=True)
class MockScanReport:
    """Everything one scan found. ``problems`` make the scan incomplete; ``not_followed`` are links."""

    hits: tuple[MockHit, ...]
    problems: tuple[ScanProblem, ...]
    not_followed: tuple[ScanProblem, ...] = ()
    excluded: tuple[str, ...] = ()
    files_scanned: int = 0
    hits_left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": [h.to_dict() for h in self.hits],
            "problems": [p.to_dict() for p in self.problems],
            "not_followed": [p.to_dict() for p in self.not_followed],
            "excluded": list(self.excluded),
            "files_scanned": self.files_scanned,
            "hits_left_out": self.hits_left_out,
        }


def require_no_mock(report: MockScanReport, stage: str) -> None:
    """Raise unless the scan may pass at ``stage``.

    In STAGE and PROD any hit raises :class:`VerificationError` (``mock-attestation-found``,
    exit 3). In every stage a scan with problems raises :class:`MalformedInputError`
    (``malformed-input``, exit 3): a file that could not be scanned never passes silently.
    In DEV and TEST hits are reported only.
    """
    total = len(report.hits) + report.hits_left_out
    if stage in FATAL_STAGES and total:
        files = len({h.path for h in report.hits})
        raise VerificationError(
            f"{total} mock-attestation hit(s) in {files} file(s) of a {stage} build",
            reason=Reason.MOCK_ATTESTATION_FOUND,
        )
    if report.problems:
        raise MalformedInputError(f"{len(report.problems)} path(s) could not be scanned; the build is not judged clean")


# ---------------------------------------------------------------------------------------
# The rules


def words(text: str) -> list[str]:
    """``MockQuoteProvider`` -> mock, quote, provider; ``SGX_MOCK`` -> sgx, mock."""
    return [w.lower() for w in _WORD.findall(text)]


def _has_mock(ws: Iterable[str]) -> bool:
    return any(w in MOCK_WORDS for w in ws)


def _has_context(ws: Iterable[str]) -> bool:
    return any(w in CONTEXT_WORDS or any(f in w for f in CONTEXT_FRAGMENTS) for w in ws)


def is_mock_name(text: str) -> bool:
    """An identifier, module path or string naming a mock of attestation."""
    if not _QUICK.search(text):
        return False
    ws = words(text)
    return _has_mock(ws) and _has_context(ws)


def _is_off(value: object) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    return isinstance(value, str) and value.strip().lower() in OFF_VALUES


def mock_setting(key: str, value: object) -> str | None:
    """Why ``key = value`` turns mock attestation on, or None.

    A mock flag (a key that is a mock name) is on for any value not clearly off (fail
    closed: ``auto`` counts); an attestation key is a hit when its value holds a mock word.
    """
    if not _QUICK.search(key) and not (isinstance(value, str) and _QUICK.search(value)):
        return None
    key_words = words(key)
    if _has_mock(key_words) and _has_context(key_words) and not _is_off(value):
        return f"{key} = {value!r} turns a mock on"
    if isinstance(value, str) and _has_context(key_words) and _has_mock(words(value)):
        return f"{key} = {value!r} selects a mock"
    if isinstance(value, str) and is_mock_name(value):
        return f"{key} = {value!r} names a mock"
    return None


def _line_hits(line: str, *, config: bool = False) -> tuple[str, str] | None:
    """The built-in rules on one line of text: a mock setting first, else a mock name.

    In a configuration file a line that is a setting is judged as a setting only: a mock
    flag that is set off (``SGX_MOCK=0``) is not a hit there.
    """
    if not _QUICK.search(line):
        return None
    judged = False
    for match in _KV.finditer(line):
        judged = True
        why = mock_setting(match["key"], match["value"])
        if why is not None:
            return "text-setting", why
    if config and judged:
        return None
    for match in _IDENT.finditer(line):
        if is_mock_name(match.group()):
            return "text-name", f"{match.group()} names a mock"
    return None


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


# ---------------------------------------------------------------------------------------
# Patterns


def compile_patterns(patterns: Sequence[str]) -> tuple[tuple[re.Pattern[str], re.Pattern[bytes]], ...]:
    """The user's regular expressions, for text (str) and binaries (UTF-8 bytes)."""
    if len(patterns) > MAX_PATTERNS:
        raise UsageError(f"at most {MAX_PATTERNS} patterns")
    compiled = []
    for pattern in patterns:
        if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
            raise UsageError(f"a pattern must have 1 to {MAX_PATTERN_LENGTH} characters")
        try:
            compiled.append((re.compile(pattern), re.compile(pattern.encode("utf-8"))))
        except re.error as exc:
            raise UsageError(f"pattern {pattern!r} is not a regular expression: {exc}") from exc
    return tuple(compiled)


def read_patterns_file(path: Path) -> list[str]:
    """One regular expression per line; blank lines and lines starting with ``#`` are ignored."""
    try:
        with open(path, "rb") as handle:
            data = handle.read((1 << 20) + 1)
    except OSError as exc:
        raise UsageError(f"patterns file {path} cannot be read: {exc.strerror}") from exc
    if len(data) > 1 << 20:
        raise UsageError(f"patterns file {path} is larger than 1 MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"patterns file {path} is not UTF-8") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# ---------------------------------------------------------------------------------------
# Python


def _key_of(node: ast.AST) -> str | None:
    """The name a value is bound to: ``X``, ``obj.X``, ``d["X"]``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    return None


def _constant(node: ast.AST | None) -> tuple[bool, object]:
    if isinstance(node, ast.Constant):
        return True, node.value
    return False, None


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in ("environ", "environb")) or (
        isinstance(node, ast.Name) and node.id in ("environ", "environb")
    )


def _env_read(call: ast.Call) -> tuple[ast.AST | None, ast.AST | None] | None:
    """(key, default) of ``os.getenv``/``os.environ.get``/``os.environ.setdefault``, else None."""
    func = call.func
    is_getenv = (isinstance(func, ast.Attribute) and func.attr in ("getenv", "getenvb")) or (
        isinstance(func, ast.Name) and func.id in ("getenv", "getenvb")
    )
    is_environ_get = isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault") and _is_environ(func.value)
    if not (is_getenv or is_environ_get):
        return None
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    key = call.args[0] if call.args else keywords.get("key")
    default = call.args[1] if len(call.args) > 1 else keywords.get("default", keywords.get("value"))
    return key, default


class _PythonScan(ast.NodeVisitor):
    def __init__(self, path: str, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.hits: list[MockHit] = []
        self._skip: set[int] = set()  # id() of key constants already judged as environment reads

    def hit(self, node: ast.AST, rule: str, message: str, *, line: int | None = None) -> None:
        line = getattr(node, "lineno", None) if line is None else line
        text = self.lines[line - 1] if line is not None and 0 < line <= len(self.lines) else ""
        self.hits.append(MockHit(self.path, rule, message, _excerpt(text), line=line))

    def _setting(self, node: ast.AST, key: str | None, value_node: ast.AST | None, what: str) -> None:
        ok, value = _constant(value_node)
        if key is not None and ok:
            why = mock_setting(key, value)
            if why is not None:
                self.hit(node, "python-setting", f"{what}: {why}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if is_mock_name(alias.name):
                self.hit(node, "python-import", f"imports {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            full = f"{module}.{alias.name}" if module and not module.endswith(".") else module + alias.name
            if is_mock_name(full):
                self.hit(node, "python-import", f"imports {full}")

    def visit_Name(self, node: ast.Name) -> None:
        if is_mock_name(node.id):
            self.hit(node, "python-name", f"{node.id} names a mock")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if is_mock_name(node.attr):
            self.hit(node, "python-name", f"{node.attr} names a mock")
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        if not isinstance(node, ast.Lambda) and is_mock_name(node.name):
            self.hit(node, "python-name", f"{node.name} names a mock")
        positional = [*args.posonlyargs, *args.args]
        pairs: list[tuple[ast.arg, ast.AST | None]] = list(
            zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
        )
        pairs += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
        for arg, default in pairs:
            self._setting(arg, arg.arg, default, f"parameter default of {arg.arg}")
        for arg in [*positional, *args.kwonlyargs, *filter(None, (args.vararg, args.kwarg))]:
            if is_mock_name(arg.arg):
                self.hit(arg, "python-name", f"parameter {arg.arg} names a mock")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if is_mock_name(node.name):
            self.hit(node, "python-name", f"class {node.name} names a mock")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._setting(node, _key_of(target), node.value, "assignment")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._setting(node, _key_of(node.target), node.value, "assignment")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            ok, name = _constant(key)
            if ok and isinstance(name, str):
                self._setting(key or node, name, value, "dict entry")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        keys = []
        for operand in operands:
            env = _env_read(operand) if isinstance(operand, ast.Call) else None
            key_node = env[0] if env is not None else operand
            ok, name = _constant(key_node) if env is not None else (True, _key_of(operand))
            if ok and isinstance(name, str):
                keys.append(name)
        values = [v for ok, v in map(_constant, operands) if ok and isinstance(v, str)]
        for key in keys:
            for value in values:
                if _has_context(words(key)) and _has_mock(words(value)):
                    self.hit(node, "python-mock-switch", f"{key} compared with {value!r}: a mock mode exists")
                    self.generic_visit(node)
                    return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        env = _env_read(node)
        if env is not None:
            key_node, default_node = env
            ok, key = _constant(key_node)
            if ok and isinstance(key, str):
                assert key_node is not None
                self._skip.add(id(key_node))
                has_default, default = _constant(default_node)
                why = mock_setting(key, default) if has_default else None
                if why is not None:
                    self.hit(node, "python-env-default", f"environment default: {why} unless {key} is set")
                elif is_mock_name(key):
                    self.hit(node, "python-env-switch", f"reads {key}: the build can be switched to a mock at run time")
        for keyword in node.keywords:
            if keyword.arg is not None:
                self._setting(keyword.value, keyword.arg, keyword.value, f"keyword argument {keyword.arg}")
                if is_mock_name(keyword.arg):
                    self.hit(keyword.value, "python-name", f"keyword {keyword.arg} names a mock")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if id(node) in self._skip or not isinstance(node.value, str):
            return
        for index, text in enumerate(node.value.splitlines() or [""]):
            found = _line_hits(text)
            if found is not None:
                # The line inside a multi-line string, where the source shows it (no escapes before it).
                line = node.lineno + index
                if not (0 < line <= len(self.lines) and text.strip() and text.strip() in self.lines[line - 1]):
                    line = node.lineno
                self.hit(node, "python-string", f"string: {found[1]}", line=line)
                return


# Specific rules hide a generic "names a mock" hit on the same line.
_GENERIC_RULES = frozenset({"python-name", "python-string", "text-name"})


def _tidy(hits: list[MockHit]) -> list[MockHit]:
    specific = {(h.path, h.line) for h in hits if h.rule not in _GENERIC_RULES and h.line is not None}
    seen: set[tuple[Any, ...]] = set()
    out = []
    for h in hits:
        if h.rule in _GENERIC_RULES and (h.path, h.line) in specific:
            continue
        key = (h.path, h.line, h.offset, h.rule) if h.rule in _GENERIC_RULES else (h.path, h.line, h.offset, h.message)
        if key in seen:
            continue
        seen.add(key)
        out.append(h)
    return sorted(out, key=lambda h: (h.line or 0, h.offset or 0))


# ---------------------------------------------------------------------------------------
# Configuration files


_Pairs = list[tuple[str, Any, int | None]]


def _spend(budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"more than {MAX_CONFIG_NODES} values")


def _flatten(value: Any, path: tuple[str, ...], out: _Pairs, budget: list[int]) -> None:
    _spend(budget)
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, (*path, str(key)), out, budget)
    elif isinstance(value, list | tuple):
        for item in value:
            _flatten(item, path, out, budget)
    else:
        # The leaf key and its parent give the context: ``attestation: {mode: mock}``.
        out.append((".".join(path[-2:]), value, None))


def _flatten_yaml(node: Any, path: tuple[str, ...], out: _Pairs, budget: list[int]) -> None:
    """Walk composed YAML nodes: no tag is constructed (``!Ref`` parses), every value has its line."""
    import yaml

    _spend(budget)
    if isinstance(node, yaml.MappingNode):
        for key, item in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            _flatten_yaml(item, (*path, str(name)), out, budget)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _flatten_yaml(item, path, out, budget)
    elif isinstance(node, yaml.ScalarNode):
        out.append((".".join(path[-2:]), node.value, node.start_mark.line + 1))


def _parse_config(name: str, text: str) -> _Pairs | None:
    """(key path, value, line or None) of a structured configuration file, None for ``KEY=VALUE`` files.

    Raises ValueError when the file does not parse.
    """
    suffix = Path(name).suffix.lower()
    out: _Pairs = []
    budget = [MAX_CONFIG_NODES]
    data: Any
    if suffix in (".yaml", ".yml", ".json"):
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            # JSON is YAML too; composing (not loading) keeps the lines and constructs no tags.
            for document in yaml.compose_all(text, Loader=loader):
                _flatten_yaml(document, (), out, budget)
            return out
        except yaml.YAMLError as exc:
            if suffix != ".json":
                raise ValueError(str(exc).splitlines()[0] if str(exc) else "YAML error") from exc
        import json

        out = []
        data = json.loads(text)  # JSON that PyYAML's YAML 1.1 reader does not take: lines by search
    elif suffix == ".toml":
        import tomllib

        data = tomllib.loads(text)
    elif suffix in (".ini", ".cfg", ".conf", ".properties") and _looks_like_ini(text):
        import configparser

        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(text)
        except configparser.Error as exc:
            raise ValueError(str(exc).splitlines()[0]) from exc
        data = {section: dict(parser[section]) for section in parser.sections()}
    else:  # .env, .properties, .conf without sections: KEY=VALUE lines, read by the line rules
        return None
    _flatten(data, (), out, [MAX_CONFIG_NODES])
    return out


def _looks_like_ini(text: str) -> bool:
    return any(line.lstrip().startswith("[") for line in text.splitlines())


def _line_of(lines: list[str], key: str, value: object) -> int | None:
    """Best effort: the first line naming the leaf key (and the value, when it is a string)."""
    leaf = key.rsplit(".", 1)[-1]
    candidates = [i for i, line in enumerate(lines, 1) if leaf in line]
    if isinstance(value, str):
        with_value = [i for i in candidates if value in lines[i - 1]]
        candidates = with_value or candidates
    return candidates[0] if candidates else None


# ---------------------------------------------------------------------------------------
# Binaries


def _run_around(data: mmap.mmap | bytes, pos: int, *, nul: bool = False) -> tuple[int, int]:
    """The printable (or NUL-delimited) run holding ``pos``, at most 512 bytes either side."""
    tail, head = (_NUL_TAIL, _NUL_HEAD) if nul else (_PRINTABLE_TAIL, _PRINTABLE_HEAD)
    lo = max(0, pos - 512)
    before = tail.search(data[lo:pos])
    start = pos - (len(before.group()) if before else 0)
    after = head.match(data[pos : pos + 512])
    end = pos + (len(after.group()) if after else 0)
    return start, end


def _elf_string_tables(data: mmap.mmap) -> list[tuple[int, int, str]]:
    """(offset, size, section name) of the string tables ELF symbol tables link to."""
    if data[:4] != b"\x7fELF" or len(data) < 64:
        return []
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        return []
    end = "<" if ei_data == 1 else ">"
    if ei_class == 2:
        (shoff,) = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
        fmt = end + "IIQQQQIIQQ"
    else:
        (shoff,) = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)
        fmt = end + "IIIIIIIIII"
    if shentsize < struct.calcsize(fmt) or shoff <= 0 or shoff + shnum * shentsize > len(data):
        return []
    sections = [struct.unpack_from(fmt, data, shoff + i * shentsize) for i in range(shnum)]

    def name_of(index: int) -> str:
        if not 0 <= shstrndx < shnum:
            return "?"
        base, size = sections[shstrndx][4], sections[shstrndx][5]
        start = base + sections[index][0]
        if start >= min(len(data), base + size):
            return "?"
        stop = data.find(b"\x00", start, min(len(data), base + size))
        return data[start : stop if stop >= 0 else start].decode("ascii", "replace")

    tables = []
    for section in sections:
        sh_type, sh_link = section[1], section[6]
        if sh_type in (2, 11) and 0 <= sh_link < shnum:  # SHT_SYMTAB, SHT_DYNSYM
            offset, size = sections[sh_link][4], sections[sh_link][5]
            if offset + size <= len(data):
                tables.append((offset, size, name_of(sh_link)))
    return tables


def _scan_binary(
    path: str, data: mmap.mmap, patterns: Sequence[tuple[re.Pattern[str], re.Pattern[bytes]]]
) -> list[MockHit]:
    hits: list[MockHit] = []
    covered: list[tuple[int, int]] = []
    for offset, size, section in _elf_string_tables(data):
        covered.append((offset, offset + size))
        last = -1
        for match in _CANDIDATE.finditer(data, offset, offset + size):
            if match.start() < last:
                continue
            start, last = _run_around(data, match.start(), nul=True)
            name = data[start:last].decode("utf-8", "replace")
            if is_mock_name(name):
                why = f"{section}: {name} names a mock"
                hits.append(MockHit(path, "elf-symbol", why, _excerpt(name), offset=start))
    last = -1
    for match in _CANDIDATE.finditer(data):
        pos = match.start()
        if pos < last or any(lo <= pos < hi for lo, hi in covered):
            continue
        start, last = _run_around(data, pos)
        if last - start < 4:
            continue
        text = data[start:last].decode("ascii")
        found = _line_hits(text)
        if found is not None:
            hits.append(MockHit(path, "binary-string", found[1], _excerpt(text), offset=start))
    for text_pattern, bytes_pattern in patterns:
        for match in bytes_pattern.finditer(data):
            start, stop = _run_around(data, match.start())
            shown = data[start : max(stop, match.end())].decode("utf-8", "replace")
            why = f"matches {text_pattern.pattern!r}"
            hits.append(MockHit(path, "user-pattern", why, _excerpt(shown), offset=match.start()))
            if len(hits) > MAX_HITS_PER_FILE:
                break
    return sorted(hits, key=lambda h: h.offset or 0)


# ---------------------------------------------------------------------------------------
# Text


def _kind_of(path: Path, text: str) -> str:
    name = path.name.lower()
    if path.suffix.lower() in PYTHON_SUFFIXES or (text.startswith("#!") and "python" in text.split("\n", 1)[0]):
        return "python"
    if path.suffix.lower() in CONFIG_SUFFIXES or name == ".env" or name.startswith(".env."):
        return "config"
    return "text"


def _scan_text(
    path: Path, shown: str, text: str, patterns: Sequence[tuple[re.Pattern[str], re.Pattern[bytes]]]
) -> tuple[list[MockHit], list[ScanProblem]]:
    lines = text.splitlines()
    hits: list[MockHit] = []
    problems: list[ScanProblem] = []
    kind = _kind_of(path, text)
    parsed = structured = False
    if kind == "python":
        try:
            tree = ast.parse(text, filename=shown)
        except (SyntaxError, ValueError, RecursionError) as exc:
            problems.append(ScanProblem(shown, f"not valid Python ({exc.__class__.__name__}); scanned as text only"))
        else:
            visitor = _PythonScan(shown, lines)
            try:
                visitor.visit(tree)
            except RecursionError:
                problems.append(ScanProblem(shown, "Python nested too deeply to scan; scanned as text only"))
            else:
                hits += visitor.hits
                parsed = True
    elif kind == "config":
        try:
            pairs = _parse_config(path.name, text)
        except (ValueError, RecursionError) as exc:
            problems.append(ScanProblem(shown, f"configuration does not parse ({exc}); scanned line by line"))
        else:
            structured = pairs is not None
            for key, value, known_line in pairs or ():
                why = mock_setting(key, value)
                if why is not None:
                    line = known_line if known_line is not None else _line_of(lines, key, value)
                    excerpt = lines[line - 1] if line is not None else f"{key}: {value!r}"
                    hits.append(MockHit(shown, "config-setting", why, _excerpt(excerpt), line=line))
    if not (parsed or structured):
        # Other text line by line, and configuration that is KEY=VALUE lines or did not parse
        # (Python too when it did not parse). A structured file that parsed was judged value by
        # value above (a commented-out setting is not one).
        for number, source in enumerate(lines, 1):
            found = _line_hits(source, config=kind == "config")
            if found is not None:
                rule = "config-line" if kind == "config" and found[0] == "text-setting" else found[0]
                hits.append(MockHit(shown, rule, found[1], _excerpt(source), line=number))
    for text_pattern, _ in patterns:
        for number, source in enumerate(lines, 1):
            if text_pattern.search(source):
                why = f"matches {text_pattern.pattern!r}"
                hits.append(MockHit(shown, "user-pattern", why, _excerpt(source), line=number))
    hits = _tidy(hits)
    return hits, problems


# ---------------------------------------------------------------------------------------
# The walk


class _Scan:
    def __init__(self, roots: Sequence[Path], patterns: Sequence[str], excludes: Sequence[str]) -> None:
        self.patterns = compile_patterns(patterns)
        self.excludes = tuple(excludes)
        self.roots = [Path(os.path.realpath(r)) for r in roots]
        self.hits: list[MockHit] = []
        self.problems: list[ScanProblem] = []
        self.not_followed: list[ScanProblem] = []
        self.excluded: list[str] = []
        self.files = 0
        self.left_out = 0
        self.seen: set[tuple[int, int]] = set()  # (device, inode): overlapping paths and hard links once

    def inside_roots(self, target: str) -> bool:
        return any(target == str(root) or target.startswith(str(root).rstrip("/") + "/") for root in self.roots)

    def is_excluded(self, relative: str) -> bool:
        return any(fnmatch.fnmatchcase(relative, pattern) for pattern in self.excludes)

    def walk(self, root: Path) -> Iterator[Path]:
        """Regular files under ``root`` in name order; links and special files are recorded, never followed."""
        stack = [root]
        while stack:
            directory = stack.pop()
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                self.problems.append(ScanProblem(str(directory), f"directory cannot be listed: {exc.strerror}"))
                continue
            subdirectories = []
            for entry in entries:
                path = Path(entry.path)
                relative = path.relative_to(root).as_posix()
                if self.is_excluded(relative):
                    self.excluded.append(str(path))
                    continue
                try:
                    if entry.is_symlink():
                        self.link(path)
                    elif entry.is_dir(follow_symlinks=False):
                        subdirectories.append(path)
                    elif entry.is_file(follow_symlinks=False):
                        yield path
                    else:
                        self.not_followed.append(ScanProblem(str(path), "special file (device, FIFO or socket)"))
                except OSError as exc:
                    self.problems.append(ScanProblem(str(path), f"cannot be examined: {exc.strerror}"))
            stack.extend(reversed(subdirectories))

    def link(self, path: Path) -> None:
        target = os.path.realpath(path)
        if not os.path.exists(target):
            self.not_followed.append(ScanProblem(str(path), f"symbolic link to {os.readlink(path)} (dangling)"))
        elif self.inside_roots(target):
            pass  # its target is scanned where it lives, inside a root
        else:
            self.not_followed.append(
                ScanProblem(str(path), f"symbolic link to {target}, outside the scanned paths: not followed")
            )

    def run(self, paths: Sequence[Path]) -> MockScanReport:
        for given in paths:
            try:
                st = os.stat(given)  # a path named on the command line is followed
            except OSError as exc:
                self.problems.append(ScanProblem(str(given), f"cannot be examined: {exc.strerror}"))
                continue
            if stat.S_ISDIR(st.st_mode):
                for path in self.walk(given):
                    self.scan_file(path)
            elif stat.S_ISREG(st.st_mode):
                self.scan_file(given)
            else:
                self.problems.append(ScanProblem(str(given), "neither a regular file nor a directory"))
        return MockScanReport(
            hits=tuple(self.hits),
            problems=tuple(self.problems),
            not_followed=tuple(self.not_followed),
            excluded=tuple(self.excluded),
            files_scanned=self.files,
            hits_left_out=self.left_out,
        )

    def scan_file(self, path: Path) -> None:
        shown = str(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            self.problems.append(ScanProblem(shown, f"cannot be opened: {exc.strerror}"))
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self.not_followed.append(ScanProblem(shown, "not a regular file when opened"))
                return
            if (st.st_dev, st.st_ino) in self.seen:
                return
            self.seen.add((st.st_dev, st.st_ino))
            self.files += 1
            if st.st_size == 0:
                return
            with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as data:
                hits, problems = self.judge(path, shown, data, st.st_size)
        except (OSError, ValueError) as exc:
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.problems.append(ScanProblem(shown, f"cannot be read: {message}"))
            return
        finally:
            os.close(fd)
        if len(hits) > MAX_HITS_PER_FILE:
            self.left_out += len(hits) - MAX_HITS_PER_FILE
            hits = hits[:MAX_HITS_PER_FILE]
        self.hits += hits
        self.problems += problems

    def judge(self, path: Path, shown: str, data: mmap.mmap, size: int) -> tuple[list[MockHit], list[ScanProblem]]:
        head = data[:_SNIFF]
        text: str | None = None
        if b"\x00" not in head and size <= MAX_TEXT_SIZE:
            try:
                text = data[:].decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is not None:
            return _scan_text(path, shown, text, self.patterns)
        problems = []
        if size > MAX_TEXT_SIZE and _kind_of(path, "") in ("python", "config"):
            problems.append(ScanProblem(shown, f"larger than {MAX_TEXT_SIZE} bytes: scanned as a binary, not parsed"))
        return _scan_binary(shown, data, self.patterns), problems


def scan_for_mock(
    paths: Sequence[Path | str], *, patterns: Sequence[str] = (), excludes: Sequence[str] = ()
) -> MockScanReport:
    """Scan files and directories for mock-attestation code; see the module docstring.

    ``patterns`` are extra regular expressions (hits of rule ``user-pattern``);
    ``excludes`` are globs on the path relative to its root (``*`` also matches ``/``),
    every excluded path is listed in the report.
    """
    if not paths:
        raise UsageError("nothing to scan: give at least one path")
    return _Scan([Path(p) for p in paths], patterns, excludes).run([Path(p) for p in paths])
