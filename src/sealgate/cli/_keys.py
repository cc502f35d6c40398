"""``sealgate key``: generate, list and export keys in the key store."""

from __future__ import annotations

import click

from sealgate.cli._common import emit_json, get_home, keystore, prompt_passphrase, say
from sealgate.crypto.keys import KEY_TYPES
from sealgate.errors import KeyError_


@click.group("key")
def key_group() -> None:
    """Generate, list and export signing keys (SEALGATE_HOME/keys)."""


@key_group.command("generate")
@click.argument("name")
@click.option("--type", "keytype", type=click.Choice(KEY_TYPES), default="ed25519", show_default=True)
@click.option(
    "--insecure-no-passphrase",
    is_flag=True,
    help="Write the private key unencrypted. Only for throwaway keys; warned every time.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def generate(ctx: click.Context, name: str, keytype: str, insecure_no_passphrase: bool, as_json: bool) -> None:
    """Create key NAME: NAME.key (PKCS#8, encrypted, 0600) and NAME.pub (SPKI)."""
    passphrase = None if insecure_no_passphrase else prompt_passphrase(confirm=True)
    if passphrase is None and not insecure_no_passphrase:
        raise KeyError_(
            "no passphrase: set SEALGATE_KEY_PASSPHRASE, run on a terminal, or pass --insecure-no-passphrase"
        )
    if insecure_no_passphrase:
        say("WARNING: writing an UNENCRYPTED private key (--insecure-no-passphrase)")
    key = keystore(ctx).generate(name, keytype, passphrase, insecure_no_passphrase=insecure_no_passphrase)
    if as_json:
        emit_json({"name": name, "keyid": key.keyid, "type": key.public.keytype})
    say(f"generated {keytype} key {name} keyid {key.keyid} in {get_home(ctx).keys}")


@key_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_keys(ctx: click.Context, as_json: bool) -> None:
    """List the keys in the key store."""
    infos = keystore(ctx).list()
    if as_json:
        emit_json(
            [
                {
                    "name": i.name,
                    "keyid": i.keyid,
                    "type": i.keytype,
                    "private": i.has_private,
                    "encrypted": i.encrypted,
                }
                for i in infos
            ]
        )
        return
    for i in infos:
        private = "no private key" if not i.has_private else ("encrypted" if i.encrypted else "UNENCRYPTED")
        click.echo(f"{i.name}\t{i.keytype}\t{i.keyid}\t{private}")


@key_group.command("export")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def export(ctx: click.Context, name: str, as_json: bool) -> None:
    """Print the public key NAME as SPKI PEM (never the private key)."""
    key = keystore(ctx).public(name)
    if as_json:
        emit_json({"name": name, "keyid": key.keyid, "type": key.keytype, "pem": key.to_pem().decode()})
        return
    click.echo(key.to_pem().decode(), nl=False)
