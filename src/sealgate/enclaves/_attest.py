"""Asking the gate about attestation evidence: :func:`attest` and the launcher's :func:`require_trusted`.

The quote names no registry version, so the adapter first finds which version of ``name``
the evidence claims to be: it parses the quote without verifying it (cheap; a lookup, never
a decision) and picks the entry whose measurement it names from the registry view's files.
Then it asks the gate about that entry with the evidence; the gate reads the entry from the
verified view, counts its approvals and runs the enclave check, which verifies the quote and
matches it again. Evidence that matches no entry is an audited ``measurement-mismatch``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sealgate._dataclass import replace
from sealgate.config import Home, home_from_env
from sealgate.enclaves._check import EnclaveCheck, Evidence, matches_identity
from sealgate.enclaves.quote import MOCK_QUOTE_MAGIC
from sealgate.errors import DeniedError, MalformedInputError, Reason, Severity
from sealgate.gate import Gate, GateRequest
from sealgate.registry import layout
from sealgate.registry.documents import EnclaveEntryDocument, IndexDocument
from sealgate.tokens import VerifiedArtifact

__all__ = ["EnclaveNotTrusted", "attest", "open_enclave_gate", "require_trusted"]


class EnclaveNotTrusted(DeniedError):
    """The launcher's failure: the gate did not allow this enclave. Never a value to ignore."""


def open_enclave_gate(home: Home, *, database_url: str | None = None) -> Gate:
    """A gate that serves enclave decisions (the enclave check remembers minimums from ``trust/``)."""
    return Gate(home, database_url=database_url, environ={}, checks={"enclave": EnclaveCheck(home.trust)})


def _identity(quote: bytes) -> dict[str, Any]:
    """What the quote claims to be, parsed without verification (for choosing the entry only)."""
    if quote.startswith(MOCK_QUOTE_MAGIC):
        from sealgate.enclaves.mock import claimed_identity

        return claimed_identity(quote)
    import dcap_qvl  # type: ignore[import-untyped]  # ships a .pyi but no py.typed

    try:
        report = dcap_qvl.parse_quote(quote).report
    except Exception:
        return {}
    fields = ("mr_enclave", "mr_signer", "mr_td")
    return {f: bytes(getattr(report, f)).hex() for f in fields if hasattr(report, f)}


# (trust generation, name) -> [(version, entry)] newest first: the lookup reads the view's files
# once per registry generation (a refresh swaps .current, which changes the key).
_LOOKUP: dict[tuple[str, str], list[tuple[str, EnclaveEntryDocument]]] = {}


def _entries(home: Home, name: str) -> list[tuple[str, EnclaveEntryDocument]]:
    try:
        generation = os.readlink(home.trust / ".current")
    except OSError:
        generation = ""
    key = (f"{home.trust}:{generation}", name)
    hit = _LOOKUP.get(key)
    if hit is not None and generation:
        return hit
    targets = home.trust / "targets"
    out: list[tuple[str, EnclaveEntryDocument]] = []
    try:
        index = IndexDocument.from_bytes((targets / layout.index_path("enclave", name)).read_bytes())
    except (OSError, MalformedInputError):
        return out
    # Newest first, revoked versions last: a quote of a revoked build then reaches the gate as
    # that version and is denied `revoked` with its reason, unless a live entry also admits it.
    lines = [*(v for v in reversed(index.versions) if v.status != "revoked"),
             *(v for v in reversed(index.versions) if v.status == "revoked")]  # fmt: skip
    for line in lines:
        try:
            out.append((line.version, EnclaveEntryDocument.from_bytes((targets / line.target).read_bytes())))
        except (OSError, MalformedInputError):
            continue
    if len(_LOOKUP) >= 256:
        _LOOKUP.clear()
    _LOOKUP[key] = out
    return out


def _candidates(home: Home, name: str, identity: Mapping[str, Any]) -> list[str]:
    """Versions of ``name`` whose entry the quote names, newest first (from the view's files).

    A lookup only: the gate reads the chosen entry again from the verified view and checks it.
    """
    return [version for version, entry in _entries(home, name) if matches_identity(entry, identity)]


def attest(
    name: str,
    evidence: Evidence,
    *,
    home: Home | None = None,
    gate: Gate | None = None,
    interface: str = "api",
    taint: str = "untrusted",
) -> VerifiedArtifact:
    """The gate's decision on ``evidence`` for enclave ``name``: a token, or an audited :class:`DeniedError`.

    The token's ``interpretation`` is the :class:`~sealgate.enclaves.quote.VerifiedQuote`.
    """
    own = gate is None
    the_gate = open_enclave_gate(home or home_from_env()) if gate is None else gate
    try:
        layout.target_path("enclave", name, "0")  # a malformed name is refused before any lookup
        versions = _candidates(the_gate.home, name, _identity(evidence.quote))
        inputs = {"evidence": evidence}
        if not versions:
            request = GateRequest("enclave", name, "-", Path("-"), interface, taint, inputs)
            the_gate.refuse(
                request,
                Reason.MEASUREMENT_MISMATCH,
                f"no entry of enclave {name} has the measurement this quote claims; "
                "register the build, or check that the service runs the build you expect",
                Severity.HIGH,
            )
        # The newest matching version decides; an older one is asked only if the newest is
        # denied for a reason of its own (for example it was deprecated under a strict level).
        last: DeniedError | None = None
        for version in versions:
            path = the_gate.home.trust / "targets" / layout.target_path("enclave", name, version)
            try:
                return the_gate.verify(GateRequest("enclave", name, version, path, interface, taint, inputs))
            except DeniedError as denied:
                last = denied
                if denied.reason not in (Reason.DEPRECATED, Reason.STAGE_NOT_ALLOWED):
                    raise
        assert last is not None
        raise last
    finally:
        if own:
            the_gate.close()


def require_trusted(name: str, evidence: Evidence, *, home: Home | None = None, gate: Gate | None = None) -> None:
    """The launcher gatekeeper: return only when the gate allows ``evidence`` for ``name`` now.

    Anything else raises :class:`EnclaveNotTrusted` (a :class:`~sealgate.errors.DeniedError`,
    audited), which a launcher cannot mistake for success; there is no return value to
    forget to check.
    """
    # The launcher decides now: a caller's reference time or "historical" flag never applies.
    current = replace(evidence, at=int(time.time()), historical=False)
    try:
        attest(name, current, home=home, gate=gate)
    except DeniedError as denied:
        raise EnclaveNotTrusted(denied.message, reason=denied.reason, decision=denied.decision) from None
