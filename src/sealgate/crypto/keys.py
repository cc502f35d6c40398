"""Keys: Ed25519 and ECDSA P-256, PEM files, and the one key id scheme.

The key id is the hex SHA-256 of the DER SubjectPublicKeyInfo of the *normalised* public
key: cryptography always re-encodes an EC point uncompressed, so a compressed and an
uncompressed encoding of one point give one key id (ARCHITECTURE.md "Formats: Keys").
Private keys are PKCS#8 PEM, encrypted unless the caller passes ``insecure_no_passphrase``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from pathlib import Path
from typing import NewType

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sealgate._dataclass import dataclass, field
from sealgate.errors import KeyError_, MalformedInputError, VerificationError

__all__ = [
    "KEY_TYPES",
    "KeyId",
    "Passphrase",
    "PrivateKey",
    "PublicKey",
    "generate_key",
    "key_id_of",
    "load_private_key",
    "load_public_key",
    "read_private_key_file",
    "read_public_key_file",
    "write_new_file",
]

KeyId = NewType("KeyId", str)
KEY_TYPES = ("ed25519", "ecdsa-p256")
MAX_PEM_SIZE = 64 * 1024

# DER SubjectPublicKeyInfo prefixes of the two key types, so that the gate's hot path can
# parse and re-encode public keys without importing cryptography's serialization package
# (which drags in the SSH key code: ~12 ms per process). Anything else goes the slow way.
_ED25519_SPKI = bytes.fromhex("302a300506032b6570032100")
_P256_SPKI = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
_P256_SPKI_COMPRESSED = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200")
_PEM_PUBLIC = re.compile(rb"\A\s*-----BEGIN PUBLIC KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END PUBLIC KEY-----\s*\Z")

_PublicObj = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
_PrivateObj = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class Passphrase:
    """A passphrase whose ``repr`` never shows the secret."""

    value: bytes = field(repr=False)

    def __repr__(self) -> str:
        return "Passphrase(<redacted>)"


def _spki_der(public: _PublicObj) -> bytes:
    """DER SPKI of the key, EC points always uncompressed (the normal form)."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        return _ED25519_SPKI + public.public_bytes_raw()
    if isinstance(public.curve, ec.SECP256R1):
        numbers = public.public_numbers()
        return _P256_SPKI + b"\x04" + numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id_of(public: _PublicObj) -> KeyId:
    """Hex SHA-256 of the DER SPKI of the (normalised) public key."""
    return KeyId(hashlib.sha256(_spki_der(public)).hexdigest())


def _public_from_der(der: bytes) -> object:
    try:
        if len(der) == 44 and der.startswith(_ED25519_SPKI):
            return ed25519.Ed25519PublicKey.from_public_bytes(der[12:])
        if (len(der) == 91 and der.startswith(_P256_SPKI)) or (
            len(der) == 59 and der.startswith(_P256_SPKI_COMPRESSED)
        ):
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), der[26:])
        from cryptography.hazmat.primitives import serialization

        return serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise MalformedInputError("not a valid public key") from exc


def _check_supported(public: object) -> str:
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(public.curve, ec.SECP256R1):
            raise KeyError_(f"EC curve {public.curve.name} is not supported; use P-256 (secp256r1)")
        return "ecdsa-p256"
    raise KeyError_(f"key type {type(public).__name__} is not supported; use ed25519 or ecdsa-p256")


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A verified, supported public key with its key id."""

    key: _PublicObj = field(repr=False, compare=False)
    keyid: KeyId
    keytype: str

    @classmethod
    def from_crypto(cls, public: object) -> PublicKey:
        keytype = _check_supported(public)
        assert isinstance(public, (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey))
        return cls(key=public, keyid=key_id_of(public), keytype=keytype)

    @property
    def spki_der(self) -> bytes:
        return _spki_der(self.key)

    def to_pem(self) -> bytes:
        body = base64.encodebytes(self.spki_der).replace(b"\n", b"")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return b"-----BEGIN PUBLIC KEY-----\n" + b"\n".join(lines) + b"\n-----END PUBLIC KEY-----\n"

    @property
    def raw_ed25519(self) -> bytes:
        """The 32 raw bytes of an Ed25519 key (used by the C2SP note format and legacy files)."""
        if not isinstance(self.key, ed25519.Ed25519PublicKey):
            raise KeyError_(f"key {self.keyid[:16]} is not an Ed25519 key")
        return self.key.public_bytes_raw()

    def verify(self, signature: bytes, data: bytes) -> None:
        """Raise :class:`VerificationError` unless ``signature`` is valid over ``data``."""
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, data)
            else:
                self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise VerificationError(f"signature by key {self.keyid[:16]} does not verify") from exc


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """A private signing key. Its ``repr`` never shows key material."""

    key: _PrivateObj = field(repr=False, compare=False)
    public: PublicKey

    def __repr__(self) -> str:
        return f"PrivateKey({self.public.keytype}, keyid={self.public.keyid[:16]}…, <redacted>)"

    @property
    def keyid(self) -> KeyId:
        return self.public.keyid

    @classmethod
    def from_crypto(cls, private: object) -> PrivateKey:
        if not isinstance(private, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
            raise KeyError_(f"key type {type(private).__name__} is not supported; use ed25519 or ecdsa-p256")
        return cls(key=private, public=PublicKey.from_crypto(private.public_key()))

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``: raw 64 bytes for Ed25519, DER for ECDSA P-256 with SHA-256."""
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(data)
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def to_pem(self, passphrase: Passphrase | None, *, insecure_no_passphrase: bool = False) -> bytes:
        """PKCS#8 PEM; encrypted unless ``insecure_no_passphrase`` is spelled out."""
        from cryptography.hazmat.primitives import serialization

        if passphrase is None:
            if not insecure_no_passphrase:
                raise KeyError_("a passphrase is required to write a private key (or --insecure-no-passphrase)")
            algorithm: serialization.KeySerializationEncryption = serialization.NoEncryption()
        else:
            if not passphrase.value:
                raise KeyError_("an empty passphrase is not allowed")
            algorithm = serialization.BestAvailableEncryption(passphrase.value)
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algorithm)


def generate_key(keytype: str) -> PrivateKey:
    """A fresh private key of ``keytype`` (``ed25519`` or ``ecdsa-p256``)."""
    if keytype == "ed25519":
        return PrivateKey.from_crypto(ed25519.Ed25519PrivateKey.generate())
    if keytype == "ecdsa-p256":
        return PrivateKey.from_crypto(ec.generate_private_key(ec.SECP256R1()))
    raise KeyError_(f"unknown key type {keytype!r}; choose one of {', '.join(KEY_TYPES)}")


def load_public_key(pem: bytes, *, what: str = "public key") -> PublicKey:
    """Parse an SPKI PEM public key (Ed25519 or P-256, compressed or uncompressed point)."""
    if len(pem) > MAX_PEM_SIZE:
        raise MalformedInputError(f"{what} is larger than {MAX_PEM_SIZE} bytes")
    match = _PEM_PUBLIC.match(pem)
    if match is None:
        raise MalformedInputError(f"{what} is not a PEM public key (-----BEGIN PUBLIC KEY-----)")
    try:
        der = base64.b64decode(re.sub(rb"\s+", b"", match.group(1)), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInputError(f"{what} is not valid base64 PEM") from exc
    try:
        public = _public_from_der(der)
    except MalformedInputError as exc:
        raise MalformedInputError(f"{what} is not a valid PEM public key") from exc
    return PublicKey.from_crypto(public)


def load_private_key(pem: bytes, passphrase: Passphrase | None, *, what: str = "private key") -> PrivateKey:
    """Parse a PKCS#8 PEM private key, decrypting it with ``passphrase`` when it is encrypted."""
    if len(pem) > MAX_PEM_SIZE:
        raise MalformedInputError(f"{what} is larger than {MAX_PEM_SIZE} bytes")
    if b"-----BEGIN" not in pem:
        raise MalformedInputError(f"{what} is not a PEM file")
    from cryptography.hazmat.primitives import serialization

    try:
        private = serialization.load_pem_private_key(pem, passphrase.value if passphrase else None)
    except TypeError as exc:
        # Raised both for "password missing" and "password given but key unencrypted".
        if passphrase is None:
            raise KeyError_(f"{what} is encrypted: set SEALGATE_KEY_PASSPHRASE or enter the passphrase") from exc
        raise KeyError_(f"{what} is not encrypted but a passphrase was given") from exc
    except ValueError as exc:
        if b"ENCRYPTED" in pem:
            raise KeyError_(f"{what}: wrong passphrase") from exc
        raise MalformedInputError(f"{what} is not a valid PEM private key") from exc
    except UnsupportedAlgorithm as exc:
        raise KeyError_(f"{what} uses an unsupported algorithm") from exc
    return PrivateKey.from_crypto(private)


def _read_bounded(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PEM_SIZE + 1)
    except FileNotFoundError as exc:
        raise KeyError_(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise KeyError_(f"{what} {path} cannot be read: {exc.strerror}") from exc
    if len(data) > MAX_PEM_SIZE:
        raise MalformedInputError(f"{what} {path} is larger than {MAX_PEM_SIZE} bytes")
    return data


def read_public_key_file(path: Path) -> PublicKey:
    return load_public_key(_read_bounded(path, "public key file"), what=f"public key file {path}")


def read_private_key_file(path: Path, passphrase: Passphrase | None) -> PrivateKey:
    return load_private_key(_read_bounded(path, "private key file"), passphrase, what=f"private key file {path}")


def write_new_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` with ``mode`` and write ``data``; never overwrite an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError as exc:
        raise KeyError_(f"{path} already exists; refusing to overwrite it") from exc
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
