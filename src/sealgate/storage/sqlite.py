"""SQLite connections the way sealgate uses them: WAL, explicit transactions, bounded lock waits.

The connection is opened in autocommit mode (``isolation_level=None``) so every write
transaction is an explicit ``BEGIN IMMEDIATE … COMMIT``: the write lock is taken before
anything is read, which is what makes "index = current size" safe across processes.
WAL mode lets readers (proofs, verification) run while another process appends.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Literal

__all__ = ["Synchronous", "connect_sqlite", "create_private_file"]

Synchronous = Literal["FULL", "NORMAL"]


def create_private_file(path: Path, mode: int = 0o600) -> None:
    """Create ``path`` empty with ``mode`` unless it exists, so SQLite never creates it world-readable.

    SQLite creates the ``-wal`` and ``-shm`` files with the permissions of the database
    file, so fixing the mode here fixes it for all three.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        return
    os.close(fd)


def connect_sqlite(path: Path, *, read_only: bool, lock_timeout: float) -> sqlite3.Connection:
    """Open ``path`` (creating it unless ``read_only``) in WAL mode with ``synchronous=FULL``.

    Raises :class:`sqlite3.Error` (or :class:`OSError`); callers translate it into their
    own error family. ``lock_timeout`` bounds how long a write waits for another writer.
    """
    mode = "ro" if read_only else "rwc"
    uri = f"{path.absolute().as_uri()}?mode={mode}"
    conn = sqlite3.connect(
        uri,
        uri=True,
        timeout=lock_timeout,
        isolation_level=None,
        check_same_thread=False,  # callers serialise use with their own lock
        cached_statements=64,
    )
    try:
        if not read_only:
            row = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if row is None or str(row[0]).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch {path} to WAL mode (got {row!r})")
        conn.execute("PRAGMA synchronous=FULL")
        # The schema stored in the file is data someone with write access may have changed:
        # do not let its triggers or views call functions with side effects, and check
        # page cells as they are read so a corrupted file fails loudly.
        conn.execute("PRAGMA trusted_schema=OFF")
        conn.execute("PRAGMA cell_size_check=ON")
    except BaseException:
        conn.close()
        raise
    return conn
