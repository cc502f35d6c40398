"""Database plumbing shared by the services: connections and versioned SQL migrations.

``sqlite`` opens stdlib :mod:`sqlite3` databases with the pragmas sealgate relies on (WAL,
explicit transactions, a bounded lock wait); ``postgres`` opens PostgreSQL connections with
psycopg 3, imported lazily so that a process using SQLite never loads it; ``migrations``
applies a component's numbered ``*.sql`` files once each and records them in a
``schema_version`` table. There is no ORM: the hot path runs hand-written SQL.

Every failure to open or write a store becomes a :class:`~sealgate.errors.SealgateError`
chosen by the caller (the audit log raises ``AuditError``), so no third-party exception
crosses this seam.
"""

from __future__ import annotations

__all__: list[str] = []
