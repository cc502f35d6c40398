"""``sealgate verify``: ask the gate about an artifact without running it.

This module is the hot path of the CLI: it imports the gate and nothing that draws in
rich, python-tuf, YAML or a database driver other than sqlite3.
"""

from __future__ import annotations

from pathlib import Path

import click

from sealgate.cli._common import emit_json, get_home, say
from sealgate.errors import DeniedError, ExitCode
from sealgate.gate import Gate, GateRequest


@click.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--kind", required=True, type=click.Choice(["tool", "module", "enclave"]))
@click.option("--name", required=True, help="NAMESPACE/NAME (enclaves: NAME).")
@click.option("--version", "version", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON on stdout.")
@click.pass_context
def verify_cmd(ctx: click.Context, file: Path, kind: str, name: str, version: str, as_json: bool) -> None:
    """Run every gate check on FILE as the registry entry KIND NAME@VERSION; exit 0 allowed, 3 denied."""
    gate = Gate(get_home(ctx))
    try:
        token = gate.verify(GateRequest(kind=kind, name=name, version=version, path=file, interface="cli"))
    except DeniedError as denied:
        decision = denied.decision
        if as_json:
            emit_json(
                decision.to_json()
                if hasattr(decision, "to_json")
                else {"allowed": False, "reason": denied.reason.value, "message": denied.message}
            )
        say(f"DENIED {denied.reason.value}: {denied.message}")
        ctx.exit(int(ExitCode.DENIED))
    finally:
        gate.close()
    decision = token.extra["decision"]
    if as_json:
        emit_json(decision.to_json())
    for warning in token.warnings:
        say(f"warning: {warning}")
    say(f"ALLOWED {token.target} sha256:{token.digest} level={token.level} audit#{token.audit_index}")
