"""The signed trust policy and the local tightening file, parsed from canonical JSON on the gate's hot path.

:class:`TrustPolicy` is valid by construction: :meth:`TrustPolicy.from_json_bytes` checks
every field (types, bounds, unknown fields) and ``__post_init__`` checks what spans fields
(one key, one principal; ``permissive`` only in development; every reachable level has
requirements). :class:`LocalPolicy` is a partial policy that may only tighten the signed one
(see ``_tighten.py``). Neither imports YAML or JSON Schema.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from itertools import pairwise
from types import MappingProxyType
from typing import Final

from sealgate._dataclass import dataclass, field
from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.crypto.keys import KeyId, PublicKey, load_public_key
from sealgate.errors import KeyError_, MalformedInputError, PolicyError, Reason, Severity
from sealgate.policy._reader import MAX_LIST_ENTRIES, PolicyFieldError, Reader
from sealgate.policy._types import (
    ALLOW_LISTS,
    DEFAULT_ALLOW_DEPRECATED,
    DEFAULT_DENY_FROM,
    DEFAULT_TAINT,
    DENY_LISTS,
    HARD_CAPS,
    KINDS,
    MAX_THRESHOLD,
    RESOURCE_FIELDS,
    TAINT_LABELS,
    TAINT_SINKS,
    THRESHOLD_ROLES,
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
    is_namespace_glob,
)
from sealgate.registry.layout import KIND_PLURAL, STAGES

__all__ = [
    "DEFAULT_MAX_STALENESS",
    "LOCAL_POLICY_TYPE",
    "MAX_POLICY_BYTES",
    "MAX_STALENESS",
    "TRUST_POLICY_TYPE",
    "LocalPolicy",
    "LocalRequirements",
    "TrustPolicy",
]

TRUST_POLICY_TYPE: Final = "sealgate/trust-policy/v1"
LOCAL_POLICY_TYPE: Final = "sealgate/local-policy/v1"

MAX_POLICY_BYTES: Final = 1 << 20
MAX_PRINCIPALS: Final = 256
MAX_KEYS_PER_PRINCIPAL: Final = 16
MAX_PEM_CHARS: Final = 4096
MAX_BINDINGS: Final = 1024
MAX_BINDING_NAMESPACES: Final = 64
MAX_LEVEL_RULES: Final = 256
MAX_STALENESS: Final = 30 * 24 * 3600
DEFAULT_MAX_STALENESS: Final = 24 * 3600
MAX_LIST_ENTRY_CHARS: Final = 256

PRINCIPAL_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
LIST_ENTRY: Final = re.compile(r"[^\x00-\x1f\x7f]+")
NAMESPACE_COMPONENT: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
PEM_PUBLIC_KEY: Final = re.compile(r"-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?")

SIGNED_FIELDS: Final = (
    "_type",
    "environment",
    "principals",
    "bindings",
    "levels",
    "requirements",
    "max_staleness",
    "resources",
    "analysers",
    "allow",
    "deny",
    "taint",
)
SIGNED_REQUIRED: Final = ("_type", "environment", "principals", "bindings", "levels", "requirements")
# Fields a local file may set: everything that can only be tightened. Trust (principals, their
# keys, bindings) comes from the signed policy alone.
LOCAL_FIELDS: Final = (
    "_type",
    "environment",
    "levels",
    "requirements",
    "max_staleness",
    "resources",
    "analysers",
    "allow",
    "deny",
    "taint",
)
TRUST_FIELDS: Final = ("principals", "bindings", "keys")

_SIGNED = Reader("trust policy")
_LOCAL = Reader("local policy")


# --------------------------------------------------------------------------------------------
# Field readers shared by the signed and the local document.


def _read_json(data: bytes, r: Reader) -> dict[str, object]:
    if not isinstance(data, bytes):
        raise PolicyError(f"{r.what} must be given as bytes, not {type(data).__name__}")
    try:
        value = loads_strict(data, what=r.what, max_size=MAX_POLICY_BYTES)
    except MalformedInputError as exc:
        raise PolicyError(exc.message, reason=Reason.POLICY_INVALID) from exc
    if not isinstance(value, dict):
        r.fail((), f"must be a JSON object, not {type(value).__name__}")
    return value


def _read_type(r: Reader, doc: Mapping[str, object], expected: str) -> None:
    if doc.get("_type") != expected:
        r.fail(("_type",), f"must be {expected!r}, not {doc.get('_type')!r}")


def _read_principals(r: Reader, value: object) -> dict[str, tuple[PublicKey, ...]]:
    path = ("principals",)
    principals = r.mapping(value, path, max_items=MAX_PRINCIPALS, key_pattern=PRINCIPAL_NAME)
    if not principals:
        r.fail(path, "must name at least one principal; an empty key set trusts nobody")
    out: dict[str, tuple[PublicKey, ...]] = {}
    owner: dict[KeyId, str] = {}
    for name, spec in principals.items():
        here = (*path, name)
        keys = r.array(
            r.obj(spec, here, required=("keys",))["keys"],
            (*here, "keys"),
            min_items=1,
            max_items=MAX_KEYS_PER_PRINCIPAL,
        )
        found: dict[KeyId, PublicKey] = {}
        for i, item in enumerate(keys):
            pem = r.string(item, (*here, "keys", i), max_len=MAX_PEM_CHARS)
            if not PEM_PUBLIC_KEY.fullmatch(pem.strip("\n") + "\n"):
                r.fail((*here, "keys", i), "must be exactly one PEM block: -----BEGIN PUBLIC KEY----- ... -----END")
            try:
                key = load_public_key(pem.encode("ascii"), what=f"principals.{name}.keys[{i}]")
            except (MalformedInputError, KeyError_) as exc:
                r.fail((*here, "keys", i), f"is not a usable public key: {exc.message}")
            other = owner.get(key.keyid)
            if other is not None and other != name:
                r.fail(
                    (*here, "keys", i),
                    f"is key {key.keyid[:16]}…, which principal {other} already holds; "
                    "a key may belong to only one principal",
                )
            owner[key.keyid] = name
            # The same key twice under one principal (e.g. one EC point compressed and
            # uncompressed) is one key: keep it once.
            found.setdefault(key.keyid, key)
        out[name] = tuple(found.values())
    return out


def _read_bindings(r: Reader, value: object) -> tuple[Binding, ...]:
    path = ("bindings",)
    out: list[Binding] = []
    for i, item in enumerate(r.array(value, path, min_items=1, max_items=MAX_BINDINGS)):
        here = (*path, i)
        spec = r.obj(item, here, required=("principal", "roles", "namespaces"))
        principal = r.string(spec["principal"], (*here, "principal"), pattern=PRINCIPAL_NAME, max_len=128)
        roles: set[Role] = set()
        for j, role in enumerate(r.array(spec["roles"], (*here, "roles"), min_items=1, max_items=len(Role))):
            member = r.enum(role, (*here, "roles", j), Role)
            if member in roles:
                r.fail((*here, "roles", j), f"repeats the role {member.value!r}")
            roles.add(member)
        namespaces = r.unique_strings(spec["namespaces"], (*here, "namespaces"), pattern=None, max_len=129, min_items=1)
        if len(namespaces) > MAX_BINDING_NAMESPACES:
            r.fail((*here, "namespaces"), f"has more than {MAX_BINDING_NAMESPACES} entries")
        for j, glob in enumerate(namespaces):
            if not is_namespace_glob(glob):
                r.fail(
                    (*here, "namespaces", j),
                    f"{glob!r} must be a KIND/NAME glob such as tools/acme or tools/* (segments of a-z 0-9 . _ - * ?)",
                )
        out.append(Binding(principal=principal, roles=frozenset(roles), namespaces=tuple(namespaces)))
    return tuple(out)


def _read_levels(r: Reader, value: object, *, local: bool) -> tuple[Level | None, tuple[LevelRule, ...]]:
    path = ("levels",)
    if local:
        spec = r.obj(value, path, optional=("default", "rules"))
    else:
        spec = r.obj(value, path, required=("default",), optional=("rules",))
    default = r.enum(spec["default"], (*path, "default"), Level) if "default" in spec else None
    rules: list[LevelRule] = []
    for i, item in enumerate(r.array(spec.get("rules", []), (*path, "rules"), max_items=MAX_LEVEL_RULES)):
        here = (*path, "rules", i)
        rule = r.obj(item, here, required=("level",), optional=("kind", "namespace", "stage"))
        if not ({"kind", "namespace", "stage"} & rule.keys()):
            r.fail(here, "needs at least one of kind, namespace, stage (use levels.default for everything)")
        namespace = None
        if "namespace" in rule:
            namespace = r.string(rule["namespace"], (*here, "namespace"), max_len=129)
            if not is_namespace_glob(namespace):
                r.fail(
                    (*here, "namespace"),
                    f"{namespace!r} must be a KIND/NAME glob such as tools/* (segments of a-z 0-9 . _ - * ?)",
                )
        parsed = LevelRule(
            level=r.enum(rule["level"], (*here, "level"), Level),
            kind=r.choice(rule["kind"], (*here, "kind"), KINDS) if "kind" in rule else None,
            namespace=namespace,
            stage=r.choice(rule["stage"], (*here, "stage"), STAGES) if "stage" in rule else None,
        )
        if parsed in rules:
            # A repeated rule can never match first: it is dead, and one meaning per document.
            r.fail(here, f"repeats levels.rules[{rules.index(parsed)}]")
        rules.append(parsed)
    return default, tuple(rules)


def _read_roles(r: Reader, value: object, path: tuple[str, ...], *, local: bool) -> dict[Role, int]:
    spec = r.obj(value, path, optional=tuple(role.value for role in THRESHOLD_ROLES))
    if not spec and not local:
        r.fail(path, "must require at least one role; an empty threshold would accept anything")
    return {
        role: r.integer(spec[role.value], (*path, role.value), low=1, high=MAX_THRESHOLD)
        for role in THRESHOLD_ROLES
        if role.value in spec
    }


def _read_signed_requirements(r: Reader, value: object) -> dict[Level, Requirements]:
    path = ("requirements",)
    spec = r.obj(value, path, required=("standard", "strict"), optional=("permissive",))
    out: dict[Level, Requirements] = {}
    for level in Level:
        if level.value not in spec:
            continue
        here = (*path, level.value)
        entry = r.obj(spec[level.value], here, required=("roles",), optional=("allow_deprecated", "deny_from"))
        out[level] = Requirements(
            roles=_read_roles(r, entry["roles"], (*here, "roles"), local=False),
            allow_deprecated=r.boolean(entry["allow_deprecated"], (*here, "allow_deprecated"))
            if "allow_deprecated" in entry
            else DEFAULT_ALLOW_DEPRECATED[level],
            deny_from=r.enum(entry["deny_from"], (*here, "deny_from"), Severity)
            if "deny_from" in entry
            else DEFAULT_DENY_FROM[level],
        )
    return out


def _read_local_requirements(r: Reader, value: object) -> dict[Level, LocalRequirements]:
    path = ("requirements",)
    spec = r.obj(value, path, optional=tuple(level.value for level in Level))
    out: dict[Level, LocalRequirements] = {}
    for level in Level:
        if level.value not in spec:
            continue
        here = (*path, level.value)
        entry = r.obj(spec[level.value], here, optional=("roles", "allow_deprecated", "deny_from"))
        out[level] = LocalRequirements(
            roles=_read_roles(r, entry["roles"], (*here, "roles"), local=True) if "roles" in entry else {},
            allow_deprecated=r.boolean(entry["allow_deprecated"], (*here, "allow_deprecated"))
            if "allow_deprecated" in entry
            else None,
            deny_from=r.enum(entry["deny_from"], (*here, "deny_from"), Severity) if "deny_from" in entry else None,
        )
    return out


def _read_resources(r: Reader, value: object) -> dict[str, int]:
    path = ("resources",)
    spec = r.obj(value, path, optional=RESOURCE_FIELDS)
    caps = HARD_CAPS.as_dict()
    return {
        name: r.integer(spec[name], (*path, name), low=1, high=caps[name]) for name in RESOURCE_FIELDS if name in spec
    }


def _read_analysers(r: Reader, value: object) -> dict[Analyser, AnalyserMode]:
    path = ("analysers",)
    spec = r.obj(value, path, optional=tuple(a.value for a in Analyser))
    return {a: r.enum(spec[a.value], (*path, a.value), AnalyserMode) for a in Analyser if a.value in spec}


def _read_lists(r: Reader, value: object, key: str, names: tuple[str, ...]) -> dict[str, frozenset[str]]:
    path = (key,)
    spec = r.obj(value, path, optional=names)
    out: dict[str, frozenset[str]] = {}
    for name in names:
        if name not in spec:
            continue
        entries = r.unique_strings(spec[name], (*path, name), pattern=LIST_ENTRY, max_len=MAX_LIST_ENTRY_CHARS)
        if name == "stages":
            for i, entry in enumerate(entries):
                r.choice(entry, (*path, name, i), STAGES)
        out[name] = frozenset(entries)
    return out


def _read_taint(r: Reader, value: object) -> dict[str, frozenset[str]]:
    """``taint``: label -> the sinks it may reach. Only the labels written are returned."""
    path = ("taint",)
    spec = r.obj(value, path, optional=TAINT_LABELS)
    out: dict[str, frozenset[str]] = {}
    for label in TAINT_LABELS:
        if label not in spec:
            continue
        here = (*path, label)
        sinks = r.unique_strings(spec[label], here, pattern=None, max_len=16)
        for i, sink in enumerate(sinks):
            r.choice(sink, (*here, i), TAINT_SINKS)
        out[label] = frozenset(sinks)
    return out


def _check_taint(r: Reader, taint: Mapping[str, object], *, complete: bool) -> dict[str, frozenset[str]]:
    """Validate a built ``taint`` mapping (labels and sinks known; every label when ``complete``)."""
    out: dict[str, frozenset[str]] = {}
    for label, sinks in taint.items():
        if label not in TAINT_LABELS:
            r.fail(("taint", label), f"is not a taint label; the labels are {', '.join(TAINT_LABELS)}")
        # A str is iterable too: frozenset("argv") would silently be four one-letter sinks.
        if not isinstance(sinks, (set, frozenset)):
            r.fail(("taint", label), "must be a set of sinks")
        checked = frozenset(sinks)
        for sink in checked:
            if sink not in TAINT_SINKS:
                r.fail(("taint", label), f"names {sink!r}, which is not a sink; the sinks are {', '.join(TAINT_SINKS)}")
        out[label] = checked
    if complete and set(out) != set(TAINT_LABELS):
        r.fail(("taint",), "must give the sinks of every label")
    return {label: out[label] for label in TAINT_LABELS if label in out}


def _taint_json(taint: Mapping[str, frozenset[str]]) -> dict[str, list[str]]:
    return {label: [sink for sink in TAINT_SINKS if sink in sinks] for label, sinks in taint.items()}


def _staleness(r: Reader, value: object) -> int:
    return r.integer(value, ("max_staleness",), low=1, high=MAX_STALENESS)


def _lists_json(lists: Mapping[str, frozenset[str]]) -> dict[str, list[str]]:
    return {name: sorted(entries) for name, entries in lists.items()}


# --------------------------------------------------------------------------------------------
# The signed trust policy.


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """The signed trust policy: who may sign what, how much each artifact needs, and the limits.

    Build it with :meth:`from_json_bytes` (the gate) or ``compile_policy_yaml`` (authoring);
    ``tighten`` derives a stricter one from a :class:`LocalPolicy`. ``digest`` is the hex
    SHA-256 of the exact bytes it was parsed from (for a tightened policy: of its canonical
    encoding); it does not take part in ``==``.
    """

    environment: Environment
    principals: Mapping[str, tuple[PublicKey, ...]]
    bindings: tuple[Binding, ...]
    default_level: Level
    level_rules: tuple[LevelRule, ...]
    requirements_by_level: Mapping[Level, Requirements]
    max_staleness: int = DEFAULT_MAX_STALENESS
    resources: Resources = HARD_CAPS
    analysers: Mapping[Analyser, AnalyserMode] = field(
        default_factory=lambda: MappingProxyType(dict.fromkeys(Analyser, AnalyserMode.ENFORCE))
    )
    allow_lists: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    deny_lists: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    taint: Mapping[str, frozenset[str]] = field(default_factory=lambda: DEFAULT_TAINT)
    digest: str = field(default="", compare=False)
    _keys: Mapping[KeyId, PublicKey] = field(init=False, repr=False, compare=False)
    _owners: Mapping[KeyId, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        r = _SIGNED
        if not isinstance(self.environment, Environment):
            r.fail(("environment",), "must be an Environment")
        production = self.environment is Environment.PRODUCTION

        # Trust: principals and their keys. One key belongs to one principal, because the
        # thresholds count principals and a shared key would let one signature count twice.
        if not self.principals:
            r.fail(("principals",), "must name at least one principal; an empty key set trusts nobody")
        owners: dict[KeyId, str] = {}
        keys: dict[KeyId, PublicKey] = {}
        principals: dict[str, tuple[PublicKey, ...]] = {}
        for name in sorted(self.principals):
            held = self.principals[name]
            if not PRINCIPAL_NAME.fullmatch(name):
                r.fail(("principals", name), "is not a valid principal name")
            if not held or len(held) > MAX_KEYS_PER_PRINCIPAL:
                r.fail(("principals", name, "keys"), f"must hold 1 to {MAX_KEYS_PER_PRINCIPAL} keys")
            for key in held:
                if key.keyid in owners:
                    r.fail(
                        ("principals", name, "keys"),
                        f"holds key {key.keyid[:16]}…, which principal "
                        f"{owners[key.keyid]} already holds; a key may belong to only one principal",
                    )
                owners[key.keyid] = name
                keys[key.keyid] = key
            principals[name] = tuple(sorted(held, key=lambda k: k.keyid))
        object.__setattr__(self, "principals", MappingProxyType(principals))
        object.__setattr__(self, "_keys", MappingProxyType(keys))
        object.__setattr__(self, "_owners", MappingProxyType(owners))

        if not self.bindings or len(self.bindings) > MAX_BINDINGS:
            r.fail(("bindings",), f"must hold 1 to {MAX_BINDINGS} bindings")
        for i, binding in enumerate(self.bindings):
            if binding.principal not in principals:
                r.fail(("bindings", i, "principal"), f"names {binding.principal!r}, which is not in principals")

        # Levels: permissive exists only in development (ARCHITECTURE.md "Words: level").
        if len(self.level_rules) > MAX_LEVEL_RULES:
            r.fail(("levels", "rules"), f"has more than {MAX_LEVEL_RULES} rules")
        if len(set(self.level_rules)) != len(self.level_rules):
            r.fail(("levels", "rules"), "repeats a rule")
        if production and self.default_level is Level.PERMISSIVE:
            r.fail(("levels", "default"), "is permissive, which is allowed only under environment: development")
        for i, rule in enumerate(self.level_rules):
            if production and rule.level is Level.PERMISSIVE:
                r.fail(
                    ("levels", "rules", i, "level"),
                    "is permissive, which is allowed only under environment: development",
                )
        requirements = dict(self.requirements_by_level)
        for level in (Level.STANDARD, Level.STRICT):
            if level not in requirements:
                r.fail(("requirements", level.value), "is required")
        if Level.PERMISSIVE in requirements and production:
            r.fail(("requirements", "permissive"), "is allowed only under environment: development")
        reachable = {self.default_level, *(rule.level for rule in self.level_rules)}
        if Level.PERMISSIVE in reachable and Level.PERMISSIVE not in requirements:
            r.fail(("requirements", "permissive"), "is required because a level rule or the default is permissive")
        object.__setattr__(
            self,
            "requirements_by_level",
            MappingProxyType({lv: requirements[lv] for lv in Level if lv in requirements}),
        )
        # A higher level never demands less than a lower one, so raising a level (which is all a
        # local level rule may do) always tightens.
        present = [lv for lv in Level if lv in requirements]
        for lower, higher in pairwise(present):
            low, high = requirements[lower], requirements[higher]
            for role in THRESHOLD_ROLES:
                if high.threshold(role) < low.threshold(role):
                    r.fail(
                        ("requirements", higher.value, "roles", role.value),
                        f"is {high.threshold(role)}, below the {low.threshold(role)} that {lower.value} requires; "
                        "a higher level may not demand less",
                    )
            if high.allow_deprecated and not low.allow_deprecated:
                r.fail(
                    ("requirements", higher.value, "allow_deprecated"),
                    f"is true but {lower.value} says false; a higher level may not demand less",
                )
            if high.deny_from > low.deny_from:
                r.fail(
                    ("requirements", higher.value, "deny_from"),
                    f"is {high.deny_from.value}, above {lower.value}'s {low.deny_from.value}; "
                    "a higher level may not demand less",
                )

        if type(self.max_staleness) is not int or not 1 <= self.max_staleness <= MAX_STALENESS:
            r.fail(("max_staleness",), f"must be an integer from 1 to {MAX_STALENESS} seconds")
        if set(self.analysers) != set(Analyser):
            r.fail(("analysers",), "must give a mode for every analyser")
        object.__setattr__(self, "analysers", MappingProxyType({a: self.analysers[a] for a in Analyser}))
        for section, names, lists in (("allow", ALLOW_LISTS, self.allow_lists), ("deny", DENY_LISTS, self.deny_lists)):
            for name, entries in lists.items():
                if name not in names:
                    r.fail((section, name), "is not a known list")
                if len(entries) > MAX_LIST_ENTRIES:
                    r.fail((section, name), f"has more than {MAX_LIST_ENTRIES} entries")
        object.__setattr__(
            self,
            "allow_lists",
            MappingProxyType({n: self.allow_lists[n] for n in ALLOW_LISTS if n in self.allow_lists}),
        )
        # An empty deny-list and an absent one mean the same; keep one spelling.
        object.__setattr__(
            self, "deny_lists", MappingProxyType({n: self.deny_lists[n] for n in DENY_LISTS if self.deny_lists.get(n)})
        )
        # Every label has its sinks spelled out, so taint_sinks is one dictionary lookup.
        object.__setattr__(self, "taint", MappingProxyType(_check_taint(r, self.taint, complete=True)))
        if not self.digest:
            object.__setattr__(self, "digest", hashlib.sha256(self.to_json_bytes()).hexdigest())

    # ---- parsing and encoding ------------------------------------------------------------

    @classmethod
    def from_json_bytes(cls, data: bytes) -> TrustPolicy:
        """Parse and validate the published policy; raise ``PolicyError(policy-invalid)`` naming the field."""
        doc = _read_json(data, _SIGNED)
        return cls._from_document(doc, digest=hashlib.sha256(data).hexdigest())

    @classmethod
    def _from_document(cls, doc: dict[str, object], *, digest: str = "") -> TrustPolicy:
        r = _SIGNED
        r.obj(doc, (), required=SIGNED_REQUIRED, optional=SIGNED_FIELDS)
        _read_type(r, doc, TRUST_POLICY_TYPE)
        environment = r.enum(doc["environment"], ("environment",), Environment)
        principals = _read_principals(r, doc["principals"])
        bindings = _read_bindings(r, doc["bindings"])
        default, rules = _read_levels(r, doc["levels"], local=False)
        assert default is not None
        requirements = _read_signed_requirements(r, doc["requirements"])
        staleness = _staleness(r, doc["max_staleness"]) if "max_staleness" in doc else DEFAULT_MAX_STALENESS
        resources = HARD_CAPS.as_dict()
        resources.update(_read_resources(r, doc["resources"]) if "resources" in doc else {})
        analysers = dict.fromkeys(Analyser, AnalyserMode.ENFORCE)
        analysers.update(_read_analysers(r, doc["analysers"]) if "analysers" in doc else {})
        taint = dict(DEFAULT_TAINT)
        taint.update(_read_taint(r, doc["taint"]) if "taint" in doc else {})
        return cls(
            environment=environment,
            principals=principals,
            bindings=bindings,
            default_level=default,
            level_rules=rules,
            requirements_by_level=requirements,
            max_staleness=staleness,
            resources=Resources(**resources),
            analysers=analysers,
            allow_lists=_read_lists(r, doc["allow"], "allow", ALLOW_LISTS) if "allow" in doc else {},
            deny_lists=_read_lists(r, doc["deny"], "deny", DENY_LISTS) if "deny" in doc else {},
            taint=taint,
            digest=digest,
        )

    def to_json_value(self) -> dict[str, object]:
        """The policy as a JSON value with every default spelled out."""
        return {
            "_type": TRUST_POLICY_TYPE,
            "environment": self.environment.value,
            "principals": {
                name: {"keys": [key.to_pem().decode("ascii") for key in keys]} for name, keys in self.principals.items()
            },
            "bindings": [
                {
                    "principal": b.principal,
                    "roles": [role.value for role in Role if role in b.roles],
                    "namespaces": list(b.namespaces),
                }
                for b in self.bindings
            ],
            "levels": {"default": self.default_level.value, "rules": [rule.as_dict() for rule in self.level_rules]},
            "requirements": {level.value: req.as_dict() for level, req in self.requirements_by_level.items()},
            "max_staleness": self.max_staleness,
            "resources": self.resources.as_dict(),
            "analysers": {a.value: mode.value for a, mode in self.analysers.items()},
            "allow": _lists_json(self.allow_lists),
            "deny": _lists_json(self.deny_lists),
            "taint": _taint_json(self.taint),
        }

    def to_json_bytes(self) -> bytes:
        """The canonical (RFC 8785) encoding; ``from_json_bytes`` of it gives back the same bytes."""
        return canonical_bytes(self.to_json_value())

    # ---- what the gate asks ----------------------------------------------------------------

    @property
    def keys(self) -> Mapping[KeyId, PublicKey]:
        """Every trusted key by key id (ids recomputed from the key material, never read from the file)."""
        return self._keys

    def principal_of(self, keyid: KeyId) -> str | None:
        """The principal holding ``keyid``, or ``None`` for a key the policy does not know."""
        return self._owners.get(keyid)

    def is_bound(self, principal: str, role: Role | str, namespace: str) -> bool:
        """A lookup: may ``principal`` sign as ``role`` in ``namespace`` (globs matched segment by segment)?

        ``role`` may be the role string of a verified statement; a string that is no role is
        bound to nobody.
        """
        try:
            member = Role(role)
        except ValueError:
            return False
        return any(b.principal == principal and b.covers(member, namespace) for b in self.bindings)

    def level_for(self, kind: str, namespace: str, stage: str) -> Level:
        """The level for an artifact: the first matching rule's level, else ``levels.default``.

        ``kind`` is ``tool``, ``module`` or ``enclave``; ``namespace`` is the registry namespace
        (``tools/acme``, ``enclaves/signal``) and must belong to that kind; ``stage`` is one of
        DEV, TEST, STAGE, PROD. Anything else is refused (``MalformedInputError``) rather than
        silently falling through to the default.
        """
        _check_subject(kind, namespace, stage)
        for rule in self.level_rules:
            if rule.matches(kind, namespace, stage):
                return rule.level
        return self.default_level

    def requirements(self, level: Level) -> Requirements:
        """What ``level`` demands. Every level :meth:`level_for` can return has requirements."""
        try:
            return self.requirements_by_level[level]
        except KeyError:
            raise PolicyError(f"the trust policy has no requirements for level {level.value}") from None

    def analyser_mode(self, analyser: Analyser) -> AnalyserMode:
        return self.analysers[analyser]

    def allow_list(self, name: AllowListName) -> frozenset[str] | None:
        """The allow-list ``name``; ``None`` when the policy sets none (no restriction from this list)."""
        if name not in ALLOW_LISTS:
            raise PolicyError(f"{name!r} is not an allow-list; the allow-lists are {', '.join(ALLOW_LISTS)}")
        return self.allow_lists.get(name)

    def deny_list(self, name: DenyListName) -> frozenset[str]:
        """The deny-list ``name`` (empty when the policy sets none)."""
        if name not in DENY_LISTS:
            raise PolicyError(f"{name!r} is not a deny-list; the deny-lists are {', '.join(DENY_LISTS)}")
        return self.deny_lists.get(name, frozenset())

    def allows(self, name: AllowListName, value: str) -> bool:
        """A lookup: is ``value`` literally in allow-list ``name`` (or is there no such list)?"""
        entries = self.allow_list(name)
        return entries is None or value in entries

    def denies(self, name: DenyListName, value: str) -> bool:
        """A lookup: is ``value`` literally in deny-list ``name``?"""
        return value in self.deny_list(name)

    def taint_sinks(self, label: str) -> frozenset[str]:
        """The sinks (``argv``, ``shell``, ``path``, ``url``, ``env``) that input labelled ``label`` may reach.

        A label that is not one of ``TAINT_LABELS`` (``none``, a typo, anything an entry point
        made up) may reach nothing: the answer is empty, never a default. One lookup in a
        mapping built when the policy was, because the gate asks for every input.
        """
        return self.taint.get(label, _NO_SINKS)


_NO_SINKS: Final[frozenset[str]] = frozenset()


def _check_subject(kind: str, namespace: str, stage: str) -> None:
    if kind not in KINDS:
        raise MalformedInputError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if stage not in STAGES:
        raise MalformedInputError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    head, _, name = namespace.partition("/")
    if head != KIND_PLURAL[kind] or not NAMESPACE_COMPONENT.fullmatch(name) or ".." in name:
        raise MalformedInputError(f"namespace {namespace!r} is not a {kind} namespace ({KIND_PLURAL[kind]}/NAME)")


# --------------------------------------------------------------------------------------------
# The local tightening file.


@dataclass(frozen=True, slots=True)
class LocalRequirements:
    """A partial :class:`Requirements`: only the parts a local file sets (``None`` / absent = unchanged)."""

    roles: Mapping[Role, int] = field(default_factory=lambda: MappingProxyType({}))
    allow_deprecated: bool | None = None
    deny_from: Severity | None = None

    def __post_init__(self) -> None:
        for role, count in self.roles.items():
            if role not in THRESHOLD_ROLES or type(count) is not int or not 1 <= count <= MAX_THRESHOLD:
                raise PolicyError(f"local requirements may set author, reviewer, approver to 1..{MAX_THRESHOLD}")
        object.__setattr__(
            self, "roles", MappingProxyType({r: self.roles[r] for r in THRESHOLD_ROLES if r in self.roles})
        )

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.roles:
            out["roles"] = {role.value: count for role, count in self.roles.items()}
        if self.allow_deprecated is not None:
            out["allow_deprecated"] = self.allow_deprecated
        if self.deny_from is not None:
            out["deny_from"] = self.deny_from.value
        return out


@dataclass(frozen=True, slots=True)
class LocalPolicy:
    """A partial policy that may only tighten the signed one, field by field (see ``tighten``).

    Every field is optional; an absent field leaves the signed value as it is. It cannot hold
    principals, keys or bindings: local files cannot add trust.
    """

    environment: Environment | None = None
    default_level: Level | None = None
    level_rules: tuple[LevelRule, ...] = ()
    requirements_by_level: Mapping[Level, LocalRequirements] = field(default_factory=lambda: MappingProxyType({}))
    max_staleness: int | None = None
    resources: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    analysers: Mapping[Analyser, AnalyserMode] = field(default_factory=lambda: MappingProxyType({}))
    allow_lists: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    deny_lists: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    taint: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    digest: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        r = _LOCAL
        if len(self.level_rules) > MAX_LEVEL_RULES:
            r.fail(("levels", "rules"), f"has more than {MAX_LEVEL_RULES} rules")
        if len(set(self.level_rules)) != len(self.level_rules):
            r.fail(("levels", "rules"), "repeats a rule")
        if self.max_staleness is not None and (
            type(self.max_staleness) is not int or not 1 <= self.max_staleness <= MAX_STALENESS
        ):
            r.fail(("max_staleness",), f"must be an integer from 1 to {MAX_STALENESS} seconds")
        caps = HARD_CAPS.as_dict()
        for name, value in self.resources.items():
            if name not in caps or type(value) is not int or not 1 <= value <= caps[name]:
                r.fail(("resources", name), "must be a known resource with a value from 1 to its hard cap")
        for section, names, lists in (("allow", ALLOW_LISTS, self.allow_lists), ("deny", DENY_LISTS, self.deny_lists)):
            for name in lists:
                if name not in names:
                    r.fail((section, name), "is not a known list")
        object.__setattr__(
            self,
            "requirements_by_level",
            MappingProxyType({lv: self.requirements_by_level[lv] for lv in Level if lv in self.requirements_by_level}),
        )
        object.__setattr__(
            self, "resources", MappingProxyType({n: self.resources[n] for n in RESOURCE_FIELDS if n in self.resources})
        )
        object.__setattr__(
            self, "analysers", MappingProxyType({a: self.analysers[a] for a in Analyser if a in self.analysers})
        )
        object.__setattr__(
            self,
            "allow_lists",
            MappingProxyType({n: self.allow_lists[n] for n in ALLOW_LISTS if n in self.allow_lists}),
        )
        object.__setattr__(
            self, "deny_lists", MappingProxyType({n: self.deny_lists[n] for n in DENY_LISTS if self.deny_lists.get(n)})
        )
        # Unlike a deny-list, an empty sink list is not the same as an absent label: it says
        # the label may reach no sink at all.
        object.__setattr__(self, "taint", MappingProxyType(_check_taint(r, self.taint, complete=False)))
        if not self.digest:
            object.__setattr__(self, "digest", hashlib.sha256(self.to_json_bytes()).hexdigest())

    @classmethod
    def empty(cls) -> LocalPolicy:
        """The local policy that changes nothing (no local file)."""
        return cls()

    @property
    def is_empty(self) -> bool:
        return self == LocalPolicy()

    @classmethod
    def from_json_bytes(cls, data: bytes) -> LocalPolicy:
        """Parse ``local-policy.json``: unknown fields are ``policy-invalid``, trust fields ``policy-loosened``."""
        doc = _read_json(data, _LOCAL)
        return cls._from_document(doc, digest=hashlib.sha256(data).hexdigest())

    @classmethod
    def _from_document(cls, doc: dict[str, object], *, digest: str = "") -> LocalPolicy:
        r = _LOCAL
        refuse_trust_fields(doc)
        r.obj(doc, (), required=("_type",), optional=LOCAL_FIELDS)
        _read_type(r, doc, LOCAL_POLICY_TYPE)
        default, rules = _read_levels(r, doc["levels"], local=True) if "levels" in doc else (None, ())
        return cls(
            environment=r.enum(doc["environment"], ("environment",), Environment) if "environment" in doc else None,
            default_level=default,
            level_rules=rules,
            requirements_by_level=_read_local_requirements(r, doc["requirements"]) if "requirements" in doc else {},
            max_staleness=_staleness(r, doc["max_staleness"]) if "max_staleness" in doc else None,
            resources=_read_resources(r, doc["resources"]) if "resources" in doc else {},
            analysers=_read_analysers(r, doc["analysers"]) if "analysers" in doc else {},
            allow_lists=_read_lists(r, doc["allow"], "allow", ALLOW_LISTS) if "allow" in doc else {},
            deny_lists=_read_lists(r, doc["deny"], "deny", DENY_LISTS) if "deny" in doc else {},
            taint=_read_taint(r, doc["taint"]) if "taint" in doc else {},
            digest=digest,
        )

    def to_json_value(self) -> dict[str, object]:
        out: dict[str, object] = {"_type": LOCAL_POLICY_TYPE}
        if self.environment is not None:
            out["environment"] = self.environment.value
        levels: dict[str, object] = {}
        if self.default_level is not None:
            levels["default"] = self.default_level.value
        if self.level_rules:
            levels["rules"] = [rule.as_dict() for rule in self.level_rules]
        if levels:
            out["levels"] = levels
        if self.requirements_by_level:
            out["requirements"] = {lv.value: req.as_dict() for lv, req in self.requirements_by_level.items()}
        if self.max_staleness is not None:
            out["max_staleness"] = self.max_staleness
        if self.resources:
            out["resources"] = dict(self.resources)
        if self.analysers:
            out["analysers"] = {a.value: mode.value for a, mode in self.analysers.items()}
        if self.allow_lists:
            out["allow"] = _lists_json(self.allow_lists)
        if self.deny_lists:
            out["deny"] = _lists_json(self.deny_lists)
        if self.taint:
            out["taint"] = _taint_json(self.taint)
        return out

    def to_json_bytes(self) -> bytes:
        return canonical_bytes(self.to_json_value())


def refuse_trust_fields(doc: Mapping[str, object]) -> None:
    for name in TRUST_FIELDS:
        if name in doc:
            value = doc[name]
            shown = (
                ", ".join(sorted(value))
                if isinstance(value, dict)
                else f"{len(value)} entries"
                if isinstance(value, list)
                else repr(value)[:60]
            )
            raise PolicyFieldError(
                f"local policy field {name} ({shown}) would add trust: principals, keys and bindings come only "
                "from the signed policy, and a local policy may only tighten it",
                path=(name,),
                reason=Reason.POLICY_LOOSENED,
            )
