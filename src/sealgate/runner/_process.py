"""The ``process`` backend, for development only: rlimits, wall clock and output caps, no namespaces.

The command sees the host's whole filesystem and network with the runner's uid (or uid 65534
for a root caller). There is no mount namespace, so declared host paths are refused and
shipped files are written below a fresh work directory; an argv element equal to a shipped
file's sandbox path is replaced by the file's location there. ``run_sandboxed`` refuses this
backend when ``production`` is true, and refuses a network allow-list always (the host
network is never shared).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sealgate.errors import Reason, SandboxError
from sealgate.runner._fds import remove_tree
from sealgate.runner._launch import SANDBOX_HOST_UID, limits_prefix, run_process
from sealgate.runner._spec import RunResult, SandboxSpec

__all__ = ["run_process_backend"]


def _write_file(dest: Path, mode: int, data: bytes, owner: int | None) -> None:
    dest.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, owner, owner)
    finally:
        os.close(fd)


def run_process_backend(spec: SandboxSpec) -> RunResult:
    if spec.network_hosts:
        raise SandboxError(
            "the process backend shares the host's network and cannot confine a tool to its network allow-list; "
            "use bwrap",
            reason=Reason.NETWORK_NOT_ALLOWED,
        )
    if spec.host_paths:
        raise SandboxError(
            "the process backend has no mount namespace and cannot bind declared host paths; use bwrap",
            reason=Reason.INVALID_ARGUMENT,
        )
    workdir = Path(tempfile.mkdtemp(prefix="sealgate-job-"))
    try:
        owner = SANDBOX_HOST_UID if os.geteuid() == 0 else None
        if owner is not None:
            os.chown(workdir, owner, owner)
        root = workdir / "files"
        placed: dict[str, str] = {}
        for path, (mode, data) in spec.files.items():
            dest = root / path.lstrip("/")
            _write_file(dest, mode, data, owner)
            placed[path] = str(dest)
        argv = [placed.get(arg, arg) for arg in spec.argv]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), **spec.env}
        return run_process(
            [*limits_prefix(spec.limits), *argv],
            limits=spec.limits,
            pass_fds=(),
            env=env,
            cwd=str(workdir),
            close_after_spawn=(),
            info_fd=None,
            bwrap_status=False,
        )
    finally:
        remove_tree(workdir)
