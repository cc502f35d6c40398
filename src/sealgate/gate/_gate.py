"""The one checkpoint: a request goes in, a ``VerifiedArtifact`` or an audited denial comes out.

Steps follow ARCHITECTURE.md "The gate, step by step": (1) load the registry view from the
pinned root, (2) read the artifact once and compare its digest with the registry target,
check its status, (3) verify the DSSE approvals and count roles over distinct principals
bound by the signed policy, (4) checks the policy asks for (analysers arrive with later
work; findings are merged here by severity), (5) append the decision to the audit log,
deny if that fails, (6) hand back the verified bytes in a token.

Every denial has a :class:`~sealgate.errors.Reason`, a severity and a sentence; every
decision, allow or deny, is audited. There is no parameter that skips a step.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sealgate._dataclass import dataclass, field
from sealgate.config import Home, database_url_from_env
from sealgate.crypto.dsse import Envelope
from sealgate.crypto.intoto import ApprovalStatement, verify_approval
from sealgate.digest import SCHEME, Artifact, read_artifact
from sealgate.errors import (
    AuditError,
    DeniedError,
    MalformedInputError,
    PolicyError,
    Reason,
    RegistryError,
    SealgateError,
    Severity,
    UsageError,
    VerificationError,
)
from sealgate.gate._anchors import writable_anchors
from sealgate.gate._checks import TAINT_LABELS, CheckContext, CheckOutcome, SubjectCheck
from sealgate.gate._roles import RoleCount, count_roles
from sealgate.registry import layout
from sealgate.tokens import VerifiedArtifact, _claim_gate_capability

if TYPE_CHECKING:
    from sealgate.audit import AuditLog
    from sealgate.policy import Level, TrustPolicy
    from sealgate.registry.view import RegistryView

__all__ = ["OUTCOME_TYPE", "OVERRIDE_ENV", "Decision", "Gate", "GateRequest"]

_CAPABILITY = _claim_gate_capability()
OVERRIDE_ENV = "SEALGATE_ALLOW_UNSIGNED"
INTERFACES = ("cli", "mcp", "api", "http")
DECISION_TYPE = "sealgate/decision/v1"
OUTCOME_TYPE = "sealgate/outcome/v1"
_STATEMENT_CACHE_SIZE = 4096
_MEMO_SIZE = 4096
# Reasons the development override may turn into an allow: the artifact is unsigned or
# unregistered. Integrity failures (digest, revocation, expiry, tampering, audit) never.
_OVERRIDABLE = frozenset({Reason.NOT_REGISTERED, Reason.THRESHOLD_NOT_MET, Reason.KEY_NOT_BOUND_TO_ROLE})


@dataclass(frozen=True, slots=True)
class GateRequest:
    """What is asked of the gate: an artifact on disk and the registry identity it claims.

    ``inputs`` are the caller's arguments for an artifact that takes them (a tool), checked
    by the kind's :class:`SubjectCheck`; ``None`` asks only whether the artifact itself may
    run. ``taint`` labels where the inputs came from (:data:`TAINT_LABELS`); a request with
    inputs must name it (``none`` is for requests without inputs).
    """

    kind: str
    name: str
    version: str
    path: Path
    interface: str = "api"
    taint: str = "none"
    inputs: Mapping[str, object] | None = None

    def __post_init__(self) -> None:
        if self.interface not in INTERFACES:
            raise UsageError(f"interface must be one of {', '.join(INTERFACES)}, not {self.interface!r}")
        if self.taint not in TAINT_LABELS:
            raise UsageError(f"taint must be one of {', '.join(TAINT_LABELS)}, not {self.taint!r}")
        if self.inputs is not None:
            if not isinstance(self.inputs, Mapping):
                raise UsageError("inputs must be a mapping of input name to value")
            if self.inputs and self.taint == "none":
                raise UsageError("a request with inputs must say where they came from: taint cannot be 'none'")


@dataclass(frozen=True, slots=True)
class Decision:
    """An audited decision. ``allowed`` is informational: callers act on the token or the error."""

    allowed: bool
    reason: Reason
    severity: Severity
    message: str
    audit_index: int | None
    record: dict[str, Any] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reason": self.reason.value,
            "severity": self.severity.value,
            "message": self.message,
            "audit_index": self.audit_index,
            "record": self.record,
        }


class _Deny(Exception):
    """Internal: carries a denial from any step to the single audit point."""

    def __init__(self, reason: Reason, message: str, severity: Severity = Severity.HIGH) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.severity = severity


@dataclass(frozen=True, slots=True)
class _Checked:
    """What the steps so far established about one request: the verified inputs of the decision."""

    request: GateRequest
    record: dict[str, Any]
    override_asked: bool
    view: RegistryView
    policy: TrustPolicy
    target: str
    artifact: Artifact
    namespace: str


_ApprovalsMemo = dict[tuple[object, ...], tuple[RoleCount, frozenset[str], tuple[str, ...]]]
"""Step 3's verdicts under one verified view and policy: (target, digest, namespace, level) -> verdict."""

_TrustEntry = tuple[tuple[object, ...], "RegistryView", "TrustPolicy", dict[str, Any], _ApprovalsMemo]
"""The trust cache: (trust key, verified view, policy, their record fields, approvals memo)."""


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Order versions segment by segment: numbers numerically, and above text (``1.0`` > ``1.0rc``)."""
    import re

    return tuple((1, int(part)) if part.isdigit() else (0, part) for part in re.split(r"[.+-]", version))


# (whole second, its "YYYY-MM-DDTHH:MM:SS" text): decisions come many per second, and
# formatting the date is most of the cost of a timestamp. Replaced, never mutated.
_last_second: tuple[float, str] = (float("nan"), "")


def _rfc3339(ts: float) -> str:
    """``ts`` as RFC 3339 UTC with microseconds, exactly as ``datetime.fromtimestamp(ts, UTC)`` renders it.

    Microseconds are rounded half to even as datetime does (``_PyTime_ROUND_HALF_EVEN``),
    carrying into the next second; the date and time of day come from datetime itself.
    """
    global _last_second
    fraction, second = math.modf(ts)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        micro -= 1_000_000
        second += 1.0
    elif micro < 0:
        micro += 1_000_000
        second -= 1.0
    cached = _last_second
    if cached[0] == second:
        text = cached[1]
    else:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (second, text)
    return f"{text}.{micro:06d}Z"


class Gate:
    """The mandatory gate over one ``SEALGATE_HOME``.

    ``clock`` returns unix seconds; one reading is taken per decision and used for every
    expiry and staleness comparison in it. ``environ`` is the caller's environment, read
    only for the development override (default: ``os.environ``).
    """

    def __init__(
        self,
        home: Home,
        *,
        database_url: str | None = None,
        clock: Callable[[], float] = time.time,
        environ: dict[str, str] | None = None,
        audit: AuditLog | None = None,
        checks: Mapping[str, SubjectCheck] | None = None,
    ) -> None:
        self.home = home
        self._checks: dict[str, SubjectCheck] = dict(checks or {})
        self._clock = clock
        self._environ = os.environ if environ is None else environ
        self._database_url = database_url if database_url is not None else database_url_from_env()
        self._audit = audit
        # The trust inputs _trust_key() stamps on every decision, as strings made once.
        trust = str(home.trust)
        self._generation_link = trust + "/.current"
        self._stamped_paths = (
            trust + "/pin.json",
            trust + "/refresh.json",
            trust + "/metadata/timestamp.json",
            str(home.local_policy),
        )
        self._anchors_checked: tuple[tuple[object, ...], float] | None = None
        self._statement_cache: dict[tuple[object, ...], ApprovalStatement | str] = {}
        # Pure functions the gate evaluates on every decision, remembered by their arguments:
        # the registry paths of a (kind, name, version), and the policy's bindings (kept
        # with the policy object they came from, and dropped when the policy changes).
        self._subject_memo: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._bound_memo: tuple[object, dict[tuple[str, str, str], bool]] = (None, {})
        self._trust_cache: _TrustEntry | None = None

    # -- audit -------------------------------------------------------------------------

    def _audit_log(self) -> AuditLog:
        if self._audit is None:
            from sealgate.audit import open_audit_log

            self._audit = open_audit_log(self.home.root, self._database_url)
        return self._audit

    def close(self) -> None:
        if self._audit is not None:
            self._audit.close()
            self._audit = None

    # -- the decision ------------------------------------------------------------------

    def _new_record(self, now: float, request: GateRequest) -> dict[str, Any]:
        return {
            "_type": DECISION_TYPE,
            "time": _rfc3339(now),
            "interface": request.interface,
            "taint": request.taint,
            "subject": {"kind": request.kind, "name": request.name, "version": request.version},
            "warnings": [],
        }

    def refuse(self, request: GateRequest, reason: Reason, message: str, severity: Severity = Severity.HIGH) -> None:
        """Deny ``request`` before any step ran, for a reason an adapter found (audited; always raises).

        Adapters use it for what they must refuse before asking the gate, such as a tool that
        is registered but not installed, or an MCP call whose tool changed since it was
        listed, so that those refusals are in the audit log like every other decision.
        """
        record = self._new_record(self._clock(), request)
        decision = self._finish(record, allowed=False, reason=reason, severity=severity, message=message)
        raise DeniedError(message, reason=reason, decision=decision)

    def registry_entry(self, kind: str, name: str, version: str) -> dict[str, Any] | None:
        """What the verified registry view says of one entry, for listing (not a decision).

        ``{"target", "digest", "status", "stage", "registry_version"}``, or ``None`` when the
        entry does not exist. Raises :class:`RegistryError` when the view cannot be loaded
        (expired, stale, missing): callers that list show nothing then.
        """
        now = self._clock()
        target = layout.target_path(kind, name, version)
        try:
            view, _, _ = self._load_trust(now, {}, self._trust_key())
        except _Deny as deny:
            raise RegistryError(deny.message, reason=deny.reason) from None
        info = view.get_target(target)
        if info is None:
            return None
        custom = info.custom if isinstance(info.custom, dict) else {}
        return {
            "target": target,
            "digest": info.hashes.get("sha256"),
            "status": custom.get("status"),
            "stage": custom.get("stage"),
            "registry_version": view.version,
        }

    def resolve_version(self, kind: str, name: str, *, interface: str = "api") -> str:
        """The newest active version of ``name`` in the verified registry view.

        "Newest" compares versions numerically segment by segment (``1.10.0`` > ``1.9.2``);
        deprecated and revoked versions are never chosen. Nothing is found: an audited
        ``not-registered`` denial.
        """
        from sealgate.registry.documents import IndexDocument

        now = self._clock()
        request = GateRequest(kind=kind, name=name, version="latest", path=Path("."), interface=interface)
        record = self._new_record(now, request)
        try:
            try:
                index_path = layout.index_path(kind, name)
            except MalformedInputError as exc:
                raise _Deny(Reason.MALFORMED_INPUT, exc.message, Severity.MEDIUM) from exc
            view, _, _ = self._load_trust(now, record, self._trust_key())
            try:
                index = IndexDocument.from_bytes(view.read_target_bytes(index_path))
            except (RegistryError, MalformedInputError) as exc:
                raise _Deny(
                    Reason.NOT_REGISTERED,
                    f"{kind} {name} is not in the registry (registry version {view.version}): {exc.message}",
                ) from exc
            active = [v.version for v in index.versions if v.status == "active"]
            if not active:
                raise _Deny(Reason.NOT_REGISTERED, f"{kind} {name} has no active version in the registry")
            return max(active, key=_version_key)
        except _Deny as deny:
            decision = self._finish(
                record, allowed=False, reason=deny.reason, severity=deny.severity, message=deny.message
            )
            raise DeniedError(deny.message, reason=deny.reason, decision=decision) from None

    def verify(self, request: GateRequest) -> VerifiedArtifact:
        """Decide on ``request``; return the token or raise :class:`DeniedError` (audited)."""
        now = self._clock()
        record = self._new_record(now, request)
        override_asked = self._environ.get(OVERRIDE_ENV, "") not in ("", "0")
        try:
            token = self._decide(request, now, record, override_asked)
        except _Deny as deny:
            reason, severity, message = deny.reason, deny.severity, deny.message
        except SealgateError as exc:
            # A failure no step anticipated still denies, with its own reason code.
            reason, severity, message = exc.reason, Severity.HIGH, exc.message
        except (OSError, ValueError, TypeError, KeyError) as exc:
            reason, severity = Reason.INTERNAL_ERROR, Severity.CRITICAL
            message = f"the gate failed unexpectedly and denies: {type(exc).__name__}: {exc}"
        else:
            return token
        decision = self._finish(record, allowed=False, reason=reason, severity=severity, message=message)
        raise DeniedError(message, reason=reason, decision=decision)

    def _finish(
        self, record: dict[str, Any], *, allowed: bool, reason: Reason, severity: Severity, message: str
    ) -> Decision:
        record.update(
            {
                "decision": "allow" if allowed else "deny",
                "reason": reason.value,
                "severity": severity.value,
                "message": message,
            }
        )
        try:
            receipt = self._audit_log().append(record, durable=allowed)
        except AuditError as exc:
            if allowed:
                raise _Deny(
                    Reason.AUDIT_UNAVAILABLE,
                    f"the decision could not be written to the audit log, so it is denied: {exc.message}",
                    Severity.CRITICAL,
                ) from exc
            # A denial that cannot be audited is still a denial; say so in its reason.
            raise DeniedError(
                f"{message} (and the audit log is unavailable: {exc.message})",
                reason=Reason.AUDIT_UNAVAILABLE,
                decision=Decision(False, Reason.AUDIT_UNAVAILABLE, Severity.CRITICAL, message, None, record),
            ) from exc
        return Decision(allowed, reason, severity, message, receipt.index, record)

    def _decide(
        self, request: GateRequest, now: float, record: dict[str, Any], override_asked: bool
    ) -> VerifiedArtifact:
        # Identity of the request: a malformed name is malformed input, never a lookup.
        try:
            target, namespace = self._subject_paths(request.kind, request.name, request.version)
        except MalformedInputError as exc:
            raise _Deny(Reason.MALFORMED_INPUT, exc.message, Severity.MEDIUM) from exc
        record["subject"]["target"] = target

        # Step 1: registry view and policy, both verified from the pinned root.
        trust_key = self._trust_key()
        view, policy, approvals = self._load_trust(now, record, trust_key)
        production = policy.environment.value == "production"
        if override_asked and production:
            raise _Deny(
                Reason.OVERRIDE_REFUSED,
                f"{OVERRIDE_ENV} is set but the signed policy says production; the override is refused "
                "and this attempt is audited. Unset it.",
                Severity.CRITICAL,
            )
        if production:
            self._check_anchors(now, trust_key)

        # Step 2: read the artifact once, bounded; digest the bytes read.
        try:
            artifact = read_artifact(request.path, max_size=policy.resources.artifact_bytes)
        except MalformedInputError as exc:
            raise _Deny(exc.reason, exc.message, Severity.MEDIUM) from exc
        record["subject"]["digest"] = {"sha256": artifact.digest}
        checked = _Checked(request, record, override_asked, view, policy, target, artifact, namespace)
        info = view.get_target(target)
        if info is None:
            return self._deny_or_override(
                checked,
                Reason.NOT_REGISTERED,
                f"{target} is not in the registry (registry version {view.version}); propose, approve "
                "and publish it, then run `sealgate registry refresh`",
                stage=None,
            )
        custom = info.custom if isinstance(info.custom, dict) else {}
        stage = custom.get("stage")
        record["subject"]["stage"] = stage
        if custom.get("kind") != request.kind:
            raise _Deny(
                Reason.MALFORMED_INPUT,
                f"registry entry {target} is of kind {custom.get('kind')!r}, not {request.kind!r}",
            )
        if custom.get("digest_scheme") != SCHEME or info.hashes.get("sha256") != artifact.digest:
            raise _Deny(
                Reason.DIGEST_MISMATCH,
                f"the artifact's sha256 {artifact.digest[:16]}… does not match the registered "
                f"{str(info.hashes.get('sha256'))[:16]}… for {target}: it was changed after approval",
                Severity.CRITICAL,
            )
        if info.length != artifact.size:
            raise _Deny(
                Reason.DIGEST_MISMATCH,
                f"the artifact is {artifact.size} bytes, registered as {info.length}",
                Severity.CRITICAL,
            )

        if stage not in layout.STAGES:
            raise _Deny(Reason.MALFORMED_INPUT, f"registry entry {target} has no valid stage ({stage!r})")
        assert isinstance(stage, str)
        if not policy.allows("stages", stage):
            raise _Deny(
                Reason.STAGE_NOT_ALLOWED,
                f"{target} is a {stage}-stage entry and this policy allows only stages "
                f"{', '.join(sorted(policy.allow_list('stages') or ()))}",
            )
        level = policy.level_for(request.kind, namespace, stage)
        requirements = policy.requirements(level)
        record["level"] = level.value
        status = custom.get("status")
        if status == "revoked":
            reason_text = custom.get("revocation_reason") or "no reason given"
            raise _Deny(Reason.REVOKED, f"{target} is revoked ({reason_text}); use another version", Severity.CRITICAL)
        if status == "deprecated":
            if not requirements.allow_deprecated:
                raise _Deny(
                    Reason.DEPRECATED,
                    f"{target} is deprecated and the {level.value} level does not allow deprecated entries",
                )
            record["warnings"].append(f"{target} is deprecated")
        elif status != "active":
            raise _Deny(Reason.UNKNOWN_STATUS, f"{target} has unknown status {status!r}; refusing it")

        # Step 3: approvals over this digest, roles counted over distinct principals.
        result, unbound = self._count_approvals(
            approvals,
            record,
            custom.get("statements"),
            target,
            artifact.digest,
            namespace,
            policy,
            level,
        )
        record["principals"] = {str(role): list(names) for role, names in result.assigned.items()}
        if not result.met:
            missing = ", ".join(f"{role} ×{n}" for role, n in sorted(result.missing.items()))
            if unbound:
                reason = Reason.KEY_NOT_BOUND_TO_ROLE
                why = (
                    "; ignored statements by keys the policy does not bind to that role in "
                    f"{namespace}: {', '.join(sorted(unbound))}"
                )
            else:
                reason = Reason.THRESHOLD_NOT_MET
                why = ""
            return self._deny_or_override(
                checked,
                reason,
                f"{target} lacks approvals required at the {level.value} level: {missing}{why}",
                stage=stage,
            )

        # Step 4: the kind's checks on what would run; then steps 5 and 6: audit, the token.
        interpretation = self._run_check(checked, level, stage)
        return self._allow(checked, level.value, stage, result.assigned, interpretation=interpretation)

    # -- helpers -----------------------------------------------------------------------

    def _trust_key(self) -> tuple[object, ...]:
        """What identifies the trust inputs on disk: a refresh or a policy edit changes it.

        The generation link, and (inode, size, mtime) of the pin, the refresh record, the
        timestamp metadata and the local policy file. stat() follows the metadata link, so
        the timestamp's inode names the generation too.
        """
        try:
            generation: str | None = os.readlink(self._generation_link)
        except OSError:
            generation = None
        key: list[object] = [generation]
        for path in self._stamped_paths:
            try:
                st = os.stat(path)
            except OSError:
                key.append(None)
            else:
                key.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(key)

    def _load_trust(
        self, now: float, record: dict[str, Any], key: tuple[object, ...]
    ) -> tuple[RegistryView, TrustPolicy, _ApprovalsMemo]:
        # A gate object that decides many times keeps the verified view and policy while the
        # trust inputs on disk are unchanged; every expiry is still checked at this decision's
        # reference time (RegistryView.at), and staleness below. The approvals memo belongs
        # to that view and policy and is replaced with them.
        cached = self._trust_cache
        if cached is not None and cached[0] == key:
            _, cached_view, policy, fields, approvals = cached
            try:
                view = cached_view.at(now)
            except RegistryError as exc:
                raise _Deny(exc.reason, exc.message, Severity.CRITICAL) from exc
            record.update(fields)
        else:
            view, policy = self._load_trust_fresh(now, record)
            fields = {k: record[k] for k in ("registry_version", "policy_digest", "local_policy_digest") if k in record}
            approvals = {}
            self._trust_cache = (key, view, policy, fields, approvals)
        try:
            view.check_staleness(policy.max_staleness, now)
        except RegistryError as exc:
            raise _Deny(exc.reason, exc.message, Severity.HIGH) from exc
        return view, policy, approvals

    def _load_trust_fresh(self, now: float, record: dict[str, Any]) -> tuple[RegistryView, TrustPolicy]:
        from sealgate.policy import LocalPolicy, TrustPolicy, tighten
        from sealgate.registry.view import RegistryView

        try:
            view = RegistryView.load(self.home.trust, now)
        except RegistryError as exc:
            raise _Deny(exc.reason, exc.message, Severity.CRITICAL) from exc
        record["registry_version"] = view.version
        try:
            policy = TrustPolicy.from_json_bytes(view.read_target_bytes(layout.POLICY_TARGET))
            record["policy_digest"] = policy.digest
            local_path = self.home.local_policy
            if local_path.exists():
                local = LocalPolicy.from_json_bytes(local_path.read_bytes())
                policy = tighten(policy, local)
                record["local_policy_digest"] = local.digest
        except (PolicyError, MalformedInputError) as exc:
            raise _Deny(exc.reason, f"the gate cannot start: {exc.message}", Severity.CRITICAL) from exc
        except RegistryError as exc:
            raise _Deny(exc.reason, exc.message, Severity.CRITICAL) from exc
        except OSError as exc:
            raise _Deny(
                Reason.POLICY_INVALID, f"the local policy file cannot be read: {exc.strerror}", Severity.CRITICAL
            ) from exc
        return view, policy

    def _check_anchors(self, now: float, key: tuple[object, ...]) -> None:
        # At start, and again when the trust inputs change or a minute has passed: walking the
        # trust directory on every decision of a long-lived gate would cost more than the rest.
        if (
            self._anchors_checked is not None
            and self._anchors_checked[0] == key
            and now - self._anchors_checked[1] < 60
        ):
            return
        anchors = [self.home.trust, self.home.local_policy, self.home.audit_dir]
        if self._database_url is None:
            anchors.append(self.home.audit_db)
        writable = writable_anchors([self.home.root], recursive=False) + writable_anchors(anchors)
        if not writable:
            self._anchors_checked = (key, now)
        else:
            raise _Deny(
                Reason.TRUST_ANCHOR_WRITABLE,
                "the policy says production, but these trust anchors are writable by the calling user: "
                + ", ".join(str(p) for p in writable[:5])
                + "; give them to a service user and run the gate as an unprivileged user "
                "(with the audit log in PostgreSQL under the append-only role)",
                Severity.CRITICAL,
            )

    def _subject_paths(self, kind: str, name: str, version: str) -> tuple[str, str]:
        """``(target path, namespace)`` of a subject; raises ``MalformedInputError`` for a bad name."""
        key = (kind, name, version)
        paths = self._subject_memo.get(key)
        if paths is None:
            paths = (layout.target_path(kind, name, version), layout.namespace_of(kind, name))
            if len(self._subject_memo) >= _MEMO_SIZE:
                self._subject_memo.clear()
            self._subject_memo[key] = paths
        return paths

    def _is_bound(self, policy: TrustPolicy, principal: str, role: str, namespace: str) -> bool:
        """``policy.is_bound(principal, role, namespace)``, remembered for this policy object."""
        memo_policy, memo = self._bound_memo
        if memo_policy is not policy:
            memo = {}
            self._bound_memo = (policy, memo)
        key = (principal, role, namespace)
        bound = memo.get(key)
        if bound is None:
            bound = policy.is_bound(principal, role, namespace)
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[key] = bound
        return bound

    def _verify_statement(self, raw: object, policy: TrustPolicy) -> ApprovalStatement | str | _Deny:
        """Verify one envelope against the policy's keys; remember the result for these exact bytes.

        The cache key is the envelope's exact content (payload and signatures, as strings) and
        the digest of the policy whose keys verified it, so a cached answer is the answer the
        same verification would give again. It is bounded and per gate object.
        """
        key: tuple[object, ...] | None = None
        if isinstance(raw, dict):
            sigs = raw.get("signatures")
            if isinstance(sigs, list) and all(isinstance(x, dict) for x in sigs):
                key = (
                    policy.digest,
                    raw.get("payloadType"),
                    raw.get("payload"),
                    tuple((str(x.get("keyid")), str(x.get("sig"))) for x in sigs),
                )
                if all(isinstance(part, str) for part in key[:3]):
                    hit = self._statement_cache.get(key)
                    if hit is not None:
                        return hit
                else:
                    key = None
        outcome: ApprovalStatement | str | _Deny
        try:
            outcome = verify_approval(Envelope.from_dict(raw), policy.keys)
        except MalformedInputError as exc:
            return _Deny(Reason.MALFORMED_INPUT, exc.message)
        except VerificationError as exc:
            outcome = exc.message
        if key is not None:
            if len(self._statement_cache) >= _STATEMENT_CACHE_SIZE:
                self._statement_cache.clear()
            self._statement_cache[key] = outcome
        return outcome

    def _count_approvals(
        self,
        memo: _ApprovalsMemo,
        record: dict[str, Any],
        statements: object,
        target: str,
        digest: str,
        namespace: str,
        policy: TrustPolicy,
        level: Level,
    ) -> tuple[RoleCount, frozenset[str]]:
        """Step 3: who fills the roles ``level`` requires, and the bound-elsewhere signers; remembered.

        ``memo`` belongs to the verified view and policy this decision uses (the trust
        cache entry), under which an entry's statements and a level's requirements cannot
        change: the verdict then depends only on the target, the digest, the namespace and
        the level, which key it. A malformed statement is never remembered; it denies
        every time.
        """
        key = (target, digest, namespace, level)
        verdict = memo.get(key)
        if verdict is None:
            claims, unbound, ignored = self._collect_claims(statements, target, digest, namespace, policy)
            required = {str(role): n for role, n in policy.requirements(level).roles.items()}
            verdict = (count_roles(required, claims), frozenset(unbound), tuple(ignored))
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[key] = verdict
        result, unbound_signers, ignored_statements = verdict
        if ignored_statements:
            record["ignored_statements"] = list(ignored_statements)
        return result, unbound_signers

    def _collect_claims(
        self, statements: object, target: str, digest: str, namespace: str, policy: TrustPolicy
    ) -> tuple[dict[str, set[str]], set[str], list[str]]:
        if statements is None:
            statements = []
        if not isinstance(statements, list):
            raise _Deny(Reason.MALFORMED_INPUT, f"registry entry {target} has malformed statements")
        claims: dict[str, set[str]] = {}
        unbound: set[str] = set()
        ignored: list[str] = []
        for raw in statements[:64]:
            outcome = self._verify_statement(raw, policy)
            if isinstance(outcome, _Deny):
                raise _Deny(outcome.reason, f"a statement on {target} is malformed: {outcome.message}")
            if isinstance(outcome, str):
                # Not signed by a key of the policy, or not an approval: it counts for nothing.
                ignored.append(outcome)
                continue
            statement = outcome
            if statement.subject_name != target or statement.subject_sha256 != digest:
                continue  # a statement about another artifact counts for nothing
            for keyid in statement.keyids:
                principal = policy.principal_of(keyid)
                if principal is None:
                    continue
                if self._is_bound(policy, principal, statement.role, namespace):
                    claims.setdefault(principal, set()).add(statement.role)
                else:
                    unbound.add(f"{principal} as {statement.role}")
        return claims, unbound, ignored

    def _deny_or_override(self, checked: _Checked, reason: Reason, message: str, *, stage: object) -> VerifiedArtifact:
        """Deny, unless this is what the development override may let through (ARCHITECTURE.md)."""
        if not checked.override_asked or reason not in _OVERRIDABLE:
            raise _Deny(reason, message)
        # Here the signed policy says development (production was refused earlier).
        if stage == "PROD":
            raise _Deny(
                Reason.OVERRIDE_REFUSED,
                f"{OVERRIDE_ENV} never applies to a PROD-stage entry; {message}",
                Severity.CRITICAL,
            )
        record = checked.record
        record["override"] = {"env": OVERRIDE_ENV, "would_deny": reason.value, "message": message}
        # The override skips approvals only: the kind's checks still run, at the level the
        # policy gives this subject.
        effective_stage = str(stage or "DEV")
        policy = checked.policy
        level = policy.level_for(checked.request.kind, checked.namespace, effective_stage)
        interpretation = self._run_check(checked, level, effective_stage)
        record["warnings"].append(f"DEVELOPMENT OVERRIDE: {message}")
        return self._allow(
            checked,
            "override",
            effective_stage,
            {},
            reason=Reason.OVERRIDE_USED,
            severity=Severity.HIGH,
            interpretation=interpretation,
        )

    def _run_check(self, checked: _Checked, level: Level, stage: str) -> object:
        """Step 4: the kind's check, judged by the level's ``deny_from`` and the analysers' modes."""
        request = checked.request
        check = self._checks.get(request.kind)
        if check is None:
            if request.inputs is not None:
                raise _Deny(
                    Reason.CHECK_DENIED,
                    f"this gate has no check for {request.kind} artifacts, so it cannot judge inputs for them",
                )
            return None
        from sealgate.checks import evaluate

        policy = checked.policy
        context = CheckContext(
            kind=request.kind,
            name=request.name,
            version=request.version,
            artifact=checked.artifact,
            inputs=request.inputs,
            taint=request.taint,
            interface=request.interface,
            policy=policy,
            level=level,
            production=policy.environment.value == "production",
        )
        try:
            outcome = check.check(context)
        except SealgateError as exc:
            raise _Deny(
                exc.reason, exc.message, Severity.MEDIUM if exc.reason is Reason.MALFORMED_INPUT else Severity.HIGH
            ) from exc
        if not isinstance(outcome, CheckOutcome):
            raise _Deny(Reason.INTERNAL_ERROR, f"the {request.kind} check returned no outcome", Severity.CRITICAL)
        verdict = evaluate(outcome.findings, policy.requirements(level).deny_from, policy.analysers)
        record = checked.record
        record["checks"] = {
            **outcome.record,
            "findings": [
                {"code": f.code, "severity": f.severity.value, "message": f.message, "location": f.location}
                for f in (*verdict.deny, *verdict.warn)
            ],
        }
        for finding in verdict.warn:
            if finding.severity >= Severity.MEDIUM:
                record["warnings"].append(f"{finding.code}: {finding.message}")
        if verdict.deny:
            worst = verdict.deny[0]
            codes = ", ".join(dict.fromkeys(f.code for f in verdict.deny))
            more = f" (and {len(verdict.deny) - 1} more)" if len(verdict.deny) > 1 else ""
            raise _Deny(
                Reason.CHECK_DENIED,
                f"{checked.target} fails the runtime checks at the {level.value} level ({codes}): "
                f"{worst.message}{more}",
                worst.severity,
            )
        return outcome.interpretation

    def _allow(
        self,
        checked: _Checked,
        level: str,
        stage: str,
        principals: dict[str, tuple[str, ...]],
        *,
        reason: Reason = Reason.ALLOWED,
        severity: Severity = Severity.INFO,
        interpretation: object = None,
    ) -> VerifiedArtifact:
        request, record = checked.request, checked.record
        message = (
            f"{checked.target} is allowed at the {level} level" if reason is Reason.ALLOWED else record["warnings"][-1]
        )
        decision = self._finish(record, allowed=True, reason=reason, severity=severity, message=message)
        assert decision.audit_index is not None
        return VerifiedArtifact(
            capability=_CAPABILITY,
            kind=request.kind,
            name=request.name,
            version=request.version,
            target=checked.target,
            digest=checked.artifact.digest,
            artifact=checked.artifact,
            level=level,
            stage=stage,
            audit_index=decision.audit_index,
            registry_version=checked.view.version,
            policy_digest=checked.policy.digest,
            warnings=tuple(record["warnings"]),
            principals=dict(principals),
            interpretation=interpretation,
            extra={"decision": decision},
        )

    # -- after the run -----------------------------------------------------------------

    def record_outcome(self, token: VerifiedArtifact, outcome: Mapping[str, object]) -> int:
        """Gate step 7: append what a run did, linked to the decision that allowed it.

        ``outcome`` holds sizes and resource use (``RunResult.outcome()``), never output
        bytes. Returns the outcome record's audit index. The append is not fsynced on its own
        (see below; docs/audit.md). Raises :class:`AuditError` when it
        cannot be written: the run already happened, so the caller reports that loudly.
        """
        if not isinstance(token, VerifiedArtifact) or token.capability is not _CAPABILITY:
            raise TypeError("record_outcome needs the VerifiedArtifact this gate returned")
        record = {
            "_type": OUTCOME_TYPE,
            "time": _rfc3339(self._clock()),
            "decision_index": token.audit_index,
            "subject": {
                "kind": token.kind,
                "name": token.name,
                "version": token.version,
                "target": token.target,
                "digest": {"sha256": token.digest},
            },
            "outcome": dict(outcome),
        }
        # Committed, but not fsynced on its own: it shares the next durable commit (the decision
        # it follows already is), like a denial. A power cut can lose the latest outcomes, never
        # a decision; a crash of this process loses nothing committed.
        return self._audit_log().append(record, durable=False).index
