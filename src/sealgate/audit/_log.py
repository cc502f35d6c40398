"""The audit log: append canonical records, serve roots and proofs, verify every stored byte.

:func:`open_audit_log` picks the store (SQLite under ``SEALGATE_HOME`` by default,
PostgreSQL for a ``postgresql://`` URL, psycopg imported only then). :class:`AuditLog` is
the same for both: records are RFC 8785 bytes, hashed per RFC 9162; appends from many
threads are coalesced into one transaction (group commit) and every caller gets its own
receipt only after that transaction committed; :meth:`AuditLog.verify` re-hashes every
stored record and rebuilds the tree.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sealgate.canonical import canonical_bytes
from sealgate.crypto.keys import PrivateKey
from sealgate.errors import AuditError, MalformedInputError, Reason, SealgateError, UsageError

if TYPE_CHECKING:
    from ._checkpoint import Checkpoint

from ._merkle import (
    EMPTY_ROOT,
    ConsistencyProof,
    Frontier,
    InclusionProof,
    Subtree,
    consistency_ranges,
    hashes_for,
    inclusion_ranges,
    range_hash,
    subtree_row,
)
from ._types import (
    MAX_BATCH_RECORDS,
    MAX_RECORD_SIZE,
    AppendReceipt,
    AppendStats,
    AuditTamperedError,
    Store,
    TreeHead,
)

__all__ = ["DEFAULT_LOCK_TIMEOUT", "MAX_RECORDS_PER_READ", "AuditLog", "open_audit_log"]

DEFAULT_LOCK_TIMEOUT = 10.0
MAX_RECORDS_PER_READ = 65_536
_sha256 = hashlib.sha256


def open_audit_log(
    home: Path,
    database_url: str | None = None,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    read_only: bool = False,
) -> AuditLog:
    """Open (creating and migrating if needed) the audit log of ``home``.

    Without ``database_url`` the log is ``home/audit.db`` (SQLite). A ``postgresql://`` URL
    selects PostgreSQL; psycopg is imported only then. ``lock_timeout`` bounds how long an
    append waits for another writer. Raises :class:`AuditError` with reason
    ``audit-unavailable`` when the store cannot be opened or prepared.
    """
    if lock_timeout <= 0:
        raise UsageError("lock_timeout must be positive")
    if database_url is None:
        from ._sqlite_store import SqliteStore

        return AuditLog(SqliteStore(Path(home) / "audit.db", lock_timeout=lock_timeout, read_only=read_only))
    from sealgate.storage.postgres import is_postgres_url

    if is_postgres_url(database_url):
        from ._pg_store import PostgresStore  # imports psycopg

        return AuditLog(PostgresStore(database_url, lock_timeout=lock_timeout, read_only=read_only))
    raise UsageError("the audit database URL must start with postgresql:// (or be unset for SQLite)")


class _Request:
    """One caller's records waiting for a group commit, and the one-shot signal that wakes it.

    The signal is a lock held from creation and released by the first :meth:`wake`: a
    ``threading.Event`` builds a ``Condition`` per instance, which cost more than the rest of
    a request's bookkeeping, and every gate decision makes one request. Only the thread
    leading at the moment calls :meth:`wake` (a promoted request is woken again, harmlessly,
    when it completes its own batch); only the request's own caller calls :meth:`wait`.
    """

    __slots__ = ("_signal", "_woken", "durable", "error", "promoted", "receipts", "records")

    def __init__(self, records: Sequence[bytes], durable: bool) -> None:
        self.records = records
        self.durable = durable
        self.receipts: list[AppendReceipt] | None = None
        self.error: SealgateError | None = None
        self.promoted = False
        self._woken = False
        self._signal = threading.Lock()
        self._signal.acquire()

    def wake(self) -> None:
        if not self._woken:
            self._woken = True
            self._signal.release()

    def wait(self) -> None:
        self._signal.acquire()


class _GroupCommitter:
    """Leader/follower group commit over one store.

    The first caller to arrive while no commit is running becomes the leader: it takes every
    request queued so far (its own included) and appends them in one transaction. Callers
    arriving meanwhile queue up and wait; when the commit ends, each request of the batch is
    completed (receipts or the error) and the oldest waiting request is promoted to lead the
    next batch. A failed commit fails every request of its batch, and nothing of it is
    stored (the transaction is all or nothing).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._queue: list[_Request] = []
        self._leading = False
        self.commits = 0
        self.records = 0

    def submit(self, records: Sequence[bytes], *, durable: bool) -> list[AppendReceipt]:
        request = _Request(records, durable)
        with self._lock:
            self._queue.append(request)
            lead = not self._leading
            self._leading = True
        if not lead:
            request.wait()
            lead = request.promoted and request.receipts is None and request.error is None
        if lead:
            self._lead()
        if request.error is not None:
            # A fresh exception per caller (threads must not share one traceback); the
            # store's error is its cause.
            raise AuditError(request.error.message, reason=request.error.reason) from request.error
        assert request.receipts is not None
        return request.receipts

    def _take_batch(self) -> list[_Request]:
        with self._lock:
            batch: list[_Request] = []
            count = 0
            while self._queue and (not batch or count + len(self._queue[0].records) <= MAX_BATCH_RECORDS):
                request = self._queue.pop(0)
                batch.append(request)
                count += len(request.records)
            return batch

    def _lead(self) -> None:
        batch = self._take_batch()
        committed = 0
        try:
            records = [record for request in batch for record in request.records]
            receipts = self._store.append(records, durable=any(r.durable for r in batch))
        except SealgateError as exc:
            for request in batch:
                request.error = exc
        except BaseException as exc:
            failure = AuditError(f"appending to the audit log failed: {exc!r}", reason=Reason.AUDIT_UNAVAILABLE)
            for request in batch:
                request.error = failure
            if not isinstance(exc, Exception):
                raise
        else:
            start = 0
            for request in batch:
                request.receipts = receipts[start : start + len(request.records)]
                start += len(request.records)
            committed = len(records)
        finally:
            with self._lock:
                if committed:
                    self.commits += 1
                    self.records += committed
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._leading = False
                else:
                    successor.promoted = True
            for request in batch:
                request.wake()
            if successor is not None:
                successor.wake()


def _canonical_record(record: Mapping[str, Any]) -> bytes:
    if not isinstance(record, Mapping):
        raise MalformedInputError(f"an audit record must be a JSON object (a mapping), not {type(record).__name__}")
    data = canonical_bytes(dict(record))
    if len(data) > MAX_RECORD_SIZE:
        raise MalformedInputError(
            f"audit record is {len(data)} bytes, over the {MAX_RECORD_SIZE}-byte limit", reason=Reason.TOO_LARGE
        )
    return data


def check_canonical_record(data: bytes) -> bytes:
    """Raise :class:`MalformedInputError` unless ``data`` is the RFC 8785 encoding of a JSON object.

    The bytes are parsed and re-encoded and the result must be identical, which also refuses
    duplicate keys, NaN, non-UTF-8 text, insignificant whitespace and unsorted keys.
    """
    if not isinstance(data, bytes):
        raise MalformedInputError(f"a canonical audit record must be bytes, not {type(data).__name__}")
    if len(data) > MAX_RECORD_SIZE:
        raise MalformedInputError(
            f"audit record is {len(data)} bytes, over the {MAX_RECORD_SIZE}-byte limit", reason=Reason.TOO_LARGE
        )
    if not data.startswith(b"{"):
        raise MalformedInputError("an audit record must be a canonical JSON object")
    # Shortcut, exact under these conditions: no float in the text, every integer within
    # ±(2**53 - 1) and no character outside the BMP (no 4-byte UTF-8 sequence). Then every
    # value is an exact dict/list/str/int/bool/None and the C encoder writes the RFC 8785
    # bytes (see sealgate.canonical). Otherwise numbers are read as JCS reads them (IEEE
    # doubles beyond the exact integer range) and the full canonicaliser decides.
    simple = data.isascii() or max(data) < 0xF0
    try:
        text = data.decode("utf-8")
        if simple:
            try:
                value = _SIMPLE_DECODER.decode(text)
            except _NotSimple:
                simple = False
        if not simple:
            value = _JCS_DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedInputError(f"audit record is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedInputError("an audit record must be a canonical JSON object")
    if simple:
        try:
            encoded = _JSON_ENCODER.encode(value).encode("utf-8")
        except ValueError as exc:  # a lone surrogate written as a \u escape
            raise MalformedInputError(f"audit record cannot be canonicalised: {exc}") from exc
    else:
        encoded = canonical_bytes(value)
    if encoded != data:
        raise MalformedInputError("audit record is not in RFC 8785 canonical form")
    return data


class _NotSimple(Exception):
    """Raised by the parser hooks: a float or a large integer, take the exact path."""


def _simple_float(text: str) -> float:
    raise _NotSimple(text)


def _simple_integer(text: str) -> int:
    value = int(text)
    if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
        return value
    raise _NotSimple(text)


def _jcs_integer(text: str) -> int | float:
    # JSON numbers are IEEE doubles in RFC 8785: integers beyond 2**53 - 1 are read as the
    # double they denote, so that e.g. 9007199254740992 (a canonical double) round-trips.
    value = int(text)
    return value if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER else float(text)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"JSON constant {name} is not allowed")


_MAX_SAFE_INTEGER = 2**53 - 1
_SIMPLE_DECODER = json.JSONDecoder(
    parse_float=_simple_float, parse_int=_simple_integer, parse_constant=_refuse_constant
)
_JCS_DECODER = json.JSONDecoder(parse_int=_jcs_integer, parse_constant=_refuse_constant)
_JSON_ENCODER = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
)


class AuditLog:
    """An open audit log. Use :func:`open_audit_log`; thread-safe; close it (or use ``with``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._committer = _GroupCommitter(store)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog({self._store.location!r})"

    @property
    def location(self) -> str:
        """The database file or the (password-free) URL."""
        return self._store.location

    def close(self) -> None:
        self._store.close()

    def stats(self) -> AppendStats:
        """Transactions committed and records appended through this object so far."""
        return AppendStats(self._committer.commits, self._committer.records)

    # --- appending ------------------------------------------------------------------------

    def append(self, record: Mapping[str, Any], *, durable: bool = True) -> AppendReceipt:
        """Encode ``record`` with RFC 8785 and append it; return once it is committed.

        ``durable=True`` (decisions that allow execution) waits for the commit to reach
        stable storage; ``durable=False`` may lose the newest records on power loss, never
        corrupt older ones. Raises :class:`MalformedInputError` for a record JCS cannot
        encode or over :data:`MAX_RECORD_SIZE`, :class:`AuditError` when the store fails.
        """
        data = _canonical_record(record)
        return self._committer.submit((data,), durable=durable)[0]

    def append_many(self, records: Sequence[Mapping[str, Any]], *, durable: bool = True) -> list[AppendReceipt]:
        """Encode each record with RFC 8785 and append them all in one transaction (all or none)."""
        if len(records) > MAX_BATCH_RECORDS:
            raise UsageError(f"at most {MAX_BATCH_RECORDS} records per call, not {len(records)}")
        if not records:
            return []
        encoded = [_canonical_record(record) for record in records]
        return self._committer.submit(encoded, durable=durable)

    def append_canonical(self, records: Sequence[bytes], *, durable: bool = True) -> list[AppendReceipt]:
        """Append records that are already RFC 8785 bytes, all in one transaction.

        Each must be the canonical encoding of a JSON object: it is parsed and re-encoded
        and must come out byte for byte the same (:func:`check_canonical_record`), so the log
        never holds bytes that two readers could interpret differently.
        """
        if len(records) > MAX_BATCH_RECORDS:
            raise UsageError(f"at most {MAX_BATCH_RECORDS} records per call, not {len(records)}")
        if not records:
            return []
        checked = [check_canonical_record(data) for data in records]
        return self._committer.submit(checked, durable=durable)

    # --- reading ------------------------------------------------------------------------

    def size(self) -> int:
        """The number of records in the log."""
        return self._store.size()

    def _subtree_hashes(self, needed: set[Subtree]) -> dict[Subtree, bytes]:
        rows = self._store.hash_rows(subtree_row(s) for s in needed)
        out: dict[Subtree, bytes] = {}
        for subtree in needed:
            level, index = subtree
            row = rows.get(subtree_row(subtree))
            value = None
            if row is not None:
                value = row[0] if level == 0 else row[1][(level - 1) * 32 : level * 32]
            if value is None or len(value) != 32:
                first = index << level
                raise AuditTamperedError(
                    f"the stored hash over records {first}..{subtree_row(subtree)} is missing: records were removed",
                    index=first,
                )
            out[subtree] = value
        return out

    def _check_size(self, size: int, what: str) -> int:
        current = self.size()
        if not 0 <= size <= current:
            raise UsageError(f"{what} {size} is beyond the log, which has {current} records")
        return current

    def root_hash(self, size: int | None = None) -> bytes:
        """The RFC 9162 root of the first ``size`` records (default: the whole log)."""
        return self.tree_head(size).root_hash

    def tree_head(self, size: int | None = None) -> TreeHead:
        """Size and root hash, of the whole log or of its first ``size`` records."""
        if size is None:
            size = self.size()
        else:
            self._check_size(size, "tree size")
        if size == 0:
            return TreeHead(0, EMPTY_ROOT)
        hashes = self._subtree_hashes(hashes_for([(0, size)]))
        return TreeHead(size, range_hash(0, size, hashes))

    def record(self, index: int) -> bytes:
        """The stored bytes of record ``index``, after checking them against their leaf hash."""
        return self.records(index, index + 1)[0]

    def records(self, start: int, stop: int) -> list[bytes]:
        """Stored bytes of records ``start`` to ``stop - 1``, each checked against its leaf hash."""
        if not 0 <= start < stop:
            raise UsageError(f"record range [{start}, {stop}) is empty or negative")
        if stop - start > MAX_RECORDS_PER_READ:
            raise UsageError(f"at most {MAX_RECORDS_PER_READ} records per read")
        self._check_size(stop, "record index")
        out: list[bytes] = []
        for expected, (index, stored_leaf, data) in enumerate(self._store.records(start, stop), start):
            if index != expected:
                raise AuditTamperedError(f"audit record {expected} is missing", index=expected)
            if _sha256(b"\x00" + data).digest() != stored_leaf:
                raise AuditTamperedError(
                    f"audit record {index} does not match its leaf hash: it was changed", index=index
                )
            out.append(data)
        if len(out) != stop - start:
            missing = start + len(out)
            raise AuditTamperedError(f"audit record {missing} is missing", index=missing)
        return out

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """RFC 9162 inclusion proof of record ``index`` in the tree of ``size`` (default: now)."""
        tree_size = self.size() if size is None else size
        self._check_size(tree_size, "tree size")
        if not 0 <= index < tree_size:
            raise UsageError(f"record {index} is not in a tree of size {tree_size}")
        ranges = inclusion_ranges(index, tree_size)
        hashes = self._subtree_hashes(hashes_for(ranges))
        return InclusionProof(index, tree_size, tuple(range_hash(lo, hi, hashes) for lo, hi in ranges))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """RFC 9162 consistency proof from the tree of ``old_size`` to the tree of ``new_size``."""
        tree_size = self.size() if new_size is None else new_size
        self._check_size(tree_size, "tree size")
        if not 0 <= old_size <= tree_size:
            raise UsageError(f"no consistency proof from size {old_size} to size {tree_size}")
        ranges = consistency_ranges(old_size, tree_size)
        hashes = self._subtree_hashes(hashes_for(ranges))
        return ConsistencyProof(old_size, tree_size, tuple(range_hash(lo, hi, hashes) for lo, hi in ranges))

    # --- checkpoints and verification ----------------------------------------------------

    def checkpoint(self, origin: str, key: PrivateKey, *, key_name: str | None = None) -> bytes:
        """Sign the current tree head as a C2SP checkpoint note (Ed25519 ``key``, name defaults to origin)."""
        head = self.tree_head()
        from ._checkpoint import Checkpoint, sign_checkpoint  # not needed on the gate's append path

        return sign_checkpoint(Checkpoint(origin, head.size, head.root_hash), key, key_name=key_name)

    def verify(self, *, checkpoint: Checkpoint | None = None) -> TreeHead:
        """Re-hash every stored record and rebuild the tree; return the verified tree head.

        Detects a changed, removed or reordered record (the stored leaf and subtree hashes
        no longer match the bytes), and with a ``checkpoint`` (already signature-verified,
        e.g. the verifier's last accepted one) a truncated log or a consistently rewritten
        history. Raises :class:`AuditTamperedError` naming the first bad index when it can.
        """
        sha256 = _sha256
        stack: list[bytes] = []  # the frontier, kept inline: this loop runs a million times
        pop, push = stack.pop, stack.append
        expected = 0
        checkpoint_root: bytes | None = EMPTY_ROOT if checkpoint is not None and checkpoint.size == 0 else None
        target = checkpoint.size if checkpoint is not None else -1
        # closing(): a raise in the middle ends the scan (and its connection) at once.
        with closing(self._store.scan()) as rows:
            for index, stored_leaf, stored_nodes, data in rows:
                if index != expected:
                    raise AuditTamperedError(
                        f"audit record {expected} is missing (the next stored record is {index}): records were removed",
                        index=expected,
                    )
                acc = sha256(b"\x00" + data).digest()
                if acc != stored_leaf:
                    raise AuditTamperedError(
                        f"audit record {index} does not match its stored leaf hash: its bytes were changed", index=index
                    )
                if index & 1:
                    # Leaf `index` completes one perfect subtree per trailing one bit.
                    completed = []
                    n = index
                    while n & 1:
                        acc = sha256(b"\x01" + pop() + acc).digest()
                        completed.append(acc)
                        n >>= 1
                    if b"".join(completed) != stored_nodes:
                        _raise_subtree_mismatch(index, completed, stored_nodes)
                elif stored_nodes:
                    _raise_subtree_mismatch(index, [], stored_nodes)
                push(acc)
                expected += 1
                if expected == target:
                    checkpoint_root = Frontier(expected, stack).root()
        size = expected
        root = Frontier(size, stack).root()
        if checkpoint is not None:
            if checkpoint.size > size:
                raise AuditTamperedError(
                    f"the audit log has {size} records but checkpoint covers {checkpoint.size}:"
                    f" records from {size} on were removed (truncated)",
                    index=size,
                )
            if checkpoint_root != checkpoint.root_hash:
                raise AuditTamperedError(
                    f"the first {checkpoint.size} audit records do not match the checkpoint's root hash:"
                    " the history was rewritten",
                    index=None,
                )
        return TreeHead(size, root)


def _raise_subtree_mismatch(index: int, computed: list[bytes], stored: bytes) -> None:
    """Name the smallest subtree ending at ``index`` whose stored hash differs from the recomputed one."""
    for level, value in enumerate(computed, 1):
        if stored[(level - 1) * 32 : level * 32] != value:
            first = index + 1 - (1 << level)
            raise AuditTamperedError(
                f"the stored hash over audit records {first}..{index} does not match them:"
                " records in that range were changed, removed or reordered",
                index=first,
            )
    raise AuditTamperedError(
        f"audit record {index} carries {len(stored) // 32} subtree hashes instead of {len(computed)}:"
        " records were removed or reordered",
        index=index,
    )
