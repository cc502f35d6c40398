"""Fixtures for the MCP tests: a real gate home with tools, and a real SDK client over stdio.

The server is ``sealgate --home HOME mcp`` started as a process by the SDK's own
``stdio_client``; tools run in bwrap. One home is built per test session and copied per
test, so a test may revoke, replace or re-publish tools freely.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client, types

from sealgate.audit import open_audit_log
from sealgate.tools import install_tool
from sealgate.tools.manifest import compile_tool_dir
from tests.gatehome import GateHome, build_gate_home, copy_gate_home, make_tool

SEALGATE = Path(sys.executable).with_name("sealgate")

ECHO = """
name: acme/echo
version: 1.0.0
description: Print a short lower-case text.
command: ["/bin/echo", "{input:text}"]
inputs:
  type: object
  properties:
    text: {type: string, maxLength: 64, pattern: "[a-z ]+"}
    times: {type: integer, minimum: 1, maximum: 3}
  required: [text]
"""

TRUE = """
name: acme/true
version: 1.0.0
description: Do nothing, successfully.
command: ["/bin/true"]
"""

# Prints a shipped file: replacing that file in the store is the simplest rug pull.
CAT = """
name: acme/cat
version: 1.0.0
description: Print the shipped motto.
command: ["/bin/cat", "{tool}/motto.txt"]
files: [motto.txt]
"""

# Runs its input as a shell script: LLM output must never reach that.
SHELL = """
name: acme/shell
version: 1.0.0
description: Run a shell snippet.
command: ["/bin/sh", "-c", "{input:script}"]
inputs:
  type: object
  properties:
    script: {type: string, maxLength: 256}
  required: [script]
"""

# Installed in the store but never published: files alone must not get it listed.
ROGUE = """
name: acme/rogue
version: 1.0.0
description: Installed, never approved.
command: ["/bin/true"]
"""


def tool_source(parent: Path, manifest: str, files: dict[str, tuple[int, bytes]] | None = None) -> Path:
    return make_tool(parent, manifest, files)


@pytest.fixture(scope="session")
def mcp_template(tmp_path_factory: pytest.TempPathFactory) -> GateHome:
    base = tmp_path_factory.mktemp("mcp-template")
    gh = build_gate_home(base / "home")
    src = base / "src"
    gh.register_tool(tool_source(src, ECHO))
    gh.register_tool(tool_source(src, TRUE))
    gh.register_tool(tool_source(src, CAT, {"motto.txt": (0o644, b"sealed and delivered\n")}))
    gh.register_tool(tool_source(src, SHELL))
    rogue = tool_source(src, ROGUE)
    compile_tool_dir(rogue)
    install_tool(gh.home, rogue)
    return gh


@pytest.fixture
def gh(tmp_path: Path, mcp_template: GateHome) -> GateHome:
    """A private copy of the template home."""
    return copy_gate_home(mcp_template, tmp_path / "home")


class Notifications:
    """Server notifications as the client received them."""

    def __init__(self) -> None:
        self.received: list[types.ServerNotification] = []
        self._changed = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.received.append(message)
            self._changed.set()

    async def wait_list_changed(self, timeout: float = 15.0) -> None:
        with anyio.fail_after(timeout):
            await self._changed.wait()
        self._changed = anyio.Event()


def server_params(home: Path, *extra: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")}
    return StdioServerParameters(command=str(SEALGATE), args=["--home", str(home), "mcp", *extra], env=env)


@asynccontextmanager
async def mcp_session(home: Path, notifications: Notifications | None = None) -> AsyncIterator[ClientSession]:
    """An initialised SDK client session with ``sealgate mcp`` over stdio."""
    async with (
        stdio_client(server_params(home)) as (read, write),
        ClientSession(read, write, message_handler=notifications) as session,
    ):
        await session.initialize()
        yield session


def audit_records(gh: GateHome) -> list[dict[str, Any]]:
    log = open_audit_log(gh.root)
    try:
        return [json.loads(r) for r in log.records(0, log.size())]
    finally:
        log.close()


def text_of(result: types.CallToolResult) -> str:
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text
