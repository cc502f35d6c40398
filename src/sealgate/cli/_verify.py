"""``sealgate verify``: ask the gate about an artifact without running it.

The work is in :mod:`sealgate._verify_cli`, shared with the click-free fast path of the
console entry point (:mod:`sealgate._entry`), so both behave identically.
"""

from __future__ import annotations

import click

from sealgate._verify_cli import run_verify


@click.command("verify")
@click.argument("file", type=click.Path())
@click.option("--kind", required=True, type=click.Choice(["tool", "module", "enclave"]))
@click.option("--name", required=True, help="NAMESPACE/NAME (enclaves: NAME).")
@click.option("--version", "version", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON on stdout.")
@click.pass_context
def verify_cmd(ctx: click.Context, file: str, kind: str, name: str, version: str, as_json: bool) -> None:
    """Run every gate check on FILE as the registry entry KIND NAME@VERSION; exit 0 allowed, 3 denied."""
    obj = ctx.find_root().obj or {}
    code = run_verify(
        home=obj.get("home"), file=file, kind=kind, name=name, version=version, as_json=as_json,
        verbose=bool(obj.get("verbose")),
    )  # fmt: skip
    ctx.exit(code)
