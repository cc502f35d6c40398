"""Production start-up check: trust anchors must not be writable by the calling user.

In production the pinned root, cached metadata, local policy, audit store and last
checkpoint belong to a service user; the gate's process only reads them (ARCHITECTURE.md
"Environments"). The check is on ownership and mode bits, not ``os.access``, so that it
can be evaluated for any uid; uid 0 can write anything and is therefore always refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

__all__ = ["writable_anchors"]


def _writable(st: os.stat_result, uid: int, gids: frozenset[int]) -> bool:
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IWUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IWOTH)


def writable_anchors(
    paths: Iterable[Path], *, uid: int | None = None, gids: Iterable[int] | None = None, recursive: bool = True
) -> list[Path]:
    """Every existing anchor (file, or directory and anything below it) writable by ``uid``.

    A directory counts when it or (with ``recursive``) any file in it is writable, since a
    writable directory lets the caller replace the files in it. Parent directories are not
    walked: the gate checks the home's own directory, non-recursively, as an anchor in its
    own right.
    """
    uid = os.geteuid() if uid is None else uid
    group_ids = frozenset(os.getgroups() if gids is None else gids) | ({os.getegid()} if gids is None else set())
    found: list[Path] = []
    for anchor in paths:
        try:
            st = os.lstat(anchor)
        except FileNotFoundError:
            continue
        if _writable(st, uid, group_ids):
            found.append(anchor)
            continue
        if recursive and stat.S_ISDIR(st.st_mode):
            for dirpath, dirnames, filenames in os.walk(anchor):
                for entry in (*dirnames, *filenames):
                    p = Path(dirpath) / entry
                    if _writable(os.lstat(p), uid, group_ids):
                        found.append(p)
                        break
    return found
