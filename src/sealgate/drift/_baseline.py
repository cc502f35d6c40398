"""The default baseline: the git commit of the newest active PROD entry in the verified registry view.

The view is the gate's (ARCHITECTURE.md, "The gate, step by step", step 1): TUF metadata
verified from the pinned root at one reference time, refused when expired or older than the
policy's ``max_staleness`` (the signed policy tightened by the local file, as the gate does).
The name index lists the versions; each candidate's status, stage and git commit are read
from the signed entry itself (``custom``), the authoritative place. No entry, no active
PROD version, or an entry without a commit is an error: drift never falls back to "nothing
to compare" (which would pass).
"""

from __future__ import annotations

import re
import time
from typing import Any

from sealgate.config import Home
from sealgate.drift._model import Baseline
from sealgate.errors import MalformedInputError, Reason, RegistryError
from sealgate.registry import layout

__all__ = ["registry_baseline"]


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    # The gate's ordering for "newest" (sealgate.gate._gate._version_key, used by @latest):
    # segments split at . + -, numbers numerically and above text (1.0 > 1.0rc).
    return tuple((1, int(part)) if part.isdigit() else (0, part) for part in re.split(r"[.+-]", version))


def registry_baseline(home: Home, kind: str, name: str, *, now: float | None = None) -> Baseline:
    """The baseline commit for ``kind`` ``name``: its newest active PROD entry's ``git_commit``."""
    from sealgate.policy import LocalPolicy, TrustPolicy, tighten
    from sealgate.registry.documents import IndexDocument
    from sealgate.registry.view import RegistryView

    reference = time.time() if now is None else now
    try:
        index_path = layout.index_path(kind, name)
    except MalformedInputError as exc:
        raise RegistryError(exc.message, reason=Reason.INVALID_ARGUMENT) from exc
    view = RegistryView.load(home.trust, reference)
    policy = TrustPolicy.from_json_bytes(view.read_target_bytes(layout.POLICY_TARGET))
    if home.local_policy.exists():
        policy = tighten(policy, LocalPolicy.from_json_bytes(home.local_policy.read_bytes()))
    view.check_staleness(policy.max_staleness, reference)
    try:
        index = IndexDocument.from_bytes(view.read_target_bytes(index_path))
    except RegistryError as exc:
        raise RegistryError(
            f"{kind} {name} is not in the registry (version {view.version}), so it has no PROD entry to "
            f"compare with: {exc.message}; give --since COMMIT to compare with a commit of your choice",
            reason=Reason.NOT_REGISTERED,
        ) from exc
    candidates: list[tuple[str, str, dict[str, Any]]] = []
    for line in index.versions:
        target = layout.target_path(kind, name, line.version)
        if line.target != target or line.status != "active":
            continue
        info = view.get_target(target)
        custom = info.custom if info is not None and isinstance(info.custom, dict) else {}
        if custom.get("status") == "active" and custom.get("stage") == "PROD":
            candidates.append((line.version, target, custom))
    if not candidates:
        raise RegistryError(
            f"{kind} {name} has no active PROD entry in the registry (version {view.version}), so there is no "
            "released baseline; give --since COMMIT to compare with a commit of your choice",
            reason=Reason.NOT_REGISTERED,
        )
    version, target, custom = max(candidates, key=lambda c: _version_key(c[0]))
    commit = custom.get("git_commit")
    if not isinstance(commit, str) or not commit:
        raise RegistryError(
            f"the newest active PROD entry {target} records no git commit, so drift has no baseline; "
            "register builds with their commit, or give --since COMMIT",
            reason=Reason.NOT_REGISTERED,
        )
    level = policy.level_for(kind, layout.namespace_of(kind, name), "PROD")
    entry = {"kind": kind, "name": name, "version": version, "target": target, "registry_version": view.version}
    return Baseline(commit=commit, source="registry", entry=entry, level=level)
