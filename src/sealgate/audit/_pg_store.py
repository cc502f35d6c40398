"""The PostgreSQL audit store: many hosts, one log, hashes computed by the server.

Appends call ``sealgate.audit_append(bytea[])``, a ``SECURITY DEFINER`` PL/pgSQL function
that locks the table against other appenders, computes the RFC 9162 leaf and subtree hashes
with the built-in ``sha256()`` and inserts the rows; the gate's role may execute it and read
the table, nothing else. ``durable=False`` sets ``synchronous_commit = off`` for that
transaction. Verification reads the rows and re-hashes them here, in Python, independently
of the server's hashing. This module imports psycopg; only ``open_audit_log`` imports it,
and only for ``postgresql://`` URLs.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterable, Sequence
from typing import Any

import psycopg

from sealgate.errors import AuditError, Reason
from sealgate.storage.migrations import load_migrations, migrate_postgres, postgres_schema_version
from sealgate.storage.postgres import connect_postgres, redact_url

from ._types import AppendReceipt, HashRow, ScanRow

__all__ = ["SCHEMA", "PostgresStore"]

COMPONENT = "audit"
SCHEMA = "sealgate"
_MIGRATIONS = load_migrations("sealgate.audit", "sql/postgres")
_CONNECT_TIMEOUT = 10.0
_STATEMENT_TIMEOUT = 120.0
_SCAN_BATCH = 4096


def _unavailable(message: str) -> AuditError:
    return AuditError(message, reason=Reason.AUDIT_UNAVAILABLE)


def _reason(exc: psycopg.Error) -> str:
    """The first line of a driver error: enough to act on, no connection string."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class PostgresStore:
    """One connection (autocommit; explicit transactions for appends), serialised by a lock."""

    def __init__(self, url: str, *, lock_timeout: float, read_only: bool) -> None:
        self._url = url
        self._location = redact_url(url)
        self._lock_timeout = lock_timeout
        self._read_only = read_only
        self._lock = threading.Lock()
        self._conn = self._connect()
        try:
            if read_only:
                version = postgres_schema_version(self._conn, COMPONENT, schema=SCHEMA)
                if version != len(_MIGRATIONS):
                    raise _unavailable(
                        f"the audit database {self._location} has schema version {version},"
                        f" this sealgate needs {len(_MIGRATIONS)}"
                    )
            else:
                migrate_postgres(self._conn, COMPONENT, _MIGRATIONS, schema=SCHEMA, error=_unavailable)
        except psycopg.errors.InsufficientPrivilege as exc:
            self._conn.close()
            raise _unavailable(
                f"the audit schema in {self._location} must be created or migrated to version {len(_MIGRATIONS)}"
                f" and this database role may not do it ({_reason(exc)}); open the log once as the database owner"
            ) from exc
        except psycopg.Error as exc:
            self._conn.close()
            raise _unavailable(f"the audit database {self._location} cannot be prepared: {_reason(exc)}") from exc
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return connect_postgres(
                self._url,
                connect_timeout=_CONNECT_TIMEOUT,
                lock_timeout=self._lock_timeout,
                statement_timeout=_STATEMENT_TIMEOUT,
                read_only=self._read_only,
            )
        except psycopg.Error as exc:
            raise _unavailable(f"the audit database {self._location} cannot be reached: {_reason(exc)}") from exc

    def _connection(self) -> psycopg.Connection[Any]:
        # A server restart breaks the connection; the next call reconnects instead of
        # failing forever (the failed call itself has already raised AuditError).
        if self._conn.closed or self._conn.broken:
            self._conn.close()
            self._conn = self._connect()
        return self._conn

    @property
    def location(self) -> str:
        return self._location

    def append(self, records: Sequence[bytes], *, durable: bool) -> list[AppendReceipt]:
        if self._read_only:
            raise _unavailable(f"the audit database {self._location} was opened read-only")
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction():
                    if not durable:
                        conn.execute("SET LOCAL synchronous_commit = off")
                    rows = conn.execute(
                        "SELECT idx, leaf_hash, tree_size, root_hash FROM sealgate.audit_append(%s::bytea[])",
                        (list(records),),
                    ).fetchall()
            except psycopg.Error as exc:
                raise _unavailable(f"cannot append to the audit database {self._location}: {_reason(exc)}") from exc
        return [AppendReceipt(int(i), bytes(leaf), int(size), bytes(root)) for i, leaf, size, root in rows]

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except psycopg.Error as exc:
                raise _unavailable(f"cannot read the audit database {self._location}: {_reason(exc)}") from exc

    def size(self) -> int:
        rows = self._query("SELECT max(idx) FROM sealgate.audit_entry", ())
        return 0 if not rows or rows[0][0] is None else int(rows[0][0]) + 1

    def hash_rows(self, indices: Iterable[int]) -> dict[int, HashRow]:
        wanted = sorted(set(indices))
        if not wanted:
            return {}
        rows = self._query(
            "SELECT idx, leaf_hash, node_hashes FROM sealgate.audit_entry WHERE idx = ANY(%s::bigint[])", (wanted,)
        )
        return {int(i): (bytes(lh), bytes(nh)) for i, lh, nh in rows}

    def records(self, start: int, stop: int) -> list[tuple[int, bytes, bytes]]:
        rows = self._query(
            "SELECT idx, leaf_hash, record FROM sealgate.audit_entry WHERE idx >= %s AND idx < %s ORDER BY idx",
            (start, stop),
        )
        return [(int(i), bytes(lh), bytes(rec)) for i, lh, rec in rows]

    def scan(self) -> Generator[ScanRow, None, None]:
        # Its own connection and one REPEATABLE READ snapshot, read through a server-side
        # cursor so a million rows never sit in memory at once.
        try:
            conn = connect_postgres(
                self._url,
                connect_timeout=_CONNECT_TIMEOUT,
                lock_timeout=self._lock_timeout,
                statement_timeout=_STATEMENT_TIMEOUT,
                read_only=True,
            )
        except psycopg.Error as exc:
            raise _unavailable(f"the audit database {self._location} cannot be reached: {_reason(exc)}") from exc
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                with conn.cursor(name="sealgate_audit_scan") as cursor:
                    cursor.itersize = _SCAN_BATCH
                    cursor.execute("SELECT idx, leaf_hash, node_hashes, record FROM sealgate.audit_entry ORDER BY idx")
                    for idx, leaf, nodes, record in cursor:
                        yield int(idx), bytes(leaf), bytes(nodes), bytes(record)
        except psycopg.Error as exc:
            raise _unavailable(f"cannot read the audit database {self._location}: {_reason(exc)}") from exc
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
