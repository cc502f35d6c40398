"""The MCP server (issue 3): registered tools offered to MCP clients, every call through the gate.

``sealgate mcp`` is the front-end (src/sealgate/cli/_mcp.py); docs/mcp.md is the user's
guide. :class:`McpGateway` holds the gate and the SDK server; :func:`serve_stdio` and
:func:`serve_http` are the transports. The ``mcp`` SDK costs about a second of start-up,
so the names that need it are imported on first use: importing this package, the listing
(:func:`build_catalog`) and the token file check (:func:`read_token_file`) do not load it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sealgate.mcp._catalog import Catalog, ListedTool, NotListed, build_catalog, input_schema, mcp_tool_name
from sealgate.mcp._token import BearerToken, read_token_file

if TYPE_CHECKING:
    from sealgate.mcp._http import serve_http
    from sealgate.mcp._server import EXPLAIN_TOOL, INTERFACE, LIST_TOOL, TAINT, McpGateway, serve_stdio

__all__ = [
    "EXPLAIN_TOOL",
    "INTERFACE",
    "LIST_TOOL",
    "TAINT",
    "BearerToken",
    "Catalog",
    "ListedTool",
    "McpGateway",
    "NotListed",
    "build_catalog",
    "input_schema",
    "mcp_tool_name",
    "read_token_file",
    "serve_http",
    "serve_stdio",
]

_LAZY = {
    "serve_http": "sealgate.mcp._http",
    **dict.fromkeys(("EXPLAIN_TOOL", "INTERFACE", "LIST_TOOL", "TAINT", "McpGateway", "serve_stdio"),
                    "sealgate.mcp._server"),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
