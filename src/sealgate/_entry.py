"""The ``sealgate`` console entry point, kept free of click for the gate's hot paths.

``sealgate verify`` runs in a fresh process before every execution, and ``sealgate run`` is a
fresh process for every tool run, so both must cost tens of milliseconds. When the command
line is a well-formed ``verify`` or ``run`` call, it is parsed here and handed to
:func:`sealgate._verify_cli.run_verify` or :func:`sealgate._run_cli.run_run`, the same
functions the click commands call; anything else (help, other commands, any option this
parser does not know, a repeated option, a value click would reject) goes to the click CLI,
which owns usage errors and help text. No check is skipped on either path.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

__all__ = ["main"]

_KINDS = ("tool", "module", "enclave")
_VERIFY_VALUES = {"--kind": "kind", "--name": "name", "--version": "version"}
_VERIFY_FLAGS = {"--json": "as_json"}
_RUN_VALUES = {"--inputs-json": "inputs_json", "--backend": "backend"}
_RUN_FLAGS = {"--json": "as_json", "--no-confirm": "no_confirm"}


def _parse(
    args: list[str], command: str, values: Mapping[str, str], flags: Mapping[str, str], multiple: Mapping[str, str]
) -> tuple[dict[str, object], list[str]] | None:
    """Parse ``[--home H] [--verbose] COMMAND ...`` with the given options, or None for click.

    Returns the options (root ones included) and the positional arguments. Options that
    take a value accept ``--opt V`` and ``--opt=V``; ``multiple`` ones may repeat and are
    collected into tuples; any other repetition, or any option not named, returns None.
    """
    out: dict[str, object] = {"home": None, "verbose": False}
    out.update(dict.fromkeys(flags.values(), False))
    out.update({key: () for key in multiple.values()})
    i = 0
    while i < len(args) and args[i] != command:
        arg = args[i]
        if arg == "--verbose":
            out["verbose"] = True
        elif arg == "--home" and i + 1 < len(args):
            out["home"] = args[i + 1]
            i += 1
        elif arg.startswith("--home="):
            out["home"] = arg.partition("=")[2]
        else:
            return None
        i += 1
    if i >= len(args):
        return None
    rest = args[i + 1 :]
    positional: list[str] = []
    j = 0
    while j < len(rest):
        arg = rest[j]
        name, eq, value = arg.partition("=")
        if name in values or name in multiple:
            if not eq:
                if j + 1 >= len(rest):
                    return None
                value = rest[j + 1]
                j += 1
            if name in multiple:
                out[multiple[name]] = (*out[multiple[name]], value)  # type: ignore[misc]
            elif values[name] in out:
                return None  # repeated option: let click decide
            else:
                out[values[name]] = value
        elif arg in flags:
            out[flags[arg]] = True
        elif arg == "--":
            positional.extend(rest[j + 1 :])
            break
        elif arg.startswith("-") and arg != "-":
            return None  # --help or anything unknown
        else:
            positional.append(arg)
        j += 1
    return out, positional


def _parse_verify(args: list[str]) -> dict[str, object] | None:
    """Parse ``[--home H] [--verbose] verify FILE --kind K --name N --version V [--json]``, or None."""
    parsed = _parse(args, "verify", _VERIFY_VALUES, _VERIFY_FLAGS, {})
    if parsed is None:
        return None
    out, positional = parsed
    if len(positional) != 1 or not all(k in out for k in ("kind", "name", "version")) or out["kind"] not in _KINDS:
        return None
    out["file"] = positional[0]
    return out


def _parse_run(args: list[str]) -> dict[str, object] | None:
    """Parse ``[--home H] [--verbose] run REF [--input K=V]... [--inputs-json F] [--backend B]
    [--no-confirm] [--json]``, or None."""
    parsed = _parse(args, "run", _RUN_VALUES, _RUN_FLAGS, {"--input": "pairs"})
    if parsed is None:
        return None
    out, positional = parsed
    if len(positional) != 1:
        return None
    out["ref"] = positional[0]
    out["confirm"] = not out.pop("no_confirm")
    if "backend" in out:
        from sealgate.runner import BACKENDS  # imported by the run in any case

        if out["backend"] not in BACKENDS:
            return None  # click reports the choices
    if "inputs_json" in out:
        import os
        from pathlib import Path

        value = out["inputs_json"]
        assert isinstance(value, str)
        if not value or os.path.isdir(value):
            return None  # click's Path(dir_okay=False) reports it
        out["inputs_json"] = Path(value)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    parsed = _parse_verify(args)
    if parsed is not None:
        from sealgate._verify_cli import run_verify

        return run_verify(**parsed)  # type: ignore[arg-type]
    parsed = _parse_run(args)
    if parsed is not None:
        from sealgate._run_cli import run_run

        return run_run(**parsed)  # type: ignore[arg-type]
    from sealgate.cli import main as click_main

    return click_main(args)
