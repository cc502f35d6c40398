"""The enclave entry document (v2): identities, allowed platform states, v1 still read."""

from __future__ import annotations

import json

import pytest

from sealgate.canonical import canonical_bytes
from sealgate.errors import MalformedInputError, Reason, RegistryError
from sealgate.registry.documents import ENCLAVE_ENTRY_TYPE, TCB_STATUSES, EnclaveEntryDocument, TdxIdentity
from tests.registry.conftest import Keys, Registry

MR = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
SIGNER = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
TDX = TdxIdentity(
    mrtd="91" * 48, rtmr0="44" * 48, rtmr1="00" * 48, rtmr2="00" * 48, rtmr3="00" * 48,
    mr_config_id="00" * 48, td_attributes="0000001000000000", xfam="e702060000000000", min_tee_tcb_svn="03" + "00" * 15,
)  # fmt: skip
BASE = {"version": "1.0.0", "stage": "PROD", "status": "active", "git_commit": "a" * 40}


@pytest.mark.parametrize(
    "doc",
    [
        EnclaveEntryDocument(mrenclave=MR, **BASE),
        EnclaveEntryDocument(mrsigner=SIGNER, isv_prod_id=7, min_isv_svn=3, **BASE),
        EnclaveEntryDocument(
            mrenclave=MR, mrsigner=SIGNER, isv_prod_id=0, allowed_tcb_statuses=("UpToDate", "SWHardeningNeeded"),
            allowed_advisories=("INTEL-SA-00615",), **BASE,
        ),
        EnclaveEntryDocument(tdx=TDX, **BASE),
        EnclaveEntryDocument(legacy_measurement="not-hex", **BASE),
    ],
    ids=["mrenclave", "mrsigner", "both", "tdx", "legacy"],
)  # fmt: skip
def test_round_trip_is_canonical_and_exact(doc: EnclaveEntryDocument) -> None:
    data = doc.to_bytes()
    assert canonical_bytes(json.loads(data)) == data
    assert json.loads(data)["_type"] == ENCLAVE_ENTRY_TYPE
    assert EnclaveEntryDocument.from_bytes(data) == doc


def test_v1_document_still_read_with_safe_defaults() -> None:
    v1 = canonical_bytes(
        {"_type": "sealgate/enclave-entry/v1", "mrenclave": MR, "version": "1", "stage": "DEV", "status": "active",
         "git_commit": None, "build_timestamp": None, "revocation_reason": None}
    )  # fmt: skip
    doc = EnclaveEntryDocument.from_bytes(v1)
    assert (doc.tee, doc.mrenclave, doc.min_isv_svn, doc.allowed_tcb_statuses) == ("sgx", MR, 0, ("UpToDate",))


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, "exactly one identity"),
        ({"mrenclave": MR, "tdx": TDX}, "exactly one identity"),
        ({"mrsigner": SIGNER}, "needs isv_prod_id"),
        ({"mrenclave": MR.upper()}, "64 lowercase hex"),
        ({"mrenclave": MR, "min_isv_svn": 70000}, "min_isv_svn"),
        ({"mrenclave": MR, "allowed_tcb_statuses": ()}, "allowed_tcb_statuses"),
        ({"mrenclave": MR, "allowed_tcb_statuses": ("Fine",)}, "allowed_tcb_statuses"),
        ({"mrenclave": MR, "allowed_advisories": ("SA-1",)}, "allowed_advisories"),
        ({"legacy_measurement": MR}, "is an mrenclave"),
    ],
)
def test_invalid_documents_refused(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(MalformedInputError, match=problem):
        EnclaveEntryDocument(**BASE, **fields)  # type: ignore[arg-type]


def test_unknown_fields_and_bad_tdx_refused_when_parsing() -> None:
    doc = EnclaveEntryDocument(tdx=TDX, **BASE).to_dict()
    with pytest.raises(MalformedInputError, match="unknown fields"):
        EnclaveEntryDocument.from_bytes(canonical_bytes({**doc, "debug_ok": True}))
    doc["tdx"] = {**doc["tdx"], "mrtd": "zz"}
    with pytest.raises(MalformedInputError, match=r"tdx\.mrtd"):
        EnclaveEntryDocument.from_bytes(canonical_bytes(doc))


def test_known_tcb_statuses_are_intels() -> None:
    assert "UpToDate" in TCB_STATUSES and "Revoked" in TCB_STATUSES and len(set(TCB_STATUSES)) == 7


def test_a_published_minimum_never_goes_down(writer: Registry, writer_keys: Keys) -> None:
    writer.publish(writer.repo.propose_add_namespace("enclaves/svc", [writer_keys.acme[0].public], 1))

    def entry(version: str, svn: int) -> EnclaveEntryDocument:
        return EnclaveEntryDocument(mrsigner=SIGNER, isv_prod_id=1, min_isv_svn=svn, version=version, stage="PROD",
                                    status="active")  # fmt: skip

    writer.publish(writer.repo.propose_add_enclave(name="svc", version="1", stage="PROD", document=entry("1", 4)))
    writer.publish(writer.repo.propose_add_enclave(name="svc", version="2", stage="PROD", document=entry("2", 5)))
    with pytest.raises(RegistryError) as lowered:
        writer.repo.propose_add_enclave(name="svc", version="3", stage="PROD", document=entry("3", 4))
    assert lowered.value.reason is Reason.MINIMUM_LOWERED and "never goes down" in lowered.value.message
    other_product = EnclaveEntryDocument(mrsigner=SIGNER, isv_prod_id=2, min_isv_svn=0, version="4", stage="PROD",
                                         status="active")  # fmt: skip
    with pytest.raises(RegistryError, match="never goes down"):  # the minimum is per name
        writer.repo.propose_add_enclave(name="svc", version="4", stage="PROD", document=other_product)
    assert [doc.min_isv_svn for _, doc in writer.repo.enclave_entries("svc")] == [4, 5]


def test_a_lower_minimum_is_refused_on_every_path_into_the_registry(writer: Registry, writer_keys: Keys) -> None:
    # `registry propose entry.json --kind enclave` adds the document through add_entry.
    import hashlib

    writer.publish(writer.repo.propose_add_namespace("enclaves/any", [writer_keys.acme[0].public], 1))
    high = EnclaveEntryDocument(mrenclave=MR, min_isv_svn=2, version="1", stage="DEV", status="active")
    writer.publish(writer.repo.propose_add_enclave(name="any", version="1", stage="DEV", document=high))
    low = EnclaveEntryDocument(mrenclave=MR, min_isv_svn=1, version="2", stage="DEV", status="active").to_bytes()
    builder = writer.repo.builder()
    with pytest.raises(RegistryError) as lowered:
        builder.add_entry(kind="enclave", name="any", version="2", digest=hashlib.sha256(low).hexdigest(),
                          size=len(low), stage="DEV", content=low)  # fmt: skip
    assert lowered.value.reason is Reason.MINIMUM_LOWERED


def test_rolling_back_to_a_build_below_the_current_minimum_is_refused(writer: Registry, writer_keys: Keys) -> None:
    writer.publish(writer.repo.propose_add_namespace("enclaves/rb", [writer_keys.acme[0].public], 1))
    for version, svn in (("1", 1), ("2", 2)):
        doc = EnclaveEntryDocument(mrsigner=SIGNER, isv_prod_id=0, min_isv_svn=svn, version=version, stage="DEV",
                                   status="active")  # fmt: skip
        writer.publish(writer.repo.propose_add_enclave(name="rb", version=version, stage="DEV", document=doc))
    with pytest.raises(RegistryError) as refused:
        writer.repo.propose_rollback("enclave", "rb", "2", "bad build")
    assert refused.value.reason is Reason.MINIMUM_LOWERED and "Roll forward" in refused.value.message
