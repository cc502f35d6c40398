"""Running tools: the tool store, :func:`verify_tool` and :func:`run_tool`.

Every entry point (CLI by name or by local path, MCP, Python API) comes through here, and
every path goes through the one gate with the tool check: there is no exemption for a
local directory, and nothing here takes a parameter that skips a step. The gate reads the
tool once; the sandbox gets the bytes the gate read (sealed memfds) and the argv the gate
judged (the :class:`~sealgate.tools.ToolPlan` in the token); the outcome is appended to
the audit log linked to the decision.

The tool store (``$SEALGATE_HOME/tools/<ns>/<name>/<version>/``) holds installed tool
directories for running by name. It is a cache, not a trust anchor: the gate re-digests
the directory on every run and denies anything that is not the registered bytes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sealgate._dataclass import dataclass, field
from sealgate.config import Home, home_from_env
from sealgate.digest import read_artifact
from sealgate.errors import Reason, SandboxError, Severity, UsageError
from sealgate.gate import Gate, GateRequest
from sealgate.registry import layout
from sealgate.tokens import VerifiedArtifact
from sealgate.tools._check import ToolCheck, ToolPlan
from sealgate.tools.manifest import COMPILED_NAME, HARD_CAPS, ToolManifest, manifest_from_artifact

if TYPE_CHECKING:
    from sealgate.runner import ProbeResult

__all__ = ["ToolRun", "install_tool", "installed_path", "open_tool_gate", "run_tool", "verify_tool"]

TOOL_MOUNT: Final = "/tool"


@dataclass(frozen=True, slots=True)
class ToolRun:
    """What ``run_tool`` did: the run's result, the decision that allowed it and the outcome record."""

    name: str
    version: str
    digest: str
    level: str
    warnings: tuple[str, ...]
    exit_code: int | None
    signal: int | None
    stdout: bytes = field(repr=False)
    stderr: bytes = field(repr=False)
    stdout_truncated: bool
    stderr_truncated: bool
    duration_s: float
    timed_out: bool
    killed_reason: str | None
    max_rss_kib: int
    cpu_seconds: float
    audit_index: int
    outcome_index: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": f"{self.name}@{self.version}",
            "digest": {"sha256": self.digest},
            "level": self.level,
            "warnings": list(self.warnings),
            "exit_code": self.exit_code,
            "signal": self.signal,
            "stdout": self.stdout.decode("utf-8", "replace"),
            "stderr": self.stderr.decode("utf-8", "replace"),
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "duration_ms": round(self.duration_s * 1000),
            "timed_out": self.timed_out,
            "killed_reason": self.killed_reason,
            "max_rss_kib": self.max_rss_kib,
            "cpu_ms": round(self.cpu_seconds * 1000),
            "audit_index": self.audit_index,
            "outcome_index": self.outcome_index,
        }


# -- the tool store ---------------------------------------------------------------------


def installed_path(home: Home, name: str, version: str) -> Path:
    """Where the store keeps ``name@version`` (it may not exist)."""
    layout.target_path("tool", name, version)  # validates both components
    namespace, short = name.split("/", 1)
    return home.tools / namespace / short / version


def install_tool(home: Home, source: Path) -> tuple[ToolManifest, Path]:
    """Copy the tool directory ``source`` into the store, atomically, from the bytes read once.

    The directory must hold a compiled manifest consistent with its files (``sealgate tool
    compile``). Installing approves nothing: the gate decides on every run.
    """
    import shutil
    import tempfile

    artifact = read_artifact(source, max_size=HARD_CAPS["artifact_bytes"])
    manifest = manifest_from_artifact(artifact)
    final = installed_path(home, manifest.name, manifest.version)
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=final.parent))
    try:
        staging.chmod(0o755)
        for rel, (mode, data) in sorted(artifact.files.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(path, mode & 0o755)
        old: Path | None = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=".replaced-", dir=final.parent))
            os.rename(final, old / "tool")
        os.rename(staging, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest, final


# -- deciding and running ---------------------------------------------------------------


def _probe_cache_file() -> Path:
    """Where a passing start-up probe is kept between processes: the calling user's cache directory.

    Not the sealgate home: in production the gate's user must not be able to write the home.
    The runner trusts the file only if this user owns it and nobody else can write it.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sealgate" / "bwrap-probe.json"


def _sandbox_ready(production: bool, backend: str) -> ProbeResult | None:
    """In production, the bwrap start-up probe, read from its cache file when it passed on this boot.

    ``run_sandboxed`` probes before every production run, but only from memory, so every
    fresh ``sealgate run`` process would run the canary again (tens of milliseconds). Probing
    here with the cache file first leaves the result in memory for that check (same key: the
    bwrap binary's digest, the boot id, the seccomp program). A failed probe raises
    :class:`~sealgate.errors.SandboxError`; it is never cached. Development never probes.
    """
    if not production or backend != "bwrap":
        return None
    from sealgate.runner import probe_sandbox

    cache = _probe_cache_file()
    with contextlib.suppress(OSError):  # no cache directory only costs a probe per process
        cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return probe_sandbox(production=True, cache_file=cache)


def open_tool_gate(home: Home, *, environ: Mapping[str, str] | None = None, database_url: str | None = None) -> Gate:
    """A gate that serves tools: the tool check reads declared variables from ``environ``."""
    env = os.environ if environ is None else environ
    return Gate(home, database_url=database_url, environ=dict(env), checks={"tool": ToolCheck(env)})


def _claimed_identity(path: Path) -> tuple[str, str]:
    """The name and version a local tool directory claims; the gate then verifies the claim.

    Read leniently on purpose: a manifest the gate would refuse must still reach the gate,
    so that the refusal is an audited decision about the identity it claims.
    """
    import json

    try:
        raw = json.loads((path / COMPILED_NAME).read_bytes()[: 256 * 1024])
    except (OSError, ValueError):
        raw = None
    name = raw.get("name") if isinstance(raw, dict) else None
    version = raw.get("version") if isinstance(raw, dict) else None
    if isinstance(name, str) and isinstance(version, str):
        return name, version
    return "", ""


def _request(
    gate: Gate, ref: str | Path, inputs: Mapping[str, object] | None, taint: str, interface: str
) -> GateRequest:
    if isinstance(ref, Path):
        name, version = _claimed_identity(ref)
        request = GateRequest("tool", name or "unknown/unknown", version or "0", ref, interface, taint, inputs)
        if not name:
            gate.refuse(
                request,
                Reason.MALFORMED_INPUT,
                f"{ref} is not a compiled tool directory: {COMPILED_NAME} is missing or names no tool and "
                "version; run `sealgate tool compile` on it",
                Severity.MEDIUM,
            )
        return request
    if not isinstance(ref, str) or not ref:
        raise UsageError("a tool is named NS/NAME[@VERSION] or given as a pathlib.Path to its directory")
    name, _, version = ref.partition("@")
    if not version:
        version = gate.resolve_version("tool", name, interface=interface)
    path = installed_path(gate.home, name, version)
    request = GateRequest("tool", name, version, path, interface, taint, inputs)
    if not path.is_dir():
        gate.refuse(
            request,
            Reason.NOT_INSTALLED,
            f"tool {name}@{version} is not installed in {gate.home.tools}; install its directory with "
            "`sealgate tool install DIR` (the gate verifies it against the registry on every run)",
            Severity.MEDIUM,
        )
    return request


def verify_tool(
    ref: str | Path,
    *,
    inputs: Mapping[str, object] | None = None,
    taint: str = "none",
    home: Home | None = None,
    interface: str = "api",
    gate: Gate | None = None,
) -> VerifiedArtifact:
    """Ask the gate whether a tool may run (with ``inputs``, if given); audited either way.

    ``ref`` is ``"NS/NAME"`` or ``"NS/NAME@VERSION"`` (run from the tool store), or a
    :class:`~pathlib.Path` to a tool directory (same gate, no exemption). Returns the token,
    whose ``interpretation`` is the :class:`~sealgate.tools.ToolPlan`; raises
    :class:`~sealgate.errors.DeniedError`.
    """
    own = gate is None
    the_gate = open_tool_gate(home or home_from_env()) if gate is None else gate
    try:
        return the_gate.verify(_request(the_gate, ref, inputs, taint, interface))
    finally:
        if own:
            the_gate.close()


def run_tool(
    ref: str | Path,
    *,
    inputs: Mapping[str, object],
    taint: str,
    home: Home | None = None,
    backend: str = "bwrap",
    interface: str = "api",
    gate: Gate | None = None,
) -> ToolRun:
    """Gate, sandbox, outcome record: run a tool the way every entry point does.

    ``taint`` has no default: say where ``inputs`` came from (``user_input``,
    ``untrusted``, ``llm_output``, ``network``; ``none`` only with no inputs). The policy's
    taint rules decide which sinks each label may reach. A denial raises
    :class:`~sealgate.errors.DeniedError`; a sandbox that cannot run raises
    :class:`~sealgate.errors.SandboxError` (recorded as the outcome); a tool that fails or is
    killed is a :class:`ToolRun` with its exit status.
    """
    from sealgate.runner import HostPath, Limits, SandboxSpec, artifact_files, run_sandboxed

    own = gate is None
    the_gate = open_tool_gate(home or home_from_env()) if gate is None else gate
    try:
        token = the_gate.verify(_request(the_gate, ref, inputs, taint, interface))
        plan = token.interpretation
        if not isinstance(plan, ToolPlan):
            raise SandboxError("the gate's token carries no tool plan; refusing to run", reason=Reason.INTERNAL_ERROR)
        try:
            _sandbox_ready(plan.production, backend)
            files = artifact_files(token, TOOL_MOUNT)
            limits = Limits(**{n: getattr(plan.resources, n) for n in ("wall_seconds", "cpu_seconds", "memory_mib",
                                                                        "processes", "output_bytes")})  # fmt: skip
            network: str | tuple[str, ...] = plan.network if plan.network else "none"
            spec = SandboxSpec(
                argv=plan.argv,
                env=dict(plan.env),
                files=files,
                host_paths=[HostPath(Path(p), p, writable=w) for p, w in plan.host_paths],
                limits=limits,
                network=network,
            )
            with spec:
                result = run_sandboxed(token, spec, backend=backend, production=plan.production)
        except SandboxError as exc:
            the_gate.record_outcome(token, {"error": {"reason": exc.reason.value, "message": exc.message}})
            raise
        outcome = result.outcome()
        outcome_index = the_gate.record_outcome(token, outcome)
        return ToolRun(
            name=token.name,
            version=token.version,
            digest=token.digest,
            level=token.level,
            warnings=token.warnings,
            exit_code=result.exit_code,
            signal=result.signal,
            stdout=result.stdout,
            stderr=result.stderr,
            stdout_truncated=result.stdout_truncated,
            stderr_truncated=result.stderr_truncated,
            duration_s=result.duration_s,
            timed_out=result.timed_out,
            killed_reason=result.killed_reason.value if result.killed_reason else None,
            max_rss_kib=result.max_rss_kib,
            cpu_seconds=result.cpu_seconds,
            audit_index=token.audit_index,
            outcome_index=outcome_index,
        )
    finally:
        if own:
            the_gate.close()
