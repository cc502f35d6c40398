"""Mock attestation for development: quotes signed by a development Ed25519 key.

A mock quote carries the same facts as a real one (the TEE, an SGX or TDX report, 64
bytes of report data) so that the enclave check, the binding and the remote protocol can
be exercised on a laptop. It proves nothing about hardware, and everything about it says so:

- the bytes start with ``SEALGATE-MOCK-QUOTE-v1``, which no DCAP quote can start with (a
  DCAP quote starts with its version, a little-endian 3, 4 or 5), so ``verify_quote``
  refuses a mock quote and :func:`verify_mock_quote` refuses a DCAP quote;
- :func:`verify_mock_quote` refuses every mock quote (``mock-evidence-refused``) unless the
  caller passes ``insecure_accept_mock=True``, and then warns (:class:`MockEvidenceWarning`)
  on every call;
- the :class:`VerifiedQuote` it returns has ``mock=True`` and ``tcb_status == "Mock"``, a
  status no policy knows, and its ``repr`` starts with ``MOCK``;
- the provider's ``mock`` attribute is True.

Whether mock evidence may be used at all is the gate's decision (never in production, never
for a PROD entry); this module only makes it impossible to mistake for the real thing.

Wire format (all integers big-endian)::

    "SEALGATE-MOCK-QUOTE-v1" "\\n" key-id (64 lowercase hex) "\\n" u32 payload length
    payload: canonical JSON {"_type": "sealgate/mock-quote/v1", "tee", "report_data", "sgx" | "tdx"}
    signature: Ed25519, 64 bytes, over everything before it
"""

from __future__ import annotations

import json
import struct
import warnings
from collections.abc import Callable, Collection
from typing import Any, Final

from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.crypto.keys import PrivateKey, PublicKey
from sealgate.enclaves.quote import (
    MOCK_QUOTE_MAGIC,
    MOCK_TCB_STATUS,
    AttestationError,
    SgxReport,
    TcbLevelStatus,
    TdxReport,
    Tee,
    VerifiedQuote,
)
from sealgate.errors import MalformedInputError, Reason, UsageError, VerificationError

__all__ = [
    "MOCK_MAGIC",
    "MOCK_PAYLOAD_TYPE",
    "MockEvidenceWarning",
    "MockQuoteProvider",
    "mock_sgx_report",
    "mock_tdx_report",
    "verify_mock_quote",
]

MOCK_MAGIC: Final = MOCK_QUOTE_MAGIC
MOCK_PAYLOAD_TYPE: Final = "sealgate/mock-quote/v1"
_KEYID_LEN: Final = 64
_HEADER: Final = struct.Struct(f">{len(MOCK_MAGIC)}sc{_KEYID_LEN}scI")
_SIGNATURE_LEN: Final = 64
_MAX_PAYLOAD: Final = 16 * 1024
_MOCK_STATUS: Final = TcbLevelStatus(MOCK_TCB_STATUS, ())
_SGX_FIELDS: Final = frozenset(SgxReport.__dataclass_fields__)
_TDX_FIELDS: Final = frozenset(TdxReport.__dataclass_fields__)


class MockEvidenceWarning(UserWarning):
    """Mock attestation evidence was accepted: this process proves nothing about hardware."""


def mock_sgx_report(
    *, mr_enclave: str, mr_signer: str, isv_prod_id: int = 0, isv_svn: int = 0, debug: bool = False
) -> SgxReport:
    """An SGX identity for a mock provider; ATTRIBUTES are INIT|MODE64BIT, plus DEBUG if asked."""
    flags = 0x05 | (0x02 if debug else 0)
    report = SgxReport(
        mr_enclave=mr_enclave.lower(),
        mr_signer=mr_signer.lower(),
        isv_prod_id=isv_prod_id,
        isv_svn=isv_svn,
        attributes=f"{flags:02x}" + "00" * 7 + "e7" + "00" * 7,
        misc_select=0,
        cpu_svn="00" * 16,
    )
    _usage(_check_sgx, report)
    return report


def mock_tdx_report(
    *,
    mr_td: str,
    rtmr0: str = "00" * 48,
    rtmr1: str = "00" * 48,
    rtmr2: str = "00" * 48,
    rtmr3: str = "00" * 48,
    mr_config_id: str = "00" * 48,
    tee_tcb_svn: str = "00" * 16,
    debug: bool = False,
) -> TdxReport:
    """A TDX identity for a mock provider; TD_ATTRIBUTES has SEPT_VE_DISABLE, plus DEBUG if asked."""
    zeros = "00" * 48
    report = TdxReport(
        mr_td=mr_td.lower(),
        rtmr0=rtmr0.lower(),
        rtmr1=rtmr1.lower(),
        rtmr2=rtmr2.lower(),
        rtmr3=rtmr3.lower(),
        mr_config_id=mr_config_id.lower(),
        mr_owner=zeros,
        mr_owner_config=zeros,
        td_attributes=("01" if debug else "00") + "000010" + "00" * 4,  # byte 3 bit 4: SEPT_VE_DISABLE
        xfam="e702060000000000",
        tee_tcb_svn=tee_tcb_svn.lower(),
        mr_seam=zeros,
        mr_signer_seam=zeros,
        seam_attributes="00" * 8,
    )
    _usage(_check_tdx, report)
    return report


class MockQuoteProvider:
    """Signs mock quotes for one enclave identity with a development Ed25519 key."""

    name = "mock"
    mock = True

    def __init__(self, key: PrivateKey, report: SgxReport | TdxReport) -> None:
        if key.public.keytype != "ed25519":
            raise UsageError("mock quotes are signed with an Ed25519 development key")
        if isinstance(report, SgxReport):
            _usage(_check_sgx, report)
        else:
            _usage(_check_tdx, report)
        self._key = key
        self._report = report

    def get_quote(self, report_data: bytes) -> bytes:
        if type(report_data) is not bytes or len(report_data) != 64:
            raise UsageError("report data must be exactly 64 bytes")
        tee = Tee.SGX if isinstance(self._report, SgxReport) else Tee.TDX
        body = {name: getattr(self._report, name) for name in self._report.__dataclass_fields__}
        payload = canonical_bytes(
            {"_type": MOCK_PAYLOAD_TYPE, "tee": tee.value, "report_data": report_data.hex(), tee.value: body}
        )
        header = _HEADER.pack(MOCK_MAGIC, b"\n", self._key.keyid.encode("ascii"), b"\n", len(payload))
        return header + payload + self._key.sign(header + payload)


def verify_mock_quote(
    quote: bytes, *, trusted_keys: Collection[PublicKey], at: int, insecure_accept_mock: bool
) -> VerifiedQuote:
    """Verify a mock quote, if and only if the caller explicitly accepts mock evidence.

    Raises ``quote-invalid`` for anything that is not an intact mock quote signed by one of
    ``trusted_keys``, and ``mock-evidence-refused`` unless ``insecure_accept_mock`` is True.
    """
    if type(at) is not int or at < 0:
        raise UsageError(f"the reference time must be a non-negative integer unix time, not {at!r}")
    if not isinstance(quote, bytes) or not quote.startswith(MOCK_MAGIC):
        raise AttestationError("not a mock quote: it does not start with the SEALGATE-MOCK-QUOTE-v1 header")
    if insecure_accept_mock is not True:
        raise AttestationError(
            "mock attestation evidence proves nothing about hardware and is refused here",
            reason=Reason.MOCK_EVIDENCE_REFUSED,
        )
    warnings.warn(
        "accepting MOCK attestation evidence: development only, it proves nothing about hardware",
        MockEvidenceWarning,
        stacklevel=2,
    )
    keys = {key.keyid: key for key in trusted_keys}
    if not keys:
        raise UsageError("verifying mock quotes needs at least one trusted development key")
    if any(key.keytype != "ed25519" for key in keys.values()):
        raise UsageError("mock quotes are verified with Ed25519 development keys only")

    if len(quote) < _HEADER.size + _SIGNATURE_LEN:
        raise AttestationError("the mock quote is truncated")
    _, nl1, keyid, nl2, size = _HEADER.unpack_from(quote)
    if nl1 != b"\n" or nl2 != b"\n" or size > _MAX_PAYLOAD or len(quote) != _HEADER.size + size + _SIGNATURE_LEN:
        raise AttestationError("the mock quote's framing is malformed")
    key = keys.get(keyid.decode("ascii", "replace"))
    if key is None:
        raise AttestationError("the mock quote is signed by a key that is not a trusted development key")
    signed, signature = quote[:-_SIGNATURE_LEN], quote[-_SIGNATURE_LEN:]
    try:
        key.verify(signature, signed)
    except VerificationError as exc:
        raise AttestationError("the mock quote's signature does not verify") from exc
    # The payload is parsed once, from the verified bytes.
    try:
        return _verified(loads_strict(signed[_HEADER.size :], what="the mock quote's payload"), at)
    except (MalformedInputError, KeyError, TypeError, ValueError) as exc:
        raise AttestationError(f"the mock quote's payload is malformed: {exc}") from exc


def _verified(doc: Any, at: int) -> VerifiedQuote:
    if not isinstance(doc, dict) or doc.get("_type") != MOCK_PAYLOAD_TYPE:
        raise ValueError(f"payload type is not {MOCK_PAYLOAD_TYPE}")
    tee = Tee(doc["tee"])
    if set(doc) != {"_type", "tee", "report_data", tee.value}:
        raise ValueError("unexpected payload fields")
    report_data = doc["report_data"]
    if not isinstance(report_data, str) or len(report_data) != 128:
        raise ValueError("report_data is not 64 bytes of hex")
    body = doc[tee.value]
    if not isinstance(body, dict):
        raise ValueError("the report is not an object")
    sgx: SgxReport | None = None
    tdx: TdxReport | None = None
    if tee is Tee.SGX:
        if set(body) != _SGX_FIELDS:
            raise ValueError("unexpected SGX report fields")
        sgx = SgxReport(**body)
        _check_sgx(sgx)
        debug = bool(int(sgx.attributes[0:2], 16) & 0x02)
    else:
        if set(body) != _TDX_FIELDS:
            raise ValueError("unexpected TDX report fields")
        tdx = TdxReport(**body)
        _check_tdx(tdx)
        debug = bool(int(tdx.td_attributes[0:2], 16) & 0x01)
    return VerifiedQuote(
        tee=tee,
        mock=True,
        debug=debug,
        tcb_status=MOCK_TCB_STATUS,
        advisory_ids=(),
        qe_status=_MOCK_STATUS,
        platform_status=_MOCK_STATUS,
        report_data=bytes.fromhex(report_data),
        sgx=sgx,
        tdx=tdx,
        verified_at=at,
    )


def _usage(check: Callable[[Any], None], report: SgxReport | TdxReport) -> None:
    try:
        check(report)
    except ValueError as exc:
        raise UsageError(f"invalid mock identity: {exc}") from exc


def _hex_field(value: object, size: int, name: str) -> None:
    if not isinstance(value, str) or len(value) != 2 * size or value != value.lower():
        raise ValueError(f"{name} must be {size} bytes of lowercase hex")
    bytes.fromhex(value)


def _uint_field(value: object, bits: int, name: str) -> None:
    if type(value) is not int or not 0 <= value < 1 << bits:
        raise ValueError(f"{name} must be a {bits}-bit unsigned integer")


def _check_sgx(report: SgxReport) -> None:
    for name, size in (("mr_enclave", 32), ("mr_signer", 32), ("attributes", 16), ("cpu_svn", 16)):
        _hex_field(getattr(report, name), size, name)
    _uint_field(report.isv_prod_id, 16, "isv_prod_id")
    _uint_field(report.isv_svn, 16, "isv_svn")
    _uint_field(report.misc_select, 32, "misc_select")


def _check_tdx(report: TdxReport) -> None:
    sizes = {"td_attributes": 8, "xfam": 8, "seam_attributes": 8, "tee_tcb_svn": 16, "tee_tcb_svn2": 16}
    for name in report.__dataclass_fields__:
        value = getattr(report, name)
        if value is None and name in ("tee_tcb_svn2", "mr_service_td"):
            continue
        _hex_field(value, sizes.get(name, 48), name)


def claimed_identity(quote: bytes) -> dict[str, Any]:
    """The report a mock quote *claims*, read without verifying it: for choosing a registry entry only.

    Returns ``{}`` for anything that is not framed like a mock quote. Never a basis for a
    decision: :func:`verify_mock_quote` is.
    """
    if not isinstance(quote, bytes) or not quote.startswith(MOCK_MAGIC) or len(quote) < _HEADER.size:
        return {}
    size = _HEADER.unpack_from(quote)[-1]
    try:
        doc = json.loads(quote[_HEADER.size : _HEADER.size + size])
    except ValueError:
        return {}
    body = doc.get(doc.get("tee")) if isinstance(doc, dict) and isinstance(doc.get("tee"), str) else None
    return body if isinstance(body, dict) else {}
