"""The runner: the only place sealgate spawns processes, and only for a gate token.

:func:`run_sandboxed` takes the gate's :class:`~sealgate.tokens.VerifiedArtifact` and a
:class:`SandboxSpec` and runs it in a sandbox: by default bubblewrap with every namespace
unshared, uid 65534 with no capabilities, a seccomp deny-list, read-only system
directories, a private ``/tmp`` and ``/job``, no network unless the spec declares an
allow-list (then only through the egress proxy), shipped files passed as sealed memfds of
the verified bytes and declared host paths bound by descriptor, under rlimits, a wall clock
and output caps (../shared/notes/bwrap.md, ../shared/notes/seccomp.md; the
guarantees and their limits are in docs/sandbox.md). :func:`probe_sandbox` proves at start
that the sandbox holds on this host; production refuses to run without it.

Modules: ``_spec`` (values and validation), ``_fds`` (memfds, host path descriptors),
``_seccomp`` (the filter), ``_bwrap`` (the bwrap backend), ``_launch`` (spawn, limits,
supervision), ``_process`` (development backend), ``_container`` (engine detection),
``_probe`` (start-up probe), ``_egress`` (the egress proxy for network allow-lists),
``_relay`` (its in-sandbox relay, run from a memfd, never imported), ``_run`` (the entry point).
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from sealgate.runner._probe import ProbeCheck, ProbeResult, probe_cache_key, probe_sandbox
    from sealgate.runner._run import BACKENDS, run_sandboxed
    from sealgate.runner._spec import (
        HARD_CAPS,
        HostPath,
        KillReason,
        Limits,
        NetworkEvent,
        RunResult,
        SandboxSpec,
        artifact_files,
    )

__all__ = [
    "BACKENDS",
    "HARD_CAPS",
    "HostPath",
    "KillReason",
    "Limits",
    "NetworkEvent",
    "ProbeCheck",
    "ProbeResult",
    "RunResult",
    "SandboxSpec",
    "artifact_files",
    "probe_cache_key",
    "probe_sandbox",
    "run_sandboxed",
]

# Names are resolved on first use: the tool check needs only ``_spec``'s constants, and
# importing the probe and the bwrap backend on every ``sealgate verify`` cost ~15 ms.
_LAZY = {
    **dict.fromkeys(["ProbeCheck", "ProbeResult", "probe_cache_key", "probe_sandbox"], "sealgate.runner._probe"),
    **dict.fromkeys(["BACKENDS", "run_sandboxed"], "sealgate.runner._run"),
    **dict.fromkeys(
        ["HARD_CAPS", "HostPath", "KillReason", "Limits", "NetworkEvent", "RunResult", "SandboxSpec", "artifact_files"],
        "sealgate.runner._spec",
    ),
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sealgate.runner' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
