"""Streamable HTTP for the MCP server: only on a Unix socket, or on loopback behind a bearer token.

The socket is created by this module with mode 0600 (uvicorn would make it 0666), so only
the owner can connect. On ``127.0.0.1`` every request must carry
``Authorization: Bearer <token>``, compared in constant time with the token read from a
file that is a regular file owned by the caller with no group or other permission bits.
DNS-rebinding protection (the SDK's Host/Origin check) stays on for both.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import signal
import socket
import stat
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, Final

from sealgate.errors import UsageError
from sealgate.mcp._token import BearerToken

__all__ = ["serve_http"]

log = logging.getLogger("sealgate.mcp")

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_App = Callable[[_Scope, _Receive, _Send], Awaitable[None]]

ENDPOINT: Final = "/mcp"
_LOOPBACK: Final = "127.0.0.1"


class _RequireBearer:
    """ASGI middleware: every HTTP request needs the bearer token; anything else gets 401."""

    def __init__(self, app: _App, token: BearerToken) -> None:
        self._app = app
        self._expected = b"Bearer " + token.reveal().encode("ascii")

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] in ("http", "websocket"):
            given = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
            # One header, equal in constant time; two headers are refused rather than chosen between.
            if len(given) != 1 or not hmac.compare_digest(bytes(given[0]), self._expected):
                if scope["type"] == "http":
                    await _unauthorized(send)
                return
        await self._app(scope, receive, send)


async def _unauthorized(send: _Send) -> None:
    body = b'{"error":"unauthorized: this sealgate MCP endpoint needs Authorization: Bearer <token>"}'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="sealgate-mcp"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at ``path``, mode 0600 from the start (bound under umask 077)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
            raise UsageError(f"{path} exists and is not a socket of yours; refusing to replace it")
        path.unlink()  # a socket left by an earlier run
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {path}: {exc.strerror}") from exc
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


async def serve_http(
    server: Any, *, socket_path: Path | None = None, port: int | None = None, token: BearerToken | None = None
) -> None:
    """Serve ``server`` (the SDK ``Server``) over streamable HTTP at ``/mcp`` until cancelled.

    Exactly one of ``socket_path`` and ``port`` (on 127.0.0.1, which needs ``token``).
    """
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    if (socket_path is None) == (port is None):
        raise UsageError("serve over a Unix socket or a loopback port, exactly one of them")
    if port is not None and token is None:
        raise UsageError("HTTP on a loopback port needs a bearer token (--token-file)")
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*"],
        allowed_origins=["http://127.0.0.1", "http://127.0.0.1:*", "http://localhost", "http://localhost:*"],
    )
    app: _App = server.streamable_http_app(streamable_http_path=ENDPOINT, transport_security=security)
    if token is not None:
        app = _RequireBearer(app, token)
    config = uvicorn.Config(
        app, host=_LOOPBACK, port=port or 0, lifespan="on", log_level="warning", access_log=False, server_header=False
    )
    http = uvicorn.Server(config)
    # uvicorn stops on SIGTERM and then raises the signal again under the handler it found;
    # with Python's default that kills the process before the socket is removed. Under this
    # handler the server stops the same way and the clean-up below runs.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        await _serve(http, socket_path, port)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


async def _serve(http: Any, socket_path: Path | None, port: int | None) -> None:
    if socket_path is not None:
        sock = _bind_unix(socket_path)
        log.warning("sealgate MCP: streamable HTTP on unix socket %s (endpoint %s)", socket_path, ENDPOINT)
        try:
            await http.serve(sockets=[sock])
        finally:
            sock.close()
            with contextlib.suppress(OSError):
                socket_path.unlink()
    else:
        log.warning(
            "sealgate MCP: streamable HTTP on http://%s:%d%s (bearer token required)", _LOOPBACK, port, ENDPOINT
        )
        await http.serve()
