"""sealgate: nothing runs unless it is sealed.

The public API: ask the :class:`Gate` about an artifact (a :class:`GateRequest`); it returns a
:class:`VerifiedArtifact` holding the verified bytes, or raises :class:`DeniedError` carrying
the audited :class:`Decision`. Every failure is a :class:`SealgateError` with a stable
:class:`Reason`. The registry, policy and audit layers live in their own packages
(``sealgate.registry``, ``sealgate.policy``, ``sealgate.audit``).

Names are resolved on first use, so that importing ``sealgate`` costs nothing on the
gate's hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from sealgate.config import Home
    from sealgate.errors import (
        AuditError,
        AuditIntegrityError,
        DeniedError,
        ExitCode,
        MalformedInputError,
        PolicyError,
        Reason,
        RegistryError,
        RegistryIntegrityError,
        SandboxError,
        SealgateError,
        Severity,
        UsageError,
        VerificationError,
    )
    from sealgate.gate import Decision, Gate, GateRequest
    from sealgate.tokens import VerifiedArtifact
    from sealgate.tools import run_tool, verify_tool

__version__ = "0.1.0"

__all__ = [
    "AuditError",
    "AuditIntegrityError",
    "Decision",
    "DeniedError",
    "ExitCode",
    "Gate",
    "GateRequest",
    "Home",
    "MalformedInputError",
    "PolicyError",
    "Reason",
    "RegistryError",
    "RegistryIntegrityError",
    "SandboxError",
    "SealgateError",
    "Severity",
    "UsageError",
    "VerificationError",
    "VerifiedArtifact",
    "__version__",
    "run_tool",
    "verify_tool",
]

_LAZY = {
    "Home": "sealgate.config",
    "Decision": "sealgate.gate",
    "Gate": "sealgate.gate",
    "GateRequest": "sealgate.gate",
    "VerifiedArtifact": "sealgate.tokens",
    "run_tool": "sealgate.tools",
    "verify_tool": "sealgate.tools",
    **dict.fromkeys(
        [
            "AuditError",
            "AuditIntegrityError",
            "DeniedError",
            "ExitCode",
            "MalformedInputError",
            "PolicyError",
            "Reason",
            "RegistryError",
            "RegistryIntegrityError",
            "SandboxError",
            "SealgateError",
            "Severity",
            "UsageError",
            "VerificationError",
        ],
        "sealgate.errors",
    ),
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sealgate' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
