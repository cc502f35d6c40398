"""Declared host paths: opened once without following symlinks, bound by descriptor (gate step 6)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from sealgate.errors import SandboxError
from sealgate.runner import HostPath, SandboxSpec, run_sandboxed
from tests.runner.conftest import Sandbox, py

pytestmark = pytest.mark.usefixtures("no_job_dirs_left")

WRITE = (
    "import errno, sys\n"
    "try:\n"
    "    with open(sys.argv[1], 'w') as f: f.write('tampered')\n"
    "    print('written')\n"
    "except OSError as e: print(errno.errorcode[e.errno])"
)


def test_declared_read_only_host_file_cannot_be_written(sandbox: Sandbox, host_dir: Path) -> None:
    target = host_dir / "input.txt"
    target.write_text("original\n")
    target.chmod(0o666)  # even a world-writable file: the read-only bind is what stops the write
    result = sandbox.run(py(WRITE, "/data/input.txt"), host_paths=[HostPath(target, "/data/input.txt", False)])
    assert result.stdout == b"EROFS\n"
    assert target.read_text() == "original\n"


def test_declared_read_only_host_dir_cannot_be_written(sandbox: Sandbox, host_dir: Path) -> None:
    host_dir.chmod(0o777)
    result = sandbox.run(py(WRITE, "/data/new.txt"), host_paths=[HostPath(host_dir, "/data", False)])
    assert result.stdout == b"EROFS\n"
    assert not (host_dir / "new.txt").exists()


def test_declared_writable_host_dir_receives_output(sandbox: Sandbox, host_dir: Path) -> None:
    out = host_dir / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    result = sandbox.run(py(WRITE, "/out/result.txt"), host_paths=[HostPath(out, "/out", True)])
    assert result.stdout == b"written\n"
    assert (out / "result.txt").read_text() == "tampered"


def test_write_outside_declared_paths_fails(sandbox: Sandbox, host_dir: Path) -> None:
    out = host_dir / "out"
    out.mkdir()
    out.chmod(0o777)
    sibling = host_dir / "sibling"
    sibling.mkdir()
    sibling.chmod(0o777)
    code = (
        "import errno, json, sys\n"
        "res = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        with open(p, 'w') as f: f.write('x')\n"
        "        res[p] = 'written'\n"
        "    except OSError as e: res[p] = errno.errorcode[e.errno]\n"
        "print(json.dumps(res))"
    )
    paths = [str(sibling / "x"), str(host_dir / "x"), "/out/../x", "/x"]
    result = sandbox.run(py(code, *paths), host_paths=[HostPath(out, "/out", True)])
    assert result.exit_code == 0
    import json

    assert set(json.loads(result.stdout).values()) <= {"ENOENT", "EROFS"}
    assert sorted(p.name for p in host_dir.iterdir()) == ["out", "sibling"]
    assert list(sibling.iterdir()) == [] and list(out.iterdir()) == []


def test_host_file_swapped_by_rename_after_spec_built_is_never_read(sandbox: Sandbox, host_dir: Path) -> None:
    target = host_dir / "config.json"
    target.write_text("original\n")
    evil = host_dir / "evil.json"
    evil.write_text("swapped-in\n")
    declared = [HostPath(target, "/data/config.json", False)]
    with SandboxSpec(["/bin/cat", "/data/config.json"], host_paths=declared) as spec:
        os.rename(evil, target)  # the checked inode is now unlinked; the path names another file
        with pytest.raises(SandboxError, match="deleted or replaced after the spec was built"):
            run_sandboxed(sandbox.token, spec, production=True)


def test_host_file_moved_away_and_replaced_sandbox_reads_the_original(sandbox: Sandbox, host_dir: Path) -> None:
    target = host_dir / "config.json"
    target.write_text("original\n")
    declared = [HostPath(target, "/data/config.json", False)]
    with SandboxSpec(["/bin/cat", "/data/config.json"], host_paths=declared) as spec:
        os.rename(target, host_dir / "config.json.bak")
        target.write_text("swapped-in\n")
        result = run_sandboxed(sandbox.token, spec, production=True)
    assert result.stdout == b"original\n"


def test_symlink_planted_after_spec_built_changes_nothing(sandbox: Sandbox, host_dir: Path) -> None:
    secret = host_dir / "secret"
    secret.write_text("host secret\n")
    target = host_dir / "data"
    target.mkdir()
    (target / "f").write_text("declared data\n")
    with SandboxSpec(["/bin/cat", "/data/f"], host_paths=[HostPath(target, "/data", False)]) as spec:
        os.rename(target, host_dir / "data.moved")
        os.symlink(host_dir, target)  # /data/f would now lead to the host dir; /data/secret to the secret
        result = run_sandboxed(sandbox.token, spec, production=True)
    assert result.stdout == b"declared data\n"


def test_symlink_at_declared_path_refused_at_open(host_dir: Path) -> None:
    (host_dir / "real").write_text("x")
    link = host_dir / "link"
    link.symlink_to(host_dir / "real")
    with pytest.raises(SandboxError, match="is a symlink"):
        SandboxSpec(["/bin/true"], host_paths=[HostPath(link, "/data/f", False)])


def test_symlink_in_a_parent_directory_refused_at_open(host_dir: Path) -> None:
    (host_dir / "real").mkdir()
    (host_dir / "real" / "f").write_text("x")
    (host_dir / "linkdir").symlink_to(host_dir / "real")
    with pytest.raises(SandboxError, match="linkdir is a symlink"):
        SandboxSpec(["/bin/true"], host_paths=[HostPath(host_dir / "linkdir" / "f", "/data/f", False)])


def test_unix_socket_as_host_path_refused(host_dir: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(host_dir / "agent.sock"))
        with pytest.raises(SandboxError, match="not a regular file or directory"):
            SandboxSpec(["/bin/true"], host_paths=[HostPath(host_dir / "agent.sock", "/data/s", False)])


@pytest.mark.parametrize("host", ["/", "/proc/self", "/sys", "/dev/null", "/run"])
def test_kernel_device_and_runtime_paths_refused(host: str) -> None:
    with pytest.raises(SandboxError):
        SandboxSpec(["/bin/true"], host_paths=[HostPath(Path(host), "/data", False)])


def test_missing_host_path_refused_at_open(host_dir: Path) -> None:
    with pytest.raises(SandboxError, match="cannot open"):
        SandboxSpec(["/bin/true"], host_paths=[HostPath(host_dir / "absent", "/data", False)])


def test_spec_descriptors_closed_on_close(host_dir: Path) -> None:
    spec = SandboxSpec(["/bin/true"], host_paths=[HostPath(host_dir, "/data", False)])
    (fd,) = spec.host_fds()
    os.fstat(fd)
    spec.close()
    with pytest.raises(OSError):
        os.fstat(fd)
    with pytest.raises(SandboxError, match="closed"):
        spec.host_fds()


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root caller's sandbox runs as a different uid")
def test_host_path_the_sandbox_uid_cannot_reach_refused_with_a_hint(sandbox: Sandbox, tmp_path: Path) -> None:
    # pytest's tmp_path sits below a 0700 directory: uid 65534 cannot reach it (docs/sandbox.md).
    (tmp_path / "f").write_text("x")
    with pytest.raises(SandboxError, match="must be able to reach every declared host path"):
        sandbox.run(["/bin/cat", "/data/f"], host_paths=[HostPath(tmp_path / "f", "/data/f", False)])
