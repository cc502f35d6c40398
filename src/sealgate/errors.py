"""Errors and reason codes: every failure in sealgate is one of these.

A denial or failure always carries a stable :class:`Reason` code, a
:class:`Severity` and a sentence a person can act on. Third-party exceptions are
translated at the seam with ``raise ... from exc``.

The tree::

    SealgateError                      (exit 1 unless a subclass says otherwise)
    ├── UsageError                     bad arguments, configuration or keys (exit 1)
    │   └── KeyError_                  unreadable key, wrong passphrase, unknown key id
    ├── MalformedInputError            unparseable YAML / JSON / PEM / envelope (exit 3)
    ├── VerificationError              a signature, digest or threshold did not verify (exit 3)
    │   └── DeniedError                the gate denied a request; carries the Decision (exit 3)
    ├── PolicyError                    invalid or loosened trust policy (exit 1)
    ├── RegistryError                  registry not usable (exit 1)
    │   └── RegistryIntegrityError     tampered, rolled back or inconsistent metadata (exit 4)
    ├── AuditError                     audit store unavailable (exit 1)
    │   └── AuditIntegrityError        tampered, truncated or inconsistent audit log (exit 4)
    └── SandboxError                   sandbox unavailable or failed (exit 1)
"""

from __future__ import annotations

import enum

__all__ = [
    "AuditError",
    "AuditIntegrityError",
    "DeniedError",
    "ExitCode",
    "KeyError_",
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
]


class ExitCode(enum.IntEnum):
    """Process exit codes, documented in docs/cli.md."""

    OK = 0
    ERROR = 1  # arguments, configuration, keys
    USAGE = 2  # click's own usage errors
    DENIED = 3  # the gate denied, including malformed input
    INTEGRITY = 4  # tampered registry or audit log


class Severity(enum.Enum):
    """How serious a finding or a denial is; ordered from ``info`` to ``critical``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Reason(enum.Enum):
    """Stable reason codes. The string values are part of the public interface."""

    ALLOWED = "allowed"
    NOT_REGISTERED = "not-registered"
    DIGEST_MISMATCH = "digest-mismatch"
    REVOKED = "revoked"
    DEPRECATED = "deprecated"
    UNKNOWN_STATUS = "unknown-status"
    STAGE_NOT_ALLOWED = "stage-not-allowed"
    THRESHOLD_NOT_MET = "threshold-not-met"
    KEY_NOT_BOUND_TO_ROLE = "key-not-bound-to-role"
    SIGNATURE_INVALID = "signature-invalid"
    REGISTRY_STALE = "registry-stale"
    REGISTRY_UNAVAILABLE = "registry-unavailable"
    REGISTRY_TAMPERED = "registry-tampered"
    REGISTRY_ROLLBACK = "registry-rollback"
    METADATA_EXPIRED = "metadata-expired"
    AUDIT_UNAVAILABLE = "audit-unavailable"
    AUDIT_TAMPERED = "audit-tampered"
    POLICY_INVALID = "policy-invalid"
    POLICY_LOOSENED = "policy-loosened"
    MALFORMED_INPUT = "malformed-input"
    INVALID_ARGUMENT = "invalid-argument"
    KEY_UNAVAILABLE = "key-unavailable"
    TOO_LARGE = "too-large"
    OVERRIDE_REFUSED = "override-refused"
    OVERRIDE_USED = "override-used"
    TRUST_ANCHOR_WRITABLE = "trust-anchor-writable"
    SANDBOX_UNAVAILABLE = "sandbox-unavailable"
    NETWORK_NOT_ALLOWED = "network-not-allowed"
    CHECK_DENIED = "check-denied"
    DEFINITION_CHANGED = "definition-changed"
    NOT_INSTALLED = "not-installed"
    # enclaves (issue 4)
    QUOTE_INVALID = "quote-invalid"
    COLLATERAL_INVALID = "collateral-invalid"
    COLLATERAL_EXPIRED = "collateral-expired"
    ROOT_CA_MISMATCH = "root-ca-mismatch"
    MEASUREMENT_MISMATCH = "measurement-mismatch"
    DEBUG_ENCLAVE = "debug-enclave"
    SECURITY_VERSION_TOO_LOW = "security-version-too-low"
    MINIMUM_LOWERED = "minimum-lowered"
    TCB_STATUS_NOT_ALLOWED = "tcb-status-not-allowed"
    TCB_STATUS_UNKNOWN = "tcb-status-unknown"
    ADVISORY_NOT_ALLOWED = "advisory-not-allowed"
    REPORT_DATA_MISMATCH = "report-data-mismatch"
    MOCK_EVIDENCE_REFUSED = "mock-evidence-refused"
    MOCK_ATTESTATION_FOUND = "mock-attestation-found"
    DRIFT_DETECTED = "drift-detected"
    INTERNAL_ERROR = "internal-error"


class SealgateError(Exception):
    """Root of every sealgate error. ``str(err)`` is the human sentence."""

    exit_code: ExitCode = ExitCode.ERROR
    default_reason: Reason = Reason.INTERNAL_ERROR

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason if reason is not None else self.default_reason


class UsageError(SealgateError):
    """Bad arguments, configuration or keys."""

    default_reason = Reason.INVALID_ARGUMENT


class KeyError_(UsageError):  # noqa: N801 - the underscore avoids shadowing the builtin KeyError
    """A key could not be read, decrypted or found."""

    default_reason = Reason.KEY_UNAVAILABLE


class MalformedInputError(SealgateError):
    """Input that cannot be parsed: YAML, JSON, PEM, DSSE envelopes, artifacts."""

    exit_code = ExitCode.DENIED
    default_reason = Reason.MALFORMED_INPUT


class VerificationError(SealgateError):
    """A signature, digest or threshold did not verify."""

    exit_code = ExitCode.DENIED
    default_reason = Reason.SIGNATURE_INVALID


class DeniedError(VerificationError):
    """The gate denied a request. ``decision`` holds the full audited decision."""

    def __init__(self, message: str, *, reason: Reason, decision: object | None = None) -> None:
        super().__init__(message, reason=reason)
        self.decision = decision


class PolicyError(SealgateError):
    """The trust policy is invalid, or a local policy tries to loosen it."""

    default_reason = Reason.POLICY_INVALID


class RegistryError(SealgateError):
    """The registry cannot be used (missing, unavailable, wrong state)."""

    default_reason = Reason.REGISTRY_UNAVAILABLE


class RegistryIntegrityError(RegistryError):
    """Registry metadata is tampered, rolled back, expired or inconsistent."""

    exit_code = ExitCode.INTEGRITY
    default_reason = Reason.REGISTRY_TAMPERED


class AuditError(SealgateError):
    """The audit store cannot be reached or written."""

    default_reason = Reason.AUDIT_UNAVAILABLE


class AuditIntegrityError(AuditError):
    """The audit log is tampered, truncated, reordered or inconsistent with a checkpoint."""

    exit_code = ExitCode.INTEGRITY
    default_reason = Reason.AUDIT_TAMPERED


class SandboxError(SealgateError):
    """The sandbox is unavailable or failed."""

    default_reason = Reason.SANDBOX_UNAVAILABLE
