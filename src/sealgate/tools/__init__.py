"""Signed agent tools: manifests (:mod:`sealgate.tools.manifest`), the gate's tool check, and running.

:func:`run_tool` and :func:`verify_tool` are the Python API; the CLI (``sealgate run``) and
the MCP server use the same functions, so every entry point passes the same gate.
"""

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
