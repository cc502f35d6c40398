"""Attacks on the stored log: every changed, removed, reordered or truncated record is detected.

The attacker here can write the SQLite file (``audit_support.attacker`` drops the
append-only triggers first). Verification must name the first bad record; a history
rewritten consistently (every hash recomputed) passes the log's own checks and is caught by
the last accepted checkpoint, which is exactly why checkpoints exist.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealgate.audit import AuditLog, AuditTamperedError, NoteVerifier, VerifierState, open_audit_log
from sealgate.crypto.keys import PrivateKey
from sealgate.errors import AuditError, AuditIntegrityError, ExitCode, Reason
from tests.audit.audit_support import ORIGIN, attacker, flip_bit

SIZE = 41  # not a power of two: the tree has right-edge subtrees


def _records(n: int, *, tag: str = "") -> list[dict[str, object]]:
    return [
        {"_type": "test/decision/v1", "i": i, "subject": f"tools/acme/t{i}{tag}", "ok": i % 3 != 0} for i in range(n)
    ]


def _fill(log: AuditLog, n: int = SIZE, *, tag: str = "") -> None:
    for record in _records(n, tag=tag):
        log.append(record, durable=False)


@pytest.fixture(scope="module")
def tamper_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One log of SIZE records, shared by the hypothesis examples; each example restores it."""
    home = tmp_path_factory.mktemp("tamper")
    with open_audit_log(home) as log:
        _fill(log)
    yield home


def _row(home: Path, index: int) -> tuple[bytes, bytes, bytes]:
    with attacker(home) as conn:
        row = conn.execute("SELECT record, leaf_hash, node_hashes FROM audit_entry WHERE idx = ?", (index,)).fetchone()
    return bytes(row[0]), bytes(row[1]), bytes(row[2])


def _set(home: Path, index: int, column: str, value: bytes) -> None:
    assert column in ("record", "leaf_hash", "node_hashes")
    with attacker(home) as conn:
        conn.execute(f"UPDATE audit_entry SET {column} = ? WHERE idx = ?", (value, index))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_audit_single_byte_flip_detected(tamper_home: Path, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, SIZE - 1), label="record")
    record, _, _ = _row(tamper_home, index)
    position = data.draw(st.integers(0, len(record) - 1), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    _set(tamper_home, index, "record", flip_bit(record, position, bit))
    try:
        with open_audit_log(tamper_home) as log:
            with pytest.raises(AuditTamperedError) as caught:
                log.verify()
            assert caught.value.index == index
            assert caught.value.reason is Reason.AUDIT_TAMPERED
            assert caught.value.exit_code is ExitCode.INTEGRITY
            with pytest.raises(AuditTamperedError):
                log.record(index)  # reads check the stored bytes against their leaf hash too
    finally:
        _set(tamper_home, index, "record", record)
    with open_audit_log(tamper_home) as log:
        assert log.verify().size == SIZE


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_audit_stored_hash_flip_detected(tamper_home: Path, data: st.DataObject) -> None:
    # Any byte of a stored leaf hash, or of the subtree hashes a row carries.
    index = data.draw(st.integers(0, SIZE - 1), label="record")
    _, leaf, nodes = _row(tamper_home, index)
    column = data.draw(st.sampled_from(["leaf_hash", "node_hashes"] if nodes else ["leaf_hash"]), label="column")
    original = leaf if column == "leaf_hash" else nodes
    position = data.draw(st.integers(0, len(original) - 1), label="byte")
    _set(tamper_home, index, column, flip_bit(original, position))
    try:
        with open_audit_log(tamper_home) as log:
            with pytest.raises(AuditTamperedError) as caught:
                log.verify()
            # A subtree hash stored in row `index` covers records ending at `index`.
            assert caught.value.index is not None and caught.value.index <= index
    finally:
        _set(tamper_home, index, column, original)


def test_audit_removed_record_detected(home: Path) -> None:
    with open_audit_log(home) as log:
        _fill(log)
    with attacker(home) as conn:
        conn.execute("DELETE FROM audit_entry WHERE idx = 17")
    with open_audit_log(home) as log, pytest.raises(AuditTamperedError, match="record 17 is missing") as caught:
        log.verify()
    assert caught.value.index == 17


def test_audit_removed_and_renumbered_records_detected(home: Path) -> None:
    with open_audit_log(home) as log:
        _fill(log)
    with attacker(home) as conn:
        conn.execute("DELETE FROM audit_entry WHERE idx = 9")
        for index in range(10, SIZE):
            conn.execute("UPDATE audit_entry SET idx = idx - 1 WHERE idx = ?", (index,))
    with open_audit_log(home) as log, pytest.raises(AuditTamperedError) as caught:
        log.verify()
    assert caught.value.index is not None and caught.value.index <= 9


@pytest.mark.parametrize(("first", "second"), [(4, 5), (3, 20), (0, SIZE - 1)])
def test_audit_reordered_records_detected(home: Path, first: int, second: int) -> None:
    with open_audit_log(home) as log:
        _fill(log)
    a, b = _row(home, first), _row(home, second)
    # The attacker swaps the records together with their leaf hashes, so each leaf hash
    # still matches its bytes; the subtree hashes above them do not.
    _set(home, first, "record", b[0])
    _set(home, first, "leaf_hash", b[1])
    _set(home, second, "record", a[0])
    _set(home, second, "leaf_hash", a[1])
    with open_audit_log(home) as log, pytest.raises(AuditTamperedError) as caught:
        log.verify()
    assert caught.value.index is not None and caught.value.index <= first


def test_audit_truncated_log_detected_by_last_checkpoint(home: Path, log_key: PrivateKey, state: VerifierState) -> None:
    with open_audit_log(home) as log:
        _fill(log)
        state.accept(log.checkpoint(ORIGIN, log_key), log)
    with attacker(home) as conn:
        conn.execute("DELETE FROM audit_entry WHERE idx >= 30")
    with open_audit_log(home) as log:
        # On its own the shorter log is internally consistent ...
        assert log.verify().size == 30
        # ... but not with what the verifier accepted before.
        with pytest.raises(AuditTamperedError, match="truncated") as caught:
            log.verify(checkpoint=state.last())
        assert caught.value.index == 30
        with pytest.raises(AuditTamperedError, match="truncated or rolled back"):
            state.check_log(log)


def test_audit_rewritten_history_detected_by_last_checkpoint(
    tmp_path: Path, home: Path, log_key: PrivateKey, state: VerifierState
) -> None:
    with open_audit_log(home) as log:
        _fill(log)
        state.accept(log.checkpoint(ORIGIN, log_key), log)
        last = state.last()
    # The attacker rebuilds the whole log with one record changed and every hash
    # recomputed (they even hold the signing key), then appends more.
    forged_home = tmp_path / "forged"
    with open_audit_log(forged_home) as forged:
        records = _records(SIZE)
        records[12] = {**records[12], "ok": not records[12]["ok"]}
        for record in records:
            forged.append(record, durable=False)
        _fill(forged, 5, tag="-more")
        assert forged.verify().size == SIZE + 5  # consistent with itself
        with pytest.raises(AuditTamperedError, match="rewritten") as caught:
            forged.verify(checkpoint=last)
        assert caught.value.index is None
        with pytest.raises(AuditTamperedError, match="not consistent with the last accepted checkpoint"):
            state.check_log(forged)
        with pytest.raises(AuditTamperedError, match="not consistent"):
            state.accept(forged.checkpoint(ORIGIN, log_key), forged)
    assert state.last() == last  # the state was not moved


def test_audit_log_inconsistent_with_last_checkpoint_rejected(
    tmp_path: Path, home: Path, log_key: PrivateKey, state: VerifierState
) -> None:
    with open_audit_log(home) as log:
        _fill(log, 20)
        state.accept(log.checkpoint(ORIGIN, log_key), log)
        _fill(log, 5, tag="-later")
        later = log.checkpoint(ORIGIN, log_key)
    # A fork: same size as the accepted checkpoint, different content.
    fork_home = tmp_path / "fork"
    with open_audit_log(fork_home) as fork:
        _fill(fork, 20, tag="-fork")
        with pytest.raises(AuditTamperedError, match="forked"):
            state.accept(fork.checkpoint(ORIGIN, log_key), fork)
    # A rollback: a validly signed but older checkpoint than the accepted one.
    old_home = tmp_path / "old"
    with open_audit_log(old_home) as old:
        _fill(old, 10)
        with pytest.raises(AuditTamperedError, match="truncated or rolled back"):
            state.accept(old.checkpoint(ORIGIN, log_key), old)
    # The genuine continuation is accepted and becomes the new state.
    with open_audit_log(home) as log:
        assert state.accept(later, log).size == 25
        assert log.verify(checkpoint=state.last()).size == 25


def test_audit_checkpoint_not_matching_the_log_rejected(
    tmp_path: Path, home: Path, log_key: PrivateKey, state: VerifierState
) -> None:
    with open_audit_log(home) as log:
        _fill(log, 8)
        note = log.checkpoint(ORIGIN, log_key)
    other_home = tmp_path / "other"
    with open_audit_log(other_home) as other:
        _fill(other, 8, tag="-other")
        with pytest.raises(AuditTamperedError, match="differs from the checkpoint"):
            state.accept(note, other)
    with open_audit_log(tmp_path / "short") as short:
        _fill(short, 3)
        with pytest.raises(AuditTamperedError, match="truncated"):
            state.accept(note, short)
    assert state.last() is None


def test_audit_tampered_state_file_rejected(home: Path, log_key: PrivateKey, state: VerifierState) -> None:
    with open_audit_log(home) as log:
        _fill(log, 4)
        state.accept(log.checkpoint(ORIGIN, log_key), log)
    # Someone rewrites the verifier's memory to an older size without the key.
    state.path.write_bytes(state.path.read_bytes().replace(b"\n4\n", b"\n2\n"))
    with pytest.raises(AuditIntegrityError, match="last checkpoint"):
        state.last()


def test_audit_state_refuses_checkpoint_from_an_unknown_key(home: Path, log_verifier: NoteVerifier) -> None:
    from sealgate.crypto.keys import generate_key

    state = VerifierState.for_home(home, origin=ORIGIN, verifiers=[log_verifier])
    with open_audit_log(home) as log:
        _fill(log, 3)
        with pytest.raises(AuditIntegrityError, match="not signed by any trusted"):
            state.accept(log.checkpoint(ORIGIN, generate_key("ed25519")), log)
    assert not state.path.exists()


def test_audit_state_is_written_atomically_and_survives_reopen(
    home: Path, log_key: PrivateKey, log_verifier: NoteVerifier
) -> None:
    state = VerifierState.for_home(home, origin=ORIGIN, verifiers=[log_verifier])
    with open_audit_log(home) as log:
        for n in (3, 4, 9):
            _fill(log, n, tag=f"-{n}")
            state.accept(log.checkpoint(ORIGIN, log_key), log)
        reopened = VerifierState.for_home(home, origin=ORIGIN, verifiers=[log_verifier])
        last = reopened.last()
        assert last is not None and last.size == 16 and last.root_hash == log.root_hash()
    leftovers = [p.name for p in state.path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_audit_verify_detects_tamper_in_a_copy_not_the_original(tmp_path: Path, home: Path) -> None:
    # Sanity: the detection is about the bytes, not about which file; a clean copy verifies.
    with open_audit_log(home) as log:
        _fill(log, 10)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(home / "audit.db", copy / "audit.db")
    with open_audit_log(copy) as log:
        assert log.verify().size == 10


def test_audit_triggers_refuse_accidental_changes(home: Path) -> None:
    import sqlite3

    with open_audit_log(home) as log:
        _fill(log, 3)
    conn = sqlite3.connect(home / "audit.db", isolation_level=None)
    try:
        for statement in (
            "UPDATE audit_entry SET record = x'00' WHERE idx = 1",
            "DELETE FROM audit_entry WHERE idx = 2",
            "INSERT INTO audit_entry VALUES (7, zeroblob(32), x'', x'7b7d')",
        ):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(statement)
    finally:
        conn.close()
    with open_audit_log(home) as log:
        assert log.verify().size == 3


def test_audit_integrity_errors_are_audit_errors() -> None:
    # The gate denies on any AuditError; tampering is one.
    assert issubclass(AuditTamperedError, AuditIntegrityError)
    assert issubclass(AuditIntegrityError, AuditError)
