"""Remote attestation end to end: the ASGI service on loopback over TLS, the client, the gate.

The service (:class:`AttestationService`, served by uvicorn with a throwaway self-signed
certificate) uses the mock quote provider: DCAP quotes cannot be produced here, and the real
vectors carry fixed report data. Each attack of issue 4 on the remote path is a test, and
each denial is read back from the audit log: a replayed quote (the service answers with a
quote made for an earlier nonce), a relayed quote (a man in the middle with its own TLS key
forwards the honest service's answer), mock evidence for a PROD entry, an unregistered
measurement, and a registry that cannot be refreshed. The last part drives the ASGI app
directly to check its input validation (method, media type, sizes, nonce) and that no
failure leaks a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from sealgate.crypto.keys import PrivateKey, generate_key
from sealgate.enclaves.binding import expected_report_data
from sealgate.enclaves.mock import MockEvidenceWarning, MockQuoteProvider, mock_sgx_report, verify_mock_quote
from sealgate.enclaves.quote import VerifiedQuote
from sealgate.enclaves.remote import (
    ATTESTATION_PATH,
    MAX_REQUEST_BYTES,
    REQUEST_TYPE,
    RESPONSE_TYPE,
    AttestationService,
    RemoteDenied,
    fetch_evidence,
    tls_spki,
    verify_remote,
)
from sealgate.errors import MalformedInputError, UsageError
from tests.enclaves.test_attest_gate import MRSIGNER, SIGNERS, enclave_policy, last_record, register, sgx_entry
from tests.gatehome import GateHome, build_gate_home, copy_gate_home

SERVICE_MRENCLAVE = "ee" * 32
PROD_MRENCLAVE = "ef" * 32
UNREGISTERED_MRENCLAVE = "99" * 32
APPROVERS = (*SIGNERS, ("carol", "approver"), ("dave", "approver"))


# -- throwaway TLS and a loopback server -------------------------------------------------------


class Tls:
    """A self-signed certificate (P-256) for 127.0.0.1, written to ``cert.pem`` / ``key.pem``."""

    def __init__(self, folder: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealgate-test")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256())
        )
        self.cert = folder / "cert.pem"
        self.key = folder / "key.pem"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class Loopback:
    """uvicorn serving ``app`` over TLS on 127.0.0.1 (a free port) in a thread."""

    def __init__(self, app: Any, tls: Tls) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key), http="h11", ws="none", lifespan="on",
            log_level="warning", access_log=False,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> Loopback:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the loopback server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()


def raw_post(url: str, body: bytes, *, content_type: str = "application/json") -> tuple[int, bytes]:
    """A POST to the attestation endpoint, certificate unchecked: what a relay or a probe sends."""
    port = int(url.rsplit(":", 1)[1])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        connection.request("POST", ATTESTATION_PATH, body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def challenge(nonce: bytes) -> bytes:
    return json.dumps({"_type": REQUEST_TYPE, "nonce": nonce.hex()}).encode()


class Canned:
    """An ASGI app that answers every request with one fixed 200 JSON body."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": self.body})


class Relay:
    """A man in the middle with its own TLS key: forwards each challenge to ``upstream`` verbatim."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.relayed = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await Canned(b"")(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, answer = await asyncio.get_running_loop().run_in_executor(None, raw_post, self.upstream, body)
        self.relayed += 1
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": answer})


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gh(tmp_path_factory: pytest.TempPathFactory) -> GateHome:
    home = build_gate_home(tmp_path_factory.mktemp("remote") / "home")
    home.namespaces = set()  # type: ignore[attr-defined]
    home.set_policy(enclave_policy(home))
    register(home, "websvc", sgx_entry(mrenclave=SERVICE_MRENCLAVE, stage="DEV"))
    register(home, "prodsvc", sgx_entry(mrenclave=PROD_MRENCLAVE, stage="PROD"), signers=APPROVERS)
    return home


@pytest.fixture(scope="module")
def dev_key() -> PrivateKey:
    return generate_key("ed25519")


def provider(key: PrivateKey, mrenclave: str = SERVICE_MRENCLAVE, *, debug: bool = False) -> MockQuoteProvider:
    return MockQuoteProvider(key, mock_sgx_report(mr_enclave=mrenclave, mr_signer=MRSIGNER, debug=debug))


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return Tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return Tls(tmp_path_factory.mktemp("tls-mitm"))


@pytest.fixture(scope="module")
def service(dev_key: PrivateKey, tls: Tls) -> Iterator[Loopback]:
    with Loopback(AttestationService(provider(dev_key), tls.spki), tls) as server:
        yield server


def serve(app: Any, tls: Tls) -> Loopback:
    return Loopback(app, tls)


def audited_denial(gh: GateHome, denied: RemoteDenied, reason: str, interface: str = "api") -> dict[str, Any]:
    assert denied.reason.value == reason, denied.message
    record = last_record(gh)
    assert (record["decision"], record["reason"]) == ("deny", reason)
    assert (record["interface"], record["taint"]) == (interface, "network")
    assert denied.decision is not None and denied.decision.audit_index is not None  # type: ignore[attr-defined]
    return record


# -- the honest path ----------------------------------------------------------------------------


def test_honest_service_allowed_and_its_tls_key_reported(gh: GateHome, dev_key: PrivateKey, tls: Tls,
                                                         service: Loopback) -> None:  # fmt: skip
    with pytest.warns(MockEvidenceWarning):
        result = verify_remote(service.url, "websvc", home=gh.home, mock_keys=[dev_key.public])
    assert result.tls_spki_sha256 == hashlib.sha256(tls.spki).hexdigest()
    quote = result.token.interpretation
    assert isinstance(quote, VerifiedQuote) and quote.mock and quote.sgx is not None
    assert quote.sgx.mr_enclave == SERVICE_MRENCLAVE
    record = last_record(gh)
    assert (record["decision"], record["subject"]["name"], record["taint"]) == ("allow", "websvc", "network")
    assert record["checks"]["historical"] is False


def test_each_challenge_carries_a_fresh_nonce_bound_to_the_connection_key(dev_key: PrivateKey, tls: Tls,
                                                                          service: Loopback) -> None:  # fmt: skip
    first, second = fetch_evidence(service.url), fetch_evidence(service.url + "/")
    assert first.nonce != second.nonce and len(first.nonce) == 32
    assert first.tls_spki_der == second.tls_spki_der == tls.spki == tls_spki(tls.cert.read_bytes())
    assert first.collateral is None
    with pytest.warns(MockEvidenceWarning):
        verified = verify_mock_quote(first.quote, trusted_keys=[dev_key.public], at=0, insecure_accept_mock=True)
    assert verified.report_data == expected_report_data(first.nonce, tls.spki)


# -- the attacks ------------------------------------------------------------------------------


def test_replayed_quote_for_an_old_nonce_denied(gh: GateHome, dev_key: PrivateKey, tls: Tls,
                                                service: Loopback) -> None:  # fmt: skip
    # The attacker recorded the honest answer to an earlier challenge and serves it again,
    # even with the honest service's own TLS key: only the nonce differs, and it is refused.
    status, recorded = raw_post(service.url, challenge(b"an old nonce, 32 bytes long....."))
    assert status == 200
    replayer = serve(Canned(recorded), tls)
    with replayer, pytest.warns(MockEvidenceWarning), pytest.raises(RemoteDenied) as denied:
        verify_remote(replayer.url, "websvc", home=gh.home, mock_keys=[dev_key.public])
    audited_denial(gh, denied.value, "report-data-mismatch")
    assert denied.value.tls_spki_sha256 == hashlib.sha256(tls.spki).hexdigest()


def test_relayed_quote_through_a_man_in_the_middle_with_another_tls_key_denied(
    gh: GateHome, dev_key: PrivateKey, other_tls: Tls, service: Loopback
) -> None:
    # The relay forwards the client's fresh nonce to the honest enclave and its answer back:
    # the quote is fresh and genuine, but bound to the honest key, not the relay's.
    relay = Relay(service.url)
    mitm = serve(relay, other_tls)
    with mitm, pytest.warns(MockEvidenceWarning), pytest.raises(RemoteDenied) as denied:
        verify_remote(mitm.url, "websvc", home=gh.home, mock_keys=[dev_key.public])
    assert relay.relayed == 1
    audited_denial(gh, denied.value, "report-data-mismatch")
    assert denied.value.tls_spki_sha256 == hashlib.sha256(other_tls.spki).hexdigest()


def test_mock_evidence_for_a_prod_entry_denied(gh: GateHome, dev_key: PrivateKey, tls: Tls) -> None:
    prod = serve(AttestationService(provider(dev_key, PROD_MRENCLAVE), tls.spki), tls)
    with prod, pytest.raises(RemoteDenied) as denied:
        verify_remote(prod.url, "prodsvc", home=gh.home, mock_keys=[dev_key.public])
    audited_denial(gh, denied.value, "mock-evidence-refused")


def test_unregistered_measurement_denied(gh: GateHome, dev_key: PrivateKey, tls: Tls) -> None:
    rogue = serve(AttestationService(provider(dev_key, UNREGISTERED_MRENCLAVE), tls.spki), tls)
    with rogue, pytest.raises(RemoteDenied) as denied:
        verify_remote(rogue.url, "websvc", home=gh.home, mock_keys=[dev_key.public])
    audited_denial(gh, denied.value, "measurement-mismatch")


def test_debug_enclave_behind_the_service_denied(gh: GateHome, dev_key: PrivateKey, tls: Tls) -> None:
    debug = serve(AttestationService(provider(dev_key, debug=True), tls.spki), tls)
    with debug, pytest.warns(MockEvidenceWarning), pytest.raises(RemoteDenied) as denied:
        verify_remote(debug.url, "websvc", home=gh.home, mock_keys=[dev_key.public])
    audited_denial(gh, denied.value, "debug-enclave")


def test_mock_quote_signed_by_an_untrusted_key_denied(gh: GateHome, service: Loopback) -> None:
    stranger = generate_key("ed25519")
    with pytest.warns(MockEvidenceWarning), pytest.raises(RemoteDenied) as denied:
        verify_remote(service.url, "websvc", home=gh.home, mock_keys=[stranger.public])
    audited_denial(gh, denied.value, "quote-invalid")


def test_registry_that_cannot_be_refreshed_fails_closed_without_contacting_the_service(
    gh: GateHome, tmp_path: Path, dev_key: PrivateKey, tls: Tls
) -> None:
    copy = copy_gate_home(gh, tmp_path / "home")
    (copy.root / "trust" / "source.json").write_text(json.dumps({"source": str(tmp_path / "gone")}))
    relay = Relay("https://127.0.0.1:9")  # counts requests; never reached
    with serve(relay, tls) as server, pytest.raises(RemoteDenied) as denied:
        verify_remote(server.url, "websvc", home=copy.home, mock_keys=[dev_key.public])
    assert relay.relayed == 0 and denied.value.tls_spki_sha256 is None
    record = audited_denial(copy, denied.value, denied.value.reason.value)
    assert denied.value.reason.value.startswith("registry-") and "refreshed" in record["message"]


def test_service_that_is_not_there_denied_and_audited(gh: GateHome) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RemoteDenied) as denied:
        verify_remote(f"https://127.0.0.1:{port}", "websvc", home=gh.home, timeout=5)
    audited_denial(gh, denied.value, "quote-invalid")


def test_plain_tcp_service_without_tls_denied(gh: GateHome) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer_in_plain_http() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer_in_plain_http, daemon=True)
        thread.start()
        with pytest.raises(RemoteDenied) as denied:
            verify_remote(f"https://127.0.0.1:{port}", "websvc", home=gh.home, timeout=5)
        thread.join(timeout=5)
    audited_denial(gh, denied.value, "quote-invalid")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "malformed-input"),
        (json.dumps({"_type": RESPONSE_TYPE, "quote": "!!", "collateral": None}).encode(), "malformed-input"),
        (json.dumps({"_type": "other/v9", "quote": "AA==", "collateral": None}).encode(), "malformed-input"),
        (json.dumps({"_type": RESPONSE_TYPE, "quote": "AA==", "collateral": None, "x": 1}).encode(), "malformed-input"),
        # well-formed, but the bytes claim no registered measurement: the gate's audited lookup
        (json.dumps({"_type": RESPONSE_TYPE, "quote": "AAAA", "collateral": None}).encode(), "measurement-mismatch"),
    ],
    ids=["not-json", "bad-base64", "unknown-type", "extra-field", "garbage-quote"],
)
def test_malformed_evidence_denied_and_audited(gh: GateHome, tls: Tls, body: bytes, reason: str) -> None:
    with serve(Canned(body), tls) as liar, pytest.raises(RemoteDenied) as denied:
        verify_remote(liar.url, "websvc", home=gh.home)
    audited_denial(gh, denied.value, reason)


def test_oversized_answer_refused_without_reading_it_all(gh: GateHome, tls: Tls) -> None:
    huge = b'{"_type": "' + b"x" * (7 << 20) + b'"}'
    with serve(Canned(huge), tls) as flood, pytest.raises(RemoteDenied) as denied:
        verify_remote(flood.url, "websvc", home=gh.home)
    audited_denial(gh, denied.value, "too-large")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:1/", "https://user:pw@127.0.0.1/", "https://127.0.0.1/?x=1", "ftp://x", "https:///nohost"],
)
def test_urls_that_cannot_carry_the_binding_refused_before_anything(gh: GateHome, url: str) -> None:
    with pytest.raises(UsageError):
        verify_remote(url, "websvc", home=gh.home)


# -- the certificate's key ----------------------------------------------------------------------


def test_tls_spki_is_the_certificates_own_bytes_in_pem_der_and_public_key_form(tls: Tls) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(tls.cert.read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    public_pem = cert.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    assert tls_spki(tls.cert.read_bytes()) == tls_spki(der) == tls_spki(public_pem) == tls.spki
    assert der.find(tls.spki) > 0  # the very bytes of the certificate, not a re-encoding
    with pytest.raises(MalformedInputError):
        tls_spki(tls.key.read_bytes())
    with pytest.raises(MalformedInputError):
        tls_spki(b"\x30\x03\x02\x01\x00")


def test_service_refuses_a_certificate_where_the_spki_belongs(dev_key: PrivateKey, tls: Tls) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(tls.cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    with pytest.raises(UsageError, match="SubjectPublicKeyInfo"):
        AttestationService(provider(dev_key), der)


# -- the ASGI app's input validation ------------------------------------------------------------


def call_app(
    app: Any,
    *,
    method: str = "POST",
    path: str = ATTESTATION_PATH,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    chunks: list[bytes] | None = None,
) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
    """Drive the ASGI app once, as a server would: (status, headers, JSON body)."""
    if headers is None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": headers,
             "http_version": "1.1", "scheme": "https", "query_string": b""}  # fmt: skip
    parts = chunks if chunks is not None else [body]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, end = sent[0], sent[1]
    text = end["body"].decode()
    assert "Traceback" not in text and 'File "' not in text
    return start["status"], dict(start["headers"]), json.loads(text)


@pytest.fixture
def app(dev_key: PrivateKey, tls: Tls) -> AttestationService:
    return AttestationService(provider(dev_key), tls.spki)


def test_asgi_answers_a_good_challenge_with_bound_evidence(app: AttestationService, dev_key: PrivateKey,
                                                          tls: Tls) -> None:  # fmt: skip
    nonce = bytes(range(32))
    status, headers, doc = call_app(app, body=challenge(nonce))
    assert status == 200 and headers[b"cache-control"] == b"no-store"
    assert set(doc) == {"_type", "quote", "collateral"} and doc["_type"] == RESPONSE_TYPE
    with pytest.warns(MockEvidenceWarning):
        quote = verify_mock_quote(base64.b64decode(doc["quote"]), trusted_keys=[dev_key.public], at=0,
                                  insecure_accept_mock=True)  # fmt: skip
    assert quote.report_data == expected_report_data(nonce, tls.spki)


@pytest.mark.parametrize(
    ("nonce", "error"),
    [
        ("00" * 8, "bad-nonce"),
        ("00" * 65, "bad-nonce"),
        ("zz" * 32, "bad-nonce"),
        ("AB" * 32, "bad-nonce"),
        ("0" * 63, "bad-nonce"),
        (12345, "bad-nonce"),
    ],
    ids=["too-short", "too-long", "not-hex", "uppercase", "odd-length", "not-a-string"],
)
def test_asgi_refuses_a_bad_nonce(app: AttestationService, nonce: object, error: str) -> None:
    status, _, doc = call_app(app, body=json.dumps({"_type": REQUEST_TYPE, "nonce": nonce}).encode())
    assert (status, doc["error"]) == (400, error)


def test_asgi_refuses_other_methods(app: AttestationService) -> None:
    for method in ("GET", "PUT", "HEAD", "DELETE"):
        status, headers, doc = call_app(app, method=method)
        assert (status, doc["error"], headers[b"allow"]) == (405, "method-not-allowed", b"POST")


def test_asgi_refuses_an_oversized_body_declared_or_streamed(app: AttestationService) -> None:
    status, _, doc = call_app(app, headers=[(b"content-type", b"application/json"), (b"content-length", b"99999")])
    assert (status, doc["error"]) == (413, "too-large")
    chunks = [b"{" + b" " * 600] * 4  # chunked, no length: counted as it arrives
    status, _, doc = call_app(app, headers=[(b"content-type", b"application/json")], chunks=chunks)
    assert (status, doc["error"]) == (413, "too-large") and sum(map(len, chunks)) > MAX_REQUEST_BYTES
    status, _, doc = call_app(app, headers=[(b"content-type", b"application/json"), (b"content-length", b"-1")])
    assert (status, doc["error"]) == (400, "malformed-request")


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        (b"{}", [(b"content-type", b"text/plain")], 415, "unsupported-media-type"),
        (b"{}", [], 415, "unsupported-media-type"),
        (b"{nope", None, 400, "malformed-request"),
        (b'{"_type": "sealgate/ra-request/v1", "_type": "x", "nonce": "00"}', None, 400, "malformed-request"),
        (b'{"_type": "sealgate/ra-request/v9", "nonce": "' + b"00" * 32 + b'"}', None, 400, "unsupported-version"),
        (
            b'{"_type": "sealgate/ra-request/v1", "nonce": "' + b"00" * 32 + b'", "x": 1}',
            None,
            400,
            "malformed-request",
        ),
        (b"[]", None, 400, "malformed-request"),
    ],
    ids=["text-plain", "no-type", "bad-json", "duplicate-key", "future-version", "extra-field", "array"],
)
def test_asgi_refuses_malformed_challenges(
    app: AttestationService, body: bytes, headers: list[tuple[bytes, bytes]] | None, status: int, error: str
) -> None:
    got, _, doc = call_app(app, body=body, headers=headers)
    assert (got, doc["error"]) == (status, error)


def test_asgi_unknown_path_is_404_or_the_wrapped_app(app: AttestationService, dev_key: PrivateKey, tls: Tls) -> None:
    status, _, doc = call_app(app, path="/other")
    assert (status, doc["error"]) == (404, "not-found")
    wrapped = AttestationService(provider(dev_key), tls.spki, app=Canned(b'{"own": "app"}'))
    assert call_app(wrapped, path="/other")[2] == {"own": "app"}
    assert call_app(wrapped, body=challenge(bytes(32)))[2]["_type"] == RESPONSE_TYPE


def test_asgi_failing_provider_is_a_500_without_details(tls: Tls, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        name, mock = "broken", False

        def get_quote(self, report_data: bytes) -> bytes:
            raise RuntimeError("secret internal detail /dev/attestation/quote")

    with caplog.at_level(logging.ERROR, logger="sealgate.remote"):
        status, _, doc = call_app(AttestationService(Broken(), tls.spki), body=challenge(bytes(32)))
    assert (status, doc["error"]) == (500, "attestation-unavailable")
    assert "secret" not in json.dumps(doc) and "secret internal detail" in caplog.text


def test_asgi_collateral_source_sees_the_quote_and_its_answer_is_sent(dev_key: PrivateKey, tls: Tls) -> None:
    seen: list[bytes] = []

    def collateral(quote: bytes) -> bytes:
        seen.append(quote)
        return b'{"collateral": true}'

    _, _, doc = call_app(AttestationService(provider(dev_key), tls.spki, collateral=collateral),
                         body=challenge(bytes(32)))  # fmt: skip
    assert base64.b64decode(doc["collateral"]) == b'{"collateral": true}'
    assert seen == [base64.b64decode(doc["quote"])]


def test_asgi_refuses_beyond_its_concurrency_limit(dev_key: PrivateKey, tls: Tls) -> None:
    gate = threading.Event()

    class Slow:
        name, mock = "slow", True

        def get_quote(self, report_data: bytes) -> bytes:
            gate.wait(10)
            return provider(dev_key).get_quote(report_data)

    app = AttestationService(Slow(), tls.spki, max_concurrent=1)

    async def two_at_once() -> list[int]:
        statuses: list[int] = []

        async def one() -> None:
            sent: list[dict[str, Any]] = []
            messages = [{"type": "http.request", "body": challenge(bytes(32)), "more_body": False}]

            async def receive() -> dict[str, Any]:
                return messages.pop(0) if messages else {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {"type": "http", "method": "POST", "path": ATTESTATION_PATH, "root_path": "",
                     "headers": [(b"content-type", b"application/json")]}  # fmt: skip
            await app(scope, receive, send)
            statuses.append(sent[0]["status"])
            gate.set()

        await asyncio.gather(one(), one())
        return statuses

    assert sorted(asyncio.run(two_at_once())) == [200, 503]
