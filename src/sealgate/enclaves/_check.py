"""The gate's check for enclaves (decision 0005): the quote against the entry the registry approved.

An enclave decision is a gate decision like any other: the subject is the registry entry
(its entry document, read from the verified view and digested like any artifact, with its
approvals counted at the policy's level), and this check, run as step 4, verifies the
attestation evidence and matches it against that entry: TEE and measurement, debug,
security version (against the entry's minimum and the highest minimum this client has
seen for the name), TCB status and advisories, and the report data binding the challenge.
Mock evidence is refused in production and for PROD entries, always. Each failure raises
with its own reason code, so the audited denial says exactly what failed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sealgate._dataclass import dataclass
from sealgate.crypto.keys import PublicKey
from sealgate.enclaves.binding import check_report_data
from sealgate.enclaves.quote import KNOWN_TCB_STATUSES, MOCK_QUOTE_MAGIC, AttestationError, VerifiedQuote
from sealgate.errors import MalformedInputError, Reason, UsageError
from sealgate.gate import CheckContext, CheckOutcome
from sealgate.registry.documents import EnclaveEntryDocument
from sealgate.registry.layout import MINIMUMS_FILE

__all__ = ["EnclaveCheck", "Evidence", "matches_identity"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the caller brings: the quote, its collateral and the challenge it must bind.

    ``at`` is the reference time (unix seconds). ``historical`` marks an ``attest verify
    --at`` check of old evidence (recorded as such); the launcher and remote paths use the
    current time. Give ``nonce`` and ``tls_spki_der`` (remote verification), or
    ``report_data`` (the exact 64 bytes). ``mock_keys`` are the development keys mock quotes
    may be signed with; mock evidence is accepted only in development, for non-PROD entries.
    """

    quote: bytes
    collateral: bytes | None
    at: int
    nonce: bytes | None = None
    tls_spki_der: bytes | None = None
    report_data: bytes | None = None
    historical: bool = False
    mock_keys: tuple[PublicKey, ...] = ()

    def __post_init__(self) -> None:
        if type(self.quote) is not bytes or not self.quote:
            raise UsageError("evidence needs the quote's bytes")
        if (self.report_data is None) == (self.nonce is None or self.tls_spki_der is None):
            raise UsageError(
                "evidence must bind a challenge: a nonce and the server's TLS key, or the exact report data"
            )


def _attest_error(reason: Reason, message: str) -> AttestationError:
    return AttestationError(message, reason=reason)


class EnclaveCheck:
    """The gate's check for ``kind: enclave``; ``trust`` is the home's ``trust/`` (for remembered minimums)."""

    def __init__(self, trust: Path | None = None) -> None:
        self._minimums_path = None if trust is None else trust / MINIMUMS_FILE
        # Parsed once per file version and per entry digest: a long-lived gate decides on
        # many quotes for the same few entries (keyed by what they depend on, never stale).
        self._minimums: tuple[tuple[int, int, int], dict[str, Any]] | None = None
        self._entries: dict[str, EnclaveEntryDocument] = {}

    def check(self, context: CheckContext) -> CheckOutcome:
        entry = self._entries.get(context.artifact.digest)
        if entry is None:
            entry = _entry_document(context)
            if len(self._entries) >= 1024:
                self._entries.clear()
            self._entries[context.artifact.digest] = entry
        elif entry.version != context.version:
            raise MalformedInputError(f"the entry document is version {entry.version}, not {context.version}")
        evidence = (context.inputs or {}).get("evidence")
        if not isinstance(evidence, Evidence):
            raise UsageError("an enclave decision needs attestation evidence (an Evidence value under 'evidence')")
        quote = _verify(evidence, entry, production=context.production)
        record: dict[str, Any] = {
            "tee": quote.tee.value,
            "mock": quote.mock,
            "verified_at": quote.verified_at,
            "historical": evidence.historical,
            "tcb_status": quote.tcb_status,
            "advisory_ids": list(quote.advisory_ids),
        }
        _match(entry, quote, context.name)
        record["measurement"] = entry.measurement
        if quote.debug:
            raise _attest_error(Reason.DEBUG_ENCLAVE, f"the {quote.tee.value} report has its DEBUG attribute set")
        self._check_security_version(entry, quote, context.name, record)
        _check_platform(entry, quote)
        check_report_data(
            quote.report_data, nonce=evidence.nonce, tls_spki_der=evidence.tls_spki_der, exact=evidence.report_data
        )
        return CheckOutcome(findings=(), record=record, interpretation=quote)

    def _remembered_minimum(self, name: str) -> int:
        value = self._remembered(name)
        if value is None:
            return 0
        if type(value) is not int:
            raise MalformedInputError(f"{self._minimums_path} is malformed for {name!r}")
        return value

    def _remembered(self, key: str) -> Any:
        """What ``trust/enclave-minimums.json`` holds under ``key`` (None when nothing is recorded)."""
        if self._minimums_path is None:
            return None
        try:
            st = os.stat(self._minimums_path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MalformedInputError(f"{self._minimums_path} cannot be read: {exc.strerror}") from exc
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._minimums is None or self._minimums[0] != stamp:
            try:
                data = json.loads(self._minimums_path.read_bytes())
            except (OSError, ValueError) as exc:
                raise MalformedInputError(f"{self._minimums_path} cannot be read: {exc}") from exc
            if not isinstance(data, dict):
                raise MalformedInputError(f"{self._minimums_path} is malformed")
            self._minimums = (stamp, data)
        value = self._minimums[1].get(key)
        well_formed = isinstance(value, list) and len(value) == 16 and all(type(v) is int for v in value)
        if key.endswith("/tdx") and value is not None and not well_formed:
            raise MalformedInputError(f"{self._minimums_path} is malformed for {key!r}")
        return value

    def _check_security_version(
        self, entry: EnclaveEntryDocument, quote: VerifiedQuote, name: str, record: dict[str, Any]
    ) -> None:
        if quote.sgx is not None:
            minimum = max(entry.min_isv_svn, self._remembered_minimum(name))
            record["isv_svn"] = quote.sgx.isv_svn
            if quote.sgx.isv_svn < minimum:
                raise _attest_error(
                    Reason.SECURITY_VERSION_TOO_LOW,
                    f"ISV SVN {quote.sgx.isv_svn} is below the minimum {minimum} for {name}",
                )
        elif quote.tdx is not None and entry.tdx is not None:
            # The entry's minimum and the highest this host has seen for the name, per component.
            have = bytes.fromhex(quote.tdx.tee_tcb_svn)
            remembered = self._remembered(f"{name}/tdx") or [0] * 16
            need = [max(a, b) for a, b in zip(bytes.fromhex(entry.tdx.min_tee_tcb_svn), remembered, strict=True)]
            low = [i for i, (a, b) in enumerate(zip(have, need, strict=True)) if a < b]
            if low:
                raise _attest_error(
                    Reason.SECURITY_VERSION_TOO_LOW,
                    f"TEE TCB SVN component(s) {', '.join(map(str, low))} are below the minimum for {name}",
                )


def _entry_document(context: CheckContext) -> EnclaveEntryDocument:
    files = context.artifact.files
    if context.artifact.is_directory or "" not in files:
        raise MalformedInputError("an enclave entry is one document, not a directory")
    entry = EnclaveEntryDocument.from_bytes(files[""][1])
    if entry.version != context.version:
        raise MalformedInputError(f"the entry document is version {entry.version}, not {context.version}")
    return entry


def _verify(evidence: Evidence, entry: EnclaveEntryDocument, *, production: bool) -> VerifiedQuote:
    if evidence.quote.startswith(MOCK_QUOTE_MAGIC):
        if production or entry.stage == "PROD":
            where = "under a production policy" if production else "for a PROD-stage entry"
            raise _attest_error(Reason.MOCK_EVIDENCE_REFUSED, f"mock attestation evidence is refused {where}, always")
        from sealgate.enclaves.mock import verify_mock_quote

        return verify_mock_quote(
            evidence.quote, trusted_keys=evidence.mock_keys, at=evidence.at, insecure_accept_mock=True
        )
    if evidence.collateral is None:
        raise _attest_error(Reason.COLLATERAL_INVALID, "a DCAP quote is verified with its collateral; none was given")
    from sealgate.enclaves.quote import verify_quote

    return verify_quote(evidence.quote, evidence.collateral, at=evidence.at)


def _match(entry: EnclaveEntryDocument, quote: VerifiedQuote, name: str) -> None:
    def mismatch(what: str) -> AttestationError:
        return _attest_error(Reason.MEASUREMENT_MISMATCH, f"the quote's {what} is not the one registered for {name}")

    if entry.tee != quote.tee.value:
        raise mismatch(f"TEE ({quote.tee.value}, the entry is {entry.tee})")
    if quote.sgx is not None:
        sgx = quote.sgx
        if entry.mrenclave is not None and sgx.mr_enclave != entry.mrenclave:
            raise mismatch("MRENCLAVE")
        if entry.mrsigner is not None and (sgx.mr_signer, sgx.isv_prod_id) != (entry.mrsigner, entry.isv_prod_id):
            raise mismatch("MRSIGNER and ISV product id")
    elif quote.tdx is not None and entry.tdx is not None:
        for field in ("mr_td", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mr_config_id", "td_attributes", "xfam"):
            registered = getattr(entry.tdx, "mrtd" if field == "mr_td" else field)
            if getattr(quote.tdx, field) != registered:
                raise mismatch(field.upper())


def _check_platform(entry: EnclaveEntryDocument, quote: VerifiedQuote) -> None:
    if quote.mock:
        return  # development only (refused above otherwise); a mock quote has no platform
    if quote.tcb_status not in KNOWN_TCB_STATUSES:
        raise _attest_error(Reason.TCB_STATUS_UNKNOWN, f"TCB status {quote.tcb_status!r} is not one sealgate knows")
    if quote.tcb_status not in entry.allowed_tcb_statuses:
        raise _attest_error(
            Reason.TCB_STATUS_NOT_ALLOWED,
            f"the platform's TCB status is {quote.tcb_status}; the entry allows "
            + ", ".join(entry.allowed_tcb_statuses),
        )
    extra = sorted(set(quote.advisory_ids) - set(entry.allowed_advisories))
    if extra:
        raise _attest_error(
            Reason.ADVISORY_NOT_ALLOWED,
            f"the platform is affected by {', '.join(extra)}, which the entry does not allow",
        )


def matches_identity(entry: EnclaveEntryDocument, identity: Mapping[str, Any]) -> bool:
    """Whether an (unverified) parsed identity could match ``entry``: for choosing which version to ask about.

    Only a lookup: the gate's check verifies the quote and matches again.
    """
    if entry.tee == "sgx":
        return (entry.mrenclave is None or identity.get("mr_enclave") == entry.mrenclave) and (
            entry.mrsigner is None or identity.get("mr_signer") == entry.mrsigner
        )
    if entry.tdx is not None:
        return identity.get("mr_td") == entry.tdx.mrtd
    return False
