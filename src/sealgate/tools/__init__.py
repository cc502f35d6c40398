"""Signed agent tools: manifests (:mod:`sealgate.tools.manifest`), the gate's tool check, and running.

:func:`run_tool` and :func:`verify_tool` are the Python API; the CLI (``sealgate run``) and
the MCP server use the same functions, so every entry point passes the same gate.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from sealgate.tools._check import ToolCheck, ToolPlan
    from sealgate.tools._run import ToolRun, install_tool, installed_path, open_tool_gate, run_tool, verify_tool

__all__ = [
    "ToolCheck",
    "ToolPlan",
    "ToolRun",
    "install_tool",
    "installed_path",
    "open_tool_gate",
    "run_tool",
    "verify_tool",
]

# Resolved on first use: `sealgate verify --kind tool` needs the check, not the runner's side.
_LAZY = {
    **dict.fromkeys(["ToolCheck", "ToolPlan"], "sealgate.tools._check"),
    **dict.fromkeys(
        ["ToolRun", "install_tool", "installed_path", "open_tool_gate", "run_tool", "verify_tool"],
        "sealgate.tools._run",
    ),
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sealgate.tools' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
