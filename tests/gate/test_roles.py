"""Role thresholds count distinct principals: one person never fills two roles."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sealgate.gate._roles import count_roles

STRICT = {"author": 1, "reviewer": 1, "approver": 2}


def test_same_principal_cannot_be_author_and_reviewer() -> None:
    result = count_roles({"author": 1, "reviewer": 1}, {"alice": {"author", "reviewer"}})
    assert not result.met
    assert sum(result.missing.values()) == 1


def test_matching_finds_assignment_greedy_would_miss() -> None:
    # alice signed as author and reviewer, bob only as author: bob authors, alice reviews.
    result = count_roles({"author": 1, "reviewer": 1}, {"alice": {"author", "reviewer"}, "bob": {"author"}})
    assert result.met
    assert result.assigned == {"author": ("bob",), "reviewer": ("alice",)}


def test_strict_needs_two_distinct_approvers() -> None:
    claims = {"a": {"author"}, "r": {"reviewer"}, "p1": {"approver"}}
    assert count_roles(STRICT, claims).missing == {"approver": 1}
    claims["p2"] = {"approver"}
    assert count_roles(STRICT, claims).met


@given(st.dictionaries(st.sampled_from("abcdef"), st.sets(st.sampled_from(["author", "reviewer", "approver"]))))
def test_every_slot_holds_a_distinct_principal_who_claimed_it(claims: dict[str, set[str]]) -> None:
    result = count_roles(STRICT, claims)
    used = [p for names in result.assigned.values() for p in names]
    assert len(used) == len(set(used))
    for role, names in result.assigned.items():
        assert all(role in claims[p] for p in names)
        assert len(names) + result.missing.get(role, 0) == STRICT[role]
