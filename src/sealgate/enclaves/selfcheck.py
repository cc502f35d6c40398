"""The enclave's own start-up check (issue 4, "Enclave self-check").

An enclave application calls :func:`self_check` when it starts. It reads its own report
through its quote provider and aborts (raises :class:`SelfCheckFailed`, audited) when the
provider is the mock, or the report's DEBUG attribute is set, while the registry entry for
its own measurement is PROD-stage or the signed policy says production. An entry that
cannot be found counts as PROD: the check fails closed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sealgate._dataclass import dataclass
from sealgate.config import Home, home_from_env
from sealgate.enclaves._attest import _candidates, _identity, open_enclave_gate
from sealgate.enclaves.quote import MOCK_QUOTE_MAGIC, QuoteProvider
from sealgate.errors import DeniedError, Reason, Severity
from sealgate.gate import GateRequest
from sealgate.registry import layout

__all__ = ["SelfCheckFailed", "SelfCheckResult", "self_check"]


class SelfCheckFailed(DeniedError):
    """The enclave must not serve: mock or debug evidence where production or a PROD entry applies."""


@dataclass(frozen=True, slots=True)
class SelfCheckResult:
    """What the self-check saw; returned only when the enclave may go on."""

    name: str
    provider: str
    mock: bool
    debug: bool
    versions: tuple[str, ...]
    stages: tuple[str, ...]
    production: bool


def _debug(identity: dict[str, Any]) -> bool:
    """The DEBUG attribute: SGX ATTRIBUTES flags bit 1, TDX TD_ATTRIBUTES bit 0 (fail closed if absent)."""
    if "attributes" in identity:
        return bool(bytes.fromhex(str(identity["attributes"]))[0] & 0x02)
    if "td_attributes" in identity:
        return bool(bytes.fromhex(str(identity["td_attributes"]))[0] & 0x01)
    return True


def _production(home: Home) -> bool:
    """Whether the effective policy (the signed one, tightened by a local policy) says production."""
    from sealgate.policy import LocalPolicy, TrustPolicy, tighten
    from sealgate.registry.view import RegistryView

    view = RegistryView.load(home.trust, time.time())
    policy = TrustPolicy.from_json_bytes(view.read_target_bytes(layout.POLICY_TARGET))
    if home.local_policy.exists():
        policy = tighten(policy, LocalPolicy.from_json_bytes(home.local_policy.read_bytes()))
    return policy.environment.value == "production"


def self_check(name: str, provider: QuoteProvider, *, home: Home | None = None) -> SelfCheckResult:
    """Abort (raise :class:`SelfCheckFailed`) unless this enclave may serve as ``name``; see the module."""
    the_home = home or home_from_env()
    quote = provider.get_quote(os.urandom(32) + bytes(32))
    identity = dict(_identity(quote))  # a mock quote's claim includes its attributes
    identity.update(_raw_identity(quote))
    mock = bool(provider.mock) or quote.startswith(MOCK_QUOTE_MAGIC)
    debug = _debug(identity)
    gate = open_enclave_gate(the_home)
    try:
        versions = _candidates(the_home, name, identity)
        stages = []
        for version in versions:
            entry = gate.registry_entry("enclave", name, version)
            stages.append(str(entry["stage"]) if entry else "PROD")
        production = _production(the_home)
        result = SelfCheckResult(name, provider.name, mock, debug, tuple(versions), tuple(stages), production)
        if not (mock or debug):
            return result
        strict = production or not versions or "PROD" in stages
        if not strict:
            return result
        why = "the mock quote provider" if mock else "a DEBUG enclave"
        where = (
            "the signed policy says production"
            if production
            else "its measurement is not registered (counted as PROD)"
            if not versions
            else "its registry entry is PROD-stage"
        )
        request = GateRequest("enclave", name, versions[0] if versions else "-", Path("-"), "api", "none")
        try:
            gate.refuse(
                request,
                Reason.MOCK_EVIDENCE_REFUSED if mock else Reason.DEBUG_ENCLAVE,
                f"self-check: {name} runs with {why} and {where}; it must not serve",
                Severity.CRITICAL,
            )
        except DeniedError as denied:
            raise SelfCheckFailed(denied.message, reason=denied.reason, decision=denied.decision) from None
        raise AssertionError("unreachable")  # pragma: no cover - refuse() always raises
    finally:
        gate.close()


def _raw_identity(quote: bytes) -> dict[str, Any]:
    """The attributes of a DCAP quote's report (parsed, unverified: the enclave reads its own report)."""
    try:
        import dcap_qvl  # type: ignore[import-untyped]  # ships a .pyi but no py.typed

        report = dcap_qvl.parse_quote(quote).report
    except Exception:
        return {}
    out: dict[str, Any] = {}
    for field in ("attributes", "td_attributes"):
        if hasattr(report, field):
            out[field] = bytes(getattr(report, field)).hex()
    return out
