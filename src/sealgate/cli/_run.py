"""``sealgate run``: a tool through the gate, in the sandbox, with its outcome audited.

``REF`` is ``NS/NAME[@VERSION]`` (from the tool store) or a path to a tool directory
(starting with ``/``, ``.`` or ``~``); both take the same gate with the same checks.
Inputs from the command line are labelled ``user_input`` only when a person confirms them
at a terminal, ``untrusted`` otherwise (issue 3, "taint").

The work is in :mod:`sealgate._run_cli`, shared with the click-free fast path of the
console entry point (:mod:`sealgate._entry`), so both behave identically.
"""

from __future__ import annotations

from pathlib import Path

import click

from sealgate._run_cli import run_run
from sealgate.runner import BACKENDS


@click.command("run")
@click.argument("ref", metavar="REF")
@click.option("--input", "pairs", multiple=True, metavar="NAME=VALUE", help="One input; repeat for more.")
@click.option(
    "--inputs-json", type=click.Path(dir_okay=False, path_type=Path), help="A JSON object of inputs ('-': stdin)."
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="bwrap",
    show_default=True,
    help="Sandbox backend; 'process' is for development and refused in production.",
)
@click.option("--no-confirm", is_flag=True, help="Do not ask at a terminal; the inputs are labelled untrusted.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.pass_context
def run_cmd(
    ctx: click.Context,
    ref: str,
    pairs: tuple[str, ...],
    inputs_json: Path | None,
    backend: str,
    no_confirm: bool,
    as_json: bool,
) -> None:
    """Run the tool REF (NS/NAME[@VERSION], or a tool directory path) through the gate, sandboxed.

    Exit status: the tool's own; 3 when the gate denies; 1 when the sandbox cannot run or
    the runner killed the tool (timeout, output limit).
    """
    obj = ctx.find_root().obj or {}
    code = run_run(
        home=obj.get("home"), ref=ref, pairs=pairs, inputs_json=inputs_json, backend=backend,
        confirm=not no_confirm, as_json=as_json, verbose=bool(obj.get("verbose")),
    )  # fmt: skip
    ctx.exit(code)
