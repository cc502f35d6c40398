"""Kind-specific checks the gate runs as step 4, supplied by the layer above (decision 0005).

The gate sits below the domains (``tools/``, ``modules/``, ``enclaves/``) and cannot import
them; whoever builds a :class:`~sealgate.gate.Gate` passes the checks for the kinds it
serves (``Gate(home, checks={"tool": ToolCheck()})``). A check reads the verified artifact
bytes, the request's inputs and taint label and the effective policy, and returns
findings plus a typed interpretation (for a tool: the parsed manifest and the argv it
would run), which travels in the token so that what runs is what the gate judged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from sealgate._dataclass import dataclass, field

if TYPE_CHECKING:
    from sealgate.checks import Finding
    from sealgate.digest import Artifact
    from sealgate.policy import Level, TrustPolicy

__all__ = ["TAINT_LABELS", "CheckContext", "CheckOutcome", "SubjectCheck"]

#: Labels an entry point puts on the inputs it passes (issue 3, "taint"). ``none`` means
#: the request carries no inputs; a request with inputs must name where they came from.
TAINT_LABELS: Final = ("none", "user_input", "untrusted", "llm_output", "network")


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a check is given: the verified bytes and everything the decision established so far."""

    kind: str
    name: str
    version: str
    artifact: Artifact
    inputs: Mapping[str, object] | None
    taint: str
    interface: str
    policy: TrustPolicy
    level: Level
    production: bool


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """Findings, what goes into the audit record, and the interpretation the token carries."""

    findings: Sequence[Finding]
    record: Mapping[str, Any] = field(default_factory=dict)
    interpretation: object = None


class SubjectCheck(Protocol):
    """A kind's check. Raise :class:`~sealgate.errors.SealgateError` (e.g. malformed input) to deny."""

    def check(self, context: CheckContext) -> CheckOutcome: ...
