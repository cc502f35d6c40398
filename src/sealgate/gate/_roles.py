"""Role thresholds over distinct principals (ARCHITECTURE.md "Words: principal").

Each verified statement gives (principal, role) claims that the policy binds for the
artifact's namespace. A principal fills at most one role slot overall, so one person cannot
be both author and reviewer; whether the requirements can be met is a bipartite matching of
principals to role slots (Kuhn's augmenting paths; the sizes are tiny).
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from sealgate._dataclass import dataclass

__all__ = ["RoleCount", "count_roles"]


@dataclass(frozen=True, slots=True)
class RoleCount:
    """The outcome of matching: who fills which role, and what is still missing."""

    assigned: dict[str, tuple[str, ...]]  # role -> principals filling its slots
    missing: dict[str, int]  # role -> slots left unfilled

    @property
    def met(self) -> bool:
        return not self.missing


def count_roles(required: Mapping[str, int], claims: Mapping[str, Set[str]]) -> RoleCount:
    """Match principals (``claims``: principal -> roles it is bound to and signed as) to slots."""
    slot_roles: list[str] = []  # one entry per slot, roles in sorted order
    for role in sorted(required):
        slot_roles += [role] * required[role]
    slot_owner: dict[int, str] = {}

    def try_assign(principal: str, seen: set[int]) -> bool:
        roles = claims[principal]
        for s, role in enumerate(slot_roles):
            if role not in roles or s in seen:
                continue
            seen.add(s)
            if s not in slot_owner or try_assign(slot_owner[s], seen):
                slot_owner[s] = principal
                return True
        return False

    for principal in sorted(claims):
        try_assign(principal, set())

    assigned: dict[str, list[str]] = {role: [] for role in required}
    for s, principal in slot_owner.items():
        assigned[slot_roles[s]].append(principal)
    missing = {role: n - len(assigned[role]) for role, n in required.items() if len(assigned[role]) < n}
    return RoleCount({r: tuple(sorted(p)) for r, p in assigned.items()}, missing)
