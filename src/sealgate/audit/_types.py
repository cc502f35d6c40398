"""Value types of the audit log and the interface its two stores (SQLite, PostgreSQL) implement."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from typing import Protocol

from sealgate._dataclass import dataclass, field
from sealgate.errors import AuditIntegrityError, Reason

__all__ = [
    "MAX_BATCH_RECORDS",
    "MAX_RECORD_SIZE",
    "AppendReceipt",
    "AppendStats",
    "AuditTamperedError",
    "HashRow",
    "ScanRow",
    "TreeHead",
]

# A record is one decision or outcome; a megabyte is far beyond any real one, and the cap
# keeps one caller from filling the store (bound every untrusted input).
MAX_RECORD_SIZE = 1 << 20
# Records per append_canonical() call and per transaction built by group commit.
MAX_BATCH_RECORDS = 100_000


@dataclass(frozen=True, slots=True)
class AppendReceipt:
    """What an append committed: the record's index and leaf hash, and the tree head after the commit.

    ``tree_size``/``root_hash`` describe the log as the committing transaction left it (with
    group commit, after the whole batch), so ``inclusion_proof(index, tree_size)`` verifies
    against ``root_hash``.
    """

    index: int
    leaf_hash: bytes = field(repr=False)
    tree_size: int
    root_hash: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class TreeHead:
    """A log's size and the RFC 9162 root hash of its first ``size`` records."""

    size: int
    root_hash: bytes = field(repr=False)

    @property
    def root_hex(self) -> str:
        return self.root_hash.hex()


@dataclass(frozen=True, slots=True)
class AppendStats:
    """Counters of one open log: committed transactions and the records they appended."""

    commits: int
    records: int


class AuditTamperedError(AuditIntegrityError):
    """The stored log does not match its own hashes or a checkpoint.

    ``index`` is the first record that is missing, changed or out of place, or ``None``
    when only the root differs (a rewritten history that a checkpoint exposes but cannot
    localise).
    """

    def __init__(self, message: str, *, index: int | None) -> None:
        super().__init__(message, reason=Reason.AUDIT_TAMPERED)
        self.index = index


HashRow = tuple[bytes, bytes]
"""``(leaf_hash, node_hashes)`` of one stored record."""

ScanRow = tuple[int, bytes, bytes, bytes]
"""``(index, leaf_hash, node_hashes, record)`` in index order, as verification reads them."""


class Store(Protocol):
    """What :class:`~sealgate.audit.AuditLog` needs from a database. Implementations raise ``AuditError``."""

    @property
    def location(self) -> str:
        """Where the log lives, for error messages (never a password)."""
        ...

    def append(self, records: Sequence[bytes], *, durable: bool) -> list[AppendReceipt]:
        """Append ``records`` in one transaction at the current end of the log; all or none."""
        ...

    def size(self) -> int: ...

    def hash_rows(self, indices: Iterable[int]) -> dict[int, HashRow]:
        """The stored hashes of the records at ``indices`` (missing indices are absent)."""
        ...

    def records(self, start: int, stop: int) -> list[tuple[int, bytes, bytes]]:
        """``(index, leaf_hash, record)`` for ``start <= index < stop``, in order."""
        ...

    def scan(self) -> Generator[ScanRow, None, None]:
        """Every stored row in index order, from one consistent snapshot, on its own connection."""
        ...

    def close(self) -> None: ...
