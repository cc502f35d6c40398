"""Building proposals: changes accumulated on copies of the verified current roles.

:class:`ProposalBuilder` is returned by ``Repository.builder()`` and used by every
``Repository.propose_*`` method; it never writes to the repository.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sealgate.crypto.dsse import Envelope
from sealgate.crypto.keys import PublicKey
from sealgate.digest import SCHEME
from sealgate.errors import (
    MalformedInputError,
    Reason,
    RegistryError,
    UsageError,
)
from sealgate.registry import _checks, layout
from sealgate.registry._state import (
    _ADVISORY,
    _GIT,
    _HEX64,
    TARGET_FILE_MAX,
    _copy,
    _integrity,
    _require_canonical_json,
    _requirement,
    _sha256,
    _State,
    _unique_keys,
)
from sealgate.registry._tuf import (
    DelegatedRole,
    Delegations,
    Metadata,
    Root,
    SuccinctRoles,
    TargetFile,
    Targets,
)
from sealgate.registry._tufkeys import tuf_key
from sealgate.registry._values import (
    DEFAULT_BIT_LENGTH,
    Expiries,
)
from sealgate.registry.documents import EnclaveEntryDocument, IndexDocument, IndexVersion
from sealgate.registry.proposal import Proposal, RoleBase, RoleChange, SignerRequirement

if TYPE_CHECKING:
    from sealgate.registry.repository import Repository


class ProposalBuilder:
    """Accumulates changes on copies of the current roles; :meth:`build` turns them into a Proposal.

    Several operations may go into one proposal (a legacy import, a rollback); each changed
    role's version goes up by exactly one however often it is touched.
    """

    def __init__(self, repository: Repository, state: _State, now: datetime, expiries: Expiries) -> None:
        self._repo = repository
        self._state = state
        self._now = now
        self._expiries = expiries
        self._edits: dict[str, Metadata[Targets]] = {}
        self._bases: dict[str, RoleBase] = {}
        self._root: Metadata[Root] | None = None
        self._files: dict[str, bytes] = {}
        self._indexes: dict[str, IndexDocument] = {}
        self._notes: list[str] = []

    # -- role access ----------------------------------------------------------------------

    def _current(self, name: str) -> Targets | None:
        if name in self._edits:
            return self._edits[name].signed
        if self._state.has_role(name):
            return self._state.role(name).signed
        return None

    def _edit(self, name: str) -> Targets:
        if name not in self._edits:
            if not self._state.has_role(name):
                raise UsageError(f"role {name} does not exist in the registry")
            md = _copy(self._state.role(name))
            md.signatures.clear()
            self._edits[name] = md
            self._bases[name] = RoleBase(md.signed.version, self._state.role_sha(name))
        return self._edits[name].signed

    def _create(self, name: str) -> Targets:
        if name in self._edits or self._state.has_role(name):
            raise UsageError(f"role {name} already exists")
        targets = Targets(version=1, expires=self._now + self._expiries.targets)
        self._edits[name] = Metadata(targets)
        self._bases[name] = RoleBase(0, None)
        return targets

    def _edit_root(self) -> Root:
        if self._root is None:
            md = _copy(self._state.root)
            md.signatures.clear()
            self._root = md
        return self._root.signed

    def _new_root(self) -> Root:
        return self._root.signed if self._root is not None else self._state.root.signed

    def _namespace_roles(self) -> list[str]:
        top = self._current("targets")
        assert top is not None
        if top.delegations is None or top.delegations.roles is None:
            return []
        return list(top.delegations.roles)

    def _bins_of(self, ns_role: str) -> SuccinctRoles:
        if ns_role not in self._namespace_roles():
            raise UsageError(
                f"namespace {ns_role.replace('.', '/', 1)} does not exist; add it first (propose_add_namespace)"
            )
        ns = self._current(ns_role)
        assert ns is not None and ns.delegations is not None and ns.delegations.succinct_roles is not None
        return ns.delegations.succinct_roles

    def _all_role_names(self) -> set[str]:
        return set(self._state.meta) | set(self._edits)

    # -- documents ------------------------------------------------------------------------

    def _top_file(self, path: str) -> bytes | None:
        if path in self._files:
            return self._files[path]
        top = self._current("targets")
        assert top is not None
        target = top.targets.get(path)
        if target is None:
            return None
        return self._repo._read_target(path, target)

    def _set_top_file(self, path: str, data: bytes) -> None:
        top = self._edit_any("targets")
        top.targets[path] = TargetFile.from_data(path, data, ["sha256"])
        self._files[path] = data

    def _index(self, kind: str, name: str) -> IndexDocument | None:
        path = layout.index_path(kind, name)
        if path in self._indexes:
            return self._indexes[path]
        data = self._top_file(path)
        return IndexDocument.from_bytes(data) if data is not None else None

    def _update_index(self, kind: str, name: str, line: IndexVersion) -> None:
        # Kept parsed until build(): a large import touches one index many times.
        doc = self._index(kind, name) or IndexDocument(kind, name, ())
        self._indexes[layout.index_path(kind, name)] = doc.with_version(line)

    def _edit_any(self, name: str) -> Targets:
        return self._edits[name].signed if name in self._edits else self._edit(name)

    # -- operations -----------------------------------------------------------------------

    def add_namespace(
        self, namespace: str, keys: Sequence[PublicKey], threshold: int, bit_length: int = DEFAULT_BIT_LENGTH
    ) -> str:
        """Delegate ``namespace`` (``tools/acme``) to its keys, with 2**bit_length hash bins."""
        _checks.parse_namespace(namespace)
        patterns = layout.namespace_paths(namespace)
        reaching = _checks.patterns_reach_protected(patterns)
        if reaching:
            raise UsageError(f"namespace {namespace} would delegate {reaching[0]!r}, which reaches a protected prefix")
        keys = _unique_keys(keys, threshold, f"namespace {namespace}")
        if not isinstance(bit_length, int) or not 1 <= bit_length <= _checks.MAX_BIT_LENGTH:
            raise UsageError(f"bit_length must be between 1 and {_checks.MAX_BIT_LENGTH} (2 to 4096 bins)")
        role = layout.namespace_role(namespace)
        succinct = SuccinctRoles([k.keyid for k in keys], threshold, bit_length, layout.bin_role_prefix(namespace))
        existing = self._all_role_names()
        clash = [name for name in (role, *succinct.get_roles()) if name in existing]
        if clash:
            raise UsageError(
                f"namespace {namespace} would create role {clash[0]}, which already exists"
                + (" (as a hash bin of another namespace)" if clash[0] != role else "")
            )
        top = self._edit_any("targets")
        if top.delegations is None:
            top.delegations = Delegations(keys={}, roles={})
        if top.delegations.roles is None:
            raise _integrity("top-level targets delegates hash bins directly; refusing to add a namespace")
        for key in keys:
            top.delegations.keys[key.keyid] = tuf_key(key)
        top.delegations.roles[role] = DelegatedRole(role, [k.keyid for k in keys], threshold, True, paths=patterns)
        ns = self._create(role)
        ns.delegations = Delegations(keys={k.keyid: tuf_key(k) for k in keys}, succinct_roles=succinct)
        for bin_name in succinct.get_roles():
            self._create(bin_name)
        self._notes.append(f"add namespace {namespace} ({threshold} of {len(keys)} keys, {2**bit_length} bins)")
        return role

    def add_entry(
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
    ) -> str:
        """Register one artifact version; return its target path.

        ``digest``/``size`` come from :func:`sealgate.digest.read_artifact` (file or tree
        scheme). ``content`` (optional for single files, required for enclaves: the entry
        document) is published as the target file and must hash to ``digest``. Every
        statement must name this target path and digest.
        """
        path = layout.target_path(kind, name, version)
        bins = self._bins_of(layout.namespace_role(layout.namespace_of(kind, name)))
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise MalformedInputError("digest must be 64 lowercase hex digits (sha256)")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise MalformedInputError("size must be a non-negative integer")
        if stage not in layout.STAGES:
            raise MalformedInputError(f"stage {stage!r} is not one of {', '.join(layout.STAGES)}")
        if git_commit is not None:
            git_commit = git_commit.lower()
            if not _GIT.match(git_commit):
                raise MalformedInputError("git commit must be 40 hex digits")
        envelopes = [s.to_dict() if isinstance(s, Envelope) else dict(s) for s in statements]
        normalised = _checks.check_statements(envelopes, path, digest)
        if content is not None:
            if len(content) > TARGET_FILE_MAX:
                raise MalformedInputError(
                    f"{path}: content is larger than {TARGET_FILE_MAX} bytes", reason=Reason.TOO_LARGE
                )
            if len(content) != size or _sha256(content) != digest:
                raise MalformedInputError(
                    f"{path}: the given bytes do not match the digest and size", reason=Reason.DIGEST_MISMATCH
                )
        if kind == "enclave":
            if content is None:
                raise UsageError(f"{path}: an enclave entry needs its entry document as content")
            document = EnclaveEntryDocument.from_bytes(content)
            if document.version != version or document.stage != stage:
                raise MalformedInputError(f"{path}: the entry document's version/stage do not match the entry")
            self._check_minimum(name, document)
        bin_name = bins.get_role_for_target(path)
        current = self._current(bin_name)
        if current is not None and path in current.targets:
            raise UsageError(f"{path} is already registered; a published version never changes: register a new version")
        custom = {
            "kind": kind,
            "status": "active",
            "stage": stage,
            "version": version,
            "git_commit": git_commit,
            "revocation_reason": None,
            "digest_scheme": SCHEME,
            "statements": normalised,
        }
        self._edit_any(bin_name).targets[path] = TargetFile(size, {"sha256": digest}, path, {"custom": custom})
        if content is not None:
            self._files[path] = content
        self._update_index(kind, name, IndexVersion(version, "active", path))
        self._notes.append(f"add {path} ({stage})")
        return path

    def add_enclave(
        self,
        *,
        name: str,
        version: str,
        measurement: str | None = None,
        stage: str,
        git_commit: str | None = None,
        build_timestamp: str | None = None,
        statements: Sequence[Envelope | Mapping[str, Any]] = (),
        document: EnclaveEntryDocument | None = None,
    ) -> str:
        """Register an enclave build from its entry document (see :mod:`.documents`), or from a bare
        ``measurement`` (an MRENCLAVE, or a legacy string), with the default allowed states.

        The minimum security version of a name never goes down (issue 4): an SGX entry whose
        ``min_isv_svn`` is below the highest minimum any published version of the name holds
        (whatever its status) is refused (``minimum-lowered``); so is a TDX entry whose minimum
        TEE TCB SVN is below another's in any component. Clients enforce the same per name
        (``registry refresh`` remembers the highest minimum seen).
        """
        if document is None:
            if measurement is None:
                raise UsageError("add_enclave needs a measurement or an entry document")
            document = EnclaveEntryDocument.for_measurement(
                measurement,
                version=version,
                stage=stage,
                status="active",
                git_commit=git_commit,
                build_timestamp=build_timestamp,
                revocation_reason=None,
            )
        elif document.version != version or document.stage != stage:
            raise MalformedInputError(f"enclave {name}: the entry document's version/stage do not match the entry")
        data = document.to_bytes()
        commit_text = document.git_commit
        commit = commit_text.lower() if commit_text is not None and _GIT.match(commit_text.lower()) else None
        return self.add_entry(
            kind="enclave",
            name=name,
            version=version,
            digest=_sha256(data),
            size=len(data),
            stage=stage,
            git_commit=commit,
            statements=statements,
            content=data,
        )

    def _check_reactivation(self, name: str, version: str) -> None:
        """An enclave version rolled back to must meet the name's current minimum (docs/rollback.md)."""
        entries = self._repo.enclave_entries(name)
        target = next((doc for info, doc in entries if doc.version == version), None)
        if target is None or target.tee != "sgx":
            return
        highest = max((doc.min_isv_svn for _, doc in entries if doc.tee == "sgx"), default=0)
        if target.min_isv_svn < highest:
            raise RegistryError(
                f"enclave {name} {version} has minimum ISV SVN {target.min_isv_svn}, below the name's current "
                f"minimum {highest}: clients would deny it anyway. Roll forward instead: rebuild with a raised "
                "ISV SVN and register that (docs/rollback.md)",
                reason=Reason.MINIMUM_LOWERED,
            )

    def _check_minimum(self, name: str, new: EnclaveEntryDocument) -> None:
        for _, old in self._repo.enclave_entries(name):
            if new.tdx is not None and old.tdx is not None:
                low = [
                    i for i, (a, b) in enumerate(zip(bytes.fromhex(new.tdx.min_tee_tcb_svn),
                                                     bytes.fromhex(old.tdx.min_tee_tcb_svn), strict=True)) if a < b
                ]  # fmt: skip
                if low:
                    raise RegistryError(
                        f"enclave {name} {new.version}: its minimum TEE TCB SVN is below that of {old.version} in "
                        f"component(s) {', '.join(map(str, low))}; a name's minimum never goes down",
                        reason=Reason.MINIMUM_LOWERED,
                    )
            if new.tee == "sgx" and old.tee == "sgx" and new.min_isv_svn < old.min_isv_svn:
                raise RegistryError(
                    f"enclave {name} {new.version}: minimum ISV SVN {new.min_isv_svn} is below the "
                    f"{old.min_isv_svn} of {old.version}; a name's minimum never goes down (roll forward with a "
                    "raised security version instead)",
                    reason=Reason.MINIMUM_LOWERED,
                )

    def _entry(self, kind: str, name: str, version: str) -> tuple[str, str, TargetFile]:
        path = layout.target_path(kind, name, version)
        bins = self._bins_of(layout.namespace_role(layout.namespace_of(kind, name)))
        bin_name = bins.get_role_for_target(path)
        current = self._current(bin_name)
        target = current.targets.get(path) if current is not None else None
        if target is None:
            raise UsageError(f"{path} is not registered")
        return path, bin_name, target

    def set_status(self, kind: str, name: str, version: str, status: str, reason: str | None = None) -> str:
        """Revoke (with a reason), deprecate (only an active version) or reactivate a version."""
        path, bin_name, target = self._entry(kind, name, version)
        custom = copy.deepcopy(target.unrecognized_fields["custom"])
        old = custom["status"]
        if status not in layout.STATUSES:
            raise UsageError(f"status {status!r} is not one of {', '.join(layout.STATUSES)}")
        if status == old:
            raise UsageError(f"{path} is already {status}")
        if status == "revoked":
            if not isinstance(reason, str) or not reason.strip() or len(reason) > _checks.MAX_REASON:
                raise UsageError(f"revoking {path} needs a reason (at most {_checks.MAX_REASON} characters)")
        elif reason is not None:
            raise UsageError("only a revocation carries a reason")
        if status == "deprecated" and old != "active":
            raise UsageError(f"{path} is {old}; only an active version can be deprecated")
        if status == "active" and kind == "enclave":
            self._check_reactivation(name, version)
        custom["status"] = status
        custom["revocation_reason"] = reason if status == "revoked" else None
        self._edit_any(bin_name).targets[path] = TargetFile(
            target.length, dict(target.hashes), path, {"custom": custom}
        )
        self._update_index(kind, name, IndexVersion(version, status, path))
        verb = {"revoked": "revoke", "deprecated": "deprecate", "active": "reactivate"}[status]
        self._notes.append(f"{verb} {path}" + (f" ({reason})" if reason else ""))
        return path

    def rollback(
        self, kind: str, name: str, bad_version: str, reason: str, to_version: str | None = None
    ) -> tuple[str, str]:
        """One change: revoke ``bad_version`` and make ``to_version`` (default: the one before it) active."""
        index = self._index(kind, name)
        if index is None or index.find(bad_version) is None:
            raise UsageError(f"{kind} {name} {bad_version} is not registered")
        versions = [v.version for v in index.versions]
        if to_version is None:
            position = versions.index(bad_version)
            if position == 0:
                raise UsageError(f"{bad_version} is the first version of {name}; name the version to roll back to")
            to_version = versions[position - 1]
        if to_version == bad_version:
            raise UsageError("cannot roll back to the version being revoked")
        if index.find(to_version) is None:
            raise UsageError(f"{kind} {name} {to_version} is not registered")
        bad = self.set_status(kind, name, bad_version, "revoked", reason)
        good_path, _bin, good = self._entry(kind, name, to_version)
        if good.unrecognized_fields["custom"]["status"] != "active":
            self.set_status(kind, name, to_version, "active")
        elif kind == "enclave":
            self._check_reactivation(name, to_version)
        return bad, good_path

    def set_policy(self, policy: bytes) -> None:
        """Publish new trust-policy bytes (canonical JSON) as ``policy/trust-policy.json``."""
        _require_canonical_json(policy, "trust policy")
        self._set_top_file(layout.POLICY_TARGET, policy)
        self._notes.append(f"set trust policy (sha256 {_sha256(policy)[:16]}…)")

    def add_advisory(self, advisory_id: str, document: bytes) -> str:
        """Publish (or replace) ``advisories/<id>``, a canonical-JSON advisory document."""
        if not _ADVISORY.match(advisory_id) or ".." in advisory_id:
            raise MalformedInputError(f"advisory id {advisory_id!r} is not valid")
        _require_canonical_json(document, f"advisory {advisory_id}")
        path = f"advisories/{advisory_id}"
        self._set_top_file(path, document)
        self._notes.append(f"publish {path}")
        return path

    def rotate(self, role: str, keys: Sequence[PublicKey], threshold: int) -> None:
        """Replace the keys of a top-level role (a root change) or of a namespace (a targets change).

        Rotating ``targets`` also re-signs top-level targets, and rotating a namespace re-signs
        its role and every bin, so everything verifies under the new keys once published.
        """
        keys = _unique_keys(keys, threshold, f"rotation of {role}")
        if role in _checks.TOP_LEVEL_ROLES:
            if role in ("snapshot", "timestamp") and (threshold != 1 or len(keys) != 1):
                raise UsageError(f"the online {role} role has exactly one key and threshold 1")
            root = self._edit_root()
            for keyid in list(root.roles[role].keyids):
                root.revoke_key(keyid, role)
            for key in keys:
                root.add_key(tuf_key(key), role)
            root.roles[role].threshold = threshold
            if role == "targets":
                self._edit_any("targets")
            self._notes.append(f"rotate {role} keys to {threshold} of {len(keys)}")
            return
        ns_role = layout.namespace_role(role) if "/" in role else role
        _checks.namespace_of_role(ns_role)
        succinct = self._bins_of(ns_role)
        top = self._edit_any("targets")
        assert top.delegations is not None and top.delegations.roles is not None
        delegated = top.delegations.roles[ns_role]
        for keyid in list(delegated.keyids):
            top.revoke_key(keyid, ns_role)
        for key in keys:
            top.add_key(tuf_key(key), ns_role)
        delegated.threshold = threshold
        ns = self._edit_any(ns_role)
        assert ns.delegations is not None and ns.delegations.succinct_roles is not None
        ns.delegations.keys = {k.keyid: tuf_key(k) for k in keys}
        ns.delegations.succinct_roles.keyids = [k.keyid for k in keys]
        ns.delegations.succinct_roles.threshold = threshold
        for bin_name in succinct.get_roles():
            self._edit_any(bin_name)
        self._notes.append(f"rotate {ns_role} keys to {threshold} of {len(keys)}")

    def renew(self, *, within: timedelta = timedelta(days=30), roles: Sequence[str] | None = None) -> list[str]:
        """Re-sign roles with a fresh expiry: the named ones, or every one expiring within ``within``."""
        horizon = self._now + within
        if roles is None:
            candidates = ["root", "targets", *self._state.namespaces, *self._state.bin_names()]
        else:
            candidates = list(roles)
        renewed: list[str] = []
        for name in candidates:
            if name in ("snapshot", "timestamp"):
                raise UsageError(f"{name} is re-signed by the online key: use Repository.timestamp()")
            if name == "root":
                if roles is not None or self._state.root.signed.expires <= horizon:
                    self._edit_root()
                    renewed.append(name)
                continue
            if not self._state.has_role(name) and name not in self._edits:
                raise UsageError(f"role {name} does not exist in the registry")
            current = self._current(name)
            assert current is not None
            if roles is not None or current.expires <= horizon:
                self._edit_any(name)
                renewed.append(name)
        if renewed:
            self._notes.append(f"renew {', '.join(renewed[:5])}" + (" …" if len(renewed) > 5 else ""))
        return renewed

    # -- build ----------------------------------------------------------------------------

    def _requirement_for(self, name: str) -> SignerRequirement:
        if name == "targets":
            root = self._new_root()
            role = root.roles["targets"]
            return _requirement("targets (keys named by root)", role.keyids, role.threshold, root.keys, "root")
        top = self._current("targets")
        assert top is not None and top.delegations is not None
        if top.delegations.roles is not None and name in top.delegations.roles:
            delegated = top.delegations.roles[name]
            return _requirement(
                f"namespace {name}", delegated.keyids, delegated.threshold, top.delegations.keys, "targets"
            )
        for ns_role in self._namespace_roles():
            ns = self._current(ns_role)
            assert ns is not None and ns.delegations is not None
            succinct = ns.delegations.succinct_roles
            if succinct is not None and succinct.is_delegated_role(name):
                return _requirement(
                    f"bins of {ns_role}", succinct.keyids, succinct.threshold, ns.delegations.keys, ns_role
                )
        raise _integrity(f"role {name} is not delegated by anything")

    def build(self, summary: str | None = None) -> Proposal:
        """The proposal: every changed role's new signed metadata, unsigned, with its base."""
        for path, index in self._indexes.items():
            self._set_top_file(path, index.to_bytes())
        if not self._edits and self._root is None:
            raise UsageError("the proposal changes nothing")
        roles: dict[str, RoleChange] = {}
        current_root = self._state.root
        if self._root is not None:
            root_md = _copy(self._root)
            root_md.signed.version = current_root.signed.version + 1
            root_md.signed.expires = self._now + self._expiries.root
            _checks.check_root(root_md.signed, "proposed root")
            old, new = current_root.signed, root_md.signed
            roles["root"] = RoleChange(
                "root",
                root_md,
                (
                    _requirement(
                        f"root v{old.version} (current)",
                        old.roles["root"].keyids,
                        old.roles["root"].threshold,
                        old.keys,
                        "root",
                    ),
                    _requirement(
                        f"root v{new.version} (new)",
                        new.roles["root"].keyids,
                        new.roles["root"].threshold,
                        new.keys,
                        "proposed root",
                    ),
                ),
                RoleBase(old.version, _sha256(self._state.root_raw)),
            )
        namespaces = set(self._namespace_roles())
        order = sorted(self._edits, key=lambda n: (n != "targets", n not in namespaces, n))
        for name in order:
            md = _copy(self._edits[name])
            base = self._bases[name]
            md.signed.version = base.version + 1
            md.signed.expires = self._now + self._expiries.targets
            roles[name] = RoleChange(name, md, (self._requirement_for(name),), base)
        referenced = {
            path: target
            for change in roles.values()
            if isinstance(change.metadata.signed, Targets)
            for path, target in change.metadata.signed.targets.items()
        }
        files = {
            path: data
            for path, data in self._files.items()
            if path in referenced and referenced[path].hashes.get("sha256") == _sha256(data)
        }
        return Proposal(
            created=self._now,
            summary=summary if summary is not None else "; ".join(self._notes),
            initial=False,
            root_version=current_root.signed.version,
            snapshot_version=self._state.snapshot.signed.version,
            timestamp_version=self._state.timestamp.signed.version,
            roles=roles,
            target_files=files,
        )
