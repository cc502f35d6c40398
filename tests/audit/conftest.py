"""Fixtures for the audit log tests: homes, signing keys, and real PostgreSQL databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sealgate.audit import AuditLog, NoteVerifier, VerifierState, open_audit_log
from sealgate.crypto.keys import PrivateKey, generate_key
from tests.audit.audit_support import GATE_LOGIN, ORIGIN, OWNER_ROLE, PgDatabase
from tests.pgcluster import PgCluster, pg_cluster  # noqa: F401 - importing registers the fixture


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def log(home: Path) -> Iterator[AuditLog]:
    with open_audit_log(home) as opened:
        yield opened


@pytest.fixture(scope="session")
def log_key() -> PrivateKey:
    return generate_key("ed25519")


@pytest.fixture(scope="session")
def log_verifier(log_key: PrivateKey) -> NoteVerifier:
    return NoteVerifier(ORIGIN, log_key.public)


@pytest.fixture
def state(home: Path, log_verifier: NoteVerifier) -> VerifierState:
    return VerifierState.for_home(home, origin=ORIGIN, verifiers=[log_verifier])


@pytest.fixture
def pg_empty_database(pg_cluster: PgCluster) -> PgDatabase:  # noqa: F811 - the fixture imported above
    """A database with no audit schema yet."""
    # The owner is a plain role with CREATEROLE (so its migration can create sealgate_gate),
    # not a superuser, as in a real deployment.
    pg_cluster.create_role(OWNER_ROLE, attributes="CREATEROLE")
    name = pg_cluster.create_database(owner=OWNER_ROLE)
    return PgDatabase(pg_cluster, name, pg_cluster.url(name, OWNER_ROLE), pg_cluster.url(name, GATE_LOGIN))


@pytest.fixture
def pg_database(pg_empty_database: PgDatabase, tmp_path: Path) -> PgDatabase:
    """A migrated database, and a gate host login that is a member of sealgate_gate."""
    # Opening as the owner runs the migrations, which create the sealgate_gate group role.
    open_audit_log(tmp_path, pg_empty_database.owner_url).close()
    pg_empty_database.cluster.create_role(GATE_LOGIN, member_of=["sealgate_gate"])
    return pg_empty_database
