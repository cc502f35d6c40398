"""The gate over a PostgreSQL audit log, as a many-hosts deployment runs it (real server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sealgate.audit import open_audit_log
from sealgate.config import Home
from sealgate.errors import DeniedError, Reason
from sealgate.gate import Gate, GateRequest
from tests.gatehome import GateHome, build_gate_home
from tests.pgcluster import PgCluster, pg_cluster  # noqa: F401 - importing registers the fixture

pytestmark = pytest.mark.postgres

OWNER, GATE_LOGIN = "sealgate_gate_owner_t", "sealgate_gate_host_t"


@pytest.fixture
def gate_url(pg_cluster: PgCluster, tmp_path: Path) -> str:  # noqa: F811 - pytest fixture injection
    pg_cluster.create_role(OWNER, attributes="CREATEROLE")
    name = pg_cluster.create_database(owner=OWNER)
    open_audit_log(tmp_path / "owner", pg_cluster.url(name, OWNER)).close()  # migrations run as the owner
    pg_cluster.create_role(GATE_LOGIN, member_of=["sealgate_gate"])
    return pg_cluster.url(name, GATE_LOGIN)


def test_decisions_append_to_postgres_through_the_append_only_role(tmp_path: Path, gate_url: str) -> None:
    gh: GateHome = build_gate_home(tmp_path / "home")
    path = gh.register("acme/hello", "1.0.0", b"echo hi\n")
    gate = Gate(Home(gh.root), database_url=gate_url, clock=lambda: gh.clock_now, environ={})
    try:
        token = gate.verify(GateRequest(kind="tool", name="acme/hello", version="1.0.0", path=path))
        path.write_bytes(b"echo tampered\n")
        with pytest.raises(DeniedError) as exc:
            gate.verify(GateRequest(kind="tool", name="acme/hello", version="1.0.0", path=path))
        assert exc.value.reason is Reason.DIGEST_MISMATCH
    finally:
        gate.close()
    assert not (gh.root / "audit.db").exists()  # nothing went to SQLite
    log = open_audit_log(gh.root, gate_url)
    try:
        records = [json.loads(r) for r in log.records(0, log.size())]
        log.verify()
    finally:
        log.close()
    assert [r["decision"] for r in records] == ["allow", "deny"]
    assert records[token.audit_index]["subject"]["digest"]["sha256"] == token.digest
