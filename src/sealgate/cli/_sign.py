"""``sealgate sign``: add one approval statement (DSSE + in-toto) to an artifact's bundle."""

from __future__ import annotations

from pathlib import Path

import click

from sealgate.cli._common import emit_json, load_private, say
from sealgate.crypto.bundle import StatementBundle, bundle_path_for
from sealgate.crypto.intoto import ROLES, make_approval
from sealgate.digest import read_artifact
from sealgate.errors import MalformedInputError
from sealgate.registry.layout import target_path


@click.command("sign")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--kind", required=True, type=click.Choice(["tool", "module", "enclave"]))
@click.option("--name", required=True, help="NAMESPACE/NAME (enclaves: NAME).")
@click.option("--version", "version", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--key", "key_ref", required=True, help="Key name in the key store, or a PEM file.")
@click.option("--bundle", type=click.Path(path_type=Path), help="Bundle file (default FILE.statements.json).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sign_cmd(
    ctx: click.Context,
    file: Path,
    kind: str,
    name: str,
    version: str,
    role: str,
    key_ref: str,
    bundle: Path | None,
    as_json: bool,
) -> None:
    """Sign FILE as ROLE for the registry entry KIND NAME@VERSION.

    The role is a claim; it counts only where the signed policy binds your key's principal
    to that role in the artifact's namespace.
    """
    sign_artifact(ctx, file, target_path(kind, name, version), role, key_ref, bundle, as_json)


def sign_artifact(
    ctx: click.Context, file: Path, target: str, role: str, key_ref: str, bundle: Path | None, as_json: bool
) -> None:
    """Add one approval of ``file`` (as registry target ``target``) to its statement bundle."""
    artifact = read_artifact(file)
    key = load_private(ctx, key_ref)
    envelope = make_approval(target, artifact.digest, role, key)
    path = bundle or bundle_path_for(file)
    if path.exists():
        existing = StatementBundle.read(path)
        if (existing.target, existing.sha256) != (target, artifact.digest):
            raise MalformedInputError(
                f"{path} holds statements for {existing.target} sha256:{existing.sha256[:16]}…, not for this "
                "artifact; use --bundle to write elsewhere"
            )
    else:
        existing = StatementBundle(target, artifact.digest, ())
    existing.with_envelope(envelope).write(path)
    if as_json:
        emit_json({"bundle": str(path), "target": target, "sha256": artifact.digest, "role": role, "keyid": key.keyid})
    say(f"signed {target} sha256:{artifact.digest[:16]}… as {role} with key {key.keyid[:16]}… -> {path}")
