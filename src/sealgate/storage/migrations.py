"""Versioned SQL migrations: numbered ``*.sql`` files applied once each, recorded in ``schema_version``.

A component (``audit``, later others) keeps its migrations as package data, one directory
per dialect, files named ``NNNN_short_name.sql`` numbered from 1 without gaps. The runner
applies the missing ones in order inside one transaction that also records them, so a crash
leaves either the old or the new schema, never half of one. A database whose schema is
newer than the code is refused rather than guessed at.

``schema_version`` has one row per applied migration: ``(component, version, name,
applied_at)``. On PostgreSQL it lives in the component's schema (``sealgate``).
"""

from __future__ import annotations

import importlib
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sealgate._dataclass import dataclass
from sealgate.errors import SealgateError

if TYPE_CHECKING:  # psycopg is imported lazily, only for PostgreSQL URLs.
    import psycopg

__all__ = [
    "Migration",
    "load_migrations",
    "migrate_postgres",
    "migrate_sqlite",
    "postgres_schema_version",
    "sqlite_schema_version",
]

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ErrorFactory = Callable[[str], SealgateError]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its number, its short name and the SQL that performs it."""

    version: int
    name: str
    sql: str


def load_migrations(package: str, directory: str) -> tuple[Migration, ...]:
    """Read ``<package>/<directory>/NNNN_name.sql`` in order; versions must run 1, 2, 3 … without gaps."""
    # Read beside the package's own file: importlib.resources costs several milliseconds of
    # import time on the gate's hot path, and the migrations ship inside the package.
    module_file = importlib.import_module(package).__file__
    if module_file is None:
        raise RuntimeError(f"package {package} has no location to read migrations from")
    root = Path(module_file).parent / directory
    found: list[Migration] = []
    for entry in root.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations in {package}/{directory} are not numbered 1..{len(found)} without gaps")
    return tuple(found)


def _check_identifier(value: str) -> str:
    # Component and schema names are interpolated into SQL, so they are fixed identifiers
    # from our own code, never user input; this check keeps it that way.
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a plain SQL identifier")
    return value


# --- SQLite -----------------------------------------------------------------------------


def sqlite_schema_version(conn: sqlite3.Connection, component: str) -> int:
    """The newest applied migration of ``component``, 0 when none (or no ``schema_version`` table)."""
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version WHERE component = ?", (component,)).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def migrate_sqlite(
    conn: sqlite3.Connection, component: str, migrations: tuple[Migration, ...], *, error: ErrorFactory
) -> int:
    """Apply the missing migrations of ``component`` in one ``BEGIN IMMEDIATE`` transaction.

    ``conn`` must be in autocommit mode (``isolation_level=None``) so that the transaction
    boundaries are ours. Returns the schema version now in place.
    """
    latest = len(migrations)
    current = sqlite_schema_version(conn, component)
    if current == latest:
        return current
    if current > latest:
        raise error(f"the {component} database schema is version {current}, newer than this sealgate ({latest})")
    # BEGIN IMMEDIATE takes the write lock first, so two processes opening a new database at
    # once apply each migration exactly once: the second re-reads the version under the lock.
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),"
            " PRIMARY KEY (component, version))"
        )
        current = sqlite_schema_version(conn, component)
        for migration in migrations[current:]:
            # executescript() would COMMIT our transaction first; run statement by statement.
            for statement in _split_sqlite_script(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (component, version, name) VALUES (?, ?, ?)",
                (component, migration.version, migration.name),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return latest


def _split_sqlite_script(script: str) -> list[str]:
    """Split a script into complete statements with :func:`sqlite3.complete_statement`.

    This is what the sqlite3 shell does: it keeps ``CREATE TRIGGER … BEGIN …; END;`` whole.
    """
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise RuntimeError(f"incomplete SQL statement at the end of a migration: {buffer.strip()[:60]!r}")
    return statements


# --- PostgreSQL -------------------------------------------------------------------------


def postgres_schema_version(conn: psycopg.Connection[Any], component: str, *, schema: str) -> int:
    """The newest applied migration of ``component`` in ``schema``, 0 when none."""
    schema = _check_identifier(schema)
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.schema_version",)).fetchone()
    if row is None or not row[0]:
        return 0
    row = conn.execute(
        f"SELECT max(version) FROM {schema}.schema_version WHERE component = %s",  # noqa: S608 - checked identifier
        (component,),
    ).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def migrate_postgres(
    conn: psycopg.Connection[Any],
    component: str,
    migrations: tuple[Migration, ...],
    *,
    schema: str,
    error: ErrorFactory,
) -> int:
    """Apply the missing migrations of ``component`` in one transaction, serialised by an advisory lock.

    A database already at the latest version needs no privilege beyond reading
    ``schema_version``, so a role that may only append (the gate's) can open it; a role
    that cannot run the DDL gets a sentence telling the operator what to run instead.
    """
    schema = _check_identifier(schema)
    component = _check_identifier(component)
    latest = len(migrations)
    current = postgres_schema_version(conn, component, schema=schema)
    conn.commit()
    if current == latest:
        return current
    if current > latest:
        raise error(f"the {component} database schema is version {current}, newer than this sealgate ({latest})")
    with conn.transaction():
        # One lock for every migration of every component: concurrent first starts of several
        # hosts or replicas then apply each file exactly once.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('sealgate-schema-migrations'))")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_version ("
            " component text NOT NULL, version integer NOT NULL, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
        )
        current = postgres_schema_version(conn, component, schema=schema)
        for migration in migrations[current:]:
            # Sent without parameters, so psycopg uses the simple query protocol and a file
            # may hold several statements (and dollar-quoted function bodies).
            conn.execute(migration.sql.encode("utf-8"))
            conn.execute(
                f"INSERT INTO {schema}.schema_version (component, version, name) VALUES (%s, %s, %s)",  # noqa: S608
                (component, migration.version, migration.name),
            )
    return latest
