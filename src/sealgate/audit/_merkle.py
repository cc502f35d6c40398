"""RFC 9162 Merkle tree hashing, proofs and their verifiers: pure functions, no IO.

Hashing (RFC 9162 §2.1.1): a leaf is ``SHA-256(0x00 || record bytes)``, an interior node
``SHA-256(0x01 || left || right)``, the empty tree ``SHA-256()``. A tree of ``n > 1`` leaves
splits at ``k``, the largest power of two below ``n``: ``MTH(D[n]) = node(MTH(D[0:k]),
MTH(D[k:n]))``.

Storage works with *perfect subtrees*: ``(level, index)`` names the ``2**level`` leaves
``[index * 2**level, (index + 1) * 2**level)``. Every node of an RFC 9162 tree is either a
perfect subtree or a right-edge range whose hash is the right fold of the perfect subtrees
that tile it, so a store that keeps the hash of every complete perfect subtree (written once,
when its last leaf is appended, never changed after) can answer any root or proof for any
past size with ``O(log n)`` lookups. The hash of a perfect subtree of level ``l >= 1`` is
kept in the row of its last leaf, ``(index + 1) * 2**level - 1``: see :class:`Frontier`.

The verifiers implement RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by
step; they raise :class:`~sealgate.errors.AuditIntegrityError` or return ``None``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from sealgate._dataclass import dataclass
from sealgate.errors import AuditIntegrityError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_HASHES",
    "ConsistencyProof",
    "Frontier",
    "InclusionProof",
    "Subtree",
    "consistency_ranges",
    "hashes_for",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "subtree_row",
    "subtrees_of_range",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
# A proof over a tree of at most 2**63 leaves has at most 2 * 63 hashes; anything longer is
# refused before any hashing is done (bound every untrusted input).
MAX_PROOF_HASHES = 128

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

Subtree = tuple[int, int]
"""``(level, index)``: the perfect subtree over leaves ``[index << level, (index + 1) << level)``."""


def leaf_hash(record: bytes) -> bytes:
    """RFC 9162 leaf hash of the stored record bytes: ``SHA-256(0x00 || record)``."""
    return _sha256(_LEAF_PREFIX + record).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split_point(size: int) -> int:
    """``k``: the largest power of two strictly smaller than ``size`` (``size > 1``)."""
    return 1 << ((size - 1).bit_length() - 1)


def subtree_row(subtree: Subtree) -> int:
    """The index of the last leaf of ``subtree``: the row that stores its hash."""
    level, index = subtree
    return ((index + 1) << level) - 1


def subtrees_of_range(lo: int, hi: int) -> list[Subtree]:
    """The perfect subtrees tiling ``[lo, hi)``, left to right, each as large as alignment allows.

    For the ranges that occur in an RFC 9162 tree (``lo`` a multiple of a power of two at
    least ``hi - lo``) this is the binary decomposition of ``hi - lo``, and the range's MTH
    is the right fold of these subtrees' hashes.
    """
    if not 0 <= lo < hi:
        raise ValueError(f"empty or negative range [{lo}, {hi})")
    out: list[Subtree] = []
    while lo < hi:
        # The largest level allowed by lo's alignment (lo == 0 is aligned to everything)
        # and by the remaining length.
        level = (hi - lo).bit_length() - 1
        if lo:
            level = min(level, (lo & -lo).bit_length() - 1)
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def range_hash(lo: int, hi: int, hashes: Mapping[Subtree, bytes]) -> bytes:
    """MTH of leaves ``[lo, hi)`` from the hashes of the perfect subtrees tiling it."""
    parts = [hashes[s] for s in subtrees_of_range(lo, hi)]
    acc = parts[-1]
    for part in reversed(parts[:-1]):
        acc = node_hash(part, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form ``PATH(index, D[size])`` (RFC 9162 §2.1.3.1), leaf first.

    ``PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])`` when ``m < k``, else
    ``PATH(m - k, D[k:n]) : MTH(D[0:k])``; walking down from the root collects the
    siblings root first, so the list is reversed at the end.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    lo, hi = 0, size
    path: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = _split_point(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form ``PROOF(m, D[n])`` (RFC 9162 §2.1.4.1), in proof order.

    ``SUBPROOF(m, D[m], true) = {}``; ``SUBPROOF(m, D[m], false) = {MTH(D[m])}``; for
    ``m < n``: ``SUBPROOF(m, D[0:k], b) : MTH(D[k:n])`` when ``m <= k``, else
    ``SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])``. Empty when ``m`` is 0 or ``m == n``.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    lo, hi, m, whole = 0, new_size, old_size, True
    out: list[tuple[int, int]] = []
    while m != hi - lo:
        k = _split_point(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        out.append((lo, hi))
    out.reverse()
    return out


class Frontier:
    """The perfect subtrees tiling ``[0, size)``: enough state to append and to compute the root.

    Appending leaf ``n`` completes one perfect subtree per trailing one bit of ``n``; their
    hashes, levels 1, 2, … in order, are returned as one byte string (32 bytes each) that
    the store keeps beside the leaf (the ``node_hashes`` column).
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int, hashes: Sequence[bytes]) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} subtrees, not {len(hashes)}")
        self.size = size
        self._hashes = list(hashes)

    @staticmethod
    def subtrees(size: int) -> list[Subtree]:
        """The perfect subtrees whose hashes make up the frontier of ``size``."""
        return subtrees_of_range(0, size) if size else []

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The subtree hashes, largest subtree first (a copy: the frontier stays private)."""
        return tuple(self._hashes)

    def push(self, leaf: bytes) -> bytes:
        """Append one leaf hash; return the hashes of the subtrees it completes (levels 1, 2, …)."""
        hashes = self._hashes
        completed: list[bytes] = []
        acc = leaf
        n = self.size
        while n & 1:
            acc = _sha256(_NODE_PREFIX + hashes.pop() + acc).digest()
            completed.append(acc)
            n >>= 1
        hashes.append(acc)
        self.size += 1
        return b"".join(completed)

    def root(self) -> bytes:
        """MTH of the whole tree: the right fold of the frontier's subtree hashes."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        acc = hashes[-1]
        for part in reversed(hashes[:-1]):
            acc = _sha256(_NODE_PREFIX + part + acc).digest()  # node_hash, inline: every append does this
        return acc

    def copy(self) -> Frontier:
        return Frontier(self.size, self._hashes)


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 inclusion proof: the audit path of leaf ``index`` in the tree of ``tree_size``."""

    index: int
    tree_size: int
    hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 consistency proof: the tree of ``old_size`` is a prefix of the tree of ``new_size``."""

    old_size: int
    new_size: int
    hashes: tuple[bytes, ...]


def _check_hashes(what: str, values: Iterable[bytes]) -> None:
    for value in values:
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise AuditIntegrityError(f"{what} is not a {HASH_SIZE}-byte SHA-256 hash")


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> None:
    """Raise :class:`AuditIntegrityError` unless ``leaf`` is at ``proof.index`` in the tree with ``root``.

    ``leaf`` is the leaf *hash* (see :func:`leaf_hash`). RFC 9162 §2.1.3.2.
    """
    _check_hashes("the leaf hash", [leaf])
    _check_hashes("the root hash", [root])
    if len(proof.hashes) > MAX_PROOF_HASHES:
        raise AuditIntegrityError(f"inclusion proof has {len(proof.hashes)} hashes, over the limit")
    _check_hashes("an inclusion proof element", proof.hashes)
    # Step 1: the index must be inside the tree.
    if not 0 <= proof.index < proof.tree_size:
        raise AuditIntegrityError(f"leaf {proof.index} cannot be in a tree of size {proof.tree_size}")
    # Step 2-3.
    fn, sn = proof.index, proof.tree_size - 1
    r = leaf
    # Step 4.
    for p in proof.hashes:
        if sn == 0:  # 4a: the path is longer than the tree is deep.
            raise AuditIntegrityError("inclusion proof is longer than the tree allows")
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            while fn and not fn & 1:  # 4b ii
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    # Step 5.
    if sn != 0 or r != root:
        raise AuditIntegrityError(
            f"inclusion proof for leaf {proof.index} does not lead to the root of the tree of size {proof.tree_size}"
        )


def verify_consistency(proof: ConsistencyProof, old_root: bytes, new_root: bytes) -> None:
    """Raise :class:`AuditIntegrityError` unless the tree with ``old_root`` is a prefix of the one with ``new_root``.

    RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``; the trivial cases follow the usual
    convention: from size 0 anything is consistent (the proof must be empty), equal sizes
    need equal roots and an empty proof, and a smaller new size is never consistent.
    """
    _check_hashes("the old root hash", [old_root])
    _check_hashes("the new root hash", [new_root])
    if len(proof.hashes) > MAX_PROOF_HASHES:
        raise AuditIntegrityError(f"consistency proof has {len(proof.hashes)} hashes, over the limit")
    _check_hashes("a consistency proof element", proof.hashes)
    first, second = proof.old_size, proof.new_size
    if first < 0 or second < first:
        raise AuditIntegrityError(f"a tree of size {second} cannot extend a tree of size {first}")
    if first == second:
        if proof.hashes:
            raise AuditIntegrityError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise AuditIntegrityError(f"two different roots for the same tree size {first}: the log forked")
        return
    if first == 0:
        if proof.hashes:
            raise AuditIntegrityError("consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise AuditIntegrityError("the root of an empty tree must be SHA-256 of the empty string")
        return
    # Step 1.
    if not proof.hashes:
        raise AuditIntegrityError(f"consistency proof from size {first} to {second} is empty")
    path = list(proof.hashes)
    # Step 2: if first is an exact power of two, the old root is itself a node of the path.
    if first & (first - 1) == 0:
        path.insert(0, old_root)
    # Step 3-4.
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:  # 6a
            raise AuditIntegrityError("consistency proof is longer than the tree allows")
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:  # 6b iii
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    # Step 7.
    if sn != 0 or fr != old_root or sr != new_root:
        raise AuditIntegrityError(
            f"the log of size {second} is not an extension of the log of size {first}: "
            "the consistency proof does not verify"
        )


def hashes_for(ranges: Iterable[tuple[int, int]]) -> set[Subtree]:
    """Every perfect subtree needed to compute the MTHs of ``ranges``."""
    needed: set[Subtree] = set()
    for lo, hi in ranges:
        needed.update(subtrees_of_range(lo, hi))
    return needed
