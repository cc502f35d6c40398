"""``sealgate mcp``: serve the registered tools over MCP (stdio, or streamable HTTP kept local).

A thin front-end over :mod:`sealgate.mcp`; the MCP SDK is imported only when the command
runs, so ``sealgate --help`` and the other commands do not pay for it.
"""

from __future__ import annotations

from pathlib import Path

import click

from sealgate.cli._common import get_home
from sealgate.errors import UsageError


@click.command("mcp")
@click.option(
    "--http-socket",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Serve streamable HTTP on this Unix socket (created mode 0600) instead of stdio.",
)
@click.option(
    "--http-port",
    type=click.IntRange(1, 65535),
    help="Serve streamable HTTP on 127.0.0.1:PORT instead of stdio; needs --token-file.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the bearer token HTTP clients must send (yours, mode 0600 or stricter).",
)
@click.pass_context
def mcp_cmd(ctx: click.Context, http_socket: Path | None, http_port: int | None, token_file: Path | None) -> None:
    """Serve the registered, installed tools to an MCP client; every call goes through the gate.

    Stdio by default. Tools are listed from the verified registry view only; a call whose
    tool changed since it was listed is denied (definition-changed). See docs/mcp.md.
    """
    import logging
    import sys

    if http_socket is not None and http_port is not None:
        raise UsageError("use --http-socket or --http-port, not both")
    if http_port is not None and token_file is None:
        raise UsageError("--http-port needs --token-file: a loopback port is reachable by every local user")
    if token_file is not None and http_socket is None and http_port is None:
        raise UsageError("--token-file is for the HTTP transports (--http-socket, --http-port)")
    home = get_home(ctx)
    from sealgate.mcp._token import read_token_file

    token = read_token_file(token_file) if token_file is not None else None

    # stdout carries the protocol on stdio: every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="sealgate mcp: %(levelname)s %(message)s")
    import anyio

    from sealgate.mcp import McpGateway, serve_http, serve_stdio

    gateway = McpGateway(home)
    try:
        if http_socket is None and http_port is None:
            anyio.run(serve_stdio, gateway.server)
        else:

            async def serve() -> None:
                await serve_http(gateway.server, socket_path=http_socket, port=http_port, token=token)

            anyio.run(serve)
    finally:
        gateway.close()
