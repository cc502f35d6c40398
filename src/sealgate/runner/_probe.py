"""The start-up probe: a canary run that proves the bwrap sandbox contains what it claims to.

Issue 3 ("Start-up probe"): the canary, ``/usr/bin/python3`` inside the real sandbox (pyenv
and venv interpreters live under the home directory, which is not bound; bwrap.md), must
see only ``lo`` in ``/proc/net/dev``, must not see a file planted in the caller's
``$HOME``, must run with ``Seccomp: 2``, ``NoNewPrivs: 1``, ``CapEff`` 0 and uid 65534, and
``unshare(CLONE_NEWUSER)`` must fail with EPERM (the seccomp filter; ``--disable-userns``
alone would answer ENOSPC).

A passing result is cached in memory, and optionally in a file the caller names, under a
key that changes whenever what was probed may have changed: the SHA-256 of the bwrap
binary, the kernel's boot id (``/proc/sys/kernel/random/boot_id``), the compiled seccomp
program and the probe's own version. Failures are never cached, so a repaired host is
probed again at the next call.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
import threading
import time
from pathlib import Path
from typing import Any, Final

from sealgate._dataclass import dataclass
from sealgate.errors import Reason, SandboxError
from sealgate.runner._bwrap import SANDBOX_UID, bwrap_binary, run_bwrap
from sealgate.runner._seccomp import seccomp_sha256
from sealgate.runner._spec import Limits, SandboxSpec

__all__ = ["PROBE_VERSION", "ProbeCheck", "ProbeResult", "clear_probe_cache", "probe_cache_key", "probe_sandbox"]

PROBE_VERSION: Final = "sealgate-probe-v1"
SYSTEM_PYTHON: Final = "/usr/bin/python3"
BOOT_ID: Final = Path("/proc/sys/kernel/random/boot_id")
MAX_CACHE_FILE: Final = 64 * 1024
_LIMITS: Final = Limits(wall_seconds=10, cpu_seconds=10, memory_mib=256, processes=8, output_bytes=64 * 1024)

# Runs inside the sandbox. argv[1]: the planted file ("" if none could be planted); argv[2]: $HOME.
CANARY: Final = r"""
import ctypes, errno, json, os, sys
out = {}
with open("/proc/net/dev") as f:
    out["interfaces"] = sorted(l.split(":", 1)[0].strip() for l in f.read().splitlines()[2:] if ":" in l)
out["planted_visible"] = bool(sys.argv[1]) and os.path.lexists(sys.argv[1])
out["home_visible"] = os.path.lexists(sys.argv[2])
status = {}
with open("/proc/self/status") as f:
    for line in f:
        key, _, value = line.partition(":")
        status[key] = value.strip()
out["seccomp"] = status.get("Seccomp")
out["no_new_privs"] = status.get("NoNewPrivs")
out["cap_eff"] = status.get("CapEff")
out["uid"] = os.getuid()
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.unshare(0x10000000)
code = ctypes.get_errno()
out["userns"] = "created" if rc == 0 else errno.errorcode.get(code, str(code))
print(json.dumps(out))
"""


@dataclass(frozen=True, slots=True)
class ProbeCheck:
    """One property the canary checked: its name, whether it held, and what was observed."""

    name: str
    passed: bool
    observed: str


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of a probe. ``ok`` only when every check passed; ``error`` when the canary could not run."""

    ok: bool
    key: str
    bwrap_sha256: str
    boot_id: str
    checks: tuple[ProbeCheck, ...]
    error: str | None
    cached: bool
    duration_s: float

    def summary(self) -> str:
        if self.ok:
            return f"sandbox probe passed ({len(self.checks)} checks)"
        failed = [f"{c.name} (observed {c.observed})" for c in self.checks if not c.passed]
        return "sandbox probe failed: " + (self.error or ", ".join(failed))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "key": self.key,
            "bwrap_sha256": self.bwrap_sha256,
            "boot_id": self.boot_id,
            "checks": [{"name": c.name, "passed": c.passed, "observed": c.observed} for c in self.checks],
            "error": self.error,
            "duration_s": self.duration_s,
        }


_lock = threading.RLock()
_memory: dict[str, ProbeResult] = {}
_sha_memo: dict[tuple[int, int, int, int, int], str] = {}


def clear_probe_cache() -> None:
    """Forget every in-memory probe result (the next call probes again, or reads the cache file)."""
    with _lock:
        _memory.clear()


def _file_sha256(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        memo_key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = _sha_memo.get(memo_key)
        if cached is not None:
            return cached
        h = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
    finally:
        os.close(fd)
    _sha_memo[memo_key] = h.hexdigest()
    return _sha_memo[memo_key]


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError as exc:
        raise SandboxError(f"cannot read {BOOT_ID}: {exc.strerror}") from exc


def probe_cache_key(bwrap: Path | None = None) -> str:
    """The cache key for a probe of ``bwrap`` (default: the bundled binary) on this boot."""
    return _key(_file_sha256(bwrap or bwrap_binary()), _boot_id())


def _key(bwrap_sha256: str, boot_id: str) -> str:
    material = "\n".join((PROBE_VERSION, bwrap_sha256, boot_id, seccomp_sha256()))
    return hashlib.sha256(material.encode()).hexdigest()


def _read_cache_file(path: Path, key: str) -> ProbeResult | None:
    """A passing result from ``path`` if it is trustworthy and for ``key``; else None (probe again).

    Trusted only if it is a regular file (not a symlink) owned by this process's user and
    not writable by group or others: anyone else who could write it could forge a pass.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
        if st.st_size > MAX_CACHE_FILE:
            return None
        doc = json.loads(os.read(fd, MAX_CACHE_FILE))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    try:
        if doc["_type"] != PROBE_VERSION or doc["key"] != key or doc["ok"] is not True:
            return None
        checks = tuple(ProbeCheck(str(c["name"]), c["passed"] is True, str(c["observed"])) for c in doc["checks"])
        if not checks or not all(c.passed for c in checks):
            return None
        return ProbeResult(
            ok=True,
            key=key,
            bwrap_sha256=str(doc["bwrap_sha256"]),
            boot_id=str(doc["boot_id"]),
            checks=checks,
            error=None,
            cached=True,
            duration_s=float(doc["duration_s"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _write_cache_file(path: Path, result: ProbeResult) -> None:
    data = json.dumps({"_type": PROBE_VERSION, **result.to_json()}, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        # The cache file is an optimisation: failing to write it only costs a probe next time.
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _plant_in_home(home: Path) -> Path | None:
    """Create a uniquely named file in the caller's home, or None if the home is not writable."""
    planted = home / f".sealgate-probe-{secrets.token_hex(8)}"
    try:
        fd = os.open(planted, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        os.write(fd, b"sealgate probe canary: must be invisible inside the sandbox\n")
    finally:
        os.close(fd)
    return planted


def _evaluate(out: dict[str, Any], planted: Path | None) -> tuple[ProbeCheck, ...]:
    cap_eff = str(out.get("cap_eff"))
    try:
        caps_zero = int(cap_eff, 16) == 0
    except ValueError:
        caps_zero = False
    hidden = out.get("planted_visible") is False and out.get("home_visible") is False
    how = "planted file and home directory" if planted else "home directory (home not writable, nothing planted)"
    return (
        ProbeCheck("only-loopback", out.get("interfaces") == ["lo"], repr(out.get("interfaces"))),
        ProbeCheck("home-invisible", hidden, f"{how}: visible={not hidden}"),
        ProbeCheck("seccomp-filter", out.get("seccomp") == "2", f"Seccomp: {out.get('seccomp')}"),
        ProbeCheck("no-new-privs", out.get("no_new_privs") == "1", f"NoNewPrivs: {out.get('no_new_privs')}"),
        ProbeCheck("no-capabilities", caps_zero, f"CapEff: {cap_eff}"),
        ProbeCheck("unprivileged-uid", out.get("uid") == SANDBOX_UID, f"uid {out.get('uid')}"),
        ProbeCheck("no-user-namespace", out.get("userns") == "EPERM", f"unshare(CLONE_NEWUSER): {out.get('userns')}"),
    )


def _run_canary(key: str, bwrap_sha256: str, boot_id: str) -> ProbeResult:
    start = time.monotonic()
    home = Path(os.path.expanduser("~"))
    planted = _plant_in_home(home) if home.is_absolute() else None
    error: str | None = None
    checks: tuple[ProbeCheck, ...] = ()
    try:
        argv = [SYSTEM_PYTHON, "-I", "-S", "-c", CANARY, str(planted or ""), str(home)]
        with SandboxSpec(argv, limits=_LIMITS) as spec:
            result = run_bwrap(spec)
        if result.exit_code != 0:
            tail = result.stderr.decode("utf-8", "replace").strip()[-300:]
            error = f"the canary exited with {result.exit_code} (signal {result.signal}): {tail}"
        else:
            try:
                out = json.loads(result.stdout)
            except ValueError:
                out = None
            if not isinstance(out, dict):
                error = "the canary printed no readable report"
            else:
                checks = _evaluate(out, planted)
    except SandboxError as exc:
        error = str(exc)
    finally:
        if planted is not None:
            with contextlib.suppress(OSError):
                planted.unlink()
    ok = error is None and bool(checks) and all(c.passed for c in checks)
    return ProbeResult(ok, key, bwrap_sha256, boot_id, checks, error, False, time.monotonic() - start)


def probe_sandbox(production: bool, *, cache_file: Path | None = None) -> ProbeResult:
    """Prove the bwrap sandbox works here (cached per bwrap binary and boot).

    With ``production=True`` a failed probe raises :class:`SandboxError` (fail closed); in
    development the failed :class:`ProbeResult` is returned for the caller to report.
    ``cache_file`` optionally keeps a passing result across processes (see
    :func:`_read_cache_file` for when it is trusted).
    """
    if type(production) is not bool:
        raise TypeError("production must be True or False")
    with _lock:
        try:
            bwrap = bwrap_binary()
            bwrap_sha256 = _file_sha256(bwrap)
            boot_id = _boot_id()
            key = _key(bwrap_sha256, boot_id)
        except SandboxError as exc:
            result = ProbeResult(False, "", "", "", (), str(exc), False, 0.0)
        else:
            hit = _memory.get(key)
            if hit is None and cache_file is not None:
                hit = _read_cache_file(cache_file, key)
                if hit is not None:
                    _memory[key] = hit
            if hit is not None:
                return ProbeResult(
                    hit.ok, hit.key, hit.bwrap_sha256, hit.boot_id, hit.checks, None, True, hit.duration_s
                )
            result = _run_canary(key, bwrap_sha256, boot_id)
            if result.ok:
                _memory[key] = result
                if cache_file is not None:
                    _write_cache_file(cache_file, result)
    if production and not result.ok:
        raise SandboxError(result.summary(), reason=Reason.SANDBOX_UNAVAILABLE)
    return result
