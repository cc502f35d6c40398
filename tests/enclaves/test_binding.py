"""Report-data binding: a quote made for another nonce (replay) or another TLS key (relay) is refused.

The expected values are computed here independently with hashlib from the documented
formula, and one known answer is pinned as hex so the formula cannot drift silently.
"""

from __future__ import annotations

import hashlib

import pytest

from sealgate.enclaves.binding import (
    BINDING_DOMAIN,
    MAX_NONCE_BYTES,
    MIN_NONCE_BYTES,
    check_report_data,
    expected_report_data,
)
from sealgate.enclaves.quote import AttestationError
from sealgate.errors import Reason, UsageError


def _spki(seed: int) -> bytes:
    """A real DER SubjectPublicKeyInfo (P-256), deterministic per seed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.derive_private_key(seed, ec.SECP256R1())
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


NONCE = bytes(range(32))
SPKI = _spki(1)

# sha256(b"sealgate-ra-v1" + bytes(range(32)) + sha256(SPKI of P-256 key 1)) + 32 zero bytes.
KNOWN_ANSWER = "b083871867421f90f212721f841e625a91ebbae7cbdd8807e676e3b3ed4658f5" + "00" * 32


def _independent(nonce: bytes, spki: bytes) -> bytes:
    inner = hashlib.sha256(spki).digest()
    return hashlib.sha256(b"sealgate-ra-v1" + nonce + inner).digest() + b"\x00" * 32


def _mismatch(report_data: bytes, **kwargs: bytes) -> None:
    with pytest.raises(AttestationError) as info:
        check_report_data(report_data, **kwargs)
    assert info.value.reason is Reason.REPORT_DATA_MISMATCH


def test_binding_formula_matches_an_independent_computation() -> None:
    assert BINDING_DOMAIN == b"sealgate-ra-v1"
    for nonce in (NONCE, b"\xff" * MIN_NONCE_BYTES, bytes(MAX_NONCE_BYTES)):
        for spki in (SPKI, _spki(2)):
            assert expected_report_data(nonce, spki) == _independent(nonce, spki)


def test_binding_known_answer() -> None:
    assert expected_report_data(NONCE, SPKI).hex() == KNOWN_ANSWER


def test_second_half_of_report_data_is_zero() -> None:
    assert expected_report_data(NONCE, SPKI)[32:] == bytes(32)


def test_bound_report_data_accepted() -> None:
    check_report_data(_independent(NONCE, SPKI), nonce=NONCE, tls_spki_der=SPKI)


def test_replayed_quote_with_another_nonce_rejected() -> None:
    old = _independent(b"\x01" * 32, SPKI)
    _mismatch(old, nonce=NONCE, tls_spki_der=SPKI)


def test_relayed_quote_bound_to_another_tls_key_rejected() -> None:
    relayed = _independent(NONCE, _spki(2))
    _mismatch(relayed, nonce=NONCE, tls_spki_der=SPKI)


def test_nonzero_reserved_half_rejected() -> None:
    good = _independent(NONCE, SPKI)
    for index in range(32, 64):
        tampered = bytearray(good)
        tampered[index] = 1
        _mismatch(bytes(tampered), nonce=NONCE, tls_spki_der=SPKI)


def test_every_flipped_bit_of_bound_report_data_rejected() -> None:
    good = _independent(NONCE, SPKI)
    for bit in range(64 * 8):
        tampered = bytearray(good)
        tampered[bit // 8] ^= 1 << (bit % 8)
        _mismatch(bytes(tampered), nonce=NONCE, tls_spki_der=SPKI)


@pytest.mark.parametrize("size", [0, 32, 63, 65, 128])
def test_report_data_of_the_wrong_length_rejected(size: int) -> None:
    _mismatch(_independent(NONCE, SPKI)[:size].ljust(size, b"\0"), nonce=NONCE, tls_spki_der=SPKI)


def test_exact_report_data_compared_as_given() -> None:
    exact = b"Hello, world!" + bytes(51)  # the SGX sample's report data
    check_report_data(exact, exact=exact)
    _mismatch(b"Hello, world?" + bytes(51), exact=exact)
    _mismatch(exact[:63] + b"\x01", exact=exact)


def test_domain_prefix_is_not_optional() -> None:
    # The same hash without the prefix (another protocol's binding) does not pass.
    foreign = hashlib.sha256(NONCE + hashlib.sha256(SPKI).digest()).digest() + bytes(32)
    _mismatch(foreign, nonce=NONCE, tls_spki_der=SPKI)


@pytest.mark.parametrize("size", [0, 1, MIN_NONCE_BYTES - 1, MAX_NONCE_BYTES + 1, 1024])
def test_nonce_length_outside_16_to_64_bytes_refused(size: int) -> None:
    with pytest.raises(UsageError):
        expected_report_data(bytes(size), SPKI)


def test_nonce_length_bounds_accepted() -> None:
    for size in (MIN_NONCE_BYTES, MAX_NONCE_BYTES):
        assert len(expected_report_data(bytes(size), SPKI)) == 64


@pytest.mark.parametrize("spki", [b"", b"\x04" + bytes(64), bytes(17 * 1024)])
def test_tls_key_must_look_like_der_spki(spki: bytes) -> None:
    with pytest.raises(UsageError):
        expected_report_data(NONCE, spki)


def test_checking_needs_exactly_one_kind_of_expectation() -> None:
    good = _independent(NONCE, SPKI)
    for kwargs in ({}, {"nonce": NONCE}, {"tls_spki_der": SPKI}, {"exact": good, "nonce": NONCE}):
        with pytest.raises(UsageError):
            check_report_data(good, **kwargs)
    with pytest.raises(UsageError):
        check_report_data(good, exact=good[:32])


def test_non_bytes_inputs_refused() -> None:
    with pytest.raises(UsageError):
        expected_report_data(bytearray(NONCE), SPKI)  # type: ignore[arg-type]
    with pytest.raises(AttestationError):
        check_report_data(bytearray(_independent(NONCE, SPKI)), nonce=NONCE, tls_spki_der=SPKI)  # type: ignore[arg-type]
