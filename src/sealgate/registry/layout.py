"""Names, paths and field names of the sealgate TUF registry: the contract between writer and reader.

Target paths (ARCHITECTURE.md "Formats: Registry")::

    tools/<ns>/<name>/<version>       kind "tool"
    modules/<ns>/<name>/<version>     kind "module"
    enclaves/<name>/<version>         kind "enclave" (namespace = "enclaves/<name>")
    advisories/<id>                   signed by top-level targets only
    policy/trust-policy.json          signed by top-level targets only
    index/<kind>/<ns>/<name>          signed by top-level targets only; a JSON document
                                      {"_type": "sealgate/index/v1", "versions": [...]}

Roles: the four top-level TUF roles; one terminating delegated role per namespace, named
``<kindplural>.<ns>`` (``tools.acme``) with paths ``["tools/acme/*/*"]`` (``enclaves.<name>``
with ``["enclaves/<name>/*"]``); each namespace role delegates its entries to succinct hash
bins (TAP 15) named ``<role>-<hex>`` with the namespace's own keys and threshold. No
delegation may cover ``policy/``, ``advisories/`` or ``index/``.

On disk (``SEALGATE_HOME``)::

    keys/<name>.key, keys/<name>.pub       private PKCS#8 PEM (0600) and SPKI PEM
    repository/                            the publishing side (only on a publishing host)
        metadata/N.root.json, N.snapshot.json, N.targets.json, N.<role>.json, timestamp.json
        targets/<dir>/<sha256>.<basename>  consistent-snapshot target files
        config.json                        which key files are the online snapshot/timestamp keys
        .lock                              fcntl lock held while publishing
    trust/                                 the client side: the gate's only view of the registry
        pin.json                           {"root_version": N, "root_sha256": HEX} fixed by `sealgate init`
        roots/N.root.json                  every root from the pinned one to the newest
        metadata/                          tuf.ngclient's metadata dir (root.json, timestamp.json,
                                           snapshot.json, targets.json, <quoted role>.json)
        targets/<target path>              downloaded target files (policy, index, entries)
        refresh.json                       {"last_refresh": RFC 3339 UTC, "source": URL}
        .lock                              fcntl lock held while refreshing (atomic swap of metadata/)
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "CUSTOM_FIELDS",
    "INDEX_TYPE",
    "KIND_PLURAL",
    "MINIMUMS_FILE",
    "POLICY_TARGET",
    "PROTECTED_PREFIXES",
    "STAGES",
    "STATUSES",
    "bin_role_prefix",
    "index_path",
    "namespace_of",
    "namespace_paths",
    "namespace_role",
    "target_path",
    "validate_component",
]

KIND_PLURAL: Final = {"tool": "tools", "module": "modules", "enclave": "enclaves"}
STATUSES: Final = ("active", "deprecated", "revoked")
#: In ``trust/``: the highest minimum security version this host has seen per enclave name
#: (``registry refresh`` refuses a view that lowers one; the enclave check reads it).
MINIMUMS_FILE: Final = "enclave-minimums.json"
STAGES: Final = ("DEV", "TEST", "STAGE", "PROD")
POLICY_TARGET: Final = "policy/trust-policy.json"
INDEX_TYPE: Final = "sealgate/index/v1"
PROTECTED_PREFIXES: Final = ("policy/", "advisories/", "index/")

# Keys of TargetFile.custom for artifact entries. ``statements`` is a list of DSSE envelopes
# (JSON objects) whose subject is the target path and the artifact digest.
CUSTOM_FIELDS: Final = (
    "kind",
    "status",
    "stage",
    "version",
    "git_commit",
    "revocation_reason",
    "digest_scheme",
    "statements",
)

_COMPONENT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")


def validate_component(value: str, what: str, *, version: bool = False) -> str:
    """A namespace, name or version segment: no slash, no dot-dot, bounded, lowercase names."""
    pattern = _VERSION if version else _COMPONENT
    if not pattern.fullmatch(value) or ".." in value:
        from sealgate.errors import MalformedInputError

        raise MalformedInputError(
            f"{what} {value!r} is not valid: use {'letters, digits, . + _ -' if version else 'a-z, 0-9, . _ -'}"
            " (at most 64 characters, no '/' or '..')"
        )
    return value


def _split_name(kind: str, name: str) -> tuple[str, str]:
    from sealgate.errors import MalformedInputError

    if kind == "enclave":
        return "", validate_component(name, "enclave name")
    parts = name.split("/")
    if len(parts) != 2:
        raise MalformedInputError(f"{kind} name {name!r} must be NAMESPACE/NAME")
    return validate_component(parts[0], "namespace"), validate_component(parts[1], "name")


def target_path(kind: str, name: str, version: str) -> str:
    """``tools/acme/hello/1.0.0`` from (``tool``, ``acme/hello``, ``1.0.0``)."""
    from sealgate.errors import MalformedInputError

    if kind not in KIND_PLURAL:
        raise MalformedInputError(f"kind {kind!r} is not one of {', '.join(KIND_PLURAL)}")
    ns, short = _split_name(kind, name)
    validate_component(version, "version", version=True)
    if kind == "enclave":
        return f"enclaves/{short}/{version}"
    return f"{KIND_PLURAL[kind]}/{ns}/{short}/{version}"


def namespace_of(kind: str, name: str) -> str:
    """The namespace string policy bindings match: ``tools/acme`` or ``enclaves/<name>``."""
    ns, short = _split_name(kind, name)
    return f"enclaves/{short}" if kind == "enclave" else f"{KIND_PLURAL[kind]}/{ns}"


def namespace_role(namespace: str) -> str:
    """Delegated role name for a namespace: ``tools/acme`` -> ``tools.acme``."""
    return namespace.replace("/", ".")


def namespace_paths(namespace: str) -> list[str]:
    """Delegation path patterns (matched segment by segment) for a namespace."""
    if namespace.startswith("enclaves/"):
        return [f"{namespace}/*"]
    return [f"{namespace}/*/*"]


def bin_role_prefix(namespace: str) -> str:
    """Succinct-bin name prefix under a namespace role: bins are ``<prefix>-<hex>``."""
    return namespace_role(namespace)


def index_path(kind: str, name: str) -> str:
    ns, short = _split_name(kind, name)
    return f"index/{kind}/{short}" if kind == "enclave" else f"index/{kind}/{ns}/{short}"
