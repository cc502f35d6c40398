"""PostgreSQL connections with psycopg 3, imported only when a ``postgresql://`` URL is used.

The gate's hot path with the default SQLite store must not pay for importing psycopg, so
this module imports it inside :func:`connect_postgres`. Every connection gets a connect
timeout, a lock timeout and a statement timeout: a database that hangs is a database that
is down, and the gate denies on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

__all__ = ["connect_postgres", "is_postgres_url", "redact_url"]

_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str) -> bool:
    """True for ``postgresql://`` and ``postgres://`` URLs (libpq's two spellings)."""
    return url.startswith(_SCHEMES)


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for error messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user = userinfo.split(":", 1)[0]
        authority = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    # Query parameters may carry a password too (``?password=``).
    if "password=" in tail:
        tail = "…"
    return f"{scheme}{sep}{authority}{slash}{tail}"


def connect_postgres(
    url: str,
    *,
    connect_timeout: float,
    lock_timeout: float,
    statement_timeout: float,
    read_only: bool = False,
) -> psycopg.Connection[Any]:
    """Open a connection in autocommit mode (use ``conn.transaction()`` for writes) with bounded waits.

    Raises :class:`psycopg.Error`; callers translate it into their own error family.
    """
    import psycopg  # deliberately lazy, see the module docstring

    options = (
        f"-c lock_timeout={int(lock_timeout * 1000)} "
        f"-c statement_timeout={int(statement_timeout * 1000)} "
        "-c idle_in_transaction_session_timeout=60000"
    )
    if read_only:
        options += " -c default_transaction_read_only=on"
    return psycopg.connect(
        url,
        autocommit=True,
        connect_timeout=max(1, int(connect_timeout)),
        options=options,
        application_name="sealgate",
    )
