"""Proposals: every registry change as a file that signers approve one by one, then the host publishes.

A proposal carries the full new ``signed`` metadata of every changed targets-family role
(and of root for rotations), the signatures collected so far, the target files it adds and
the base it was made against (format: docs/registry.md "Proposal files"). Approving needs
only the proposal file and one private key, no repository: :func:`approve` adds the key's
signature to every role the key can count for, and what it shows is derived from the
signed content itself, never from the proposer's free-text summary.

Nothing here is trusted at publish time except the signatures: the repository recomputes
which keys count from its own verified metadata (``Repository.publish``). The signer lists
inside a proposal are hints that tell an approver which roles to sign and let it refuse a
file whose signed content was changed after someone signed it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sealgate.canonical import loads_strict
from sealgate.crypto.keys import KeyId, PrivateKey, PublicKey
from sealgate.errors import (
    MalformedInputError,
    Reason,
    RegistryIntegrityError,
    UsageError,
    VerificationError,
)
from sealgate.registry import _checks
from sealgate.registry._files import atomic_write, format_time, parse_time, read_bounded
from sealgate.registry._tuf import (
    Key,
    Metadata,
    Root,
    Signature,
    SslibVerificationError,
    Targets,
    UnverifiedSignatureError,
)
from sealgate.registry._tufkeys import check_tuf_key, signer_for, tuf_key

__all__ = [
    "MAX_PROPOSAL_SIZE",
    "PROPOSAL_TYPE",
    "ApprovalResult",
    "DelegationLine",
    "InitSettings",
    "Proposal",
    "ProposalDescription",
    "RequirementStatus",
    "RoleBase",
    "RoleChange",
    "RoleDescription",
    "SignerRequirement",
    "TargetLine",
    "approve",
    "describe_proposal",
    "merge_proposals",
]

PROPOSAL_TYPE = "sealgate/proposal/v1"
MAX_PROPOSAL_SIZE = 256 << 20
MAX_SIGNATURES_PER_ROLE = 64
MAX_ROLES = 70_000


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class SignerRequirement:
    """Keys and threshold that must sign a role (a hint in the file; publish recomputes it)."""

    label: str
    threshold: int
    keys: Mapping[KeyId, PublicKey] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "threshold": self.threshold,
            "keys": {kid: tuf_key(pub).to_dict() for kid, pub in sorted(self.keys.items())},
        }

    @classmethod
    def from_dict(cls, data: object, where: str) -> SignerRequirement:
        if not isinstance(data, dict) or set(data) != {"label", "threshold", "keys"}:
            raise MalformedInputError(f"{where}: a signer requirement needs label, threshold and keys")
        label, threshold, keys = data["label"], data["threshold"], data["keys"]
        if not isinstance(label, str) or not isinstance(threshold, int) or not isinstance(keys, dict):
            raise MalformedInputError(f"{where}: signer requirement has wrong field types")
        parsed: dict[KeyId, PublicKey] = {}
        for keyid, key_dict in keys.items():
            try:
                key = Key.from_dict(keyid, copy.deepcopy(key_dict))
            except (ValueError, KeyError, TypeError) as exc:
                raise MalformedInputError(f"{where}: key {keyid[:16]} is not a valid TUF key") from exc
            try:
                parsed[KeyId(keyid)] = check_tuf_key(keyid, key, where)
            except RegistryIntegrityError as exc:
                raise MalformedInputError(exc.message) from exc
        return cls(label, threshold, parsed)


@dataclass(frozen=True, slots=True)
class RoleBase:
    """The version (0 = a new role) and file SHA-256 of the role the change was made against."""

    version: int
    sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256}


@dataclass(slots=True)
class RoleChange:
    """The new metadata of one role, its collected signatures, and who should sign it."""

    name: str
    metadata: Metadata[Any]
    requirements: tuple[SignerRequirement, ...]
    base: RoleBase

    def requirement_status(self) -> list[RequirementStatus]:
        payload = self.metadata.signed_bytes
        out: list[RequirementStatus] = []
        for req in self.requirements:
            good = [kid for kid in req.keys if _signature_ok(self.metadata.signatures.get(kid), req.keys[kid], payload)]
            out.append(
                RequirementStatus(req.label, req.threshold, tuple(sorted(good)), max(0, req.threshold - len(good)))
            )
        return out


def _signature_ok(signature: Signature | None, key: PublicKey, payload: bytes) -> bool:
    if signature is None:
        return False
    try:
        tuf_key(key).verify_signature(signature, payload)
    except (UnverifiedSignatureError, SslibVerificationError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class InitSettings:
    """Repository settings an initial proposal carries to the host that publishes it."""

    online_key_files: Mapping[str, str]
    expiry_seconds: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"online_key_files": dict(self.online_key_files), "expiry_seconds": dict(self.expiry_seconds)}

    @classmethod
    def from_dict(cls, data: object) -> InitSettings:
        if not isinstance(data, dict) or set(data) != {"online_key_files", "expiry_seconds"}:
            raise MalformedInputError("proposal init settings need online_key_files and expiry_seconds")
        files, expiry = data["online_key_files"], data["expiry_seconds"]
        if (
            not isinstance(files, dict)
            or set(files) != {"snapshot", "timestamp"}
            or not all(isinstance(v, str) for v in files.values())
        ):
            raise MalformedInputError("online_key_files must name the snapshot and timestamp key files")
        if (
            not isinstance(expiry, dict)
            or set(expiry) != {"root", "targets", "snapshot", "timestamp"}
            or not all(isinstance(v, int) and v > 0 for v in expiry.values())
        ):
            raise MalformedInputError(
                "expiry_seconds must give positive seconds for root, targets, snapshot, timestamp"
            )
        return cls(files, expiry)


# ---------------------------------------------------------------------------------------------
# Descriptions: what an approver is shown, derived from the signed content.


@dataclass(frozen=True, slots=True)
class RequirementStatus:
    label: str
    threshold: int
    signed_by: tuple[str, ...]
    missing: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "threshold": self.threshold,
            "signed_by": list(self.signed_by),
            "missing": self.missing,
        }


@dataclass(frozen=True, slots=True)
class TargetLine:
    path: str
    length: int
    sha256: str
    custom: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        custom = dict(self.custom) if self.custom is not None else None
        if custom is not None and isinstance(custom.get("statements"), list):
            custom["statements"] = len(custom["statements"])
        return {"path": self.path, "length": self.length, "sha256": self.sha256, "custom": custom}


@dataclass(frozen=True, slots=True)
class DelegationLine:
    role: str
    keyids: tuple[str, ...]
    threshold: int
    paths: tuple[str, ...] | None
    bins: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "keyids": list(self.keyids),
            "threshold": self.threshold,
            "paths": list(self.paths) if self.paths is not None else None,
            "bins": self.bins,
        }


@dataclass(frozen=True, slots=True)
class RoleDescription:
    name: str
    type: str
    version: int
    base_version: int
    expires: str
    requirements: tuple[RequirementStatus, ...]
    targets: tuple[TargetLine, ...]
    delegations: tuple[DelegationLine, ...]

    @property
    def complete(self) -> bool:
        return all(r.missing == 0 for r in self.requirements)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "version": self.version,
            "base_version": self.base_version,
            "expires": self.expires,
            "complete": self.complete,
            "requirements": [r.to_dict() for r in self.requirements],
            "targets": [t.to_dict() for t in self.targets],
            "delegations": [d.to_dict() for d in self.delegations],
        }


@dataclass(frozen=True, slots=True)
class ProposalDescription:
    """Everything a proposal would publish, read from its signed metadata."""

    created: str
    summary: str
    initial: bool
    root_version: int
    roles: tuple[RoleDescription, ...]
    target_files: tuple[tuple[str, int, str], ...]

    @property
    def complete(self) -> bool:
        """True when every role has the signatures its (hinted) requirements ask for."""
        return all(r.complete for r in self.roles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "summary_unsigned": self.summary,
            "initial": self.initial,
            "base_root_version": self.root_version,
            "complete": self.complete,
            "roles": [r.to_dict() for r in self.roles],
            "target_files": [{"path": p, "length": n, "sha256": h} for p, n, h in self.target_files],
        }


@dataclass(frozen=True, slots=True)
class ApprovalResult:
    """What :func:`approve` did: which roles it signed, which this key had already signed."""

    proposal: Path
    keyid: str
    signed_roles: tuple[str, ...]
    already_signed: tuple[str, ...]
    description: ProposalDescription

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposal": str(self.proposal),
            "keyid": self.keyid,
            "signed_roles": list(self.signed_roles),
            "already_signed": list(self.already_signed),
            "description": self.description.to_dict(),
        }


# ---------------------------------------------------------------------------------------------


class Proposal:
    """A proposed registry change. Build one with ``Repository.propose_*``; load one with :meth:`load`."""

    def __init__(
        self,
        *,
        created: datetime,
        summary: str,
        initial: bool,
        root_version: int,
        snapshot_version: int,
        timestamp_version: int,
        roles: Mapping[str, RoleChange],
        target_files: Mapping[str, bytes],
        init: InitSettings | None = None,
    ) -> None:
        if initial != (init is not None):
            raise MalformedInputError("an initial proposal, and only it, carries init settings")
        self.created = created
        self.summary = summary
        self.initial = initial
        self.root_version = root_version
        self.snapshot_version = snapshot_version
        self.timestamp_version = timestamp_version
        self.roles: dict[str, RoleChange] = dict(roles)
        self.target_files: dict[str, bytes] = dict(target_files)
        self.init = init
        self._check_shape()

    # -- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": PROPOSAL_TYPE,
            "created": format_time(self.created),
            "summary": self.summary,
            "base": {
                "initial": self.initial,
                "root_version": self.root_version,
                "snapshot_version": self.snapshot_version,
                "timestamp_version": self.timestamp_version,
            },
            "roles": {
                name: {
                    "base": change.base.to_dict(),
                    "signers": [req.to_dict() for req in change.requirements],
                    "metadata": change.metadata.to_dict(),
                }
                for name, change in self.roles.items()
            },
            "target_files": {
                path: base64.b64encode(data).decode("ascii") for path, data in sorted(self.target_files.items())
            },
            "init": self.init.to_dict() if self.init is not None else None,
        }

    def to_bytes(self) -> bytes:
        # Sorted, indented JSON so a person can read and diff it; the bytes that matter (each
        # role's signed part) are re-encoded canonically by TUF before any signature check.
        return (json.dumps(self.to_dict(), sort_keys=True, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, *, what: str = "proposal") -> Proposal:
        doc = loads_strict(data, what=what, max_size=MAX_PROPOSAL_SIZE)
        if not isinstance(doc, dict) or doc.get("_type") != PROPOSAL_TYPE:
            raise MalformedInputError(f"{what} is not a {PROPOSAL_TYPE} document")
        expected = {"_type", "created", "summary", "base", "roles", "target_files", "init"}
        if set(doc) != expected:
            raise MalformedInputError(f"{what} must have exactly the fields {', '.join(sorted(expected))}")
        base = doc["base"]
        base_fields = {"initial", "root_version", "snapshot_version", "timestamp_version"}
        if not isinstance(base, dict) or set(base) != base_fields:
            raise MalformedInputError(f"{what}: base needs {', '.join(sorted(base_fields))}")
        if not isinstance(base["initial"], bool) or not all(
            isinstance(base[k], int) and base[k] >= 0 for k in ("root_version", "snapshot_version", "timestamp_version")
        ):
            raise MalformedInputError(f"{what}: base fields have wrong types")
        if not isinstance(doc["summary"], str):
            raise MalformedInputError(f"{what}: summary must be a string")
        roles_doc = doc["roles"]
        if not isinstance(roles_doc, dict) or not roles_doc or len(roles_doc) > MAX_ROLES:
            raise MalformedInputError(f"{what}: roles must be a non-empty object")
        roles: dict[str, RoleChange] = {}
        for name, entry in roles_doc.items():
            roles[name] = _role_from_dict(name, entry, what)
        files_doc = doc["target_files"]
        if not isinstance(files_doc, dict):
            raise MalformedInputError(f"{what}: target_files must be an object")
        files: dict[str, bytes] = {}
        for path, encoded in files_doc.items():
            if not isinstance(encoded, str):
                raise MalformedInputError(f"{what}: target file {path!r} must be base64")
            try:
                files[path] = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MalformedInputError(f"{what}: target file {path!r} is not valid base64") from exc
        init = InitSettings.from_dict(doc["init"]) if doc["init"] is not None else None
        return cls(
            created=parse_time(doc["created"], f"{what} created"),
            summary=doc["summary"],
            initial=base["initial"],
            root_version=base["root_version"],
            snapshot_version=base["snapshot_version"],
            timestamp_version=base["timestamp_version"],
            roles=roles,
            target_files=files,
            init=init,
        )

    @classmethod
    def load(cls, path: Path) -> Proposal:
        try:
            data = read_bounded(path, MAX_PROPOSAL_SIZE, "proposal file")
        except FileNotFoundError as exc:
            raise UsageError(f"proposal file {path} does not exist") from exc
        return cls.from_bytes(data, what=f"proposal {path}")

    def save(self, path: Path) -> None:
        """Write the proposal atomically (a reader sees the old or the new file, never half)."""
        atomic_write(path, self.to_bytes(), mode=0o644)

    # -- checks --------------------------------------------------------------------------

    def check(self) -> None:
        """Re-run the structural checks (publish calls this: a Proposal object may have been changed)."""
        self._check_shape()

    def _check_shape(self) -> None:
        """Role types, target files that match signed hashes, and sealgate's structural rules."""
        for name, change in self.roles.items():
            signed = change.metadata.signed
            if name == "root":
                if not isinstance(signed, Root):
                    raise MalformedInputError("proposal role 'root' must hold root metadata")
                _checks.check_root(signed, "proposed root")
            elif name in ("snapshot", "timestamp"):
                raise MalformedInputError(f"a proposal never carries {name} metadata; the host signs it at publish")
            elif not isinstance(signed, Targets):
                raise MalformedInputError(f"proposal role {name!r} must hold targets metadata")
            if len(change.metadata.signatures) > MAX_SIGNATURES_PER_ROLE:
                raise MalformedInputError(f"proposal role {name!r} has more than {MAX_SIGNATURES_PER_ROLE} signatures")
            if change.base.version + 1 != signed.version:
                raise MalformedInputError(
                    f"proposal role {name!r} has version {signed.version} but was made against version"
                    f" {change.base.version}; a change always raises the version by exactly one"
                )
        if "targets" in self.roles:
            _checks.check_top_targets(self.roles["targets"].metadata.signed, "proposed targets")
        for name, change in self.roles.items():
            if name in _checks.TOP_LEVEL_ROLES:
                continue
            signed = change.metadata.signed
            if "-" in name and name.rpartition("-")[0] in self.roles and signed.delegations is None:
                parent = self.roles[name.rpartition("-")[0]].metadata.signed
                if parent.delegations is not None and parent.delegations.succinct_roles is not None:
                    succinct = parent.delegations.succinct_roles
                    if succinct.is_delegated_role(name):
                        _checks.check_bin(name, signed, succinct, _checks.namespace_of_role(succinct.name_prefix))
                        continue
            if signed.delegations is not None:
                _checks.check_namespace_role(name, signed)
            else:
                # A bin whose namespace role is not part of this change: check each entry alone.
                for path, target in signed.targets.items():
                    _checks.check_entry(path, target, where=name)
        referenced = {
            path: target
            for change in self.roles.values()
            if isinstance(change.metadata.signed, Targets)
            for path, target in change.metadata.signed.targets.items()
        }
        for path, data in self.target_files.items():
            target = referenced.get(path)
            if target is None:
                raise VerificationError(
                    f"proposal carries file {path!r} that no signed target in it describes",
                    reason=Reason.DIGEST_MISMATCH,
                )
            if target.length != len(data) or target.hashes.get("sha256") != _sha256(data):
                raise VerificationError(
                    f"proposal file {path!r} does not match its signed length and sha256: the file was edited",
                    reason=Reason.DIGEST_MISMATCH,
                )

    def check_signatures_unchanged(self, payloads: Mapping[str, bytes] | None = None) -> None:
        """Refuse if a signature by a listed key no longer verifies (the file was edited after signing)."""
        for name, change in self.roles.items():
            payload = payloads[name] if payloads is not None else change.metadata.signed_bytes
            for req in change.requirements:
                for keyid, key in req.keys.items():
                    sig = change.metadata.signatures.get(keyid)
                    if sig is not None and not _signature_ok(sig, key, payload):
                        raise VerificationError(
                            f"role {name}: the signature by key {keyid[:16]} does not verify, so the proposal was"
                            " changed after it was signed; ask the proposer for a fresh proposal",
                            reason=Reason.SIGNATURE_INVALID,
                        )

    # -- signing ----------------------------------------------------------------------------

    def roles_for_key(self, keyid: str) -> list[str]:
        return [name for name, change in self.roles.items() if any(keyid in req.keys for req in change.requirements)]

    def sign(self, key: PrivateKey) -> tuple[list[str], list[str]]:
        """Add ``key``'s signature to every role it counts for; return (newly signed, already signed).

        Idempotent: a role that already carries a valid signature by this key is left alone.
        Refuses a key that counts for no role, and a proposal edited after it was signed.
        """
        roles = self.roles_for_key(key.keyid)
        if not roles:
            raise UsageError(
                f"key {key.keyid[:16]} is not among the signers of any role in this proposal;"
                " check that you are using the right key"
            )
        # Canonical encoding is the expensive part for big bins: do it once per role.
        payloads = {name: change.metadata.signed_bytes for name, change in self.roles.items()}
        self.check_signatures_unchanged(payloads)
        signer = signer_for(key)
        signed: list[str] = []
        already: list[str] = []
        for name in roles:
            md = self.roles[name].metadata
            payload = payloads[name]
            if _signature_ok(md.signatures.get(key.keyid), key.public, payload):
                already.append(name)
                continue
            # Sign the canonical bytes computed once (Metadata.sign would encode them again).
            signature = signer.sign(payload)
            md.signatures[signature.keyid] = signature
            signed.append(name)
        return signed, already

    def merge(self, other: Proposal) -> list[str]:
        """Copy valid signatures from ``other`` (same signed content) into this proposal."""
        if set(other.roles) != set(self.roles) or other.target_files != self.target_files:
            raise UsageError("the proposals differ in their roles or files; only copies of one proposal can be merged")
        added: list[str] = []
        for name, change in self.roles.items():
            theirs = other.roles[name].metadata
            payload = change.metadata.signed_bytes
            if theirs.signed_bytes != payload:
                raise UsageError(f"role {name} differs between the proposals; refusing to merge")
            keys: dict[str, PublicKey] = {kid: key for req in change.requirements for kid, key in req.keys.items()}
            for keyid, sig in theirs.signatures.items():
                if (
                    keyid in keys
                    and keyid not in change.metadata.signatures
                    and _signature_ok(sig, keys[keyid], payload)
                ):
                    change.metadata.signatures[keyid] = sig
                    added.append(f"{name}:{keyid[:16]}")
        return added

    # -- description ------------------------------------------------------------------------

    def describe(self) -> ProposalDescription:
        roles: list[RoleDescription] = []
        for name, change in self.roles.items():
            signed = change.metadata.signed
            targets: list[TargetLine] = []
            delegations: list[DelegationLine] = []
            if isinstance(signed, Targets):
                for path, target in signed.targets.items():
                    custom = target.unrecognized_fields.get("custom")
                    targets.append(
                        TargetLine(
                            path,
                            target.length,
                            target.hashes.get("sha256", ""),
                            custom if isinstance(custom, dict) else None,
                        )
                    )
                if signed.delegations is not None and signed.delegations.roles is not None:
                    for delegated in signed.delegations.roles.values():
                        delegations.append(
                            DelegationLine(
                                delegated.name,
                                tuple(delegated.keyids),
                                delegated.threshold,
                                tuple(delegated.paths or ()),
                                None,
                            )
                        )
                elif signed.delegations is not None and signed.delegations.succinct_roles is not None:
                    sr = signed.delegations.succinct_roles
                    delegations.append(
                        DelegationLine(f"{sr.name_prefix}-*", tuple(sr.keyids), sr.threshold, None, sr.number_of_bins)
                    )
            elif isinstance(signed, Root):
                for role_name, role in signed.roles.items():
                    delegations.append(DelegationLine(role_name, tuple(role.keyids), role.threshold, None, None))
            roles.append(
                RoleDescription(
                    name,
                    signed.type,
                    signed.version,
                    change.base.version,
                    format_time(signed.expires),
                    tuple(change.requirement_status()),
                    tuple(targets),
                    tuple(delegations),
                )
            )
        files = tuple((p, len(d), _sha256(d)) for p, d in sorted(self.target_files.items()))
        return ProposalDescription(
            format_time(self.created), self.summary, self.initial, self.root_version, tuple(roles), files
        )


def _role_from_dict(name: str, entry: object, what: str) -> RoleChange:
    where = f"{what} role {name!r}"
    if not isinstance(entry, dict) or set(entry) != {"base", "signers", "metadata"}:
        raise MalformedInputError(f"{where} needs base, signers and metadata")
    base = entry["base"]
    if (
        not isinstance(base, dict)
        or set(base) != {"version", "sha256"}
        or not isinstance(base["version"], int)
        or base["version"] < 0
        or not (base["sha256"] is None or isinstance(base["sha256"], str))
    ):
        raise MalformedInputError(f"{where}: base must be {{version, sha256}}")
    signers = entry["signers"]
    if not isinstance(signers, list) or not signers:
        raise MalformedInputError(f"{where}: signers must be a non-empty list")
    requirements = tuple(SignerRequirement.from_dict(s, where) for s in signers)
    try:
        metadata: Metadata[Any] = Metadata.from_dict(copy.deepcopy(entry["metadata"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedInputError(f"{where}: metadata is not valid TUF metadata ({exc})") from exc
    return RoleChange(name, metadata, requirements, RoleBase(base["version"], base["sha256"]))


@contextmanager
def _locked_file(path: Path) -> Iterator[None]:
    """Lock ``path`` itself against concurrent approvals on one host.

    The file is replaced by rename, so after taking the lock we check that the path still
    names the inode we locked; if not, another approver replaced it and we lock again.
    """
    import fcntl

    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError as exc:
            raise UsageError(f"proposal file {path} does not exist") from exc
        except OSError as exc:
            raise UsageError(f"proposal file {path} cannot be opened: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield
                return
        finally:
            os.close(fd)
    raise UsageError(f"proposal file {path} keeps changing; try again")


def approve(proposal_path: Path, key: PrivateKey) -> ApprovalResult:
    """Sign every role of the proposal file that ``key`` can count for; rewrite the file atomically.

    Needs no repository: run it on the signer's own machine with the proposal file. Approving
    twice with one key changes nothing. Refuses a file whose signed content was edited after
    another key signed it, and a key that counts for none of its roles.
    """
    with _locked_file(proposal_path):
        proposal = Proposal.load(proposal_path)
        signed, already = proposal.sign(key)
        if signed:
            proposal.save(proposal_path)
    return ApprovalResult(proposal_path, key.keyid, tuple(signed), tuple(already), proposal.describe())


def describe_proposal(proposal_path: Path) -> ProposalDescription:
    """Load and check a proposal file and describe it from its signed content."""
    proposal = Proposal.load(proposal_path)
    proposal.check_signatures_unchanged()
    return proposal.describe()


def merge_proposals(proposal_path: Path, others: list[Path]) -> list[str]:
    """Merge signatures from copies of one proposal (approved in parallel) into ``proposal_path``."""
    with _locked_file(proposal_path):
        proposal = Proposal.load(proposal_path)
        added: list[str] = []
        for other in others:
            added += proposal.merge(Proposal.load(other))
        if added:
            proposal.save(proposal_path)
    return added
