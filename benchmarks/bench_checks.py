"""Benchmark command analysis over the whole command corpus against bare ``bashlex.parse``.

For every command of ``tests/vectors/commands/`` (seed and generated), in the same run:

* baseline: ``bashlex.parse`` of the command text (argv entries are joined with spaces, as
  a shell would see them typed; an unparseable command costs its failed parse);
* ``analyse_command`` on the same entry (shell string or argv, as the corpus says);
* for reference, ``bashlex.parse`` of every text the analyser itself parses for that entry
  (the command, plus each ``sh -c`` string, ``find -exec sh -c`` string, ``awk`` ``system()``
  string… inside it; argv entries parse only such inner strings). The ratio against this one
  is the analyser's own overhead; the ratio against the first is the issue's target.

Each command is timed ``--rounds`` times per side, interleaved, and its minimum kept (the
cost of the code, not of the machine's noise); the figures are p50 and p99 over commands and
the total, with the ratio analyse / parse. Targets from issue 3: ratio <= 1.5x, p50 <= 500 µs,
p99 <= 3 ms. Prints figures only; it never fails a build.

Usage: ``.venv/bin/python benchmarks/bench_checks.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import bashlex  # noqa: E402
from _harness import report  # noqa: E402

from sealgate.checks import analyse_command  # noqa: E402

CORPUS = ROOT / "tests" / "vectors" / "commands"


def load() -> list[tuple[str | list[str], bool]]:
    entries: list[tuple[str | list[str], bool]] = []
    for name in ("seed.jsonl", "generated.jsonl"):
        for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                entries.append((row["command"], True) if "command" in row else (row["argv"], False))
    return entries


def bare_parse(text: str) -> None:
    # The baseline pays for failed parses too, as the analyser does.
    with contextlib.suppress(Exception):
        bashlex.parse(text)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def parsed_texts(entries: list[tuple[str | list[str], bool]]) -> list[list[str]]:
    """For each entry, every text ``analyse_command`` hands to ``bashlex.parse`` (recorded, not guessed)."""
    seen: list[str] = []
    real_parse = bashlex.parse

    def recording_parse(text: str, *args: object, **kwargs: object) -> object:
        seen.append(text)
        return real_parse(text, *args, **kwargs)

    texts: list[list[str]] = []
    bashlex.parse = recording_parse
    try:
        for command, shell in entries:
            seen.clear()
            analyse_command(command, shell=shell)
            texts.append(list(seen))
    finally:
        bashlex.parse = real_parse
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timings per command and side (minimum kept)")
    args = parser.parse_args()
    entries = load()
    for command, shell in entries:  # warm-up: imports, regex compilation, bashlex tables
        analyse_command(command, shell=shell)
        bare_parse(command if isinstance(command, str) else " ".join(command))
    inner = parsed_texts(entries)
    parse_us: list[float] = []
    all_parses_us: list[float] = []
    analyse_us: list[float] = []
    clock = time.perf_counter_ns
    for (command, shell), texts in zip(entries, inner, strict=True):
        text = command if isinstance(command, str) else " ".join(command)
        best_parse = best_all = best_analyse = float("inf")
        for _ in range(args.rounds):
            t0 = clock()
            bare_parse(text)
            t1 = clock()
            analyse_command(command, shell=shell)
            t2 = clock()
            for each in texts:
                bare_parse(each)
            t3 = clock()
            best_parse = min(best_parse, (t1 - t0) / 1000)
            best_analyse = min(best_analyse, (t2 - t1) / 1000)
            best_all = min(best_all, (t3 - t2) / 1000)
        parse_us.append(best_parse)
        analyse_us.append(best_analyse)
        all_parses_us.append(best_all)
    shell_count = sum(1 for _, shell in entries if shell)
    parses = sum(len(t) for t in inner)
    print(
        f"corpus: {len(entries)} commands ({shell_count} shell strings, {len(entries) - shell_count} argv lists); "
        f"the analyser parses {parses} texts ({parses / len(entries):.2f} per command)"
    )
    p50_parse, p50_analyse = statistics.median(parse_us), statistics.median(analyse_us)
    p99_parse, p99_analyse = percentile(parse_us, 0.99), percentile(analyse_us, 0.99)
    report("bashlex.parse p50", p50_parse, "µs")
    report("analyse_command p50", p50_analyse, "µs", baseline=p50_parse, target="<= 500 µs, <= 1.5x")
    report("bashlex.parse p99", p99_parse, "µs")
    report("analyse_command p99", p99_analyse, "µs", baseline=p99_parse, target="<= 3000 µs")
    report("bashlex.parse total", sum(parse_us) / 1000, "ms")
    report("analyse_command total", sum(analyse_us) / 1000, "ms", baseline=sum(parse_us) / 1000, target="<= 1.5x")
    groups = (
        ("plain words, no bashlex", [i for i, t in enumerate(inner) if not t]),
        ("one bashlex parse", [i for i, t in enumerate(inner) if len(t) == 1]),
        ("inner shell strings, 2+ parses", [i for i, t in enumerate(inner) if len(t) > 1]),
    )
    for name, group in groups:
        report(
            f"analyse_command total, {len(group)} commands with {name}",
            sum(analyse_us[i] for i in group) / 1000,
            "ms",
            baseline=sum(parse_us[i] for i in group) / 1000,
        )
    parsed = [i for i, t in enumerate(inner) if t]
    report(
        "own overhead: analyse_command vs bashlex.parse of every text it parses",
        sum(analyse_us[i] for i in parsed) / 1000,
        "ms",
        baseline=sum(all_parses_us[i] for i in parsed) / 1000,
    )


if __name__ == "__main__":
    main()
