"""Streamable HTTP: only a 0600 Unix socket, or loopback behind a bearer token from a 0600 file."""

from __future__ import annotations

import functools
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client

from sealgate.errors import UsageError
from sealgate.mcp import read_token_file
from tests.gatehome import GateHome
from tests.mcpserver.conftest import SEALGATE, server_params, text_of

TOKEN = "4f1b0c7e9a2d5c3b8e6f0a1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3"


def token_file(tmp_path: Path, mode: int = 0o600, text: str = TOKEN) -> Path:
    path = tmp_path / "token"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sealgate_mcp(home: Path, *args: str) -> list[str]:
    return [str(SEALGATE), "--home", str(home), "mcp", *args]


@contextmanager
def running(argv: list[str], ready: object) -> Iterator[subprocess.Popen[bytes]]:
    """Start the server; wait (up to 30 s) until ``ready()`` is true; stop it afterwards."""
    proc = subprocess.Popen(argv, env=server_params(Path("/")).env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not ready():  # type: ignore[operator]
            if proc.poll() is not None:
                raise AssertionError(f"the server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise AssertionError("the server did not start listening within 30 s")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("mode", "text", "problem"),
    [
        (0o644, TOKEN, "it must be 0600 or stricter"),
        (0o640, TOKEN, "it must be 0600 or stricter"),
        (0o600, "short", "at least 32 characters"),
        (0o600, "x" * 40 + " y", "at least 32 characters"),
    ],
)
def test_token_file_that_others_can_read_or_a_weak_token_refused(
    tmp_path: Path, mode: int, text: str, problem: str
) -> None:
    with pytest.raises(UsageError, match=problem):
        read_token_file(token_file(tmp_path, mode, text))


def test_token_file_symlink_refused(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(token_file(tmp_path))
    with pytest.raises(UsageError, match="symlinks are refused"):
        read_token_file(link)
    assert "redacted" in repr(read_token_file(tmp_path / "token")) and TOKEN not in repr(
        read_token_file(link.parent / "token")
    )


def test_loose_token_file_stops_the_command_before_it_listens(gh: GateHome, tmp_path: Path) -> None:
    port = free_port()
    argv = sealgate_mcp(gh.root, "--http-port", str(port), "--token-file", str(token_file(tmp_path, 0o644)))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 1
    assert "must be 0600 or stricter" in out.stderr
    assert not accepting(port)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--http-port", "8931"], "--http-port needs --token-file"),
        (["--http-port", "8931", "--http-socket", "/tmp/x.sock"], "not both"),
        (["--token-file", "/etc/hostname"], "--token-file is for the HTTP transports"),
    ],
)
def test_http_options_refused_unless_kept_local(gh: GateHome, args: list[str], problem: str) -> None:
    out = subprocess.run(sealgate_mcp(gh.root, *args), capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and problem in out.stderr


async def over_socket(path: Path, *, listed: bool) -> tuple[set[str], list[types.CallToolResult]]:
    """One SDK client session over the Unix socket: list (or not), then three calls."""
    client = httpx2.AsyncClient(transport=httpx2.AsyncHTTPTransport(uds=str(path)), timeout=30)
    async with (
        client,
        streamable_http_client("http://localhost/mcp", http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools} if listed else set()
        results = [
            await session.call_tool("acme.echo", {"text": "over a socket"}),
            await session.call_tool("acme.shell", {"script": "id"}),
        ]
    return names, results


def test_unix_socket_is_private_and_serves_the_gate(gh: GateHome, tmp_path: Path) -> None:
    # Each client session runs on its own event loop: anyio 4.16's Unix socket stream can call
    # set_result on a cancelled future while the client tears down ("invalid state"), which
    # asyncio then logs; that is the client's transport, not the server under test.
    path = tmp_path / "mcp.sock"
    with running(sealgate_mcp(gh.root, "--http-socket", str(path)), path.exists):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        names, (echo, shell) = anyio.run(functools.partial(over_socket, path, listed=True))
        # Another HTTP session has its own listing (the first one's is still remembered under
        # its session id): it was listed nothing, so it may call nothing.
        _, (unlisted, _) = anyio.run(functools.partial(over_socket, path, listed=False))
    assert "acme.echo" in names and "acme.rogue" not in names
    assert echo.is_error is False and text_of(echo) == "over a socket\n"
    assert shell.is_error is True and text_of(shell).startswith("DENIED check-denied: ")
    assert unlisted.is_error is True and text_of(unlisted).startswith("DENIED not-registered: ")
    assert not path.exists()  # removed on shutdown


@pytest.mark.anyio
async def test_loopback_http_needs_the_bearer_token(gh: GateHome, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    argv = sealgate_mcp(gh.root, "--http-port", str(port), "--token-file", str(token_file(tmp_path)))
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    with running(argv, lambda: accepting(port)):
        async with httpx2.AsyncClient(timeout=30) as raw:
            missing = await raw.post(url, json=ping, headers=accept)
            wrong = await raw.post(url, json=ping, headers={**accept, "authorization": "Bearer " + "0" * 64})
            twice = await raw.post(
                url, json=ping, headers=[*accept.items(), ("authorization", f"Bearer {TOKEN}"), ("authorization", "x")]
            )
        client = httpx2.AsyncClient(headers={"authorization": f"Bearer {TOKEN}"}, timeout=30)
        async with (
            client,
            streamable_http_client(url, http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            names = {t.name for t in (await session.list_tools()).tools}
            result = await session.call_tool("acme.echo", {"text": "with a token"})
    assert (missing.status_code, wrong.status_code, twice.status_code) == (401, 401, 401)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "acme.echo" in names
    assert result.is_error is False and text_of(result) == "with a token\n"
