"""``run_sandboxed``: the one entry point that executes anything, and only for a gate token."""

from __future__ import annotations

from typing import Final

from sealgate.errors import Reason, SandboxError
from sealgate.runner._bwrap import run_bwrap
from sealgate.runner._container import ENGINES, refuse_container
from sealgate.runner._probe import probe_sandbox
from sealgate.runner._process import run_process_backend
from sealgate.runner._spec import RunResult, SandboxSpec
from sealgate.tokens import _CAPABILITY, VerifiedArtifact

__all__ = ["BACKENDS", "run_sandboxed"]

BACKENDS: Final = ("bwrap", "process", *ENGINES)
_PROCESS_NETWORK: Final = (
    "the process backend shares the host's network and cannot confine a tool to its network allow-list; use bwrap"
)


def run_sandboxed(token: VerifiedArtifact, spec: SandboxSpec, *, backend: str = "bwrap", production: bool) -> RunResult:
    """Run ``spec`` for the artifact the gate verified, in the sandbox ``backend``.

    ``token`` must be the gate's :class:`~sealgate.tokens.VerifiedArtifact` (anything else is a
    ``TypeError``: there is no path from a file on disk to execution that skips the gate).
    ``production`` has no default; it comes from the signed policy's ``environment``. In
    production the bwrap start-up probe must pass (cached per bwrap binary and boot) and the
    ``process`` backend is refused. A spec with a network allow-list runs only under bwrap,
    with the egress proxy (docs/sandbox.md "Network"): if the proxy cannot start, the run is
    refused (``sandbox-unavailable``); the ``process`` backend refuses it always
    (``network-not-allowed``). Anything the sandbox cannot do raises
    :class:`~sealgate.errors.SandboxError`; a tool that fails, times out or is killed is a
    :class:`RunResult`, not an error.
    """
    if not isinstance(token, VerifiedArtifact) or getattr(token, "capability", None) is not _CAPABILITY:
        # The second test catches an instance made without the gate (``object.__new__``); code in
        # this process could still forge one deliberately: the token is a type discipline, not a
        # security boundary against code running inside the gate's own process.
        raise TypeError(f"run_sandboxed needs a VerifiedArtifact from the gate, not {type(token).__name__}")
    if not isinstance(spec, SandboxSpec):
        raise TypeError(f"run_sandboxed needs a SandboxSpec, not {type(spec).__name__}")
    if type(production) is not bool:
        raise TypeError("production must be True or False")
    if backend == "bwrap":
        if production:
            probe_sandbox(production=True)
        return run_bwrap(spec)
    if backend == "process":
        if spec.network_hosts:
            raise SandboxError(_PROCESS_NETWORK, reason=Reason.NETWORK_NOT_ALLOWED)
        if production:
            raise SandboxError(
                "the process backend has no namespaces and no seccomp filter; it is refused in production",
                reason=Reason.SANDBOX_UNAVAILABLE,
            )
        return run_process_backend(spec)
    if backend in ENGINES:
        refuse_container(backend)
    raise SandboxError(
        f"unknown sandbox backend {backend!r}; expected one of {', '.join(BACKENDS)}", reason=Reason.INVALID_ARGUMENT
    )
