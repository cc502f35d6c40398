"""The container backend (docker or podman, by image digest): engine detection and refusal.

Issue 3 allows a container backend "only where an engine answers". Detection asks the
engine itself (``<engine> info``, at most 2 s). No engine runs on the machines this was
built on (the docker client is installed, its daemon is not), so running a container has
not been implemented or tested: when an engine does answer, the run is still refused, with
a sentence saying so, rather than pretending (docs/sandbox.md "Not covered").
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Final

from sealgate.errors import Reason, SandboxError

__all__ = ["ENGINES", "ENGINE_TIMEOUT_S", "engine_version", "refuse_container"]

ENGINES: Final = ("docker", "podman")
ENGINE_TIMEOUT_S: Final = 2.0


def engine_version(engine: str) -> str:
    """The server version of a container engine that answers within 2 s, or SandboxError."""
    if engine not in ENGINES:
        raise SandboxError(f"unknown container engine {engine!r}", reason=Reason.INVALID_ARGUMENT)
    exe = shutil.which(engine)
    if exe is None:
        raise SandboxError(f"container backend: no {engine} client is installed")
    try:
        proc = subprocess.run(
            [exe, "info", "--format", "{{.ServerVersion}}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=ENGINE_TIMEOUT_S,
            env=dict(os.environ),  # the client finds its daemon through DOCKER_HOST / CONTAINER_HOST
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"container backend: {engine} did not answer within {ENGINE_TIMEOUT_S:g} s") from exc
    except OSError as exc:
        raise SandboxError(f"container backend: cannot run {exe}: {exc.strerror}") from exc
    version = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or not version:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SandboxError(
            f"container backend: no {engine} engine answers ({detail[-1] if detail else f'exit {proc.returncode}'})"
        )
    return version


def refuse_container(engine: str) -> None:
    """Always raises: either no engine answers, or running containers is not implemented yet."""
    version = engine_version(engine)
    raise SandboxError(
        f"container backend: {engine} {version} answers, but running tools in containers is not implemented "
        "yet (it needs the manifest's image digest and an equivalent of the bwrap checks); use bwrap"
    )
