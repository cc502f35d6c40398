"""``sealgate run``: a tool through the gate, in the sandbox, with its outcome audited.

``REF`` is ``NS/NAME[@VERSION]`` (from the tool store) or a path to a tool directory
(starting with ``/``, ``.`` or ``~``); both take the same gate with the same checks.
Inputs from the command line are labelled ``user_input`` only when a person confirms them
at a terminal, ``untrusted`` otherwise (issue 3, "taint").
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from sealgate.cli._common import emit_json, get_home, say
from sealgate.errors import DeniedError, ExitCode, MalformedInputError, UsageError
from sealgate.runner import BACKENDS

MAX_INPUTS_JSON = 1 << 20


def _parse_inputs(pairs: tuple[str, ...], inputs_json: Path | None) -> dict[str, object]:
    inputs: dict[str, object] = {}
    if inputs_json is not None:
        from sealgate.canonical import loads_strict

        try:
            data = inputs_json.read_bytes() if str(inputs_json) != "-" else sys.stdin.buffer.read(MAX_INPUTS_JSON + 1)
        except OSError as exc:
            raise MalformedInputError(f"{inputs_json} cannot be read: {exc.strerror}") from exc
        value = loads_strict(data, what="--inputs-json", max_size=MAX_INPUTS_JSON)
        if not isinstance(value, dict):
            raise MalformedInputError("--inputs-json must hold a JSON object of input name to value")
        inputs.update(value)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--input takes NAME=VALUE, not {pair!r}")
        if name in inputs:
            raise UsageError(f"input {name!r} is given twice")
        inputs[name] = value
    return inputs


def _taint(ref: str, inputs: dict[str, object], confirm: bool) -> str:
    """``user_input`` only after a person confirmed at a terminal; ``untrusted`` otherwise."""
    if not inputs:
        return "none"
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return "untrusted"
    if not confirm:
        return "untrusted"
    say(f"About to run {ref} with these inputs:")
    for name, value in sorted(inputs.items()):
        say(f"  {name} = {json.dumps(value)}")
    if click.confirm("Are these your inputs?", default=False, err=True):
        return "user_input"
    raise UsageError("not confirmed; nothing was run")


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
    from sealgate.tools import open_tool_gate, run_tool

    inputs = _parse_inputs(pairs, inputs_json)
    target: str | Path = Path(os.path.expanduser(ref)) if ref.startswith(("/", ".", "~")) else ref
    taint = _taint(ref, inputs, confirm=not no_confirm)
    gate = open_tool_gate(get_home(ctx))
    try:
        try:
            result = run_tool(target, inputs=inputs, taint=taint, backend=backend, interface="cli", gate=gate)
        except DeniedError as denied:
            if as_json:
                emit_json(_denied_json(denied))
            raise
    finally:
        gate.close()
    if as_json:
        emit_json(result.to_json())
    else:
        _pass_through(sys.stdout, result.stdout)
        _pass_through(sys.stderr, result.stderr)
    for warning in result.warnings:
        say(f"warning: {warning}")
    if result.stdout_truncated or result.stderr_truncated:
        say("sealgate: output was cut at the tool's output limit")
    if result.exit_code is None:
        say(
            f"sealgate: the runner stopped {result.name}@{result.version}: {result.killed_reason} "
            f"(audit #{result.audit_index}, outcome #{result.outcome_index})"
        )
        ctx.exit(int(ExitCode.ERROR))
    ctx.exit(result.exit_code)


def _pass_through(stream: Any, data: bytes) -> None:
    """The tool's bytes as they are; a text-only stream (an embedding caller) gets them decoded."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()
        buffer.write(data)
        buffer.flush()
    else:
        stream.write(data.decode("utf-8", "replace"))


def _denied_json(denied: DeniedError) -> dict[str, Any]:
    decision = denied.decision
    if decision is not None and hasattr(decision, "to_json"):
        value: dict[str, Any] = decision.to_json()
        return value
    return {"allowed": False, "reason": denied.reason.value, "message": denied.message}
