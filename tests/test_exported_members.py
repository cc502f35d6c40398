"""The top-level public API is exactly what we meant, and importing it costs nothing."""

from __future__ import annotations

import subprocess
import sys

import sealgate

EXPECTED = {
    "AuditError", "AuditIntegrityError", "Decision", "DeniedError", "ExitCode", "Gate", "GateRequest", "Home",
    "MalformedInputError", "PolicyError", "Reason", "RegistryError", "RegistryIntegrityError", "SandboxError",
    "SealgateError", "Severity", "UsageError", "VerificationError", "VerifiedArtifact", "__version__", "run_tool",
    "verify_tool",
}  # fmt: skip


def test_all_is_the_intended_public_api() -> None:
    assert set(sealgate.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(sealgate, name) is not None


def test_public_names_do_not_leak_internals() -> None:
    public = {name for name in dir(sealgate) if not name.startswith("_")}
    assert public <= EXPECTED | {"annotations"} | {m for m in public if isinstance(getattr(sealgate, m), type(sys))}


def test_importing_sealgate_imports_no_layer() -> None:
    code = "import sys, sealgate; print(sorted(m for m in sys.modules if m.startswith('sealgate')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['sealgate']"
