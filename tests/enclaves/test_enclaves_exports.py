"""sealgate.enclaves: every exported name resolves, and importing the package imports none of its modules."""

from __future__ import annotations

import subprocess
import sys

import sealgate.enclaves


def test_every_exported_name_resolves() -> None:
    for name in sealgate.enclaves.__all__:
        assert getattr(sealgate.enclaves, name) is not None, name


def test_importing_the_package_imports_no_module_of_it() -> None:
    code = "import sys, sealgate.enclaves; print(sorted(m for m in sys.modules if m.startswith('sealgate.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['sealgate.enclaves']"
