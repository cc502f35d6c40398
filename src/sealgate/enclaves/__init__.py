"""Enclave governance (issue 4): measurements, DCAP quote verification, mock attestation.

* :mod:`.sigstruct`: parse and verify an SGX SIGSTRUCT; MRENCLAVE, MRSIGNER, ISV ids.
* :mod:`.mockscan`: find mock-attestation code in a build (``sealgate ci check-mock``).

Names are resolved on first use, so importing this package imports none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from sealgate.enclaves.mockscan import MockHit, MockScanReport, ScanProblem, require_no_mock, scan_for_mock
    from sealgate.enclaves.sigstruct import Sigstruct, read_sigstruct

__all__ = [
    "MockHit",
    "MockScanReport",
    "ScanProblem",
    "Sigstruct",
    "read_sigstruct",
    "require_no_mock",
    "scan_for_mock",
]

_LAZY = {
    "Sigstruct": "sealgate.enclaves.sigstruct",
    "read_sigstruct": "sealgate.enclaves.sigstruct",
    "MockHit": "sealgate.enclaves.mockscan",
    "MockScanReport": "sealgate.enclaves.mockscan",
    "ScanProblem": "sealgate.enclaves.mockscan",
    "require_no_mock": "sealgate.enclaves.mockscan",
    "scan_for_mock": "sealgate.enclaves.mockscan",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sealgate.enclaves' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
