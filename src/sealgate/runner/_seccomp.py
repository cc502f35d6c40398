"""The sandbox's seccomp filter: a deny-list compiled once per process to classic BPF for ``bwrap --seccomp``.

Built as in ../shared/notes/seccomp.md ("Filter and BPF export", verified there inside bwrap):
default ALLOW, the 13 verified syscalls answer EPERM, ``clone`` with ``CLONE_NEWUSER``
answers EPERM (the ``unshare`` rule alone does not cover it), and ``clone3`` answers ENOSYS
(its flags sit behind a pointer seccomp cannot read; glibc 2.36 then falls back to
``clone``). The filter covers the native architecture only and kills any other
(``ACT_BADARCH`` = KILL, also the x32 ABI), as the notes verified.

Beyond the notes, as hardening of the same deny-list: every other namespace-creating
``clone`` flag (issue 3, "namespace-creating clone flags"), the new mount API (``fsopen``
... ``mount_setattr``, which would otherwise side-step the ``mount`` rule), ``pivot_root``
and ``chroot``, the ptrace-like ``process_vm_readv/writev`` and ``pidfd_getfd``, and
syscalls no tool needs (kernel modules, kexec, reboot, swap, ``open_by_handle_at``,
``userfaultfd``, ``acct``, ``quotactl``). tests/runner/test_seccomp.py pins the compiled
program's rules.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from typing import Final

from sealgate.errors import Reason, SandboxError
from sealgate.runner._fds import sealed_memfd

__all__ = ["DENIED_SYSCALLS", "NAMESPACE_CLONE_FLAGS", "seccomp_bpf", "seccomp_memfd", "seccomp_pfc", "seccomp_sha256"]

#: The 13 syscalls of seccomp.md, verified to answer EPERM inside bwrap.
NOTES_DENIED: Final = (
    "ptrace", "mount", "umount2", "keyctl", "add_key", "request_key", "bpf",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "unshare", "setns", "perf_event_open",
)  # fmt: skip

#: Hardening beyond the notes (see the module docstring); all answer EPERM.
EXTRA_DENIED: Final = (
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "pivot_root", "chroot",
    "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "open_by_handle_at", "userfaultfd", "acct", "quotactl",
)  # fmt: skip

DENIED_SYSCALLS: Final = NOTES_DENIED + EXTRA_DENIED

#: ``clone`` flags that create a namespace; ``clone`` with any of them answers EPERM.
NAMESPACE_CLONE_FLAGS: Final = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

_lock = threading.Lock()
_bpf: bytes | None = None


def _build_filter() -> object:
    try:
        import pyseccomp as seccomp
    except (ImportError, RuntimeError, OSError) as exc:  # RuntimeError: "Unable to find libseccomp"
        raise SandboxError(f"seccomp is unavailable (pyseccomp / libseccomp.so.2): {exc}") from exc
    try:
        filt = seccomp.SyscallFilter(seccomp.ALLOW)
        for name in DENIED_SYSCALLS:
            filt.add_rule(seccomp.ERRNO(errno.EPERM), name)
        for flag in NAMESPACE_CLONE_FLAGS.values():
            filt.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
        filt.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        if filt.get_attr(seccomp.Attr.ACT_BADARCH) != seccomp.KILL:
            raise SandboxError("libseccomp does not kill foreign-architecture syscalls by default; refusing")
    except SandboxError:
        raise
    except Exception as exc:  # libseccomp reports errors as OSError / ValueError / RuntimeError
        raise SandboxError(f"could not build the seccomp filter: {exc}") from exc
    return filt


def _export(method: str) -> bytes:
    filt = _build_filter()
    fd = os.memfd_create("sealgate-seccomp-export", os.MFD_CLOEXEC)
    try:
        with open(fd, "w+b", closefd=False) as fh:
            getattr(filt, method)(fh)
        os.lseek(fd, 0, os.SEEK_SET)
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except SandboxError:
        raise
    except Exception as exc:
        raise SandboxError(f"could not export the seccomp filter: {exc}", reason=Reason.INTERNAL_ERROR) from exc
    finally:
        os.close(fd)


def seccomp_bpf() -> bytes:
    """The filter as raw ``struct sock_filter[]``, built once per process and cached."""
    global _bpf
    if _bpf is None:
        with _lock:
            if _bpf is None:
                program = _export("export_bpf")
                if not program or len(program) % 8:
                    raise SandboxError("libseccomp exported an empty or malformed BPF program")
                _bpf = program
    return _bpf


def seccomp_sha256() -> str:
    return hashlib.sha256(seccomp_bpf()).hexdigest()


def seccomp_memfd() -> int:
    """A fresh sealed memfd with the program, for one launch (a reused fd fails: seccomp.md)."""
    return sealed_memfd("sealgate-seccomp", seccomp_bpf())


def seccomp_pfc() -> str:
    """libseccomp's readable pseudo-code of the same filter, for review and tests."""
    return _export("export_pfc").decode("utf-8", "replace")
