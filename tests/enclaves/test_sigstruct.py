"""SIGSTRUCT measuring: real RSA-3072/e=3 signatures; every byte of the 1808 is bound to the result."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealgate.cli import main
from sealgate.enclaves.sigstruct import SIGNED_RANGES, SIGSTRUCT_SIZE, Sigstruct, read_sigstruct
from sealgate.errors import MalformedInputError, Reason, VerificationError
from tests.enclaves.sigstruct_maker import (
    FLAGS_DEBUG,
    FLAGS_MODE64BIT,
    HEADER,
    Made,
    make_sigstruct,
    new_key,
    resign,
    textbook_check,
)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def made(key: rsa.RSAPrivateKey) -> Made:
    return make_sigstruct(key)


def _flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    buf = bytearray(data)
    buf[offset] ^= mask
    return bytes(buf)


def test_the_maker_produces_what_einit_checks(made: Made) -> None:
    # The vector itself passes EINIT's arithmetic done by hand, not only cryptography's verify.
    assert len(made.data) == SIGSTRUCT_SIZE
    assert textbook_check(made.data)


def test_measure_reports_mrenclave_mrsigner_and_isv_ids(made: Made) -> None:
    sig = Sigstruct.from_bytes(made.data)
    assert sig.mrenclave == made.mrenclave
    # MRSIGNER = SHA-256 of the 384-byte little-endian modulus exactly as stored at [128, 512).
    assert sig.mrsigner == made.mrsigner == hashlib.sha256(made.data[128:512]).hexdigest()
    assert (sig.isv_prod_id, sig.isv_svn) == (7, 3)
    assert sig.flags == FLAGS_MODE64BIT and sig.xfrm == 0x03
    assert sig.attributes == struct.pack("<QQ", FLAGS_MODE64BIT, 0x03).hex()
    assert not sig.debug and not sig.debug_possible  # the mask enforces DEBUG = 0
    assert sig.date == "20260131"
    assert sig.sha256 == hashlib.sha256(made.data).hexdigest()


def test_debug_attribute_is_reported(key: rsa.RSAPrivateKey) -> None:
    sig = Sigstruct.from_bytes(make_sigstruct(key, flags=FLAGS_MODE64BIT | FLAGS_DEBUG).data)
    assert sig.debug and sig.debug_possible


def test_mask_that_leaves_debug_open_is_reported(key: rsa.RSAPrivateKey) -> None:
    # MRENCLAVE does not cover DEBUG; with the mask bit clear the same build can run as debug.
    sig = Sigstruct.from_bytes(make_sigstruct(key, flags_mask=~FLAGS_DEBUG & 0xFFFFFFFFFFFFFFFF).data)
    assert not sig.debug and sig.debug_possible


@pytest.mark.parametrize("offset", [0, 17, 21, 30, 40, 100, 127, 900, 904, 912, 930, 950, 960, 991, 1000, 1024, 1027])
def test_flipped_signed_byte_is_signature_invalid(made: Made, offset: int) -> None:
    assert any(lo <= offset < hi for lo, hi in SIGNED_RANGES)
    with pytest.raises((VerificationError, MalformedInputError)) as info:
        Sigstruct.from_bytes(_flip(made.data, offset, 0x40))
    # Header bytes are checked as constants first; every other signed byte fails the signature.
    if offset not in range(0, 40):
        assert isinstance(info.value, VerificationError)
        assert info.value.reason is Reason.SIGNATURE_INVALID


@pytest.mark.parametrize("offset", [1040, 1200, 1423, 1424, 1807])
def test_flipped_q1_q2_byte_is_signature_invalid(made: Made, offset: int) -> None:
    # Q1/Q2 are unsigned helper values, but EINIT refuses inconsistent ones: so do we.
    with pytest.raises(VerificationError, match="q1/q2") as info:
        Sigstruct.from_bytes(_flip(made.data, offset))
    assert info.value.reason is Reason.SIGNATURE_INVALID


@pytest.mark.parametrize("offset", [516, 700, 899])
def test_flipped_signature_byte_is_signature_invalid(made: Made, offset: int) -> None:
    with pytest.raises(VerificationError) as info:
        Sigstruct.from_bytes(_flip(made.data, offset))
    assert info.value.reason is Reason.SIGNATURE_INVALID


def test_modulus_swapped_for_another_key_is_signature_invalid(made: Made) -> None:
    other = new_key().public_key().public_numbers().n.to_bytes(384, "little")
    with pytest.raises(VerificationError):
        Sigstruct.from_bytes(made.data[:128] + other + made.data[512:])


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d[:-1], "size"),
        (lambda d: d + b"\x00", "size"),
        (lambda d: b"", "size"),
        (lambda d: _flip(d, 4), "header"),
        (lambda d: _flip(d, 15, 0x80), "header"),  # arch.h's "debug type" bit: refused
        (lambda d: _flip(d, 24), "header2"),
        (lambda d: d[:512] + struct.pack("<I", 65537) + d[516:], "exponent"),
        (lambda d: _flip(d, 128), "modulus"),  # an even modulus
        (lambda d: d[:128] + bytes(384) + d[512:], "modulus"),
        (lambda d: _flip(d, 1030), "reserved"),
        (lambda d: d[:16] + struct.pack("<I", 0x1234) + d[20:], "vendor"),
    ],
)
def test_malformed_sigstruct_names_the_field(made: Made, mutate: object, field: str) -> None:
    assert callable(mutate)
    with pytest.raises(MalformedInputError, match=field) as info:
        Sigstruct.from_bytes(mutate(made.data))
    assert info.value.reason is Reason.MALFORMED_INPUT


def test_wrong_exponent_even_when_signed_is_refused(key: rsa.RSAPrivateKey) -> None:
    big_e = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    with pytest.raises(MalformedInputError, match="exponent"):
        Sigstruct.from_bytes(make_sigstruct(big_e).data)


def test_intel_vendor_is_accepted(key: rsa.RSAPrivateKey) -> None:
    assert Sigstruct.from_bytes(make_sigstruct(key, vendor=0x8086).data).vendor == 0x8086


def test_resigned_edit_verifies_with_the_new_values(made: Made, key: rsa.RSAPrivateKey) -> None:
    # The signer (not an attacker) changes the SVN and signs again: a new, valid SIGSTRUCT.
    edited = bytearray(made.data)
    struct.pack_into("<H", edited, 1026, 9)
    assert Sigstruct.from_bytes(resign(bytes(edited), key)).isv_svn == 9


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.integers(0, SIGSTRUCT_SIZE - 1), mask=st.integers(1, 255))
def test_any_flipped_byte_anywhere_is_refused(made: Made, offset: int, mask: int) -> None:
    with pytest.raises((VerificationError, MalformedInputError)):
        Sigstruct.from_bytes(_flip(made.data, offset, mask))


def test_read_sigstruct_refuses_a_larger_file(tmp_path: Path, made: Made) -> None:
    path = tmp_path / "big.sig"
    path.write_bytes(made.data + b"\x00" * 100)
    with pytest.raises(MalformedInputError, match="size"):
        read_sigstruct(path)
    with pytest.raises(MalformedInputError, match="cannot be opened"):
        read_sigstruct(tmp_path / "missing.sig")
    with pytest.raises(MalformedInputError, match="regular file"):
        read_sigstruct(tmp_path)


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_enclave_measure_prints_the_measurement(
    tmp_path: Path, made: Made, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "enclave.sig"
    path.write_bytes(made.data)
    code, out, err = _cli(["enclave", "measure", str(path)], capsys)
    assert code == 0, err
    assert f"MRENCLAVE         {made.mrenclave}" in out
    assert f"MRSIGNER          {made.mrsigner}" in out
    assert "ISV product id    7" in out and "ISV SVN           3" in out
    code, out, err = _cli(["enclave", "measure", str(path), "--json"], capsys)
    assert code == 0, err
    value = json.loads(out)
    assert (value["mrenclave"], value["mrsigner"]) == (made.mrenclave, made.mrsigner)
    assert (value["isv_prod_id"], value["isv_svn"], value["debug"]) == (7, 3, False)
    assert value["attributes"] == struct.pack("<QQ", FLAGS_MODE64BIT, 0x03).hex()


def test_cli_enclave_measure_refuses_a_tampered_sigstruct(
    tmp_path: Path, made: Made, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "enclave.sig"
    path.write_bytes(_flip(made.data, 960))
    code, out, err = _cli(["enclave", "measure", str(path), "--json"], capsys)
    assert (code, out) == (3, "")
    assert err.startswith("sealgate: signature-invalid: ")
    path.write_bytes(HEADER)
    code, out, err = _cli(["enclave", "measure", str(path)], capsys)
    assert (code, out) == (3, "")
    assert err.startswith("sealgate: malformed-input: SIGSTRUCT size")
