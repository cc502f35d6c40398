"""The SQLite store under load and under failure: real processes, real threads, real files."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealgate.audit import (
    MAX_RECORD_SIZE,
    AppendReceipt,
    AuditLog,
    leaf_hash,
    open_audit_log,
    verify_inclusion,
)
from sealgate.errors import AuditError, MalformedInputError, Reason, UsageError

_APPEND_CHILD = r"""
import sys, time
from pathlib import Path
from sealgate.audit import open_audit_log
home, worker, count, go = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
while not go.exists():
    time.sleep(0.002)
with open_audit_log(home) as log:
    for i in range(count):
        receipt = log.append({"_type": "test/v1", "worker": worker, "i": i}, durable=i % 10 == 0)
        print(receipt.index, flush=True)
"""

_TRY_APPEND_CHILD = r"""
import sys
from pathlib import Path
from sealgate.audit import open_audit_log
from sealgate.errors import AuditError
try:
    with open_audit_log(Path(sys.argv[1])) as log:
        log.append({"_type": "test/v1", "from": "child"})
except AuditError as exc:
    print(exc.reason.value, "|", exc.message)
else:
    print("appended")
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def test_concurrent_appends_from_several_processes_give_one_consistent_log(home: Path, tmp_path: Path) -> None:
    workers, per_worker = 4, 50
    go = tmp_path / "go"
    # The children also race to create and migrate the database.
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _APPEND_CHILD, str(home), str(w), str(per_worker), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(),
        )
        for w in range(workers)
    ]
    go.touch()
    indices: dict[int, list[int]] = {}
    for worker, child in enumerate(children):
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        indices[worker] = [int(line) for line in out.split()]
    every = sorted(i for values in indices.values() for i in values)
    assert every == list(range(workers * per_worker))  # no index twice, none skipped
    for values in indices.values():
        assert values == sorted(values)  # each process's appends keep their order
    with open_audit_log(home) as log:
        assert log.verify().size == workers * per_worker
        for worker, values in indices.items():
            for i, index in enumerate(values):
                assert json.loads(log.record(index)) == {"_type": "test/v1", "worker": worker, "i": i}


def _append_concurrently(
    log: AuditLog, count: int
) -> tuple[list[AppendReceipt | None], list[BaseException | None], list[threading.Thread]]:
    """Start ``count`` threads that each append one durable record; the caller joins them."""
    receipts: list[AppendReceipt | None] = [None] * count
    errors: list[BaseException | None] = [None] * count
    start = threading.Barrier(count)

    def run(i: int) -> None:
        start.wait()
        try:
            receipts[i] = log.append({"_type": "test/v1", "thread": i}, durable=True)
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return receipts, errors, threads


@pytest.fixture
def writer_blocker(home: Path) -> Iterator[sqlite3.Connection]:
    """Another connection that will hold the database's write lock (like a second process)."""
    open_audit_log(home).close()
    conn = sqlite3.connect(home / "audit.db", isolation_level=None, check_same_thread=False)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


def test_group_commit_coalesces_threads_into_few_transactions(home: Path, writer_blocker: sqlite3.Connection) -> None:
    count = 24
    with open_audit_log(home) as log:
        # Hold the write lock so the first leader waits in BEGIN IMMEDIATE while every other
        # thread queues behind it; on release they must all go in one transaction.
        writer_blocker.execute("BEGIN IMMEDIATE")
        receipts, errors, threads = _append_concurrently(log, count)
        time.sleep(0.5)
        writer_blocker.execute("ROLLBACK")
        for thread in threads:
            thread.join(timeout=30)
        assert errors == [None] * count
        stats = log.stats()
        assert stats.records == count
        assert stats.commits <= 3, stats
        assert sorted(r.index for r in receipts if r) == list(range(count))
        for receipt in receipts:
            assert receipt is not None
            # Each caller's receipt proves its own record into the tree its commit produced.
            proof = log.inclusion_proof(receipt.index, receipt.tree_size)
            verify_inclusion(receipt.leaf_hash, proof, receipt.root_hash)
            assert leaf_hash(log.record(receipt.index)) == receipt.leaf_hash
        assert log.verify().size == count


def test_group_commit_failure_raises_audit_error_for_every_caller(
    home: Path, writer_blocker: sqlite3.Connection
) -> None:
    count = 8
    with open_audit_log(home, lock_timeout=0.3) as log:
        writer_blocker.execute("BEGIN IMMEDIATE")  # the store stays locked past lock_timeout
        try:
            receipts, errors, threads = _append_concurrently(log, count)
            for thread in threads:
                thread.join(timeout=30)
        finally:
            writer_blocker.execute("ROLLBACK")
        assert receipts == [None] * count
        for error in errors:
            assert isinstance(error, AuditError)
            assert error.reason is Reason.AUDIT_UNAVAILABLE
            assert "locked" in error.message
        assert log.size() == 0  # all or nothing: no failed batch left a record behind
        assert log.append({"_type": "test/v1"}).index == 0  # and the log works again


def test_audit_store_unavailable_when_home_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(AuditError) as caught:
        open_audit_log(blocker / "home")
    assert caught.value.reason is Reason.AUDIT_UNAVAILABLE
    assert "cannot be opened" in caught.value.message


def test_audit_store_unavailable_when_database_is_not_a_database(home: Path) -> None:
    home.mkdir()
    (home / "audit.db").write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(AuditError) as caught:
        open_audit_log(home)
    assert caught.value.reason is Reason.AUDIT_UNAVAILABLE


def test_audit_store_unavailable_when_database_path_is_a_directory(home: Path) -> None:
    (home / "audit.db").mkdir(parents=True)
    with pytest.raises(AuditError) as caught:
        open_audit_log(home)
    assert caught.value.reason is Reason.AUDIT_UNAVAILABLE


def test_audit_store_unavailable_when_file_is_read_only() -> None:
    # Root ignores file modes, so the writer must be an unprivileged user: a real child
    # process as `nobody` when we are root, this process with chmod otherwise.
    base = Path(tempfile.mkdtemp(prefix="sealgate-ro-"))
    try:
        base.chmod(0o755)
        home = base / "home"
        home.mkdir(mode=0o755)
        with open_audit_log(home) as log:
            log.append({"_type": "test/v1"})
        (home / "audit.db").chmod(0o644)
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv: cannot test as an unprivileged user")
            result = subprocess.run(
                [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
                 sys.executable, "-c", _TRY_APPEND_CHILD, str(home)],
                capture_output=True, text=True, env=_child_env(), timeout=60, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            reason, _, message = result.stdout.partition(" | ")
            assert reason == Reason.AUDIT_UNAVAILABLE.value, result.stdout
            assert str(home / "audit.db") in message
        else:
            home.chmod(0o555)
            (home / "audit.db").chmod(0o444)
            with pytest.raises(AuditError) as caught, open_audit_log(home) as log:
                log.append({"_type": "test/v1"})
            assert caught.value.reason is Reason.AUDIT_UNAVAILABLE
    finally:
        for path in (base, base / "home"):
            if path.exists():
                path.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_read_only_log_refuses_appends(home: Path) -> None:
    with pytest.raises(AuditError):
        open_audit_log(home, read_only=True)  # nothing to open yet
    with open_audit_log(home) as log:
        log.append({"_type": "test/v1"})
    with open_audit_log(home, read_only=True) as log:
        assert log.verify().size == 1
        with pytest.raises(AuditError) as caught:
            log.append({"_type": "test/v1"})
        assert caught.value.reason is Reason.AUDIT_UNAVAILABLE


def test_durable_and_fast_appends_both_survive_reopen(home: Path) -> None:
    with open_audit_log(home) as log:
        log.append({"_type": "test/v1", "durable": True}, durable=True)
        log.append({"_type": "test/v1", "durable": False}, durable=False)
        log.append_canonical([b'{"_type":"test/v1","batch":1}'], durable=False)
        head = log.tree_head()
    with open_audit_log(home) as log:
        assert log.verify() == head
        assert json.loads(log.record(1)) == {"_type": "test/v1", "durable": False}


def test_records_are_stored_as_rfc8785_bytes(log: AuditLog) -> None:
    receipt = log.append({"z": 1, "a": [True, None, "é\n"], "_type": "t"})
    assert log.record(receipt.index) == '{"_type":"t","a":[true,null,"é\\n"],"z":1}'.encode()
    assert receipt.leaf_hash == leaf_hash(log.record(receipt.index))
    assert (receipt.tree_size, receipt.root_hash) == (1, log.root_hash())


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',  # keys not sorted
        b'{"a": 1}',  # whitespace
        b'{"a":1,"a":2}',  # duplicate key
        b"[1,2]",  # not an object
        b'{"a":NaN}',
        b'{"a":1.0}',  # JCS writes 1
        b'{"a":"\xff"}',  # not UTF-8
        b'{"a":1}\n',
        b"",
        b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_append_canonical_refuses_bytes_that_are_not_canonical_objects(log: AuditLog, data: bytes) -> None:
    with pytest.raises(MalformedInputError):
        log.append_canonical([b'{"ok":1}', data])
    assert log.size() == 0  # the whole call is refused, not half of it


def test_append_refuses_values_jcs_cannot_encode_and_oversized_records(log: AuditLog) -> None:
    for bad in ({"n": 2**60}, {"f": float("nan")}, {"s": {1, 2}}, {1: "non-string key"}):
        with pytest.raises(MalformedInputError):
            log.append(bad)  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError) as caught:
        log.append({"blob": "x" * MAX_RECORD_SIZE})
    assert caught.value.reason is Reason.TOO_LARGE
    with pytest.raises(MalformedInputError):
        log.append(["not", "an", "object"])  # type: ignore[arg-type]
    assert log.size() == 0


def test_reads_are_bounded_and_checked(log: AuditLog) -> None:
    for i in range(3):
        log.append({"_type": "test/v1", "i": i})
    assert [json.loads(r)["i"] for r in log.records(0, 3)] == [0, 1, 2]
    with pytest.raises(UsageError):
        log.records(0, 4)
    with pytest.raises(UsageError):
        log.record(3)
    with pytest.raises(UsageError):
        log.records(2, 1)


def test_gate_hot_path_does_not_import_psycopg(home: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from sealgate.audit import open_audit_log\n"
        f"log = open_audit_log(Path({str(home)!r})); log.append({{'_type': 'test/v1'}}); log.verify()\n"
        "print('psycopg' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_child_env(), timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


def test_database_file_is_private_to_its_owner(log: AuditLog, home: Path) -> None:
    log.append({"_type": "test/v1"})
    assert (home / "audit.db").stat().st_mode & 0o077 == 0
    assert home.stat().st_mode & 0o077 == 0


def test_unknown_database_url_is_a_usage_error(home: Path) -> None:
    with pytest.raises(UsageError):
        open_audit_log(home, "mysql://db/audit")
