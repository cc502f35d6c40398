"""The two small JSON documents the registry publishes as target files: name indexes and enclave entries.

Both are canonical JSON (RFC 8785) with a ``_type`` so their bytes are stable and their
purpose is explicit. This module imports no python-tuf, so the gate and the enclave
domain can parse the documents they read from the offline view.

* ``index/<kind>/<ns>/<name>``: ``{"_type": "sealgate/index/v1", "kind", "name",
  "versions": [{"version", "status", "target"}, ...]}``, versions in the order they were
  added (the newest last).
* ``enclaves/<name>/<version>``: ``{"_type": "sealgate/enclave-entry/v2", "version",
  "git_commit", "build_timestamp", "stage", "status", "revocation_reason", "tee",
  "allowed_tcb_statuses", "allowed_advisories"}`` plus, by ``tee``: ``"sgx": {"mrenclave",
  "mrsigner", "isv_prod_id", "min_isv_svn"}``, ``"tdx": {"mrtd", "rtmr0".."rtmr3",
  "mr_config_id", "td_attributes", "xfam", "min_tee_tcb_svn"}`` or ``"legacy_measurement"``
  (anything a legacy registry held that is not an MRENCLAVE; it can never match a quote).
  v1 documents (``mrenclave`` or ``legacy_measurement`` only) are still read. ``status`` and
  ``revocation_reason`` record the state at registration; the authoritative, changeable
  status is ``custom.status`` of the target, because rewriting the document would change
  its digest and void its statements. docs/enclaves.md documents every field.
"""

from __future__ import annotations

import re
from typing import Any, Final

from sealgate._dataclass import dataclass
from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.errors import MalformedInputError
from sealgate.registry.layout import INDEX_TYPE, KIND_PLURAL, STAGES, STATUSES

__all__ = [
    "ENCLAVE_ENTRY_TYPE",
    "MAX_DOCUMENT_SIZE",
    "TCB_STATUSES",
    "EnclaveEntryDocument",
    "IndexDocument",
    "IndexVersion",
    "TdxIdentity",
    "is_mrenclave",
]

ENCLAVE_ENTRY_TYPE = "sealgate/enclave-entry/v2"
ENCLAVE_ENTRY_TYPE_V1 = "sealgate/enclave-entry/v1"
MAX_DOCUMENT_SIZE = 4 << 20
MAX_INDEX_VERSIONS = 10_000
_MRENCLAVE = re.compile(r"^[0-9a-f]{64}$")


def is_mrenclave(value: str) -> bool:
    """True for a real SGX MRENCLAVE: exactly 64 lowercase hex digits."""
    return bool(_MRENCLAVE.match(value))


def _str_or_none(doc: dict[str, Any], key: str, what: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedInputError(f"{what}: {key} must be a string or null")
    return value


@dataclass(frozen=True, slots=True)
class IndexVersion:
    """One version line of a name index."""

    version: str
    status: str
    target: str

    def to_dict(self) -> dict[str, str]:
        return {"version": self.version, "status": self.status, "target": self.target}


@dataclass(frozen=True, slots=True)
class IndexDocument:
    """The signed list of versions of one name (``index/<kind>/<ns>/<name>``)."""

    kind: str
    name: str
    versions: tuple[IndexVersion, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": INDEX_TYPE,
            "kind": self.kind,
            "name": self.name,
            "versions": [v.to_dict() for v in self.versions],
        }

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes) -> IndexDocument:
        what = "index document"
        doc = loads_strict(data, what=what, max_size=MAX_DOCUMENT_SIZE)
        if not isinstance(doc, dict) or doc.get("_type") != INDEX_TYPE:
            raise MalformedInputError(f"{what} does not have _type {INDEX_TYPE!r}")
        kind, name, versions = doc.get("kind"), doc.get("name"), doc.get("versions")
        if kind not in KIND_PLURAL or not isinstance(name, str) or not isinstance(versions, list):
            raise MalformedInputError(f"{what} needs a kind, a name and a list of versions")
        if len(versions) > MAX_INDEX_VERSIONS:
            raise MalformedInputError(f"{what} lists more than {MAX_INDEX_VERSIONS} versions")
        parsed: list[IndexVersion] = []
        for entry in versions:
            if not isinstance(entry, dict) or set(entry) != {"version", "status", "target"}:
                raise MalformedInputError(f"{what}: each version needs exactly version, status and target")
            if not all(isinstance(entry[k], str) for k in entry) or entry["status"] not in STATUSES:
                raise MalformedInputError(f"{what}: version entry {entry!r} is not valid")
            parsed.append(IndexVersion(entry["version"], entry["status"], entry["target"]))
        return cls(kind, name, tuple(parsed))

    def find(self, version: str) -> IndexVersion | None:
        for entry in self.versions:
            if entry.version == version:
                return entry
        return None

    def with_version(self, entry: IndexVersion) -> IndexDocument:
        """A copy with ``entry`` replacing the line of the same version, or appended."""
        if self.find(entry.version) is None:
            return IndexDocument(self.kind, self.name, (*self.versions, entry))
        return IndexDocument(
            self.kind, self.name, tuple(entry if v.version == entry.version else v for v in self.versions)
        )


#: TCB statuses Intel's collateral reports (dcap-qvl's spelling). An entry allows a subset;
#: the enclave check denies any status outside this set as unknown.
TCB_STATUSES: Final = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "Revoked",
)
_HEX96 = re.compile(r"^[0-9a-f]{96}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_ADVISORY = re.compile(r"^INTEL-SA-[0-9]{5}$")
_TDX_FIELDS: Final = {
    "mrtd": _HEX96, "rtmr0": _HEX96, "rtmr1": _HEX96, "rtmr2": _HEX96, "rtmr3": _HEX96,
    "mr_config_id": _HEX96, "td_attributes": _HEX16, "xfam": _HEX16, "min_tee_tcb_svn": _HEX32,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class TdxIdentity:
    """What a TDX entry pins: MRTD, RTMR0–3, MRCONFIGID, TD attributes and XFAM (lowercase hex, as in
    the report) and the minimum TEE TCB SVN (16 bytes; each byte is a minimum for its component)."""

    mrtd: str
    rtmr0: str
    rtmr1: str
    rtmr2: str
    rtmr3: str
    mr_config_id: str
    td_attributes: str
    xfam: str
    min_tee_tcb_svn: str = "0" * 32

    def __post_init__(self) -> None:
        for name, pattern in _TDX_FIELDS.items():
            value = getattr(self, name)
            if not isinstance(value, str) or not pattern.match(value):
                raise MalformedInputError(f"enclave entry document: tdx.{name} must be {pattern.pattern[2:-2]} hex")

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in _TDX_FIELDS}


@dataclass(frozen=True, slots=True)
class EnclaveEntryDocument:
    """The target file of an enclave entry: what a quote must show, and the facts of its build.

    Exactly one identity: an SGX ``mrenclave`` and/or ``mrsigner`` + ``isv_prod_id``
    (MarbleRun-style signer pinning; every field given must match) with ``min_isv_svn``; a
    TDX :class:`TdxIdentity`; or a ``legacy_measurement`` imported from a legacy registry,
    which can never match a quote. ``allowed_tcb_statuses`` (default ``UpToDate`` only) and
    ``allowed_advisories`` say which platform states the entry accepts.
    """

    version: str
    stage: str
    status: str
    mrenclave: str | None = None
    legacy_measurement: str | None = None
    git_commit: str | None = None
    build_timestamp: str | None = None
    revocation_reason: str | None = None
    mrsigner: str | None = None
    isv_prod_id: int | None = None
    min_isv_svn: int = 0
    tdx: TdxIdentity | None = None
    allowed_tcb_statuses: tuple[str, ...] = ("UpToDate",)
    allowed_advisories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        what = "enclave entry document"
        sgx = self.mrenclave is not None or self.mrsigner is not None
        if sum((sgx, self.tdx is not None, self.legacy_measurement is not None)) != 1:
            raise MalformedInputError(
                f"{what} needs exactly one identity: mrenclave and/or mrsigner (SGX), tdx, or legacy_measurement"
            )
        if self.mrenclave is not None and not is_mrenclave(self.mrenclave):
            raise MalformedInputError(f"{what}: mrenclave must be 64 lowercase hex digits")
        if self.mrsigner is not None:
            if not is_mrenclave(self.mrsigner):
                raise MalformedInputError(f"{what}: mrsigner must be 64 lowercase hex digits")
            if self.isv_prod_id is None:
                raise MalformedInputError(f"{what}: an mrsigner entry needs isv_prod_id")
        for name, value in (("isv_prod_id", self.isv_prod_id), ("min_isv_svn", self.min_isv_svn)):
            if value is not None and (type(value) is not int or not 0 <= value <= 0xFFFF):
                raise MalformedInputError(f"{what}: {name} must be an integer from 0 to 65535")
        if self.legacy_measurement is not None and is_mrenclave(self.legacy_measurement):
            raise MalformedInputError(f"{what}: a 64-hex-digit measurement is an mrenclave, not a legacy one")
        if self.stage not in STAGES:
            raise MalformedInputError(f"{what}: stage {self.stage!r} is not one of {', '.join(STAGES)}")
        if self.status not in STATUSES:
            raise MalformedInputError(f"{what}: status {self.status!r} is not one of {', '.join(STATUSES)}")
        statuses = self.allowed_tcb_statuses
        if not statuses or len(set(statuses)) != len(statuses) or any(x not in TCB_STATUSES for x in statuses):
            raise MalformedInputError(
                f"{what}: allowed_tcb_statuses must list distinct statuses among {', '.join(TCB_STATUSES)}"
            )
        advisories = self.allowed_advisories
        if len(set(advisories)) != len(advisories) or any(not _ADVISORY.match(a) for a in advisories):
            raise MalformedInputError(f"{what}: allowed_advisories must list distinct INTEL-SA-NNNNN ids")

    @classmethod
    def for_measurement(cls, measurement: str, **fields: Any) -> EnclaveEntryDocument:
        """Store ``measurement`` as ``mrenclave`` only when it is 64 hex digits, else as legacy."""
        normalised = measurement.lower()
        if is_mrenclave(normalised):
            return cls(mrenclave=normalised, **fields)
        return cls(legacy_measurement=measurement, **fields)

    @property
    def tee(self) -> str:
        """``sgx``, ``tdx`` or ``legacy`` (a legacy entry matches no quote)."""
        if self.tdx is not None:
            return "tdx"
        return "legacy" if self.legacy_measurement is not None else "sgx"

    @property
    def measurement(self) -> str:
        """The main measurement: MRENCLAVE, else MRSIGNER, MRTD, or the legacy string."""
        if self.tdx is not None:
            return self.tdx.mrtd
        value = self.mrenclave or self.mrsigner or self.legacy_measurement
        assert value is not None
        return value

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "_type": ENCLAVE_ENTRY_TYPE,
            "version": self.version,
            "git_commit": self.git_commit,
            "build_timestamp": self.build_timestamp,
            "stage": self.stage,
            "status": self.status,
            "revocation_reason": self.revocation_reason,
            "tee": self.tee,
            "allowed_tcb_statuses": list(self.allowed_tcb_statuses),
            "allowed_advisories": list(self.allowed_advisories),
        }
        if self.tee == "sgx":
            doc["sgx"] = {
                "mrenclave": self.mrenclave,
                "mrsigner": self.mrsigner,
                "isv_prod_id": self.isv_prod_id,
                "min_isv_svn": self.min_isv_svn,
            }
        elif self.tdx is not None:
            doc["tdx"] = self.tdx.to_dict()
        else:
            doc["legacy_measurement"] = self.legacy_measurement
        return doc

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes) -> EnclaveEntryDocument:
        """Parse a v2 document, or a v1 one (an MRENCLAVE or legacy measurement, defaults elsewhere)."""
        what = "enclave entry document"
        doc = loads_strict(data, what=what, max_size=MAX_DOCUMENT_SIZE)
        if not isinstance(doc, dict) or doc.get("_type") not in (ENCLAVE_ENTRY_TYPE, ENCLAVE_ENTRY_TYPE_V1):
            raise MalformedInputError(f"{what} does not have _type {ENCLAVE_ENTRY_TYPE!r}")
        common = {"_type", "version", "git_commit", "build_timestamp", "stage", "status", "revocation_reason"}
        v1 = doc["_type"] == ENCLAVE_ENTRY_TYPE_V1
        allowed = common | (
            {"mrenclave", "legacy_measurement"}
            if v1
            else {"tee", "sgx", "tdx", "legacy_measurement", "allowed_tcb_statuses", "allowed_advisories"}
        )
        unknown = set(doc) - allowed
        if unknown:
            raise MalformedInputError(f"{what} has unknown fields {sorted(unknown)}")
        version, stage, status = doc.get("version"), doc.get("stage"), doc.get("status")
        if not isinstance(version, str) or not isinstance(stage, str) or not isinstance(status, str):
            raise MalformedInputError(f"{what} needs string version, stage and status")
        fields: dict[str, Any] = {
            "version": version,
            "stage": stage,
            "status": status,
            "legacy_measurement": _str_or_none(doc, "legacy_measurement", what),
            "git_commit": _str_or_none(doc, "git_commit", what),
            "build_timestamp": _str_or_none(doc, "build_timestamp", what),
            "revocation_reason": _str_or_none(doc, "revocation_reason", what),
        }
        if v1:
            return cls(mrenclave=_str_or_none(doc, "mrenclave", what), **fields)
        tee = doc.get("tee")
        for key in ("allowed_tcb_statuses", "allowed_advisories"):
            value = doc.get(key)
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise MalformedInputError(f"{what}: {key} must be a list of strings")
            fields[key] = tuple(value)
        if tee == "sgx":
            sgx = doc.get("sgx")
            if not isinstance(sgx, dict) or set(sgx) != {"mrenclave", "mrsigner", "isv_prod_id", "min_isv_svn"}:
                raise MalformedInputError(
                    f"{what}: sgx must hold exactly mrenclave, mrsigner, isv_prod_id, min_isv_svn"
                )
            return cls(
                mrenclave=_str_or_none(sgx, "mrenclave", what),
                mrsigner=_str_or_none(sgx, "mrsigner", what),
                isv_prod_id=sgx["isv_prod_id"],
                min_isv_svn=sgx["min_isv_svn"],
                **fields,
            )
        if tee == "tdx":
            tdx = doc.get("tdx")
            if not isinstance(tdx, dict) or set(tdx) != set(_TDX_FIELDS):
                raise MalformedInputError(f"{what}: tdx must hold exactly {', '.join(_TDX_FIELDS)}")
            return cls(tdx=TdxIdentity(**tdx), **fields)
        if tee == "legacy":
            return cls(**fields)
        raise MalformedInputError(f"{what}: tee must be sgx, tdx or legacy")
