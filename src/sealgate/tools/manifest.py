"""Tool manifests: authored as YAML, compiled at signing time to canonical JSON (RFC 8785).

A tool is a directory holding ``sealgate-tool.yaml`` (what people write), the compiled
``sealgate-tool.json`` (what the digest covers and the gate reads) and the files it ships.
:func:`compile_tool_dir` writes the compiled form; :meth:`ToolManifest.from_json_bytes` parses
it on the gate's hot path with hand-written, strict validation (no YAML parser, no JSON
Schema library there). docs/tools.md documents every field.

Inputs are described with a small, closed subset of JSON Schema (an object of string,
integer, boolean and enum properties with bounds), so that the hot path can validate
arguments completely with :func:`validate_inputs`; inputs reach the command only as whole
argv elements (``"{input:NAME}"``), never spliced into a larger string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from sealgate._dataclass import dataclass
from sealgate._fs import atomic_write
from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.digest import Artifact, digest_bytes, read_artifact
from sealgate.errors import MalformedInputError
from sealgate.registry.layout import validate_component
from sealgate.runner._spec import MIN_NETWORK_MEMORY_MIB

__all__ = [
    "COMPILED_NAME",
    "HARD_CAPS",
    "MANIFEST_TYPE",
    "SOURCE_NAME",
    "EnvVar",
    "Filesystem",
    "Network",
    "ToolManifest",
    "ToolResources",
    "compile_manifest_yaml",
    "compile_tool_dir",
    "manifest_from_artifact",
    "validate_inputs",
]

MANIFEST_TYPE: Final = "sealgate/tool-manifest/v1"
SOURCE_NAME: Final = "sealgate-tool.yaml"
COMPILED_NAME: Final = "sealgate-tool.json"
SANDBOX_TOOL_DIR: Final = "/tool"
MAX_MANIFEST_BYTES: Final = 256 * 1024
MAX_STRING_INPUT: Final = 65536
DEFAULT_STRING_INPUT: Final = 4096

# Defaults and hard caps (issue 3): a manifest may lower them, the policy may lower them
# further, nothing raises them.
HARD_CAPS: Final[Mapping[str, int]] = {
    "wall_seconds": 30,
    "cpu_seconds": 30,
    "memory_mib": 512,
    "processes": 64,
    "output_bytes": 1 << 20,
    "artifact_bytes": 64 << 20,
}

_TOP_FIELDS: Final = frozenset(
    {"_type", "name", "version", "description", "command", "shell", "inputs", "env", "files", "image",
     "resources", "network", "filesystem"}
)  # fmt: skip
_REQUIRED: Final = frozenset({"_type", "name", "version", "description", "command"})
_INPUT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_PLACEHOLDER = re.compile(r"\{input:([a-z][a-z0-9_]{0,63})\}")
_HOST = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_IMAGE = re.compile(r"[a-z0-9][a-z0-9._/:-]{0,254}@sha256:[0-9a-f]{64}")
_PROPERTY_FIELDS: Final = frozenset(
    {"type", "description", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "default"}
)


def _bad(field_path: str, problem: str) -> MalformedInputError:
    return MalformedInputError(f"tool manifest field {field_path}: {problem}")


def _str(value: object, field_path: str, *, max_len: int = 4096, allow_empty: bool = False) -> str:
    if type(value) is not str or (not value and not allow_empty) or len(value) > max_len:
        raise _bad(field_path, f"must be a{'' if allow_empty else ' non-empty'} string of at most {max_len} characters")
    if "\x00" in value:
        raise _bad(field_path, "must not contain NUL")
    return value


def _str_list(value: object, field_path: str, *, max_items: int = 256) -> tuple[str, ...]:
    if type(value) is not list or len(value) > max_items:
        raise _bad(field_path, f"must be a list of at most {max_items} strings")
    items = tuple(_str(v, f"{field_path}[{i}]") for i, v in enumerate(value))
    if len(set(items)) != len(items):
        raise _bad(field_path, "must not repeat an entry")
    return items


def _int(value: object, field_path: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _bad(field_path, f"must be an integer from {low} to {high}")
    return value


def _only(doc: Mapping[str, Any], allowed: frozenset[str], field_path: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise _bad(field_path, f"unknown field(s) {', '.join(unknown)}")


@dataclass(frozen=True, slots=True)
class EnvVar:
    """A declared variable: passed from the caller's environment variable ``source`` at run time."""

    name: str
    source: str
    secret: bool


@dataclass(frozen=True, slots=True)
class Network:
    """``none``, or an allow-list of host names enforced by the egress proxy."""

    allow: tuple[str, ...] = ()

    @property
    def none(self) -> bool:
        return not self.allow


@dataclass(frozen=True, slots=True)
class Filesystem:
    """Host paths the tool may read or write, bound into the sandbox by descriptor."""

    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolResources:
    wall_seconds: int
    cpu_seconds: int
    memory_mib: int
    processes: int
    output_bytes: int

    def capped(self, **policy_caps: int) -> ToolResources:
        """The limits after the policy's own caps (the minimum of both, field by field)."""
        return ToolResources(**{n: min(getattr(self, n), policy_caps.get(n, getattr(self, n))) for n in _RESOURCES})


_RESOURCES: Final = ("wall_seconds", "cpu_seconds", "memory_mib", "processes", "output_bytes")


@dataclass(frozen=True, slots=True)
class ToolManifest:
    """A validated, compiled manifest. ``digest`` is the SHA-256 of its exact compiled bytes."""

    name: str
    version: str
    description: str
    command: tuple[str, ...] | str
    shell: bool
    inputs: Mapping[str, Mapping[str, Any]]
    required_inputs: frozenset[str]
    env: tuple[EnvVar, ...]
    files: tuple[str, ...]
    image: str | None
    resources: ToolResources
    network: Network
    filesystem: Filesystem
    digest: str

    @classmethod
    def from_json_bytes(cls, data: bytes) -> ToolManifest:
        """Parse and validate the compiled manifest; raise :class:`MalformedInputError` naming the field."""
        doc = loads_strict(data, what="compiled tool manifest", max_size=MAX_MANIFEST_BYTES)
        manifest = _validate(doc)
        if canonical_bytes(doc) != data:
            raise MalformedInputError("the compiled tool manifest is not in canonical JSON form; recompile it")
        return _with_digest(manifest, digest_bytes(data))

    def render_argv(self, values: Mapping[str, object]) -> list[str]:
        """The argv with ``{input:NAME}`` elements replaced whole and ``{tool}/`` prefixes mapped.

        ``values`` must come from :func:`validate_inputs`. An absent optional input drops its
        element; nothing is ever spliced into a larger string.
        """
        if self.shell:
            raise MalformedInputError("a shell manifest has no argv; its command string is passed to the shell")
        argv: list[str] = []
        for element in self.command:
            match = _PLACEHOLDER.fullmatch(element)
            if match is not None:
                value = values.get(match.group(1))
                if value is None:
                    continue
                argv.append(_render(value))
            elif element.startswith("{tool}/"):
                argv.append(SANDBOX_TOOL_DIR + element[len("{tool}") :])
            else:
                argv.append(element)
        return argv


def _with_digest(manifest: ToolManifest, digest: str) -> ToolManifest:
    fields = {name: getattr(manifest, name) for name in ToolManifest.__dataclass_fields__}
    fields["digest"] = digest
    return ToolManifest(**fields)


def _render(value: object) -> str:
    if type(value) is bool:
        return "true" if value else "false"
    return str(value)


def _validate_property(name: str, prop: object) -> dict[str, Any]:
    where = f"inputs.properties.{name}"
    if type(prop) is not dict:
        raise _bad(where, "must be an object")
    _only(prop, _PROPERTY_FIELDS, where)
    kind = prop.get("type")
    if kind not in ("string", "integer", "boolean"):
        raise _bad(f"{where}.type", "must be string, integer or boolean (other JSON Schema types are not supported)")
    out: dict[str, Any] = {"type": kind}
    if "description" in prop:
        out["description"] = _str(prop["description"], f"{where}.description", allow_empty=True)
    if kind == "string":
        out["maxLength"] = _int(prop.get("maxLength", DEFAULT_STRING_INPUT), f"{where}.maxLength", 0, MAX_STRING_INPUT)
        out["minLength"] = _int(prop.get("minLength", 0), f"{where}.minLength", 0, out["maxLength"])
        if "pattern" in prop:
            pattern = _str(prop["pattern"], f"{where}.pattern", max_len=512)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise _bad(f"{where}.pattern", f"is not a valid regular expression: {exc}") from exc
            out["pattern"] = pattern
    elif kind == "integer":
        for bound in ("minimum", "maximum"):
            if bound in prop:
                out[bound] = _int(prop[bound], f"{where}.{bound}", -(2**53) + 1, 2**53 - 1)
    elif "minimum" in prop or "maximum" in prop or "pattern" in prop:
        raise _bad(where, "a boolean takes no bounds or pattern")
    if "enum" in prop:
        enum = prop["enum"]
        if type(enum) is not list or not enum or len(enum) > 256:
            raise _bad(f"{where}.enum", "must be a non-empty list of at most 256 values")
        checked = [_check_value(v, out, f"{where}.enum[{i}]") for i, v in enumerate(enum)]
        out["enum"] = checked
    if "default" in prop:
        raise _bad(f"{where}.default", "defaults are not supported: the caller passes every value explicitly")
    return out


def _check_value(value: object, prop: Mapping[str, Any], where: str) -> object:
    kind = prop["type"]
    if kind == "string":
        if type(value) is not str:
            raise _bad(where, "must be a string")
        if not prop["minLength"] <= len(value) <= prop["maxLength"]:
            raise _bad(where, f"must be {prop['minLength']} to {prop['maxLength']} characters long")
        if "\x00" in value:
            raise _bad(where, "must not contain NUL")
        if "pattern" in prop and re.fullmatch(prop["pattern"], value) is None:
            raise _bad(where, f"does not match the pattern {prop['pattern']!r}")
    elif kind == "integer":
        if type(value) is not int:
            raise _bad(where, "must be an integer")
        if not prop.get("minimum", value) <= value <= prop.get("maximum", value):
            raise _bad(where, "is out of range")
    elif type(value) is not bool:
        raise _bad(where, "must be true or false")
    if "enum" in prop and value not in prop["enum"]:
        raise _bad(where, "is not one of the allowed values")
    return value


def validate_inputs(manifest: ToolManifest, values: Mapping[str, object]) -> dict[str, object]:
    """Check ``values`` against the manifest's input schema: unknown, missing or ill-typed = refused."""
    if not isinstance(values, Mapping):
        raise MalformedInputError("tool inputs must be an object")
    unknown = sorted(set(values) - set(manifest.inputs))
    if unknown:
        raise MalformedInputError(f"unknown input(s) {', '.join(map(repr, unknown))} for {manifest.name}")
    missing = sorted(manifest.required_inputs - set(values))
    if missing:
        raise MalformedInputError(f"missing required input(s) {', '.join(missing)} for {manifest.name}")
    return {k: _check_value(v, manifest.inputs[k], f"input {k}") for k, v in values.items()}


def _validate(doc: object) -> ToolManifest:
    if type(doc) is not dict:
        raise MalformedInputError("a tool manifest must be a JSON/YAML object")
    _only(doc, _TOP_FIELDS, "(top level)")
    missing = sorted(_REQUIRED - set(doc))
    if missing:
        raise _bad(", ".join(missing), "is required")
    if doc["_type"] != MANIFEST_TYPE:
        raise _bad("_type", f"must be {MANIFEST_TYPE!r}")
    name = _str(doc["name"], "name", max_len=129)
    parts = name.split("/")
    if len(parts) != 2:
        raise _bad("name", "must be NAMESPACE/NAME")
    validate_component(parts[0], "namespace")
    validate_component(parts[1], "name")
    version = validate_component(_str(doc["version"], "version", max_len=64), "version", version=True)
    description = _str(doc["description"], "description", allow_empty=True)

    shell = doc.get("shell", False)
    if type(shell) is not bool:
        raise _bad("shell", "must be true or false")
    inputs, required = _validate_inputs_schema(doc.get("inputs", {"type": "object", "properties": {}}))
    command: tuple[str, ...] | str
    if shell:
        command = _str(doc["command"], "command", max_len=16384)
        if _PLACEHOLDER.search(command) is not None:
            raise _bad("command", "a shell command cannot take {input:…} placeholders; pass inputs as env instead")
    else:
        command = _str_list_any(doc["command"], "command")
        if not command:
            raise _bad("command", "must name a program")
        for i, element in enumerate(command):
            match = _PLACEHOLDER.fullmatch(element)
            if match is not None:
                if match.group(1) not in inputs:
                    raise _bad(f"command[{i}]", f"uses undeclared input {match.group(1)!r}")
            elif "{input:" in element or ("{tool}" in element and not element.startswith("{tool}/")):
                raise _bad(f"command[{i}]", "placeholders must be a whole element ({input:NAME}) or a {tool}/ prefix")
        if _PLACEHOLDER.fullmatch(command[0]) is not None:
            raise _bad("command[0]", "the program must be a literal, never an input")

    env = _validate_env(doc.get("env", []))
    files = _validate_files(doc.get("files", []))
    image = doc.get("image")
    if image is not None and (type(image) is not str or _IMAGE.fullmatch(image) is None):
        raise _bad("image", "must be REF@sha256:<64 hex> (pinned by digest)")
    resources = _validate_resources(doc.get("resources", {}))
    network = _validate_network(doc.get("network", "none"))
    if not network.none and resources.memory_mib < MIN_NETWORK_MEMORY_MIB:
        raise _bad(
            "resources.memory_mib",
            f"a tool with a network allow-list needs at least {MIN_NETWORK_MEMORY_MIB} MiB (the sandbox's egress relay "
            "runs under the same limit)",
        )
    filesystem = _validate_filesystem(doc.get("filesystem", {}))
    return ToolManifest(
        name, version, description, command, shell, inputs, required, env, files, image, resources, network,
        filesystem, "",
    )  # fmt: skip


def _str_list_any(value: object, field_path: str) -> tuple[str, ...]:
    if type(value) is not list or len(value) > 256:
        raise _bad(field_path, "must be a list of at most 256 strings (argv), or a string with shell: true")
    return tuple(_str(v, f"{field_path}[{i}]", allow_empty=True) for i, v in enumerate(value))


def _validate_inputs_schema(schema: object) -> tuple[dict[str, dict[str, Any]], frozenset[str]]:
    if type(schema) is not dict:
        raise _bad("inputs", "must be a JSON Schema object")
    _only(schema, frozenset({"type", "properties", "required", "additionalProperties", "description"}), "inputs")
    if schema.get("type") != "object":
        raise _bad("inputs.type", "must be object")
    if schema.get("additionalProperties", False) is not False:
        raise _bad("inputs.additionalProperties", "must be false: every input is declared")
    properties = schema.get("properties", {})
    if type(properties) is not dict or len(properties) > 64:
        raise _bad("inputs.properties", "must be an object of at most 64 inputs")
    out: dict[str, dict[str, Any]] = {}
    for name, prop in properties.items():
        if _INPUT_NAME.fullmatch(name) is None:
            raise _bad(f"inputs.properties.{name}", "input names are lowercase letters, digits and _")
        out[name] = _validate_property(name, prop)
    required = schema.get("required", [])
    if type(required) is not list or any(r not in out for r in required):
        raise _bad("inputs.required", "must list declared inputs only")
    return out, frozenset(required)


def _validate_env(value: object) -> tuple[EnvVar, ...]:
    if type(value) is not list or len(value) > 64:
        raise _bad("env", "must be a list of at most 64 variables")
    out: list[EnvVar] = []
    for i, entry in enumerate(value):
        where = f"env[{i}]"
        if type(entry) is str:
            entry = {"name": entry}
        if type(entry) is not dict:
            raise _bad(where, "must be a name or {name, from, secret}")
        _only(entry, frozenset({"name", "from", "secret"}), where)
        name = _str(entry.get("name"), f"{where}.name", max_len=128)
        source = _str(entry.get("from", name), f"{where}.from", max_len=128)
        for what, text in (("name", name), ("from", source)):
            if _ENV_NAME.fullmatch(text) is None:
                raise _bad(f"{where}.{what}", "must be an upper-case environment variable name")
        secret = entry.get("secret", False)
        if type(secret) is not bool:
            raise _bad(f"{where}.secret", "must be true or false")
        out.append(EnvVar(name, source, secret))
    if len({e.name for e in out}) != len(out):
        raise _bad("env", "must not declare a variable twice")
    return tuple(out)


def _relative(path: str, where: str) -> str:
    if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in path.split("/")):
        raise _bad(where, f"{path!r} must be a relative path inside the tool, without . or .. segments")
    return path


def _validate_files(value: object) -> tuple[str, ...]:
    files = _str_list(value, "files", max_items=1024)
    for i, path in enumerate(files):
        _relative(path, f"files[{i}]")
        if path in (SOURCE_NAME, COMPILED_NAME):
            raise _bad(f"files[{i}]", "the manifest itself is not a shipped file")
    return files


def _validate_resources(value: object) -> ToolResources:
    if type(value) is not dict:
        raise _bad("resources", "must be an object")
    _only(value, frozenset(_RESOURCES), "resources")
    return ToolResources(**{n: _int(value.get(n, HARD_CAPS[n]), f"resources.{n}", 1, HARD_CAPS[n]) for n in _RESOURCES})


def _validate_network(value: object) -> Network:
    if value == "none":
        return Network()
    if type(value) is not dict:
        raise _bad("network", 'must be "none" or {allow: [host, ...]}')
    _only(value, frozenset({"allow"}), "network")
    hosts = _str_list(value.get("allow"), "network.allow", max_items=64)
    for i, host in enumerate(hosts):
        if _HOST.fullmatch(host) is None:
            raise _bad(f"network.allow[{i}]", f"{host!r} is not a lower-case host name")
        if host.rsplit(".", 1)[-1].isdigit() or host.rsplit(".", 1)[-1].startswith("0x"):
            # The egress proxy allows names only: an address (or what the resolver would read as
            # one, such as 10.1) could never be vetted by its answers.
            raise _bad(f"network.allow[{i}]", f"{host!r} is an address; allow-list host names only")
    if not hosts:
        raise _bad("network.allow", 'must name at least one host (or use network: "none")')
    return Network(hosts)


def _validate_filesystem(value: object) -> Filesystem:
    if type(value) is not dict:
        raise _bad("filesystem", "must be an object with read and write lists")
    _only(value, frozenset({"read", "write"}), "filesystem")
    lists: dict[str, tuple[str, ...]] = {}
    for mode in ("read", "write"):
        paths = _str_list(value.get(mode, []), f"filesystem.{mode}", max_items=64)
        for i, path in enumerate(paths):
            if not path.startswith("/") or any(p in (".", "..") for p in path.split("/")) or "//" in path:
                raise _bad(f"filesystem.{mode}[{i}]", f"{path!r} must be an absolute, normalised host path")
        lists[mode] = paths
    return Filesystem(lists["read"], lists["write"])


def compile_manifest_yaml(text: bytes) -> bytes:
    """Validate the authored YAML and return the canonical JSON the digest will cover."""
    import yaml  # authoring time only; never on the gate's path

    if len(text) > MAX_MANIFEST_BYTES:
        raise MalformedInputError(f"tool manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise MalformedInputError(f"tool manifest is not valid YAML{where}: {exc}") from exc
    if isinstance(doc, dict):
        doc.setdefault("_type", MANIFEST_TYPE)
    _validate(doc)
    return canonical_bytes(doc)


def compile_tool_dir(path: Path) -> ToolManifest:
    """Compile ``path/sealgate-tool.yaml`` into ``path/sealgate-tool.json`` (atomically) and check the files.

    Every shipped file must be listed, exist as a regular file (no links) and fit the
    artifact cap; anything else in the directory is refused, so what is signed is exactly
    what is shipped.
    """
    source = path / SOURCE_NAME
    try:
        text = source.read_bytes()
    except OSError as exc:
        raise MalformedInputError(f"{source} cannot be read: {exc.strerror}") from exc
    compiled = compile_manifest_yaml(text)
    manifest = ToolManifest.from_json_bytes(compiled)
    # Check the directory before writing anything: a refused compile leaves it as it was.
    _check_files(manifest, read_artifact(path, max_size=HARD_CAPS["artifact_bytes"]))
    atomic_write(path / COMPILED_NAME, compiled, mode=0o644)
    return manifest


def manifest_from_artifact(artifact: Artifact) -> ToolManifest:
    """The manifest inside a verified tool artifact (a directory), checked against its files."""
    if not artifact.is_directory:
        raise MalformedInputError(f"a tool is a directory holding {COMPILED_NAME}, not a single file")
    entry = artifact.files.get(COMPILED_NAME)
    if entry is None:
        raise MalformedInputError(f"the tool has no {COMPILED_NAME}; run `sealgate tool compile` (or sign) first")
    manifest = ToolManifest.from_json_bytes(entry[1])
    _check_files(manifest, artifact)
    return manifest


def _check_files(manifest: ToolManifest, artifact: Artifact) -> None:
    present = set(artifact.files) - {COMPILED_NAME, SOURCE_NAME}
    listed = set(manifest.files)
    if listed - present:
        raise MalformedInputError(f"the manifest lists missing file(s): {', '.join(sorted(listed - present))}")
    if present - listed:
        raise MalformedInputError(
            f"the tool holds unlisted file(s): {', '.join(sorted(present - listed))}; list them under files"
        )
