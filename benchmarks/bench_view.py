"""Benchmark the gate's offline registry view: ``RegistryView.load`` + one lookup.

Builds two registries with python-tuf (``tests/registry/tufgen.py``) in the client-cache
layout the gate reads, shaped like sealgate's: policy, an advisory and an index document in
the top-level targets, one terminating namespace role ``tools.acme`` (``tools/acme/*/*``)
delegating to succinct hash bins, and entries carrying sha256, a ~200-byte ``custom`` and two
~600-byte DSSE-envelope-shaped statements.

* 1,000 entries in 16 bins (~62 per bin), 100,000 entries in 256 bins (~390 per bin);
  ``--bit-length`` changes the number of bins of the large registry.

For each it prints, with the ratio against a baseline measured in the same run:

* in-process: median of ``load`` + one lookup (a different bin each time, so every run
  reads and verifies one bin), against reading and ``json.loads``-ing the same six files;
* fresh process: median wall time of ``python -c`` doing load + lookup (what
  ``sealgate verify`` pays for this step, interpreter start included), against a fresh
  ``python -c "import json, hashlib; ..."`` that only reads and parses the same files;
  a third process adds ``import sealgate.crypto.keys`` (cryptography, dataclasses, pathlib),
  which the gate needs for DSSE anyway, to show the view's own share.

Usage: ``.venv/bin/python benchmarks/bench_view.py [--quick] [--runs N] [--keep DIR]``.
``--quick`` builds 1,000 and 10,000 entries and runs fewer repetitions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.registry.tufgen import TufRepo, entry_custom  # noqa: E402

from sealgate.registry.view import RegistryView  # noqa: E402


def build(trust: Path, entries: int, bit_length: int) -> list[str]:
    """Build and write a registry; return the entry paths."""
    started = time.perf_counter()
    repo = TufRepo()
    repo.add_target("policy/trust-policy.json", b'{"environment":"production","version":1}')
    repo.add_target("advisories/SG-2024-0001", b'{"id":"SG-2024-0001"}')
    repo.add_target("index/tool/acme/tool0", b'{"_type":"sealgate/index/v1","versions":["1.0.0"]}')
    repo.add_namespace("tools/acme", bit_length=bit_length)
    paths = []
    for i in range(entries):
        path = f"tools/acme/tool{i // 10}/1.{i % 10}.0"
        digest = hashlib.sha256(path.encode()).hexdigest()
        repo.add_target(path, length=4096 + i, hashes={"sha256": digest}, custom=entry_custom(path, statements=2))
        paths.append(path)
    repo.publish()
    repo.write_trust(trust)
    sizes = sorted(p.stat().st_size for p in (trust / "metadata").glob("tools.acme-*.json"))
    print(
        f"built {entries:,} entries in {2**bit_length} bins in {time.perf_counter() - started:.1f} s; "
        f"bin files {sizes[0] / 1024:.0f}-{sizes[-1] / 1024:.0f} KiB, "
        f"entry custom {len(json.dumps(entry_custom(paths[0], statements=2)))} B",
        flush=True,
    )
    return paths


def files_for(trust: Path, view: RegistryView, path: str) -> list[Path]:
    """The metadata files one load + lookup of ``path`` reads."""
    entry = view.get_target(path)
    assert entry is not None
    names = ["root.json", "timestamp.json", "snapshot.json", "targets.json", "tools.acme.json"]
    names.append(f"{quote(entry.role, safe='')}.json")
    return [trust / "roots" / "1.root.json", *(trust / "metadata" / n for n in names)]


_IN_PROCESS_SCRIPT = """
import json, statistics, sys, time
from pathlib import Path
from sealgate.registry.view import RegistryView
trust, runs, paths = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
now = time.time()
step = max(1, len(paths) // runs)
view_ms, base_ms = [], []
for i in range(runs + 2):
    path = paths[(i * step) % len(paths)]
    started = time.perf_counter()
    view = RegistryView.load(trust, now)
    entry = view.get_target(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert entry is not None and entry.custom["statements"]
    names = ("root.json", "timestamp.json", "snapshot.json", "targets.json", "tools.acme.json", entry.role + ".json")
    files = [trust / "roots" / "1.root.json"] + [trust / "metadata" / name for name in names]
    started = time.perf_counter()
    for file in files:
        json.loads(file.read_bytes())
    if i >= 2:
        view_ms.append(elapsed)
        base_ms.append((time.perf_counter() - started) * 1000)
figures = {"view": view_ms, "base": base_ms}
print(json.dumps({name: [statistics.median(xs), min(xs)] for name, xs in figures.items()}))
"""


def in_process(trust: Path, paths: list[str], runs: int, env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """(median, min) ms of load + lookup (a different bin each run), and of reading and
    ``json.loads``-ing the same files, measured inside one fresh process (not this one,
    whose heap holds the whole builder and slows the garbage collector).
    """
    sample = paths[:: max(1, len(paths) // (runs + 2))][: runs + 2]
    result = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS_SCRIPT, str(trust), str(runs), *sample],
        env={**os.environ, **env},
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr.decode(errors="replace"))
        raise SystemExit("in-process benchmark failed")
    figures = json.loads(result.stdout)
    return {name: (values[0], values[1]) for name, values in figures.items()}


_VIEW_SCRIPT = """
import sys, time
from pathlib import Path
from sealgate.registry.view import RegistryView
view = RegistryView.load(Path(sys.argv[1]), time.time())
assert view.get_target(sys.argv[2]) is not None
"""

_BASELINE_SCRIPT = """
import json, hashlib, sys
for name in sys.argv[1:]:
    with open(name, "rb") as f:
        data = f.read()
    hashlib.sha256(data).digest()
    json.loads(data)
"""

# The same, plus the modules the view shares with the rest of the gate (the gate imports
# sealgate.crypto.keys, i.e. cryptography, dataclasses and pathlib, for DSSE anyway).
_SHARED_SCRIPT = "import sealgate.crypto.keys, datetime, fnmatch\n" + _BASELINE_SCRIPT


def fresh_processes(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, tuple[float, float]]:
    """(median, min) wall ms of each command as a fresh process, interleaved run by run.

    Interleaving spreads machine noise (other jobs on a shared VM) evenly over the figures
    that are compared, which sequential batches do not.
    """
    full_env = {**os.environ, **env}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for run in range(runs + 3):
        for name, argv in commands.items():
            started = time.perf_counter()
            result = subprocess.run(argv, env=full_env, capture_output=True, check=False)
            elapsed = (time.perf_counter() - started) * 1000
            if result.returncode != 0:
                sys.stderr.write(result.stderr.decode(errors="replace"))
                raise SystemExit(f"{name} failed with exit status {result.returncode}")
            if run >= 3:  # the first runs warm the page cache and write bytecode caches
                times[name].append(elapsed)
    return {name: (statistics.median(values), min(values)) for name, values in times.items()}


def line(name: str, value: tuple[float, float], baseline: tuple[float, float] | None = None, note: str = "") -> None:
    ratio = f"  = {value[0] / baseline[0]:.2f}x baseline" if baseline else ""
    print(f"  {name:<58} median {value[0]:7.1f} ms (min {value[1]:6.1f}){ratio}{note}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 entries, fewer runs")
    parser.add_argument("--runs", type=int, default=0, help="repetitions per figure (default 31, quick 11)")
    parser.add_argument("--keep", type=Path, help="build the registries here and keep them")
    parser.add_argument("--bit-length", type=int, default=8, help="bins of the large registry: 2**N (default 8)")
    parser.add_argument("--only-large", action="store_true", help="skip the 1,000-entry registry")
    args = parser.parse_args()
    runs = args.runs or (11 if args.quick else 31)
    large = (10_000, args.bit_length, "") if args.quick else (100_000, args.bit_length, "120 ms")
    sizes = [large] if args.only_large else [(1_000, 4, "90 ms"), large]

    with tempfile.TemporaryDirectory(prefix="bench-view-") as tmp:
        base = args.keep or Path(tmp)
        python = sys.executable
        # Measure what an installed gate pays: with bytecode caches. The development shell may
        # set PYTHONDONTWRITEBYTECODE, which would make every fresh process recompile every
        # module; an empty value re-enables caching, kept out of the tree by a cache prefix.
        env = {
            "PYTHONPATH": str(ROOT / "src"),
            "PYTHONDONTWRITEBYTECODE": "",
            "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache"),
        }
        for entries, bit_length, target in sizes:
            trust = base / f"trust-{entries}-{bit_length}"
            paths = build(trust, entries, bit_length)
            print(f"{entries:,} entries:")
            inside = in_process(trust, paths, runs, env)
            line("in-process: read + json.loads of the same files", inside["base"])
            line("in-process: RegistryView.load + 1 lookup", inside["view"], inside["base"])
            probe = paths[len(paths) // 2]
            files = [str(f) for f in files_for(trust, RegistryView.load(trust, time.time()), probe)]
            figures = fresh_processes(
                {
                    "bare": [python, "-c", "pass"],
                    "baseline": [python, "-c", _BASELINE_SCRIPT, *files],
                    "shared": [python, "-c", _SHARED_SCRIPT, *files],
                    "view": [python, "-c", _VIEW_SCRIPT, str(trust), probe],
                },
                env,
                runs,
            )
            line("fresh process: `python -c pass`", figures["bare"])
            line("fresh process: import json, hashlib; read + parse the files", figures["baseline"], figures["bare"])
            note = f"  (whole `sealgate verify` target <= {target})" if target else ""
            line("fresh process: same + import sealgate.crypto.keys", figures["shared"], figures["baseline"])
            line("fresh process: import view; load + 1 lookup", figures["view"], figures["baseline"], note)
            extra = figures["view"][0] - figures["baseline"][0]
            own = figures["view"][0] - figures["shared"][0]
            print(
                f"  -> the view adds {extra:.1f} ms to a process that only reads and parses the same files, "
                f"{own:.1f} ms beyond the imports it shares with the rest of the gate"
            )


if __name__ == "__main__":
    main()
