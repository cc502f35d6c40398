"""What ``sealgate run`` does, shared by the click command and the click-free entry point.

``sealgate run`` starts a fresh process for every tool run, so, like ``verify``, it must not
pay for click: :mod:`sealgate._entry` parses a well-formed ``run`` call itself and calls
:func:`run_run`, and the click command (:mod:`sealgate.cli._run`) calls the same function,
so both behave identically. The tool's own stdout and stderr pass through as bytes; the
result as JSON (``--json``) goes to stdout; the exit status is the tool's own, 3 when the
gate denies, 1 when the sandbox cannot run or the runner killed the tool.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from sealgate._verify_cli import guarded
from sealgate.config import home_from_env
from sealgate.errors import DeniedError, ExitCode, MalformedInputError, UsageError

__all__ = ["MAX_INPUTS_JSON", "run_run"]

MAX_INPUTS_JSON = 1 << 20


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


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
    import click  # only a person at a terminal is asked; nothing else pays for click

    _say(f"About to run {ref} with these inputs:")
    for name, value in sorted(inputs.items()):
        _say(f"  {name} = {json.dumps(value)}")
    try:
        confirmed = click.confirm("Are these your inputs?", default=False, err=True)
    except click.Abort:  # end of input or ^C at the prompt: a no
        confirmed = False
    if confirmed:
        return "user_input"
    raise UsageError("not confirmed; nothing was run")


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


def _run(
    *,
    home: str | None,
    ref: str,
    pairs: tuple[str, ...],
    inputs_json: Path | None,
    backend: str,
    confirm: bool,
    as_json: bool,
) -> int:
    from sealgate.tools import open_tool_gate, run_tool

    inputs = _parse_inputs(pairs, inputs_json)
    target: str | Path = Path(os.path.expanduser(ref)) if ref.startswith(("/", ".", "~")) else ref
    taint = _taint(ref, inputs, confirm=confirm)
    gate = open_tool_gate(home_from_env(home))
    try:
        try:
            result = run_tool(target, inputs=inputs, taint=taint, backend=backend, interface="cli", gate=gate)
        except DeniedError as denied:
            if as_json:
                _emit_json(_denied_json(denied))
            raise
    finally:
        gate.close()
    if as_json:
        _emit_json(result.to_json())
    else:
        _pass_through(sys.stdout, result.stdout)
        _pass_through(sys.stderr, result.stderr)
    for warning in result.warnings:
        _say(f"warning: {warning}")
    if result.stdout_truncated or result.stderr_truncated:
        _say("sealgate: output was cut at the tool's output limit")
    if result.exit_code is None:
        _say(
            f"sealgate: the runner stopped {result.name}@{result.version}: {result.killed_reason} "
            f"(audit #{result.audit_index}, outcome #{result.outcome_index})"
        )
        return int(ExitCode.ERROR)
    return result.exit_code


def run_run(
    *,
    home: str | None,
    ref: str,
    pairs: tuple[str, ...] = (),
    inputs_json: Path | None = None,
    backend: str = "bwrap",
    confirm: bool = True,
    as_json: bool = False,
    verbose: bool = False,
) -> int:
    """Run the tool ``ref`` through the gate, sandboxed; the exit status to leave with.

    Errors are reported the way every sealgate front-end reports them (reason code and
    sentence on stderr, no traceback unless ``verbose``).
    """
    return guarded(
        verbose,
        lambda: _run(
            home=home, ref=ref, pairs=pairs, inputs_json=inputs_json, backend=backend, confirm=confirm,
            as_json=as_json,
        ),
    )  # fmt: skip
