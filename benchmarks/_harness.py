"""Shared benchmark helpers: time fresh processes and print figure + ratio lines."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

__all__ = ["median_process_ms", "report"]


def median_process_ms(argv: Sequence[str], *, runs: int, warmup: int = 3, env: dict[str, str] | None = None,
                      expect_rc: int = 0) -> float:
    """Median wall time in ms of running ``argv`` as a fresh process ``runs`` times."""
    full_env = {**os.environ, **(env or {})}
    times: list[float] = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        proc = subprocess.run(list(argv), env=full_env, capture_output=True)
        dt = (time.perf_counter() - t0) * 1000
        if proc.returncode != expect_rc:
            sys.stderr.write(proc.stderr.decode(errors="replace"))
            raise SystemExit(f"benchmark command failed with rc {proc.returncode}: {argv}")
        if i >= warmup:
            times.append(dt)
    return statistics.median(times)


def report(name: str, value: float, unit: str, *, baseline: float | None = None, target: str = "") -> None:
    ratio = f"  ratio {value / baseline:.2f}x baseline ({baseline:.1f} {unit})" if baseline else ""
    goal = f"  [target {target}]" if target else ""
    print(f"{name}: {value:.1f} {unit}{ratio}{goal}", flush=True)
