"""Keys: one key id per key whatever its encoding, encrypted PEM, safe key files."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sealgate.crypto.keys import Passphrase, generate_key, load_private_key, load_public_key
from sealgate.crypto.keystore import KeyStore
from sealgate.errors import KeyError_, MalformedInputError, VerificationError

PW = Passphrase(b"correct horse battery staple")


@pytest.mark.parametrize("keytype", ["ed25519", "ecdsa-p256"])
def test_sign_verify_round_trip_and_tamper(keytype: str) -> None:
    key = generate_key(keytype)
    sig = key.sign(b"data")
    key.public.verify(sig, b"data")
    with pytest.raises(VerificationError):
        key.public.verify(sig, b"datA")


def test_key_id_is_sha256_of_spki_der() -> None:
    key = generate_key("ed25519")
    der = key.public.key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.keyid == hashlib.sha256(der).hexdigest()


def test_same_ec_key_in_two_encodings_has_one_key_id() -> None:
    key = generate_key("ecdsa-p256")
    pub = key.public.key
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    compressed = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    # Build an SPKI PEM carrying the compressed point: the same key, another encoding.
    uncompressed_der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    prefix = uncompressed_der[:-65]
    # Rewrite the BIT STRING and outer SEQUENCE lengths for a 33-byte point.
    algo = prefix[2 : 2 + 2 + prefix[3]]
    bitstring = b"\x03" + bytes([len(compressed) + 1]) + b"\x00" + compressed
    body = algo + bitstring
    compressed_der = b"\x30" + bytes([len(body)]) + body
    pem = (
        b"-----BEGIN PUBLIC KEY-----\n"
        + base64.encodebytes(compressed_der)
        + b"-----END PUBLIC KEY-----\n"
    )
    reloaded = load_public_key(pem)
    assert compressed_der != uncompressed_der
    assert reloaded.keyid == key.keyid


def test_private_key_pem_is_encrypted_and_passphrase_checked() -> None:
    key = generate_key("ed25519")
    pem = key.to_pem(PW)
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert load_private_key(pem, PW).keyid == key.keyid
    with pytest.raises(KeyError_, match="wrong passphrase"):
        load_private_key(pem, Passphrase(b"wrong"))
    with pytest.raises(KeyError_, match="encrypted"):
        load_private_key(pem, None)


def test_unencrypted_key_needs_explicit_insecure_flag() -> None:
    key = generate_key("ed25519")
    with pytest.raises(KeyError_):
        key.to_pem(None)
    assert b"BEGIN PRIVATE KEY" in key.to_pem(None, insecure_no_passphrase=True)


def test_secrets_are_redacted_in_repr() -> None:
    key = generate_key("ed25519")
    assert "redacted" in repr(key)
    assert "horse" not in repr(PW)


@pytest.mark.parametrize(
    "pem", [b"", b"garbage", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", b"A" * 70000]
)
def test_malformed_pem_gives_clear_error(pem: bytes) -> None:
    with pytest.raises(MalformedInputError):
        load_public_key(pem)
    with pytest.raises((MalformedInputError, KeyError_)):
        load_private_key(pem, PW)


def test_rsa_and_other_curves_refused() -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    pem = other.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyError_, match="P-256"):
        load_public_key(pem)


def test_key_files_are_0600_and_never_overwritten(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    key = store.generate("alice", "ed25519", PW)
    mode = stat.S_IMODE(os.stat(tmp_path / "keys" / "alice.key").st_mode)
    assert mode == 0o600
    with pytest.raises(KeyError_, match="refusing to overwrite"):
        store.generate("alice", "ed25519", PW)
    assert store.private("alice", PW).keyid == key.keyid
    assert store.public("alice").keyid == key.keyid
    assert [i.name for i in store.list()] == ["alice"]


@pytest.mark.parametrize("keytype", ["ed25519", "ecdsa-p256"])
def test_fast_spki_encoding_matches_cryptography(keytype: str) -> None:
    # The hot path encodes SPKI without cryptography's serialization package; it must agree.
    key = generate_key(keytype).public
    assert key.spki_der == key.key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key.to_pem() == key.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert load_public_key(key.to_pem()).keyid == key.keyid


def test_invalid_ec_point_refused() -> None:
    der = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200") + b"\x04" + b"\x01" * 64
    pem = b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END PUBLIC KEY-----\n"
    with pytest.raises(MalformedInputError):
        load_public_key(pem)
