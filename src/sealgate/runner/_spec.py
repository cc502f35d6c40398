"""What a sandboxed run may do (:class:`SandboxSpec`, :class:`Limits`, :class:`HostPath`) and what it did
(:class:`RunResult`).

Every value is validated when it is built (CONVENTIONS.md "Valid by construction"): limits
above the hard caps of issue 3 are refused, sandbox paths must be absolute and normalised
and may not land on a system directory, and declared host paths are **opened once, here**,
without following a symlink anywhere in the path (ARCHITECTURE.md, gate step 6). The spec
keeps those descriptors and the sandbox binds them, so renaming another file over a declared
path, or planting a symlink there, after the spec was built changes nothing.
"""

from __future__ import annotations

import contextlib
import enum
import math
import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from sealgate._dataclass import dataclass, field
from sealgate.digest import DEFAULT_MAX_ARTIFACT_SIZE
from sealgate.errors import Reason, SandboxError
from sealgate.runner._fds import open_host_path

if TYPE_CHECKING:
    from sealgate.tokens import VerifiedArtifact

__all__ = [
    "HARD_CAPS",
    "HOST_NAME",
    "JOB_DIR",
    "MAX_NETWORK_EVENTS",
    "MAX_NETWORK_HOSTS",
    "MIN_NETWORK_MEMORY_MIB",
    "PROXY_ENV",
    "RESERVED_DIRS",
    "HostPath",
    "KillReason",
    "Limits",
    "NetworkEvent",
    "RunResult",
    "SandboxSpec",
    "artifact_files",
]

#: Hard caps of issue 3 ("Defaults and hard caps that the policy may lower but never raise past").
HARD_CAPS: Final[Mapping[str, float]] = MappingProxyType(
    {"wall_seconds": 30, "cpu_seconds": 30, "memory_mib": 512, "processes": 64, "output_bytes": 1 << 20}
)

#: The private writable work directory inside the sandbox (a fresh host temp dir, deleted after).
JOB_DIR: Final = "/job"

#: Sandbox paths a spec may not place anything on or under: the system directories the
#: runner mounts itself (bwrap.md "Minimal argument set") and the ones a tool could use to
#: pass for the system (``/etc``, ``/var``, ...).
RESERVED_DIRS: Final = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
    "/sys", "/tmp", "/usr", "/var",  # noqa: S108 - sandbox paths, compared, never opened on the host
)  # fmt: skip

# Host paths that are never bound: kernel interfaces, devices and the runtime directories
# where Unix sockets (D-Bus, the SSH agent, container engines) live.
_FORBIDDEN_HOST_ROOTS: Final = ("/dev", "/proc", "/run", "/sys", "/var/run")

MAX_FILES: Final = 1024
MAX_FILES_BYTES: Final = DEFAULT_MAX_ARTIFACT_SIZE
MAX_HOST_PATHS: Final = 64
MAX_ARGV: Final = 4096
MAX_ARGV_BYTES: Final = 256 * 1024
MAX_ENV: Final = 256
MAX_ENV_BYTES: Final = 256 * 1024
MAX_PATH_LENGTH: Final = 1024

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
#: Variables the runner sets itself (bwrap.md: ``--clearenv`` then PATH and HOME).
RUNNER_ENV: Final = ("HOME", "PATH")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: One entry of a network allow-list: a lower-case DNS name, the tool manifest's ``network.allow`` syntax.
HOST_NAME: Final = re.compile(
    r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)
MAX_NETWORK_HOSTS: Final = 64
#: Variables the runner sets when ``network`` is an allow-list (they point at the in-sandbox relay).
PROXY_ENV: Final = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")
#: The in-sandbox relay is ``/usr/bin/python3`` under the run's ``RLIMIT_AS``; it needs about 16 MiB
#: (measured: 12 MiB fails, 16 MiB starts), so a networked run needs at least twice that.
MIN_NETWORK_MEMORY_MIB: Final = 32
#: How many egress events a :class:`RunResult` keeps (the counts are always exact).
MAX_NETWORK_EVENTS: Final = 256


def _invalid(message: str) -> SandboxError:
    return SandboxError(message, reason=Reason.INVALID_ARGUMENT)


def _is_number(value: object) -> bool:
    return type(value) in (int, float)


class KillReason(enum.Enum):
    """Why the runner killed a sandbox before it finished on its own."""

    WALL_TIMEOUT = "wall-timeout"
    OUTPUT_LIMIT = "output-limit"


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one run. The defaults are the hard caps; larger values are refused (``too-large``).

    - ``wall_seconds``: wall-clock time, after which the whole process tree is killed.
    - ``cpu_seconds``: ``RLIMIT_CPU`` of every process (SIGXCPU at the limit, SIGKILL one second later).
    - ``memory_mib``: ``RLIMIT_AS`` of every process; also the ``RLIMIT_FSIZE`` of any one file and
      the size of the private ``/tmp``.
    - ``processes``: ``RLIMIT_NPROC``, counted per sandbox (see docs/sandbox.md "Limits").
    - ``output_bytes``: what is kept of stdout and of stderr, each; more kills the run.
    """

    wall_seconds: float = HARD_CAPS["wall_seconds"]
    cpu_seconds: int = int(HARD_CAPS["cpu_seconds"])
    memory_mib: int = int(HARD_CAPS["memory_mib"])
    processes: int = int(HARD_CAPS["processes"])
    output_bytes: int = int(HARD_CAPS["output_bytes"])

    def __post_init__(self) -> None:
        if not _is_number(self.wall_seconds) or not math.isfinite(self.wall_seconds) or self.wall_seconds <= 0:
            raise _invalid(f"wall_seconds must be a positive number, not {self.wall_seconds!r}")
        for name in ("cpu_seconds", "memory_mib", "processes", "output_bytes"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise _invalid(f"{name} must be a positive integer, not {value!r}")
        for name, cap in HARD_CAPS.items():
            if getattr(self, name) > cap:
                raise SandboxError(
                    f"{name}={getattr(self, name)!r} is above the hard cap of {cap:g}; the cap cannot be raised",
                    reason=Reason.TOO_LARGE,
                )

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib << 20


@dataclass(frozen=True, slots=True)
class HostPath:
    """A host file or directory the tool may use, bound at ``target`` inside the sandbox.

    ``writable`` has no default: a writable binding is a choice to spell out. The path is
    opened (and checked for symlinks) when a :class:`SandboxSpec` is built, not here.
    """

    host: Path
    target: str
    writable: bool

    def __post_init__(self) -> None:
        if not isinstance(self.host, Path):
            raise _invalid(f"HostPath.host must be a pathlib.Path, not {type(self.host).__name__}")
        if type(self.writable) is not bool:
            raise _invalid("HostPath.writable must be True or False")
        _check_sandbox_path(self.target, "host path target")


def _check_sandbox_path(path: object, what: str) -> PurePosixPath:
    """A sandbox path: absolute, normalised, no ``..``, not a system directory, not ``/job`` itself."""
    if not isinstance(path, str):
        raise _invalid(f"{what} must be a string, not {type(path).__name__}")
    if not path.startswith("/") or len(path) > MAX_PATH_LENGTH or _CONTROL.search(path):
        raise _invalid(f"{what} {path!r} must be an absolute path without control characters")
    parts = path.split("/")[1:]
    if any(part in ("", ".", "..") for part in parts):
        raise _invalid(f"{what} {path!r} must be normalised: no empty, '.' or '..' components")
    pure = PurePosixPath(path)
    if path == JOB_DIR:
        raise _invalid(f"{what} {path!r} is the work directory itself; use a path below it")
    for reserved in RESERVED_DIRS:
        if path == reserved or pure.is_relative_to(reserved):
            raise _invalid(f"{what} {path!r} overlaps the system directory {reserved}")
    return pure


def _check_host_path(host: Path) -> None:
    text = str(host)
    if not host.is_absolute() or _CONTROL.search(text):
        raise _invalid(f"host path {text!r} must be absolute and without control characters")
    if any(part in (".", "..") for part in text.split("/")):
        raise _invalid(f"host path {text!r} must not contain '.' or '..' components")
    if host == Path("/"):
        raise _invalid("the host root directory cannot be bound into a sandbox")
    for root in _FORBIDDEN_HOST_ROOTS:
        if host == Path(root) or host.is_relative_to(root):
            raise _invalid(f"host path {text} is under {root} (devices, kernel interfaces, sockets); refused")


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """One sandboxed command: argv, environment, shipped files, host paths and limits.

    - ``argv``: the command; ``argv[0]`` is looked up in the sandbox's ``PATH`` (``/usr/bin:/bin``).
    - ``env``: the only variables the command sees, besides ``PATH`` and ``HOME`` (``/job``),
      which the runner sets and a spec may not override.
    - ``files``: sandbox path -> ``(mode, bytes)``; passed as sealed memfds, mounted read-only.
      Build them from the token with :func:`artifact_files`.
    - ``host_paths``: opened here, once, without following symlinks; bound by descriptor.
    - ``network``: ``"none"`` (the default: no network at all), or the tool's allow-list, a list of
      1 to 64 lower-case DNS names (the manifest's ``network.allow``). An allow-list is enforced
      by the egress proxy outside the sandbox (docs/sandbox.md "Network"); the tool reaches it
      through ``HTTPS_PROXY``, which the runner sets, with the other ``PROXY_ENV`` variables.
      The validated value is ``"none"`` or a tuple; :attr:`network_hosts` is the tuple either way.

    The spec owns the host path descriptors: use it as a context manager or call
    :meth:`close` when done. It can be run any number of times until then.
    """

    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, tuple[int, bytes]] = field(default_factory=dict)
    host_paths: Sequence[HostPath] = ()
    limits: Limits = field(default_factory=Limits)
    network: str | Sequence[str] = "none"
    _host_fds: list[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_host_fds", [])
        argv = _validate_argv(self.argv)
        env = _validate_env(self.env)
        files = _validate_files(self.files)
        host_paths = _validate_host_paths(self.host_paths)
        if not isinstance(self.limits, Limits):
            raise _invalid(f"limits must be a Limits, not {type(self.limits).__name__}")
        network = _validate_network(self.network)
        if network != "none":
            for key in PROXY_ENV:
                if key in env:
                    raise _invalid(f"environment variable {key} is set by the runner when network is an allow-list")
            if self.limits.memory_mib < MIN_NETWORK_MEMORY_MIB:
                raise _invalid(
                    f"a run with a network allow-list needs memory_mib >= {MIN_NETWORK_MEMORY_MIB}: the in-sandbox "
                    "egress relay (/usr/bin/python3) runs under the same memory limit"
                )
        _check_overlaps([*files, *(hp.target for hp in host_paths)])
        object.__setattr__(self, "argv", argv)
        object.__setattr__(self, "env", MappingProxyType(env))
        object.__setattr__(self, "files", MappingProxyType(files))
        object.__setattr__(self, "host_paths", host_paths)
        object.__setattr__(self, "network", network)
        # Open last, so that a validation error above leaks no descriptor.
        fds: list[int] = []
        try:
            for hp in host_paths:
                _check_host_path(hp.host)
                fds.append(open_host_path(hp.host))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        self._host_fds.extend(fds)

    @property
    def network_hosts(self) -> tuple[str, ...]:
        """The allow-list, or ``()`` when ``network`` is ``"none"``."""
        return self.network if isinstance(self.network, tuple) else ()

    @property
    def closed(self) -> bool:
        return bool(self.host_paths) and not self._host_fds

    def host_fds(self) -> tuple[int, ...]:
        """The descriptors opened for ``host_paths``, in the same order (``O_PATH``, close-on-exec)."""
        if self.closed:
            raise SandboxError("this SandboxSpec was closed; build a new one", reason=Reason.INVALID_ARGUMENT)
        return tuple(self._host_fds)

    def close(self) -> None:
        """Close the host path descriptors. Idempotent."""
        while self._host_fds:
            os.close(self._host_fds.pop())

    def __enter__(self) -> SandboxSpec:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # half-built, or interpreter shutdown
            self.close()


def _validate_argv(argv: object) -> tuple[str, ...]:
    if isinstance(argv, str | bytes) or not isinstance(argv, Sequence):
        raise _invalid("argv must be a list of strings")
    items = tuple(argv)
    if not items or not items[0]:
        raise _invalid("argv must name a command")
    if len(items) > MAX_ARGV:
        raise SandboxError(f"argv has more than {MAX_ARGV} elements", reason=Reason.TOO_LARGE)
    size = 0
    for item in items:
        if not isinstance(item, str) or "\x00" in item:
            raise _invalid(f"argv elements must be strings without NUL bytes, not {item!r}")
        size += len(item.encode("utf-8", "surrogateescape")) + 1
    if size > MAX_ARGV_BYTES:
        raise SandboxError(f"argv is larger than {MAX_ARGV_BYTES} bytes", reason=Reason.TOO_LARGE)
    return items


def _validate_env(env: object) -> dict[str, str]:
    if not isinstance(env, Mapping):
        raise _invalid("env must be a mapping of strings to strings")
    if len(env) > MAX_ENV:
        raise SandboxError(f"env has more than {MAX_ENV} variables", reason=Reason.TOO_LARGE)
    out: dict[str, str] = {}
    size = 0
    for key, value in env.items():
        if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
            raise _invalid(f"environment variable name {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
        if key in RUNNER_ENV:
            raise _invalid(f"environment variable {key} is set by the runner and cannot be overridden")
        if not isinstance(value, str) or "\x00" in value:
            raise _invalid(f"environment variable {key} must be a string without NUL bytes")
        size += len(key) + len(value.encode("utf-8", "surrogateescape")) + 2
        out[key] = value
    if size > MAX_ENV_BYTES:
        raise SandboxError(f"env is larger than {MAX_ENV_BYTES} bytes", reason=Reason.TOO_LARGE)
    return out


def _validate_network(network: object) -> str | tuple[str, ...]:
    """``"none"``, or the allow-list as a tuple of distinct lower-case DNS names that are not IP addresses."""
    if isinstance(network, str) and network == "none":
        return "none"
    if isinstance(network, str | bytes) or not isinstance(network, Sequence):
        raise _invalid(f'network must be "none" or a list of host names, not {network!r}')
    hosts = tuple(network)
    if not hosts:
        raise _invalid('an empty network allow-list allows nothing; use network="none"')
    if len(hosts) > MAX_NETWORK_HOSTS:
        raise _invalid(f"a network allow-list may name at most {MAX_NETWORK_HOSTS} hosts, not {len(hosts)}")
    # Imported here: only a run with an allow-list pays for the checks package.
    from sealgate.checks._url import _ends_in_number

    seen: set[str] = set()
    for host in hosts:
        if not isinstance(host, str) or HOST_NAME.fullmatch(host) is None:
            raise _invalid(f"network host {host!r} is not a lower-case DNS name")
        if _ends_in_number(host.split(".")):
            # WHATWG (and glibc's inet_aton) read a name whose last label is numeric as an IPv4
            # address (``10.1``, ``0x7f.1``): the allow-list names hosts, never addresses.
            raise _invalid(f"network host {host!r} is an IP address; the allow-list names hosts")
        if host in seen:
            raise _invalid(f"network host {host!r} is listed twice")
        seen.add(host)
    return hosts


def _validate_files(files: object) -> dict[str, tuple[int, bytes]]:
    if not isinstance(files, Mapping):
        raise _invalid("files must be a mapping of sandbox path to (mode, bytes)")
    if len(files) > MAX_FILES:
        raise SandboxError(f"a spec may ship at most {MAX_FILES} files", reason=Reason.TOO_LARGE)
    out: dict[str, tuple[int, bytes]] = {}
    total = 0
    for path, entry in files.items():
        _check_sandbox_path(path, "file path")
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise _invalid(f"file {path}: expected a (mode, bytes) pair")
        mode, data = entry
        if type(mode) is not int or not 0 <= mode <= 0o7777:
            raise _invalid(f"file {path}: mode must be an integer permission mode, not {mode!r}")
        if not isinstance(data, bytes):
            raise _invalid(f"file {path}: content must be bytes")
        total += len(data)
        out[path] = (stat.S_IMODE(mode) & 0o777, data)
    if total > MAX_FILES_BYTES:
        raise SandboxError(f"shipped files exceed {MAX_FILES_BYTES} bytes in total", reason=Reason.TOO_LARGE)
    return out


def _validate_host_paths(host_paths: object) -> tuple[HostPath, ...]:
    if isinstance(host_paths, str | bytes) or not isinstance(host_paths, Sequence):
        raise _invalid("host_paths must be a sequence of HostPath")
    items = tuple(host_paths)
    if len(items) > MAX_HOST_PATHS:
        raise SandboxError(f"a spec may declare at most {MAX_HOST_PATHS} host paths", reason=Reason.TOO_LARGE)
    for item in items:
        if not isinstance(item, HostPath):
            raise _invalid(f"host_paths must hold HostPath values, not {type(item).__name__}")
    return items


def _check_overlaps(targets: list[str]) -> None:
    """No target may equal or contain another: a mount inside another would create its mount point
    in the outer one, which for a host directory means writing to the host."""
    seen: set[str] = set()
    for target in targets:
        if target in seen:
            raise _invalid(f"sandbox path {target!r} is declared twice")
        seen.add(target)
    for target in targets:
        parts = target.split("/")
        for depth in range(2, len(parts)):
            ancestor = "/".join(parts[:depth])
            if ancestor in seen:
                raise _invalid(f"sandbox paths {ancestor!r} and {target!r} overlap")


def artifact_files(token: VerifiedArtifact, mount: str = "/tool") -> dict[str, tuple[int, bytes]]:
    """The token's verified files as a ``files`` mapping for :class:`SandboxSpec`.

    A directory artifact is placed below ``mount`` (``/tool/<relative path>``); a single-file
    artifact is placed at ``mount`` itself (pass e.g. ``"/tool/run.sh"``). The bytes are the
    ones the gate digested, never re-read from disk.
    """
    from sealgate.tokens import VerifiedArtifact

    if not isinstance(token, VerifiedArtifact):
        raise TypeError(f"artifact_files needs a VerifiedArtifact from the gate, not {type(token).__name__}")
    _check_sandbox_path(mount, "mount")
    out: dict[str, tuple[int, bytes]] = {}
    for rel, entry in token.artifact.files.items():
        out[f"{mount}/{rel}" if rel else mount] = entry
    return out


@dataclass(frozen=True, slots=True)
class NetworkEvent:
    """One connection request the egress proxy answered (docs/sandbox.md "Network"); never payload bytes.

    - ``host``, ``port``: the ``CONNECT`` target as the tool asked for it (``host`` lower-cased;
      ``None`` when the request could not be read that far).
    - ``address``: the address the proxy connected to (``allowed``), or the answer that caused a
      refusal (``private-address``, ``metadata-address``, ``connect-failed``); else ``None``.
    - ``verdict``: ``"allowed"`` (the tunnel was opened) or ``"refused"`` (anything else).
    - ``reason``: a stable code: ``allowed``, ``host-not-allowed``, ``ip-literal``,
      ``port-not-allowed``, ``method-not-allowed``, ``bad-request``, ``too-many-connections``,
      ``resolution-failed``, ``private-address``, ``metadata-address``, ``connect-failed``.
    - ``detail``: one human sentence.
    """

    host: str | None
    port: int | None
    address: str | None
    verdict: str
    reason: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "address": self.address,
            "verdict": self.verdict,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one sandboxed run did.

    ``exit_code`` is ``None`` when the runner killed the run; ``signal`` is the signal that
    ended the command when it is known (bwrap reports a command killed by signal N as exit
    status 128+N, like a shell, and the runner decodes that). ``cpu_seconds`` and
    ``max_rss_kib`` come from ``wait4`` and cover the command and every descendant it reaped.

    With a network allow-list, ``network_allowed`` and ``network_refused`` count every
    connection request the egress proxy answered, and ``network_events`` holds the first
    ``MAX_NETWORK_EVENTS`` (256) of them, in order; all three stay empty for ``network="none"``.
    """

    exit_code: int | None
    signal: int | None
    stdout: bytes = field(repr=False)
    stderr: bytes = field(repr=False)
    stdout_truncated: bool
    stderr_truncated: bool
    duration_s: float
    timed_out: bool
    killed_reason: KillReason | None
    max_rss_kib: int
    cpu_seconds: float
    network_allowed: int = 0
    network_refused: int = 0
    network_events: tuple[NetworkEvent, ...] = ()

    def outcome(self) -> dict[str, object]:
        """The fields an outcome audit record carries (ARCHITECTURE.md gate step 7): no output bytes."""
        return {
            "exit_code": self.exit_code,
            "signal": self.signal,
            "stdout_bytes": len(self.stdout),
            "stderr_bytes": len(self.stderr),
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "duration_ms": round(self.duration_s * 1000),
            "timed_out": self.timed_out,
            "killed_reason": self.killed_reason.value if self.killed_reason else None,
            "max_rss_kib": self.max_rss_kib,
            "cpu_ms": round(self.cpu_seconds * 1000),
            "network_allowed": self.network_allowed,
            "network_refused": self.network_refused,
        }
