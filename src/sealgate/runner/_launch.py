"""Start a sandbox process and supervise it: rlimits, the wall clock, output caps, kill, ``wait4``.

This module and its callers in ``runner/`` are the only place sealgate spawns a process
(ARCHITECTURE.md "Never: ... code outside runner/ spawns a process").

**Limits.** ``RLIMIT_AS``, ``RLIMIT_CPU``, ``RLIMIT_NPROC``, ``RLIMIT_FSIZE`` and
``RLIMIT_CORE=0`` are set by ``/usr/bin/prlimit`` (util-linux) *inside* the sandbox,
immediately before it execs the command, and never on bwrap. Setting them on bwrap
(``preexec_fn``) would also cap bwrap's own user namespace: the kernel records the creator's
``RLIMIT_NPROC`` as that namespace's ceiling for the real uid, so concurrent sandboxes
would share one count of 64. Setting them with ``prlimit(2)`` from here after the fork needs
``CAP_SYS_RESOURCE`` over the sandbox's user namespace, which a root caller without that
capability (as in these containers) does not have: it was refused with EPERM. Lowering
one's own limits needs no privilege, so the wrapper works for every caller; tests read
``/proc/self/limits`` inside the sandbox to show what reaches the command.

**Who runs it.** A root caller's sandbox runs as the real uid 65534 (``SANDBOX_HOST_UID``):
``RLIMIT_NPROC`` is not enforced for the real root user at all (measured: 500 forks under
a limit of 64), and with its own uid every sandbox's user namespace counts its processes
separately (measured: 62 forks + 2 processes, three sandboxes in parallel).

**Killing.** The child starts in its own session (``start_new_session``), so the runner can
kill its whole process group; for bwrap the command's host pid arrives on ``--info-fd`` and
is killed through a pidfd as well (killing pid 1 of a pid namespace kills everything in
it); ``--die-with-parent`` is the backstop if this process dies.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Final

from sealgate.errors import SandboxError
from sealgate.runner._spec import KillReason, Limits, RunResult

__all__ = ["PRLIMIT", "SANDBOX_HOST_UID", "limits_prefix", "run_process"]

#: The real uid (and gid) a root caller's sandbox runs as.
SANDBOX_HOST_UID: Final = 65534
PRLIMIT: Final = "/usr/bin/prlimit"
#: How long to keep draining pipes after a kill or after the command exited.
KILL_GRACE_S: Final = 2.0
_CHUNK: Final = 1 << 16
_MAX_INFO: Final = 1 << 16


def limits_prefix(limits: Limits, *, extra_processes: int = 0) -> list[str]:
    """``prlimit`` with soft = hard limits (CPU: SIGXCPU at the limit, SIGKILL a second later).

    ``extra_processes`` raises ``RLIMIT_NPROC`` for processes the runner itself puts in the
    count (the bwrap backend's pid 1), so the tool's own tree gets exactly ``processes``.
    """
    if not os.access(PRLIMIT, os.X_OK):
        raise SandboxError(f"{PRLIMIT} (util-linux) is missing; resource limits cannot be applied, refusing to run")
    mem = limits.memory_bytes
    cpu = limits.cpu_seconds
    nproc = limits.processes + extra_processes
    return [
        PRLIMIT,
        f"--as={mem}:{mem}",
        f"--cpu={cpu}:{cpu + 1}",
        f"--nproc={nproc}:{nproc}",
        f"--fsize={mem}:{mem}",
        "--core=0:0",
        "--",
    ]


class _Stream:
    __slots__ = ("buf", "cap", "truncated")

    def __init__(self, cap: int) -> None:
        self.buf = bytearray()
        self.cap = cap
        self.truncated = False

    def add(self, data: bytes) -> bool:
        """Keep what fits under the cap; True when this chunk went over it."""
        if self.truncated:
            return False
        room = self.cap - len(self.buf)
        if len(data) > room:
            self.buf += data[:room]
            self.truncated = True
            return True
        self.buf += data
        return False


def _parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


class _Supervisor:
    def __init__(self, proc: subprocess.Popen[bytes], limits: Limits, info_fd: int | None, start: float) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        self.limits = limits
        self.start = start
        self.info_fd = info_fd
        self.info = bytearray()
        self.pidfd: int | None = os.pidfd_open(proc.pid)
        self.init_pidfd: int | None = None
        self.killed: KillReason | None = None
        self.streams = {
            proc.stdout.fileno(): _Stream(limits.output_bytes),
            proc.stderr.fileno(): _Stream(limits.output_bytes),
        }
        self.reaped = False

    def kill(self, reason: KillReason | None) -> None:
        if reason is not None and self.killed is None:
            self.killed = reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # not reaped yet: the group id cannot be reused
        if self.init_pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)

    def _read_info(self) -> bool:
        """Read bwrap's --info-fd JSON; remember the command's pid. True when done with the fd."""
        assert self.info_fd is not None
        chunk = os.read(self.info_fd, 4096)
        self.info += chunk
        if not chunk or len(self.info) > _MAX_INFO:
            return True
        try:
            doc = json.loads(self.info)
        except ValueError:
            return False
        pid = doc.get("child-pid") if isinstance(doc, dict) else None
        if type(pid) is int and pid > 1:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                return True
            # The pidfd names the process that had this pid when it was opened. Only bwrap's
            # sandbox child has bwrap as its parent, so a reused pid is never signalled.
            if _parent_pid(pid) == self.proc.pid:
                self.init_pidfd = pidfd
            else:
                os.close(pidfd)
        return True

    def supervise(self) -> None:
        poller = select.poll()
        assert self.pidfd is not None
        poller.register(self.pidfd, select.POLLIN)
        for fd in self.streams:
            poller.register(fd, select.POLLIN)
        if self.info_fd is not None:
            poller.register(self.info_fd, select.POLLIN)
        open_streams = len(self.streams)
        exited = False
        deadline = self.start + self.limits.wall_seconds
        grace_until: float | None = None  # set once the command exited or was killed
        while open_streams or not exited:
            now = time.monotonic()
            if grace_until is not None and now >= grace_until:
                break  # exited or killed, and something still holds a pipe: stop reading
            running = not exited and self.killed is None
            if running and now >= deadline:
                self.kill(KillReason.WALL_TIMEOUT)
                grace_until = now + KILL_GRACE_S
                continue
            until = deadline if running else float("inf")
            if grace_until is not None:
                until = min(until, grace_until)
            events = poller.poll(max(0, math.ceil((until - now) * 1000)))
            for fd, _event in events:
                if fd == self.pidfd:
                    exited = True
                    poller.unregister(fd)
                    # Anything left in the process group only holds the pipes now (the process
                    # backend has no pid namespace to take it down): end it, then drain.
                    self.kill(None)
                    if grace_until is None:
                        grace_until = time.monotonic() + KILL_GRACE_S
                elif fd == self.info_fd:
                    if self._read_info():
                        poller.unregister(fd)
                        os.close(fd)
                        self.info_fd = None
                else:
                    data = os.read(fd, _CHUNK)
                    if not data:
                        poller.unregister(fd)
                        open_streams -= 1
                    elif self.streams[fd].add(data) and self.killed is None and not exited:
                        self.kill(KillReason.OUTPUT_LIMIT)
                        grace_until = time.monotonic() + KILL_GRACE_S

    def reap(self) -> tuple[int, resource.struct_rusage]:
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.reaped = True
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return status, usage

    def close(self) -> None:
        if not self.reaped:
            self.kill(None)
            self.reap()
        for fd in (self.pidfd, self.init_pidfd, self.info_fd):
            if fd is not None:
                os.close(fd)
        self.pidfd = self.init_pidfd = self.info_fd = None
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def run_process(
    argv: Sequence[str],
    *,
    limits: Limits,
    pass_fds: Sequence[int],
    env: Mapping[str, str],
    cwd: str,
    close_after_spawn: Sequence[int],
    info_fd: int | None,
    bwrap_status: bool,
) -> RunResult:
    """Spawn ``argv`` and supervise it to the end. Closes ``close_after_spawn`` and ``info_fd`` in every case.

    ``bwrap_status``: the exit status comes from bwrap, which reports a command killed by
    signal N as 128+N; decode it.
    """
    # A root caller's sandbox runs as SANDBOX_HOST_UID (module docstring, "Who runs it").
    drop = os.geteuid() == 0
    start = time.monotonic()
    try:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=tuple(pass_fds),
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
                user=SANDBOX_HOST_UID if drop else None,
                group=SANDBOX_HOST_UID if drop else None,
                extra_groups=[] if drop else None,
            )
        finally:
            for fd in close_after_spawn:
                os.close(fd)
    except (OSError, subprocess.SubprocessError) as exc:
        if info_fd is not None:
            os.close(info_fd)
        raise SandboxError(f"could not start the sandbox ({argv[0]}): {exc}") from exc
    try:
        sup = _Supervisor(proc, limits, info_fd, start)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if info_fd is not None:
            os.close(info_fd)
        if isinstance(exc, OSError):  # pidfd_open(2) needs Linux 5.3
            raise SandboxError(f"cannot supervise the sandbox process: {exc}") from exc
        raise
    try:
        sup.supervise()
        status, usage = sup.reap()
    finally:
        sup.close()
    duration = time.monotonic() - start
    exit_code: int | None
    sig: int | None = None
    if os.WIFSIGNALED(status):
        exit_code, sig = None, os.WTERMSIG(status)
    else:
        exit_code = os.WEXITSTATUS(status)
        if bwrap_status and 128 < exit_code <= 128 + 64:
            sig = exit_code - 128
    if sup.killed is not None:
        exit_code, sig = None, int(signal.SIGKILL)
    out, err = sup.streams.values()
    return RunResult(
        exit_code=exit_code,
        signal=sig,
        stdout=bytes(out.buf),
        stderr=bytes(err.buf),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        duration_s=duration,
        timed_out=sup.killed is KillReason.WALL_TIMEOUT,
        killed_reason=sup.killed,
        max_rss_kib=usage.ru_maxrss,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )
