"""``sealgate enclave add`` and ``enclave self-check`` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.clihome import CliHome, assert_refused, run_cli

MR = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
SIGNER = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
COMMIT = "ab" * 20


def _namespace(ch: CliHome, name: str) -> None:
    proposal = ch.work / f"ns-{name}.proposal.json"
    ch.run("registry", "namespace", f"enclaves/{name}", "--key", "carol", "--key", "dave", "--threshold", "2",
           "--out", str(proposal))  # fmt: skip
    ch.approve_and_publish(proposal)


def _add(ch: CliHome, *args: str) -> Path:
    out = json.loads(ch.run("enclave", "add", *args, "--git-commit", COMMIT, "--json"))
    return Path(out["proposal"])


def test_enclave_add_proposes_a_v2_entry_with_its_signed_statements(ch: CliHome) -> None:
    _namespace(ch, "svc")
    entry = ch.work / "svc-1.entry.json"
    common = ("--name", "svc", "--version", "1.0.0", "--stage", "STAGE", "--entry-out", str(entry))
    sgx = ("--mrsigner", SIGNER, "--isv-prod-id", "3", "--min-isv-svn", "2",
           "--allow-tcb-status", "UpToDate", "--allow-tcb-status", "SWHardeningNeeded")  # fmt: skip
    _add(ch, *common, *sgx)  # first pass writes the entry document for the signers
    for who, role in (("alice", "author"), ("bob", "reviewer")):
        ch.run("sign", str(entry), "--kind", "enclave", "--name", "svc", "--version", "1.0.0", "--role", role,
               "--key", who)  # fmt: skip
    proposal = _add(ch, *common, *sgx, "--out", str(ch.work / "svc.proposal.json"))
    ch.approve_and_publish(proposal)
    shown = json.loads(ch.run("registry", "show", "enclave", "svc", "1.0.0", "--json"))
    document = shown["document"]
    assert document["_type"] == "sealgate/enclave-entry/v2" and document["tee"] == "sgx"
    assert document["sgx"] == {"mrenclave": None, "mrsigner": SIGNER, "isv_prod_id": 3, "min_isv_svn": 2}
    assert document["allowed_tcb_statuses"] == ["UpToDate", "SWHardeningNeeded"]
    assert len(shown["statements"]) == 2


def test_enclave_add_refuses_a_lower_minimum_and_a_half_tdx_identity(ch: CliHome) -> None:
    _namespace(ch, "low")
    base = ("--name", "low", "--stage", "DEV", "--mrsigner", SIGNER, "--isv-prod-id", "1")
    ch.approve_and_publish(_add(ch, *base, "--version", "1", "--min-isv-svn", "5"))
    result = run_cli(ch.home, "enclave", "add", *base, "--version", "2", "--min-isv-svn", "4", "--git-commit", COMMIT)
    assert_refused(result, 1, "minimum-lowered")
    half = run_cli(ch.home, "enclave", "add", "--name", "low", "--version", "3", "--stage", "DEV",
                   "--mrtd", "91" * 48, "--git-commit", COMMIT)  # fmt: skip
    assert_refused(half, 1, "invalid-argument")


def test_self_check_of_an_unregistered_debug_enclave_exits_3(ch: CliHome, shared_vectors: Path) -> None:
    # The real SGX sample is not a debug enclave, but its measurement is not registered in this
    # home: an unregistered measurement counts as PROD, and the sample is not mock or debug, so
    # the self-check passes; a quote whose attributes say DEBUG must not.
    fake = ch.work / "attestation"
    fake.mkdir()
    (fake / "attestation_type").write_text("dcap")
    (fake / "user_report_data").write_bytes(bytes(64))
    quote = bytearray((shared_vectors / "dcap" / "sgx_quote").read_bytes())
    (fake / "quote").write_bytes(bytes(quote))
    assert run_cli(ch.home, "enclave", "self-check", "--name", "svc", "--attestation-dir", str(fake)).returncode == 0
    quote[48 + 48] |= 0x02  # ATTRIBUTES.flags DEBUG in the report body (header 48 bytes; attributes at +48)
    (fake / "quote").write_bytes(bytes(quote))
    result = run_cli(ch.home, "enclave", "self-check", "--name", "svc", "--attestation-dir", str(fake))
    assert_refused(result, 3, "debug-enclave")
