"""Value types of the trust policy: enums, namespace globs, bindings, level rules, requirements, resources, taint.

Everything here is immutable and cheap to build; parsing and cross-field validation live in
``_reader.py`` and ``_policy.py``. No YAML or JSON Schema code is imported from here: this is
the gate's hot path (ARCHITECTURE.md "Formats: Trust policy").
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Set
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Final, Literal

from sealgate._dataclass import dataclass
from sealgate.errors import PolicyError, Reason, Severity, VerificationError
from sealgate.registry.layout import KIND_PLURAL, STAGES

__all__ = [
    "ALLOW_LISTS",
    "DEFAULT_TAINT",
    "DENY_LISTS",
    "HARD_CAPS",
    "KINDS",
    "MAX_THRESHOLD",
    "RESOURCE_FIELDS",
    "TAINT_LABELS",
    "TAINT_SINKS",
    "THRESHOLD_ROLES",
    "AllowListName",
    "Analyser",
    "AnalyserMode",
    "Binding",
    "DenyListName",
    "Environment",
    "Level",
    "LevelRule",
    "Requirements",
    "Resources",
    "Role",
    "glob_matches",
    "is_namespace_glob",
]

KINDS: Final = tuple(KIND_PLURAL)  # ("tool", "module", "enclave")
MAX_THRESHOLD: Final = 32

# The named allow- and deny-lists a policy may carry. The set is closed on purpose: a typo in
# a list name must be an error, not a list that silently restricts nothing. The analysers
# decide what an entry means; the policy only does set algebra on the literal strings.
AllowListName = Literal["commands", "env", "hosts", "paths", "schemes", "stages"]
DenyListName = Literal["commands", "env", "hosts", "paths"]
ALLOW_LISTS: Final[tuple[AllowListName, ...]] = ("commands", "env", "hosts", "paths", "schemes", "stages")
DENY_LISTS: Final[tuple[DenyListName, ...]] = ("commands", "env", "hosts", "paths")


# Taint (issue 3). Every input carries one label, set by the entry point that received it:
# MCP ``llm_output``, HTTP ``network``, the Python API an explicit label, the CLI
# ``user_input`` only when a person confirmed at a terminal and ``untrusted`` otherwise. The
# label follows the argv elements, shell strings, host paths, URLs and env values built from
# the input; the policy says which of those sinks each label may reach. Both sets are closed:
# a typo must be an error, not a label or sink that no rule ever mentions.
TAINT_LABELS: Final = ("user_input", "untrusted", "llm_output", "network")
TAINT_SINKS: Final = ("argv", "shell", "path", "url", "env")

# What a label may reach when the policy does not say. Only input a person typed may become
# part of a shell string by default; a signed policy may allow more, a local one never can.
DEFAULT_TAINT: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        label: frozenset(TAINT_SINKS) if label == "user_input" else frozenset(TAINT_SINKS) - {"shell"}
        for label in TAINT_LABELS
    }
)


class Environment(enum.Enum):
    """Where the policy applies. ``production`` is the stricter of the two."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"

    @property
    def rank(self) -> int:
        return 0 if self is Environment.DEVELOPMENT else 1


class Level(enum.Enum):
    """How much the policy demands of an artifact; ordered ``permissive < standard < strict``."""

    PERMISSIVE = "permissive"
    STANDARD = "standard"
    STRICT = "strict"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank < other.rank


_LEVEL_RANK: Final = {level: i for i, level in enumerate(Level)}


class Role(enum.StrEnum):
    """What a principal may sign as. ``advisory`` signs advisories and never counts toward thresholds.

    A ``StrEnum``: ``Role.AUTHOR == "author"``, so the role string of a verified in-toto
    statement can be compared with, and looked up in, the policy's roles directly.
    """

    AUTHOR = "author"
    REVIEWER = "reviewer"
    APPROVER = "approver"
    ADVISORY = "advisory"


THRESHOLD_ROLES: Final = (Role.AUTHOR, Role.REVIEWER, Role.APPROVER)


class Analyser(enum.Enum):
    """The checks that may run in ``audit`` mode; every other check is always enforced."""

    COMMAND = "command"
    PATH = "path"
    URL = "url"
    ENV = "env"
    TAINT = "taint"


class AnalyserMode(enum.Enum):
    """``enforce`` denies on a finding at or above ``deny_from``; ``audit`` only records it."""

    ENFORCE = "enforce"
    AUDIT = "audit"


# Fixed upper bounds for every sandboxed run (CONVENTIONS.md "Bound every untrusted input").
# A policy may choose lower limits, never higher ones.
RESOURCE_FIELDS: Final = ("wall_seconds", "cpu_seconds", "memory_mib", "processes", "output_bytes", "artifact_bytes")
_CAPS: Final = {
    "wall_seconds": 30,
    "cpu_seconds": 30,
    "memory_mib": 512,
    "processes": 64,
    "output_bytes": 1 << 20,
    "artifact_bytes": 64 << 20,
}


def _invalid(message: str) -> PolicyError:
    return PolicyError(message, reason=Reason.POLICY_INVALID)


@dataclass(frozen=True, slots=True)
class Resources:
    """Limits for one sandboxed run. Each is a positive integer no larger than its hard cap."""

    wall_seconds: int
    cpu_seconds: int
    memory_mib: int
    processes: int
    output_bytes: int
    artifact_bytes: int

    def __post_init__(self) -> None:
        for name in RESOURCE_FIELDS:
            value = getattr(self, name)
            cap = _CAPS[name]
            if type(value) is not int or not 1 <= value <= cap:
                raise _invalid(f"trust policy field resources.{name} must be an integer from 1 to {cap}, not {value!r}")

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in RESOURCE_FIELDS}


HARD_CAPS: Final = Resources(**_CAPS)

# One namespace-glob segment: the characters of a registry name component plus ``*`` and
# ``?``. Character classes are not allowed, so the set of names a glob matches is simple
# enough to reason about exactly when a local policy is checked for loosening.
GLOB_SEGMENT: Final = re.compile(r"[a-z0-9._*?-]{1,64}")


def is_namespace_glob(value: str) -> bool:
    """A lookup: is ``value`` a two-segment namespace glob such as ``tools/acme`` or ``tools/*``?"""
    parts = value.split("/")
    return len(parts) == 2 and all(GLOB_SEGMENT.fullmatch(part) for part in parts)


def glob_matches(pattern: str, namespace: str) -> bool:
    """Match a namespace against a glob segment by segment (``tools/acme`` never matches ``tools/acme-evil``).

    Both are split on ``/``; they match when they have the same number of segments and every
    segment matches with :func:`fnmatch.fnmatchcase`. A ``*`` never crosses a ``/``.
    """
    pattern_parts = pattern.split("/")
    parts = namespace.split("/")
    if len(pattern_parts) != len(parts):
        return False
    return all(fnmatchcase(part, pat) for part, pat in zip(parts, pattern_parts, strict=True))


@dataclass(frozen=True, slots=True)
class Binding:
    """A principal may sign as ``roles`` for artifacts in namespaces matching ``namespaces``."""

    principal: str
    roles: frozenset[Role]
    namespaces: tuple[str, ...]

    def covers(self, role: Role, namespace: str) -> bool:
        return role in self.roles and any(glob_matches(glob, namespace) for glob in self.namespaces)


@dataclass(frozen=True, slots=True)
class LevelRule:
    """``kind`` / ``namespace`` glob / ``stage`` -> ``level``; an absent field matches anything."""

    level: Level
    kind: str | None = None
    namespace: str | None = None
    stage: str | None = None

    def __post_init__(self) -> None:
        if self.kind is None and self.namespace is None and self.stage is None:
            raise _invalid("a level rule needs at least one of kind, namespace, stage (use levels.default instead)")
        if self.kind is not None and self.kind not in KINDS:
            raise _invalid(f"level rule kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.stage is not None and self.stage not in STAGES:
            raise _invalid(f"level rule stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        if self.namespace is not None and not is_namespace_glob(self.namespace):
            raise _invalid(f"level rule namespace {self.namespace!r} is not a KIND/NAME glob")

    def matches(self, kind: str, namespace: str, stage: str) -> bool:
        return (
            (self.kind is None or self.kind == kind)
            and (self.stage is None or self.stage == stage)
            and (self.namespace is None or glob_matches(self.namespace, namespace))
        )

    def as_dict(self) -> dict[str, str]:
        out = {"level": self.level.value}
        if self.kind is not None:
            out["kind"] = self.kind
        if self.namespace is not None:
            out["namespace"] = self.namespace
        if self.stage is not None:
            out["stage"] = self.stage
        return out


# Defaults for the optional parts of a level's requirements.
DEFAULT_DENY_FROM: Final = {
    Level.PERMISSIVE: Severity.CRITICAL,
    Level.STANDARD: Severity.HIGH,
    Level.STRICT: Severity.MEDIUM,
}
DEFAULT_ALLOW_DEPRECATED: Final = {Level.PERMISSIVE: True, Level.STANDARD: True, Level.STRICT: False}


@dataclass(frozen=True, slots=True)
class Requirements:
    """What a level demands: role thresholds over distinct principals, deprecation, finding severity.

    ``roles`` maps each required role to how many *distinct* principals must have signed as
    it; one principal counts toward at most one role of one artifact, so an author cannot also
    be the reviewer (ARCHITECTURE.md "Words: principal").
    """

    roles: Mapping[Role, int]
    allow_deprecated: bool
    deny_from: Severity

    def __post_init__(self) -> None:
        roles = dict(self.roles)
        if not roles:
            raise _invalid("requirements.roles must name at least one role; an empty threshold would accept anything")
        for role, count in roles.items():
            if role not in THRESHOLD_ROLES:
                raise _invalid(f"requirements.roles may name author, reviewer, approver, not {role.value!r}")
            if type(count) is not int or not 1 <= count <= MAX_THRESHOLD:
                raise _invalid(f"requirements.roles.{role.value} must be an integer from 1 to {MAX_THRESHOLD}")
        ordered = {role: roles[role] for role in THRESHOLD_ROLES if role in roles}
        object.__setattr__(self, "roles", MappingProxyType(ordered))
        if type(self.allow_deprecated) is not bool or not isinstance(self.deny_from, Severity):
            raise _invalid("requirements.allow_deprecated must be a boolean and deny_from a Severity")

    def threshold(self, role: Role) -> int:
        """How many distinct principals must sign as ``role`` (0 when the role is not required)."""
        return self.roles.get(role, 0)

    def denies(self, severity: Severity) -> bool:
        """A lookup: does a finding of ``severity`` deny at this level (``severity >= deny_from``)?"""
        return severity >= self.deny_from

    def assign(self, approvals: Mapping[str, Set[Role]]) -> Mapping[Role, frozenset[str]]:
        """Choose distinct principals for every required role slot, or raise ``threshold-not-met``.

        ``approvals`` maps each principal to the roles it validly signed as (statements already
        verified and filtered with :meth:`TrustPolicy.is_bound`). Each principal fills at most
        one slot, so the thresholds are met only by ``sum(roles.values())`` different
        principals. This is a bipartite matching (augmenting paths); the sizes are small.
        """
        slots = [role for role, count in self.roles.items() for _ in range(count)]
        slot_owner: list[str | None] = [None] * len(slots)
        owner_slot: dict[str, int] = {}
        candidates = [sorted(p for p, roles in approvals.items() if role in roles) for role in slots]

        def augment(slot: int, seen: set[str]) -> bool:
            for principal in candidates[slot]:
                if principal in seen:
                    continue
                seen.add(principal)
                taken = owner_slot.get(principal)
                if taken is None or augment(taken, seen):
                    slot_owner[slot] = principal
                    owner_slot[principal] = slot
                    return True
            return False

        for slot in range(len(slots)):
            augment(slot, set())
        if any(owner is None for owner in slot_owner):
            need = ", ".join(f"{role.value} {count}" for role, count in self.roles.items())
            have = "; ".join(
                f"{p} as {'/'.join(r.value for r in THRESHOLD_ROLES if r in roles)}"
                for p, roles in sorted(approvals.items())
                if roles & set(THRESHOLD_ROLES)
            )
            raise VerificationError(
                f"role thresholds not met: need {need} from distinct principals; have {have or 'no approvals'}",
                reason=Reason.THRESHOLD_NOT_MET,
            )
        chosen: dict[Role, set[str]] = {role: set() for role in self.roles}
        for role, owner in zip(slots, slot_owner, strict=True):
            assert owner is not None
            chosen[role].add(owner)
        return MappingProxyType({role: frozenset(owners) for role, owners in chosen.items()})

    def as_dict(self) -> dict[str, object]:
        return {
            "roles": {role.value: count for role, count in self.roles.items()},
            "allow_deprecated": self.allow_deprecated,
            "deny_from": self.deny_from.value,
        }
