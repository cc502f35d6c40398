"""The one artifact digest scheme (``sealgate-tree-v1``), for tools and modules alike.

A file is the SHA-256 of its bytes. A directory is the SHA-256 over one line per regular
file, ``"<mode> <size> <sha256> <path>\\n"`` with the mode in octal (permission bits only)
and the path relative, ``/``-separated, sorted by its UTF-8 bytes. Symlinks, special files
and paths that escape the directory are refused (ARCHITECTURE.md "Formats: Artifact digest").

The gate digests the bytes it read once (:func:`read_artifact`), so what was verified is
what runs.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import NewType

from sealgate._dataclass import dataclass, field
from sealgate.errors import MalformedInputError, Reason

__all__ = [
    "DEFAULT_MAX_ARTIFACT_SIZE",
    "SCHEME",
    "Artifact",
    "Digest",
    "digest_bytes",
    "read_artifact",
    "read_fd_bounded",
]

Digest = NewType("Digest", str)
SCHEME = "sealgate-tree-v1"
DEFAULT_MAX_ARTIFACT_SIZE = 64 << 20
MAX_FILES = 10_000


def digest_bytes(data: bytes) -> Digest:
    return Digest(hashlib.sha256(data).hexdigest())


@dataclass(frozen=True, slots=True)
class Artifact:
    """Bytes read once from disk, with their digest.

    ``files`` maps each relative path to ``(mode, bytes)``; a single-file artifact has one
    entry under the empty path ``""``.
    """

    digest: Digest
    files: dict[str, tuple[int, bytes]] = field(repr=False)
    is_directory: bool
    size: int


def read_fd_bounded(fd: int, limit: int, what: str) -> bytes:
    """Read ``fd`` to its end, refusing (``too-large``) more than ``limit`` bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise MalformedInputError(f"{what} is larger than the {limit}-byte limit", reason=Reason.TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


def _open_nofollow(path: Path | str, dir_fd: int | None = None) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError as exc:
        raise MalformedInputError(f"artifact {path} does not exist") from exc
    except OSError as exc:
        raise MalformedInputError(f"artifact {path} cannot be opened without following links: {exc.strerror}") from exc


def read_artifact(path: Path, *, max_size: int = DEFAULT_MAX_ARTIFACT_SIZE) -> Artifact:
    """Read a file or directory once, bounded by ``max_size`` total bytes, and digest it."""
    fd = _open_nofollow(path)
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            data = read_fd_bounded(fd, max_size, f"artifact {path}")
            return Artifact(digest_bytes(data), {"": (stat.S_IMODE(st.st_mode), data)}, False, len(data))
        if not stat.S_ISDIR(st.st_mode):
            raise MalformedInputError(f"artifact {path} is neither a regular file nor a directory")
        files: dict[str, tuple[int, bytes]] = {}
        budget = [max_size]
        _walk(fd, "", files, budget, path)
    finally:
        os.close(fd)
    return Artifact(_tree_digest(files), files, True, max_size - budget[0])


def _walk(dir_fd: int, prefix: str, files: dict[str, tuple[int, bytes]], budget: list[int], root: Path) -> None:
    for name in sorted(os.listdir(dir_fd)):
        rel = f"{prefix}{name}"
        if "\n" in name or "\\" in name:
            raise MalformedInputError(f"artifact {root}: path {rel!r} contains a newline or backslash")
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError as exc:
            raise MalformedInputError(
                f"artifact {root}: {rel} is a symlink or cannot be opened ({exc.strerror}); links are refused"
            ) from exc
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                _walk(fd, rel + "/", files, budget, root)
            elif stat.S_ISREG(st.st_mode):
                if len(files) >= MAX_FILES:
                    raise MalformedInputError(
                        f"artifact {root} has more than {MAX_FILES} files", reason=Reason.TOO_LARGE
                    )
                data = read_fd_bounded(fd, budget[0], f"artifact {root}")
                budget[0] -= len(data)
                files[rel] = (stat.S_IMODE(st.st_mode), data)
            else:
                raise MalformedInputError(f"artifact {root}: {rel} is a special file; only regular files are allowed")
        finally:
            os.close(fd)


def _tree_digest(files: dict[str, tuple[int, bytes]]) -> Digest:
    h = hashlib.sha256()
    for rel in sorted(files, key=lambda p: p.encode("utf-8")):
        mode, data = files[rel]
        h.update(b"%o %d %s %s\n" % (mode, len(data), hashlib.sha256(data).hexdigest().encode(), rel.encode("utf-8")))
    return Digest(h.hexdigest())
