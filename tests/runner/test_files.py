"""Shipped files reach the sandbox as sealed memfds of the verified bytes, never by path (gate step 6)."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from sealgate.runner import artifact_files
from sealgate.runner._fds import SEALS, sealed_memfd
from sealgate.tokens import VerifiedArtifact
from tests.runner.conftest import TOOL_SCRIPT, Sandbox

pytestmark = pytest.mark.usefixtures("no_job_dirs_left")


def test_shipped_file_changed_on_disk_after_verification_runs_verified_bytes(
    sandbox: Sandbox, token: VerifiedArtifact, tool_path: Path
) -> None:
    original = tool_path.read_bytes()
    tool_path.write_bytes(b"#!/bin/sh\necho tampered-after-verification\n")
    try:
        files = artifact_files(token, "/tool/run.sh")
        result = sandbox.run(["/bin/sh", "/tool/run.sh"], files=files)
    finally:
        tool_path.write_bytes(original)
    assert result.stdout == b"verified-tool-bytes\n"
    assert files == {"/tool/run.sh": (token.artifact.files[""][0], TOOL_SCRIPT)}


def test_shipped_file_mode_applied_and_executable(sandbox: Sandbox) -> None:
    result = sandbox.run(["/tool/run.sh"], files={"/tool/run.sh": (0o755, TOOL_SCRIPT)})
    assert result.exit_code == 0 and result.stdout == b"verified-tool-bytes\n"
    denied = sandbox.run(["/tool/run.sh"], files={"/tool/run.sh": (0o644, TOOL_SCRIPT)})
    assert denied.exit_code == 126  # not executable: the mode came through


def test_shipped_files_are_read_only_and_not_deletable(sandbox: Sandbox) -> None:
    code = (
        "import errno, json, os\n"
        "res = {}\n"
        "for name, op in [('write', lambda: open('/tool/a', 'w')), ('unlink', lambda: os.unlink('/tool/a')),\n"
        "                 ('chmod', lambda: os.chmod('/tool/a', 0o777)), ('create', lambda: open('/tool/b', 'w'))]:\n"
        "    try: op(); res[name] = 'ok'\n"
        "    except OSError as e: res[name] = errno.errorcode[e.errno]\n"
        "res['content'] = open('/tool/a').read()\n"
        "print(json.dumps(res))"
    )
    out = sandbox.json(code, files={"/tool/a": (0o644, b"data")})
    assert out == {"write": "EROFS", "unlink": "EROFS", "chmod": "EROFS", "create": "EROFS", "content": "data"}


def test_shipped_files_in_the_work_directory_stay_read_only(sandbox: Sandbox) -> None:
    files = {"/job/in.json": (0o644, b"{}\n")}
    result = sandbox.run(["/bin/sh", "-c", "cat /job/in.json; echo x > /job/in.json"], files=files)
    assert result.stdout == b"{}\n" and b"Read-only file system" in result.stderr


def test_memfd_is_sealed_against_writes_and_resizing() -> None:
    fd = sealed_memfd("test", b"verified")
    try:
        assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) == SEALS
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
        for attempt in (lambda: os.write(fd, b"x"), lambda: os.ftruncate(fd, 1), lambda: os.ftruncate(fd, 100)):
            with pytest.raises(PermissionError) as exc:
                attempt()
            assert exc.value.errno == errno.EPERM
        with pytest.raises(PermissionError):
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, 0)  # F_SEAL_SEAL: the seals themselves are final
        assert os.pread(fd, 100, 0) == b"verified"
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    finally:
        os.close(fd)


def test_artifact_files_refuses_anything_but_a_token() -> None:
    with pytest.raises(TypeError, match="VerifiedArtifact"):
        artifact_files(object(), "/tool")  # type: ignore[arg-type]
