"""Run user-supplied regexes on examples with a time budget, in a separate Python process.

A rule file is untrusted input, and Python's ``re`` backtracks: ``(a+)+$`` on forty ``a``
and a ``b`` runs for minutes, and a running match cannot be stopped from another thread.
So every compile and match happens in a worker process (``python -I``, standard library
only, address space capped at 1 GiB) that answers one job at a time; the parent waits at
most ``match_timeout`` seconds per job (a fresh worker first says it is ready) and
kills the worker when a job overruns, restarting it for the next one. A job that ran out of
time, of memory, or of the run's total budget comes back as an error, which the comparison
treats like a failed match: it never passes a check.

What is measured is *coverage*: the characters of the example that the pattern's
``finditer`` matches (empty matches do not count), as a tuple of merged ``(start, end)``
spans.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Final

__all__ = ["MATCH_TIMEOUT", "TOTAL_BUDGET", "MatchResult", "Matcher"]

MATCH_TIMEOUT: Final = 1.0
TOTAL_BUDGET: Final = 120.0
_STARTUP_ALLOWANCE: Final = 15.0
_MAX_REPLY: Final = 1 << 20

# The worker: stdin and stdout carry one JSON object per line. It imports nothing of
# sealgate (it runs with -I: no site-packages of the user, no PYTHON* variables, no cwd).
_WORKER: Final = r"""
import json, re, resource, sys
try:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
except (ValueError, OSError):
    pass
cache = {}
out = sys.stdout.buffer
out.write(b"{}\n")
out.flush()
for line in sys.stdin.buffer:
    job = json.loads(line)
    try:
        key = (job["p"], job["b"], job["f"])
        rx = cache.get(key)
        if rx is None:
            pattern = job["p"].encode("latin-1") if job["b"] else job["p"]
            rx = cache[key] = re.compile(pattern, job["f"])
        text = job["s"].encode("utf-8") if job["b"] else job["s"]
        spans = []
        for m in rx.finditer(text):
            start, end = m.span()
            if end <= start:
                continue
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        reply = {"spans": spans}
    except re.error as exc:
        reply = {"error": "does not compile: " + str(exc)}
    except MemoryError:
        reply = {"error": "ran out of memory"}
    except RecursionError:
        reply = {"error": "too deeply nested"}
    except Exception as exc:
        reply = {"error": type(exc).__name__ + ": " + str(exc)}
    out.write(json.dumps(reply).encode("ascii") + b"\n")
    out.flush()
"""


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What a pattern matched in one example: merged spans, or why nothing could be said."""

    spans: tuple[tuple[int, int], ...] = ()
    error: str | None = None

    @property
    def matched(self) -> bool:
        return self.error is None and bool(self.spans)

    def covers(self, other: MatchResult) -> bool:
        """True when every character ``other`` matched is matched here too (both without error)."""
        if self.error is not None or other.error is not None:
            return False
        mine = self.spans
        return all(any(s <= start and end <= e for s, e in mine) for start, end in other.spans)


_FLAG_VALUES: Final = {
    "IGNORECASE": 2,
    "MULTILINE": 8,
    "DOTALL": 16,
    "VERBOSE": 64,
    "ASCII": 256,
    "UNICODE": 32,
}


class Matcher:
    """Evaluates (pattern, flags, example) jobs in a worker process; results are cached.

    Use as a context manager (or call :meth:`close`) so the worker is always ended.
    """

    def __init__(self, *, match_timeout: float = MATCH_TIMEOUT, total_budget: float = TOTAL_BUDGET) -> None:
        self._timeout = match_timeout
        self._deadline = time.monotonic() + total_budget
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._cache: dict[tuple[str | bytes, frozenset[str], str], MatchResult] = {}

    def __enter__(self) -> Matcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self._buffer = b""
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()

    def _start(self) -> subprocess.Popen[bytes] | str:
        """A fresh worker that said it is ready (an empty JSON line), or why there is none."""
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self._proc = proc
        self._buffer = b""
        # Start-up gets its own allowance, so a slow machine does not eat a job's budget.
        ready = self._read_line(proc, min(time.monotonic() + _STARTUP_ALLOWANCE, self._deadline))
        if ready != b"{}":
            self._kill()
            return "not evaluated: the regex worker did not start"
        return proc

    def search(self, pattern: str | bytes, flags: frozenset[str], text: str) -> MatchResult:
        key = (pattern, flags, text)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._run(pattern, flags, text)
        return cached

    def _run(self, pattern: str | bytes, flags: frozenset[str], text: str) -> MatchResult:
        if time.monotonic() >= self._deadline:
            return MatchResult(error="not evaluated: the run's total time budget for regexes is spent")
        proc = self._proc or self._start()
        if isinstance(proc, str):
            return MatchResult(error=proc)
        assert proc.stdin is not None and proc.stdout is not None
        is_bytes = isinstance(pattern, bytes)
        job = {
            "p": pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern,
            "b": is_bytes,
            "f": sum(_FLAG_VALUES[f] for f in flags),
            "s": text,
        }
        deadline = min(time.monotonic() + self._timeout, self._deadline)
        try:
            proc.stdin.write(json.dumps(job).encode("ascii") + b"\n")
            proc.stdin.flush()
            line = self._read_line(proc, deadline)
        except OSError:
            line = "the regex worker ended without an answer"
        if isinstance(line, str):
            self._kill()
            return MatchResult(error=line)
        try:
            reply = json.loads(line)
            if "error" in reply:
                return MatchResult(error=str(reply["error"])[:300])
            spans = tuple((int(s), int(e)) for s, e in reply["spans"])
        except (ValueError, KeyError, TypeError):
            self._kill()
            return MatchResult(error="the regex worker gave an unreadable answer")
        return MatchResult(spans=spans)

    def _read_line(self, proc: subprocess.Popen[bytes], deadline: float) -> bytes | str:
        """The worker's next answer line, or why there is none (a sentence)."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        overran = f"did not finish within {self._timeout:g} s (catastrophic backtracking?)"
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return overran
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return overran
            chunk = os.read(fd, 65536)
            if not chunk:
                return "the regex worker ended without an answer (out of memory?)"
            if len(self._buffer) + len(chunk) > _MAX_REPLY:
                return "the regex worker's answer is too large"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line
