"""The ``sealgate`` command line: a thin click adapter over the library.

Subcommands live in their own modules and are imported only when invoked, so that
``sealgate verify`` pays for the gate alone (no rich, no python-tuf, no YAML parser).
One error exit: :func:`main` catches :class:`~sealgate.errors.SealgateError` once, prints
the reason code and the sentence to stderr, and exits with the documented code
(docs/cli.md). Machine output (``--json``) goes to stdout.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from sealgate._verify_cli import error_exit
from sealgate.errors import ExitCode, SealgateError

__all__ = ["cli", "main"]

# name -> "module:attribute"; modules are imported on first use only.
_COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "sealgate.cli._registry",
        "init_cmd",
    ),
    "key": ("sealgate.cli._keys", "key_group"),
    "sign": ("sealgate.cli._sign", "sign_cmd"),
    "verify": ("sealgate.cli._verify", "verify_cmd"),
    "registry": ("sealgate.cli._registry", "registry_group"),
    "policy": ("sealgate.cli._policy", "policy_group"),
    "audit": ("sealgate.cli._audit", "audit_group"),
    "demo": ("sealgate.cli._demo", "demo_cmd"),
    "tool": ("sealgate.cli._tool", "tool_group"),
    "run": ("sealgate.cli._run", "run_cmd"),
    "check": ("sealgate.cli._check", "check_cmd"),
    "drift": ("sealgate.cli._drift", "drift_cmd"),
    "mcp": ("sealgate.cli._mcp", "mcp_cmd"),
    "ci": ("sealgate.cli._ci", "ci_group"),
    "enclave": ("sealgate.cli._enclave", "enclave_group"),
    "attest": ("sealgate.cli._attest", "attest_group"),
}
_HELP = {
    "init": "Pin a registry root by its SHA-256 and fetch the registry.",
    "key": "Generate, list and export signing keys.",
    "sign": "Sign an approval statement (DSSE, in-toto) for an artifact.",
    "verify": "Ask the gate about an artifact without running anything.",
    "registry": "Create, change, publish and refresh the signed registry.",
    "policy": "Compile, show and tighten the trust policy.",
    "audit": "Show, verify and prove the tamper-evident audit log.",
    "demo": "Run the whole flow in a throwaway home.",
    "tool": "Compile, sign and install agent tools.",
    "run": "Run a tool through the gate, in the sandbox.",
    "check": "Run the command, path, URL and env analysers on a manifest or a command.",
    "drift": "Report rules removed or weakened since the last PROD commit.",
    "mcp": "Serve the registered tools over MCP (stdio or a local socket).",
    "ci": "Measure builds, refuse mock attestation, write candidate entries (CI, no keys).",
    "enclave": "Measure enclave builds (SGX SIGSTRUCT).",
    "attest": "Verify attestation evidence: a quote from files, or a live service.",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module = importlib.import_module(target[0])
        command = getattr(module, target[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every subcommand module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, _HELP[name]) for name in sorted(_COMMANDS)])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home", envvar="SEALGATE_HOME", type=click.Path(file_okay=False), help="State folder (default ~/.sealgate)."
)
@click.option("--verbose", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.version_option(package_name="sealgate")
@click.pass_context
def cli(ctx: click.Context, home: str | None, verbose: bool) -> None:
    """sealgate: nothing runs unless it is sealed."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home
    ctx.obj["verbose"] = verbose


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI and map every failure to one documented exit code."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in args
    try:
        result: Any = cli.main(args=args, prog_name="sealgate", standalone_mode=False)
    except SealgateError as exc:
        return error_exit(exc)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message() if hasattr(exc, "format_message") else str(exc), err=True)
        return int(ExitCode.USAGE)
    except click.UsageError as exc:
        exc.show()
        return int(ExitCode.USAGE)
    except click.Abort:
        click.echo("sealgate: aborted", err=True)
        return int(ExitCode.ERROR)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("sealgate: interrupted", err=True)
        return 130
    except Exception as exc:
        if verbose:
            raise
        click.echo(
            f"sealgate: internal-error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)",
            err=True,
        )
        return int(ExitCode.ERROR)
    return int(result) if isinstance(result, int) else 0


def _entry() -> None:
    sys.exit(main())
