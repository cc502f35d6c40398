"""The ``sealgate`` console entry point, kept free of click for the gate's hot path.

``sealgate verify`` runs in a fresh process before every execution, so it must cost tens of
milliseconds. When the command line is a well-formed ``verify`` call, it is parsed here and
handed to :func:`sealgate._verify_cli.run_verify`, the same function the click command calls;
anything else (help, other commands, any option this parser does not know) goes to the
click CLI, which owns usage errors and help text. No check is skipped on either path.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

_KINDS = ("tool", "module", "enclave")
_VALUE_OPTIONS = {"--kind": "kind", "--name": "name", "--version": "version"}


def _parse_verify(args: list[str]) -> dict[str, object] | None:
    """Parse ``[--home H] [--verbose] verify FILE --kind K --name N --version V [--json]``, or None."""
    out: dict[str, object] = {"home": None, "verbose": False, "as_json": False}
    i = 0
    while i < len(args) and args[i] != "verify":
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
        if name in _VALUE_OPTIONS:
            if not eq:
                if j + 1 >= len(rest):
                    return None
                value = rest[j + 1]
                j += 1
            if _VALUE_OPTIONS[name] in out:
                return None  # repeated option: let click decide
            out[_VALUE_OPTIONS[name]] = value
        elif arg == "--json":
            out["as_json"] = True
        elif arg == "--":
            positional.extend(rest[j + 1 :])
            break
        elif arg.startswith("-") and arg != "-":
            return None  # --help or anything unknown
        else:
            positional.append(arg)
        j += 1
    if len(positional) != 1 or not all(k in out for k in ("kind", "name", "version")) or out["kind"] not in _KINDS:
        return None
    out["file"] = positional[0]
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    parsed = _parse_verify(args)
    if parsed is None:
        from sealgate.cli import main as click_main

        return click_main(args)
    from sealgate._verify_cli import run_verify

    return run_verify(**parsed)  # type: ignore[arg-type]
