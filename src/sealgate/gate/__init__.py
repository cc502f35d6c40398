"""The gate: the one checkpoint every execution passes (ARCHITECTURE.md "The gate, step by step")."""

from sealgate.gate._checks import TAINT_LABELS, CheckContext, CheckOutcome, SubjectCheck
from sealgate.gate._gate import OUTCOME_TYPE, OVERRIDE_ENV, Decision, Gate, GateRequest

__all__ = [
    "OUTCOME_TYPE",
    "OVERRIDE_ENV",
    "TAINT_LABELS",
    "CheckContext",
    "CheckOutcome",
    "Decision",
    "Gate",
    "GateRequest",
    "SubjectCheck",
]
