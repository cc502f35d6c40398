"""Enclave governance (issue 4): measurements, DCAP quote verification, mock attestation.

* :mod:`.sigstruct`: parse and verify an SGX SIGSTRUCT; MRENCLAVE, MRSIGNER, ISV ids.
* :mod:`.buildmeasure`: what ``sealgate ci measure`` reports (SIGSTRUCT, file, OCI layout).
* :mod:`.mockscan`: find mock-attestation code in a build (``sealgate ci check-mock``).
* :mod:`.candidate`: a candidate entry document and an unsigned statement for maintainers.

Names are resolved on first use, so importing this package imports none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from sealgate.enclaves.buildmeasure import BuildMeasurement, measure_file, measure_oci_layout, measure_sigstruct
    from sealgate.enclaves.candidate import Candidate, make_candidate, write_candidate
    from sealgate.enclaves.mockscan import MockHit, MockScanReport, ScanProblem, require_no_mock, scan_for_mock
    from sealgate.enclaves.sigstruct import Sigstruct, read_sigstruct

__all__ = [
    "BuildMeasurement",
    "Candidate",
    "MockHit",
    "MockScanReport",
    "ScanProblem",
    "Sigstruct",
    "make_candidate",
    "measure_file",
    "measure_oci_layout",
    "measure_sigstruct",
    "read_sigstruct",
    "require_no_mock",
    "scan_for_mock",
    "write_candidate",
]

_LAZY = {
    "Sigstruct": "sealgate.enclaves.sigstruct",
    "read_sigstruct": "sealgate.enclaves.sigstruct",
    "BuildMeasurement": "sealgate.enclaves.buildmeasure",
    "measure_file": "sealgate.enclaves.buildmeasure",
    "measure_oci_layout": "sealgate.enclaves.buildmeasure",
    "measure_sigstruct": "sealgate.enclaves.buildmeasure",
    "MockHit": "sealgate.enclaves.mockscan",
    "MockScanReport": "sealgate.enclaves.mockscan",
    "ScanProblem": "sealgate.enclaves.mockscan",
    "require_no_mock": "sealgate.enclaves.mockscan",
    "scan_for_mock": "sealgate.enclaves.mockscan",
    "Candidate": "sealgate.enclaves.candidate",
    "make_candidate": "sealgate.enclaves.candidate",
    "write_candidate": "sealgate.enclaves.candidate",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sealgate.enclaves' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
