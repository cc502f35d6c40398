"""A throwaway PostgreSQL cluster for tests, started from the installed server binaries.

Use it from any test directory's ``conftest.py``::

    from tests.pgcluster import pg_cluster  # noqa: F401  (importing registers the fixture)

    def test_something(pg_cluster):
        dbname = pg_cluster.create_database()
        url = pg_cluster.url(dbname)                # postgresql://postgres@/db?host=/tmp/…&port=…
        pg_cluster.create_role("app", member_of=["some_group"])

``pg_cluster`` is session-scoped and shared: however many conftest files import it, one
cluster runs per test process (reference counted) and it is stopped at the end. When the
binaries are missing the tests that use it are skipped with the reason.

PostgreSQL refuses to run as root, and tests often run as root in containers: then
``initdb`` and ``pg_ctl`` run as ``nobody`` (via ``setpriv``, or ``runuser``) in a temporary
directory owned by that user. The server listens only on a Unix socket in that directory
(``listen_addresses = ''``), trusts local connections, and runs with ``fsync = off``: it is
for tests only. Binaries are looked up in ``$SEALGATE_PG_BIN``, then
``/usr/lib/postgresql/<newest>/bin``, then ``$PATH``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["PgCluster", "PgUnavailable", "acquire_cluster", "find_pg_bin", "pg_cluster", "release_cluster"]

_UNPRIVILEGED_USER = "nobody"
_START_TIMEOUT = 60


class PgUnavailable(Exception):
    """The PostgreSQL binaries or an unprivileged user to run them are not available."""


def find_pg_bin() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``; raise :class:`PgUnavailable` if none."""
    candidates: list[Path] = []
    if os.environ.get("SEALGATE_PG_BIN"):
        candidates.append(Path(os.environ["SEALGATE_PG_BIN"]))
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if all((directory / tool).is_file() and os.access(directory / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return directory
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in $SEALGATE_PG_BIN, /usr/lib/postgresql/*/bin"
        " or $PATH; install the postgresql server package to run the @pytest.mark.postgres tests"
    )


def _drop_privileges_prefix() -> tuple[list[str], int | None, int | None]:
    """Command prefix that runs a tool as an unprivileged user when we are root, and that user's ids."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam(_UNPRIVILEGED_USER)
    except KeyError as exc:
        raise PgUnavailable(
            f"running as root and there is no {_UNPRIVILEGED_USER!r} user to run PostgreSQL as"
        ) from exc
    setpriv = shutil.which("setpriv")
    if setpriv:
        prefix = [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]
        return prefix, user.pw_uid, user.pw_gid
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", _UNPRIVILEGED_USER, "--"], user.pw_uid, user.pw_gid
    raise PgUnavailable("running as root and neither setpriv nor runuser is available to drop privileges")


@dataclass
class PgCluster:
    """A running throwaway cluster: superuser ``postgres``, Unix socket only."""

    bin_dir: Path
    base_dir: Path
    port: int = 5432
    superuser: str = "postgres"
    _prefix: list[str] = field(default_factory=list, repr=False)
    _env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    def url(self, dbname: str = "postgres", user: str | None = None) -> str:
        """A libpq URL for ``dbname`` as ``user`` (default: the superuser) over the Unix socket."""
        return f"postgresql://{user or self.superuser}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def _run(self, argv: Sequence[str]) -> None:
        result = subprocess.run(
            [*self._prefix, *argv], env=self._env, capture_output=True, text=True, timeout=_START_TIMEOUT, check=False
        )
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip()}\n{log}")

    def execute(
        self, sql: str, params: Sequence[Any] | None = None, *, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser in autocommit mode; return its rows (if any)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cursor = conn.execute(sql.encode() if params is None else sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def create_role(
        self, name: str, *, login: bool = True, member_of: Sequence[str] = (), attributes: str = ""
    ) -> None:
        """Create ``name`` if it does not exist (roles are cluster-wide) and grant it ``member_of``."""
        exists = self.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
        if not exists:
            self.execute(f'CREATE ROLE "{name}" {"LOGIN" if login else "NOLOGIN"} {attributes}')
        for group in member_of:
            if not self.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [group]):
                self.execute(f'CREATE ROLE "{group}" NOLOGIN')
            self.execute(f'GRANT "{group}" TO "{name}"')

    def create_database(self, name: str | None = None, *, owner: str | None = None) -> str:
        """Create a fresh UTF-8 database (a unique name unless given); return its name."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        owner_clause = f' OWNER "{owner}"' if owner else ""
        self.execute(f"CREATE DATABASE \"{name}\"{owner_clause} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'")
        return name

    def stop(self) -> None:
        try:
            self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)


def start_cluster() -> PgCluster:
    """initdb + start a cluster in a new temporary directory; raise :class:`PgUnavailable` if impossible."""
    bin_dir = find_pg_bin()
    prefix, uid, gid = _drop_privileges_prefix()
    # Not under pytest's basetemp: that is 0700 root-owned, and the server user must reach it.
    base_dir = Path(tempfile.mkdtemp(prefix="sealgate-pg-"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    try:
        (base_dir / "sock").mkdir()
        if uid is not None and gid is not None:
            for path in (base_dir, base_dir / "sock"):
                os.chown(path, uid, gid)
        cluster = PgCluster(bin_dir=bin_dir, base_dir=base_dir, _prefix=prefix, _env=env)
        cluster._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(cluster.data_dir),
                "-U",
                cluster.superuser,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
        )
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{cluster.socket_dir}'",
            "port": str(cluster.port),
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "50",
            "shared_buffers": "32MB",
        }
        with open(cluster.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# sealgate test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        cluster._run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(cluster.data_dir),
                "-l",
                str(cluster.log_file),
                "-w",
                "-t",
                str(_START_TIMEOUT),
                "start",
            ]
        )
    except BaseException:
        shutil.rmtree(base_dir, ignore_errors=True)
        raise
    return cluster


_shared_lock = threading.Lock()
_shared: PgCluster | None = None
_shared_refs = 0


def acquire_cluster() -> PgCluster:
    """Start the process-wide cluster on first use; every call must be paired with :func:`release_cluster`."""
    global _shared, _shared_refs
    with _shared_lock:
        if _shared is None:
            _shared = start_cluster()
        _shared_refs += 1
        return _shared


def release_cluster() -> None:
    global _shared, _shared_refs
    with _shared_lock:
        _shared_refs -= 1
        if _shared_refs == 0 and _shared is not None:
            cluster, _shared = _shared, None
            cluster.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A running PostgreSQL cluster shared by the whole test session (skips when unavailable)."""
    try:
        cluster = acquire_cluster()
    except PgUnavailable as exc:
        # .ci/run installs PostgreSQL where it is missing: in CI an unavailable server fails.
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        release_cluster()
