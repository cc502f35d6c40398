"""What the MCP server lists: installed tools confirmed by the verified registry view, nothing else.

The tool store (``$SEALGATE_HOME/tools/NS/NAME/VERSION/``) only nominates candidates; a
candidate is listed when the gate's verified registry view has an entry for exactly that
name and version, with status ``active`` or ``deprecated``, whose sha256 equals the digest of
the installed directory as read now, and whose compiled manifest names the same tool. Per
tool name the newest such version is listed (active before deprecated). Everything that
is not listed is reported, with the reason, by the ``sealgate_list`` tool.

This module does not import the MCP SDK, so it is usable (and testable) on its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from sealgate._dataclass import dataclass
from sealgate.config import Home
from sealgate.digest import read_artifact
from sealgate.errors import MalformedInputError, RegistryError
from sealgate.gate import Gate
from sealgate.registry import layout
from sealgate.tools.manifest import HARD_CAPS, ToolManifest, manifest_from_artifact

__all__ = [
    "MAX_LISTED",
    "MCP_NAME_MAX",
    "Catalog",
    "ListedTool",
    "NotListed",
    "build_catalog",
    "input_schema",
    "mcp_tool_name",
    "store_fingerprint",
]

#: MCP tool names are at most 128 characters of ``[A-Za-z0-9_.-]`` (spec 2025-11-25).
MCP_NAME_MAX: Final = 128
#: At most this many tool versions are examined, and listed, per catalog.
MAX_LISTED: Final = 1024
_LISTABLE_STATUS: Final = ("active", "deprecated")


@dataclass(frozen=True, slots=True)
class ListedTool:
    """One tool as this server lists it: the exact registry entry and the schema of its inputs."""

    mcp_name: str
    name: str
    version: str
    target: str
    digest: str
    status: str
    stage: str
    registry_version: int
    description: str
    schema: Mapping[str, Any]
    path: Path

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def meta(self) -> dict[str, Any]:
        """The tool's ``_meta`` in ``tools/list``: what was verified, so a client can pin it."""
        return {
            "sealgate": {
                "tool": self.ref,
                "target": self.target,
                "digest": {"sha256": self.digest},
                "registry_version": self.registry_version,
                "status": self.status,
                "stage": self.stage,
            }
        }

    def to_json(self) -> dict[str, Any]:
        return {"name": self.mcp_name, **self.meta()["sealgate"]}


@dataclass(frozen=True, slots=True)
class NotListed:
    """An installed tool version that is not listed, and why (``sealgate_list`` shows these)."""

    tool: str
    why: str

    def to_json(self) -> dict[str, str]:
        return {"tool": self.tool, "why": self.why}


@dataclass(frozen=True, slots=True)
class Catalog:
    """A listing: MCP name -> tool, what was left out, and the view's problem if it was unusable."""

    tools: Mapping[str, ListedTool]
    not_listed: tuple[NotListed, ...]
    error: str | None = None

    def key(self) -> frozenset[tuple[str, str, int]]:
        """What a session was promised by this listing: name, digest and registry version of each tool."""
        return frozenset((t.mcp_name, t.digest, t.registry_version) for t in self.tools.values())


def mcp_tool_name(name: str) -> str:
    """``acme/hello`` -> ``acme.hello``: the namespace and the name joined by a dot."""
    namespace, short = name.split("/", 1)
    return f"{namespace}.{short}"


def input_schema(manifest: ToolManifest) -> dict[str, Any]:
    """The manifest's inputs as a closed JSON Schema object (``additionalProperties: false``).

    A manifest ``pattern`` must match the whole value (the gate uses ``re.fullmatch``); JSON
    Schema patterns match anywhere, so the published pattern is anchored.
    """
    properties: dict[str, Any] = {}
    for key, prop in manifest.inputs.items():
        out = dict(prop)
        if "pattern" in out:
            out["pattern"] = f"^(?:{out['pattern']})$"
        properties[key] = out
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(manifest.required_inputs),
        "additionalProperties": False,
    }


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    # The gate's order for "newest" (Gate.resolve_version): numbers numerically, above text.
    return tuple((1, int(part)) if part.isdigit() else (0, part) for part in re.split(r"[.+-]", version))


def _subdirs(path: Path) -> list[str]:
    """Directory names under ``path`` (no symlinks, no hidden or staging directories)."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return []
    return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))


def _candidates(home: Home) -> list[tuple[str, str, Path]]:
    found: list[tuple[str, str, Path]] = []
    for namespace in _subdirs(home.tools):
        for short in _subdirs(home.tools / namespace):
            for version in _subdirs(home.tools / namespace / short):
                found.append((f"{namespace}/{short}", version, home.tools / namespace / short / version))
                if len(found) >= MAX_LISTED:
                    return found
    return found


def store_fingerprint(home: Home) -> tuple[object, ...]:
    """A cheap stamp of the registry generation and the store's directories, polled for changes.

    Installing (or replacing) a version renames a directory into ``tools/NS/NAME/``, which
    changes that directory's inode data; a registry refresh moves ``trust/.current`` and
    replaces the timestamp metadata. Edits inside an installed directory do not show here:
    they are caught on every call (the digest is compared again) and by the periodic rebuild.
    """

    def stamp(path: Path) -> tuple[int, int, int] | None:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    try:
        generation: str | None = os.readlink(home.trust / ".current")
    except OSError:
        generation = None
    parts: list[object] = [generation, stamp(home.trust / "metadata" / "timestamp.json"), stamp(home.tools)]
    for namespace in _subdirs(home.tools):
        parts.append((namespace, stamp(home.tools / namespace)))
        for short in _subdirs(home.tools / namespace):
            parts.append((namespace, short, stamp(home.tools / namespace / short)))
    return tuple(parts)


def build_catalog(gate: Gate) -> Catalog:
    """List what may be offered now, from the gate's verified registry view (see the module docstring).

    When the view cannot be used (expired, stale, missing), nothing is listed and ``error``
    says why. Reading each candidate is bounded by the artifact cap. A refresh landing in
    the middle of a listing would mix two registry versions in it: then it is built again.
    """
    for _ in range(3):
        catalog = _build_once(gate)
        if len({t.registry_version for t in catalog.tools.values()}) <= 1:
            break
    return catalog


def _build_once(gate: Gate) -> Catalog:
    usable: dict[str, list[ListedTool]] = {}
    not_listed: list[NotListed] = []
    candidates = _candidates(gate.home)
    if not candidates:
        # Nothing installed: still say whether the view itself is usable (sealgate_list shows it).
        try:
            gate.registry_entry("tool", "sealgate/none", "0")
        except RegistryError as exc:
            return Catalog({}, (), f"{exc.reason.value}: {exc.message}")
    for name, version, path in candidates:
        ref = f"{name}@{version}"
        try:
            target = layout.target_path("tool", name, version)
        except MalformedInputError as exc:
            not_listed.append(NotListed(ref, exc.message))
            continue
        try:
            entry = gate.registry_entry("tool", name, version)
        except RegistryError as exc:
            return Catalog({}, (), f"{exc.reason.value}: {exc.message}")
        if entry is None:
            not_listed.append(NotListed(ref, f"{target} is not in the registry"))
            continue
        status = entry.get("status")
        if status not in _LISTABLE_STATUS:
            not_listed.append(NotListed(ref, f"{target} is {status}"))
            continue
        try:
            artifact = read_artifact(path, max_size=HARD_CAPS["artifact_bytes"])
            manifest = manifest_from_artifact(artifact)
        except (MalformedInputError, OSError) as exc:
            not_listed.append(NotListed(ref, f"the installed copy cannot be read as a tool: {exc}"))
            continue
        if artifact.digest != entry.get("digest"):
            not_listed.append(
                NotListed(
                    ref, "the installed copy is not the registered bytes (its digest differs from the registry's)"
                )
            )
            continue
        if (manifest.name, manifest.version) != (name, version):
            not_listed.append(NotListed(ref, f"the installed manifest names {manifest.name}@{manifest.version}"))
            continue
        mcp_name = mcp_tool_name(name)
        usable.setdefault(mcp_name, []).append(
            ListedTool(
                mcp_name=mcp_name,
                name=name,
                version=version,
                target=target,
                digest=artifact.digest,
                status=str(status),
                stage=str(entry.get("stage")),
                registry_version=int(entry["registry_version"]),
                description=manifest.description,
                schema=input_schema(manifest),
                path=path,
            )
        )

    tools: dict[str, ListedTool] = {}
    for mcp_name, versions in sorted(usable.items()):
        names = sorted({t.name for t in versions})
        if len(names) > 1:
            # ``a.b/c`` and ``a/b.c`` would share one MCP name: list neither, never guess.
            for tool in versions:
                not_listed.append(NotListed(tool.ref, f"its MCP name {mcp_name} is shared by {', '.join(names)}"))
            continue
        if len(mcp_name) > MCP_NAME_MAX:
            for tool in versions:
                not_listed.append(NotListed(tool.ref, f"its MCP name is longer than {MCP_NAME_MAX} characters"))
            continue
        best = max(versions, key=lambda t: (t.status == "active", _version_key(t.version)))
        tools[mcp_name] = best
        for tool in versions:
            if tool is not best:
                not_listed.append(NotListed(tool.ref, f"a newer version is listed ({best.version})"))
    return Catalog(tools, tuple(sorted(not_listed, key=lambda n: n.tool)))
