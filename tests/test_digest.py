"""The artifact digest scheme: exact bytes, and links or special files refused."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sealgate.digest import read_artifact
from sealgate.errors import MalformedInputError, Reason


def test_file_digest_is_sha256_of_bytes(tmp_path: Path) -> None:
    f = tmp_path / "a"
    f.write_bytes(b"hello")
    art = read_artifact(f)
    assert art.digest == hashlib.sha256(b"hello").hexdigest()
    assert not art.is_directory


def test_directory_digest_follows_documented_lines(tmp_path: Path) -> None:
    d = tmp_path / "tool"
    (d / "sub").mkdir(parents=True)
    (d / "b.sh").write_bytes(b"echo b\n")
    (d / "sub" / "a.txt").write_bytes(b"a")
    os.chmod(d / "b.sh", 0o755)
    os.chmod(d / "sub" / "a.txt", 0o644)
    b_sha = hashlib.sha256(b"echo b\n").hexdigest()
    lines = [
        f"755 7 {b_sha} b.sh\n",
        f"644 1 {hashlib.sha256(b'a').hexdigest()} sub/a.txt\n",
    ]
    assert read_artifact(d).digest == hashlib.sha256("".join(lines).encode()).hexdigest()


def test_changing_mode_changes_directory_digest(tmp_path: Path) -> None:
    d = tmp_path / "tool"
    d.mkdir()
    (d / "x").write_bytes(b"x")
    before = read_artifact(d).digest
    os.chmod(d / "x", 0o777)
    assert read_artifact(d).digest != before


def test_symlink_artifact_refused(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(MalformedInputError):
        read_artifact(tmp_path / "link")


def test_symlink_inside_directory_refused(tmp_path: Path) -> None:
    d = tmp_path / "tool"
    d.mkdir()
    (d / "escape").symlink_to("/etc/passwd")
    with pytest.raises(MalformedInputError, match="symlink"):
        read_artifact(d)


def test_fifo_inside_directory_refused(tmp_path: Path) -> None:
    d = tmp_path / "tool"
    d.mkdir()
    os.mkfifo(d / "pipe")
    with pytest.raises(MalformedInputError, match="special"):
        read_artifact(d)


def test_oversized_artifact_refused_without_reading_it_all(tmp_path: Path) -> None:
    f = tmp_path / "big"
    f.write_bytes(b"\0" * 4096)
    with pytest.raises(MalformedInputError) as exc:
        read_artifact(f, max_size=1024)
    assert exc.value.reason is Reason.TOO_LARGE
