"""DCAP quote verification with Intel's real SGX and TDX quotes and collateral.

The vectors are ../shared/vectors/dcap/ (Phala-Network/dcap-qvl sample/, MIT; provenance and
known facts in that folder's README). Each test is named after the attack or mistake it
blocks: expired collateral, a look-alike root CA, a flipped byte in the signed region,
truncated or garbage evidence.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sealgate.enclaves import quote as quote_module
from sealgate.enclaves.intel_root import INTEL_SGX_ROOT_CA_DER, INTEL_SGX_ROOT_CA_SHA256
from sealgate.enclaves.quote import (
    KNOWN_TCB_STATUSES,
    MAX_QUOTE_BYTES,
    MOCK_QUOTE_MAGIC,
    AttestationError,
    Tee,
    VerifiedQuote,
    verify_quote,
)
from sealgate.errors import Reason, UsageError, VerificationError

SGX_AT = 1750334171  # an hour after the SGX TCB info's issue date (vectors README)
TDX_AT = 1750331763  # an hour after the TDX TCB info's issue date (vectors README)
SGX_WINDOW = (1750330571, 1752919278)  # TCB info issueDate .. QE identity nextUpdate

MRENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
MRSIGNER = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
MRTD = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
RTMR0 = "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0"
SHA256 = {
    "sgx_quote": "f8b81014b6e443609746822194910f5dc1c92c322fa0584298d1e33e505ca3b5",
    "sgx_quote_collateral.json": "bdd694bbe50f3a2a1cfe12f9e2bd83125921107a368edcf10780a5523b8501ce",
    "tdx_quote": "c42f9164325024bca2757bc8819b11879a0a369132ea4e2b7c85df4805ea72db",
    "tdx_quote_collateral.json": "b0a5f5fd620a8881b1eda45261fdf30dd930b49aff93231556645c81fcb4c0bc",
}

# Layout (little-endian; Intel's quote format, checked below against the QE report hash):
# header 48 + body (SGX 384, TDX TD10 584) is what the attestation key signs; then a u32
# auth-data length, the 64-byte ISV signature, the 64-byte attestation key, (TDX only: a
# u16 certification type 6 and u32 size), the 384-byte QE report and its 64-byte signature.
LAYOUT = {
    "sgx": {"signed": 432, "qe_report": 564},
    "tdx": {"signed": 632, "qe_report": 770},
}


@pytest.fixture
def dcap(shared_vectors: Path) -> Path:
    return shared_vectors / "dcap"


@pytest.fixture
def sgx(dcap: Path) -> tuple[bytes, str]:
    return (dcap / "sgx_quote").read_bytes(), (dcap / "sgx_quote_collateral.json").read_text()


@pytest.fixture
def tdx(dcap: Path) -> tuple[bytes, str]:
    return (dcap / "tdx_quote").read_bytes(), (dcap / "tdx_quote_collateral.json").read_text()


def _reason(quote: bytes, collateral: str | bytes, at: int) -> Reason:
    with pytest.raises(AttestationError) as info:
        verify_quote(quote, collateral, at=at)
    assert isinstance(info.value, VerificationError)
    return info.value.reason


# --- the vectors and their facts -------------------------------------------------------------


def test_vectors_are_the_published_files(dcap: Path) -> None:
    for name, digest in SHA256.items():
        assert hashlib.sha256((dcap / name).read_bytes()).hexdigest() == digest, name


def test_sgx_quote_verifies_inside_its_collateral_window_with_the_readme_facts(sgx: tuple[bytes, str]) -> None:
    verified = verify_quote(*sgx, at=SGX_AT)
    assert verified.tee is Tee.SGX and verified.sgx is not None and verified.tdx is None
    assert verified.mock is False and verified.debug is False
    assert verified.tcb_status == "ConfigurationAndSWHardeningNeeded"
    assert verified.tcb_status in KNOWN_TCB_STATUSES
    assert verified.advisory_ids == ("INTEL-SA-00289", "INTEL-SA-00615")
    assert verified.sgx.mr_enclave == MRENCLAVE
    assert verified.sgx.mr_signer == MRSIGNER
    assert (verified.sgx.isv_prod_id, verified.sgx.isv_svn) == (0, 0)
    assert verified.sgx.attributes == "0500000000000000e700000000000000"  # INIT|MODE64BIT, no DEBUG
    assert verified.report_data == b"Hello, world!" + bytes(51)
    assert (verified.qe_status.status, verified.qe_status.advisory_ids) == ("UpToDate", ())
    assert verified.platform_status.status == "ConfigurationAndSWHardeningNeeded"
    assert verified.platform_status.advisory_ids == ("INTEL-SA-00289", "INTEL-SA-00615")
    assert verified.verified_at == SGX_AT


def test_sgx_identity_is_the_signed_bytes_of_the_quote(sgx: tuple[bytes, str]) -> None:
    # The identity comes from dcap-qvl's verified report; it must be the bytes the
    # attestation key signed (offsets: vectors notes), not anything outside that region.
    raw = sgx[0]
    verified = verify_quote(*sgx, at=SGX_AT)
    assert verified.sgx is not None
    assert raw[112:144].hex() == verified.sgx.mr_enclave
    assert raw[176:208].hex() == verified.sgx.mr_signer
    assert raw[96:112].hex() == verified.sgx.attributes
    assert struct.unpack_from("<HH", raw, 304) == (verified.sgx.isv_prod_id, verified.sgx.isv_svn)
    assert raw[368:432] == verified.report_data


def test_tdx_quote_verifies_inside_its_collateral_window_with_the_readme_facts(tdx: tuple[bytes, str]) -> None:
    verified = verify_quote(*tdx, at=TDX_AT)
    assert verified.tee is Tee.TDX and verified.tdx is not None and verified.sgx is None
    assert verified.mock is False and verified.debug is False
    assert verified.tcb_status == "UpToDate" and verified.advisory_ids == ()
    assert verified.tdx.mr_td == MRTD
    assert verified.tdx.rtmr0 == RTMR0
    assert verified.tdx.td_attributes == "0000001000000000"  # SEPT_VE_DISABLE, no DEBUG
    assert verified.tdx.tee_tcb_svn2 is None and verified.tdx.mr_service_td is None
    raw = tdx[0]
    assert raw[48 + 136 : 48 + 184].hex() == verified.tdx.mr_td
    assert raw[48 + 520 : 48 + 584] == verified.report_data


def test_both_ends_of_the_collateral_window_verify(sgx: tuple[bytes, str]) -> None:
    for at in SGX_WINDOW:
        assert verify_quote(*sgx, at=at).tcb_status == "ConfigurationAndSWHardeningNeeded"


def test_collateral_given_as_bytes_verifies(sgx: tuple[bytes, str]) -> None:
    assert verify_quote(sgx[0], sgx[1].encode(), at=SGX_AT).sgx is not None


def test_known_tcb_statuses_are_intels_seven() -> None:
    assert frozenset(
        {
            "UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
            "OutOfDate", "OutOfDateConfigurationNeeded", "Revoked",
        }
    ) == KNOWN_TCB_STATUSES  # fmt: skip


# --- expired collateral --------------------------------------------------------------------


def test_expired_collateral_now_rejected(sgx: tuple[bytes, str], tdx: tuple[bytes, str]) -> None:
    now = int(time.time())
    assert _reason(*sgx, now) is Reason.COLLATERAL_EXPIRED
    assert _reason(*tdx, now) is Reason.COLLATERAL_EXPIRED


def test_collateral_outside_its_window_rejected(sgx: tuple[bytes, str], tdx: tuple[bytes, str]) -> None:
    assert _reason(*sgx, SGX_WINDOW[0] - 1) is Reason.COLLATERAL_EXPIRED  # TCB info not yet issued
    assert _reason(*sgx, SGX_WINDOW[1] + 1) is Reason.COLLATERAL_EXPIRED  # QE identity expired
    assert _reason(*sgx, 0) is Reason.COLLATERAL_EXPIRED
    assert _reason(*tdx, TDX_AT - 7200) is Reason.COLLATERAL_EXPIRED


def test_expiry_message_names_what_expired(sgx: tuple[bytes, str]) -> None:
    with pytest.raises(AttestationError, match="QE identity expired at 2025-07-19T10:01:18Z"):
        verify_quote(*sgx, at=SGX_WINDOW[1] + 1)


def test_der_reader_agrees_with_pyca_on_every_certificate_and_crl(
    sgx: tuple[bytes, str], tdx: tuple[bytes, str]
) -> None:
    from cryptography import x509

    for raw, text in (sgx, tdx):
        collateral = json.loads(text)
        for name in ("root_ca_crl", "pck_crl"):
            der = bytes.fromhex(collateral[name])
            crl = x509.load_der_x509_crl(der)
            assert crl.next_update_utc is not None
            expected = (int(crl.last_update_utc.timestamp()), int(crl.next_update_utc.timestamp()))
            assert quote_module._crl_window(der) == expected
        pems = [collateral[name].encode() for name in quote_module._COLLATERAL_CHAINS]
        pems.append(raw[raw.index(b"-----BEGIN") :])
        for pem in pems:
            for der in quote_module._pem_chain(pem, what="test", reason=Reason.QUOTE_INVALID):
                cert = x509.load_der_x509_certificate(der)
                expected = (int(cert.not_valid_before_utc.timestamp()), int(cert.not_valid_after_utc.timestamp()))
                assert quote_module._cert_window(der) == expected


# --- a look-alike root CA ------------------------------------------------------------------


def _look_alike_root_pem() -> str:
    """A self-signed certificate with the Intel root's subject, serial, dates and extensions, and another key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    real = x509.load_der_x509_certificate(INTEL_SGX_ROOT_CA_DER)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.issuer)
        .public_key(key.public_key())
        .serial_number(real.serial_number)
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
    )
    for ext in real.extensions:
        value = ext.value
        if isinstance(value, x509.SubjectKeyIdentifier):
            value = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        elif isinstance(value, x509.AuthorityKeyIdentifier):
            value = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
        builder = builder.add_extension(value, ext.critical)
    fake = builder.sign(key, hashes.SHA256())
    assert fake.subject == real.subject and fake.public_key() != real.public_key()
    return fake.public_bytes(serialization.Encoding.PEM).decode()


def _real_root_pem(collateral: dict[str, str]) -> str:
    chain = collateral["tcb_info_issuer_chain"]
    start = chain.rindex("-----BEGIN CERTIFICATE-----")
    return chain[start : chain.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")] + "\n"


def _with_pck_chain(raw: bytes, chain: bytes) -> bytes:
    """The SGX v3 quote with another certification data body (type 5), lengths fixed up."""
    cert_at = 564 + 384 + 64 + 2 + struct.unpack_from("<H", raw, 564 + 384 + 64)[0]
    assert struct.unpack_from("<H", raw, cert_at)[0] == 5
    auth = raw[436:cert_at] + struct.pack("<HI", 5, len(chain)) + chain
    return raw[:432] + struct.pack("<I", len(auth)) + auth


def test_pinned_root_is_intels_published_certificate() -> None:
    assert hashlib.sha256(INTEL_SGX_ROOT_CA_DER).hexdigest() == INTEL_SGX_ROOT_CA_SHA256
    assert INTEL_SGX_ROOT_CA_SHA256 == "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"


def test_look_alike_root_passes_dcap_qvl_alone(sgx: tuple[bytes, str]) -> None:
    # Why sealgate checks the chains itself: dcap-qvl verifies against its compiled-in root
    # and does not look at the root certificate the collateral carries.
    import dcap_qvl

    collateral = json.loads(sgx[1])
    real, fake = _real_root_pem(collateral), _look_alike_root_pem()
    for name in quote_module._COLLATERAL_CHAINS:
        collateral[name] = collateral[name].replace(real, fake)
    report = dcap_qvl.verify(sgx[0], dcap_qvl.QuoteCollateralV3.from_json(json.dumps(collateral)), SGX_AT)
    assert report.status == "ConfigurationAndSWHardeningNeeded"


@pytest.mark.parametrize("chain", ["pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain"])
def test_look_alike_root_ca_in_collateral_rejected(sgx: tuple[bytes, str], chain: str) -> None:
    collateral = json.loads(sgx[1])
    real, fake = _real_root_pem(collateral), _look_alike_root_pem()
    assert real in collateral[chain]
    collateral[chain] = collateral[chain].replace(real, fake)
    assert _reason(sgx[0], json.dumps(collateral), SGX_AT) is Reason.ROOT_CA_MISMATCH


def test_look_alike_root_ca_in_the_quotes_pck_chain_rejected(sgx: tuple[bytes, str]) -> None:
    raw = sgx[0]
    real = _real_root_pem(json.loads(sgx[1])).encode()
    chain = raw[raw.index(b"-----BEGIN") :]
    assert real in chain
    genuine = _with_pck_chain(raw, chain)
    assert verify_quote(genuine, sgx[1], at=SGX_AT).sgx is not None  # the rebuild itself is sound
    forged = _with_pck_chain(raw, chain.replace(real, _look_alike_root_pem().encode()))
    assert _reason(forged, sgx[1], SGX_AT) is Reason.ROOT_CA_MISMATCH


def test_chain_without_its_root_rejected(sgx: tuple[bytes, str]) -> None:
    collateral = json.loads(sgx[1])
    real = _real_root_pem(collateral)
    collateral["tcb_info_issuer_chain"] = collateral["tcb_info_issuer_chain"].replace(real, "")
    assert _reason(sgx[0], json.dumps(collateral), SGX_AT) is Reason.ROOT_CA_MISMATCH


def test_extra_certificate_smuggled_before_the_root_rejected(sgx: tuple[bytes, str]) -> None:
    collateral = json.loads(sgx[1])
    real = _real_root_pem(collateral)
    collateral["qe_identity_issuer_chain"] = collateral["qe_identity_issuer_chain"].replace(
        real, _look_alike_root_pem() + real
    )
    assert _reason(sgx[0], json.dumps(collateral), SGX_AT) is Reason.COLLATERAL_INVALID


@pytest.mark.parametrize(
    "edit",
    [
        lambda pem: pem.replace("-----BEGIN CERTIFICATE-----", "-----BEGIN X509 CRL-----", 1),
        lambda pem: "junk\n" + pem,
        lambda pem: pem.replace("-----END CERTIFICATE-----\n", "-----END CERTIFICATE-----\nnot pem\n", 1),
        lambda pem: pem.replace("M", "*", 1),
        lambda pem: pem[: len(pem) // 2],
    ],
    ids=["other-label", "leading-text", "text-between", "bad-base64", "unterminated"],
)
def test_pem_chain_that_parsers_could_read_differently_rejected(sgx: tuple[bytes, str], edit: object) -> None:
    collateral = json.loads(sgx[1])
    assert callable(edit)
    collateral["tcb_info_issuer_chain"] = edit(collateral["tcb_info_issuer_chain"])
    assert _reason(sgx[0], json.dumps(collateral), SGX_AT) is Reason.COLLATERAL_INVALID


# --- flipped bytes in the signed region ------------------------------------------------------


def _signed_offsets(raw: bytes, tee: str) -> list[int]:
    """Every offset the quote's signatures cover, directly or through the QE report hash."""
    layout = LAYOUT[tee]
    signed, qe = layout["signed"], layout["qe_report"]
    # The layout is right: SHA-256(attestation key || QE auth data) is in the QE report data.
    key = raw[signed + 4 + 64 : signed + 4 + 128]
    auth_len = struct.unpack_from("<H", raw, qe + 448)[0]
    auth = raw[qe + 450 : qe + 450 + auth_len]
    assert hashlib.sha256(key + auth).digest() == raw[qe + 320 : qe + 352]
    return [
        *range(signed),  # header and report body: the ISV signature covers them
        *range(signed + 4, signed + 4 + 128),  # the ISV signature and the attestation key
        *range(qe, qe + 384 + 64),  # the QE report and the PCK's signature over it
    ]


@pytest.mark.slow
@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_flipped_quote_byte_in_signed_region_rejected(tee: str, sgx: tuple[bytes, str], tdx: tuple[bytes, str]) -> None:
    raw, collateral = sgx if tee == "sgx" else tdx
    at = SGX_AT if tee == "sgx" else TDX_AT
    offsets = _signed_offsets(raw, tee)
    assert len(offsets) > 1000
    accepted, other = [], {}
    for offset in offsets:
        flipped = bytearray(raw)
        flipped[offset] ^= 1 << (offset % 8)  # one bit per byte, every bit position in turn
        try:
            verify_quote(bytes(flipped), collateral, at=at)
        except AttestationError as exc:
            if exc.reason is not Reason.QUOTE_INVALID:
                other[offset] = exc.reason
        else:
            accepted.append(offset)
    assert accepted == []
    assert other == {}


# --- truncated and garbage evidence ----------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 47, 48, 100, 431, 432, 436, 1000, 1052, 2000, 4000])
def test_truncated_quote_rejected(sgx: tuple[bytes, str], size: int) -> None:
    assert _reason(sgx[0][:size], sgx[1], SGX_AT) is Reason.QUOTE_INVALID


def test_garbage_quote_rejected(sgx: tuple[bytes, str]) -> None:
    rng = random.Random(4)  # reproducible garbage, not a secret
    for size in (48, 600, 4600):
        assert _reason(rng.randbytes(size), sgx[1], SGX_AT) is Reason.QUOTE_INVALID
    # A plausible header (SGX v3, ECDSA-256) over garbage.
    assert _reason(sgx[0][:48] + rng.randbytes(4552), sgx[1], SGX_AT) is Reason.QUOTE_INVALID


def test_oversized_quote_rejected_before_parsing(sgx: tuple[bytes, str]) -> None:
    assert _reason(sgx[0] + bytes(MAX_QUOTE_BYTES), sgx[1], SGX_AT) is Reason.QUOTE_INVALID


def test_mock_quote_is_not_dcap_evidence(sgx: tuple[bytes, str]) -> None:
    assert _reason(MOCK_QUOTE_MAGIC + sgx[0], sgx[1], SGX_AT) is Reason.MOCK_EVIDENCE_REFUSED


def test_unsupported_quote_version_rejected(sgx: tuple[bytes, str]) -> None:
    as_v4 = struct.pack("<H", 4) + sgx[0][2:]  # an SGX body claiming quote version 4
    assert _reason(as_v4, sgx[1], SGX_AT) is Reason.QUOTE_INVALID


def _edited(text: str, **changes: object) -> str:
    collateral = json.loads(text)
    for key, value in changes.items():
        if value is None:
            del collateral[key]
        else:
            collateral[key] = value
    return json.dumps(collateral)


@pytest.mark.parametrize(
    "make",
    [
        lambda text: "",
        lambda text: "garbage",
        lambda text: "[]",
        lambda text: "{}",
        lambda text: text[: len(text) // 2],
        lambda text: _edited(text, pck_crl=None),
        lambda text: _edited(text, pck_certificate_chain="extra field"),
        lambda text: _edited(text, root_ca_crl="zz"),
        lambda text: _edited(text, tcb_info_signature=12),
        lambda text: _edited(text, tcb_info="not json"),
        lambda text: _edited(text, qe_identity="{}"),
        lambda text: _edited(text, pck_crl="3000"),
        lambda text: _edited(text, tcb_info_issuer_chain=""),
        lambda text: '{"pck_crl": "00", ' + text[1:],  # a duplicate key: two parsers, two values
        lambda text: text.encode("utf-16"),
    ],
)
def test_garbage_collateral_rejected(sgx: tuple[bytes, str], make: object) -> None:
    assert callable(make)
    assert _reason(sgx[0], make(sgx[1]), SGX_AT) is Reason.COLLATERAL_INVALID


def test_edited_tcb_info_rejected(sgx: tuple[bytes, str]) -> None:
    collateral = json.loads(sgx[1])
    tcb_info = json.loads(collateral["tcb_info"])
    tcb_info["tcbLevels"][0]["tcbStatus"] = "UpToDate"  # promote the platform, same dates
    collateral["tcb_info"] = json.dumps(tcb_info, separators=(",", ":"))
    assert _reason(sgx[0], json.dumps(collateral), SGX_AT) is Reason.COLLATERAL_INVALID


def test_collateral_of_the_other_tee_rejected(sgx: tuple[bytes, str], tdx: tuple[bytes, str]) -> None:
    assert _reason(sgx[0], tdx[1], TDX_AT) is Reason.COLLATERAL_INVALID
    assert _reason(tdx[0], sgx[1], SGX_AT) is Reason.COLLATERAL_INVALID


@pytest.mark.parametrize("at", [-1, 1.5, True, "1750334171", 2**64])
def test_reference_time_must_be_a_unix_integer(sgx: tuple[bytes, str], at: object) -> None:
    with pytest.raises(UsageError):
        verify_quote(sgx[0], sgx[1], at=at)  # type: ignore[arg-type]


def test_quote_must_be_bytes(sgx: tuple[bytes, str]) -> None:
    with pytest.raises(UsageError):
        verify_quote(bytearray(sgx[0]), sgx[1], at=SGX_AT)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        verify_quote(sgx[0], json.loads(sgx[1]), at=SGX_AT)  # type: ignore[arg-type]


# --- dcap-qvl's error text -> reasons ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("CrlExpired { time: UnixTime(1795307299), next_update: UnixTime(1775215317) }", Reason.COLLATERAL_EXPIRED),
        ("TCBInfo expired", Reason.COLLATERAL_EXPIRED),
        ("QE Identity issue date is in the future", Reason.COLLATERAL_EXPIRED),
        ("CRL 0 validity check failed\n\nCaused by:\n    CRL has expired (past nextUpdate)", Reason.COLLATERAL_EXPIRED),
        ("Debug mode is enabled", Reason.DEBUG_ENCLAVE),
        ("QE report validation failed\n\nCaused by:\n    Debug mode is enabled", Reason.QUOTE_INVALID),
        ("TCB status is invalid: Revoked", Reason.TCB_STATUS_NOT_ALLOWED),
        ("Signature is invalid for tcb_info in quote_collateral", Reason.COLLATERAL_INVALID),
        ("Signature is invalid for qe_identity in quote_collateral", Reason.COLLATERAL_INVALID),
        ("Fmspc mismatch", Reason.COLLATERAL_INVALID),
        ("No matching TCB level found", Reason.COLLATERAL_INVALID),
        ("Certificate is revoked", Reason.COLLATERAL_INVALID),
        ("ISV enclave report signature is invalid", Reason.QUOTE_INVALID),
        ("Signature is invalid for qe_report in quote", Reason.QUOTE_INVALID),
        ("QE report hash mismatch", Reason.QUOTE_INVALID),
        ("Failed to decode quote\n\nCaused by:\n    Could not decode `Header::version`", Reason.QUOTE_INVALID),
        ("Unsupported DCAP attestation key type", Reason.QUOTE_INVALID),
        ("QE MRSIGNER mismatch: expected 00, got 01", Reason.QUOTE_INVALID),
        ("SEPT_VE_DISABLE is not enabled", Reason.QUOTE_INVALID),
        ("UnknownIssuer", Reason.QUOTE_INVALID),
        ("a message no version of dcap-qvl has printed yet", Reason.QUOTE_INVALID),
        ("", Reason.QUOTE_INVALID),
    ],
)
def test_dcap_qvl_errors_map_to_reasons_and_never_to_success(text: str, reason: Reason) -> None:
    error = quote_module._translate("Verification failed: " + text)
    assert isinstance(error, AttestationError)
    assert error.reason is reason


# --- the verified object --------------------------------------------------------------------


def test_verified_quote_is_frozen_and_says_what_it_is(sgx: tuple[bytes, str]) -> None:
    verified = verify_quote(*sgx, at=SGX_AT)
    with pytest.raises(AttributeError):
        verified.mock = True  # type: ignore[misc]
    assert repr(verified).startswith("VerifiedQuote(sgx, tcb_status='ConfigurationAndSWHardeningNeeded'")
    assert "MOCK" not in repr(verified)


def test_verified_quote_cannot_pair_real_evidence_with_the_mock_status(sgx: tuple[bytes, str]) -> None:
    from sealgate._dataclass import replace

    verified = verify_quote(*sgx, at=SGX_AT)
    with pytest.raises(ValueError, match="reserved for mock"):
        replace(verified, tcb_status="Mock")
    with pytest.raises(ValueError, match="reserved for mock"):
        replace(verified, mock=True)
    with pytest.raises(ValueError, match="64 bytes"):
        replace(verified, report_data=b"short")
    with pytest.raises(ValueError, match="TEE"):
        replace(verified, tee=Tee.TDX)
    assert isinstance(verified, VerifiedQuote)


def test_importing_the_quote_layer_does_not_import_dcap_qvl() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sealgate.enclaves.quote, sealgate.enclaves.binding; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dcap_qvl', 'cryptography')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_reference_time_is_reported_in_utc(sgx: tuple[bytes, str]) -> None:
    with pytest.raises(AttestationError) as info:
        verify_quote(*sgx, at=SGX_WINDOW[0] - 1)
    stamp = datetime.fromtimestamp(SGX_WINDOW[0] - 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert stamp in info.value.message


# --- reading dcap-qvl's verified report -------------------------------------------------------


def _tdx_report_doc(tdx: tuple[bytes, str]) -> dict[str, object]:
    import dcap_qvl

    report = dcap_qvl.verify(tdx[0], dcap_qvl.QuoteCollateralV3.from_json(tdx[1]), TDX_AT)
    doc: dict[str, object] = json.loads(report.to_json())
    return doc


def test_td15_report_is_read_from_its_nested_base(tdx: tuple[bytes, str]) -> None:
    # dcap-qvl serialises a TD 1.5 report as {"base": <TD 1.0 fields>, "tee_tcb_svn2", "mr_service_td"}
    # (quote.rs: `pub struct TDReport15 { pub base: TDReport10, ... }`, no serde flatten).
    doc = _tdx_report_doc(tdx)
    report = doc["report"]
    assert isinstance(report, dict)
    doc["report"] = {"TD15": {"base": report["TD10"], "tee_tcb_svn2": "02" * 16, "mr_service_td": "00" * 48}}
    verified = quote_module._verified_quote(doc, Tee.TDX, TDX_AT)
    assert verified.tdx is not None
    assert verified.tdx.mr_td == MRTD and verified.tdx.rtmr0 == RTMR0
    assert verified.tdx.tee_tcb_svn2 == "02" * 16 and verified.tdx.mr_service_td == "00" * 48


@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: doc.pop("report"),
        lambda doc: doc.pop("qe_status"),
        lambda doc: doc.update(status="Mock"),
        lambda doc: doc.update(status=None),
        lambda doc: doc.update(advisory_ids=[1]),
        lambda doc: doc.update(report={"SgxEnclave": doc["report"]["TD10"]}),
        lambda doc: doc.update(report={"TD10": {}, "TD15": {}}),
        lambda doc: doc["report"]["TD10"].update(mr_td="00"),
        lambda doc: doc["report"]["TD10"].update(report_data="zz" * 64),
        lambda doc: doc["report"]["TD10"].pop("rt_mr3"),
    ],
)
def test_unexpected_verified_report_is_quote_invalid(tdx: tuple[bytes, str], edit: object) -> None:
    doc = _tdx_report_doc(tdx)
    assert quote_module._verified_quote(doc, Tee.TDX, TDX_AT).tdx is not None
    assert callable(edit)
    edit(doc)
    with pytest.raises(AttestationError) as info:
        quote_module._verified_quote(doc, Tee.TDX, TDX_AT)
    assert info.value.reason is Reason.QUOTE_INVALID


def test_report_of_the_other_tee_is_quote_invalid(sgx: tuple[bytes, str]) -> None:
    import dcap_qvl

    report = dcap_qvl.verify(sgx[0], dcap_qvl.QuoteCollateralV3.from_json(sgx[1]), SGX_AT)
    with pytest.raises(AttestationError) as info:
        quote_module._verified_quote(json.loads(report.to_json()), Tee.TDX, SGX_AT)
    assert info.value.reason is Reason.QUOTE_INVALID


def test_cached_collateral_is_usable_from_other_threads(sgx: tuple[bytes, str]) -> None:
    # The prepared collateral (a dcap-qvl object) is cached and shared; a gate verifies from
    # many threads.
    import threading

    quote_module._prepare_collateral.cache_clear()
    assert verify_quote(*sgx, at=SGX_AT).sgx is not None
    results: list[str] = []

    def worker() -> None:
        for _ in range(5):
            results.append(verify_quote(*sgx, at=SGX_AT).tcb_status)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["ConfigurationAndSWHardeningNeeded"] * 20


def test_large_collateral_is_verified_without_being_cached(sgx: tuple[bytes, str]) -> None:
    padded = sgx[1][:-1] + " " * (quote_module._CACHED_COLLATERAL_BYTES + 1) + "}"
    quote_module._prepare_collateral.cache_clear()
    assert verify_quote(sgx[0], padded, at=SGX_AT).sgx is not None
    assert quote_module._prepare_collateral.cache_info().currsize == 0
