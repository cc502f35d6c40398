"""The runner's public API: only gate tokens run, backends and production rules, spec validation."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import sealgate.runner
from sealgate._dataclass import replace
from sealgate.errors import Reason, SandboxError
from sealgate.runner import HARD_CAPS, HostPath, KillReason, Limits, SandboxSpec, run_sandboxed
from sealgate.tokens import VerifiedArtifact
from tests.runner.conftest import TOOL_SCRIPT, Sandbox

pytestmark = pytest.mark.usefixtures("no_job_dirs_left")


def test_public_api_is_what_we_meant() -> None:
    assert set(sealgate.runner.__all__) == {
        "BACKENDS", "HARD_CAPS", "HostPath", "KillReason", "Limits", "NetworkEvent", "ProbeCheck", "ProbeResult",
        "RunResult", "SandboxSpec", "artifact_files", "probe_cache_key", "probe_sandbox", "run_sandboxed",
    }  # fmt: skip
    assert sealgate.runner.BACKENDS == ("bwrap", "process", "docker", "podman")


# --- only the gate's token runs -------------------------------------------------------------


class LookAlike:
    """Everything a VerifiedArtifact has, except being one."""

    def __init__(self, token: VerifiedArtifact) -> None:
        for name in VerifiedArtifact.__dataclass_fields__:
            setattr(self, name, getattr(token, name))


@pytest.mark.parametrize("make", [LookAlike, lambda t: {"capability": t.capability}, lambda t: None])
def test_runner_refuses_object_that_is_not_a_verified_artifact(token: VerifiedArtifact, make: Any) -> None:
    with SandboxSpec(["/bin/true"]) as spec, pytest.raises(TypeError, match="VerifiedArtifact from the gate"):
        run_sandboxed(make(token), spec, production=False)


def test_runner_refuses_token_forged_without_the_gate(token: VerifiedArtifact) -> None:
    forged = object.__new__(VerifiedArtifact)
    for name in VerifiedArtifact.__dataclass_fields__:
        if name != "capability":
            object.__setattr__(forged, name, getattr(token, name))
    object.__setattr__(forged, "capability", object())
    with SandboxSpec(["/bin/true"]) as spec, pytest.raises(TypeError):
        run_sandboxed(forged, spec, production=False)
    with pytest.raises(TypeError):
        replace(token, capability=object())  # type: ignore[arg-type]  # the constructor refuses it too


def test_production_flag_has_no_default_and_must_be_a_bool(token: VerifiedArtifact) -> None:
    with SandboxSpec(["/bin/true"]) as spec:
        with pytest.raises(TypeError):
            run_sandboxed(token, spec)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            run_sandboxed(token, spec, production="no")  # type: ignore[arg-type]


def test_runner_refuses_a_spec_that_is_not_a_sandbox_spec(token: VerifiedArtifact) -> None:
    with pytest.raises(TypeError, match="SandboxSpec"):
        run_sandboxed(token, {"argv": ["/bin/true"]}, production=False)  # type: ignore[arg-type]


# --- backends -------------------------------------------------------------------------------


def test_process_backend_refused_in_production(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError, match="refused in production") as exc:
        sandbox.run(["/bin/true"], backend="process", production=True)
    assert exc.value.reason is Reason.SANDBOX_UNAVAILABLE


def test_process_backend_in_development_applies_limits_and_ships_files(sandbox: Sandbox) -> None:
    result = sandbox.run(
        ["/bin/sh", "/tool/run.sh"], files={"/tool/run.sh": (0o644, TOOL_SCRIPT)}, backend="process", production=False
    )
    assert result.exit_code == 0 and result.stdout == b"verified-tool-bytes\n"
    limits = sandbox.run(["/bin/cat", "/proc/self/limits"], backend="process", production=False)
    assert b"Max processes             64" in limits.stdout
    noisy = sandbox.run(["/usr/bin/yes"], limits=Limits(output_bytes=100), backend="process", production=False)
    assert noisy.killed_reason is KillReason.OUTPUT_LIMIT and len(noisy.stdout) == 100
    slow = sandbox.run(
        ["/bin/sh", "-c", "sleep 30 & sleep 30"], limits=Limits(wall_seconds=0.5), backend="process", production=False
    )
    assert slow.timed_out and slow.duration_s < 3


def test_process_backend_refuses_host_paths(sandbox: Sandbox, host_dir: Path) -> None:
    with pytest.raises(SandboxError, match="cannot bind declared host paths"):
        sandbox.run(["/bin/true"], host_paths=[HostPath(host_dir, "/data", False)], backend="process", production=False)


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_container_backend_refused_cleanly_without_an_engine(sandbox: Sandbox, engine: str) -> None:
    # No container engine runs on these machines (the docker client is installed, its daemon is not).
    with pytest.raises(SandboxError, match=f"no {engine} (engine answers|client is installed)"):
        sandbox.run(["/bin/true"], backend=engine, production=False)


def test_docker_client_is_present_but_refused_here() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker client on this machine")
    from sealgate.runner._container import engine_version

    with pytest.raises(SandboxError, match="no docker engine answers"):
        engine_version("docker")


def test_unknown_backend_refused(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError, match="unknown sandbox backend") as exc:
        sandbox.run(["/bin/true"], backend="chroot")
    assert exc.value.reason is Reason.INVALID_ARGUMENT


# --- spec validation ------------------------------------------------------------------------


def test_limits_default_to_the_hard_caps() -> None:
    assert Limits() == Limits(30, 30, 512, 64, 1 << 20)
    assert dict(HARD_CAPS) == {"wall_seconds": 30, "cpu_seconds": 30, "memory_mib": 512, "processes": 64,
                               "output_bytes": 1 << 20}  # fmt: skip


@pytest.mark.parametrize("field", ["wall_seconds", "cpu_seconds", "memory_mib", "processes", "output_bytes"])
def test_limits_above_the_hard_caps_refused(field: str) -> None:
    cap = HARD_CAPS[field]
    with pytest.raises(SandboxError, match="hard cap") as exc:
        Limits(**{field: int(cap) + 1})
    assert exc.value.reason is Reason.TOO_LARGE


BAD_LIMITS: list[dict[str, Any]] = [
    {"wall_seconds": 0}, {"wall_seconds": float("inf")}, {"cpu_seconds": 0}, {"memory_mib": -1},
    {"processes": True}, {"output_bytes": 1.5}, {"wall_seconds": "5"},
]  # fmt: skip


@pytest.mark.parametrize("kw", BAD_LIMITS)
def test_limits_must_be_positive_numbers(kw: dict[str, Any]) -> None:
    with pytest.raises(SandboxError) as exc:
        Limits(**kw)
    assert exc.value.reason is Reason.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "path",
    ["tool/run.sh", "/tool/../usr/bin/x", "/tool/./x", "/tool//x", "/tool/", "/", "/job", "/usr/local/x", "/etc/x",
     "/proc/x", "/tmp/x", "/dev/x", "/lib64/x", "/var/x", "/tool/\nx"],
)  # fmt: skip
def test_sandbox_paths_must_be_absolute_normalised_and_off_system_dirs(path: str) -> None:
    with pytest.raises(SandboxError):
        SandboxSpec(["/bin/true"], files={path: (0o644, b"")})
    with pytest.raises(SandboxError):
        HostPath(Path("/srv"), path, False)


def test_overlapping_sandbox_paths_refused(host_dir: Path) -> None:
    with pytest.raises(SandboxError, match="overlap"):
        SandboxSpec(["/bin/true"], files={"/tool/a": (0o644, b""), "/tool/a/b": (0o644, b"")})
    with pytest.raises(SandboxError, match="overlap"):
        SandboxSpec(["/bin/true"], files={"/data/x": (0o644, b"")}, host_paths=[HostPath(host_dir, "/data", True)])
    with pytest.raises(SandboxError, match="twice"):
        SandboxSpec(["/bin/true"], host_paths=[HostPath(host_dir, "/data", True), HostPath(host_dir, "/data", False)])
    SandboxSpec(["/bin/true"], files={"/data-x": (0o644, b""), "/data/y": (0o644, b"")}).close()  # siblings are fine


@pytest.mark.parametrize(
    "env", [{"PATH": "/evil"}, {"HOME": "/"}, {"1BAD": "x"}, {"A=B": "x"}, {"": "x"}, {"OK": "nul\0byte"}, {"OK": 1}]
)
def test_environment_names_and_values_validated(env: dict[str, Any]) -> None:
    with pytest.raises(SandboxError):
        SandboxSpec(["/bin/true"], env=env)


@pytest.mark.parametrize("argv", [[], [""], ["/bin/echo", "nul\0"], "/bin/true", [b"/bin/true"]])
def test_argv_validated(argv: Any) -> None:
    with pytest.raises(SandboxError):
        SandboxSpec(argv)


@pytest.mark.parametrize("entry", [(0o10000, b""), (-1, b""), ("644", b""), (0o644, "text"), (0o644,)])
def test_file_entries_validated(entry: Any) -> None:
    with pytest.raises(SandboxError):
        SandboxSpec(["/bin/true"], files={"/tool/x": entry})


def test_spec_is_immutable_after_validation() -> None:
    env = {"A": "1"}
    files = {"/tool/a": (0o4755, b"x")}
    spec = SandboxSpec(["/bin/true"], env=env, files=files)
    env["PATH"] = "/evil"
    files["/usr/bin/x"] = (0o755, b"")
    assert dict(spec.env) == {"A": "1"}
    assert dict(spec.files) == {"/tool/a": (0o755, b"x")}  # setuid and friends dropped
    with pytest.raises(TypeError):
        spec.env["B"] = "2"  # type: ignore[index]


def test_run_result_outcome_carries_sizes_not_output(sandbox: Sandbox) -> None:
    result = sandbox.run(["/bin/echo", "secret output"])
    outcome = result.outcome()
    assert outcome["exit_code"] == 0 and outcome["stdout_bytes"] == len(b"secret output\n")
    assert "secret" not in repr(outcome) and "secret" not in repr(result)
