"""The gate on quotes (issue 4, "Speed"): `sealgate attest verify` as a process, and in-process rates.

Both figures come with their baseline, measured in the same run, with the real SGX sample
of ../shared/vectors/dcap (verified at 1750334171, its collateral window) and a registry
whose entry `signal` registers its MRENCLAVE:

* whole process: `sealgate attest verify --quote … --collateral … --name signal
  --report-data … --at …` (the click CLI, the registry view, the policy, dcap-qvl, the
  enclave check, a durable audit append) against a fresh Python that imports `dcap_qvl`
  and verifies the same quote once. Interleaved run by run; target: median <= 3x.
* in-process, pinned to one core: the gate's decision on the quote (verify, entry lookup
  and match, approvals, policy, audit append) with one shared gate and several threads
  (group commit), and with one thread (one durable commit each), against bare
  `dcap_qvl.verify` of the same quote with the collateral parsed once. Target: >= 800
  quotes/s. `--profile` adds where the time of one thread goes (cProfile, by own time).

On a busy machine wall times drift; `--instructions` also counts the instructions of one
process per side under valgrind, a figure that does not depend on the load.

Prints figures only; it never fails a build.
Usage: `.venv/bin/python benchmarks/bench_attest_gate.py [--runs N] [--seconds S]
[--threads N] [--cpu N] [--profile] [--instructions]`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT), str(ROOT / "src")]  # ROOT: for tests.gatehome

import dcap_qvl  # noqa: E402
from _harness import report  # noqa: E402
from bench_attest import BARE_PROCESS, instructions, interleaved_processes_ms  # noqa: E402
from tests.enclaves.test_attest_gate import HELLO, SGX_AT, enclave_policy, register, sgx_entry  # noqa: E402
from tests.gatehome import GateHome, build_gate_home  # noqa: E402

from sealgate.enclaves._attest import attest, open_enclave_gate  # noqa: E402
from sealgate.enclaves._check import Evidence  # noqa: E402

VECTORS = ROOT.parent / "shared" / "vectors" / "dcap"


def build_home(root: Path) -> GateHome:
    gh = build_gate_home(root)
    gh.namespaces = set()  # type: ignore[attr-defined]
    gh.set_policy(enclave_policy(gh))
    register(gh, "signal", sgx_entry())
    return gh


def rate(fn: object, seconds: float, threads: int = 1) -> float:
    """Calls per second of ``fn`` over ``seconds``, from ``threads`` threads."""
    assert callable(fn)
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            fn()
            n += 1
        counts[i] = n

    t0 = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="fresh processes per side (default 21)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per in-process figure (default 5)")
    parser.add_argument("--threads", type=int, default=4, help="threads sharing the gate (default 4)")
    parser.add_argument("--cpu", type=int, default=None, help="the core to pin to (default: the last allowed)")
    parser.add_argument("--profile", action="store_true", help="profile one thread's decisions")
    parser.add_argument("--instructions", action="store_true", help="also count each process's instructions (valgrind)")
    args = parser.parse_args()
    if not VECTORS.is_dir():
        raise SystemExit(f"the DCAP vectors are not at {VECTORS}")
    quote_path, collateral_path = VECTORS / "sgx_quote", VECTORS / "sgx_quote_collateral.json"
    quote, collateral = quote_path.read_bytes(), collateral_path.read_bytes()

    with tempfile.TemporaryDirectory(prefix="bench-attest-gate-") as tmp:
        gh = build_home(Path(tmp) / "home")

        # -- whole process ---------------------------------------------------------------------
        sealgate = str(Path(sys.executable).with_name("sealgate"))
        processes = {
            "bare": [sys.executable, "-c", BARE_PROCESS, str(quote_path), str(collateral_path), str(SGX_AT)],
            "sealgate": [sealgate, "--home", str(gh.root), "attest", "verify", "--quote", str(quote_path),
                         "--collateral", str(collateral_path), "--name", "signal", "--report-data", HELLO.hex(),
                         "--at", str(SGX_AT)],
        }  # fmt: skip
        times = interleaved_processes_ms(processes, runs=args.runs, env={})
        bare, ours = statistics.median(times["bare"]), statistics.median(times["sealgate"])
        print(f"whole process, {args.runs} fresh processes per side (interleaved); median, then minimum:")
        report("  python: import dcap_qvl, verify the SGX sample once", bare, "ms")
        report("  sealgate attest verify (gate, audit append)", ours, "ms", baseline=bare, target="<= 3x")
        report("  minimum, bare", min(times["bare"]), "ms")
        report("  minimum, sealgate attest verify", min(times["sealgate"]), "ms", baseline=min(times["bare"]))
        if args.instructions:
            if shutil.which("valgrind") is None:
                raise SystemExit("--instructions needs valgrind on PATH")
            counts = {name: instructions(argv, {}) / 1e6 for name, argv in processes.items()}
            print("whole process, instructions executed (callgrind, one run each; independent of the load):")
            report("  python: import dcap_qvl, verify once", counts["bare"], "M instructions")
            report("  sealgate attest verify", counts["sealgate"], "M instructions", baseline=counts["bare"],
                   target="<= 3x")  # fmt: skip

        # -- in-process, one core ---------------------------------------------------------------
        allowed = sorted(os.sched_getaffinity(0))
        cpu = allowed[-1] if args.cpu is None else args.cpu
        os.sched_setaffinity(0, {cpu})
        parsed = dcap_qvl.QuoteCollateralV3.from_json(collateral.decode())
        evidence = Evidence(quote=quote, collateral=collateral, at=SGX_AT, report_data=HELLO, historical=True)
        gate = open_enclave_gate(gh.home, database_url=None)
        try:
            for _ in range(20):  # warm-up: opens the audit log before threads share the gate; fills caches
                attest("signal", evidence, gate=gate)
                dcap_qvl.verify(quote, parsed, SGX_AT)

            def decide() -> object:
                return attest("signal", evidence, gate=gate)

            bare_rate = rate(lambda: dcap_qvl.verify(quote, parsed, SGX_AT), args.seconds)
            group_rate = rate(decide, args.seconds, threads=args.threads)
            single_rate = rate(decide, args.seconds)
            print(f"in-process, pinned to core {cpu}, {args.seconds:.0f} s each:")
            report("  bare dcap_qvl.verify (collateral parsed once)", bare_rate, "quotes/s")
            report(f"  gate on quotes, {args.threads} threads sharing one gate (group commit)", group_rate,
                   "quotes/s", baseline=bare_rate, target=">= 800/s")  # fmt: skip
            report("  gate on quotes, one thread (one durable commit each)", single_rate, "quotes/s",
                   baseline=bare_rate)  # fmt: skip
            print(f"  per quote: bare {1e6 / bare_rate:.0f} µs, gate {1e6 / group_rate:.0f} µs "
                  f"(+{1e6 / group_rate - 1e6 / bare_rate:.0f} µs)")  # fmt: skip
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(500):
                    decide()
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
                print("where one thread's time goes (500 decisions, by own time):")
                print(out.getvalue())
        finally:
            gate.close()


if __name__ == "__main__":
    main()
