"""The key store: ``SEALGATE_HOME/keys/<name>.key`` (private) and ``<name>.pub`` (public).

A key reference given on the command line is a key name in the store or a path to a PEM
file. Private key files are created 0600 and never overwritten.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sealgate.crypto.keys import (
    KeyId,
    Passphrase,
    PrivateKey,
    PublicKey,
    generate_key,
    read_private_key_file,
    read_public_key_file,
    write_new_file,
)
from sealgate.errors import KeyError_

__all__ = ["KeyInfo", "KeyStore", "passphrase_from_env"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def passphrase_from_env() -> Passphrase | None:
    value = os.environ.get("SEALGATE_KEY_PASSPHRASE")
    return Passphrase(value.encode("utf-8")) if value else None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    name: str
    keyid: KeyId
    keytype: str
    has_private: bool
    encrypted: bool | None


class KeyStore:
    """Named keys under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _name(self, name: str) -> str:
        if not _NAME.match(name):
            raise KeyError_(f"key name {name!r} is not valid: use letters, digits, . _ - (at most 64)")
        return name

    def generate(
        self,
        name: str,
        keytype: str,
        passphrase: Passphrase | None,
        *,
        insecure_no_passphrase: bool = False,
    ) -> PrivateKey:
        self._name(name)
        priv_path = self.directory / f"{name}.key"
        pub_path = self.directory / f"{name}.pub"
        if priv_path.exists() or pub_path.exists():
            raise KeyError_(f"a key named {name!r} already exists in {self.directory}; refusing to overwrite it")
        key = generate_key(keytype)
        pem = key.to_pem(passphrase, insecure_no_passphrase=insecure_no_passphrase)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_new_file(priv_path, pem, mode=0o600)
        write_new_file(pub_path, key.public.to_pem(), mode=0o644)
        return key

    def _resolve(self, ref: str, suffix: str) -> Path:
        candidate = Path(ref)
        if _NAME.match(ref) and (self.directory / f"{ref}{suffix}").exists():
            return self.directory / f"{ref}{suffix}"
        if candidate.exists():
            return candidate
        raise KeyError_(f"no key {ref!r}: not a key name in {self.directory} and not a file")

    def private(self, ref: str, passphrase: Passphrase | Callable[[], Passphrase | None] | None) -> PrivateKey:
        path = self._resolve(ref, ".key")
        head = path.read_bytes()[:200] if path.is_file() else b""
        pw = passphrase() if callable(passphrase) and b"ENCRYPTED" in head else passphrase
        return read_private_key_file(path, pw if isinstance(pw, Passphrase) else None)

    def public(self, ref: str) -> PublicKey:
        path = self._resolve(ref, ".pub")
        if path.suffix == ".key":
            raise KeyError_(f"{path} is a private key file; give the .pub file or the key name")
        return read_public_key_file(path)

    def list(self) -> list[KeyInfo]:
        out: list[KeyInfo] = []
        if not self.directory.is_dir():
            return out
        for pub in sorted(self.directory.glob("*.pub")):
            key = read_public_key_file(pub)
            priv = pub.with_suffix(".key")
            encrypted = b"ENCRYPTED" in priv.read_bytes()[:100] if priv.exists() else None
            out.append(KeyInfo(pub.stem, key.keyid, key.keytype, priv.exists(), encrypted))
        return out
