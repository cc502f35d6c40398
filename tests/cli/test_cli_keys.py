"""``sealgate key``: keys are never overwritten, private keys are 0600 and encrypted unless said otherwise."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.cli.clihome import CliHome, assert_no_traceback, assert_refused, refused_and_unchanged, run_cli

INSECURE_WARNING = "WARNING: writing an UNENCRYPTED private key (--insecure-no-passphrase)"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """An empty SEALGATE_HOME."""
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.mark.parametrize("extra", [(), ("--insecure-no-passphrase",), ("--type", "ecdsa-p256")])
def test_key_generate_refuses_to_overwrite_an_existing_key(ch: CliHome, extra: tuple[str, ...]) -> None:
    result = refused_and_unchanged(ch, ["key", "generate", "alice", *extra], 1, "key-unavailable")
    assert "refusing to overwrite" in result.stderr


def test_key_generate_refuses_when_only_the_public_half_exists(ch: CliHome) -> None:
    (ch.keys / "alice.key").unlink()
    refused_and_unchanged(ch, ["key", "generate", "alice"], 1, "key-unavailable")


def test_key_generate_writes_private_key_0600_and_encrypted(fresh: Path) -> None:
    result = run_cli(fresh, "key", "generate", "erin", "--json")
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["name"], info["type"]) == ("erin", "ed25519")
    private, public = fresh / "keys" / "erin.key", fresh / "keys" / "erin.pub"
    assert mode(private) == 0o600
    assert mode(fresh / "keys") & 0o077 == 0
    assert mode(public) & 0o022 == 0
    assert private.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert "WARNING" not in result.stderr
    exported = json.loads(run_cli(fresh, "key", "export", "erin", "--json").stdout)
    assert exported["keyid"] == info["keyid"]
    listed = json.loads(run_cli(fresh, "key", "list", "--json").stdout)
    assert listed == [{"name": "erin", "keyid": info["keyid"], "type": "ed25519", "private": True, "encrypted": True}]


@pytest.mark.parametrize("passphrase", [None, ""], ids=["unset", "empty"])
def test_key_generate_without_passphrase_refused_when_stdin_is_not_a_tty(fresh: Path, passphrase: str | None) -> None:
    env = {} if passphrase is None else {"SEALGATE_KEY_PASSPHRASE": passphrase}
    result = run_cli(fresh, "key", "generate", "erin", passphrase=None, env=env)
    assert_refused(result, 1, "key-unavailable")
    assert "--insecure-no-passphrase" in result.stderr
    assert list(fresh.iterdir()) == [], "a refused key generation wrote something"


def test_insecure_no_passphrase_warns_on_stderr_and_writes_unencrypted_0600(fresh: Path) -> None:
    result = run_cli(fresh, "key", "generate", "throwaway", "--insecure-no-passphrase", "--json", passphrase=None)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert INSECURE_WARNING in result.stderr
    assert json.loads(result.stdout)["name"] == "throwaway"  # the warning never pollutes stdout
    private = fresh / "keys" / "throwaway.key"
    assert mode(private) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    listed = run_cli(fresh, "key", "list")
    assert listed.stdout.rstrip().endswith("UNENCRYPTED")


def test_insecure_no_passphrase_warns_every_time(fresh: Path) -> None:
    for name in ("one", "two"):
        result = run_cli(fresh, "key", "generate", name, "--insecure-no-passphrase")
        assert result.returncode == 0 and INSECURE_WARNING in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "x" * 65, ""])
def test_key_name_outside_the_key_store_refused(fresh: Path, name: str) -> None:
    result = run_cli(fresh, "key", "generate", name)
    assert_refused(result, 1, "key-unavailable")
    assert list(fresh.iterdir()) == [] and not (fresh.parent / "escape.key").exists()


def test_key_export_never_prints_a_private_key(ch: CliHome) -> None:
    result = run_cli(ch.home, "key", "export", "alice")
    assert result.returncode == 0
    assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----") and "PRIVATE" not in result.stdout
    refused_and_unchanged(ch, ["key", "export", str(ch.keys / "alice.key")], 1, "key-unavailable")
