"""The trust policy: who may sign what, how much each artifact needs, and the limits of a run.

The policy is authored as YAML, compiled at authoring time to canonical JSON
(:func:`compile_policy_yaml`), published in the registry as ``policy/trust-policy.json`` and
parsed on the gate's hot path by :meth:`TrustPolicy.from_json_bytes`. A local file
(``local-policy.json``, :class:`LocalPolicy`) may only tighten it (:func:`tighten`).
Importing this package never imports ``yaml`` or ``jsonschema``; the compilers import them
when called. The format is documented in docs/policy.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sealgate.policy._policy import (
    DEFAULT_MAX_STALENESS,
    LOCAL_POLICY_TYPE,
    MAX_POLICY_BYTES,
    MAX_STALENESS,
    TRUST_POLICY_TYPE,
    LocalPolicy,
    LocalRequirements,
    TrustPolicy,
)
from sealgate.policy._tighten import effective_policy, tighten
from sealgate.policy._types import (
    ALLOW_LISTS,
    DENY_LISTS,
    HARD_CAPS,
    TAINT_LABELS,
    TAINT_SINKS,
    AllowListName,
    Analyser,
    AnalyserMode,
    Binding,
    DenyListName,
    Environment,
    Level,
    LevelRule,
    Requirements,
    Resources,
    Role,
    glob_matches,
)

if TYPE_CHECKING:
    from sealgate.policy._compile import compile_local_policy_yaml, compile_policy_yaml

__all__ = [
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
]

_LAZY = {"compile_policy_yaml", "compile_local_policy_yaml"}


def __getattr__(name: str) -> Any:
    # The compilers live in their own module so that importing the package (the gate's hot
    # path) does not pay for, or expose, the YAML and JSON Schema libraries.
    if name in _LAZY:
        from sealgate.policy import _compile

        return getattr(_compile, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
