"""`run_sandboxed` of `/bin/true` against bare bwrap with the same arguments, in one run.

Figures (issue 3, "Speed", the runner's share): bwrap with the full argument list starts in
6-9 ms here (../shared/notes/bwrap.md). This prints the median of N launches of

- baseline: `bwrap <the runner's namespace, identity and mount arguments> --seccomp FD /bin/true`
  through `subprocess.run`, with a fresh seccomp memfd per launch (what bwrap.md measured);
- the same bwrap command line the runner builds, including its pid-1 shell and the `prlimit`
  wrapper, so the cost of those two execs is visible on its own;
- `run_sandboxed(token, SandboxSpec(["/bin/true"]), production=True)` in this process: the
  work directory, memfds, spawn, supervision and `wait4`, with the start-up probe cached.
  The gate's own cost is measured by bench_verify.py.

Run: `.venv/bin/python benchmarks/bench_runner.py [--runs N] [--warmup N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.gatehome

from _harness import report
from tests.gatehome import build_gate_home

from sealgate.gate import GateRequest
from sealgate.runner import SandboxSpec, probe_sandbox, run_sandboxed
from sealgate.runner._bwrap import INIT, SANDBOX_PATH, base_args, bwrap_binary
from sealgate.runner._launch import SANDBOX_HOST_UID, limits_prefix
from sealgate.runner._seccomp import seccomp_memfd
from sealgate.runner._spec import Limits


def median_ms(fn: Callable[[], None], *, runs: int, warmup: int) -> tuple[float, float]:
    times: list[float] = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1]


def bare_bwrap(workdir: str, command: list[str]) -> Callable[[], None]:
    limits = Limits()
    argv_head = [str(bwrap_binary()), *base_args()]
    argv_head += ["--size", str(64 << 20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
    argv_head += ["--size", str(limits.memory_bytes), "--tmpfs", "/tmp", "--bind", workdir, "/job"]
    argv_head += ["--remount-ro", "/", "--chdir", "/job", "--clearenv", "--setenv", "PATH", SANDBOX_PATH]
    argv_head += ["--setenv", "HOME", "/job"]
    drop = os.geteuid() == 0  # the runner starts bwrap as uid 65534 when called as root: so does the baseline
    user = SANDBOX_HOST_UID if drop else None

    def run() -> None:
        fd = seccomp_memfd()
        try:
            proc = subprocess.run(
                [*argv_head, "--seccomp", str(fd), "--", *command],
                pass_fds=(fd,),
                capture_output=True,
                env={},
                cwd="/",
                start_new_session=True,
                user=user,
                group=user,
                extra_groups=[] if drop else None,
                check=False,
            )
        finally:
            os.close(fd)
        if proc.returncode != 0:
            raise SystemExit(f"baseline bwrap failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sealgate-bench-runner-") as tmp:
        home = build_gate_home(Path(tmp) / "home")
        tool = home.register("acme/true", "1.0.0", b"#!/bin/sh\nexec /bin/true\n")
        gate = home.gate()
        try:
            token = gate.verify(GateRequest(kind="tool", name="acme/true", version="1.0.0", path=tool))
        finally:
            gate.close()
        probe = probe_sandbox(production=True)
        print(f"probe: {probe.summary()} in {probe.duration_s * 1000:.1f} ms (cached afterwards)", flush=True)

        workdir = tempfile.mkdtemp(prefix="sealgate-bench-job-")
        if os.geteuid() == 0:
            os.chown(workdir, SANDBOX_HOST_UID, SANDBOX_HOST_UID)
        try:
            spec = SandboxSpec(["/bin/true"])

            def runner() -> None:
                result = run_sandboxed(token, spec, production=True)
                if result.exit_code != 0:
                    raise SystemExit(f"run_sandboxed failed: {result}")

            wrapped = [*limits_prefix(Limits(), extra_processes=1), *INIT, "/bin/true"]
            bare, bare_p90 = median_ms(bare_bwrap(workdir, ["/bin/true"]), runs=args.runs, warmup=args.warmup)
            full, full_p90 = median_ms(bare_bwrap(workdir, wrapped), runs=args.runs, warmup=args.warmup)
            ours, ours_p90 = median_ms(runner, runs=args.runs, warmup=args.warmup)
            spec.close()
        finally:
            os.rmdir(workdir)

    print(f"median of {args.runs} launches after {args.warmup} warm-up, {os.cpu_count()} CPUs", flush=True)
    report("bare bwrap + seccomp, /bin/true", bare, "ms", target="6-9 ms in bwrap.md")
    print(f"  p90 {bare_p90:.1f} ms")
    report("bare bwrap + seccomp, runner's command line (prlimit + pid-1 sh)", full, "ms", baseline=bare)
    print(f"  p90 {full_p90:.1f} ms")
    report("run_sandboxed(/bin/true), in process, probe cached", ours, "ms", baseline=bare)
    print(f"  p90 {ours_p90:.1f} ms; vs the same command line bare: {ours / full:.2f}x")


if __name__ == "__main__":
    main()
