"""The verifier's memory: the last checkpoint it accepted, and the consistency rule for the next one.

A log can only grow. The verifier keeps the newest signed checkpoint it accepted in
``SEALGATE_HOME/audit/last-checkpoint`` (the note bytes, written atomically, re-verified on
every read). A newer checkpoint, or the current state of a log, is accepted only with an
RFC 9162 consistency proof from the stored size to the new one: a smaller size (truncation
or rollback), a different root at the same size (a fork) or a failing proof (rewritten
history) raises :class:`~sealgate.errors.AuditIntegrityError`.

The first checkpoint is accepted on its signature alone (trust on first use, bounded by the
configured key); an operator who wants more writes a known-good note to the file first.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from sealgate.errors import AuditError, AuditIntegrityError, Reason

from ._checkpoint import MAX_NOTE_SIZE, Checkpoint, NoteVerifier, verify_checkpoint
from ._merkle import ConsistencyProof, verify_consistency
from ._types import AuditTamperedError, TreeHead

__all__ = ["LAST_CHECKPOINT", "ProofSource", "VerifierState"]

LAST_CHECKPOINT = Path("audit") / "last-checkpoint"


class ProofSource(Protocol):
    """What the verifier asks of a log (an :class:`~sealgate.audit.AuditLog` or a remote one)."""

    def size(self) -> int: ...

    def tree_head(self, size: int | None = None) -> TreeHead: ...

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof: ...


class VerifierState:
    """The last accepted checkpoint of one log (by origin), checked against trusted note keys."""

    def __init__(self, path: Path, *, origin: str, verifiers: Sequence[NoteVerifier]) -> None:
        self.path = path
        self.origin = origin
        self.verifiers = tuple(verifiers)

    @classmethod
    def for_home(cls, home: Path, *, origin: str, verifiers: Sequence[NoteVerifier]) -> VerifierState:
        """The state file of ``home``: ``home/audit/last-checkpoint``."""
        return cls(Path(home) / LAST_CHECKPOINT, origin=origin, verifiers=verifiers)

    def last(self) -> Checkpoint | None:
        """The last accepted checkpoint, re-verified from the file; ``None`` before the first."""
        note = self._read()
        if note is None:
            return None
        try:
            return verify_checkpoint(note, origin=self.origin, verifiers=self.verifiers)
        except AuditIntegrityError as exc:
            raise AuditIntegrityError(f"the stored last checkpoint {self.path} is not valid: {exc.message}") from exc

    def check_log(self, log: ProofSource) -> TreeHead:
        """Check that ``log`` now extends the last accepted checkpoint; return its current head.

        Nothing is stored: this is what a verifier runs between checkpoints.
        """
        head = log.tree_head()
        last = self.last()
        if last is not None:
            _require_extension(last, head, log)
        return head

    def accept(self, note: bytes, log: ProofSource) -> Checkpoint:
        """Verify ``note``, require it to extend the last accepted checkpoint and to describe ``log``; store it.

        ``log`` supplies the consistency proof and must contain the checkpoint's tree (its
        root at the checkpoint's size equals the checkpoint's root).
        """
        new = verify_checkpoint(note, origin=self.origin, verifiers=self.verifiers)
        with self._locked():
            last = self.last()
            size = log.size()
            if size < new.size:
                raise AuditTamperedError(
                    f"the audit log has {size} records but checkpoint covers {new.size}: the log was truncated",
                    index=size,
                )
            if log.tree_head(new.size).root_hash != new.root_hash:
                raise AuditTamperedError(
                    f"the audit log's root at size {new.size} differs from the checkpoint's: the log was rewritten",
                    index=None,
                )
            if last is not None:
                _require_extension(last, TreeHead(new.size, new.root_hash), log)
            self._write(note)
        return new

    # --- file handling ------------------------------------------------------------------

    def _read(self) -> bytes | None:
        try:
            with open(self.path, "rb") as fh:
                data = fh.read(MAX_NOTE_SIZE + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditError(
                f"the last checkpoint {self.path} cannot be read: {exc.strerror}", reason=Reason.AUDIT_UNAVAILABLE
            ) from exc
        if len(data) > MAX_NOTE_SIZE:
            raise AuditIntegrityError(f"the last checkpoint {self.path} is larger than {MAX_NOTE_SIZE} bytes")
        return data

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Two verifiers accepting at once must not both read the old state and then each
        # write their own: an exclusive lock spans read-check-write.
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise AuditError(
                f"the verifier state in {self.path.parent} cannot be written: {exc.strerror}",
                reason=Reason.AUDIT_UNAVAILABLE,
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, note: bytes) -> None:
        """Replace the state file atomically: write a temporary file, fsync, rename, fsync the directory."""
        directory = self.path.parent
        tmp = directory / f".{self.path.name}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                os.write(fd, note)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise AuditError(
                f"the last checkpoint {self.path} cannot be written: {exc.strerror}", reason=Reason.AUDIT_UNAVAILABLE
            ) from exc


def _require_extension(last: Checkpoint, head: TreeHead, log: ProofSource) -> None:
    """Raise unless the tree ``head`` extends the tree of ``last``, proven by ``log``'s consistency proof."""
    if head.size < last.size:
        raise AuditTamperedError(
            f"the audit log has {head.size} records, fewer than the {last.size} of the last accepted checkpoint:"
            " it was truncated or rolled back",
            index=head.size,
        )
    if head.size == last.size:
        if head.root_hash != last.root_hash:
            raise AuditTamperedError(
                f"the audit log's root at size {head.size} differs from the last accepted checkpoint: the log forked",
                index=None,
            )
        return
    proof = log.consistency_proof(last.size, head.size)
    if (proof.old_size, proof.new_size) != (last.size, head.size):
        raise AuditIntegrityError("the log answered a consistency proof for different sizes than asked")
    try:
        verify_consistency(proof, last.root_hash, head.root_hash)
    except AuditIntegrityError as exc:
        raise AuditTamperedError(
            f"the audit log of size {head.size} is not consistent with the last accepted checkpoint"
            f" (size {last.size}): {exc.message}",
            index=None,
        ) from exc
