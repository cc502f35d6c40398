"""Descriptors handed to the sandbox: sealed memfds for verified bytes, ``O_PATH`` fds for host paths.

ARCHITECTURE.md gate step 6: the runner executes from the verified bytes, "handed to the
sandbox as file descriptors (sealed memfds), never by re-reading a path; host paths a tool
may use are opened once without following symlinks and bound by descriptor".
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from sealgate.errors import Reason, SandboxError

__all__ = ["SEALS", "open_host_path", "remove_tree", "sealed_memfd"]

#: No more seals, no size change, no writes: the content is fixed once sealed (memfd_create(2)).
SEALS: Final = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE

_PATH_FLAGS: Final = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def sealed_memfd(name: str, data: bytes) -> int:
    """A close-on-exec memfd holding ``data``, sealed against any change and rewound to offset 0.

    bwrap reads ``--ro-bind-data``, ``--file`` and ``--seccomp`` descriptors from their current
    offset to EOF (bwrap.md "--seccomp FD"), so each launch needs its own descriptor.
    """
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_host_path(path: Path) -> int:
    """Open ``path`` once with ``O_PATH``, walking it component by component with ``O_NOFOLLOW``.

    A symlink anywhere in the path is refused (``O_NOFOLLOW`` alone only covers the last
    component). Every intermediate component must be a directory; the result must be a
    regular file or a directory, so sockets, FIFOs and devices are refused. The descriptor is
    close-on-exec; bwrap binds exactly this inode (``--bind-fd`` / ``--ro-bind-fd``).
    """
    parts = path.parts
    if not parts or parts[0] != "/":
        raise SandboxError(f"host path {path} must be absolute", reason=Reason.INVALID_ARGUMENT)
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        walked = ""
        for i, name in enumerate(parts[1:], start=1):
            walked += "/" + name
            try:
                nfd = os.open(name, _PATH_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise SandboxError(
                    f"host path {path}: cannot open {walked}: {exc.strerror}", reason=Reason.INVALID_ARGUMENT
                ) from exc
            os.close(fd)
            fd = nfd
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                raise SandboxError(
                    f"host path {path}: {walked} is a symlink; declared paths are opened without following links",
                    reason=Reason.INVALID_ARGUMENT,
                )
            last = i == len(parts) - 1
            if not last and not stat.S_ISDIR(mode):
                raise SandboxError(f"host path {path}: {walked} is not a directory", reason=Reason.INVALID_ARGUMENT)
            if last and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise SandboxError(
                    f"host path {path} is not a regular file or directory (sockets, FIFOs and devices are refused)",
                    reason=Reason.INVALID_ARGUMENT,
                )
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_tree(path: Path) -> None:
    """Delete a work directory the sandbox wrote to, even where the tool removed its own permissions.

    ``shutil.rmtree`` walks with descriptors and never follows a symlink the tool planted.
    """

    def fix(func: Callable[..., Any], target: str, _exc: object) -> None:
        parent = os.path.dirname(target)
        try:
            os.chmod(parent, 0o700)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, 0o700)
                shutil.rmtree(target, ignore_errors=True)
            else:
                func(target)
        except OSError:
            pass

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=fix)
