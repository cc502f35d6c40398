"""Resource limits: what reaches the sandboxed process, and each exhaustion attack contained."""

from __future__ import annotations

import resource
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sealgate.runner import KillReason, Limits, RunResult
from tests.runner.conftest import Sandbox, processes_with, py

pytestmark = pytest.mark.usefixtures("no_job_dirs_left")


def test_rlimits_reach_the_sandboxed_command(sandbox: Sandbox) -> None:
    limits = Limits(wall_seconds=5, cpu_seconds=7, memory_mib=300, processes=20, output_bytes=4096)
    result = sandbox.run(["/bin/cat", "/proc/self/limits"], limits=limits)
    rows = {line[:26].strip(): line[26:].split()[:2] for line in result.stdout.decode().splitlines()[1:]}
    assert rows["Max cpu time"] == ["7", "8"]
    assert rows["Max address space"] == [str(300 << 20)] * 2
    assert rows["Max processes"] == ["21", "21"]  # + the sandbox's pid 1 (docs/sandbox.md "Limits")
    assert rows["Max file size"] == [str(300 << 20)] * 2
    assert rows["Max core file size"] == ["0", "0"]


FORK_COUNT = r"""
import os, time
n = 0
try:
    while n < 1000:
        if os.fork() == 0:
            time.sleep(20)
            os._exit(0)
        n += 1
    print("unlimited", n)
except OSError as e:
    print("EAGAIN" if e.errno == 11 else e.errno, n)
"""


def test_fork_bomb_contained_by_nproc(sandbox: Sandbox) -> None:
    # The command itself counts: 1 + n children <= 64. Counted per sandbox, not per host user.
    result = sandbox.run(py(FORK_COUNT), limits=Limits(wall_seconds=10, processes=64))
    verdict, forked = result.stdout.split()
    assert verdict == b"EAGAIN" and int(forked) == 63
    assert result.exit_code == 0 and result.duration_s < 5  # pid 1 exited: the sleeping children went with it


def test_parallel_sandboxes_each_get_their_own_process_budget(sandbox: Sandbox) -> None:
    results: list[RunResult] = []

    def run() -> None:
        results.append(sandbox.run(py(FORK_COUNT), limits=Limits(wall_seconds=10, processes=16)))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.stdout for r in results) == [b"EAGAIN 15\n"] * 3


def test_shell_fork_bomb_killed_at_wall_timeout_with_no_survivors(sandbox: Sandbox) -> None:
    marker = f"bomb{secrets.token_hex(6)}"
    script = f"{marker}() {{ {marker} | {marker} & }}; {marker}; sleep 30"
    result = sandbox.run(["/bin/sh", "-c", script], limits=Limits(wall_seconds=1.5, processes=32))
    assert result.timed_out and result.killed_reason is KillReason.WALL_TIMEOUT
    assert result.exit_code is None and result.signal == 9
    assert result.duration_s < 5
    time.sleep(0.2)
    assert processes_with(marker.encode()) == []


def test_sleep_past_timeout_killed_with_its_children(sandbox: Sandbox) -> None:
    marker = f"{60 + secrets.randbelow(1000) / 1000:.3f}"
    seen: list[int] = []

    def watch() -> None:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(seen) < 2:
            seen[:] = processes_with(b"sleep\0" + marker.encode())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = sandbox.run(["/bin/sh", "-c", f"sleep {marker} & sleep {marker}; wait"], limits=Limits(wall_seconds=1))
    watcher.join()
    assert len(seen) == 2, "both sleeps (parent's child and grandchild) were running on the host"
    assert result.timed_out and result.exit_code is None
    assert 1 <= result.duration_s < 3
    for pid in seen:
        for _ in range(50):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    alive = marker.encode() in fh.read()
            except OSError:
                alive = False
            if not alive:
                break
            time.sleep(0.02)
        assert not alive, f"sleep {pid} survived the timeout"


def test_memory_hog_stopped_by_rlimit_as(sandbox: Sandbox) -> None:
    code = "b = bytearray(1 << 30)\nprint('allocated')"
    result = sandbox.run(py(code), limits=Limits(memory_mib=128))
    assert result.exit_code == 1 and b"MemoryError" in result.stderr
    assert result.stdout == b""
    # ru_maxrss of the children also counts the launcher's fork before it execs bwrap, a copy
    # of this (large, late in a full run) test process: only a peak above both means the
    # limit failed.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.max_rss_kib < 128 * 1024 or result.max_rss_kib <= own


def test_endless_stdout_truncated_at_cap_and_killed(sandbox: Sandbox) -> None:
    result = sandbox.run(["/usr/bin/yes"], limits=Limits(output_bytes=64 * 1024, wall_seconds=10))
    assert result.killed_reason is KillReason.OUTPUT_LIMIT and not result.timed_out
    assert result.stdout_truncated and len(result.stdout) == 64 * 1024
    assert result.stdout.startswith(b"y\ny\n")
    assert result.exit_code is None and result.duration_s < 3


def test_endless_stderr_truncated_at_cap_and_killed(sandbox: Sandbox) -> None:
    result = sandbox.run(["/bin/sh", "-c", "yes >&2"], limits=Limits(output_bytes=1000, wall_seconds=10))
    assert result.killed_reason is KillReason.OUTPUT_LIMIT
    assert result.stderr_truncated and len(result.stderr) == 1000 and not result.stdout_truncated


def test_output_exactly_at_cap_is_not_truncated(sandbox: Sandbox) -> None:
    result = sandbox.run(["/bin/sh", "-c", "head -c 5000 /dev/zero"], limits=Limits(output_bytes=5000))
    assert result.exit_code == 0 and len(result.stdout) == 5000 and not result.stdout_truncated
    assert result.killed_reason is None


def test_cpu_burner_stopped_by_rlimit_cpu(sandbox: Sandbox) -> None:
    result = sandbox.run(py("while True: pass"), limits=Limits(cpu_seconds=1, wall_seconds=10))
    assert not result.timed_out
    assert result.signal == 24  # SIGXCPU at the soft limit (bwrap reports 128 + 24)
    assert 0.9 <= result.cpu_seconds < 2.5


def test_huge_file_write_stopped_by_rlimit_fsize(sandbox: Sandbox) -> None:
    code = (
        "import errno\n"
        "f = open('/job/big', 'wb')\n"
        "try:\n"
        "    for _ in range(64): f.write(b'\\0' * (1 << 20)); f.flush()\n"
        "    print('wrote 64 MiB')\n"
        "except OSError as e: print(errno.errorcode[e.errno])"
    )
    result = sandbox.run(py(code), limits=Limits(memory_mib=32))
    assert result.stdout == b"EFBIG\n"


def test_tmp_is_a_private_tmpfs_sized_by_the_memory_limit(sandbox: Sandbox) -> None:
    code = (
        "import errno, os\n"
        "try:\n"
        "    for i in range(8):\n"
        "        with open(f'/tmp/f{i}', 'wb') as f: f.write(b'\\0' * (8 << 20))\n"
        "    print('wrote 64 MiB')\n"
        "except OSError as e: print(errno.errorcode[e.errno])"
    )
    result = sandbox.run(py(code), limits=Limits(memory_mib=32))
    assert result.stdout == b"ENOSPC\n"


def test_resource_use_measured(sandbox: Sandbox) -> None:
    code = (
        "import time\nb = bytearray(64 << 20)\nb[::4096] = b'x' * len(b[::4096])\n"
        "t = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    )
    result = sandbox.run(py(code))
    assert result.exit_code == 0
    assert result.cpu_seconds >= 0.3
    assert result.max_rss_kib >= 64 * 1024
    assert result.outcome()["cpu_ms"] == round(result.cpu_seconds * 1000)


def test_runner_killed_takes_the_sandbox_with_it() -> None:
    # --die-with-parent, the backstop: if the runner itself dies, nothing it started survives.
    marker = f"{61 + secrets.randbelow(1000) / 1000:.3f}"
    code = (
        "from sealgate.runner._bwrap import run_bwrap\n"
        "from sealgate.runner import SandboxSpec, Limits\n"
        f"run_bwrap(SandboxSpec(['/bin/sh', '-c', 'sleep {marker} & sleep {marker}'], limits=Limits(wall_seconds=30)))"
    )
    before = set(Path("/tmp").glob("sealgate-job-*"))
    runner = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 10
        while len(processes_with(b"sleep\0" + marker.encode())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        sleeps = processes_with(b"sleep\0" + marker.encode())
        assert len(sleeps) == 2
    finally:
        runner.kill()
        runner.wait()
    for _ in range(100):
        if not processes_with(b"sleep\0" + marker.encode()):
            break
        time.sleep(0.02)
    assert processes_with(b"sleep\0" + marker.encode()) == []
    # A runner killed with SIGKILL cannot delete its work directory (docs/sandbox.md "Not covered").
    for leftover in set(Path("/tmp").glob("sealgate-job-*")) - before:
        shutil.rmtree(leftover)
