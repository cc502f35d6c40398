"""The PostgreSQL store on a real throwaway cluster: roles, server-side hashing, parity with SQLite."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import psycopg
import pytest

from sealgate.audit import AuditTamperedError, open_audit_log, verify_inclusion
from sealgate.errors import AuditError, Reason
from tests.audit.audit_support import PgDatabase, flip_bit

pytestmark = pytest.mark.postgres

RECORDS = [
    {"_type": "test/decision/v1", "i": i, "text": text, "nested": {"list": [i, None, True], "z": "é"}}
    for i, text in enumerate(["plain", "ünïcödé", "emoji \U0001f600", "nul \u0000 and tab \t", 'quote " back \\'] * 7)
]


def _gate_conn(db: PgDatabase) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(db.gate_url, autocommit=True)


# Everything the gate's role might try instead of calling sealgate.audit_append().
DIRECT_WRITES = [
    "INSERT INTO sealgate.audit_entry VALUES (1000, sha256('x'::bytea), '\\x'::bytea, '{}'::bytea)",
    "UPDATE sealgate.audit_entry SET record = '{}'::bytea WHERE idx = 0",
    "DELETE FROM sealgate.audit_entry WHERE idx = 0",
    "TRUNCATE sealgate.audit_entry",
    "INSERT INTO sealgate.schema_version VALUES ('audit', 99, 'x')",
    "ALTER TABLE sealgate.audit_entry DISABLE TRIGGER USER",
    "DROP TABLE sealgate.audit_entry",
    "CREATE OR REPLACE FUNCTION sealgate.audit_append(records bytea[])"
    " RETURNS TABLE (idx bigint, leaf_hash bytea, tree_size bigint, root_hash bytea)"
    " LANGUAGE sql AS 'SELECT 0::bigint, NULL::bytea, 0::bigint, NULL::bytea'",
    "CREATE TABLE sealgate.sneaky (x int)",
    "SET ROLE sealgate_owner",
]


def test_pg_gate_role_cannot_insert_update_delete_or_redefine(pg_database: PgDatabase, tmp_path: Path) -> None:
    with open_audit_log(tmp_path, pg_database.gate_url) as log:
        log.append({"_type": "test/v1"})
        head = log.tree_head()
    allowed = []
    for statement in DIRECT_WRITES:
        with _gate_conn(pg_database) as conn:
            try:
                conn.execute(statement.encode())
            except psycopg.errors.InsufficientPrivilege:
                continue
            allowed.append(statement)
    assert allowed == []
    with open_audit_log(tmp_path, pg_database.gate_url) as log:
        assert log.verify() == head


def test_pg_gate_role_appends_only_through_the_function(pg_database: PgDatabase, tmp_path: Path) -> None:
    with open_audit_log(tmp_path, pg_database.gate_url) as log:
        receipts = [log.append(record, durable=i % 2 == 0) for i, record in enumerate(RECORDS[:6])]
        assert [r.index for r in receipts] == list(range(6))
        for receipt in receipts:
            verify_inclusion(
                receipt.leaf_hash, log.inclusion_proof(receipt.index, receipt.tree_size), receipt.root_hash
            )
        assert log.verify().size == 6
    with _gate_conn(pg_database) as conn:
        # The function checks what it is given: the gate cannot store bytes that are not a JSON object.
        for bad in (b"not json", b"[1,2]", b"\xff\xfe"):
            with pytest.raises(psycopg.errors.DatabaseError):
                conn.execute("SELECT * FROM sealgate.audit_append(%s::bytea[])", ([bad],))
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("SELECT * FROM sealgate.audit_append(%s::bytea[])", ([],))


def test_pg_gate_role_cannot_create_the_schema(pg_empty_database: PgDatabase, tmp_path: Path) -> None:
    pg_empty_database.cluster.create_role("sealgate_gate_host", member_of=["sealgate_gate"])
    with pytest.raises(AuditError) as caught:
        open_audit_log(tmp_path, pg_empty_database.gate_url)
    assert caught.value.reason is Reason.AUDIT_UNAVAILABLE
    assert "database owner" in caught.value.message


def test_pg_and_sqlite_give_identical_roots_for_identical_records(pg_database: PgDatabase, tmp_path: Path) -> None:
    with open_audit_log(tmp_path / "sqlite") as lite, open_audit_log(tmp_path, pg_database.gate_url) as pg:
        for start in range(0, len(RECORDS), 6):
            batch = [json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() for r in RECORDS]
            lite.append_canonical(batch[start : start + 6])
            pg.append_canonical(batch[start : start + 6])
        assert lite.append(RECORDS[0]) == pg.append(RECORDS[0])  # receipts: index, leaf, size, root
        assert lite.verify() == pg.verify()
        size = lite.size()
        for old in range(size + 1):
            assert lite.root_hash(old) == pg.root_hash(old)
            assert lite.consistency_proof(old) == pg.consistency_proof(old)
        for index in range(size):
            assert lite.inclusion_proof(index) == pg.inclusion_proof(index)
            assert lite.record(index) == pg.record(index)


def test_pg_concurrent_appenders_give_one_consistent_log(pg_database: PgDatabase, tmp_path: Path) -> None:
    # Three independent connections (as three gate hosts would have), four threads each.
    logs = [open_audit_log(tmp_path, pg_database.gate_url) for _ in range(3)]
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            log = logs[worker % 3]
            for i in range(10):
                log.append({"_type": "test/v1", "worker": worker, "i": i}, durable=i % 3 == 0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert logs[0].verify().size == 120
        seen = sorted((json.loads(r)["worker"], json.loads(r)["i"]) for r in logs[1].records(0, 120))
        assert seen == sorted((w, i) for w in range(12) for i in range(10))
    finally:
        for log in logs:
            log.close()


def test_pg_owner_tampering_is_detected(pg_database: PgDatabase, tmp_path: Path) -> None:
    with open_audit_log(tmp_path, pg_database.gate_url) as log:
        for record in RECORDS[:10]:
            log.append(record)
    # Even the owner must first disable the guard triggers to change a record.
    with psycopg.connect(pg_database.owner_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE sealgate.audit_entry SET record = record WHERE idx = 3")
        (record,) = conn.execute("SELECT record FROM sealgate.audit_entry WHERE idx = 3").fetchone()  # type: ignore[misc]
        conn.execute(b"ALTER TABLE sealgate.audit_entry DISABLE TRIGGER USER")
        conn.execute("UPDATE sealgate.audit_entry SET record = %s WHERE idx = 3", (flip_bit(record, 5),))
        conn.execute("DELETE FROM sealgate.audit_entry WHERE idx = 9")
    with open_audit_log(tmp_path, pg_database.gate_url) as log:
        with pytest.raises(AuditTamperedError) as caught:
            log.verify()
        assert caught.value.index == 3


def test_pg_database_down_raises_audit_unavailable(pg_database: PgDatabase, tmp_path: Path) -> None:
    missing = pg_database.gate_url.replace(str(pg_database.cluster.socket_dir), str(tmp_path / "no-server"))
    with pytest.raises(AuditError) as caught:
        open_audit_log(tmp_path, missing)
    assert caught.value.reason is Reason.AUDIT_UNAVAILABLE
    assert "cannot be reached" in caught.value.message

    with open_audit_log(tmp_path, pg_database.gate_url) as log:
        log.append({"_type": "test/v1"})
        # The server drops every connection of the gate role (a restart, a failover).
        pg_database.cluster.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'sealgate_gate_host'"
        )
        with pytest.raises(AuditError) as caught:
            log.append({"_type": "test/v1"})
        assert caught.value.reason is Reason.AUDIT_UNAVAILABLE
        # The next call reconnects; nothing of the failed append was stored.
        assert log.append({"_type": "test/v1"}).index == 1
        assert log.verify().size == 2


def test_pg_url_password_is_not_in_error_messages(tmp_path: Path) -> None:
    with pytest.raises(AuditError) as caught:
        open_audit_log(tmp_path, "postgresql://gate:s3cret@/audit?host=/nonexistent&connect_timeout=1")
    assert "s3cret" not in caught.value.message
    assert "gate:***@" in caught.value.message
