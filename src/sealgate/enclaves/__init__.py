"""Enclave governance (issue 4): measurements, DCAP quote verification, mock attestation.

* :mod:`.sigstruct`: parse and verify an SGX SIGSTRUCT; MRENCLAVE, MRSIGNER, ISV ids.
* :mod:`.buildmeasure`: what ``sealgate ci measure`` reports (SIGSTRUCT, file, OCI layout).
* :mod:`.mockscan`: find mock-attestation code in a build (``sealgate ci check-mock``).
* :mod:`.candidate`: a candidate entry document and an unsigned statement for maintainers.
* :mod:`.quote`, :mod:`.binding`, :mod:`.mock`: verifying DCAP quotes, the report-data
  binding, mock attestation for development.
* ``_check`` / ``_attest``: the gate's enclave check, :func:`attest` and the launcher's
  :func:`require_trusted`; :mod:`.selfcheck`: :func:`self_check`; :mod:`.remote`: remote
  verification (the service's ASGI app and the client).

Names are resolved on first use, so importing this package imports none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from sealgate.enclaves._attest import EnclaveNotTrusted, attest, open_enclave_gate, require_trusted
    from sealgate.enclaves._check import EnclaveCheck, Evidence
    from sealgate.enclaves.buildmeasure import BuildMeasurement, measure_file, measure_oci_layout, measure_sigstruct
    from sealgate.enclaves.candidate import Candidate, make_candidate, write_candidate
    from sealgate.enclaves.mockscan import MockHit, MockScanReport, ScanProblem, require_no_mock, scan_for_mock
    from sealgate.enclaves.quote import AttestationError, VerifiedQuote, verify_quote
    from sealgate.enclaves.remote import AttestationService, verify_remote
    from sealgate.enclaves.selfcheck import SelfCheckFailed, SelfCheckResult, self_check
    from sealgate.enclaves.sigstruct import Sigstruct, read_sigstruct

__all__ = [
    "AttestationError",
    "AttestationService",
    "BuildMeasurement",
    "Candidate",
    "EnclaveCheck",
    "EnclaveNotTrusted",
    "Evidence",
    "MockHit",
    "MockScanReport",
    "ScanProblem",
    "SelfCheckFailed",
    "SelfCheckResult",
    "Sigstruct",
    "VerifiedQuote",
    "attest",
    "make_candidate",
    "measure_file",
    "measure_oci_layout",
    "measure_sigstruct",
    "open_enclave_gate",
    "read_sigstruct",
    "require_no_mock",
    "require_trusted",
    "scan_for_mock",
    "self_check",
    "verify_quote",
    "verify_remote",
    "write_candidate",
]

_LAZY = {
    **dict.fromkeys(
        ["EnclaveNotTrusted", "attest", "open_enclave_gate", "require_trusted"], "sealgate.enclaves._attest"
    ),
    **dict.fromkeys(["EnclaveCheck", "Evidence"], "sealgate.enclaves._check"),
    **dict.fromkeys(["AttestationError", "VerifiedQuote", "verify_quote"], "sealgate.enclaves.quote"),
    **dict.fromkeys(["AttestationService", "verify_remote"], "sealgate.enclaves.remote"),
    **dict.fromkeys(["SelfCheckFailed", "SelfCheckResult", "self_check"], "sealgate.enclaves.selfcheck"),
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
