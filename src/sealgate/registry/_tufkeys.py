"""The seam between sealgate keys and python-tuf keys: one key id scheme on both sides.

TUF's default key id is a hash of its own JSON key encoding; sealgate's is the SHA-256 of
the DER SPKI (ARCHITECTURE.md "Formats: Keys"). We pass our id to python-tuf explicitly and,
because python-tuf never checks that a key id matches its key, we recompute it for every
key we load from metadata and refuse a mismatch. Without that check one public key listed
under two ids would count twice towards a threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sealgate.crypto.keys import KeyId, PrivateKey, PublicKey
from sealgate.errors import RegistryIntegrityError, SealgateError
from sealgate.registry._tuf import CryptoSigner, Key, SSlibKey

__all__ = ["check_tuf_key", "check_tuf_keys", "signer_for", "tuf_key"]

# The only (keytype, scheme) pairs sealgate writes or accepts.
_ALLOWED = {("ed25519", "ed25519"), ("ecdsa", "ecdsa-sha2-nistp256")}


def tuf_key(public: PublicKey) -> SSlibKey:
    """The python-tuf key for ``public``, carrying sealgate's SPKI key id."""
    key: SSlibKey = SSlibKey.from_crypto(public.key, keyid=public.keyid)
    return key


def signer_for(private: PrivateKey) -> CryptoSigner:
    """A python-tuf signer for ``private`` whose signatures carry sealgate's key id."""
    return CryptoSigner(private.key, tuf_key(private.public))


def check_tuf_key(keyid: str, key: Key, where: str) -> PublicKey:
    """Rebuild the public key from TUF key data and refuse it unless its SPKI id is ``keyid``."""
    if not isinstance(key, SSlibKey) or (key.keytype, key.scheme) not in _ALLOWED:
        raise RegistryIntegrityError(
            f"{where}: key {keyid[:16]} has type {getattr(key, 'keytype', '?')}/{getattr(key, 'scheme', '?')};"
            " only ed25519 and ecdsa-sha2-nistp256 keys are accepted"
        )
    value: Any = key.keyval.get("public")
    try:
        if key.keytype == "ed25519":
            crypto: object = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(value))
        else:
            crypto = load_pem_public_key(value.encode("ascii"))
        public = PublicKey.from_crypto(crypto)
    except (ValueError, TypeError, AttributeError, UnsupportedAlgorithm, SealgateError) as exc:
        raise RegistryIntegrityError(f"{where}: key {keyid[:16]} is not a valid public key") from exc
    if public.keyid != keyid or key.keyid != keyid:
        raise RegistryIntegrityError(
            f"{where}: key listed as {keyid[:16]} has SPKI key id {public.keyid[:16]}; a key id must be the"
            " SHA-256 of the key's DER SubjectPublicKeyInfo (refusing, since a mislabelled key could count twice)"
        )
    return public


def check_tuf_keys(keys: Mapping[str, Key], where: str) -> dict[KeyId, PublicKey]:
    """Check every key of a ``keys`` dict (root or delegations) with :func:`check_tuf_key`."""
    return {KeyId(keyid): check_tuf_key(keyid, key, where) for keyid, key in keys.items()}
