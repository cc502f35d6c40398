"""docs/attestation.md states the pinned root, the reasons, the statuses and the binding the code uses."""

from __future__ import annotations

from pathlib import Path

from sealgate.enclaves.binding import BINDING_DOMAIN, MAX_NONCE_BYTES, MIN_NONCE_BYTES
from sealgate.enclaves.intel_root import INTEL_SGX_ROOT_CA_SHA256
from sealgate.enclaves.mock import MOCK_MAGIC
from sealgate.enclaves.quote import KNOWN_TCB_STATUSES, MOCK_TCB_STATUS
from sealgate.errors import Reason

DOC = (Path(__file__).resolve().parents[2] / "docs" / "attestation.md").read_text(encoding="utf-8")

# Every reason the quote layer, the binding and the mock verifier can raise.
RAISED = {
    Reason.QUOTE_INVALID,
    Reason.COLLATERAL_INVALID,
    Reason.COLLATERAL_EXPIRED,
    Reason.ROOT_CA_MISMATCH,
    Reason.DEBUG_ENCLAVE,
    Reason.TCB_STATUS_NOT_ALLOWED,
    Reason.REPORT_DATA_MISMATCH,
    Reason.MOCK_EVIDENCE_REFUSED,
}


def test_doc_states_the_pinned_root_fingerprint() -> None:
    assert INTEL_SGX_ROOT_CA_SHA256 in DOC


def test_doc_lists_every_reason_the_layer_raises() -> None:
    table = DOC.split("## Reason codes", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip().strip("`") for line in table.splitlines() if line.startswith("| `")}
    assert rows == {reason.value for reason in RAISED}


def test_doc_lists_the_known_tcb_statuses_and_the_mock_status() -> None:
    for status in KNOWN_TCB_STATUSES:
        assert f"`{status}`" in DOC
    assert f'tcb_status="{MOCK_TCB_STATUS}"' in DOC


def test_doc_states_the_binding_and_the_mock_magic() -> None:
    assert f'"{BINDING_DOMAIN.decode()}"' in DOC
    assert f"**{MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes**" in DOC
    assert MOCK_MAGIC.decode() in DOC
