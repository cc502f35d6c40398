"""Parse and verify an SGX SIGSTRUCT, the signed enclave identity a build produces.

A SIGSTRUCT (Intel SDM vol. 3D, "Enclave Signature Structure (SIGSTRUCT)") is 1808 bytes:
the signer's RSA-3072 key, its signature over bytes [0, 128) and [900, 1028), and in the
signed part the enclave's MRENCLAVE, attributes, ISV product id and security version.
MRSIGNER is the SHA-256 of the 384-byte modulus exactly as stored (little-endian).

:meth:`Sigstruct.from_bytes` checks the layout, verifies the signature and returns the
measurement; anything else raises. Every one of the 1808 bytes is bound to the result:

* [0, 128) and [900, 1028) are signed (the reserved bytes in them as well);
* the modulus [128, 512) is the verifying key (and MRSIGNER), the exponent [512, 516)
  must be 3, the signature [516, 900) must verify;
* the reserved bytes [1028, 1040) must be zero;
* Q1 [1040, 1424) and Q2 [1424, 1808) are helper values EINIT uses to check the signature
  with two multiplications (Q1 = floor(s**2 / n), Q2 = floor((s**2 mod n) * s / n)). They
  are not signed, but EINIT refuses a SIGSTRUCT whose Q1/Q2 do not match, so a build
  that carries wrong ones cannot launch. We check them too (``signature-invalid``), so
  that what we measure is what the CPU would accept.

Offsets cross-checked against the SDM table, Intel's ``common/inc/internal/arch.h``
(``enclave_css_t``), Fortanix ``sgx-isa`` (``Sigstruct``) and Gramine's
``graminelibos/sigstruct.py``; the MRSIGNER rule against Intel's ``sgx-ra-sample``
``mrsigner.c`` and Gramine's ``get_mrsigner_for_modulus_le``.

The header is compared in full, as the SDM, Gramine and Fortanix do. Intel's ``arch.h``
calls its bytes [12, 16) ``type`` with bit 31 meaning "debug"; such a SIGSTRUCT is refused.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from sealgate._dataclass import dataclass
from sealgate.errors import MalformedInputError, Reason, VerificationError

__all__ = [
    "ATTRIBUTE_DEBUG",
    "SIGNED_RANGES",
    "SIGSTRUCT_SIZE",
    "Sigstruct",
    "read_sigstruct",
]

SIGSTRUCT_SIZE = 1808
# The SDM's constant byte strings (Gramine, Fortanix and Intel's arch.h agree).
HEADER = bytes.fromhex("06000000E10000000000010000000000")
HEADER2 = bytes.fromhex("01010000600000006000000001000000")
VENDORS = (0x0000, 0x8086)  # ISV, Intel: the only vendors EINIT accepts
EXPONENT = 3
MODULUS_BITS = 3072
ATTRIBUTE_DEBUG = 1 << 1  # ATTRIBUTES.DEBUG, bit 1 of the flags
SIGNED_RANGES = ((0, 128), (900, 1028))

# (name, offset, size). The names follow the SDM; isv_family_id and isv_ext_prod_id live in
# what older manuals call reserved (the key separation and sharing extension, KSS).
_FIELDS = {
    "header": (0, 16),
    "vendor": (16, 4),
    "date": (20, 4),
    "header2": (24, 16),
    "swdefined": (40, 4),
    "modulus": (128, 384),
    "exponent": (512, 4),
    "signature": (516, 384),
    "miscselect": (900, 4),
    "miscmask": (904, 4),
    "isv_family_id": (912, 16),
    "attributes": (928, 16),
    "attributemask": (944, 16),
    "enclavehash": (960, 32),
    "isv_ext_prod_id": (1008, 16),
    "isvprodid": (1024, 2),
    "isvsvn": (1026, 2),
    "reserved4": (1028, 12),
    "q1": (1040, 384),
    "q2": (1424, 384),
}


def _field(data: bytes, name: str) -> bytes:
    offset, size = _FIELDS[name]
    return data[offset : offset + size]


def _u(data: bytes, name: str) -> int:
    return int.from_bytes(_field(data, name), "little")


@dataclass(frozen=True, slots=True)
class Sigstruct:
    """A SIGSTRUCT whose layout, signature and Q1/Q2 verified.

    Hex strings are lowercase; ``attributes``/``attribute_mask`` are the 16 bytes as stored
    (flags, then XFRM, each little-endian), as quotes and other tools print them.
    """

    mrenclave: str
    mrsigner: str
    isv_prod_id: int
    isv_svn: int
    attributes: str
    attribute_mask: str
    flags: int
    xfrm: int
    misc_select: int
    misc_mask: int
    vendor: int
    date: str
    swdefined: int
    isv_family_id: str
    isv_ext_prod_id: str
    sha256: str

    @property
    def debug(self) -> bool:
        """ATTRIBUTES.DEBUG is set: the enclave is signed to launch as a debug enclave."""
        return bool(self.flags & ATTRIBUTE_DEBUG)

    @property
    def debug_possible(self) -> bool:
        """A debug launch of this MRENCLAVE is possible.

        MRENCLAVE does not cover the DEBUG attribute: EINIT enforces it only where
        ATTRIBUTEMASK has the bit set. When the mask leaves it clear the same measurement
        can run as a debug enclave, which is why a quote's debug bit is always checked.
        """
        mask_flags = int.from_bytes(bytes.fromhex(self.attribute_mask)[:8], "little")
        return self.debug or not (mask_flags & ATTRIBUTE_DEBUG)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mrenclave": self.mrenclave,
            "mrsigner": self.mrsigner,
            "isv_prod_id": self.isv_prod_id,
            "isv_svn": self.isv_svn,
            "attributes": self.attributes,
            "attribute_mask": self.attribute_mask,
            "flags": f"{self.flags:#018x}",
            "xfrm": f"{self.xfrm:#018x}",
            "debug": self.debug,
            "debug_possible": self.debug_possible,
            "misc_select": f"{self.misc_select:#010x}",
            "misc_mask": f"{self.misc_mask:#010x}",
            "vendor": f"{self.vendor:#06x}",
            "date": self.date,
            "swdefined": f"{self.swdefined:#010x}",
            "isv_family_id": self.isv_family_id,
            "isv_ext_prod_id": self.isv_ext_prod_id,
            "sigstruct_sha256": self.sha256,
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> Sigstruct:
        """Check the layout, verify the signature and Q1/Q2, and return the measurement.

        Raises :class:`MalformedInputError` (``malformed-input``, naming the field) for a
        wrong size, header, vendor, exponent, modulus or non-zero reserved bytes, and
        :class:`VerificationError` (``signature-invalid``) when the signature or Q1/Q2 do
        not verify.
        """
        data = bytes(data)
        what = "SIGSTRUCT"
        if len(data) != SIGSTRUCT_SIZE:
            raise MalformedInputError(f"{what} size: {len(data)} bytes, expected {SIGSTRUCT_SIZE}")
        if _field(data, "header") != HEADER:
            raise MalformedInputError(f"{what} header: expected {HEADER.hex()}, found {_field(data, 'header').hex()}")
        if _u(data, "vendor") not in VENDORS:
            raise MalformedInputError(f"{what} vendor: {_u(data, 'vendor'):#x} is neither 0 nor 0x8086")
        if _field(data, "header2") != HEADER2:
            raise MalformedInputError(
                f"{what} header2: expected {HEADER2.hex()}, found {_field(data, 'header2').hex()}"
            )
        if _u(data, "exponent") != EXPONENT:
            raise MalformedInputError(f"{what} exponent: {_u(data, 'exponent')}, SGX requires 3")
        n = int.from_bytes(_field(data, "modulus"), "little")
        if n.bit_length() != MODULUS_BITS or n % 2 == 0:
            raise MalformedInputError(f"{what} modulus: not an odd {MODULUS_BITS}-bit RSA modulus")
        if any(_field(data, "reserved4")):
            raise MalformedInputError(f"{what} reserved bytes [1028, 1040) must be zero")
        s = int.from_bytes(_field(data, "signature"), "little")
        if s >= n:
            raise VerificationError(f"{what} signature: not smaller than the modulus", reason=Reason.SIGNATURE_INVALID)
        _verify_rsa(n, s, data[0:128] + data[900:1028])
        # EINIT's helper values (SDM, SIGSTRUCT Q1/Q2); Gramine computes them the same way.
        square = s * s
        if _u(data, "q1") != square // n or _u(data, "q2") != (square % n) * s // n:
            raise VerificationError(
                f"{what} q1/q2: not consistent with the signature and modulus (EINIT would refuse it)",
                reason=Reason.SIGNATURE_INVALID,
            )
        attributes = _field(data, "attributes")
        return cls(
            mrenclave=_field(data, "enclavehash").hex(),
            mrsigner=hashlib.sha256(_field(data, "modulus")).hexdigest(),
            isv_prod_id=_u(data, "isvprodid"),
            isv_svn=_u(data, "isvsvn"),
            attributes=attributes.hex(),
            attribute_mask=_field(data, "attributemask").hex(),
            flags=int.from_bytes(attributes[:8], "little"),
            xfrm=int.from_bytes(attributes[8:], "little"),
            misc_select=_u(data, "miscselect"),
            misc_mask=_u(data, "miscmask"),
            vendor=_u(data, "vendor"),
            # The date is BCD, 0xYYYYMMDD as a little-endian u32: its hex digits read as the date.
            date=f"{_u(data, 'date'):08x}",
            swdefined=_u(data, "swdefined"),
            isv_family_id=_field(data, "isv_family_id").hex(),
            isv_ext_prod_id=_field(data, "isv_ext_prod_id").hex(),
            sha256=hashlib.sha256(data).hexdigest(),
        )


def _verify_rsa(n: int, s: int, message: bytes) -> None:
    """RSASSA-PKCS1-v1_5 with SHA-256, e = 3; the signature as stored is little-endian."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        key = rsa.RSAPublicNumbers(EXPONENT, n).public_key()
    except ValueError as exc:
        raise MalformedInputError(f"SIGSTRUCT modulus: not a usable RSA key: {exc}") from exc
    try:
        key.verify(s.to_bytes(MODULUS_BITS // 8, "big"), message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise VerificationError(
            "SIGSTRUCT signature: does not verify over bytes [0, 128) and [900, 1028)",
            reason=Reason.SIGNATURE_INVALID,
        ) from exc


def read_sigstruct(path: Path | str) -> Sigstruct:
    """Read a SIGSTRUCT file (at most one byte more than 1808 is read) and verify it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise MalformedInputError(f"SIGSTRUCT {path} cannot be opened: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise MalformedInputError(f"SIGSTRUCT {path} is not a regular file")
        chunks: list[bytes] = []
        remaining = SIGSTRUCT_SIZE + 1
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise MalformedInputError(f"SIGSTRUCT {path} cannot be read: {exc.strerror}") from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > SIGSTRUCT_SIZE:
        raise MalformedInputError(f"SIGSTRUCT size: {path} is larger than {SIGSTRUCT_SIZE} bytes")
    return Sigstruct.from_bytes(data)
