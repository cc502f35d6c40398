"""The SQLite audit store (the default): ``SEALGATE_HOME/audit.db``, WAL, one write transaction per batch.

Appends run ``BEGIN IMMEDIATE``, read the current size and the frontier hashes under the
write lock, insert the new rows at ``index = size`` onwards and commit, so any number of
processes appending at once build one log. ``synchronous=FULL`` makes a commit durable
before the receipt is returned (decisions that allow execution); ``NORMAL`` (WAL: durable
at the next checkpoint or FULL commit, never corrupt) is used for ``durable=False``.
Hashes are computed here, in Python, by the same code that verification uses.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Generator, Iterable, Sequence
from pathlib import Path

from sealgate.errors import AuditError, Reason
from sealgate.storage.migrations import load_migrations, migrate_sqlite
from sealgate.storage.sqlite import Synchronous, connect_sqlite, create_private_file

from ._merkle import Frontier, leaf_hash, subtree_row
from ._types import AppendReceipt, AuditTamperedError, HashRow, ScanRow

__all__ = ["SqliteStore"]

COMPONENT = "audit"
_MIGRATIONS = load_migrations("sealgate.audit", "sql/sqlite")
_INSERT = "INSERT INTO audit_entry (idx, leaf_hash, node_hashes, record) VALUES (?, ?, ?, ?)"
_SCAN_BATCH = 4096


def _unavailable(message: str) -> AuditError:
    return AuditError(message, reason=Reason.AUDIT_UNAVAILABLE)


class SqliteStore:
    """One SQLite connection, serialised by a lock; see the module docstring."""

    def __init__(self, path: Path, *, lock_timeout: float, read_only: bool) -> None:
        self._path = path
        self._lock_timeout = lock_timeout
        self._read_only = read_only
        self._lock = threading.Lock()
        # (size, leaf hash of the last record, frontier hashes) after this connection's last
        # append: reused when the log's tip is still exactly that record, which saves reading
        # the frontier's rows on every append. Another writer moves the tip, and then the
        # frontier is read from the stored rows again.
        self._tip_frontier: tuple[int, bytes, tuple[bytes, ...]] | None = None
        self._synchronous: Synchronous = "FULL"
        try:
            if not read_only:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                create_private_file(path)
            elif not path.exists():
                raise _unavailable(f"the audit log {path} does not exist")
            self._conn = connect_sqlite(path, read_only=read_only, lock_timeout=lock_timeout)
        except OSError as exc:
            raise _unavailable(f"the audit log {path} cannot be opened: {exc.strerror or exc}") from exc
        except sqlite3.Error as exc:
            raise _unavailable(f"the audit log {path} cannot be opened: {exc}") from exc
        try:
            if read_only:
                self._check_schema()
            else:
                migrate_sqlite(self._conn, COMPONENT, _MIGRATIONS, error=_unavailable)
        except sqlite3.Error as exc:
            self._conn.close()
            raise _unavailable(f"the audit log {path} cannot be prepared: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise

    def _check_schema(self) -> None:
        from sealgate.storage.migrations import sqlite_schema_version

        version = sqlite_schema_version(self._conn, COMPONENT)
        if version != len(_MIGRATIONS):
            raise _unavailable(
                f"the audit log {self._path} has schema version {version}, this sealgate needs {len(_MIGRATIONS)};"
                " open it once read-write to migrate it"
            )

    @property
    def location(self) -> str:
        return str(self._path)

    # --- writing ------------------------------------------------------------------------

    def _set_synchronous(self, durable: bool) -> None:
        wanted: Synchronous = "FULL" if durable else "NORMAL"
        if wanted != self._synchronous:
            self._conn.execute(f"PRAGMA synchronous={wanted}")
            self._synchronous = wanted

    def append(self, records: Sequence[bytes], *, durable: bool) -> list[AppendReceipt]:
        if self._read_only:
            raise _unavailable(f"the audit log {self._path} was opened read-only")
        with self._lock:
            conn = self._conn
            try:
                self._set_synchronous(durable)
                # The write lock comes first, so the size we read is still the size when we
                # commit: index = size inside the transaction (concurrent processes queue
                # here for at most lock_timeout seconds).
                conn.execute("BEGIN IMMEDIATE")
                try:
                    size, last_leaf = self._tip()
                    cached = self._tip_frontier
                    if cached is not None and cached[0] == size and cached[1] == last_leaf:
                        frontier = Frontier(size, cached[2])
                    else:
                        frontier = self._frontier(size)
                    rows = []
                    push = frontier.push
                    for offset, record in enumerate(records):
                        leaf = leaf_hash(record)
                        rows.append((size + offset, leaf, push(leaf), record))
                    conn.executemany(_INSERT, rows)
                    conn.execute("COMMIT")
                    self._tip_frontier = (frontier.size, rows[-1][1], frontier.hashes) if rows else None
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _unavailable(f"cannot append to the audit log {self._path}: {exc}") from exc
        root = frontier.root()
        return [AppendReceipt(idx, leaf, frontier.size, root) for idx, leaf, _, _ in rows]

    # --- reading ------------------------------------------------------------------------

    def _tip(self) -> tuple[int, bytes | None]:
        row = self._conn.execute("SELECT idx, leaf_hash FROM audit_entry ORDER BY idx DESC LIMIT 1").fetchone()
        return (0, None) if row is None else (int(row[0]) + 1, bytes(row[1]))

    def _size(self) -> int:
        row = self._conn.execute("SELECT max(idx) FROM audit_entry").fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def _hash_rows(self, indices: Iterable[int]) -> dict[int, HashRow]:
        wanted = sorted(set(indices))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        query = f"SELECT idx, leaf_hash, node_hashes FROM audit_entry WHERE idx IN ({marks})"  # noqa: S608
        return {int(i): (bytes(lh), bytes(nh)) for i, lh, nh in self._conn.execute(query, wanted)}

    def _frontier(self, size: int) -> Frontier:
        subtrees = Frontier.subtrees(size)
        rows = self._hash_rows(subtree_row(s) for s in subtrees)
        hashes = []
        for level, index in subtrees:
            row = rows.get(subtree_row((level, index)))
            part = None
            if row is not None:
                part = row[0] if level == 0 else row[1][(level - 1) * 32 : level * 32]
            if part is None or len(part) != 32:
                first = index << level
                raise AuditTamperedError(
                    f"the audit log {self._path} is missing the stored hash over records {first}.."
                    f"{subtree_row((level, index))}: records were removed",
                    index=first,
                )
            hashes.append(part)
        return Frontier(size, hashes)

    def size(self) -> int:
        with self._lock:
            try:
                return self._size()
            except sqlite3.Error as exc:
                raise _unavailable(f"cannot read the audit log {self._path}: {exc}") from exc

    def hash_rows(self, indices: Iterable[int]) -> dict[int, HashRow]:
        with self._lock:
            try:
                return self._hash_rows(indices)
            except sqlite3.Error as exc:
                raise _unavailable(f"cannot read the audit log {self._path}: {exc}") from exc

    def records(self, start: int, stop: int) -> list[tuple[int, bytes, bytes]]:
        with self._lock:
            try:
                cursor = self._conn.execute(
                    "SELECT idx, leaf_hash, record FROM audit_entry WHERE idx >= ? AND idx < ? ORDER BY idx",
                    (start, stop),
                )
                return [(int(i), bytes(lh), bytes(rec)) for i, lh, rec in cursor]
            except sqlite3.Error as exc:
                raise _unavailable(f"cannot read the audit log {self._path}: {exc}") from exc

    def scan(self) -> Generator[ScanRow, None, None]:
        # A connection of its own, so a long verification neither blocks appends in this
        # process nor sees half of a concurrent batch: one read transaction is one snapshot.
        try:
            conn = connect_sqlite(self._path, read_only=self._read_only, lock_timeout=self._lock_timeout)
        except (sqlite3.Error, OSError) as exc:
            raise _unavailable(f"cannot open the audit log {self._path} to verify it: {exc}") from exc
        try:
            conn.execute("BEGIN")
            cursor = conn.execute("SELECT idx, leaf_hash, node_hashes, record FROM audit_entry ORDER BY idx")
            while True:
                batch = cursor.fetchmany(_SCAN_BATCH)
                if not batch:
                    break
                yield from batch
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _unavailable(f"cannot read the audit log {self._path}: {exc}") from exc
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
