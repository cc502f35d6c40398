"""What a sandboxed tool cannot do, each test named after the attack (issue 3, "Must hold").

Real bwrap, the real seccomp filter, real processes; production=True, so the start-up
probe runs first.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path

import pyseccomp
import pytest

from sealgate.runner._seccomp import DENIED_SYSCALLS, NAMESPACE_CLONE_FLAGS
from tests.runner.conftest import Sandbox

pytestmark = pytest.mark.usefixtures("no_job_dirs_left")

# Raw syscall() from inside the sandbox; prints the errno name, or "ok".
SYSCALL = r"""
import ctypes, errno, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    if r == 0 and nr == 56:  # a clone that succeeded: the child leaves at once
        os._exit(0)
    return "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()]
"""


def nr(name: str) -> int:
    return int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))


def test_file_planted_in_callers_home_is_invisible(sandbox: Sandbox) -> None:
    home = Path(os.path.expanduser("~"))
    planted = home / f".sealgate-test-secret-{secrets.token_hex(6)}"
    planted.write_text("ssh private key stand-in\n")
    try:
        out = sandbox.json(
            "import json, os, sys\n"
            "def read(p):\n"
            "    try: return open(p).read()\n"
            "    except OSError as e: return type(e).__name__\n"
            "print(json.dumps({'file': read(sys.argv[1]), 'home': os.path.exists(sys.argv[2])}))",
            str(planted),
            str(home),
        )
    finally:
        planted.unlink()
    assert out == {"file": "FileNotFoundError", "home": False}


def test_tcp_listener_on_host_loopback_unreachable(sandbox: Sandbox) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            listener.accept()[0].close()  # reachable from the host itself
        out = sandbox.json(
            "import errno, json, socket, sys\n"
            "s = socket.socket(); s.settimeout(2)\n"
            "try: s.connect(('127.0.0.1', int(sys.argv[1]))); r = 'connected'\n"
            "except OSError as e: r = errno.errorcode.get(e.errno, str(e))\n"
            "print(json.dumps(r))",
            str(port),
        )
        assert out == "ECONNREFUSED"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing from the sandbox arrived


def test_host_network_and_internet_unreachable(sandbox: Sandbox) -> None:
    out = sandbox.json(
        "import errno, json, socket\n"
        "s = socket.socket(); s.settimeout(2)\n"
        "try: s.connect(('1.1.1.1', 80)); r = 'connected'\n"
        "except OSError as e: r = errno.errorcode.get(e.errno, str(e))\n"
        "print(json.dumps(r))"
    )
    assert out == "ENETUNREACH"


def test_only_loopback_interface_visible(sandbox: Sandbox) -> None:
    out = sandbox.json(
        "import json\n"
        "lines = open('/proc/net/dev').read().splitlines()[2:]\n"
        "print(json.dumps(sorted(l.split(':')[0].strip() for l in lines)))"
    )
    assert out == ["lo"]


def test_abstract_unix_socket_on_host_unreachable(sandbox: Sandbox) -> None:
    name = f"\0sealgate-test-{secrets.token_hex(6)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(name)
        listener.listen(1)
        out = sandbox.json(
            "import errno, json, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try: s.connect('\\0' + sys.argv[1]); r = 'connected'\n"
            "except OSError as e: r = errno.errorcode.get(e.errno, str(e))\n"
            "print(json.dumps(r))",
            name[1:],
        )
    assert out == "ECONNREFUSED"


def test_ssh_agent_socket_unreachable(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = tmp_path / "agent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(agent))
        listener.listen(1)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(agent))
        out = sandbox.json(
            "import errno, json, os, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try: s.connect(sys.argv[1]); r = 'connected'\n"
            "except OSError as e: r = errno.errorcode.get(e.errno, str(e))\n"
            "print(json.dumps({'env': os.environ.get('SSH_AUTH_SOCK'), 'connect': r}))",
            str(agent),
        )
    assert out == {"env": None, "connect": "ENOENT"}


def test_runs_as_nobody_with_no_capabilities(sandbox: Sandbox) -> None:
    out = sandbox.json(
        "import json, os, socket\n"
        "st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
        "print(json.dumps({'ids': [os.getuid(), os.geteuid(), os.getgid(), os.getegid()], 'groups': os.getgroups(),\n"
        "  'caps': [int(st[k], 16) for k in ('CapEff', 'CapPrm', 'CapInh', 'CapAmb')],\n"
        "  'nnp': st['NoNewPrivs'].strip(), 'seccomp': st['Seccomp'].strip(), 'host': socket.gethostname()}))"
    )
    assert out == {
        "ids": [65534] * 4,
        "groups": [],  # no supplementary groups at all
        "caps": [0, 0, 0, 0],
        "nnp": "1",
        "seccomp": "2",
        "host": "sandbox",
    }


def test_host_processes_invisible(sandbox: Sandbox) -> None:
    out = sandbox.json(
        "import json, os\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "print(json.dumps({'pids': pids, 'init': open('/proc/1/cmdline').read().split('\\0')[:4]}))"
    )
    # Its own pid namespace: pid 1 is the runner's init shell, pid 2 the command.
    assert out == {"pids": [1, 2], "init": ["/bin/sh", "-c", '"$@"; exit $?', "sealgate-init"]}


def test_ptrace_attach_on_own_child_denied(sandbox: Sandbox) -> None:
    # seccomp.md: PTRACE_TRACEME is the wrong probe (bwrap's pid 1 would trace it); attach to a child.
    out = sandbox.json(
        SYSCALL + "pid = os.fork()\n"
        "if pid == 0:\n"
        "    import time; time.sleep(5); os._exit(0)\n"
        "r = call(101, 16, pid, 0, 0)\n"  # ptrace(PTRACE_ATTACH, pid)
        "os.kill(pid, 9); os.waitpid(pid, 0)\n"
        "print(json.dumps(r))"
    )
    assert out == "EPERM"


def test_mount_denied(sandbox: Sandbox) -> None:
    out = sandbox.json(
        "import ctypes, errno, json\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "r = libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)\n"
        "print(json.dumps('ok' if r == 0 else errno.errorcode[ctypes.get_errno()]))"
    )
    assert out == "EPERM"


def test_unshare_new_user_namespace_denied(sandbox: Sandbox) -> None:
    # Without the filter --disable-userns answers ENOSPC (seccomp.md); EPERM proves the filter.
    out = sandbox.json(SYSCALL + f"print(json.dumps(call({nr('unshare')}, 0x10000000)))")
    assert out == "EPERM"


def test_clone_new_user_namespace_denied(sandbox: Sandbox) -> None:
    out = sandbox.json(SYSCALL + f"print(json.dumps(call({nr('clone')}, 0x10000000 | 17, 0, 0, 0, 0)))")
    assert out == "EPERM"


def test_clone_with_any_namespace_flag_denied_and_clone3_hidden(sandbox: Sandbox) -> None:
    flags = json.dumps(NAMESPACE_CLONE_FLAGS)
    out = sandbox.json(
        SYSCALL + f"flags = json.loads({flags!r})\n"
        f"res = {{n: call({nr('clone')}, f | 17, 0, 0, 0, 0) for n, f in flags.items()}}\n"
        f"res['clone3'] = call({nr('clone3')}, 0, 0)\n"
        "import subprocess, threading\n"  # glibc falls back to clone: processes and threads still work
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "res['subprocess'] = subprocess.run(['/bin/true']).returncode\n"
        "print(json.dumps(res))"
    )
    assert out == {**dict.fromkeys(NAMESPACE_CLONE_FLAGS, "EPERM"), "clone3": "ENOSYS", "subprocess": 0}


def test_every_denied_syscall_answers_eperm(sandbox: Sandbox) -> None:
    numbers = {name: nr(name) for name in DENIED_SYSCALLS}
    out = sandbox.json(
        SYSCALL + f"numbers = json.loads({json.dumps(numbers)!r})\n"
        "print(json.dumps({name: call(n, 0, 0, 0, 0, 0, 0) for name, n in numbers.items()}))"
    )
    assert out == dict.fromkeys(DENIED_SYSCALLS, "EPERM")


def test_system_directories_and_root_cannot_be_written(sandbox: Sandbox) -> None:
    out = sandbox.json(
        "import errno, json\n"
        "def write(p):\n"
        "    try:\n"
        "        with open(p, 'w') as f: f.write('x')\n"
        "        return 'written'\n"
        "    except OSError as e: return errno.errorcode[e.errno]\n"
        "paths = ['/usr/pwned', '/usr/bin/python3', '/pwned', '/etc/passwd', '/bin/sh', '/dev/pwned',\n"
        "         '/proc/sys/kernel/hostname', '/tool/run.sh', '/tool/new', '/job/ok', '/tmp/ok', '/dev/shm/ok']\n"
        "print(json.dumps({p: write(p) for p in paths}))",
        files={"/tool/run.sh": (0o755, b"#!/bin/sh\n")},
    )
    assert out == {
        "/usr/pwned": "EROFS",
        "/usr/bin/python3": "EROFS",
        "/pwned": "EROFS",
        "/etc/passwd": "ENOENT",  # no /etc at all: the root is read-only, so it cannot be created either
        "/bin/sh": "EROFS",
        "/dev/pwned": "EROFS",
        "/proc/sys/kernel/hostname": "EACCES",  # procfs: no capability to write kernel settings
        "/tool/run.sh": "EROFS",
        "/tool/new": "EROFS",
        "/job/ok": "written",
        "/tmp/ok": "written",
        "/dev/shm/ok": "written",
    }


def test_no_host_descriptor_leaks_into_sandbox(sandbox: Sandbox, host_dir: Path) -> None:
    # An inherited O_PATH directory descriptor would let openat(fd, "..") walk the host.
    from sealgate.runner import HostPath

    out = sandbox.json(
        "import json, os\nprint(json.dumps(sorted(int(fd) for fd in os.listdir('/proc/self/fd'))))",
        files={"/tool/a": (0o644, b"a"), "/tool/b": (0o644, b"b")},
        host_paths=[HostPath(host_dir, "/data", writable=False)],
    )
    assert out[:3] == [0, 1, 2] and len(out) == 4  # stdin, stdout, stderr and listdir's own fd


def test_environment_is_only_what_the_spec_declares(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    monkeypatch.setenv("LD_PRELOAD", "/tmp/evil.so")
    result = sandbox.run(["/usr/bin/env"], env={"TOOL_MODE": "fast"})
    assert result.exit_code == 0
    env = dict(line.split("=", 1) for line in result.stdout.decode().splitlines())
    assert env == {"PATH": "/usr/bin:/bin", "HOME": "/job", "PWD": "/job", "TOOL_MODE": "fast"}


def test_terminal_injection_impossible_without_controlling_tty(sandbox: Sandbox) -> None:
    # bwrap.md --new-session: no controlling terminal, so TIOCSTI has nothing to inject into.
    out = sandbox.json(
        "import errno, json, os\n"
        "try: os.open('/dev/tty', os.O_RDWR); r = 'opened'\n"
        "except OSError as e: r = errno.errorcode[e.errno]\n"
        "print(json.dumps({'tty': r, 'sid': os.getsid(0)}))"
    )
    assert out == {"tty": "ENXIO", "sid": 1}  # a new session, led by the sandbox's pid 1
