"""Bindings match namespaces segment by segment, levels are first-match, thresholds count distinct principals."""

from __future__ import annotations

import pytest

from sealgate.errors import MalformedInputError, Reason, Severity, VerificationError
from sealgate.policy import Level, Requirements, Role, glob_matches

from .helpers import dev_doc, encode, policy, policy_doc


@pytest.mark.parametrize(
    ("pattern", "namespace", "expected"),
    [
        ("tools/acme", "tools/acme", True),
        ("tools/acme", "tools/acme-evil", False),
        ("tools/acme", "tools/acm", False),
        ("tools/acme", "modules/acme", False),
        ("tools/*", "tools/acme", True),
        ("tools/*", "tools/acme/hello", False),  # * never crosses a /
        ("tools/*", "tools", False),
        ("*/acme", "modules/acme", True),
        ("*/*", "enclaves/signal", True),
        ("tools/acme*", "tools/acme-evil", True),  # only when the author says so
        ("tools/ac?e", "tools/acme", True),
        ("tools/ac?e", "tools/acmme", False),
        ("Tools/acme", "tools/acme", False),  # case-sensitive
    ],
)
def test_namespace_globs_match_segment_by_segment(pattern: str, namespace: str, expected: bool) -> None:
    assert glob_matches(pattern, namespace) is expected


def test_binding_tools_acme_does_not_match_tools_acme_evil() -> None:
    p = policy()
    assert p.is_bound("alice", Role.AUTHOR, "tools/acme")
    assert not p.is_bound("alice", Role.AUTHOR, "tools/acme-evil")
    assert not p.is_bound("alice", Role.AUTHOR, "tools/acme/extra")


def test_binding_role_is_not_transferable() -> None:
    p = policy()
    assert not p.is_bound("alice", Role.REVIEWER, "tools/acme")  # bound as author only
    assert p.is_bound("bob", Role.REVIEWER, "tools/anything")
    assert not p.is_bound("bob", Role.REVIEWER, "modules/anything")  # tools/* only
    assert not p.is_bound("mallory", Role.AUTHOR, "tools/acme")
    assert p.is_bound("dave", Role.APPROVER, "modules/x")


def test_role_string_from_a_statement_is_looked_up_like_the_role() -> None:
    p = policy()
    assert p.is_bound("alice", "author", "tools/acme")
    assert not p.is_bound("alice", "reviewer", "tools/acme")
    assert not p.is_bound("alice", "owner", "tools/acme")  # no such role: bound to nobody
    as_text: str = Role.AUTHOR  # a StrEnum: the role is its string
    assert as_text == "author" and Role("author") is Role.AUTHOR


def test_requirements_roles_work_with_string_role_names() -> None:
    # The gate counts roles with string keys from in-toto statements.
    req = policy().requirements(Level.STRICT)
    assert "approver" in req.roles
    assert {"approver": 2}.items() <= req.roles.items()
    assert sorted(req.roles) == ["approver", "author", "reviewer"]


def test_first_matching_level_rule_wins() -> None:
    doc = policy_doc()
    doc["levels"]["rules"] = [
        {"namespace": "tools/acme", "level": "standard"},
        {"kind": "tool", "level": "strict"},
    ]
    from sealgate.policy import TrustPolicy

    p = TrustPolicy.from_json_bytes(encode(doc))
    assert p.level_for("tool", "tools/acme", "PROD") is Level.STANDARD  # the earlier rule
    assert p.level_for("tool", "tools/other", "PROD") is Level.STRICT
    assert p.level_for("module", "modules/acme", "PROD") is Level.STANDARD  # the default


def test_absent_rule_fields_match_anything() -> None:
    p = policy()
    assert p.level_for("enclave", "enclaves/signal", "DEV") is Level.STRICT  # {kind: enclave}
    assert p.level_for("tool", "tools/acme", "PROD") is Level.STRICT  # namespace + stage
    assert p.level_for("tool", "tools/acme", "TEST") is Level.STANDARD
    assert p.level_for("tool", "tools/acme-evil", "PROD") is Level.STANDARD


def test_permissive_level_only_reachable_in_development() -> None:
    from sealgate.policy import TrustPolicy

    p = TrustPolicy.from_json_bytes(encode(dev_doc()))
    assert p.level_for("module", "modules/x", "DEV") is Level.PERMISSIVE
    assert p.requirements(Level.PERMISSIVE).deny_from is Severity.CRITICAL


@pytest.mark.parametrize(
    ("kind", "namespace", "stage"),
    [
        ("plugin", "tools/acme", "DEV"),
        ("tool", "tools/acme", "prod"),
        ("tool", "modules/acme", "DEV"),  # namespace of another kind
        ("tool", "tools/acme/x", "DEV"),
        ("tool", "tools/", "DEV"),
        ("tool", "tools/acme\n", "DEV"),
        ("tool", "tools/..", "DEV"),
    ],
)
def test_level_lookup_refuses_malformed_subjects_instead_of_defaulting(kind: str, namespace: str, stage: str) -> None:
    with pytest.raises(MalformedInputError):
        policy().level_for(kind, namespace, stage)


def test_production_policy_has_no_permissive_requirements() -> None:
    from sealgate.errors import PolicyError

    with pytest.raises(PolicyError):
        policy().requirements(Level.PERMISSIVE)


STRICT = Requirements(
    roles={Role.AUTHOR: 1, Role.REVIEWER: 1, Role.APPROVER: 2}, allow_deprecated=False, deny_from=Severity.MEDIUM
)


def test_author_cannot_also_count_as_reviewer() -> None:
    std = Requirements(roles={Role.AUTHOR: 1, Role.REVIEWER: 1}, allow_deprecated=True, deny_from=Severity.HIGH)
    with pytest.raises(VerificationError) as info:
        std.assign({"alice": {Role.AUTHOR, Role.REVIEWER}})
    assert info.value.reason is Reason.THRESHOLD_NOT_MET
    assert "distinct principals" in info.value.message
    chosen = std.assign({"alice": {Role.AUTHOR, Role.REVIEWER}, "bob": {Role.REVIEWER}})
    assert chosen == {Role.AUTHOR: frozenset({"alice"}), Role.REVIEWER: frozenset({"bob"})}


def test_two_approvers_must_be_two_principals() -> None:
    with pytest.raises(VerificationError):
        STRICT.assign({"a": {Role.AUTHOR}, "r": {Role.REVIEWER}, "p": {Role.APPROVER}})
    chosen = STRICT.assign({"a": {Role.AUTHOR}, "r": {Role.REVIEWER}, "p": {Role.APPROVER}, "q": {Role.APPROVER}})
    assert chosen[Role.APPROVER] == {"p", "q"}


def test_assignment_finds_a_matching_when_greedy_would_fail() -> None:
    # carol could be reviewer or approver; a greedy choice of carol as reviewer would leave
    # one approver slot empty. The matching puts bob on reviewer instead.
    approvals = {
        "alice": {Role.AUTHOR},
        "bob": {Role.REVIEWER},
        "carol": {Role.REVIEWER, Role.APPROVER},
        "dave": {Role.APPROVER},
    }
    chosen = STRICT.assign(approvals)
    assert chosen[Role.REVIEWER] == {"bob"}
    assert chosen[Role.APPROVER] == {"carol", "dave"}


def test_advisory_role_never_counts_toward_thresholds() -> None:
    std = Requirements(roles={Role.AUTHOR: 1}, allow_deprecated=True, deny_from=Severity.HIGH)
    with pytest.raises(VerificationError):
        std.assign({"sec": {Role.ADVISORY}})


def test_no_approvals_denied() -> None:
    with pytest.raises(VerificationError, match="no approvals"):
        STRICT.assign({})


def test_severity_at_or_above_deny_from_denies() -> None:
    assert STRICT.denies(Severity.MEDIUM)
    assert STRICT.denies(Severity.CRITICAL)
    assert not STRICT.denies(Severity.LOW)


def test_allow_and_deny_lookups() -> None:
    p = policy()
    assert p.allows("hosts", "a.example")
    assert not p.allows("hosts", "evil.example")
    assert p.allows("commands", "anything")  # no commands allow-list: no restriction from it
    assert p.allow_list("commands") is None
    assert p.allow_list("hosts") == frozenset({"a.example", "b.example"})
    assert p.denies("commands", "curl")
    assert p.deny_list("hosts") == frozenset()
