"""Structural rules of a sealgate registry, checked on everything written, approved or verified.

TUF checks signatures, thresholds, versions and expiry; it does not know sealgate's shape.
These checks add it: which targets may sit in which role, that every delegation is a
terminating namespace matched segment by segment, that bins hold exactly the targets that
hash into them, that no delegation can reach ``policy/``, ``advisories/`` or ``index/``
(ARCHITECTURE.md "Formats: Registry"), and that every entry's ``custom`` fields and
statements are well formed and name the entry's own path and digest.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from sealgate.canonical import loads_strict
from sealgate.crypto.dsse import Envelope
from sealgate.crypto.intoto import PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE
from sealgate.digest import SCHEME
from sealgate.errors import MalformedInputError, RegistryIntegrityError, SealgateError
from sealgate.registry import layout
from sealgate.registry._tuf import Root, SuccinctRoles, TargetFile, Targets
from sealgate.registry._tufkeys import check_tuf_keys

__all__ = [
    "MAX_BIT_LENGTH",
    "MAX_STATEMENTS",
    "TOP_LEVEL_ROLES",
    "check_bin",
    "check_namespace_role",
    "check_root",
    "check_statements",
    "check_top_targets",
    "entry_coordinates",
    "namespace_of_role",
    "parse_namespace",
    "patterns_reach_protected",
]

TOP_LEVEL_ROLES = ("root", "targets", "snapshot", "timestamp")
MAX_BIT_LENGTH = 12
MAX_STATEMENTS = 16
MAX_REASON = 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_GIT = re.compile(r"^[0-9a-f]{40}$")
_TOP_TARGET = re.compile(r"^(policy/[a-z0-9][a-z0-9._-]{0,127}|advisories/[A-Za-z0-9][A-Za-z0-9._-]{0,127})$")


def parse_namespace(namespace: str) -> tuple[str, str]:
    """Validate ``tools/acme``, ``modules/x`` or ``enclaves/<name>``; return (kind, component)."""
    parts = namespace.split("/")
    kinds = {plural: kind for kind, plural in layout.KIND_PLURAL.items()}
    if len(parts) != 2 or parts[0] not in kinds:
        raise MalformedInputError(f"namespace {namespace!r} must be tools/<ns>, modules/<ns> or enclaves/<name>")
    layout.validate_component(parts[1], "namespace")
    return kinds[parts[0]], parts[1]


def namespace_of_role(role: str) -> str:
    """``tools.acme`` -> ``tools/acme`` (the kind's plural never contains a dot)."""
    plural, _, rest = role.partition(".")
    namespace = f"{plural}/{rest}"
    parse_namespace(namespace)
    if layout.namespace_role(namespace) != role:
        raise MalformedInputError(f"{role!r} is not a namespace role name")
    return namespace


def patterns_reach_protected(patterns: list[str]) -> list[str]:
    """The patterns whose first segment could match ``policy``, ``advisories`` or ``index``."""
    protected = [p.rstrip("/") for p in layout.PROTECTED_PREFIXES]
    return [pat for pat in patterns if any(fnmatch.fnmatchcase(word, pat.split("/")[0]) for word in protected)]


def entry_coordinates(path: str) -> tuple[str, str, str]:
    """(kind, name, version) of an entry target path; refuses anything that does not round-trip."""
    parts = path.split("/")
    kinds = {plural: kind for kind, plural in layout.KIND_PLURAL.items()}
    if not parts or parts[0] not in kinds:
        raise MalformedInputError(f"{path!r} is not an entry target path")
    kind = kinds[parts[0]]
    if kind == "enclave" and len(parts) == 3:
        name, version = parts[1], parts[2]
    elif kind != "enclave" and len(parts) == 4:
        name, version = f"{parts[1]}/{parts[2]}", parts[3]
    else:
        raise MalformedInputError(f"{path!r} is not an entry target path")
    if layout.target_path(kind, name, version) != path:
        raise MalformedInputError(f"{path!r} is not an entry target path")
    return kind, name, version


def _fail(where: str, message: str) -> RegistryIntegrityError:
    return RegistryIntegrityError(f"{where}: {message}")


def check_root(root: Root, where: str = "root") -> None:
    """Root names all four roles, uses SPKI key ids, consistent snapshots and online roles of one key."""
    check_tuf_keys(root.keys, where)
    if not root.consistent_snapshot:
        raise _fail(where, "consistent_snapshot must be true (the registry layout depends on it)")
    for name in TOP_LEVEL_ROLES:
        role = root.roles.get(name)
        if role is None:
            raise _fail(where, f"role {name} is missing")
        if role.threshold < 1 or len(set(role.keyids)) < role.threshold:
            raise _fail(where, f"role {name} has threshold {role.threshold} but {len(set(role.keyids))} keys")
        if len(set(role.keyids)) != len(role.keyids):
            raise _fail(where, f"role {name} lists a key twice")
        missing = [k for k in role.keyids if k not in root.keys]
        if missing:
            raise _fail(where, f"role {name} uses unknown key {missing[0][:16]}")
    for name in ("snapshot", "timestamp"):
        if root.roles[name].threshold != 1:
            raise _fail(where, f"the online role {name} must have threshold 1 (one key held by the repository host)")


def check_top_targets(targets: Targets, where: str = "targets") -> None:
    """Top-level targets holds only policy, advisories and index targets, and delegates namespaces."""
    for path, target in targets.targets.items():
        if path.startswith("index/"):
            kind = path.split("/")[1] if path.count("/") >= 2 else ""
            try:
                name = path.split("/", 2)[2]
                if kind not in layout.KIND_PLURAL or layout.index_path(kind, name) != path:
                    raise MalformedInputError(path)
            except (SealgateError, IndexError) as exc:
                raise _fail(where, f"{path!r} is not a valid index path") from exc
        elif not _TOP_TARGET.match(path) or ".." in path:
            raise _fail(
                where,
                f"target {path!r} may not be signed by top-level targets: entries belong in namespace bins,"
                " and only policy/, advisories/ and index/ are top-level",
            )
        _check_target_hashes(path, target, where)
    delegations = targets.delegations
    if delegations is None:
        return
    if delegations.succinct_roles is not None or delegations.roles is None:
        raise _fail(where, "top-level targets must delegate named namespace roles, not hash bins")
    check_tuf_keys(delegations.keys, where)
    for name, role in delegations.roles.items():
        try:
            namespace = namespace_of_role(name)
        except SealgateError as exc:
            raise _fail(where, f"delegated role {name!r} is not a namespace role") from exc
        if role.paths is None or role.path_hash_prefixes is not None:
            raise _fail(where, f"delegation {name} must use path patterns, not hash prefixes")
        reaching = patterns_reach_protected(role.paths)
        if reaching:
            raise _fail(where, f"delegation {name} has pattern {reaching[0]!r} reaching a protected prefix")
        if role.paths != layout.namespace_paths(namespace):
            raise _fail(
                where, f"delegation {name} must have paths {layout.namespace_paths(namespace)}, not {role.paths}"
            )
        if not role.terminating:
            raise _fail(where, f"delegation {name} must be terminating")
        _check_role_keys(name, role.keyids, role.threshold, delegations.keys, where)


def _check_role_keys(name: str, keyids: list[str], threshold: int, keys: Mapping[str, Any], where: str) -> None:
    if threshold < 1 or len(set(keyids)) < threshold:
        raise _fail(where, f"role {name} has threshold {threshold} but {len(set(keyids))} keys")
    if len(set(keyids)) != len(keyids):
        raise _fail(where, f"role {name} lists a key twice")
    missing = [k for k in keyids if k not in keys]
    if missing:
        raise _fail(where, f"role {name} uses unknown key {missing[0][:16]}")


def check_namespace_role(name: str, targets: Targets) -> SuccinctRoles:
    """A namespace role lists no targets itself and delegates everything to its hash bins."""
    where = name
    if targets.targets:
        raise _fail(where, "a namespace role must not list targets itself (entries live in its bins)")
    delegations = targets.delegations
    if delegations is None or delegations.succinct_roles is None:
        raise _fail(where, "a namespace role must delegate to succinct hash bins")
    check_tuf_keys(delegations.keys, where)
    succinct = delegations.succinct_roles
    if succinct.name_prefix != layout.bin_role_prefix(namespace_of_role(name)):
        raise _fail(where, f"bin name prefix must be {layout.bin_role_prefix(namespace_of_role(name))!r}")
    if not 1 <= succinct.bit_length <= MAX_BIT_LENGTH:
        raise _fail(where, f"bit_length must be between 1 and {MAX_BIT_LENGTH}")
    _check_role_keys(f"{name} bins", succinct.keyids, succinct.threshold, delegations.keys, where)
    return succinct


def check_bin(name: str, targets: Targets, succinct: SuccinctRoles, namespace: str) -> None:
    """A bin delegates nothing and holds only well-formed entries of its namespace that hash into it."""
    if targets.delegations is not None:
        raise _fail(name, "a hash bin must not delegate")
    patterns = layout.namespace_paths(namespace)
    for path, target in targets.targets.items():
        if not any(_matches(path, pattern) for pattern in patterns):
            raise _fail(name, f"target {path!r} is outside namespace {namespace}")
        if succinct.get_role_for_target(path) != name:
            raise _fail(name, f"target {path!r} belongs in bin {succinct.get_role_for_target(path)}, not {name}")
        check_entry(path, target, where=name)


def _matches(path: str, pattern: str) -> bool:
    parts, pats = path.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pats, strict=True))


def _check_target_hashes(path: str, target: TargetFile, where: str) -> str:
    if set(target.hashes) != {"sha256"} or not _HEX64.match(target.hashes["sha256"]):
        raise _fail(where, f"target {path!r} must carry exactly one sha256 hash (64 lowercase hex)")
    return target.hashes["sha256"]


def check_entry(path: str, target: TargetFile, *, where: str) -> None:
    """An entry's custom fields are exactly sealgate's, consistent with its path, and its statements name it."""
    try:
        kind, _name, version = entry_coordinates(path)
    except SealgateError as exc:
        raise _fail(where, f"{path!r} is not a valid entry path") from exc
    digest = _check_target_hashes(path, target, where)
    custom = target.unrecognized_fields.get("custom")
    if set(target.unrecognized_fields) != {"custom"} or not isinstance(custom, dict):
        raise _fail(where, f"entry {path} must carry exactly the 'custom' extra field")
    if set(custom) != set(layout.CUSTOM_FIELDS):
        raise _fail(where, f"entry {path} custom fields must be exactly {', '.join(layout.CUSTOM_FIELDS)}")
    if custom["kind"] != kind or custom["version"] != version:
        raise _fail(where, f"entry {path} custom kind/version do not match its path")
    if custom["status"] not in layout.STATUSES:
        raise _fail(where, f"entry {path} has unknown status {custom['status']!r}")
    if custom["stage"] not in layout.STAGES:
        raise _fail(where, f"entry {path} has unknown stage {custom['stage']!r}")
    if custom["digest_scheme"] != SCHEME:
        raise _fail(where, f"entry {path} digest_scheme must be {SCHEME}")
    commit = custom["git_commit"]
    if commit is not None and (not isinstance(commit, str) or not _GIT.match(commit)):
        raise _fail(where, f"entry {path} git_commit must be 40 lowercase hex digits or null")
    reason = custom["revocation_reason"]
    if custom["status"] == "revoked":
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
            raise _fail(where, f"revoked entry {path} needs a revocation reason")
    elif reason is not None:
        raise _fail(where, f"entry {path} is {custom['status']} but has a revocation reason")
    try:
        check_statements(custom["statements"], path, digest)
    except SealgateError as exc:
        raise _fail(where, exc.message) from exc


def check_statements(statements: object, path: str, digest: str) -> list[dict[str, Any]]:
    """Parse approval envelopes and refuse any whose subject is not (``path``, ``digest``).

    Signatures are not verified here: which keys count is the trust policy's business, and
    the gate verifies every statement against it. The registry only refuses statements that
    could never be about this entry. Returns the envelopes in normalised form.
    """
    if not isinstance(statements, list):
        raise MalformedInputError(f"statements of {path} must be a list of DSSE envelopes")
    if len(statements) > MAX_STATEMENTS:
        raise MalformedInputError(f"{path} has more than {MAX_STATEMENTS} statements")
    normalised: list[dict[str, Any]] = []
    for number, raw in enumerate(statements, start=1):
        envelope = Envelope.from_dict(raw)
        if envelope.payload_type != PAYLOAD_TYPE:
            raise MalformedInputError(f"statement {number} of {path} has payloadType {envelope.payload_type!r}")
        statement = loads_strict(envelope.payload, what=f"statement {number} of {path}")
        if (
            not isinstance(statement, dict)
            or statement.get("_type") != STATEMENT_TYPE
            or statement.get("predicateType") != PREDICATE_TYPE
        ):
            raise MalformedInputError(f"statement {number} of {path} is not a sealgate approval statement")
        subjects = statement.get("subject")
        if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
            raise MalformedInputError(f"statement {number} of {path} must name exactly one subject")
        subject = subjects[0]
        subject_digest = subject.get("digest")
        if subject.get("name") != path:
            raise MalformedInputError(
                f"statement {number} is about {subject.get('name')!r}, not {path!r}; refusing to attach it"
            )
        if not isinstance(subject_digest, dict) or subject_digest.get("sha256") != digest:
            raise MalformedInputError(
                f"statement {number} of {path} approves a different digest than the artifact's {digest[:16]}…"
            )
        normalised.append(envelope.to_dict())
    return normalised
