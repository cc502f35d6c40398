"""The public API of sealgate.policy is exactly what we meant to export."""

from __future__ import annotations

import sealgate.policy as policy

EXPECTED = {
    "ALLOW_LISTS",
    "DEFAULT_MAX_STALENESS",
    "DENY_LISTS",
    "HARD_CAPS",
    "LOCAL_POLICY_TYPE",
    "MAX_POLICY_BYTES",
    "MAX_STALENESS",
    "TAINT_LABELS",
    "TAINT_SINKS",
    "TRUST_POLICY_TYPE",
    "AllowListName",
    "Analyser",
    "AnalyserMode",
    "Binding",
    "DenyListName",
    "Environment",
    "Level",
    "LevelRule",
    "LocalPolicy",
    "LocalRequirements",
    "Requirements",
    "Resources",
    "Role",
    "TrustPolicy",
    "compile_local_policy_yaml",
    "compile_policy_yaml",
    "effective_policy",
    "glob_matches",
    "tighten",
}


def test_all_is_what_we_meant() -> None:
    assert set(policy.__all__) == EXPECTED
    for name in policy.__all__:
        assert getattr(policy, name) is not None
