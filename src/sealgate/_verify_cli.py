"""What ``sealgate verify`` does, shared by the click command and the click-free entry point.

Human text goes to stderr, the decision as JSON (``--json``) to stdout; the exit code is 0
when allowed, 3 when denied, and as docs/cli.md says for other errors.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from sealgate.config import home_from_env
from sealgate.errors import DeniedError, ExitCode, SealgateError

__all__ = ["error_exit", "guarded", "run_verify"]


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def error_exit(exc: SealgateError) -> int:
    """The one way a front-end reports a sealgate error: reason code and sentence on stderr."""
    _say(f"sealgate: {exc.reason.value}: {exc.message}")
    return int(exc.exit_code)


def guarded(verbose: bool, work: Callable[[], int]) -> int:
    """Run a command's ``work``; every error leaves the one way (reason and sentence, no traceback)."""
    try:
        return work()
    except SealgateError as exc:
        return error_exit(exc)
    except KeyboardInterrupt:
        _say("sealgate: interrupted")
        return 130
    except Exception as exc:  # the one place a bug becomes a clean exit; never a traceback by default
        if verbose:
            raise
        _say(f"sealgate: internal-error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)")
        return int(ExitCode.ERROR)


def run_verify(
    *, home: str | None, file: str, kind: str, name: str, version: str, as_json: bool, verbose: bool = False
) -> int:
    from sealgate.gate import Gate, GateRequest

    try:
        if kind == "tool":
            # A tool is judged with its manifest and the analysers, as `sealgate run` would.
            from sealgate.tools._check import ToolCheck

            gate = Gate(home_from_env(home), checks={"tool": ToolCheck(os.environ)})
        else:
            gate = Gate(home_from_env(home))
        try:
            token = gate.verify(GateRequest(kind=kind, name=name, version=version, path=Path(file), interface="cli"))
        finally:
            gate.close()
    except DeniedError as denied:
        if as_json:
            decision = denied.decision
            value = (
                decision.to_json()
                if hasattr(decision, "to_json")
                else {"allowed": False, "reason": denied.reason.value, "message": denied.message}
            )
            sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
        _say(f"DENIED {denied.reason.value}: {denied.message}")
        return int(ExitCode.DENIED)
    except SealgateError as exc:
        return error_exit(exc)
    except Exception as exc:  # the one place a bug becomes a clean exit; never a traceback by default
        if verbose:
            raise
        _say(f"sealgate: internal-error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)")
        return int(ExitCode.ERROR)
    if as_json:
        sys.stdout.write(json.dumps(token.extra["decision"].to_json(), indent=2, sort_keys=True) + "\n")
    for warning in token.warnings:
        _say(f"warning: {warning}")
    _say(f"ALLOWED {token.target} sha256:{token.digest} level={token.level} audit#{token.audit_index}")
    return int(ExitCode.OK)
