"""Make real SGX SIGSTRUCTs for the tests, independently of the parser under test.

Everything here follows the SDM table ("Enclave Signature Structure (SIGSTRUCT)") and the
way Gramine's ``sgx_sign`` fills the structure, with its own constants (nothing is
imported from :mod:`sealgate.enclaves.sigstruct`): a fresh RSA-3072 key with public
exponent 3 signs bytes [0, 128) || [900, 1028) with PKCS#1 v1.5 / SHA-256; modulus,
signature, Q1 and Q2 are stored little-endian. ``python -m tests.enclaves.sigstruct_maker
OUT`` writes one to a file.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIZE = 1808
HEADER = bytes.fromhex("06000000E10000000000010000000000")
HEADER2 = bytes.fromhex("01010000600000006000000001000000")
# DigestInfo prefix of SHA-256 (RFC 8017 section 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")

MRENCLAVE = bytes.fromhex("5a" * 16 + "c3" * 16)
FLAGS_MODE64BIT = 0x04
FLAGS_DEBUG = 0x02
XFRM_X87_SSE = 0x03


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=3, key_size=3072)


@dataclass(frozen=True)
class Made:
    data: bytes
    mrenclave: str
    mrsigner: str
    isv_prod_id: int
    isv_svn: int


def make_sigstruct(
    key: rsa.RSAPrivateKey,
    *,
    mrenclave: bytes = MRENCLAVE,
    isv_prod_id: int = 7,
    isv_svn: int = 3,
    flags: int = FLAGS_MODE64BIT,
    xfrm: int = XFRM_X87_SSE,
    flags_mask: int = 0xFFFFFFFFFFFFFFFF,
    xfrm_mask: int = 0xFFFFFFFFFFFFFFFF,
    vendor: int = 0,
    date: int = 0x20260131,
    header: bytes = HEADER,
    header2: bytes = HEADER2,
) -> Made:
    buf = bytearray(SIZE)
    buf[0:16] = header
    struct.pack_into("<II", buf, 16, vendor, date)
    buf[24:40] = header2
    struct.pack_into("<II", buf, 900, 0, 0xFFFFFFFF)  # miscselect, miscmask
    struct.pack_into("<QQQQ", buf, 928, flags, xfrm, flags_mask, xfrm_mask)
    buf[960:992] = mrenclave
    struct.pack_into("<HH", buf, 1024, isv_prod_id, isv_svn)
    numbers = key.public_key().public_numbers()
    n = numbers.n
    buf[128:512] = n.to_bytes(384, "little")
    struct.pack_into("<I", buf, 512, numbers.e)
    message = bytes(buf[0:128] + buf[900:1028])
    s = int.from_bytes(key.sign(message, padding.PKCS1v15(), hashes.SHA256()), "big")
    buf[516:900] = s.to_bytes(384, "little")
    q1 = s * s // n
    q2 = (s * s % n) * s // n
    buf[1040:1424] = q1.to_bytes(384, "little")
    buf[1424:1808] = q2.to_bytes(384, "little")
    return Made(
        bytes(buf),
        mrenclave.hex(),
        hashlib.sha256(n.to_bytes(384, "little")).hexdigest(),
        isv_prod_id,
        isv_svn,
    )


def resign(data: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """Sign ``data`` again after an edit (fresh signature, Q1 and Q2), keeping every other byte."""
    buf = bytearray(data)
    n = key.public_key().public_numbers().n
    s = int.from_bytes(key.sign(bytes(buf[0:128] + buf[900:1028]), padding.PKCS1v15(), hashes.SHA256()), "big")
    buf[516:900] = s.to_bytes(384, "little")
    buf[1040:1424] = (s * s // n).to_bytes(384, "little")
    buf[1424:1808] = ((s * s % n) * s // n).to_bytes(384, "little")
    return bytes(buf)


def textbook_check(data: bytes) -> bool:
    """EINIT's arithmetic, by hand: s**3 mod n is the EMSA-PKCS1-v1_5 encoding of SHA-256(message)."""
    n = int.from_bytes(data[128:512], "little")
    s = int.from_bytes(data[516:900], "little")
    q1 = int.from_bytes(data[1040:1424], "little")
    q2 = int.from_bytes(data[1424:1808], "little")
    # Q1 and Q2 let the CPU compute s**3 mod n with multiplications and subtractions only
    # (SDM, SIGSTRUCT): r1 = s*s - q1*n = s**2 mod n, r2 = r1*s - q2*n = s**3 mod n.
    r1 = s * s - q1 * n
    r2 = r1 * s - q2 * n
    if not (0 <= r1 < n and 0 <= r2 < n):
        return False
    em = r2.to_bytes(384, "big")
    digest = hashlib.sha256(data[0:128] + data[900:1028]).digest()
    expected = b"\x00\x01" + b"\xff" * (384 - 3 - len(SHA256_DIGEST_INFO) - 32) + b"\x00" + SHA256_DIGEST_INFO + digest
    return em == expected


if __name__ == "__main__":
    made = make_sigstruct(new_key())
    Path(sys.argv[1]).write_bytes(made.data)
    print(f"MRENCLAVE {made.mrenclave}\nMRSIGNER  {made.mrsigner}")
