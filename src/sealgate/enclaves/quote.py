"""DCAP quote verification: SGX and TDX quotes checked offline against the pinned Intel root.

:func:`verify_quote` takes the raw quote, its collateral (the JSON that dcap-qvl and PCCS
use) and one reference time, and returns a :class:`VerifiedQuote` whose identity fields
come only from the report that dcap-qvl verified, or raises :class:`AttestationError`
with a stable reason. The checks, in order (docs/attestation.md):

1. bounds and framing: sizes, a mock quote is not DCAP evidence (``mock-evidence-refused``),
   the header names SGX (quote v3) or TDX (v4/v5) and the quote carries a PCK chain
   (``quote-invalid``);
2. the collateral parses: exactly the nine fields, hex where binary, strict JSON
   (``collateral-invalid``);
3. every certificate chain, in the collateral and in the quote, is exactly as long as
   Intel's hierarchy and ends in the pinned Intel SGX root CA, byte for byte
   (``root-ca-mismatch``). dcap-qvl itself verifies against its own root and ignores a
   root certificate the chain carries, so a look-alike root would pass it unnoticed;
4. freshness at ``at``: TCB info and QE identity issue date / next update, both CRLs'
   this / next update, every certificate's validity (``collateral-expired``);
5. ``dcap_qvl.verify_with_root_ca`` with the pinned root: signatures over the collateral,
   the PCK chain and CRLs, the QE report and its signature, the attestation key hash, the
   ISV report signature over header and body, the TCB level match. Its error text is
   mapped to a reason; anything unrecognised is ``quote-invalid``, never success.

The module imports ``dcap_qvl`` only inside :func:`verify_quote`, so importing it (for
:class:`VerifiedQuote` or the providers) costs almost nothing. It also holds the
:class:`QuoteProvider` interface and the Gramine provider; the mock provider lives in
:mod:`sealgate.enclaves.mock`.
"""

from __future__ import annotations

import binascii
import enum
import functools
import json
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from sealgate._dataclass import dataclass
from sealgate.canonical import loads_strict
from sealgate.enclaves.intel_root import INTEL_SGX_ROOT_CA_DER
from sealgate.errors import MalformedInputError, Reason, UsageError, VerificationError
from sealgate.registry.documents import TCB_STATUSES

__all__ = [
    "KNOWN_TCB_STATUSES",
    "MAX_COLLATERAL_BYTES",
    "MAX_QUOTE_BYTES",
    "MOCK_QUOTE_MAGIC",
    "MOCK_TCB_STATUS",
    "AttestationError",
    "GramineQuoteProvider",
    "QuoteProvider",
    "SgxReport",
    "TcbLevelStatus",
    "TdxReport",
    "Tee",
    "VerifiedQuote",
    "verify_quote",
]

#: Real SGX quotes are ~4.6 KB and TDX quotes ~5 KB; 64 KiB leaves room for longer chains.
MAX_QUOTE_BYTES: Final = 64 * 1024
#: Intel collateral is ~14-16 KB; CRLs can grow, hence the generous bound.
MAX_COLLATERAL_BYTES: Final = 4 * 1024 * 1024

#: The TCB statuses Intel defines (and dcap-qvl reports). The enclave check denies any other.
KNOWN_TCB_STATUSES: Final = frozenset(TCB_STATUSES)
#: The status every mock quote reports. It is deliberately not in KNOWN_TCB_STATUSES, so a
#: check that forgets to look at ``VerifiedQuote.mock`` still denies mock evidence.
MOCK_TCB_STATUS: Final = "Mock"

#: The first bytes of every mock quote (sealgate.enclaves.mock); no DCAP quote starts with them.
MOCK_QUOTE_MAGIC: Final = b"SEALGATE-MOCK-QUOTE-v1"
_TEE_TYPE_SGX: Final = 0x00
_TEE_TYPE_TDX: Final = 0x81
_REPORT_DATA_LEN: Final = 64

# Intel's PKI (SGX PCK Certificate and CRL profile): PCK leaf -> Platform/Processor CA ->
# root in the quote; TCB Signing (or the PCK CA) -> root in the collateral.
_COLLATERAL_CHAINS: Final = ("pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain")
_COLLATERAL_CHAIN_LEN: Final = 2
_PCK_CHAIN_LEN: Final = 3
_HEX_FIELDS: Final = ("root_ca_crl", "pck_crl", "tcb_info_signature", "qe_identity_signature")
_TEXT_FIELDS: Final = (*_COLLATERAL_CHAINS, "tcb_info", "qe_identity")
_COLLATERAL_FIELDS: Final = frozenset(_HEX_FIELDS + _TEXT_FIELDS)


class AttestationError(VerificationError):
    """Attestation evidence (a quote, its collateral, report data) did not verify.

    ``reason`` says why: ``quote-invalid``, ``collateral-invalid``, ``collateral-expired``,
    ``root-ca-mismatch``, ``debug-enclave``, ``tcb-status-not-allowed`` (a Revoked platform),
    ``report-data-mismatch`` or ``mock-evidence-refused``.
    """

    default_reason = Reason.QUOTE_INVALID


class Tee(enum.Enum):
    """The trusted execution environment a quote comes from."""

    SGX = "sgx"
    TDX = "tdx"


@dataclass(frozen=True, slots=True)
class TcbLevelStatus:
    """A TCB status with the advisories Intel lists for it (platform or quoting enclave)."""

    status: str
    advisory_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SgxReport:
    """The identity of an SGX enclave, from its verified report. Byte fields are lowercase hex."""

    mr_enclave: str  # 32 bytes
    mr_signer: str  # 32 bytes
    isv_prod_id: int
    isv_svn: int
    attributes: str  # 16 bytes: flags (byte 0 bit 1 = DEBUG) then XFRM
    misc_select: int
    cpu_svn: str  # 16 bytes


@dataclass(frozen=True, slots=True)
class TdxReport:
    """The identity of a TDX trust domain, from its verified TD report. Byte fields are lowercase hex."""

    mr_td: str  # 48 bytes each for the measurement registers
    rtmr0: str
    rtmr1: str
    rtmr2: str
    rtmr3: str
    mr_config_id: str
    mr_owner: str
    mr_owner_config: str
    td_attributes: str  # 8 bytes: byte 0 bit 0 = DEBUG
    xfam: str  # 8 bytes
    tee_tcb_svn: str  # 16 bytes
    mr_seam: str
    mr_signer_seam: str
    seam_attributes: str
    # TD 1.5 reports only (quote v5, body type 3); None for a TD 1.0 report.
    tee_tcb_svn2: str | None = None
    mr_service_td: str | None = None


@dataclass(frozen=True, slots=True)
class VerifiedQuote:
    """What a verified quote proves. Built only from the verified report, never from a parse.

    ``mock`` is True for development evidence from :mod:`sealgate.enclaves.mock`; such a
    quote also reports ``tcb_status == "Mock"``, which is not a known TCB status, and its
    ``repr`` starts with ``MOCK``. Exactly one of ``sgx`` / ``tdx`` is set, matching ``tee``.
    ``debug`` is the SGX ATTRIBUTES DEBUG flag or the TDX TD_ATTRIBUTES DEBUG bit.
    ``verified_at`` is the reference time (unix seconds) the evidence was checked at.
    """

    tee: Tee
    mock: bool
    debug: bool
    tcb_status: str
    advisory_ids: tuple[str, ...]
    qe_status: TcbLevelStatus
    platform_status: TcbLevelStatus
    report_data: bytes
    sgx: SgxReport | None
    tdx: TdxReport | None
    verified_at: int

    def __post_init__(self) -> None:
        if (self.sgx is not None) != (self.tee is Tee.SGX) or (self.tdx is not None) != (self.tee is Tee.TDX):
            raise ValueError("exactly the report of the quote's TEE must be set")
        if len(self.report_data) != _REPORT_DATA_LEN:
            raise ValueError("report_data must be 64 bytes")
        if self.mock != (self.tcb_status == MOCK_TCB_STATUS):
            raise ValueError(f"tcb_status {MOCK_TCB_STATUS!r} is reserved for mock quotes, and mock quotes carry it")

    def __repr__(self) -> str:
        kind = "MOCK " if self.mock else ""
        ident = self.sgx if self.sgx is not None else self.tdx
        return (
            f"VerifiedQuote({kind}{self.tee.value}, tcb_status={self.tcb_status!r}, debug={self.debug}, "
            f"advisory_ids={self.advisory_ids!r}, {ident!r})"
        )


class QuoteProvider(Protocol):
    """Where an enclave gets its own quote: Gramine's ``/dev/attestation``, or the mock."""

    @property
    def name(self) -> str:
        """A short name for logs and audit records (``gramine``, ``mock``)."""
        ...

    @property
    def mock(self) -> bool:
        """True for development providers whose quotes the gate refuses in production."""
        ...

    def get_quote(self, report_data: bytes) -> bytes:
        """A fresh quote whose report binds these 64 bytes of report data."""
        ...


# Gramine's /dev/attestation is process-global: the write of report data and the read of the
# quote must not interleave between threads.
_GRAMINE_LOCK = threading.Lock()


class GramineQuoteProvider:
    """Quotes from Gramine's ``/dev/attestation`` pseudo-files (SGX DCAP).

    The documented interface: ``attestation_type`` reads ``dcap``; writing exactly 64 bytes
    to ``user_report_data`` sets the report data; reading ``quote`` returns a quote over
    them. ``attestation_dir`` exists for tests and unusual mounts.
    """

    name = "gramine"
    mock = False

    def __init__(self, attestation_dir: str | os.PathLike[str] = "/dev/attestation") -> None:
        self._dir = os.fspath(attestation_dir)

    def get_quote(self, report_data: bytes) -> bytes:
        if type(report_data) is not bytes or len(report_data) != _REPORT_DATA_LEN:
            raise UsageError("report data must be exactly 64 bytes")
        with _GRAMINE_LOCK:
            kind = self._read("attestation_type", 64).strip(b"\n\0 ")
            if kind != b"dcap":
                raise AttestationError(
                    f"Gramine's attestation type is {kind.decode(errors='replace')!r}, not 'dcap': "
                    'enable DCAP remote attestation in the manifest (sgx.remote_attestation = "dcap")'
                )
            self._write("user_report_data", report_data)
            quote = self._read("quote", MAX_QUOTE_BYTES)
        if not quote:
            raise AttestationError(f"{self._dir}/quote returned no quote")
        return quote

    def _write(self, name: str, data: bytes) -> None:
        path = os.path.join(self._dir, name)
        try:
            # No O_CREAT / O_TRUNC: the pseudo-file exists when Gramine provides it, and
            # creating one elsewhere would only hide a missing interface.
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        except OSError as exc:
            raise AttestationError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def _read(self, name: str, limit: int) -> bytes:
        path = os.path.join(self._dir, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                chunks: list[bytes] = []
                size = 0
                while size <= limit:
                    chunk = os.read(fd, limit + 1 - size)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AttestationError(
                f"cannot read {path}: {exc.strerror or exc} (is this running inside Gramine with attestation?)"
            ) from exc
        if size > limit:
            raise AttestationError(f"{path} holds more than {limit} bytes")
        return b"".join(chunks)


# --- verification ----------------------------------------------------------------------


def verify_quote(quote: bytes, collateral: bytes | str, *, at: int) -> VerifiedQuote:
    """Verify an SGX (v3) or TDX (v4/v5) DCAP quote offline, at unix time ``at``.

    ``collateral`` is the collateral JSON (dcap-qvl's ``QuoteCollateralV3`` format: issuer
    chains in PEM, CRLs and signatures in hex, TCB info and QE identity as JSON text).
    Raises :class:`AttestationError` with the reason; returns only verified facts.
    """
    if type(at) is not int or not 0 <= at < 2**63:
        raise UsageError(f"the reference time must be a non-negative integer unix time, not {at!r}")
    if not isinstance(quote, bytes):
        raise UsageError("the quote must be bytes")
    quote = bytes(quote)
    if len(quote) > MAX_QUOTE_BYTES:
        raise AttestationError(f"the quote is {len(quote)} bytes, over the {MAX_QUOTE_BYTES}-byte limit")
    if quote.startswith(MOCK_QUOTE_MAGIC):
        raise AttestationError(
            "this is a mock quote (development evidence), not an Intel DCAP quote",
            reason=Reason.MOCK_EVIDENCE_REFUSED,
        )

    if isinstance(collateral, str):
        collateral = str(collateral)  # an exact str or bytes: the value keys a cache below
    elif isinstance(collateral, bytes):
        collateral = bytes(collateral)
    else:
        raise UsageError("the collateral must be JSON text (bytes or str)")

    import dcap_qvl  # type: ignore[import-untyped]  # ships a .pyi but no py.typed

    tee, pck_chain_pem = _frame(dcap_qvl, quote)
    # Steps 2-4. The collateral and the PCK chain are parsed and pinned once per distinct
    # value (a gate sees the same few again and again); the time is compared on every call.
    prepared = (
        _prepare_collateral(collateral)
        if len(collateral) <= _CACHED_COLLATERAL_BYTES
        else _prepare_collateral.__wrapped__(collateral)
    )
    pck_windows = _prepare_pck_chain(pck_chain_pem)
    _check_windows((*prepared.windows, *pck_windows), at)

    # Step 5: the cryptography, with the collateral object built from the values checked
    # above, so dcap-qvl verifies exactly what was inspected (no second JSON parser).
    try:
        report = dcap_qvl.verify_with_root_ca(quote, prepared.dcap, INTEL_SGX_ROOT_CA_DER, at)
    except (ValueError, TypeError, OverflowError, RuntimeError) as exc:
        raise _translate(str(exc)) from exc
    try:
        # dcap-qvl's own serialisation of the report it verified (serde_json: no duplicate
        # keys, no NaN), so the plain parser reads it as written.
        doc = json.loads(report.to_json())
    except (ValueError, RecursionError) as exc:
        raise AttestationError(f"dcap-qvl returned an unreadable report: {exc}") from exc
    return _verified_quote(doc, tee, at)


# A validity window: what, not before, not after (unix seconds, both inclusive).
_Window = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class _Collateral:
    dcap: Any  # dcap_qvl.QuoteCollateralV3, built from the checked fields; immutable
    windows: tuple[_Window, ...]


# Real collateral is ~14-16 KB; larger documents are prepared on every call instead of
# cached, so that the cache holds at most a few MiB whatever callers send.
_CACHED_COLLATERAL_BYTES: Final = 256 * 1024


@functools.lru_cache(maxsize=16)
def _prepare_collateral(collateral: bytes | str) -> _Collateral:
    """Parse the collateral, pin the root of its three chains, read its validity windows.

    Cached by the exact collateral text: the result depends on nothing else, and a failure
    (an exception) is not cached.
    """
    fields = _parse_collateral(collateral)
    windows: list[_Window] = []
    # Step 3: the trust anchor. Everything dcap-qvl verifies chains to the pinned root it is
    # given; these checks make sure nothing in the evidence claims another one.
    for name in _COLLATERAL_CHAINS:
        text = fields[name]
        assert isinstance(text, str)
        certs = _pem_chain(text.encode("ascii"), what=name, reason=Reason.COLLATERAL_INVALID)
        _require_pinned_root(certs, _COLLATERAL_CHAIN_LEN, name, Reason.COLLATERAL_INVALID)
        windows.extend(_cert_windows(certs, name, Reason.COLLATERAL_INVALID))
    # Step 4: the dates of the signed documents and the CRLs. dcap-qvl checks the same
    # windows again; checking them here makes the reason exact.
    for name, label in (("tcb_info", "TCB info"), ("qe_identity", "QE identity")):
        text = fields[name]
        assert isinstance(text, str)
        try:
            # Plain json: only two dates are read, and dcap-qvl enforces the same window
            # from its own parse, so a parser disagreement can only deny.
            body = json.loads(text)
            windows.append((label, _rfc3339(body["issueDate"]), _rfc3339(body["nextUpdate"])))
        except (KeyError, ValueError, TypeError, RecursionError) as exc:
            raise AttestationError(
                f"collateral field {name} has no readable issueDate / nextUpdate", reason=Reason.COLLATERAL_INVALID
            ) from exc
    for name, label in (("root_ca_crl", "root CA CRL"), ("pck_crl", "PCK CRL")):
        crl = fields[name]
        assert isinstance(crl, bytes)
        try:
            this_update, next_update = _crl_window(crl)
        except ValueError as exc:
            raise AttestationError(f"the {label} is not a DER CRL", reason=Reason.COLLATERAL_INVALID) from exc
        if next_update is None:
            raise AttestationError(f"the {label} has no nextUpdate", reason=Reason.COLLATERAL_INVALID)
        windows.append((label, this_update, next_update))
    import dcap_qvl  # already imported by verify_quote (mypy: see the ignore there)

    try:
        dcap = dcap_qvl.QuoteCollateralV3(**fields)
    except (ValueError, TypeError) as exc:
        raise AttestationError(f"dcap-qvl refuses the collateral: {exc}", reason=Reason.COLLATERAL_INVALID) from exc
    return _Collateral(dcap, tuple(windows))


@functools.lru_cache(maxsize=64)
def _prepare_pck_chain(chain_pem: bytes) -> tuple[_Window, ...]:
    """Pin the root of the quote's PCK chain and read its validity windows (cached like above)."""
    what = "the quote's PCK certificate chain"
    certs = _pem_chain(chain_pem, what=what, reason=Reason.QUOTE_INVALID)
    _require_pinned_root(certs, _PCK_CHAIN_LEN, what, Reason.QUOTE_INVALID)
    return tuple(_cert_windows(certs, what, Reason.QUOTE_INVALID))


def _cert_windows(certs: list[bytes], what: str, reason: Reason) -> list[_Window]:
    windows = []
    for index, der in enumerate(certs):
        try:
            not_before, not_after = _cert_window(der)
        except ValueError as exc:
            raise AttestationError(f"certificate {index} of {what} is not DER", reason=reason) from exc
        windows.append((f"certificate {index} of {what}", not_before, not_after))
    return windows


def _check_windows(windows: tuple[_Window, ...], at: int) -> None:
    for label, start, stop in windows:
        if at < start:
            raise AttestationError(
                f"the {label} is not valid until {_iso(start)} (checked at {_iso(at)})",
                reason=Reason.COLLATERAL_EXPIRED,
            )
        if at > stop:
            raise AttestationError(
                f"the {label} expired at {_iso(stop)} (checked at {_iso(at)}); fetch fresh collateral",
                reason=Reason.COLLATERAL_EXPIRED,
            )


def _frame(dcap_qvl: Any, quote: bytes) -> tuple[Tee, bytes]:
    """The quote's TEE and the PCK chain it carries, from dcap-qvl's parser (no trust yet)."""
    try:
        parsed = dcap_qvl.parse_quote(quote)
        header = parsed.header
        version, tee_type, chain = header.version, header.tee_type, parsed.cert_chain_pem_bytes()
    except (ValueError, TypeError) as exc:
        first = str(exc).split("\n", 1)[0]
        raise AttestationError(f"the quote does not parse: {first}") from exc
    if tee_type == _TEE_TYPE_SGX and version == 3:
        tee = Tee.SGX
    elif tee_type == _TEE_TYPE_TDX and version in (4, 5):
        tee = Tee.TDX
    else:
        raise AttestationError(f"unsupported quote: version {version}, TEE type {tee_type:#x} (SGX v3, TDX v4/v5)")
    if not chain:
        raise AttestationError("the quote carries no PCK certificate chain (certification data type 5)")
    return tee, bytes(chain)


def _parse_collateral(collateral: bytes | str) -> dict[str, str | bytes]:
    """The nine collateral fields, binary ones decoded; anything else is collateral-invalid."""
    if len(collateral) > MAX_COLLATERAL_BYTES:
        raise AttestationError(
            f"the collateral is {len(collateral)} bytes, over the {MAX_COLLATERAL_BYTES}-byte limit",
            reason=Reason.COLLATERAL_INVALID,
        )
    try:
        text = collateral.decode("utf-8") if isinstance(collateral, bytes) else collateral
        doc = loads_strict(text, what="the collateral", max_size=MAX_COLLATERAL_BYTES)
    except UnicodeDecodeError as exc:
        raise AttestationError("the collateral is not UTF-8 JSON", reason=Reason.COLLATERAL_INVALID) from exc
    except MalformedInputError as exc:
        raise AttestationError(exc.message, reason=Reason.COLLATERAL_INVALID) from exc
    if not isinstance(doc, dict) or set(doc) != _COLLATERAL_FIELDS:
        have = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise AttestationError(
            f"the collateral must be an object with exactly {sorted(_COLLATERAL_FIELDS)}; got {have}",
            reason=Reason.COLLATERAL_INVALID,
        )
    out: dict[str, str | bytes] = {}
    for name in _TEXT_FIELDS:
        value = doc[name]
        if not isinstance(value, str) or not value.isascii():
            raise AttestationError(f"collateral field {name} must be ASCII text", reason=Reason.COLLATERAL_INVALID)
        out[name] = value
    for name in _HEX_FIELDS:
        value = doc[name]
        try:
            if not isinstance(value, str):
                raise ValueError("not a string")
            out[name] = binascii.unhexlify(value)
        except (ValueError, binascii.Error) as exc:
            raise AttestationError(
                f"collateral field {name} must be a hex string", reason=Reason.COLLATERAL_INVALID
            ) from exc
    return out


_PEM_BEGIN: Final = b"-----BEGIN CERTIFICATE-----"
_PEM_END: Final = b"-----END CERTIFICATE-----"
_PEM_SPACE: Final = b" \t\r\n"


def _pem_chain(data: bytes, *, what: str, reason: Reason) -> list[bytes]:
    """DER certificates of a PEM chain. Strict: CERTIFICATE blocks and whitespace only.

    dcap-qvl's PEM reader takes every block whatever its label and skips text between
    blocks; refusing anything else means both always see the same certificates.
    """
    certs: list[bytes] = []
    pos = 0
    # The quote's chain is a C string: trailing NULs are framing, not content.
    end = len(data.rstrip(b"\0"))
    while True:
        start = data.find(b"-----", pos, end)
        gap = data[pos:end] if start < 0 else data[pos:start]
        if gap.strip(_PEM_SPACE):
            raise AttestationError(f"{what}: text outside the certificate blocks", reason=reason)
        if start < 0:
            break
        if not data.startswith(_PEM_BEGIN, start):
            raise AttestationError(f"{what}: a PEM block that is not a CERTIFICATE", reason=reason)
        body_start = start + len(_PEM_BEGIN)
        stop = data.find(b"-----", body_start, end)
        if stop < 0 or not data.startswith(_PEM_END, stop):
            raise AttestationError(f"{what}: an unterminated certificate block", reason=reason)
        try:
            der = binascii.a2b_base64(data[body_start:stop].translate(None, _PEM_SPACE), strict_mode=True)
        except binascii.Error as exc:
            raise AttestationError(f"{what}: a certificate is not valid base64", reason=reason) from exc
        certs.append(der)
        pos = stop + len(_PEM_END)
    return certs


def _require_pinned_root(certs: list[bytes], length: int, what: str, reason: Reason) -> None:
    if not certs:
        raise AttestationError(f"{what} holds no certificate", reason=reason)
    # The root is judged first: a chain that ends in another root is a look-alike, whatever
    # its length.
    if certs[-1] != INTEL_SGX_ROOT_CA_DER:
        raise AttestationError(
            f"{what} ends in a root certificate other than the pinned Intel SGX Root CA",
            reason=Reason.ROOT_CA_MISMATCH,
        )
    if len(certs) != length:
        raise AttestationError(
            f"{what} holds {len(certs)} certificates; Intel's hierarchy has exactly {length}", reason=reason
        )


def _rfc3339(value: object) -> int:
    if not isinstance(value, str) or "T" not in value:
        raise ValueError("not an RFC 3339 date-time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("an RFC 3339 date-time needs a time zone")
    return int(moment.timestamp())


def _iso(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# A minimal DER reader: just enough to find the validity of certificates and CRLs without
# importing an X.509 library (pyca's costs ~70 ms of start-up). dcap-qvl parses the same
# structures fully; a disagreement can only make verification fail.


def _tlv(der: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start, end) of the DER element at ``pos``; ValueError if it does not fit."""
    if pos + 2 > end:
        raise ValueError("truncated DER")
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > end:
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _expect(der: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    found, start, stop = _tlv(der, pos, end)
    if found != tag:
        raise ValueError(f"DER tag {found:#x}, expected {tag:#x}")
    return start, stop


_SEQUENCE: Final = 0x30
_INTEGER: Final = 0x02
_UTC_TIME: Final = 0x17
_GENERALIZED_TIME: Final = 0x18


def _der_time(der: bytes, pos: int, end: int) -> tuple[int, int]:
    """(unix seconds, position after) of a UTCTime or GeneralizedTime."""
    tag, start, stop = _tlv(der, pos, end)
    text = der[start:stop].decode("ascii")
    if tag == _UTC_TIME and len(text) == 13 and text.endswith("Z"):
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text  # RFC 5280 4.1.2.5.1
    elif not (tag == _GENERALIZED_TIME and len(text) == 15 and text.endswith("Z")):
        raise ValueError("unsupported DER time")
    if not text[:14].isdigit():
        raise ValueError("bad DER time")
    moment = datetime(
        int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14]),
        tzinfo=UTC,
    )  # fmt: skip
    return int(moment.timestamp()), stop


def _cert_window(der: bytes) -> tuple[int, int]:
    """notBefore, notAfter of an X.509 certificate (RFC 5280 4.1)."""
    start, stop = _expect(der, 0, len(der), _SEQUENCE)
    if stop != len(der):
        raise ValueError("trailing data after the certificate")
    pos, tbs_end = _expect(der, start, stop, _SEQUENCE)
    tag, _, after = _tlv(der, pos, tbs_end)
    if tag == 0xA0:  # [0] EXPLICIT version
        pos = after
    _, pos = _expect(der, pos, tbs_end, _INTEGER)  # serialNumber
    _, pos = _expect(der, pos, tbs_end, _SEQUENCE)  # signature
    _, pos = _expect(der, pos, tbs_end, _SEQUENCE)  # issuer
    validity, validity_end = _expect(der, pos, tbs_end, _SEQUENCE)
    not_before, pos = _der_time(der, validity, validity_end)
    not_after, pos = _der_time(der, pos, validity_end)
    return not_before, not_after


def _crl_window(der: bytes) -> tuple[int, int | None]:
    """thisUpdate, nextUpdate of an X.509 CRL (RFC 5280 5.1)."""
    start, stop = _expect(der, 0, len(der), _SEQUENCE)
    if stop != len(der):
        raise ValueError("trailing data after the CRL")
    pos, tbs_end = _expect(der, start, stop, _SEQUENCE)
    tag, _, after = _tlv(der, pos, tbs_end)
    if tag == _INTEGER:  # version, OPTIONAL
        pos = after
    _, pos = _expect(der, pos, tbs_end, _SEQUENCE)  # signature
    _, pos = _expect(der, pos, tbs_end, _SEQUENCE)  # issuer
    this_update, pos = _der_time(der, pos, tbs_end)
    if pos < tbs_end and der[pos] in (_UTC_TIME, _GENERALIZED_TIME):
        next_update, _ = _der_time(der, pos, tbs_end)
        return this_update, next_update
    return this_update, None


# dcap-qvl 0.7 raises ValueError("Verification failed: <anyhow Debug>"): the top-level
# message, then "\n\nCaused by:\n    ..." lines. The table reads the top-level message
# (verify.rs, utils.rs and webpki's error names); the order matters and the default is
# quote-invalid, the reason that promises nothing.
_TIME_MARKERS: Final = (
    "crlexpired", "certexpired", "certnotvalidyet", "expired", "in the future", "not yet valid",
)  # fmt: skip
_COLLATERAL_MARKERS: Final = (
    "tcbinfo", "tcb info", "tcb_info", "qe identity", "qeidentity", "qe_identity", "crl", "collateral",
    "fmspc", "no matching tcb level", "tdx module", "component count", "revoked",
)  # fmt: skip


def _translate(text: str) -> AttestationError:
    message = text.removeprefix("Verification failed: ")
    top = message.split("\n", 1)[0].strip()
    lowered = message.lower()
    first = top.lower()
    if top == "Debug mode is enabled":
        # The application enclave's own DEBUG flag (a debug QE is reported under "QE report
        # validation failed", which stays quote-invalid below).
        return AttestationError("the report's DEBUG attribute is set", reason=Reason.DEBUG_ENCLAVE)
    if first.startswith("tcb status is invalid: revoked"):
        return AttestationError("the platform's TCB status is Revoked", reason=Reason.TCB_STATUS_NOT_ALLOWED)
    if any(marker in lowered for marker in _TIME_MARKERS):
        return AttestationError(f"collateral not valid at the reference time: {top}", reason=Reason.COLLATERAL_EXPIRED)
    if any(marker in first for marker in _COLLATERAL_MARKERS):
        return AttestationError(f"the collateral does not verify: {top}", reason=Reason.COLLATERAL_INVALID)
    # Everything else concerns the quote: its framing, the QE report and its signature, the
    # attestation key hash, the ISV report signature, the PCK chain, TD attributes.
    return AttestationError(f"the quote does not verify: {top}", reason=Reason.QUOTE_INVALID)


# --- the verified report -------------------------------------------------------------------


def _hex(body: Mapping[str, Any], key: str, size: int) -> str:
    value = body[key]
    if not isinstance(value, str) or len(value) != 2 * size:
        raise ValueError(f"{key} is not {size} bytes of hex")
    bytes.fromhex(value)
    return value.lower()


def _uint(body: Mapping[str, Any], key: str, bits: int) -> int:
    value = body[key]
    if type(value) is not int or not 0 <= value < 1 << bits:
        raise ValueError(f"{key} is not a {bits}-bit unsigned integer")
    return value


def _status(value: Any) -> TcbLevelStatus:
    status, advisories = value["status"], value["advisory_ids"]
    if (
        not isinstance(status, str)
        or not isinstance(advisories, list)
        or not all(isinstance(a, str) for a in advisories)
    ):
        raise ValueError("malformed TCB status")
    return TcbLevelStatus(status, tuple(advisories))


def _verified_quote(doc: Any, tee: Tee, at: int) -> VerifiedQuote:
    """The VerifiedQuote for dcap-qvl's verified report; any surprise is quote-invalid."""
    try:
        overall = _status(doc)
        if overall.status == MOCK_TCB_STATUS:
            raise ValueError("a DCAP report cannot carry the mock status")
        report = doc["report"]
        if not isinstance(report, dict) or len(report) != 1:
            raise ValueError("the report must name exactly one body")
        ((kind, body),) = report.items()
        sgx: SgxReport | None = None
        tdx: TdxReport | None = None
        if kind == "SgxEnclave" and tee is Tee.SGX:
            sgx = SgxReport(
                mr_enclave=_hex(body, "mr_enclave", 32),
                mr_signer=_hex(body, "mr_signer", 32),
                isv_prod_id=_uint(body, "isv_prod_id", 16),
                isv_svn=_uint(body, "isv_svn", 16),
                attributes=_hex(body, "attributes", 16),
                misc_select=_uint(body, "misc_select", 32),
                cpu_svn=_hex(body, "cpu_svn", 16),
            )
            debug = bool(int(sgx.attributes[0:2], 16) & 0x02)
        elif kind in ("TD10", "TD15") and tee is Tee.TDX:
            base = body["base"] if kind == "TD15" else body  # TD 1.5 nests the 1.0 fields
            tdx = TdxReport(
                mr_td=_hex(base, "mr_td", 48),
                rtmr0=_hex(base, "rt_mr0", 48),
                rtmr1=_hex(base, "rt_mr1", 48),
                rtmr2=_hex(base, "rt_mr2", 48),
                rtmr3=_hex(base, "rt_mr3", 48),
                mr_config_id=_hex(base, "mr_config_id", 48),
                mr_owner=_hex(base, "mr_owner", 48),
                mr_owner_config=_hex(base, "mr_owner_config", 48),
                td_attributes=_hex(base, "td_attributes", 8),
                xfam=_hex(base, "xfam", 8),
                tee_tcb_svn=_hex(base, "tee_tcb_svn", 16),
                mr_seam=_hex(base, "mr_seam", 48),
                mr_signer_seam=_hex(base, "mr_signer_seam", 48),
                seam_attributes=_hex(base, "seam_attributes", 8),
                tee_tcb_svn2=_hex(body, "tee_tcb_svn2", 16) if kind == "TD15" else None,
                mr_service_td=_hex(body, "mr_service_td", 48) if kind == "TD15" else None,
            )
            body = base
            debug = bool(int(tdx.td_attributes[0:2], 16) & 0x01)
        else:
            raise ValueError(f"report body {kind!r} does not match the quote's TEE {tee.value}")
        return VerifiedQuote(
            tee=tee,
            mock=False,
            debug=debug,
            tcb_status=overall.status,
            advisory_ids=overall.advisory_ids,
            qe_status=_status(doc["qe_status"]),
            platform_status=_status(doc["platform_status"]),
            report_data=bytes.fromhex(_hex(body, "report_data", _REPORT_DATA_LEN)),
            sgx=sgx,
            tdx=tdx,
            verified_at=at,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AttestationError(f"dcap-qvl's verified report is not what sealgate expects: {exc}") from exc
