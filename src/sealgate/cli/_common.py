"""Small helpers shared by the CLI modules: home, keys, passphrases, output."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from sealgate.config import Home, home_from_env
from sealgate.crypto.keys import Passphrase, PrivateKey
from sealgate.crypto.keystore import KeyStore, passphrase_from_env
from sealgate.errors import KeyError_

__all__ = ["emit_json", "get_home", "keystore", "load_private", "prompt_passphrase", "say"]


def get_home(ctx: click.Context) -> Home:
    obj = ctx.find_root().obj or {}
    return home_from_env(obj.get("home"))


def keystore(ctx: click.Context) -> KeyStore:
    return KeyStore(get_home(ctx).keys)


def prompt_passphrase(*, confirm: bool = False) -> Passphrase | None:
    """The passphrase from SEALGATE_KEY_PASSPHRASE, else a hidden prompt on a terminal."""
    env = passphrase_from_env()
    if env is not None:
        return env
    if not sys.stdin.isatty():
        return None
    value = click.prompt("Key passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    return Passphrase(str(value).encode("utf-8"))


def load_private(ctx: click.Context, ref: str) -> PrivateKey:
    try:
        return keystore(ctx).private(ref, prompt_passphrase)
    except KeyError_ as exc:
        if "encrypted" in exc.message and passphrase_from_env() is None and not sys.stdin.isatty():
            raise KeyError_(f"{exc.message} (no terminal to prompt on)") from exc
        raise


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def say(message: str) -> None:
    """Human text goes to stderr, so stdout stays machine-readable."""
    click.echo(message, err=True)
