"""``sealgate tool``: compile a tool's manifest, sign the tool directory, install it for running by name."""

from __future__ import annotations

from pathlib import Path

import click

from sealgate.cli._common import emit_json, get_home, say
from sealgate.cli._sign import sign_artifact
from sealgate.crypto.intoto import ROLES
from sealgate.registry.layout import target_path


@click.group("tool")
def tool_group() -> None:
    """Compile, sign and install agent tools (a directory with sealgate-tool.yaml)."""


@tool_group.command("compile")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def compile_cmd(directory: Path, as_json: bool) -> None:
    """Validate DIRECTORY/sealgate-tool.yaml and write the canonical DIRECTORY/sealgate-tool.json."""
    from sealgate.tools.manifest import compile_tool_dir

    manifest = compile_tool_dir(directory)
    if as_json:
        emit_json({"name": manifest.name, "version": manifest.version, "manifest_sha256": manifest.digest})
    say(f"compiled {manifest.name}@{manifest.version} (manifest sha256:{manifest.digest[:16]}…)")


@tool_group.command("sign")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--key", "key_ref", required=True, help="Key name in the key store, or a PEM file.")
@click.option("--bundle", type=click.Path(dir_okay=False, path_type=Path), help="Default DIRECTORY.statements.json.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sign_cmd(ctx: click.Context, directory: Path, role: str, key_ref: str, bundle: Path | None, as_json: bool) -> None:
    """Compile the manifest, then sign the whole tool directory as ROLE for tools/NS/NAME/VERSION.

    The name and version come from the manifest, so a statement can only name the tool it covers.
    """
    from sealgate.tools.manifest import compile_tool_dir

    manifest = compile_tool_dir(directory)
    sign_artifact(ctx, directory, target_path("tool", manifest.name, manifest.version), role, key_ref, bundle, as_json)


@tool_group.command("install")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def install_cmd(ctx: click.Context, directory: Path, as_json: bool) -> None:
    """Copy a compiled tool directory into this home's tool store, for `sealgate run NS/NAME`.

    Installing approves nothing: every run re-digests the installed copy and the gate denies
    anything that is not the registered, approved bytes.
    """
    from sealgate.digest import read_artifact
    from sealgate.tools import install_tool

    manifest, path = install_tool(get_home(ctx), directory)
    digest = read_artifact(path).digest
    if as_json:
        emit_json({"name": manifest.name, "version": manifest.version, "path": str(path), "digest": digest})
    say(f"installed {manifest.name}@{manifest.version} at {path} (sha256:{digest[:16]}…)")
