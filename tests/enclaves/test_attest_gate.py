"""Enclave decisions through the gate, with the real SGX and TDX quotes of ../shared/vectors/dcap.

Each attack of issue 4 that concerns a quote is a test here: unregistered measurement,
revoked measurement, the right measurement under the wrong name, debug enclave (mock),
security version below the minimum, TCB status not allowed, expired collateral, replayed
quote (nonce mismatch), relayed quote (report data bound to another TLS key), mock evidence
in production and for a PROD entry, a hand-edited registry file. Every denial is audited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sealgate.audit import open_audit_log
from sealgate.crypto.intoto import make_approval
from sealgate.crypto.keys import PrivateKey, generate_key
from sealgate.enclaves._attest import EnclaveNotTrusted, attest, open_enclave_gate, require_trusted
from sealgate.enclaves._check import Evidence
from sealgate.enclaves.binding import expected_report_data
from sealgate.enclaves.mock import MockQuoteProvider, mock_sgx_report
from sealgate.enclaves.quote import VerifiedQuote
from sealgate.errors import DeniedError
from sealgate.registry.documents import EnclaveEntryDocument, TdxIdentity
from sealgate.registry.layout import target_path
from tests.gatehome import GateHome, build_gate_home, policy_yaml

SGX_AT = 1750334171
TDX_AT = 1750331763
MRENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
MRSIGNER = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
HELLO = b"Hello, world!".ljust(64, b"\0")
SIGNERS = (("alice", "author"), ("bob", "reviewer"))


def enclave_policy(gh: GateHome, environment: str = "development") -> bytes:
    """The test policy with every tools/* binding (and alice's tools/acme one) extended to enclaves/*."""
    text = policy_yaml(gh.keys, environment=environment)
    text = text.replace(b'namespaces: ["tools/acme"]}', b'namespaces: ["tools/acme", "enclaves/*"]}')
    return text.replace(b'namespaces: ["tools/*"]}', b'namespaces: ["tools/*", "enclaves/*"]}')


def register(
    gh: GateHome, name: str, doc: EnclaveEntryDocument, signers: tuple[tuple[str, str], ...] = SIGNERS
) -> None:
    if name not in gh.namespaces:
        gh.add_namespace(f"enclaves/{name}")
        gh.namespaces.add(name)
    digest = __import__("hashlib").sha256(doc.to_bytes()).hexdigest()
    target = target_path("enclave", name, doc.version)
    statements = [make_approval(target, digest, role, gh.keys[k]).to_dict() for k, role in signers]
    gh.publish(gh.repo.propose_add_enclave(name=name, version=doc.version, stage=doc.stage, document=doc,
                                          statements=statements))  # fmt: skip
    gh.refresh()


def sgx_entry(version: str = "1.0.0", **fields: Any) -> EnclaveEntryDocument:
    base: dict[str, Any] = {
        "mrenclave": MRENCLAVE, "version": version, "stage": "STAGE", "status": "active",
        "allowed_tcb_statuses": ("UpToDate", "ConfigurationAndSWHardeningNeeded"),
        "allowed_advisories": ("INTEL-SA-00289", "INTEL-SA-00615"),
    }  # fmt: skip
    base.update(fields)
    return EnclaveEntryDocument(**base)


@pytest.fixture(scope="module")
def gh(tmp_path_factory: pytest.TempPathFactory) -> GateHome:
    home = build_gate_home(tmp_path_factory.mktemp("attest") / "home")
    home.namespaces = set()  # type: ignore[attr-defined]
    home.set_policy(enclave_policy(home))
    register(home, "signal", sgx_entry())
    register(home, "other", sgx_entry(mrenclave="ab" * 32))
    return home


@pytest.fixture
def dcap(shared_vectors: Path) -> Path:
    return shared_vectors / "dcap"


def sgx_evidence(dcap: Path, **fields: Any) -> Evidence:
    values: dict[str, Any] = {"quote": (dcap / "sgx_quote").read_bytes(),
                              "collateral": (dcap / "sgx_quote_collateral.json").read_bytes(),
                              "at": SGX_AT, "report_data": HELLO, "historical": True}  # fmt: skip
    values.update(fields)
    return Evidence(**values)


def last_record(gh: GateHome) -> dict[str, Any]:
    log = open_audit_log(gh.root, None)
    try:
        return json.loads(log.record(log.size() - 1))
    finally:
        log.close()


def denied(gh: GateHome, name: str, evidence: Evidence) -> str:
    with pytest.raises(DeniedError) as exc:
        attest(name, evidence, home=gh.home)
    record = last_record(gh)
    assert record["decision"] == "deny" and record["reason"] == exc.value.reason.value
    return exc.value.reason.value


def test_real_sgx_quote_allowed_with_its_facts_and_audited(gh: GateHome, dcap: Path) -> None:
    token = attest("signal", sgx_evidence(dcap), home=gh.home)
    quote = token.interpretation
    assert isinstance(quote, VerifiedQuote) and quote.sgx is not None
    assert (quote.sgx.mr_enclave, quote.sgx.mr_signer, quote.tcb_status) == (
        MRENCLAVE, MRSIGNER, "ConfigurationAndSWHardeningNeeded",
    )  # fmt: skip
    record = last_record(gh)
    assert (record["decision"], record["subject"]["name"], record["subject"]["version"]) == ("allow", "signal", "1.0.0")
    assert record["checks"]["historical"] is True and record["checks"]["verified_at"] == SGX_AT
    assert record["principals"] == {"author": ["alice"], "reviewer": ["bob"]}


def test_expired_collateral_denied_now(gh: GateHome, dcap: Path) -> None:
    assert denied(gh, "signal", sgx_evidence(dcap, at=2_000_000_000, historical=False)) == "collateral-expired"


def test_right_measurement_under_the_wrong_name_denied(gh: GateHome, dcap: Path) -> None:
    assert denied(gh, "other", sgx_evidence(dcap)) == "measurement-mismatch"
    assert denied(gh, "unknown", sgx_evidence(dcap)) == "measurement-mismatch"


def spki() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_replayed_quote_with_another_nonce_denied(gh: GateHome, dcap: Path) -> None:
    evidence = sgx_evidence(dcap, report_data=None, nonce=b"fresh nonce 0123", tls_spki_der=spki())
    assert denied(gh, "signal", evidence) == "report-data-mismatch"


def test_relayed_quote_bound_to_another_tls_key_denied(gh: GateHome, dcap: Path) -> None:
    # The service bound its quote to its own key; a relay presents it over another connection.
    exact = expected_report_data(b"n" * 32, spki())
    assert denied(gh, "signal", sgx_evidence(dcap, report_data=exact)) == "report-data-mismatch"


def test_tcb_status_not_allowed_and_advisory_not_allowed(gh: GateHome, dcap: Path) -> None:
    register(gh, "strictsig", sgx_entry(allowed_tcb_statuses=("UpToDate",)))
    assert denied(gh, "strictsig", sgx_evidence(dcap)) == "tcb-status-not-allowed"
    register(gh, "noadv", sgx_entry(allowed_advisories=("INTEL-SA-00289",)))
    assert denied(gh, "noadv", sgx_evidence(dcap)) == "advisory-not-allowed"


def test_security_version_below_the_minimum_denied(gh: GateHome, dcap: Path) -> None:
    register(gh, "svn", sgx_entry(mrenclave=None, mrsigner=MRSIGNER, isv_prod_id=0, min_isv_svn=1))
    assert denied(gh, "svn", sgx_evidence(dcap)) == "security-version-too-low"


def test_revoked_measurement_denied(gh: GateHome, dcap: Path) -> None:
    register(gh, "revoked", sgx_entry())
    gh.publish(gh.repo.propose_revoke("enclave", "revoked", "1.0.0", reason="key leak"))
    gh.refresh()
    assert denied(gh, "revoked", sgx_evidence(dcap)) == "revoked"
    assert "key leak" in last_record(gh)["message"]


def test_hand_edited_entry_document_denied(gh: GateHome, dcap: Path) -> None:
    register(gh, "edited", sgx_entry(allowed_tcb_statuses=("UpToDate",)))
    path = gh.root / "trust" / "targets" / target_path("enclave", "edited", "1.0.0")
    doc = json.loads(path.read_bytes())
    doc["allowed_tcb_statuses"] = ["UpToDate", "ConfigurationAndSWHardeningNeeded"]
    path.write_bytes(__import__("sealgate.canonical", fromlist=["x"]).canonical_bytes(doc))
    assert denied(gh, "edited", sgx_evidence(dcap)) == "digest-mismatch"


def test_real_tdx_quote_allowed_against_its_registers(gh: GateHome, dcap: Path) -> None:
    raw = (dcap / "tdx_quote").read_bytes()
    probe = attest_facts_tdx(dcap)
    tdx = TdxIdentity(mrtd=probe.mr_td, rtmr0=probe.rtmr0, rtmr1=probe.rtmr1, rtmr2=probe.rtmr2, rtmr3=probe.rtmr3,
                      mr_config_id=probe.mr_config_id, td_attributes=probe.td_attributes, xfam=probe.xfam)  # fmt: skip
    register(gh, "td", EnclaveEntryDocument(tdx=tdx, version="1.0.0", stage="STAGE", status="active"))
    evidence = Evidence(quote=raw, collateral=(dcap / "tdx_quote_collateral.json").read_bytes(), at=TDX_AT,
                        report_data=bytes.fromhex(probe_report_data(dcap)), historical=True)  # fmt: skip
    token = attest("td", evidence, home=gh.home)
    assert token.interpretation.tdx.mr_td.startswith("91eb2b44")  # type: ignore[attr-defined]


def attest_facts_tdx(dcap: Path) -> Any:
    from sealgate.enclaves.quote import verify_quote

    quote = verify_quote((dcap / "tdx_quote").read_bytes(), (dcap / "tdx_quote_collateral.json").read_bytes(),
                         at=TDX_AT)  # fmt: skip
    return quote.tdx


def probe_report_data(dcap: Path) -> str:
    from sealgate.enclaves.quote import verify_quote

    quote = verify_quote((dcap / "tdx_quote").read_bytes(), (dcap / "tdx_quote_collateral.json").read_bytes(),
                         at=TDX_AT)  # fmt: skip
    return quote.report_data.hex()


# -- mock evidence -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_key() -> PrivateKey:
    return generate_key("ed25519")


def mock_evidence(key: PrivateKey, *, debug: bool = False, svn: int = 0) -> Evidence:
    report = mock_sgx_report(mr_enclave="cd" * 32, mr_signer=MRSIGNER, isv_svn=svn, debug=debug)
    quote = MockQuoteProvider(key, report).get_quote(HELLO)
    return Evidence(quote=quote, collateral=None, at=SGX_AT, report_data=HELLO, mock_keys=(key.public,))


def test_mock_evidence_allowed_in_development_for_a_dev_entry(gh: GateHome, dev_key: PrivateKey) -> None:
    register(gh, "devsvc", sgx_entry(mrenclave="cd" * 32, stage="DEV"))
    with pytest.warns(UserWarning, match="MOCK"):
        token = attest("devsvc", mock_evidence(dev_key), home=gh.home)
    assert token.interpretation.mock is True  # type: ignore[attr-defined]
    assert last_record(gh)["checks"]["mock"] is True


def test_debug_enclave_denied(gh: GateHome, dev_key: PrivateKey) -> None:
    register(gh, "dbg", sgx_entry(mrenclave="cd" * 32, stage="DEV"))
    with pytest.warns(UserWarning):
        assert denied(gh, "dbg", mock_evidence(dev_key, debug=True)) == "debug-enclave"


def test_mock_evidence_for_a_prod_entry_denied(gh: GateHome, dev_key: PrivateKey) -> None:
    register(gh, "prodsvc", sgx_entry(mrenclave="cd" * 32, stage="PROD"),
             signers=(*SIGNERS, ("carol", "approver"), ("dave", "approver")))  # fmt: skip
    assert denied(gh, "prodsvc", mock_evidence(dev_key)) == "mock-evidence-refused"


def test_launcher_gatekeeper_raises_and_never_returns_a_value_to_ignore(gh: GateHome, dcap: Path) -> None:
    with pytest.raises(EnclaveNotTrusted) as refused:
        require_trusted("other", sgx_evidence(dcap), home=gh.home)
    assert refused.value.reason.value == "measurement-mismatch" and refused.value.decision is not None
    # The launcher always decides now: the sample's collateral has expired, whatever `at` says.
    with pytest.raises(EnclaveNotTrusted) as expired:
        require_trusted("signal", sgx_evidence(dcap), home=gh.home)
    assert expired.value.reason.value == "collateral-expired"


def test_launcher_gatekeeper_returns_nothing_when_allowed(gh: GateHome, dev_key: PrivateKey) -> None:
    register(gh, "launch", sgx_entry(mrenclave="cd" * 32, stage="DEV"))
    with pytest.warns(UserWarning, match="MOCK"):
        assert require_trusted("launch", mock_evidence(dev_key), home=gh.home) is None
    record = last_record(gh)
    assert (record["decision"], record["checks"]["historical"]) == ("allow", False)


def test_one_gate_serves_many_quotes(gh: GateHome, dcap: Path) -> None:
    gate = open_enclave_gate(gh.home)
    try:
        for _ in range(5):
            assert attest("signal", sgx_evidence(dcap), gate=gate).name == "signal"
    finally:
        gate.close()


def test_client_remembers_the_highest_minimum_and_refuses_a_view_that_lowers_it(gh: GateHome, dcap: Path) -> None:
    from sealgate.errors import Reason, RegistryIntegrityError
    from sealgate.registry.layout import MINIMUMS_FILE

    entry = sgx_entry(mrenclave=None, mrsigner=MRSIGNER, isv_prod_id=0, min_isv_svn=0)
    register(gh, "floor", entry)
    assert attest("floor", sgx_evidence(dcap), home=gh.home).name == "floor"
    minimums = gh.root / "trust" / MINIMUMS_FILE
    assert json.loads(minimums.read_bytes())["floor"] == 0
    # This host once saw a registry where floor's minimum was 3 (as the file records): the
    # same entry with minimum 0 no longer passes, and a refresh that still says 0 is refused.
    saved = minimums.read_bytes()
    minimums.write_bytes(json.dumps({**json.loads(saved), "floor": 3}).encode())
    try:
        assert denied(gh, "floor", sgx_evidence(dcap)) == "security-version-too-low"
        with pytest.raises(RegistryIntegrityError) as refused:
            gh.refresh()
        assert refused.value.reason is Reason.MINIMUM_LOWERED
        assert json.loads(minimums.read_bytes())["floor"] == 3  # the previous view and memory are kept
    finally:
        minimums.write_bytes(saved)


# -- the enclave's own start-up check -----------------------------------------------------------


def test_self_check_of_a_prod_entry_under_the_mock_provider_aborts(gh: GateHome, dev_key: PrivateKey) -> None:
    from sealgate.enclaves.selfcheck import SelfCheckFailed, self_check

    provider = MockQuoteProvider(dev_key, mock_sgx_report(mr_enclave="cd" * 32, mr_signer=MRSIGNER))
    with pytest.raises(SelfCheckFailed) as aborted:
        self_check("prodsvc", provider, home=gh.home)  # registered PROD above
    assert aborted.value.reason.value == "mock-evidence-refused"
    assert last_record(gh)["reason"] == "mock-evidence-refused"


def test_self_check_passes_for_a_dev_entry_and_aborts_for_a_debug_build(gh: GateHome, dev_key: PrivateKey) -> None:
    from sealgate.enclaves.selfcheck import SelfCheckFailed, self_check

    provider = MockQuoteProvider(dev_key, mock_sgx_report(mr_enclave="cd" * 32, mr_signer=MRSIGNER))
    result = self_check("devsvc", provider, home=gh.home)
    assert (result.mock, result.debug, result.stages, result.production) == (True, False, ("DEV",), False)
    debug = MockQuoteProvider(dev_key, mock_sgx_report(mr_enclave="ef" * 32, mr_signer=MRSIGNER, debug=True))
    with pytest.raises(SelfCheckFailed) as aborted:
        self_check("devsvc", debug, home=gh.home)  # unregistered measurement counts as PROD
    assert aborted.value.reason.value == "mock-evidence-refused"


def test_self_check_with_the_gramine_interface_reads_the_real_quote(gh: GateHome, dcap: Path, tmp_path: Path) -> None:
    from sealgate.enclaves.quote import GramineQuoteProvider
    from sealgate.enclaves.selfcheck import self_check

    fake = tmp_path / "attestation"
    fake.mkdir()
    (fake / "attestation_type").write_text("dcap")
    (fake / "user_report_data").write_bytes(bytes(64))
    (fake / "quote").write_bytes((dcap / "sgx_quote").read_bytes())
    result = self_check("signal", GramineQuoteProvider(fake), home=gh.home)
    assert (result.mock, result.debug, result.versions) == (False, False, ("1.0.0",))


def test_self_check_honours_a_local_policy_that_tightens_to_production(gh: GateHome, dev_key: PrivateKey) -> None:
    from sealgate.enclaves.selfcheck import SelfCheckFailed, self_check
    from sealgate.policy import compile_local_policy_yaml

    provider = MockQuoteProvider(dev_key, mock_sgx_report(mr_enclave="cd" * 32, mr_signer=MRSIGNER))
    local = gh.home.local_policy
    local.write_bytes(compile_local_policy_yaml(b"_type: sealgate/local-policy/v1\nenvironment: production\n"))
    try:
        with pytest.raises(SelfCheckFailed) as aborted:
            self_check("devsvc", provider, home=gh.home)  # a DEV entry, but this host is production
        assert "production" in aborted.value.message
    finally:
        local.unlink()


def test_client_remembers_tdx_minimums_per_component(gh: GateHome, dcap: Path) -> None:
    from sealgate.registry.layout import MINIMUMS_FILE

    register(gh, "tdmin", tdx_entry(dcap))  # minimum TEE TCB SVN all zeros
    minimums = gh.root / "trust" / MINIMUMS_FILE
    assert json.loads(minimums.read_bytes())["tdmin/tdx"] == [0] * 16
    saved = minimums.read_bytes()
    # This host once saw a higher minimum in component 0 than the quote's TEE TCB SVN.
    have = bytes.fromhex(attest_facts_tdx(dcap).tee_tcb_svn)
    minimums.write_bytes(json.dumps({**json.loads(saved), "tdmin/tdx": [have[0] + 1] + [0] * 15}).encode())
    try:
        assert denied(gh, "tdmin", tdx_evidence(dcap)) == "security-version-too-low"
    finally:
        minimums.write_bytes(saved)
    assert attest("tdmin", tdx_evidence(dcap), home=gh.home).name == "tdmin"


def tdx_entry(dcap: Path) -> EnclaveEntryDocument:
    probe = attest_facts_tdx(dcap)
    tdx = TdxIdentity(mrtd=probe.mr_td, rtmr0=probe.rtmr0, rtmr1=probe.rtmr1, rtmr2=probe.rtmr2, rtmr3=probe.rtmr3,
                      mr_config_id=probe.mr_config_id, td_attributes=probe.td_attributes, xfam=probe.xfam)  # fmt: skip
    return EnclaveEntryDocument(tdx=tdx, version="1.0.0", stage="STAGE", status="active")


def tdx_evidence(dcap: Path) -> Evidence:
    quote, collateral = (dcap / "tdx_quote").read_bytes(), (dcap / "tdx_quote_collateral.json").read_bytes()
    return Evidence(quote=quote, collateral=collateral, at=TDX_AT, report_data=bytes.fromhex(probe_report_data(dcap)),
                    historical=True)  # fmt: skip
