"""``Verified*`` tokens: proof that the gate allowed a request, holding the verified bytes.

Only the gate can construct a token: the constructor demands a capability object that
``gate/`` claims once, at import. The runner (and every adapter) accepts nothing else, so
there is no path from "a file on disk" to "execution" that skips the gate.
"""

from __future__ import annotations

from typing import Any, Final

from sealgate._dataclass import dataclass, field
from sealgate.digest import Artifact, Digest

__all__ = ["VerifiedArtifact"]


class _Capability:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<sealgate gate capability>"


_CAPABILITY: Final = _Capability()
_claimed = False


def _claim_gate_capability() -> _Capability:
    """Hand the capability to ``sealgate.gate`` exactly once per process."""
    global _claimed
    if _claimed:
        raise RuntimeError("the gate capability has already been claimed")
    _claimed = True
    return _CAPABILITY


@dataclass(frozen=True, slots=True)
class VerifiedArtifact:
    """An artifact the gate allowed: its verified bytes, identity and the audit record index."""

    capability: _Capability = field(repr=False, compare=False)
    kind: str
    name: str
    version: str
    target: str
    digest: Digest
    artifact: Artifact = field(repr=False)
    level: str
    stage: str
    audit_index: int
    registry_version: int
    policy_digest: str
    warnings: tuple[str, ...] = ()
    principals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: What the kind's check made of the artifact (for a tool: the manifest and the argv
    #: the gate judged); the runner executes this, never a re-read of the artifact.
    interpretation: object = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.capability is not _CAPABILITY:
            raise TypeError("VerifiedArtifact can only be constructed by sealgate.gate")
