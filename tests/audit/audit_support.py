"""Helpers shared by the audit tests: constants and an attacker with write access to the SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.pgcluster import PgCluster

ORIGIN = "sealgate.test/audit"
OWNER_ROLE = "sealgate_owner"
GATE_LOGIN = "sealgate_gate_host"


@dataclass(frozen=True)
class PgDatabase:
    """A fresh database: the owner's URL (runs migrations) and a gate host's URL (append only)."""

    cluster: PgCluster
    name: str
    owner_url: str
    gate_url: str


@contextmanager
def attacker(home: Path) -> Iterator[sqlite3.Connection]:
    """A raw connection to ``home/audit.db`` with the append-only triggers dropped.

    This is what someone who can write the database file can do; the triggers are a guard
    against mistakes, and the tests show that verification catches the rest.
    """
    conn = sqlite3.connect(home / "audit.db", isolation_level=None)
    try:
        for name in ("audit_entry_append_at_end", "audit_entry_no_update", "audit_entry_no_delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        yield conn
    finally:
        conn.close()


def flip_bit(data: bytes, position: int, bit: int = 0) -> bytes:
    """``data`` with one bit of one byte inverted."""
    changed = bytearray(data)
    changed[position] ^= 1 << bit
    return bytes(changed)
