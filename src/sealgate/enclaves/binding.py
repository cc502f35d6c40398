"""Report-data binding: a quote proves it was made for this challenge and this TLS key.

The 64 bytes of report data in an SGX or TDX report are chosen by the enclave. For remote
verification sealgate fixes them to::

    report_data[0:32]  = SHA-256("sealgate-ra-v1" || nonce || SHA-256(server TLS SPKI DER))
    report_data[32:64] = 32 zero bytes

- ``"sealgate-ra-v1"`` (14 ASCII bytes) separates this use from any other hash an enclave
  might put there, and versions the scheme.
- ``nonce`` is the client's fresh challenge, 16 to 64 bytes: at least 128 bits so it cannot
  be guessed, at most 64 bytes so it stays a nonce. A quote made for another nonce is a
  replay (``report-data-mismatch``).
- The SPKI is the DER SubjectPublicKeyInfo of the TLS key the service answers with; the
  client compares it with the key of the connection it used. A quote bound to another key
  is being relayed (``report-data-mismatch``).
- The concatenation is unambiguous: the prefix has a fixed length and the SPKI digest is the
  last 32 bytes, so the nonce is whatever lies between.
- The second half is reserved: it must be zero, and the check compares all 64 bytes.

``exact=`` compares the 64 bytes as given instead (``attest verify --report-data``).
Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from sealgate.enclaves.quote import AttestationError
from sealgate.errors import Reason, UsageError

__all__ = [
    "BINDING_DOMAIN",
    "MAX_NONCE_BYTES",
    "MIN_NONCE_BYTES",
    "REPORT_DATA_BYTES",
    "check_report_data",
    "expected_report_data",
]

BINDING_DOMAIN: Final = b"sealgate-ra-v1"
MIN_NONCE_BYTES: Final = 16
MAX_NONCE_BYTES: Final = 64
REPORT_DATA_BYTES: Final = 64
_MAX_SPKI_BYTES: Final = 16 * 1024  # an RSA-16384 SPKI is ~2 KB; anything larger is not a key


def expected_report_data(nonce: bytes, tls_spki_der: bytes) -> bytes:
    """The 64 bytes of report data that bind ``nonce`` and the TLS key ``tls_spki_der``."""
    if type(nonce) is not bytes or not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
        size = len(nonce) if isinstance(nonce, (bytes, bytearray)) else type(nonce).__name__
        raise UsageError(f"the nonce must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes, not {size}")
    if type(tls_spki_der) is not bytes or not 0 < len(tls_spki_der) <= _MAX_SPKI_BYTES or tls_spki_der[0] != 0x30:
        raise UsageError("the TLS key must be a DER SubjectPublicKeyInfo (a DER SEQUENCE, at most 16 KiB)")
    spki_digest = hashlib.sha256(tls_spki_der).digest()
    return hashlib.sha256(BINDING_DOMAIN + nonce + spki_digest).digest() + bytes(32)


def check_report_data(
    report_data: bytes,
    *,
    nonce: bytes | None = None,
    tls_spki_der: bytes | None = None,
    exact: bytes | None = None,
) -> None:
    """Raise ``report-data-mismatch`` unless ``report_data`` binds the challenge.

    Give either ``nonce`` and ``tls_spki_der`` (the remote-verification binding), or
    ``exact`` (64 bytes to compare as they are); anything else is a usage error.
    """
    if exact is not None:
        if nonce is not None or tls_spki_der is not None:
            raise UsageError("give either exact report data or a nonce and a TLS key, not both")
        if type(exact) is not bytes or len(exact) != REPORT_DATA_BYTES:
            raise UsageError(f"exact report data must be {REPORT_DATA_BYTES} bytes")
        expected = exact
    elif nonce is not None and tls_spki_der is not None:
        expected = expected_report_data(nonce, tls_spki_der)
    else:
        raise UsageError("checking report data needs a nonce and the server's TLS key, or exact report data")
    if type(report_data) is not bytes or not hmac.compare_digest(report_data, expected):
        raise AttestationError(
            "the quote's report data does not bind this challenge (a replayed quote, or one bound to another TLS key)",
            reason=Reason.REPORT_DATA_MISMATCH,
        )
