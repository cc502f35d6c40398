"""The gate: the one checkpoint every execution passes (ARCHITECTURE.md "The gate, step by step")."""

from sealgate.gate._gate import OVERRIDE_ENV, Decision, Gate, GateRequest

__all__ = ["OVERRIDE_ENV", "Decision", "Gate", "GateRequest"]
