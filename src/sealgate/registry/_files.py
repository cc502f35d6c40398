"""Durable file primitives for the registry writer and the client: atomic writes, fsync, fcntl locks.

Publishing and refreshing both depend on one rule: a reader only ever sees a complete old
state or a complete new state. Every file is written to a temporary name in its final
directory, fsynced, renamed into place, and the directory is fsynced, so a crash (or
``kill -9``) at any instant leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sealgate._fs import atomic_write, fsync_dir
from sealgate.digest import read_fd_bounded
from sealgate.errors import MalformedInputError, RegistryError

__all__ = [
    "atomic_write",
    "format_time",
    "fsync_dir",
    "locked",
    "parse_time",
    "read_bounded",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time in UTC, truncated to whole seconds (TUF drops microseconds)."""
    return datetime.now(UTC).replace(microsecond=0)


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` suffix, whole seconds: ``2030-01-01T00:00:00Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, what: str) -> datetime:
    """Parse an RFC 3339 UTC timestamp written by :func:`format_time`."""
    if not isinstance(value, str):
        raise MalformedInputError(f"{what} must be an RFC 3339 UTC time string")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise MalformedInputError(f"{what} {value!r} is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)") from exc


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """Read a regular file without following a final symlink, refusing more than ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RegistryError(f"{what} {path} cannot be read: {exc.strerror}") from exc
    try:
        return read_fd_bounded(fd, limit, f"{what} {path}")
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(lock_path: Path, *, exclusive: bool = True) -> Iterator[None]:
    """Hold an fcntl ``flock`` on ``lock_path`` (created if missing) for the ``with`` body.

    The lock is released by the kernel when the process dies, so a crashed publisher or
    refresher never leaves a stale lock behind.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        # Closing the descriptor releases the lock.
        os.close(fd)
