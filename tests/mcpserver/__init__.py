"""Tests of src/sealgate/mcp. The folder is not called ``mcp``: with ``src = ["src", "tests"]``
a ``tests/mcp`` folder makes ruff's import sorting take the SDK's ``mcp`` for a first-party
module in every test and benchmark file."""
