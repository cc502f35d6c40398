"""RFC 9162 hashing and proofs: external vectors, and properties against a naive reference.

The reference below is RFC 9162 §2.1 transcribed recursively with no storage tricks; the
log's proofs (served from stored perfect-subtree hashes) must equal it for every size and
index, verify, and stop verifying after any corruption.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealgate.audit import (
    EMPTY_ROOT,
    AuditLog,
    ConsistencyProof,
    InclusionProof,
    leaf_hash,
    open_audit_log,
    verify_consistency,
    verify_inclusion,
)
from sealgate.audit._merkle import Frontier, consistency_ranges, inclusion_ranges, subtrees_of_range
from sealgate.errors import AuditIntegrityError, UsageError

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962_merkle.json").read_text())
LOG_SIZE = 70  # several non-power-of-two shapes; every proof up to this size is checked


# --- the naive reference (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1) --------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [ref_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], whole), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def ref_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    if m in (0, len(leaves)):
        return []
    return ref_subproof(m, leaves, True)


def _record(i: int) -> bytes:
    return json.dumps({"_type": "test/v1", "i": i}, separators=(",", ":"), sort_keys=True).encode()


@pytest.fixture(scope="module")
def filled_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AuditLog, list[bytes]]]:
    home = tmp_path_factory.mktemp("merkle")
    records = [_record(i) for i in range(LOG_SIZE)]
    with open_audit_log(home) as log:
        # Several batches, so frontiers are reloaded from storage between transactions.
        for start in range(0, LOG_SIZE, 13):
            log.append_canonical(records[start : start + 13], durable=False)
        yield log, [leaf_hash(r) for r in records]


# --- external vectors -------------------------------------------------------------------


def test_rfc6962_vector_roots_reproduced() -> None:
    frontier = Frontier(0, [])
    for leaf_hex, root_hex in zip(VECTORS["leaves"], VECTORS["roots"], strict=True):
        frontier.push(leaf_hash(bytes.fromhex(leaf_hex)))
        assert frontier.root().hex() == root_hex
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"{v['index']}-of-{v['size']}")
def test_rfc6962_vector_inclusion_proofs_generated_and_verified(tmp_path: Path, vector: dict[str, object]) -> None:
    leaves = [bytes.fromhex(h) for h in VECTORS["leaves"]]
    index, size = int(vector["index"]), int(vector["size"])  # type: ignore[call-overload]
    expected = tuple(bytes.fromhex(h) for h in vector["proof"])  # type: ignore[attr-defined]
    root = bytes.fromhex(VECTORS["roots"][size - 1])
    with open_audit_log(tmp_path) as log:
        # The vectors' leaves are not JSON; append them straight to the store.
        log._store.append(leaves, durable=False)
        proof = log.inclusion_proof(index, size)
    assert proof.hashes == expected
    verify_inclusion(leaf_hash(leaves[index]), proof, root)


@pytest.mark.parametrize("vector", VECTORS["consistency"], ids=lambda v: f"{v['old']}-to-{v['new']}")
def test_rfc6962_vector_consistency_proofs_generated_and_verified(tmp_path: Path, vector: dict[str, object]) -> None:
    leaves = [bytes.fromhex(h) for h in VECTORS["leaves"]]
    old, new = int(vector["old"]), int(vector["new"])  # type: ignore[call-overload]
    expected = tuple(bytes.fromhex(h) for h in vector["proof"])  # type: ignore[attr-defined]
    with open_audit_log(tmp_path) as log:
        log._store.append(leaves, durable=False)
        proof = log.consistency_proof(old, new)
    assert proof.hashes == expected
    verify_consistency(proof, bytes.fromhex(VECTORS["roots"][old - 1]), bytes.fromhex(VECTORS["roots"][new - 1]))


# The same probes as transparency-dev/merkle's corruptInclusionProof/corruptConsistencyProof
# (proof/verify_test.go). A size off by one is not among them on purpose: RFC 9162 proofs do
# not always change with it (the root still binds the content).
def _corrupted_inclusion(proof: InclusionProof) -> Iterator[InclusionProof]:
    yield InclusionProof(proof.index + 1, proof.tree_size, proof.hashes)
    if proof.index:
        yield InclusionProof(proof.index - 1, proof.tree_size, proof.hashes)
    if proof.index ^ 2 != proof.index and proof.index ^ 2 < proof.tree_size:
        yield InclusionProof(proof.index ^ 2, proof.tree_size, proof.hashes)
    yield InclusionProof(proof.index, proof.tree_size * 2, proof.hashes)
    yield InclusionProof(proof.index, proof.tree_size // 2, proof.hashes)
    yield InclusionProof(proof.index, proof.tree_size, (*proof.hashes, EMPTY_ROOT))
    yield InclusionProof(proof.index, proof.tree_size, (EMPTY_ROOT, *proof.hashes))
    if proof.hashes:
        yield InclusionProof(proof.index, proof.tree_size, proof.hashes[:-1])
    for i in range(len(proof.hashes)):
        flipped = bytes([proof.hashes[i][0] ^ 8]) + proof.hashes[i][1:]
        yield InclusionProof(proof.index, proof.tree_size, (*proof.hashes[:i], flipped, *proof.hashes[i + 1 :]))


def _corrupted_consistency(proof: ConsistencyProof) -> Iterator[ConsistencyProof]:
    yield ConsistencyProof(proof.old_size - 1, proof.new_size, proof.hashes)
    yield ConsistencyProof(proof.old_size + 1, proof.new_size, proof.hashes)
    if proof.old_size ^ 2 != proof.old_size:
        yield ConsistencyProof(proof.old_size ^ 2, proof.new_size, proof.hashes)
    yield ConsistencyProof(proof.old_size, proof.new_size * 2, proof.hashes)
    yield ConsistencyProof(proof.old_size, proof.new_size // 2, proof.hashes)
    yield ConsistencyProof(proof.old_size, proof.new_size, ())
    yield ConsistencyProof(proof.old_size, proof.new_size, (*proof.hashes, EMPTY_ROOT))
    yield ConsistencyProof(proof.old_size, proof.new_size, (EMPTY_ROOT, *proof.hashes))
    yield ConsistencyProof(proof.old_size, proof.new_size, proof.hashes[:-1])
    for i in range(len(proof.hashes)):
        flipped = bytes([proof.hashes[i][0] ^ 16]) + proof.hashes[i][1:]
        yield ConsistencyProof(proof.old_size, proof.new_size, (*proof.hashes[:i], flipped, *proof.hashes[i + 1 :]))


def test_rfc6962_vector_corrupted_proofs_rejected() -> None:
    leaves = [leaf_hash(bytes.fromhex(h)) for h in VECTORS["leaves"]]
    for vector in VECTORS["inclusion"]:
        proof = InclusionProof(vector["index"], vector["size"], tuple(bytes.fromhex(h) for h in vector["proof"]))
        root = bytes.fromhex(VECTORS["roots"][vector["size"] - 1])
        for bad in _corrupted_inclusion(proof):
            with pytest.raises(AuditIntegrityError):
                verify_inclusion(leaves[vector["index"]], bad, root)
        with pytest.raises(AuditIntegrityError):
            verify_inclusion(leaves[vector["index"]], proof, EMPTY_ROOT)
    for vector in VECTORS["consistency"]:
        cproof = ConsistencyProof(vector["old"], vector["new"], tuple(bytes.fromhex(h) for h in vector["proof"]))
        if not cproof.hashes:
            continue
        old_root = bytes.fromhex(VECTORS["roots"][vector["old"] - 1])
        new_root = bytes.fromhex(VECTORS["roots"][vector["new"] - 1])
        for cbad in _corrupted_consistency(cproof):
            with pytest.raises(AuditIntegrityError):
                verify_consistency(cbad, old_root, new_root)
        with pytest.raises(AuditIntegrityError):
            verify_consistency(cproof, new_root, old_root)


def test_trivial_consistency_cases_follow_the_convention() -> None:
    root = leaf_hash(b"x")
    verify_consistency(ConsistencyProof(0, 0, ()), EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(ConsistencyProof(0, 5, ()), EMPTY_ROOT, root)
    verify_consistency(ConsistencyProof(3, 3, ()), root, root)
    with pytest.raises(AuditIntegrityError, match="forked"):
        verify_consistency(ConsistencyProof(3, 3, ()), root, EMPTY_ROOT)
    with pytest.raises(AuditIntegrityError):
        verify_consistency(ConsistencyProof(3, 3, (root,)), root, root)
    with pytest.raises(AuditIntegrityError):
        verify_consistency(ConsistencyProof(0, 5, (root,)), EMPTY_ROOT, root)
    with pytest.raises(AuditIntegrityError):
        verify_consistency(ConsistencyProof(4, 3, ()), root, root)
    with pytest.raises(AuditIntegrityError):
        verify_inclusion(root, InclusionProof(0, 0, ()), root)


def test_oversized_proof_refused_before_hashing() -> None:
    root = leaf_hash(b"x")
    with pytest.raises(AuditIntegrityError, match="over the limit"):
        verify_inclusion(root, InclusionProof(0, 2, (root,) * 200), root)
    with pytest.raises(AuditIntegrityError, match="32-byte"):
        verify_inclusion(root, InclusionProof(0, 2, (b"short",)), root)


# --- properties against the reference ---------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 5000), st.integers(1, 5000))
def test_subtree_tiling_covers_rfc_ranges_exactly(lo_seed: int, size: int) -> None:
    for lo, hi in [(0, size), *inclusion_ranges(lo_seed % size, size), *consistency_ranges(lo_seed % size, size)]:
        tiles = subtrees_of_range(lo, hi)
        covered = [leaf for level, index in tiles for leaf in range(index << level, (index + 1) << level)]
        assert covered == list(range(lo, hi))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_inclusion_proofs_match_reference_and_verify(
    filled_log: tuple[AuditLog, list[bytes]], data: st.DataObject
) -> None:
    log, leaves = filled_log
    size = data.draw(st.integers(1, LOG_SIZE), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root = ref_mth(leaves[:size])
    assert log.root_hash(size) == root
    proof = log.inclusion_proof(index, size)
    assert list(proof.hashes) == ref_path(index, leaves[:size])
    verify_inclusion(leaves[index], proof, root)
    for bad in _corrupted_inclusion(proof):
        with pytest.raises(AuditIntegrityError):
            verify_inclusion(leaves[index], bad, root)
    other = data.draw(st.integers(0, LOG_SIZE - 1).filter(lambda i: i != index), label="other leaf")
    with pytest.raises(AuditIntegrityError):
        verify_inclusion(leaves[other], proof, root)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_consistency_proofs_match_reference_and_verify(
    filled_log: tuple[AuditLog, list[bytes]], data: st.DataObject
) -> None:
    log, leaves = filled_log
    new = data.draw(st.integers(0, LOG_SIZE), label="new size")
    old = data.draw(st.integers(0, new), label="old size")
    proof = log.consistency_proof(old, new)
    assert list(proof.hashes) == ref_proof(old, leaves[:new])
    old_root, new_root = ref_mth(leaves[:old]), ref_mth(leaves[:new])
    verify_consistency(proof, old_root, new_root)
    if 0 < old < new:
        for bad in _corrupted_consistency(proof):
            with pytest.raises(AuditIntegrityError):
                verify_consistency(bad, old_root, new_root)
        # A different history of the same sizes is not consistent.
        forged = [*leaves[: old - 1], leaf_hash(b"forged"), *leaves[old:new]]
        with pytest.raises(AuditIntegrityError):
            verify_consistency(proof, ref_mth(forged[:old]), new_root)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=40))
def test_frontier_root_equals_reference_for_any_leaves(data: list[bytes]) -> None:
    leaves = [leaf_hash(d) for d in data]
    frontier = Frontier(0, [])
    for i, leaf in enumerate(leaves):
        frontier.push(leaf)
        assert frontier.root() == ref_mth(leaves[: i + 1])


def test_proof_requests_beyond_the_log_are_usage_errors(filled_log: tuple[AuditLog, list[bytes]]) -> None:
    log, _ = filled_log
    with pytest.raises(UsageError):
        log.inclusion_proof(LOG_SIZE, LOG_SIZE)
    with pytest.raises(UsageError):
        log.inclusion_proof(0, LOG_SIZE + 1)
    with pytest.raises(UsageError):
        log.consistency_proof(5, 4)
    with pytest.raises(UsageError):
        log.root_hash(LOG_SIZE + 1)
