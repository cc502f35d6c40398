"""The publishing side of the registry: a TUF repository written with python-tuf, changed only by proposals.

Layout, roles and files are fixed by :mod:`sealgate.registry.layout`. Every change is a
:class:`~sealgate.registry.proposal.Proposal` built here from the verified current state,
approved by the keys of every role it changes (possibly on other machines), and published
by :meth:`Repository.publish`, which checks each role exactly as a client would
(``verify_delegate`` against the delegating role of the *new* state, chained to a root
that the current root's threshold signed), refuses stale and edited proposals, and then
signs a new snapshot and timestamp with the online keys.

Publishing is crash-safe: versioned files and target files are written and fsynced first,
then a small journal holding the new ``timestamp.json`` (and root, for a rotation), then the
new root, then ``timestamp.json`` by rename. Until that rename clients are served the
previous version; an interrupted publish is completed from the journal by the next
mutating operation (or :meth:`Repository.recover`). An fcntl lock on ``repository/.lock``
serialises publishers; readers take it shared.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.crypto.dsse import Envelope
from sealgate.crypto.keys import PrivateKey, PublicKey
from sealgate.errors import (
    MalformedInputError,
    Reason,
    RegistryError,
    RegistryIntegrityError,
    UsageError,
    VerificationError,
)
from sealgate.registry import _checks, layout
from sealgate.registry._builder import (
    ProposalBuilder,
)
from sealgate.registry._files import atomic_write, format_time, fsync_dir, locked, read_bounded, utcnow
from sealgate.registry._state import (
    _COMPACT,
    ROOT_MAX,
    SNAPSHOT_MAX,
    TARGET_FILE_MAX,
    TIMESTAMP_MAX,
    _copy,
    _integrity,
    _load_root_chain,
    _parse,
    _read_meta,
    _require_canonical_json,
    _requirement,
    _role_file,
    _sha256,
    _State,
    _strip_signatures,
    _target_dest,
    _unique_keys,
    _verify_role,
)
from sealgate.registry._tuf import (
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)
from sealgate.registry._tuf import exceptions as tuf_exceptions
from sealgate.registry._tufkeys import signer_for, tuf_key
from sealgate.registry._values import (
    DEFAULT_BIT_LENGTH,
    EntryDetail,
    EntryInfo,
    Expiries,
    NamespaceInfo,
    OnlineKeyFiles,
    OnlineKeys,
    PublishResult,
    RepositoryConfig,
    RepositoryReport,
    RoleExpiry,
    TimestampResult,
)
from sealgate.registry.documents import EnclaveEntryDocument, IndexDocument
from sealgate.registry.proposal import InitSettings, Proposal, RoleBase, RoleChange

__all__ = [
    "DEFAULT_BIT_LENGTH",
    "EntryDetail",
    "EntryInfo",
    "Expiries",
    "NamespaceInfo",
    "OnlineKeyFiles",
    "OnlineKeys",
    "ProposalBuilder",
    "PublishResult",
    "Repository",
    "RepositoryConfig",
    "RepositoryReport",
    "RoleExpiry",
    "TimestampResult",
    "init_repository",
    "propose_init",
    "verify_repository",
]

JOURNAL_TYPE = "sealgate/publish-journal/v1"
DEFAULT_EXPIRIES = Expiries()
DEFAULT_KEY_FILES = OnlineKeyFiles()

# ---------------------------------------------------------------------------------------------
# The repository


class Repository:
    """A sealgate registry repository directory (``SEALGATE_HOME/repository``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def at_home(cls, home: Path) -> Repository:
        return cls(Path(home) / "repository")

    @property
    def metadata_dir(self) -> Path:
        return self.path / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.path / "targets"

    @property
    def _lock_path(self) -> Path:
        return self.path / ".lock"

    @property
    def _journal_path(self) -> Path:
        return self.path / ".publish-journal.json"

    def config(self) -> RepositoryConfig:
        """``config.json``: online key file names and default expiries."""
        try:
            data = read_bounded(self.path / "config.json", 64 * 1024, "repository config")
        except FileNotFoundError as exc:
            raise RegistryError(
                f"{self.path}/config.json is missing: this is not an initialised repository",
                reason=Reason.REGISTRY_UNAVAILABLE,
            ) from exc
        return RepositoryConfig.from_bytes(data)

    def _require_initialised(self) -> None:
        if not (self.metadata_dir / "1.root.json").is_file():
            raise RegistryError(
                f"there is no registry in {self.path}: metadata/1.root.json is missing; initialise one first",
                reason=Reason.REGISTRY_UNAVAILABLE,
            )

    def _state(self, now: datetime, *, check_expiry: bool) -> _State:
        self._require_initialised()
        with locked(self._lock_path, exclusive=False):
            return _State(self.path, now=now, check_expiry=check_expiry)

    def _read_target(self, path: str, target: TargetFile) -> bytes:
        sha = target.hashes.get("sha256", "")
        dest = _target_dest(self.targets_dir, path, sha)
        try:
            data = read_bounded(dest, TARGET_FILE_MAX, "target file")
        except FileNotFoundError as exc:
            raise _integrity(f"target file for {path} is missing from {self.targets_dir}") from exc
        if len(data) != target.length or _sha256(data) != sha:
            raise _integrity(f"target file for {path} does not match its signed length and sha256: it was edited")
        return data

    def _has_target(self, path: str, target: TargetFile) -> bool:
        try:
            self._read_target(path, target)
        except RegistryIntegrityError:
            return False
        return True

    # -- proposals ------------------------------------------------------------------------

    def builder(self, *, now: datetime | None = None) -> ProposalBuilder:
        """Start a proposal against the current, verified state (combine several changes in one)."""
        moment = now or utcnow()
        return ProposalBuilder(self, self._state(moment, check_expiry=False), moment, self.config().expiries)

    def propose_add_namespace(
        self,
        namespace: str,
        keys: Sequence[PublicKey],
        threshold: int,
        bit_length: int = DEFAULT_BIT_LENGTH,
        *,
        now: datetime | None = None,
    ) -> Proposal:
        builder = self.builder(now=now)
        builder.add_namespace(namespace, keys, threshold, bit_length)
        return builder.build()

    def propose_add_entry(
        self,
        *,
        kind: str,
        name: str,
        version: str,
        digest: str,
        size: int,
        stage: str,
        git_commit: str | None = None,
        statements: Sequence[Envelope | Mapping[str, Any]] = (),
        content: bytes | None = None,
        now: datetime | None = None,
    ) -> Proposal:
        builder = self.builder(now=now)
        builder.add_entry(
            kind=kind,
            name=name,
            version=version,
            digest=digest,
            size=size,
            stage=stage,
            git_commit=git_commit,
            statements=statements,
            content=content,
        )
        return builder.build()

    def propose_add_enclave(
        self,
        *,
        name: str,
        version: str,
        measurement: str | None = None,
        stage: str,
        git_commit: str | None = None,
        build_timestamp: str | None = None,
        statements: Sequence[Envelope | Mapping[str, Any]] = (),
        now: datetime | None = None,
        document: EnclaveEntryDocument | None = None,
    ) -> Proposal:
        builder = self.builder(now=now)
        builder.add_enclave(
            name=name,
            version=version,
            measurement=measurement,
            stage=stage,
            git_commit=git_commit,
            build_timestamp=build_timestamp,
            statements=statements,
            document=document,
        )
        return builder.build()

    def propose_set_status(
        self, kind: str, name: str, version: str, status: str, reason: str | None = None, *, now: datetime | None = None
    ) -> Proposal:
        builder = self.builder(now=now)
        builder.set_status(kind, name, version, status, reason)
        return builder.build()

    def propose_revoke(
        self, kind: str, name: str, version: str, reason: str, *, now: datetime | None = None
    ) -> Proposal:
        return self.propose_set_status(kind, name, version, "revoked", reason, now=now)

    def propose_deprecate(self, kind: str, name: str, version: str, *, now: datetime | None = None) -> Proposal:
        return self.propose_set_status(kind, name, version, "deprecated", now=now)

    def propose_reactivate(self, kind: str, name: str, version: str, *, now: datetime | None = None) -> Proposal:
        return self.propose_set_status(kind, name, version, "active", now=now)

    def propose_rollback(
        self,
        kind: str,
        name: str,
        bad_version: str,
        reason: str,
        to_version: str | None = None,
        *,
        now: datetime | None = None,
    ) -> Proposal:
        builder = self.builder(now=now)
        builder.rollback(kind, name, bad_version, reason, to_version)
        return builder.build()

    def propose_policy(self, policy: bytes, *, now: datetime | None = None) -> Proposal:
        builder = self.builder(now=now)
        builder.set_policy(policy)
        return builder.build()

    def propose_advisory(self, advisory_id: str, document: bytes, *, now: datetime | None = None) -> Proposal:
        builder = self.builder(now=now)
        builder.add_advisory(advisory_id, document)
        return builder.build()

    def propose_rotate(
        self, role: str, keys: Sequence[PublicKey], threshold: int, *, now: datetime | None = None
    ) -> Proposal:
        builder = self.builder(now=now)
        builder.rotate(role, keys, threshold)
        return builder.build()

    def propose_renew(
        self, *, within: timedelta = timedelta(days=30), roles: Sequence[str] | None = None, now: datetime | None = None
    ) -> Proposal:
        builder = self.builder(now=now)
        if not builder.renew(within=within, roles=roles):
            raise UsageError(f"no role expires within {within}; nothing to renew")
        return builder.build()

    # -- publish --------------------------------------------------------------------------

    def publish(
        self, proposal: Proposal | Path, online_keys: OnlineKeys, *, now: datetime | None = None
    ) -> PublishResult:
        """Verify ``proposal`` as a client would and publish it with a new snapshot and timestamp.

        Raises :class:`RegistryError` (``threshold-not-met``) naming the role and "n of m"
        when signatures are missing, (``registry-stale``) when the repository moved on since
        the proposal was made, :class:`VerificationError` when the proposal was edited after
        signing, and :class:`RegistryIntegrityError` when the repository itself is tampered.
        """
        if isinstance(proposal, Path):
            proposal = Proposal.load(proposal)
        else:
            proposal.check()
        moment = now or utcnow()
        if not proposal.initial:
            self._require_initialised()
        with locked(self._lock_path):
            self._recover_locked()
            if proposal.initial:
                return self._publish_initial(proposal, online_keys, moment)
            state = _State(self.path, now=moment, check_expiry=False)
            done = self._already_published(state, proposal)
            if done is not None:
                return done
            self._check_base(state, proposal)
            new_root = self._verify_proposal(state, proposal, moment)
            self._check_online_keys(new_root.signed, online_keys)
            return self._commit(state, proposal, new_root, online_keys, moment)

    def _already_published(self, state: _State, proposal: Proposal) -> PublishResult | None:
        for name, change in proposal.roles.items():
            if name == "root":
                current: Metadata[Any] = state.root
            elif state.has_role(name):
                current = state.role(name)
            else:
                return None
            if (
                current.signed.version != change.metadata.signed.version
                or current.signed_bytes != change.metadata.signed_bytes
            ):
                return None
        return PublishResult(
            state.root.signed.version,
            state.targets.signed.version,
            state.snapshot.signed.version,
            state.timestamp.signed.version,
            {n: c.metadata.signed.version for n, c in proposal.roles.items()},
            0,
            already_published=True,
        )

    @staticmethod
    def _stale(message: str) -> RegistryError:
        return RegistryError(
            f"the proposal is stale: {message}; make the change again on top of the current registry",
            reason=Reason.REGISTRY_STALE,
        )

    def _check_base(self, state: _State, proposal: Proposal) -> None:
        current_root = state.root.signed.version
        if proposal.root_version != current_root:
            raise self._stale(f"it was made against root v{proposal.root_version}, the registry is at v{current_root}")
        for name, change in proposal.roles.items():
            base = change.base
            if name == "root":
                if base.version != current_root or base.sha256 != _sha256(state.root_raw):
                    raise self._stale("root changed since it was made")
                continue
            if not state.has_role(name):
                if base.version != 0:
                    raise self._stale(f"role {name} no longer exists")
                continue
            version = state.meta[name].version
            if base.version == 0:
                raise self._stale(f"role {name} was created by another change since")
            if base.version != version or base.sha256 != state.role_sha(name):
                raise self._stale(f"role {name} is at version {version}, the proposal was made against {base.version}")

    @staticmethod
    def _check_signatures(
        delegator: Root | Targets, name: str, md: Metadata[Any], *, changed: bool, label: str = ""
    ) -> None:
        payload = md.signed_bytes
        result = delegator.get_verification_result(name, payload, md.signatures)
        if changed:
            for keyid in result.unsigned:
                if keyid in md.signatures:
                    raise VerificationError(
                        f"role {name}: the signature by key {keyid[:16]} does not verify, so the proposal was changed"
                        " after it was signed; refusing it",
                        reason=Reason.SIGNATURE_INVALID,
                    )
        if not result.verified:
            what = f"role {name}{label}"
            advice = (
                "collect more approvals before publishing"
                if changed
                else "the proposal must re-sign it with the keys its new delegation names"
            )
            raise RegistryError(
                f"{what} has {len(result.signed)} of {result.threshold} required signatures; {advice}",
                reason=Reason.THRESHOLD_NOT_MET,
            )
        try:
            delegator.verify_delegate(name, payload, md.signatures)
        except tuf_exceptions.UnsignedMetadataError as exc:  # pragma: no cover - same rule, kept as the authority
            raise RegistryError(f"role {name}: {exc}", reason=Reason.THRESHOLD_NOT_MET) from exc

    def _verify_proposal(self, state: _State, proposal: Proposal, now: datetime) -> Metadata[Root]:
        """Check the state the proposal would produce, exactly as a client would."""
        root_md = state.root
        if "root" in proposal.roles:
            new_root: Metadata[Root] = proposal.roles["root"].metadata
            payload = new_root.signed_bytes
            if new_root.signed.version != state.root.signed.version + 1:
                raise UsageError("a new root must have the next root version")
            result = new_root.signed.get_root_verification_result(state.root.signed, payload, new_root.signatures)
            for keyid in {**result.first.unsigned, **result.second.unsigned}:
                if keyid in new_root.signatures:
                    raise VerificationError(
                        f"role root: the signature by key {keyid[:16]} does not verify, so the proposal was changed"
                        " after it was signed; refusing it",
                        reason=Reason.SIGNATURE_INVALID,
                    )
            if not result.verified:
                raise RegistryError(
                    f"role root v{new_root.signed.version} has {len(result.first.signed)} of"
                    f" {result.first.threshold} required signatures from the current root's keys and"
                    f" {len(result.second.signed)} of {result.second.threshold} from the new root's keys;"
                    " both thresholds must be met",
                    reason=Reason.THRESHOLD_NOT_MET,
                )
            self._not_expired("root", new_root.signed, now)
            root_md = new_root
        changed: dict[str, Metadata[Targets]] = {
            name: change.metadata for name, change in proposal.roles.items() if name != "root"
        }

        def md_of(role_name: str) -> Metadata[Targets] | None:
            if role_name in changed:
                return changed[role_name]
            return state.role(role_name) if state.has_role(role_name) else None

        top = md_of("targets")
        assert top is not None
        if "targets" in changed or "root" in proposal.roles:
            self._check_signatures(root_md.signed, "targets", top, changed="targets" in changed)
            _checks.check_top_targets(top.signed, "proposed targets")
        namespaces: dict[str, SuccinctRoles] = {}
        delegations = top.signed.delegations
        for ns_name in (delegations.roles or {}) if delegations is not None else {}:
            ns_md = md_of(ns_name)
            if ns_md is None:
                raise RegistryError(
                    f"targets delegates {ns_name}, but the proposal does not create that role",
                    reason=Reason.MALFORMED_INPUT,
                )
            if "targets" in changed or ns_name in changed:
                self._check_signatures(top.signed, ns_name, ns_md, changed=ns_name in changed)
            namespaces[ns_name] = _checks.check_namespace_role(ns_name, ns_md.signed)
        bin_parent = {}
        for ns_name, succinct in namespaces.items():
            for bin_name in succinct.get_roles():
                bin_parent[bin_name] = ns_name
        # Snapshot entries are never dropped (clients would refuse the snapshot), so every role
        # published so far must stay delegated: no namespace is removed or re-binned.
        for name in state.meta:
            if name != "targets" and name not in namespaces and name not in bin_parent:
                raise RegistryError(
                    f"after this change nothing would delegate the published role {name}; namespaces and their"
                    " bins can be re-keyed but never removed",
                    reason=Reason.MALFORMED_INPUT,
                )
        for name in changed:
            if name != "targets" and name not in namespaces and name not in bin_parent:
                raise RegistryError(
                    f"the proposal changes role {name}, which nothing delegates", reason=Reason.MALFORMED_INPUT
                )
        to_check = set(name for name in changed if name in bin_parent)
        for ns_name in namespaces:
            if ns_name in changed:
                to_check.update(namespaces[ns_name].get_roles())
        for bin_name in sorted(to_check):
            bin_md = md_of(bin_name)
            if bin_md is None:
                raise RegistryError(
                    f"hash bin {bin_name} is missing; every bin must be published", reason=Reason.MALFORMED_INPUT
                )
            ns_name = bin_parent[bin_name]
            ns_md = md_of(ns_name)
            assert ns_md is not None
            self._check_signatures(ns_md.signed, bin_name, bin_md, changed=bin_name in changed)
            _checks.check_bin(bin_name, bin_md.signed, namespaces[ns_name], _checks.namespace_of_role(ns_name))
        for name, md in changed.items():
            self._not_expired(name, md.signed, now)
            self._check_target_files(state, proposal, name, md.signed)
        return root_md

    @staticmethod
    def _not_expired(name: str, signed: Signed, now: datetime) -> None:
        if signed.is_expired(now):
            raise RegistryError(
                f"the proposed {name} metadata expired at {format_time(signed.expires)}; make the proposal again",
                reason=Reason.METADATA_EXPIRED,
            )

    def _check_target_files(self, state: _State, proposal: Proposal, name: str, signed: Targets) -> None:
        old = state.role(name).signed.targets if state.has_role(name) else {}
        for path, target in signed.targets.items():
            previous = old.get(path)
            if previous is not None and previous.hashes == target.hashes and previous.length == target.length:
                continue
            if path in proposal.target_files or self._has_target(path, target):
                continue
            if path.startswith(("policy/", "index/", "advisories/", "enclaves/")):
                raise RegistryError(
                    f"the proposal does not carry the bytes of {path} and the repository does not have them",
                    reason=Reason.MALFORMED_INPUT,
                )

    @staticmethod
    def _check_online_keys(root: Root, keys: OnlineKeys) -> None:
        for role, key in (("snapshot", keys.snapshot), ("timestamp", keys.timestamp)):
            expected = root.roles[role].keyids
            if key.keyid not in expected:
                raise UsageError(
                    f"the {role} key given ({key.keyid[:16]}) is not the {role} key root v{root.version} names"
                    f" ({expected[0][:16]}); check repository/config.json for which key file to load"
                )

    # -- writing --------------------------------------------------------------------------

    def _sign_timestamp(
        self,
        version: int,
        snapshot_version: int,
        snapshot_bytes: bytes,
        now: datetime,
        expiries: Expiries,
        key: PrivateKey,
    ) -> bytes:
        timestamp = Timestamp(
            version=version,
            expires=now + expiries.timestamp,
            snapshot_meta=MetaFile(snapshot_version, len(snapshot_bytes), {"sha256": _sha256(snapshot_bytes)}),
        )
        md = Metadata(timestamp)
        md.sign(signer_for(key))
        return md.to_bytes(_COMPACT)

    def _write_files(self, target_files: Mapping[str, bytes], metadata_files: Sequence[tuple[str, bytes]]) -> int:
        """Write target files and versioned metadata, fsync them and every directory touched."""
        dirs: set[Path] = set()
        written = 0
        for path, data in sorted(target_files.items()):
            dest = _target_dest(self.targets_dir, path, _sha256(data))
            try:
                if _sha256(read_bounded(dest, TARGET_FILE_MAX, "target file")) == _sha256(data):
                    continue
            except (FileNotFoundError, MalformedInputError):
                pass
            new_dirs = [p for p in [dest.parent, *dest.parent.parents] if not p.exists()]
            atomic_write(dest, data, sync_dir=False)
            written += 1
            dirs.add(dest.parent)
            for created in new_dirs:
                dirs.add(created.parent)
        for fname, data in metadata_files:
            atomic_write(self.metadata_dir / fname, data, sync_dir=False)
            dirs.add(self.metadata_dir)
        for directory in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            if directory.exists():
                fsync_dir(directory)
        return written

    def _commit_timestamp(self, timestamp_bytes: bytes, root_bytes: bytes | None, root_version: int | None) -> None:
        """The commit point: journal, then the new root, then ``timestamp.json`` by rename."""
        journal = {
            "_type": JOURNAL_TYPE,
            "timestamp": base64.b64encode(timestamp_bytes).decode("ascii"),
            "root": base64.b64encode(root_bytes).decode("ascii") if root_bytes is not None else None,
            "root_version": root_version,
        }
        atomic_write(self._journal_path, canonical_bytes(journal))
        if root_bytes is not None:
            atomic_write(self.metadata_dir / f"{root_version}.root.json", root_bytes)
        atomic_write(self.metadata_dir / "timestamp.json", timestamp_bytes)
        os.unlink(self._journal_path)
        fsync_dir(self.path)

    def _commit(
        self, state: _State, proposal: Proposal, new_root: Metadata[Root], online_keys: OnlineKeys, now: datetime
    ) -> PublishResult:
        expiries = self.config().expiries
        snapshot_md = _copy(state.snapshot)
        snapshot = snapshot_md.signed
        snapshot.version += 1
        snapshot.expires = now + expiries.snapshot
        files: list[tuple[str, bytes]] = []
        versions: dict[str, int] = {}
        signers = self._counting_keys(state, proposal, new_root)
        for name, change in proposal.roles.items():
            version = change.metadata.signed.version
            versions[name] = version
            if name == "root":
                continue
            data = _strip_signatures(change.metadata, signers[name]).to_bytes(_COMPACT)
            snapshot.meta[f"{name}.json"] = MetaFile(version, len(data), {"sha256": _sha256(data)})
            files.append((_role_file(name, version), data))
        snapshot_md.signatures.clear()
        snapshot_md.sign(signer_for(online_keys.snapshot))
        snapshot_bytes = snapshot_md.to_bytes(_COMPACT)
        files.append((f"{snapshot.version}.snapshot.json", snapshot_bytes))
        timestamp_version = state.timestamp.signed.version + 1
        timestamp_bytes = self._sign_timestamp(
            timestamp_version, snapshot.version, snapshot_bytes, now, expiries, online_keys.timestamp
        )
        root_bytes = (
            _strip_signatures(new_root, signers["root"]).to_bytes(_COMPACT) if "root" in proposal.roles else None
        )
        written = self._write_files(proposal.target_files, files)
        self._commit_timestamp(timestamp_bytes, root_bytes, new_root.signed.version if root_bytes else None)
        targets_version = versions.get("targets", state.targets.signed.version)
        return PublishResult(
            new_root.signed.version, targets_version, snapshot.version, timestamp_version, versions, written
        )

    @staticmethod
    def _counting_keys(state: _State, proposal: Proposal, new_root: Metadata[Root]) -> dict[str, set[str]]:
        """For each proposed role, the key ids whose signatures count (the others are not published)."""
        out: dict[str, set[str]] = {}
        top = proposal.roles["targets"].metadata.signed if "targets" in proposal.roles else state.targets.signed
        namespaces: dict[str, Targets] = {}
        if top.delegations is not None and top.delegations.roles is not None:
            for ns_name in top.delegations.roles:
                change = proposal.roles.get(ns_name)
                namespaces[ns_name] = change.metadata.signed if change is not None else state.role(ns_name).signed
        for name in proposal.roles:
            if name == "root":
                out[name] = set(state.root.signed.roles["root"].keyids) | set(new_root.signed.roles["root"].keyids)
            elif name == "targets":
                out[name] = set(new_root.signed.roles["targets"].keyids)
            elif name in namespaces:
                assert top.delegations is not None and top.delegations.roles is not None
                out[name] = set(top.delegations.roles[name].keyids)
            else:
                out[name] = set()
                for ns in namespaces.values():
                    succinct = ns.delegations.succinct_roles if ns.delegations is not None else None
                    if succinct is not None and succinct.is_delegated_role(name):
                        out[name] = set(succinct.keyids)
        return out

    def _publish_initial(self, proposal: Proposal, online_keys: OnlineKeys, now: datetime) -> PublishResult:
        if set(proposal.roles) != {"root", "targets"} or proposal.init is None:
            raise MalformedInputError("an initial proposal holds exactly root and targets")
        root_md: Metadata[Root] = proposal.roles["root"].metadata
        targets_md: Metadata[Targets] = proposal.roles["targets"].metadata
        if (self.metadata_dir / "1.root.json").exists():
            state = _State(self.path, now=now, check_expiry=False)
            done = self._already_published(state, proposal)
            if done is not None:
                return done
            raise RegistryError(
                f"{self.path} already holds a registry; refusing to initialise it again", reason=Reason.MALFORMED_INPUT
            )
        root = root_md.signed
        if root.version != 1 or targets_md.signed.version != 1:
            raise MalformedInputError("an initial proposal holds root v1 and targets v1")
        _checks.check_root(root, "proposed root")
        result = root.get_root_verification_result(None, root_md.signed_bytes, root_md.signatures)
        for keyid in result.first.unsigned:
            if keyid in root_md.signatures:
                raise VerificationError(
                    f"role root: the signature by key {keyid[:16]} does not verify, so the"
                    " proposal was changed after it was signed",
                    reason=Reason.SIGNATURE_INVALID,
                )
        if not result.verified:
            raise RegistryError(
                f"role root v1 has {len(result.first.signed)} of {result.first.threshold} required signatures;"
                " collect more approvals before publishing",
                reason=Reason.THRESHOLD_NOT_MET,
            )
        self._check_signatures(root, "targets", targets_md, changed=True)
        _checks.check_top_targets(targets_md.signed, "proposed targets")
        if layout.POLICY_TARGET not in targets_md.signed.targets or layout.POLICY_TARGET not in proposal.target_files:
            raise MalformedInputError("the initial targets must carry the trust policy")
        self._not_expired("root", root, now)
        self._not_expired("targets", targets_md.signed, now)
        self._check_online_keys(root, online_keys)
        settings = proposal.init
        config = RepositoryConfig(
            OnlineKeyFiles(settings.online_key_files["snapshot"], settings.online_key_files["timestamp"]),
            Expiries.from_seconds(settings.expiry_seconds),
        )
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path / "config.json", config.to_bytes())
        targets_bytes = _strip_signatures(targets_md, set(root.roles["targets"].keyids)).to_bytes(_COMPACT)
        snapshot_md = Metadata(
            Snapshot(
                version=1,
                expires=now + config.expiries.snapshot,
                meta={"targets.json": MetaFile(1, len(targets_bytes), {"sha256": _sha256(targets_bytes)})},
            )
        )
        snapshot_md.sign(signer_for(online_keys.snapshot))
        snapshot_bytes = snapshot_md.to_bytes(_COMPACT)
        timestamp_bytes = self._sign_timestamp(1, 1, snapshot_bytes, now, config.expiries, online_keys.timestamp)
        written = self._write_files(
            proposal.target_files, [("1.targets.json", targets_bytes), ("1.snapshot.json", snapshot_bytes)]
        )
        root_bytes = _strip_signatures(root_md, set(root.roles["root"].keyids)).to_bytes(_COMPACT)
        self._commit_timestamp(timestamp_bytes, root_bytes, 1)
        return PublishResult(1, 1, 1, 1, {"root": 1, "targets": 1}, written)

    # -- recovery -------------------------------------------------------------------------

    def recover(self) -> bool:
        """Complete a publish interrupted after its journal was written; True if one was completed.

        Also removes temporary files that killed writers left anywhere in the repository.
        Every mutating operation runs the same recovery (without the full sweep of targets/).
        """
        if not self.path.is_dir():
            raise RegistryError(f"{self.path} does not exist", reason=Reason.REGISTRY_UNAVAILABLE)
        with locked(self._lock_path):
            if self.targets_dir.is_dir():
                self._sweep_temporaries(self.targets_dir.rglob(".*.tmp-*"))
            return self._recover_locked()

    @staticmethod
    def _sweep_temporaries(paths: Iterable[Path]) -> None:
        # Only writers holding the exclusive lock create these, and we hold it now: any that
        # exist belong to a process that died mid-write.
        for path in paths:
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)

    def _recover_locked(self) -> bool:
        if self.path.is_dir():
            self._sweep_temporaries(self.path.glob(".*.tmp-*"))
        if self.metadata_dir.is_dir():
            self._sweep_temporaries(self.metadata_dir.glob(".*.tmp-*"))
        if not self._journal_path.exists():
            return False
        try:
            doc = loads_strict(
                read_bounded(self._journal_path, 2 * ROOT_MAX, "publish journal"), what="publish journal"
            )
            if not isinstance(doc, dict) or doc.get("_type") != JOURNAL_TYPE:
                raise MalformedInputError("publish journal has the wrong _type")
            timestamp_bytes = base64.b64decode(doc["timestamp"], validate=True)
            root_bytes = base64.b64decode(doc["root"], validate=True) if doc["root"] is not None else None
            root_version = doc["root_version"]
        except (MalformedInputError, KeyError, TypeError, binascii.Error, ValueError) as exc:
            raise _integrity(f"the publish journal {self._journal_path} is damaged; inspect it by hand") from exc
        new_timestamp = _parse(timestamp_bytes, Timestamp, "journal timestamp", TIMESTAMP_MAX)
        try:
            current = _parse(
                read_bounded(self.metadata_dir / "timestamp.json", TIMESTAMP_MAX, "timestamp"),
                Timestamp,
                "timestamp.json",
                TIMESTAMP_MAX,
            )
        except FileNotFoundError:
            current = None
        if current is not None and current.signed.version >= new_timestamp.signed.version:
            os.unlink(self._journal_path)  # the publish had completed; only the cleanup was interrupted
            return False
        if root_bytes is not None:
            root_path = self.metadata_dir / f"{root_version}.root.json"
            if root_path.exists():
                if read_bounded(root_path, ROOT_MAX, "root") != root_bytes:
                    raise _integrity(f"{root_path.name} differs from the interrupted publish's root")
            else:
                new_root = _parse(root_bytes, Root, "journal root", ROOT_MAX)
                previous = _load_root_chain(self.metadata_dir)[-1][0].signed if root_version > 1 else None
                if previous is not None and previous.version != root_version - 1:
                    raise _integrity("the interrupted publish's root does not follow the newest root")
                result = new_root.signed.get_root_verification_result(
                    previous, new_root.signed_bytes, new_root.signatures
                )
                if not result.verified:
                    raise _integrity("the interrupted publish's root is not properly signed")
                atomic_write(root_path, root_bytes)
        root = _load_root_chain(self.metadata_dir)[-1][0]
        _verify_role(root.signed, "timestamp", new_timestamp, "journal timestamp")
        snap_meta = new_timestamp.signed.snapshot_meta
        snapshot_raw = _read_meta(self.metadata_dir, f"{snap_meta.version}.snapshot.json", SNAPSHOT_MAX)
        _State._check_hash(snap_meta, snapshot_raw, f"{snap_meta.version}.snapshot.json", "journal timestamp")
        atomic_write(self.metadata_dir / "timestamp.json", timestamp_bytes)
        os.unlink(self._journal_path)
        fsync_dir(self.path)
        return True

    # -- timestamp ------------------------------------------------------------------------

    def timestamp(
        self,
        online_keys: OnlineKeys,
        *,
        now: datetime | None = None,
        snapshot_margin: timedelta = timedelta(days=2),
        warn_within: timedelta = timedelta(days=14),
    ) -> TimestampResult:
        """Re-sign timestamp (and snapshot when it expires within ``snapshot_margin``); for cron.

        Run it well inside the timestamp expiry (every few hours for the 1-day default).
        ``expiring_soon`` lists roles that need a renewal proposal within ``warn_within``.
        """
        moment = now or utcnow()
        self._require_initialised()
        with locked(self._lock_path):
            self._recover_locked()
            state = _State(self.path, now=moment, check_expiry=False)
            self._check_online_keys(state.root.signed, online_keys)
            expiries = self.config().expiries
            snapshot_md = state.snapshot
            snapshot_bytes = state.snapshot_raw
            resigned = False
            if snapshot_md.signed.expires <= moment + snapshot_margin:
                snapshot_md = _copy(state.snapshot)
                snapshot_md.signed.version += 1
                snapshot_md.signed.expires = moment + expiries.snapshot
                snapshot_md.signatures.clear()
                snapshot_md.sign(signer_for(online_keys.snapshot))
                snapshot_bytes = snapshot_md.to_bytes(_COMPACT)
                self._write_files({}, [(f"{snapshot_md.signed.version}.snapshot.json", snapshot_bytes)])
                resigned = True
            version = state.timestamp.signed.version + 1
            timestamp_bytes = self._sign_timestamp(
                version, snapshot_md.signed.version, snapshot_bytes, moment, expiries, online_keys.timestamp
            )
            self._commit_timestamp(timestamp_bytes, None, None)
        return TimestampResult(
            version,
            format_time(moment + expiries.timestamp),
            snapshot_md.signed.version,
            format_time(snapshot_md.signed.expires),
            resigned,
            tuple(self._expiring(state, moment + warn_within)),
        )

    @staticmethod
    def _expiring(state: _State, horizon: datetime) -> list[RoleExpiry]:
        out: list[RoleExpiry] = []
        if state.root.signed.expires <= horizon:
            out.append(RoleExpiry("root", state.root.signed.version, format_time(state.root.signed.expires)))
        for name in ["targets", *state.namespaces, *state.bin_names()]:
            signed = state.role(name).signed
            if signed.expires <= horizon:
                out.append(RoleExpiry(name, signed.version, format_time(signed.expires)))
        return out

    # -- verification and queries ---------------------------------------------------------

    def verify(self, *, now: datetime | None = None, warn_within: timedelta = timedelta(days=14)) -> RepositoryReport:
        """Check every file as a client would (signatures, thresholds, versions, hashes, expiry) and more.

        Also checks sealgate's structure, every target file the repository holds, and that
        each name index agrees with the entries in the bins. Raises
        :class:`RegistryIntegrityError` on the first problem.
        """
        moment = now or utcnow()
        self._require_initialised()
        with locked(self._lock_path, exclusive=False):
            state = _State(self.path, now=moment, check_expiry=True)
            entries: dict[str, TargetFile] = {}
            for bin_name in state.bin_names():
                entries.update(state.role(bin_name).signed.targets)
            files_checked = 0
            indexed: set[str] = set()
            for path, target in state.targets.signed.targets.items():
                data = self._read_target(path, target)
                files_checked += 1
                if path.startswith("index/"):
                    indexed |= self._check_index(path, data, entries)
            for path, target in entries.items():
                if path.startswith("enclaves/"):
                    EnclaveEntryDocument.from_bytes(self._read_target(path, target))
                    files_checked += 1
                elif _target_dest(self.targets_dir, path, target.hashes["sha256"]).exists():
                    self._read_target(path, target)
                    files_checked += 1
            unindexed = sorted(set(entries) - indexed)
            if unindexed:
                raise _integrity(f"entry {unindexed[0]} is missing from its name index")
            interrupted = self._journal_path.exists()
        top = state.targets.signed
        return RepositoryReport(
            root_version=state.root.signed.version,
            targets_version=top.version,
            snapshot_version=state.snapshot.signed.version,
            timestamp_version=state.timestamp.signed.version,
            expires={
                "root": format_time(state.root.signed.expires),
                "targets": format_time(top.expires),
                "snapshot": format_time(state.snapshot.signed.expires),
                "timestamp": format_time(state.timestamp.signed.expires),
            },
            namespaces=tuple(self._namespace_infos(state)),
            roles_verified=len(state.meta) + 3,
            entries=len(entries),
            target_files_verified=files_checked,
            interrupted_publish=interrupted,
            expiring_soon=tuple(self._expiring(state, moment + warn_within)),
        )

    @staticmethod
    def _check_index(path: str, data: bytes, entries: Mapping[str, TargetFile]) -> set[str]:
        try:
            doc = IndexDocument.from_bytes(data)
        except MalformedInputError as exc:
            raise _integrity(f"index {path}: {exc.message}") from exc
        if layout.index_path(doc.kind, doc.name) != path:
            raise _integrity(f"index {path} names {doc.kind} {doc.name}")
        seen: set[str] = set()
        for line in doc.versions:
            if line.target != layout.target_path(doc.kind, doc.name, line.version):
                raise _integrity(f"index {path} points version {line.version} at {line.target}")
            target = entries.get(line.target)
            if target is None:
                raise _integrity(f"index {path} lists {line.target}, which no bin holds")
            if target.unrecognized_fields["custom"]["status"] != line.status:
                raise _integrity(f"index {path} says {line.target} is {line.status}, its bin disagrees")
            seen.add(line.target)
        return seen

    @staticmethod
    def _namespace_infos(state: _State) -> list[NamespaceInfo]:
        out: list[NamespaceInfo] = []
        delegations = state.targets.signed.delegations
        for name, succinct in state.namespaces.items():
            assert delegations is not None and delegations.roles is not None
            role = delegations.roles[name]
            out.append(
                NamespaceInfo(
                    _checks.namespace_of_role(name),
                    name,
                    tuple(role.keyids),
                    role.threshold,
                    succinct.bit_length,
                    succinct.number_of_bins,
                )
            )
        return out

    def namespaces(self) -> list[NamespaceInfo]:
        return self._namespace_infos(self._state(utcnow(), check_expiry=False))

    def policy(self) -> bytes:
        """The published trust-policy bytes (verified against the signed targets)."""
        state = self._state(utcnow(), check_expiry=False)
        target = state.targets.signed.targets.get(layout.POLICY_TARGET)
        if target is None:
            raise _integrity("the registry has no trust policy target")
        return self._read_target(layout.POLICY_TARGET, target)

    def _entry_info(self, state: _State, path: str) -> tuple[EntryInfo, TargetFile]:
        kind, name, version = _checks.entry_coordinates(path)
        ns_role = layout.namespace_role(layout.namespace_of(kind, name))
        succinct = state.namespaces.get(ns_role)
        if succinct is None:
            raise UsageError(f"namespace {layout.namespace_of(kind, name)} does not exist")
        bin_name = succinct.get_role_for_target(path)
        target = state.role(bin_name).signed.targets.get(path)
        if target is None:
            raise UsageError(f"{path} is not registered")
        custom = target.unrecognized_fields["custom"]
        info = EntryInfo(
            kind,
            name,
            version,
            path,
            custom["status"],
            custom["stage"],
            target.hashes["sha256"],
            target.length,
            custom["git_commit"],
            custom["revocation_reason"],
            len(custom["statements"]),
            bin_name,
        )
        return info, target

    def list_entries(self, *, kind: str | None = None, name: str | None = None) -> list[EntryInfo]:
        """Entries in index order (per name, oldest version first), optionally for one kind or name."""
        if name is not None and kind is None:
            raise UsageError("give the kind together with the name")
        if kind is not None and kind not in layout.KIND_PLURAL:
            raise UsageError(f"kind {kind!r} is not one of {', '.join(layout.KIND_PLURAL)}")
        state = self._state(utcnow(), check_expiry=False)
        top = state.targets.signed.targets
        if name is not None:
            assert kind is not None
            paths = [layout.index_path(kind, name)] if layout.index_path(kind, name) in top else []
        else:
            prefix = f"index/{kind}/" if kind is not None else "index/"
            paths = sorted(p for p in top if p.startswith(prefix))
        out: list[EntryInfo] = []
        for index_path in paths:
            doc = IndexDocument.from_bytes(self._read_target(index_path, top[index_path]))
            for line in doc.versions:
                out.append(self._entry_info(state, line.target)[0])
        return out

    def enclave_entries(self, name: str) -> list[tuple[EntryInfo, EnclaveEntryDocument]]:
        """Every version of enclave ``name`` (index order) with its verified entry document."""
        state = self._state(utcnow(), check_expiry=False)
        index_path = layout.index_path("enclave", name)
        index_target = state.targets.signed.targets.get(index_path)
        if index_target is None:
            return []
        out: list[tuple[EntryInfo, EnclaveEntryDocument]] = []
        for line in IndexDocument.from_bytes(self._read_target(index_path, index_target)).versions:
            info, target = self._entry_info(state, line.target)
            out.append((info, EnclaveEntryDocument.from_bytes(self._read_target(info.target, target))))
        return out

    def show_entry(self, kind: str, name: str, version: str) -> EntryDetail:
        """One entry with its statements and, for an enclave, its entry document."""
        state = self._state(utcnow(), check_expiry=False)
        info, target = self._entry_info(state, layout.target_path(kind, name, version))
        document: dict[str, Any] | None = None
        if kind == "enclave":
            document = EnclaveEntryDocument.from_bytes(self._read_target(info.target, target)).to_dict()
        statements = tuple(target.unrecognized_fields["custom"]["statements"])
        return EntryDetail(info, statements, document, self._has_target(info.target, target))

    def diff(self, proposal: Proposal | Path) -> list[str]:
        """Human lines describing what ``proposal`` changes relative to the current registry."""
        if isinstance(proposal, Path):
            proposal = Proposal.load(proposal)
        state = self._state(utcnow(), check_expiry=False)
        lines: list[str] = []
        for name, change in proposal.roles.items():
            new = change.metadata.signed
            if name == "root":
                old_root = state.root.signed
                for role_name, role in new.roles.items():
                    old_role = old_root.roles[role_name]
                    if set(old_role.keyids) != set(role.keyids) or old_role.threshold != role.threshold:
                        lines.append(
                            f"root: {role_name} keys {len(old_role.keyids)} (threshold {old_role.threshold})"
                            f" -> {len(role.keyids)} (threshold {role.threshold})"
                        )
                lines.append(f"root: v{old_root.version} -> v{new.version}, expires {format_time(new.expires)}")
                continue
            old_targets = state.role(name).signed if state.has_role(name) else None
            if old_targets is None:
                lines.append(f"{name}: new role")
            before = old_targets.targets if old_targets is not None else {}
            for path, target in new.targets.items():
                previous = before.get(path)
                if previous is None:
                    lines.append(f"{name}: add {path}")
                elif previous != target:
                    old_custom = previous.unrecognized_fields.get("custom") or {}
                    new_custom = target.unrecognized_fields.get("custom") or {}
                    if old_custom.get("status") != new_custom.get("status"):
                        lines.append(f"{name}: {path} {old_custom.get('status')} -> {new_custom.get('status')}")
                    else:
                        lines.append(f"{name}: update {path}")
            for path in before:
                if path not in new.targets:
                    lines.append(f"{name}: REMOVE {path}")
            old_del = old_targets.delegations if old_targets is not None else None
            if new.delegations != old_del:
                lines.append(f"{name}: delegations change")
        return lines


# ---------------------------------------------------------------------------------------------
# Initialisation


def propose_init(
    *,
    root_keys: Sequence[PublicKey],
    root_threshold: int,
    targets_keys: Sequence[PublicKey],
    targets_threshold: int,
    snapshot_key: PublicKey,
    timestamp_key: PublicKey,
    policy: bytes,
    online_key_files: OnlineKeyFiles = DEFAULT_KEY_FILES,
    expiries: Expiries = DEFAULT_EXPIRIES,
    now: datetime | None = None,
) -> Proposal:
    """The initial proposal: root v1 and targets v1 (with the trust policy), to be signed and published.

    Root keys approve root, targets keys (the publication threshold; also the policy keys)
    approve targets; the repository host then publishes it with the online keys.
    """
    moment = now or utcnow()
    _require_canonical_json(policy, "trust policy")
    root_keys = _unique_keys(root_keys, root_threshold, "root")
    targets_keys = _unique_keys(targets_keys, targets_threshold, "targets")
    root = Root(expires=moment + expiries.root, consistent_snapshot=True)
    for role, keys, threshold in (
        ("root", root_keys, root_threshold),
        ("targets", targets_keys, targets_threshold),
        ("snapshot", [snapshot_key], 1),
        ("timestamp", [timestamp_key], 1),
    ):
        for key in keys:
            root.add_key(tuf_key(key), role)
        root.roles[role].threshold = threshold
    _checks.check_root(root, "proposed root")
    targets = Targets(expires=moment + expiries.targets)
    targets.targets[layout.POLICY_TARGET] = TargetFile.from_data(layout.POLICY_TARGET, policy, ["sha256"])
    roles = {
        "root": RoleChange(
            "root",
            Metadata(root),
            (_requirement("root v1", root.roles["root"].keyids, root_threshold, root.keys, "root"),),
            RoleBase(0, None),
        ),
        "targets": RoleChange(
            "targets",
            Metadata(targets),
            (
                _requirement(
                    "targets (publication threshold)",
                    root.roles["targets"].keyids,
                    targets_threshold,
                    root.keys,
                    "root",
                ),
            ),
            RoleBase(0, None),
        ),
    }
    settings = InitSettings(
        {"snapshot": online_key_files.snapshot, "timestamp": online_key_files.timestamp}, expiries.to_seconds()
    )
    return Proposal(
        created=moment,
        summary="initialise the registry",
        initial=True,
        root_version=0,
        snapshot_version=0,
        timestamp_version=0,
        roles=roles,
        target_files={layout.POLICY_TARGET: policy},
        init=settings,
    )


def init_repository(
    path: Path,
    *,
    root_keys: Sequence[PrivateKey],
    root_threshold: int,
    targets_keys: Sequence[PrivateKey],
    targets_threshold: int,
    online_keys: OnlineKeys,
    policy: bytes,
    online_key_files: OnlineKeyFiles = DEFAULT_KEY_FILES,
    expiries: Expiries = DEFAULT_EXPIRIES,
    now: datetime | None = None,
) -> PublishResult:
    """Create a repository in one step when all root and targets keys are at hand (tests, demo).

    Equivalent to :func:`propose_init`, approving with every key, then ``publish``.
    """
    proposal = propose_init(
        root_keys=[k.public for k in root_keys],
        root_threshold=root_threshold,
        targets_keys=[k.public for k in targets_keys],
        targets_threshold=targets_threshold,
        snapshot_key=online_keys.snapshot.public,
        timestamp_key=online_keys.timestamp.public,
        policy=policy,
        online_key_files=online_key_files,
        expiries=expiries,
        now=now,
    )
    for key in (*root_keys, *targets_keys):
        proposal.sign(key)
    return Repository(path).publish(proposal, online_keys, now=now)


def verify_repository(path: Path, *, now: datetime | None = None) -> RepositoryReport:
    """Verify the repository in ``path`` (``SEALGATE_HOME/repository``) as a client would; see ``Repository.verify``."""
    return Repository(path).verify(now=now)
