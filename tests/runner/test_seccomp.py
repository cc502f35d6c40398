"""The seccomp program itself: built once, fresh descriptor per launch, rules pinned for review."""

from __future__ import annotations

import fcntl
import os
import re

from sealgate.runner._fds import SEALS
from sealgate.runner._seccomp import (
    DENIED_SYSCALLS,
    NAMESPACE_CLONE_FLAGS,
    NOTES_DENIED,
    seccomp_bpf,
    seccomp_memfd,
    seccomp_pfc,
)


def test_filter_compiled_once_per_process() -> None:
    assert seccomp_bpf() is seccomp_bpf()
    assert len(seccomp_bpf()) % 8 == 0  # struct sock_filter[]


def test_fresh_sealed_descriptor_per_launch() -> None:
    # seccomp.md: bwrap reads the fd to EOF, so a reused fd fails with EINVAL; one per launch.
    a, b = seccomp_memfd(), seccomp_memfd()
    try:
        assert a != b
        for fd in (a, b):
            assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) == SEALS
            assert os.read(fd, 1 << 16) == seccomp_bpf()
    finally:
        os.close(a)
        os.close(b)


def test_filter_rules_pinned() -> None:
    pfc = seccomp_pfc()
    assert set(NOTES_DENIED) <= set(DENIED_SYSCALLS)
    for name in DENIED_SYSCALLS:
        assert re.search(rf'syscall "{name}" .*\n\s+if \(\$syscall == \d+\)\n\s+action ERRNO\(1\);', pfc), name
    assert re.search(r'syscall "clone3" .*\n\s+if \(\$syscall == \d+\)\n\s+action ERRNO\(38\);', pfc)  # ENOSYS
    for flag in NAMESPACE_CLONE_FLAGS.values():
        assert f"if ($a0.lo32 & 0x{flag:08x} == {flag})\n        action ERRNO(1);" in pfc
    assert "  # default action\n  action ALLOW;" in pfc
    assert "# invalid architecture action\naction KILL;" in pfc  # i386 / x32 syscalls are killed
    assert pfc.count("# filter for arch") == 1
