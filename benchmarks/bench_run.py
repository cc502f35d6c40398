"""`sealgate run` of a registered tool that runs `true`, as a whole process, against its baseline.

Figure (issue 3, "Speed"): `sealgate run` of a registered, installed tool whose command is
`["/bin/true"]`, the whole process, median <= 110 ms and <= 1.5x the baseline measured in
the same run. The baseline is the sum of the medians of

- bare bwrap with the runner's namespace, identity and mount arguments and a seccomp filter
  running `/bin/true` (``bench_runner.bare_bwrap``: what ../shared/notes/bwrap.md measured);
- the `sealgate verify` process of the core issue, on the same tool directory
  (`--kind tool`, so the gate applies the tool check as `run` does; a single 1 MiB file as
  in bench_verify.py is no tool and is denied by that check).

The three processes are launched round-robin, one of each per round, so machine noise hits
all of them alike; the run process's audit log and the verify process's are the same home.
The home is development policy (the production policy needs PostgreSQL and trust anchors
the caller cannot write; bench_runner.py measures the runner with the probe cached).
The installed sources are byte-compiled first, as an installed wheel is: with
``PYTHONDONTWRITEBYTECODE`` set and a stale ``__pycache__``, every process would recompile.

Run: `.venv/bin/python benchmarks/bench_run.py [--runs N] [--warmup N] [--click]`; `--click` also
times the same run through the click CLI, as every run went before the click-free fast path.
"""

from __future__ import annotations

import argparse
import compileall
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
from bench_runner import bare_bwrap
from tests.gatehome import build_gate_home, make_tool

import sealgate
from sealgate.runner._launch import SANDBOX_HOST_UID
from sealgate.tools import installed_path

TARGET_MS = 110.0
TARGET_RATIO = 1.5
MANIFEST = """\
name: acme/true
version: 1.0.0
description: runs true
command: ["/bin/true"]
"""


def process(argv: list[str]) -> Callable[[], None]:
    """One launch of ``argv`` as a fresh process; it must exit 0."""

    def run() -> None:
        proc = subprocess.run(argv, capture_output=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr.decode(errors="replace"))
            raise SystemExit(f"benchmark command failed with rc {proc.returncode}: {argv}")

    return run


def interleaved(launches: dict[str, Callable[[], None]], *, runs: int, warmup: int) -> dict[str, list[float]]:
    """Wall times in ms of ``runs`` rounds, each launching every entry once (order rotated)."""
    names = list(launches)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + runs):
        for k in range(len(names)):
            name = names[(i + k) % len(names)]
            t0 = time.perf_counter()
            launches[name]()
            if i >= warmup:
                times[name].append((time.perf_counter() - t0) * 1000)
    return times


def spread(values: list[float]) -> str:
    """p90 and minimum: the minimum is what the code costs when the shared machine is quiet."""
    ordered = sorted(values)
    return f"  p90 {ordered[max(0, int(len(ordered) * 0.9) - 1)]:.1f} ms, min {ordered[0]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--click", action="store_true", help="also time the same run through the click CLI")
    args = parser.parse_args()

    compileall.compile_dir(str(Path(sealgate.__file__).parent), quiet=1)
    sealgate_bin = str(Path(sys.executable).with_name("sealgate"))
    with tempfile.TemporaryDirectory(prefix="sealgate-bench-run-") as tmp:
        home = build_gate_home(Path(tmp) / "home")
        home.register_tool(make_tool(Path(tmp) / "src", MANIFEST))
        tool_dir = installed_path(home.home, "acme/true", "1.0.0")
        workdir = tempfile.mkdtemp(prefix="sealgate-bench-job-")
        if os.geteuid() == 0:
            os.chown(workdir, SANDBOX_HOST_UID, SANDBOX_HOST_UID)
        root = [sealgate_bin, "--home", str(home.root)]
        identity = ["--kind", "tool", "--name", "acme/true", "--version", "1.0.0"]
        launches = {
            "bwrap": bare_bwrap(workdir, ["/bin/true"]),
            "verify": process([*root, "verify", str(tool_dir), *identity]),
            "run": process([*root, "run", "acme/true@1.0.0", "--no-confirm"]),
            "python": process([sys.executable, "-c", "pass"]),
        }
        if args.click:  # what every run cost before the entry point's click-free fast path
            click_main = "import sys; from sealgate.cli import main; sys.exit(main(sys.argv[1:]))"
            launches["click"] = process([sys.executable, "-c", click_main, *root[1:], "run", "acme/true@1.0.0",
                                         "--no-confirm"])  # fmt: skip
        try:
            times = interleaved(launches, runs=args.runs, warmup=args.warmup)
        finally:
            os.rmdir(workdir)

    med = {name: statistics.median(values) for name, values in times.items()}
    baseline = med["bwrap"] + med["verify"]
    print(f"{args.runs} rounds after {args.warmup} warm-up, one launch of each per round; {os.cpu_count()} CPUs",
          flush=True)  # fmt: skip
    report("interpreter start, `python -c pass` (for reference)", med["python"], "ms")
    report("bare bwrap + seccomp, /bin/true", med["bwrap"], "ms")
    print(spread(times["bwrap"]))
    report("`sealgate verify` process, the tool directory (--kind tool)", med["verify"], "ms")
    print(spread(times["verify"]))
    report("baseline: bare bwrap + verify process", baseline, "ms")
    report("`sealgate run acme/true@1.0.0` process", med["run"], "ms", baseline=baseline,
           target=f"<= {TARGET_MS:.0f} ms and <= {TARGET_RATIO:.2f}x baseline")  # fmt: skip
    print(spread(times["run"]))
    if "click" in med:
        report("the same run through the click CLI (no fast path)", med["click"], "ms", baseline=baseline)
    met = med["run"] <= TARGET_MS and med["run"] <= TARGET_RATIO * baseline
    print(f"target {'met' if met else 'NOT met'} in this run", flush=True)


if __name__ == "__main__":
    main()
