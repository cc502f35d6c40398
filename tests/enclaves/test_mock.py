"""Mock attestation: useful in development, refused unless asked for, never mistaken for DCAP."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from sealgate.crypto.keys import PrivateKey, generate_key
from sealgate.enclaves.binding import check_report_data, expected_report_data
from sealgate.enclaves.mock import (
    MOCK_MAGIC,
    MockEvidenceWarning,
    MockQuoteProvider,
    mock_sgx_report,
    mock_tdx_report,
    verify_mock_quote,
)
from sealgate.enclaves.quote import (
    KNOWN_TCB_STATUSES,
    AttestationError,
    GramineQuoteProvider,
    QuoteProvider,
    Tee,
    VerifiedQuote,
    verify_quote,
)
from sealgate.errors import Reason, UsageError

MRENCLAVE = "ab" * 32
MRSIGNER = "cd" * 32
MRTD = "ef" * 48
REPORT_DATA = bytes(range(64))


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return generate_key("ed25519")


@pytest.fixture(scope="module")
def sgx_provider(key: PrivateKey) -> MockQuoteProvider:
    return MockQuoteProvider(key, mock_sgx_report(mr_enclave=MRENCLAVE, mr_signer=MRSIGNER, isv_prod_id=7, isv_svn=3))


def _accept(quote: bytes, key: PrivateKey) -> VerifiedQuote:
    with pytest.warns(MockEvidenceWarning):
        return verify_mock_quote(quote, trusted_keys=[key.public], at=1, insecure_accept_mock=True)


def _refused(quote: bytes, key: PrivateKey, reason: Reason = Reason.QUOTE_INVALID) -> None:
    with pytest.raises(AttestationError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", MockEvidenceWarning)
        verify_mock_quote(quote, trusted_keys=[key.public], at=1, insecure_accept_mock=True)
    assert info.value.reason is reason


def test_mock_sgx_round_trip_carries_the_same_facts(sgx_provider: MockQuoteProvider, key: PrivateKey) -> None:
    quote = sgx_provider.get_quote(REPORT_DATA)
    assert quote.startswith(MOCK_MAGIC)
    verified = _accept(quote, key)
    assert verified.mock is True
    assert verified.tee is Tee.SGX and verified.sgx is not None and verified.tdx is None
    assert (verified.sgx.mr_enclave, verified.sgx.mr_signer) == (MRENCLAVE, MRSIGNER)
    assert (verified.sgx.isv_prod_id, verified.sgx.isv_svn) == (7, 3)
    assert verified.report_data == REPORT_DATA
    assert verified.debug is False
    assert verified.verified_at == 1


def test_mock_tdx_round_trip_carries_the_same_facts(key: PrivateKey) -> None:
    provider = MockQuoteProvider(key, mock_tdx_report(mr_td=MRTD, rtmr0="01" * 48))
    verified = _accept(provider.get_quote(REPORT_DATA), key)
    assert verified.mock is True and verified.tee is Tee.TDX and verified.tdx is not None
    assert (verified.tdx.mr_td, verified.tdx.rtmr0) == (MRTD, "01" * 48)
    assert verified.tdx.td_attributes == "0000001000000000"  # the real TDX sample's attributes
    assert verified.report_data == REPORT_DATA and verified.debug is False


def test_mock_debug_flag_survives_the_round_trip(key: PrivateKey) -> None:
    sgx = MockQuoteProvider(key, mock_sgx_report(mr_enclave=MRENCLAVE, mr_signer=MRSIGNER, debug=True))
    tdx = MockQuoteProvider(key, mock_tdx_report(mr_td=MRTD, debug=True))
    assert _accept(sgx.get_quote(REPORT_DATA), key).debug is True
    assert _accept(tdx.get_quote(REPORT_DATA), key).debug is True


def test_mock_evidence_is_impossible_to_miss(sgx_provider: MockQuoteProvider, key: PrivateKey) -> None:
    verified = _accept(sgx_provider.get_quote(REPORT_DATA), key)
    # A check that forgets `.mock` still meets a TCB status no policy knows.
    assert verified.tcb_status == "Mock" and verified.tcb_status not in KNOWN_TCB_STATUSES
    assert verified.qe_status.status == verified.platform_status.status == "Mock"
    assert repr(verified).startswith("VerifiedQuote(MOCK sgx")
    assert sgx_provider.mock is True and sgx_provider.name == "mock"


def test_mock_quote_refused_unless_explicitly_accepted(sgx_provider: MockQuoteProvider, key: PrivateKey) -> None:
    quote = sgx_provider.get_quote(REPORT_DATA)
    for accept in (False, 1, "yes", None):
        with pytest.raises(AttestationError) as info:
            verify_mock_quote(quote, trusted_keys=[key.public], at=1, insecure_accept_mock=accept)  # type: ignore[arg-type]
        assert info.value.reason is Reason.MOCK_EVIDENCE_REFUSED


def test_accepting_mock_evidence_warns_every_time(sgx_provider: MockQuoteProvider, key: PrivateKey) -> None:
    quote = sgx_provider.get_quote(REPORT_DATA)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(3):
            verify_mock_quote(quote, trusted_keys=[key.public], at=1, insecure_accept_mock=True)
    assert [w.category for w in seen] == [MockEvidenceWarning] * 3


def test_tampered_mock_quote_rejected(sgx_provider: MockQuoteProvider, key: PrivateKey) -> None:
    quote = sgx_provider.get_quote(REPORT_DATA)
    for offset in range(len(quote)):
        flipped = bytearray(quote)
        flipped[offset] ^= 1 << (offset % 8)
        _refused(bytes(flipped), key)


def test_truncated_or_extended_mock_quote_rejected(sgx_provider: MockQuoteProvider, key: PrivateKey) -> None:
    quote = sgx_provider.get_quote(REPORT_DATA)
    for size in (len(MOCK_MAGIC), 60, 100, len(quote) - 64, len(quote) - 1):
        _refused(quote[:size], key)
    _refused(quote + b"\0", key)


def test_mock_quote_signed_by_an_untrusted_key_rejected(key: PrivateKey) -> None:
    stranger = generate_key("ed25519")
    forged = MockQuoteProvider(stranger, mock_sgx_report(mr_enclave=MRENCLAVE, mr_signer=MRSIGNER))
    _refused(forged.get_quote(REPORT_DATA), key)


def test_dcap_verifier_refuses_a_mock_quote(sgx_provider: MockQuoteProvider) -> None:
    with pytest.raises(AttestationError) as info:
        verify_quote(sgx_provider.get_quote(REPORT_DATA), "{}", at=1750334171)
    assert info.value.reason is Reason.MOCK_EVIDENCE_REFUSED


def test_mock_verifier_refuses_a_dcap_quote(shared_vectors: Path, key: PrivateKey) -> None:
    real = (shared_vectors / "dcap" / "sgx_quote").read_bytes()
    _refused(real, key)


def test_mock_verifier_needs_trusted_ed25519_keys(sgx_provider: MockQuoteProvider, key: PrivateKey) -> None:
    quote = sgx_provider.get_quote(REPORT_DATA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MockEvidenceWarning)
        with pytest.raises(UsageError):
            verify_mock_quote(quote, trusted_keys=[], at=1, insecure_accept_mock=True)
        with pytest.raises(UsageError):
            verify_mock_quote(quote, trusted_keys=[generate_key("ecdsa-p256").public], at=1, insecure_accept_mock=True)


def test_mock_provider_refuses_bad_identities_and_report_data(key: PrivateKey) -> None:
    with pytest.raises(UsageError):
        mock_sgx_report(mr_enclave="ab", mr_signer=MRSIGNER)
    with pytest.raises(UsageError):
        mock_sgx_report(mr_enclave=MRENCLAVE, mr_signer=MRSIGNER, isv_svn=1 << 16)
    with pytest.raises(UsageError):
        mock_tdx_report(mr_td="zz" * 48)
    with pytest.raises(UsageError):
        MockQuoteProvider(generate_key("ecdsa-p256"), mock_sgx_report(mr_enclave=MRENCLAVE, mr_signer=MRSIGNER))
    provider = MockQuoteProvider(key, mock_sgx_report(mr_enclave=MRENCLAVE, mr_signer=MRSIGNER))
    for bad in (b"", bytes(63), bytes(65)):
        with pytest.raises(UsageError):
            provider.get_quote(bad)


def test_mock_quote_binds_a_challenge_like_a_real_one(sgx_provider: MockQuoteProvider, key: PrivateKey) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    spki = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    nonce = b"n" * 32
    verified = _accept(sgx_provider.get_quote(expected_report_data(nonce, spki)), key)
    check_report_data(verified.report_data, nonce=nonce, tls_spki_der=spki)
    with pytest.raises(AttestationError) as info:
        check_report_data(verified.report_data, nonce=b"m" * 32, tls_spki_der=spki)
    assert info.value.reason is Reason.REPORT_DATA_MISMATCH


def test_providers_share_the_quote_provider_interface(sgx_provider: MockQuoteProvider, tmp_path: Path) -> None:
    providers: list[QuoteProvider] = [sgx_provider, GramineQuoteProvider(tmp_path)]
    assert [(p.name, p.mock) for p in providers] == [("mock", True), ("gramine", False)]
