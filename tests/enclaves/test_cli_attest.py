"""``sealgate attest verify`` and ``sealgate attest remote``: verdicts, exit codes, JSON, audit.

The real SGX quote of ../shared/vectors/dcap is judged from files (allowed inside its
collateral window, denied now, denied with a flipped byte or an unbound challenge); mock
quotes show the development path and its refusal for a PROD entry; ``attest remote`` runs
against the ASGI service on loopback (tests/enclaves/test_remote.py's server). Most runs go
through :func:`sealgate.cli.main` in-process; one runs the installed console script, to
show the whole process exits cleanly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from sealgate.crypto.keys import PrivateKey, generate_key
from sealgate.enclaves.remote import AttestationService
from tests.enclaves.test_attest_gate import HELLO, SGX_AT, last_record, register, sgx_entry
from tests.enclaves.test_remote import (
    APPROVERS,
    PROD_MRENCLAVE,
    SERVICE_MRENCLAVE,
    Loopback,
    Relay,
    Tls,
    enclave_policy,
    provider,
)
from tests.gatehome import GateHome, build_gate_home

SEALGATE = Path(sys.executable).with_name("sealgate")


@pytest.fixture(scope="module")
def gh(tmp_path_factory: pytest.TempPathFactory) -> GateHome:
    home = build_gate_home(tmp_path_factory.mktemp("cli-attest") / "home")
    home.namespaces = set()  # type: ignore[attr-defined]
    home.set_policy(enclave_policy(home))
    register(home, "signal", sgx_entry())
    register(home, "websvc", sgx_entry(mrenclave=SERVICE_MRENCLAVE, stage="DEV"))
    register(home, "prodsvc", sgx_entry(mrenclave=PROD_MRENCLAVE, stage="PROD"), signers=APPROVERS)
    return home


@pytest.fixture
def dcap(shared_vectors: Path) -> Path:
    return shared_vectors / "dcap"


@pytest.fixture(scope="module")
def dev_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrivateKey, Path]:
    key = generate_key("ed25519")
    path = tmp_path_factory.mktemp("devkey") / "dev.pub"
    path.write_bytes(key.public.to_pem())
    return key, path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return Tls(tmp_path_factory.mktemp("cli-tls"))


def sealgate(gh: GateHome, *args: str) -> tuple[int, str, str]:
    """``sealgate --home H ARGS`` in-process: (exit code, stdout, stderr)."""
    from sealgate.cli import main

    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--home", str(gh.root), *args])
    assert "Traceback" not in err.getvalue()
    return code, out.getvalue(), err.getvalue()


def sgx_args(dcap: Path, *extra: str, name: str = "signal") -> list[str]:
    return ["attest", "verify", "--quote", str(dcap / "sgx_quote"),
            "--collateral", str(dcap / "sgx_quote_collateral.json"), "--name", name, *extra]  # fmt: skip


# -- attest verify ------------------------------------------------------------------------------


def test_real_sgx_quote_allowed_inside_its_collateral_window_and_audited_as_historical(
    gh: GateHome, dcap: Path
) -> None:
    code, out, err = sealgate(gh, *sgx_args(dcap, "--report-data", HELLO.hex(), "--at", str(SGX_AT)))
    assert (code, out) == (0, ""), err
    assert (
        err.startswith("ALLOWED enclaves/signal/1.0.0 sha256:")
        and "(sgx, TCB ConfigurationAndSWHardeningNeeded)" in err
    )
    record = last_record(gh)
    assert (record["decision"], record["interface"], record["taint"]) == ("allow", "cli", "untrusted")
    assert record["checks"]["historical"] is True and record["checks"]["verified_at"] == SGX_AT


def test_json_prints_the_audited_decision(gh: GateHome, dcap: Path) -> None:
    code, out, _ = sealgate(gh, *sgx_args(dcap, "--report-data", HELLO.hex(), "--at", str(SGX_AT), "--json"))
    decision = json.loads(out)
    assert code == 0 and decision["allowed"] is True and decision["reason"] == "allowed"
    assert decision["audit_index"] == gh_audit_size(gh) - 1
    assert decision["record"]["checks"]["measurement"] == sgx_entry().mrenclave


def gh_audit_size(gh: GateHome) -> int:
    from sealgate.audit import open_audit_log

    log = open_audit_log(gh.root, None)
    try:
        return log.size()
    finally:
        log.close()


def test_same_quote_now_denied_for_expired_collateral(gh: GateHome, dcap: Path) -> None:
    code, out, err = sealgate(gh, *sgx_args(dcap, "--report-data", HELLO.hex(), "--json"))
    assert code == 3 and err.startswith("DENIED collateral-expired: ")
    decision = json.loads(out)
    assert (decision["allowed"], decision["reason"]) == (False, "collateral-expired")
    record = last_record(gh)
    assert record["reason"] == "collateral-expired" and record["interface"] == "cli"


def test_flipped_byte_in_the_signed_report_denied(gh: GateHome, dcap: Path, tmp_path: Path) -> None:
    quote = bytearray((dcap / "sgx_quote").read_bytes())
    quote[48 + 20] ^= 0x01  # in the ISV enclave report body (CPUSVN/MISCSELECT), not the measurement
    (tmp_path / "q").write_bytes(bytes(quote))
    code, _, err = sealgate(gh, "attest", "verify", "--quote", str(tmp_path / "q"), "--collateral",
                            str(dcap / "sgx_quote_collateral.json"), "--name", "signal", "--report-data", HELLO.hex(),
                            "--at", str(SGX_AT))  # fmt: skip
    assert code == 3 and err.startswith("DENIED quote-invalid: ")
    assert last_record(gh)["reason"] == "quote-invalid"


def test_replayed_quote_with_a_new_nonce_and_the_servers_key_denied(gh: GateHome, dcap: Path, tls: Tls) -> None:
    args = sgx_args(dcap, "--nonce", "ab" * 32, "--tls-cert", str(tls.cert), "--at", str(SGX_AT), "--json")
    code, out, err = sealgate(gh, *args)
    assert code == 3 and err.startswith("DENIED report-data-mismatch: ")
    assert json.loads(out)["reason"] == "report-data-mismatch" == last_record(gh)["reason"]


def test_right_quote_under_the_wrong_name_denied(gh: GateHome, dcap: Path) -> None:
    code, _, err = sealgate(gh, *sgx_args(dcap, "--report-data", HELLO.hex(), "--at", str(SGX_AT), name="websvc"))
    assert code == 3 and err.startswith("DENIED measurement-mismatch: ")


@pytest.mark.parametrize(
    "extra",
    [
        ("--nonce", "ab" * 32),  # a nonce binds nothing without the server's key
        ("--report-data", HELLO.hex(), "--nonce", "ab" * 32),
        (),
        ("--report-data", "ab" * 32),  # 32 bytes, not 64
        ("--report-data", "zz" * 64),
        ("--nonce", "ab" * 8, "--tls-cert", "x"),  # 8 bytes: too short to be a nonce
        ("--report-data", HELLO.hex(), "--at", "-5"),
    ],
    ids=["nonce-without-key", "both", "neither", "short-report-data", "not-hex", "short-nonce", "negative-time"],
)
def test_challenge_options_that_bind_nothing_are_usage_errors(gh: GateHome, dcap: Path, extra: tuple[str, ...]) -> None:
    before = gh_audit_size(gh)
    code, out, err = sealgate(gh, *sgx_args(dcap, *extra))
    assert code == 2 and out == "" and "Error" in err
    assert gh_audit_size(gh) == before  # refused before the gate: nothing was decided


def test_missing_quote_file_is_malformed_input(gh: GateHome, tmp_path: Path) -> None:
    code, _, err = sealgate(gh, "attest", "verify", "--quote", str(tmp_path / "none"), "--name", "signal",
                            "--report-data", HELLO.hex())  # fmt: skip
    assert code == 3 and err.startswith("sealgate: malformed-input: cannot read the quote")


def mock_quote(key: PrivateKey, mrenclave: str, folder: Path) -> Path:
    path = folder / f"mock-{mrenclave[:4]}.quote"
    path.write_bytes(provider(key, mrenclave).get_quote(HELLO))
    return path


def test_mock_quote_allowed_for_a_dev_entry_with_a_loud_warning(
    gh: GateHome, dev_key: tuple[PrivateKey, Path], tmp_path: Path
) -> None:
    key, pub = dev_key
    quote = mock_quote(key, SERVICE_MRENCLAVE, tmp_path)
    code, _, err = sealgate(gh, "attest", "verify", "--quote", str(quote), "--name", "websvc", "--report-data",
                            HELLO.hex(), "--mock-key", str(pub))  # fmt: skip
    assert code == 0, err
    assert "warning: accepting MOCK attestation evidence" in err and "MOCK evidence (development only)" in err
    assert last_record(gh)["checks"]["mock"] is True


def test_mock_quote_for_a_prod_entry_denied(gh: GateHome, dev_key: tuple[PrivateKey, Path], tmp_path: Path) -> None:
    key, pub = dev_key
    quote = mock_quote(key, PROD_MRENCLAVE, tmp_path)
    code, _, err = sealgate(gh, "attest", "verify", "--quote", str(quote), "--name", "prodsvc", "--report-data",
                            HELLO.hex(), "--mock-key", str(pub))  # fmt: skip
    assert code == 3 and err.startswith("DENIED mock-evidence-refused: ")
    assert last_record(gh)["reason"] == "mock-evidence-refused"


def test_mock_quote_without_a_trusted_key_denied(gh: GateHome, dev_key: tuple[PrivateKey, Path],
                                                 tmp_path: Path) -> None:  # fmt: skip
    quote = mock_quote(dev_key[0], SERVICE_MRENCLAVE, tmp_path)
    code, _, err = sealgate(gh, "attest", "verify", "--quote", str(quote), "--name", "websvc", "--report-data",
                            HELLO.hex())  # fmt: skip
    assert code == 3 and "DENIED invalid-argument: verifying mock quotes needs at least one trusted" in err
    assert last_record(gh)["reason"] == "invalid-argument"


def test_console_script_verifies_the_sample_as_a_whole_process(gh: GateHome, dcap: Path) -> None:
    result = subprocess.run(
        [str(SEALGATE), "--home", str(gh.root), *sgx_args(dcap, "--report-data", HELLO.hex(), "--at", str(SGX_AT))],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0 and result.stderr.startswith("ALLOWED "), result.stderr
    now = subprocess.run(
        [str(SEALGATE), "--home", str(gh.root), *sgx_args(dcap, "--report-data", HELLO.hex())],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert now.returncode == 3 and now.stderr.startswith("DENIED collateral-expired") and "Traceback" not in now.stderr


# -- attest remote ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(dev_key: tuple[PrivateKey, Path], tls: Tls) -> Iterator[Loopback]:
    with Loopback(AttestationService(provider(dev_key[0]), tls.spki), tls) as server:
        yield server


def test_remote_honest_service_allowed_with_its_tls_key(
    gh: GateHome, dev_key: tuple[PrivateKey, Path], tls: Tls, service: Loopback
) -> None:
    import hashlib

    code, out, err = sealgate(gh, "attest", "remote", service.url, "--name", "websvc", "--mock-key", str(dev_key[1]),
                              "--json")  # fmt: skip
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    assert doc["url"] == service.url and doc["tls_spki_sha256"] == hashlib.sha256(tls.spki).hexdigest()
    assert doc["decision"]["allowed"] is True
    assert f"(SPKI sha256) {doc['tls_spki_sha256']}" in err and "warning: accepting MOCK" in err
    record = last_record(gh)
    assert (record["decision"], record["interface"], record["taint"]) == ("allow", "cli", "network")


def test_remote_relayed_through_a_man_in_the_middle_denied(
    gh: GateHome, dev_key: tuple[PrivateKey, Path], service: Loopback, tmp_path: Path
) -> None:
    with Loopback(Relay(service.url), Tls(tmp_path / "mitm")) as mitm:
        code, out, err = sealgate(gh, "attest", "remote", mitm.url, "--name", "websvc", "--mock-key",
                                  str(dev_key[1]), "--json")  # fmt: skip
    assert code == 3 and "DENIED report-data-mismatch: " in err
    assert json.loads(out)["decision"]["reason"] == "report-data-mismatch" == last_record(gh)["reason"]


def test_remote_plain_http_refused_as_a_usage_error(gh: GateHome) -> None:
    code, _, err = sealgate(gh, "attest", "remote", "http://127.0.0.1:1/", "--name", "websvc")
    assert code == 1 and err.startswith("sealgate: invalid-argument: remote attestation needs https://")


# -- the launcher's command: enclave gate ------------------------------------------------------


def test_enclave_gate_decides_now_and_exits_non_zero_on_any_refusal(gh: GateHome, dcap: Path) -> None:
    # The sample verifies only inside its 2025 collateral window; the launcher has no --at.
    evidence = sgx_args(dcap, "--report-data", HELLO.hex())[2:]  # the options after "attest verify"
    code, _, err = sealgate(gh, "enclave", "gate", *evidence)
    assert code == 3 and err.startswith("DENIED collateral-expired: ")
    assert last_record(gh)["reason"] == "collateral-expired"
    code, _, _ = sealgate(gh, "enclave", "gate", *evidence, "--at", "1750334171")
    assert code == 2  # no such option: a launcher cannot check old evidence


def test_enclave_gate_allows_a_dev_mock_quote_with_exit_0(
    gh: GateHome, dev_key: tuple[PrivateKey, Path], tmp_path: Path
) -> None:
    key, pub = dev_key
    quote = mock_quote(key, SERVICE_MRENCLAVE, tmp_path)
    code, _, err = sealgate(gh, "enclave", "gate", "--quote", str(quote), "--name", "websvc", "--report-data",
                            HELLO.hex(), "--mock-key", str(pub))  # fmt: skip
    assert code == 0 and err.rstrip().splitlines()[-1].startswith("ALLOWED enclaves/websvc/")
    assert last_record(gh)["decision"] == "allow" and last_record(gh)["checks"]["historical"] is False
