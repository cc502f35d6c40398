"""Network allow-lists: the egress proxy, the in-sandbox relay, and what a networked tool still cannot reach.

Real sockets, real bwrap, no mocks. The machine has no internet, so the proxy's resolver is
a fake of the ``getaddrinfo`` interface (production never sets one), and the tunnel tests
use the proxy's test-only ``_allow_addresses_for_tests`` to reach a real server on the
host's loopback at port 443 (a random 127.x.y.z, so parallel runs do not collide).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import ipaddress
import json
import os
import secrets
import socket
import ssl
import stat
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sealgate.errors import Reason, SandboxError
from sealgate.runner import Limits, NetworkEvent, SandboxSpec, probe_sandbox, run_sandboxed
from sealgate.runner._bwrap import EGRESS_RELAY, EGRESS_SOCKET, PROXY_URL, run_bwrap
from sealgate.runner._egress import EgressProxy, relay_source
from sealgate.runner._spec import MAX_NETWORK_EVENTS, MIN_NETWORK_MEMORY_MIB, RunResult
from sealgate.tokens import VerifiedArtifact
from tests.runner.conftest import Sandbox, py
from tests.runner.test_limits import FORK_COUNT

pytestmark = pytest.mark.usefixtures("no_job_dirs_left")

HOST = "api.example.com"


class FakeResolver:
    """The ``Resolver`` interface over a fixed table; remembers every question."""

    def __init__(self, answers: dict[str, Sequence[str]] | None = None, *, error: Exception | None = None) -> None:
        self.answers = answers or {}
        self.error = error
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        if self.error is not None:
            raise self.error
        return self.answers.get(host, [])


def ask(proxy: EgressProxy, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` on the proxy's socket; the status, headers and body of its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(str(proxy.socket_path))
        # A 503 (too many connections) is answered and closed before the request is read; the
        # answer is still there to read.
        with contextlib.suppress(BrokenPipeError):
            conn.sendall(request)
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


def connect(target: str) -> bytes:
    return f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


@pytest.fixture
def proxy(resolver: FakeResolver) -> Iterator[EgressProxy]:
    with EgressProxy([HOST, "other.example.org"], resolve=resolver) as started:
        yield started


# --- a real server on the host's loopback, port 443 -------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Host")))
        body = f"hello from the host, {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class LoopbackServer:
    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self.seen: list[tuple[str, str | None]] = []
        handler = type("Handler", (Recorder,), {"seen": self.seen})
        self.address = f"127.{secrets.randbelow(250) + 2}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
        try:
            self.server = http.server.ThreadingHTTPServer((self.address, 443), handler)
        except PermissionError:
            pytest.skip("binding port 443 needs root or CAP_NET_BIND_SERVICE (the proxy allows only 443 and 80)")
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed CA certificate for ``name`` and its key, PEM (made here, for this test run only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer(None)
    yield server
    server.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path, Path]:
    cert_pem, key_pem = make_certificate(HOST)
    base = tmp_path_factory.mktemp("tls")
    (base / "cert.pem").write_bytes(cert_pem)
    (base / "key.pem").write_bytes(key_pem)
    return cert_pem, base / "cert.pem", base / "key.pem"


@pytest.fixture
def https_server(certificate: tuple[bytes, Path, Path]) -> Iterator[LoopbackServer]:
    _, cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = LoopbackServer(context)
    yield server
    server.close()


def tunnel_proxy(server: LoopbackServer, resolver: FakeResolver | None = None) -> EgressProxy:
    """A proxy (not started) whose allow-listed name resolves to the loopback server, which it may reach."""
    proxy = EgressProxy([HOST], resolve=resolver or FakeResolver({HOST: [server.address]}))
    proxy._allow_addresses_for_tests = frozenset({server.address})
    return proxy


# --- the proxy's decisions ---------------------------------------------------------------------

INTERNAL_ANSWERS = [
    ("127.0.0.1", "private-address"),
    ("::1", "private-address"),
    ("::ffff:127.0.0.1", "private-address"),  # IPv4-mapped: judged by the IPv4 address it carries
    ("10.0.0.1", "private-address"),
    ("172.16.5.4", "private-address"),
    ("192.168.1.1", "private-address"),
    ("100.64.0.1", "private-address"),  # CGNAT
    ("fc00::1", "private-address"),  # ULA
    ("169.254.10.10", "private-address"),  # link-local
    ("fe80::1", "private-address"),
    ("0.0.0.0", "private-address"),  # an answer, never bound
    ("224.0.0.1", "private-address"),
    ("240.0.0.1", "private-address"),  # reserved
    ("169.254.169.254", "metadata-address"),
    ("fd00:ec2::254", "metadata-address"),
    ("100.100.100.200", "metadata-address"),
    ("::ffff:169.254.169.254", "metadata-address"),
    ("64:ff9b::a9fe:a9fe", "metadata-address"),  # NAT64 of 169.254.169.254
]


@pytest.mark.parametrize(("answer", "reason"), INTERNAL_ANSWERS)
def test_allow_listed_name_resolving_inside_is_refused(
    proxy: EgressProxy, resolver: FakeResolver, answer: str, reason: str
) -> None:
    resolver.answers[HOST] = [answer]
    status, headers, body = ask(proxy, connect(f"{HOST}:443"))
    assert status == 403 and headers["X-Sealgate-Egress"] == reason, body
    assert resolver.calls == [(HOST, 443)]
    (event,) = proxy.stop().events
    assert (event.host, event.port, event.verdict, event.reason) == (HOST, 443, "refused", reason)
    assert event.address == str(ipaddress.ip_address(answer))


def test_one_internal_answer_among_public_ones_refuses_the_request(proxy: EgressProxy, resolver: FakeResolver) -> None:
    # A name with a public and an internal address: the proxy must not pick the good one and go on.
    resolver.answers[HOST] = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "10.1.2.3"]
    status, headers, _ = ask(proxy, connect(f"{HOST}:443"))
    assert status == 403 and headers["X-Sealgate-Egress"] == "private-address"
    assert proxy.stop().events[0].address == "10.1.2.3"


@pytest.mark.parametrize(
    "host",
    ["evil.example.net", f"sub.{HOST}", f"{HOST}.evil.net", f"{HOST}.", "example.com", "localhost",
     "metadata.google.internal", f"{HOST}%00"],
)  # fmt: skip
def test_name_not_on_the_allow_list_refused_without_resolving(
    proxy: EgressProxy, resolver: FakeResolver, host: str
) -> None:
    status, headers, _ = ask(proxy, connect(f"{host}:443"))
    assert status == 403 and headers["X-Sealgate-Egress"] == "host-not-allowed"
    assert resolver.calls == []


def test_host_matching_ignores_case_but_nothing_else(proxy: EgressProxy, resolver: FakeResolver) -> None:
    resolver.answers[HOST] = ["10.9.9.9"]
    status, headers, _ = ask(proxy, connect("API.Example.COM:443"))
    assert headers["X-Sealgate-Egress"] == "private-address"  # it got past the list: the name was resolved
    assert resolver.calls == [(HOST, 443)]
    # The Kelvin sign lower-cases to an ASCII "k" in Python; a request line must be ASCII first.
    status, headers, _ = ask(proxy, "CONNECT api.example.com\u212a:443 HTTP/1.1\r\n\r\n".encode())
    assert status == 400 and headers["X-Sealgate-Egress"] == "bad-request"


@pytest.mark.parametrize(
    "target",
    ["127.0.0.1:443", "[::1]:443", "2130706433:443", "0x7f.1:443", "[::ffff:169.254.169.254]:443", "10.1:80",
     "169.254.169.254:80"],
)  # fmt: skip
def test_ip_literals_refused_without_resolving(proxy: EgressProxy, resolver: FakeResolver, target: str) -> None:
    status, headers, _ = ask(proxy, connect(target))
    assert status == 403 and headers["X-Sealgate-Egress"] == "ip-literal"
    assert resolver.calls == []


@pytest.mark.parametrize(("port", "reason"), [("22", "port-not-allowed"), ("8443", "port-not-allowed"),
                                              ("0443", "bad-request"), ("65536", "bad-request"), ("", "bad-request"),
                                              ("-1", "bad-request"), ("44３", "bad-request")])  # fmt: skip
def test_ports_other_than_443_and_80_refused(
    proxy: EgressProxy, resolver: FakeResolver, port: str, reason: str
) -> None:
    status, headers, _ = ask(proxy, connect(f"{HOST}:{port}"))
    assert headers["X-Sealgate-Egress"] == reason and status in (400, 403)
    assert resolver.calls == []


def test_plain_http_proxy_requests_refused_with_405(proxy: EgressProxy, resolver: FakeResolver) -> None:
    status, headers, body = ask(proxy, f"GET http://{HOST}/?token=s3cret HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    assert status == 405 and headers["Allow"] == "CONNECT" and b"only CONNECT" in body
    assert resolver.calls == []
    (event,) = proxy.stop().events
    assert event.reason == "method-not-allowed" and "s3cret" not in repr(event)  # never the request's content


@pytest.mark.parametrize(
    "request_bytes",
    [b"hello\r\n\r\n", b"CONNECT api.example.com:443\r\n\r\n", b"CONNECT  api.example.com:443 HTTP/1.1\r\n\r\n",
     b"CONNECT api.example.com:443 HTTP/2\r\n\r\n", b"CONNECT \xffapi.example.com:443 HTTP/1.1\r\n\r\n",
     b"CONNECT api.example.com HTTP/1.1\r\n\r\n", b"CONNECT api.example.com:443 HTTP/1.1\r\nX: " + b"a" * 9000,
     b"CONNECT api.example.com:443 HTTP/1.1\r\n"],  # closed in the middle of the head
)  # fmt: skip
def test_malformed_requests_refused(proxy: EgressProxy, resolver: FakeResolver, request_bytes: bytes) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(str(proxy.socket_path))
        conn.sendall(request_bytes)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert resolver.calls == []


@pytest.mark.parametrize("resolver", [FakeResolver(error=OSError("no such name")), FakeResolver({}),
                                      FakeResolver({HOST: ["not-an-address"]})])  # fmt: skip
def test_resolution_failure_refuses(proxy: EgressProxy, resolver: FakeResolver) -> None:
    status, headers, _ = ask(proxy, connect(f"{HOST}:443"))
    assert status == 502 and headers["X-Sealgate-Egress"] == "resolution-failed"


def test_connection_without_a_request_is_not_an_event(proxy: EgressProxy) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(proxy.socket_path))
    time.sleep(0.1)
    assert proxy.stop().events == ()


def test_tunnel_connects_to_the_vetted_address_and_never_resolves_again(http_server: LoopbackServer) -> None:
    # DNS rebinding: a second lookup would answer the metadata address. The proxy asks once and
    # connects to what it vetted, so the second answer is never used.
    class Rebinding(FakeResolver):
        def __call__(self, host: str, port: int) -> Sequence[str]:
            super().__call__(host, port)
            return [http_server.address] if len(self.calls) == 1 else ["169.254.169.254"]

    resolver = Rebinding()
    with tunnel_proxy(http_server, resolver) as proxy, socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(5)
        conn.connect(str(proxy.socket_path))
        conn.sendall(connect(f"{HOST}:443"))
        assert conn.recv(4096) == b"HTTP/1.1 200 Connection established\r\n\r\n"
        conn.sendall(f"GET /tunnel HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
        conn.shutdown(socket.SHUT_WR)  # half-close: the answer must still come back
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
        report = proxy.stop()
    assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"hello from the host, /tunnel\n")
    assert resolver.calls == [(HOST, 443)] and http_server.seen == [("/tunnel", HOST)]
    assert report.allowed == 1 and report.events[0].address == http_server.address


def test_without_the_test_knob_the_same_server_is_refused(http_server: LoopbackServer) -> None:
    with EgressProxy([HOST], resolve=FakeResolver({HOST: [http_server.address]})) as proxy:
        status, headers, _ = ask(proxy, connect(f"{HOST}:443"))
    assert status == 403 and headers["X-Sealgate-Egress"] == "private-address" and http_server.seen == []


def test_connect_failure_refused_with_502() -> None:
    closed = f"127.{secrets.randbelow(250) + 2}.0.1"  # nothing listens there
    proxy = EgressProxy([HOST], resolve=FakeResolver({HOST: [closed]}))
    proxy._allow_addresses_for_tests = frozenset({closed})
    with proxy:
        status, headers, _ = ask(proxy, connect(f"{HOST}:443"))
        report = proxy.stop()
    assert status == 502 and headers["X-Sealgate-Egress"] == "connect-failed"
    assert report.events[0].address == closed


def test_idle_tunnel_closed(http_server: LoopbackServer) -> None:
    proxy = tunnel_proxy(http_server)
    proxy._idle_timeout_s = 0.3
    with proxy, socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(5)
        conn.connect(str(proxy.socket_path))
        conn.sendall(connect(f"{HOST}:443"))
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        assert conn.recv(4096) == b""  # the proxy closed the silent tunnel
        assert time.monotonic() - start < 3


def test_concurrent_connections_capped(resolver: FakeResolver) -> None:
    with EgressProxy([HOST], resolve=resolver, max_connections=2) as proxy:
        idle = [socket.socket(socket.AF_UNIX) for _ in range(2)]
        for conn in idle:
            conn.connect(str(proxy.socket_path))  # they never send a head: each holds a slot
        time.sleep(0.1)
        status, headers, _ = ask(proxy, connect(f"{HOST}:443"))
        start = time.monotonic()
        report = proxy.stop()
        assert time.monotonic() - start < 1.5  # stop() does not wait for the head timeout
        for conn in idle:
            conn.settimeout(2)
            assert conn.recv(10) == b""
            conn.close()
    assert status == 503 and headers["X-Sealgate-Egress"] == "too-many-connections"
    assert report.refused == 1


def test_events_are_capped_and_counts_stay_exact(proxy: EgressProxy) -> None:
    for _ in range(MAX_NETWORK_EVENTS + 20):
        ask(proxy, connect("evil.example.net:443"))
    report = proxy.stop()
    assert report.refused == MAX_NETWORK_EVENTS + 20 and len(report.events) == MAX_NETWORK_EVENTS


def test_socket_directory_is_private_and_removed(resolver: FakeResolver) -> None:
    with EgressProxy([HOST], resolve=resolver) as proxy:
        path = proxy.socket_path
        owner = 65534 if os.geteuid() == 0 else os.geteuid()
        dir_stat, sock_stat = path.parent.stat(), path.lstat()
        assert stat.S_IMODE(dir_stat.st_mode) == 0o700 and dir_stat.st_uid == owner
        assert stat.S_ISSOCK(sock_stat.st_mode) and stat.S_IMODE(sock_stat.st_mode) == 0o600
        assert sock_stat.st_uid == owner
        assert os.fstat(proxy.socket_fd).st_ino == sock_stat.st_ino
    assert not path.parent.exists()


@pytest.mark.parametrize("base", ["/nonexistent/sealgate", "/tmp/" + "d" * 120])
def test_proxy_that_cannot_start_is_sandbox_unavailable(base: str) -> None:
    if not base.startswith("/nonexistent"):
        os.makedirs(base, exist_ok=True)  # exists, but a socket path below it is too long for AF_UNIX
    try:
        with pytest.raises(SandboxError, match="egress proxy could not start") as exc:
            EgressProxy([HOST], base_dir=base).start()
        assert exc.value.reason is Reason.SANDBOX_UNAVAILABLE
    finally:
        if not base.startswith("/nonexistent"):
            os.rmdir(base)


def test_proxy_revalidates_its_allow_list() -> None:
    with pytest.raises(SandboxError) as exc:
        EgressProxy(["127.0.0.1"])
    assert exc.value.reason is Reason.INVALID_ARGUMENT


# --- the allow-list in SandboxSpec --------------------------------------------------------------


@pytest.mark.parametrize(
    "network",
    ["api.example.com", "", "None", [], (), ["API.example.com"], ["api.example.com."], ["*.example.com"],
     ["127.0.0.1"], ["10.1"], ["0x7f.1"], ["::1"], ["a..b"], ["-a.com"], ["a" * 64 + ".com"], ["x.com", "x.com"],
     [f"h{i}.example.com" for i in range(65)], [b"api.example.com"], [None], {"allow": ["a.com"]}, 1],
)  # fmt: skip
def test_network_must_be_none_or_an_allow_list_of_lower_case_names(network: Any) -> None:
    with pytest.raises(SandboxError) as exc:
        SandboxSpec(["/bin/true"], network=network)
    assert exc.value.reason is Reason.INVALID_ARGUMENT


def test_allow_list_kept_as_a_tuple() -> None:
    hosts = [HOST, "x--y.example.org", "a" * 63 + ".io"]
    with SandboxSpec(["/bin/true"], network=hosts) as spec:
        hosts.append("evil.example.net")
        assert spec.network == spec.network_hosts == (HOST, "x--y.example.org", "a" * 63 + ".io")
    with SandboxSpec(["/bin/true"]) as spec:
        assert spec.network == "none" and spec.network_hosts == ()


@pytest.mark.parametrize("key", ["HTTPS_PROXY", "http_proxy", "NO_PROXY", "no_proxy"])
def test_proxy_variables_belong_to_the_runner(key: str) -> None:
    with pytest.raises(SandboxError, match="set by the runner") as exc:
        SandboxSpec(["/bin/true"], env={key: "http://evil:1"}, network=[HOST])
    assert exc.value.reason is Reason.INVALID_ARGUMENT
    SandboxSpec(["/bin/true"], env={key: "x"}).close()  # without an allow-list they are the tool's business


def test_allow_list_needs_room_for_the_relay() -> None:
    with pytest.raises(SandboxError, match="memory_mib") as exc:
        SandboxSpec(["/bin/true"], network=[HOST], limits=Limits(memory_mib=MIN_NETWORK_MEMORY_MIB - 1))
    assert exc.value.reason is Reason.INVALID_ARGUMENT


# --- backends and production ------------------------------------------------------------------


@pytest.mark.parametrize("production", [False, True])
def test_process_backend_refuses_allow_lists(sandbox: Sandbox, production: bool) -> None:
    with pytest.raises(SandboxError, match="cannot confine") as exc:
        sandbox.run(["/bin/true"], backend="process", production=production, network=[HOST])
    assert exc.value.reason is Reason.NETWORK_NOT_ALLOWED


@pytest.mark.parametrize("why", ["missing", "path-too-long"])
def test_proxy_start_failure_denies_in_production(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, why: str, tmp_path: Path
) -> None:
    probe_sandbox(production=True)  # cached now; what fails below is the proxy, not the probe
    if why == "missing":
        base = str(tmp_path / "gone")
    else:
        base = str(tmp_path / ("d" * (110 - len(str(tmp_path)))))
        os.mkdir(base)
    monkeypatch.setattr(tempfile, "tempdir", base)  # like TMPDIR: where the proxy makes its directory
    with pytest.raises(SandboxError, match="egress proxy could not start") as exc:
        sandbox.run(["/bin/true"], network=[HOST], production=True)
    assert exc.value.reason is Reason.SANDBOX_UNAVAILABLE
    with pytest.raises(SandboxError):
        sandbox.run(["/bin/true"], network=[HOST], production=False)  # no fallback in development either


# --- inside the sandbox -----------------------------------------------------------------------

BYPASS = r"""
import errno, json, socket, sys
out = {}
def attempt(name, family, address):
    s = socket.socket(family, socket.SOCK_STREAM); s.settimeout(3)
    try:
        s.connect(address); out[name] = "connected"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()
attempt("host_loopback", socket.AF_INET, ("127.0.0.1", int(sys.argv[1])))
attempt("internet", socket.AF_INET, ("1.1.1.1", 443))
attempt("internet6", socket.AF_INET6, ("2606:4700:4700::1111", 443))
def through_proxy(target):
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[2])
    s.sendall(("CONNECT %s HTTP/1.1\r\n\r\n" % target).encode())
    answer = b""
    while chunk := s.recv(4096):
        answer += chunk
    return answer.split(b"\r\n")[0].decode()
out["proxy_ip"] = through_proxy("127.0.0.1:%s" % sys.argv[1])
out["proxy_unlisted"] = through_proxy("evil.example.net:443")
out["proxy_listed"] = through_proxy(sys.argv[3] + ":443")
with open("/proc/net/dev") as f:
    out["interfaces"] = sorted(l.split(":", 1)[0].strip() for l in f.read().splitlines()[2:] if ":" in l)
print(json.dumps(out))
"""


def test_allow_listed_tool_cannot_bypass_the_proxy(sandbox: Sandbox) -> None:
    # The real runner path: production, the probe, the system resolver. ``.invalid`` never
    # resolves (RFC 6761), so an allowed name gets as far as resolution and no further.
    listed = "sealgate-test.invalid"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        result = sandbox.run(py(BYPASS, str(port), EGRESS_SOCKET, listed), network=[listed], production=True)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing from the sandbox arrived, directly or through the proxy
    assert result.exit_code == 0, result.stderr.decode(errors="replace")
    out = json.loads(result.stdout)
    assert out["host_loopback"] == "ECONNREFUSED"  # only the sandbox's own lo exists
    assert out["internet"] == "ENETUNREACH" and out["internet6"] == "ENETUNREACH"
    assert out["interfaces"] == ["lo"]
    assert out["proxy_ip"].startswith("HTTP/1.1 403")
    assert out["proxy_unlisted"].startswith("HTTP/1.1 403")
    assert out["proxy_listed"].startswith("HTTP/1.1 502")
    reasons = [(e.host, e.reason) for e in result.network_events]
    assert reasons == [("127.0.0.1", "ip-literal"), ("evil.example.net", "host-not-allowed"),
                       (listed, "resolution-failed")]  # fmt: skip
    assert result.network_refused == 3 and result.network_allowed == 0
    assert result.outcome()["network_refused"] == 3 and result.outcome()["network_allowed"] == 0


def test_tool_without_network_records_no_events(sandbox: Sandbox) -> None:
    result = sandbox.run(["/bin/true"])
    assert (result.network_allowed, result.network_refused, result.network_events) == (0, 0, ())
    assert result.outcome()["network_allowed"] == 0


def run_with(proxy: EgressProxy, argv: list[str], **kw: Any) -> RunResult:
    with SandboxSpec(argv, network=sorted(proxy.allow), **kw) as spec:
        return run_bwrap(spec, egress=proxy)


def test_tool_reaches_allow_listed_host_over_https_through_relay_and_proxy(
    https_server: LoopbackServer, certificate: tuple[bytes, Path, Path]
) -> None:
    # curl reads https_proxy, sends CONNECT to the relay on the sandbox's lo, which forwards to
    # the proxy's socket; TLS (SNI and certificate name api.example.com) runs end to end.
    cert_pem = certificate[0]
    script = (
        "curl -sS --max-time 10 --cacert /tool/ca.pem https://api.example.com/curl && "
        "/usr/bin/python3 -I -S -c 'import ssl, sys, urllib.request as u; "
        'sys.stdout.write(u.urlopen("https://api.example.com/python", timeout=10, '
        'context=ssl.create_default_context(cafile="/tool/ca.pem")).read().decode())\''
    )
    result = run_with(tunnel_proxy(https_server), ["/bin/sh", "-c", script], files={"/tool/ca.pem": (0o444, cert_pem)})
    assert result.exit_code == 0, result.stderr.decode(errors="replace")
    assert result.stdout == b"hello from the host, /curl\nhello from the host, /python\n"
    assert https_server.seen == [("/curl", HOST), ("/python", HOST)]
    assert result.network_allowed == 2 and result.network_refused == 0
    assert [e.to_json() for e in result.network_events] == [
        {"host": HOST, "port": 443, "address": https_server.address, "verdict": "allowed", "reason": "allowed",
         "detail": f"tunnel to {https_server.address} port 443"},
    ] * 2  # fmt: skip
    assert isinstance(result.network_events[0], NetworkEvent)


def test_plain_http_needs_a_connect_tunnel(http_server: LoopbackServer) -> None:
    # curl sends GET http://... to an http_proxy (405 here); with -p it opens a CONNECT tunnel.
    script = (
        "curl -s -o /dev/null -w '%{http_code}\\n' http://api.example.com:443/get; "
        "curl -sS -p --max-time 10 http://api.example.com:443/tunnel"
    )
    result = run_with(tunnel_proxy(http_server), ["/bin/sh", "-c", script])
    assert result.stdout == b"405\nhello from the host, /tunnel\n", result.stderr
    assert [e.reason for e in result.network_events] == ["method-not-allowed", "allowed"]
    assert http_server.seen == [("/tunnel", f"{HOST}:443")]


NETWORK_VIEW = r"""
import hashlib, json, os, ssl
relay = open(os.environ["RELAY"], "rb").read()
try:
    open(os.environ["RELAY"], "ab"); writable = True
except OSError as e:
    writable = e.strerror
print(json.dumps({
    "env": {k: v for k, v in os.environ.items() if "proxy" in k.lower()},
    "relay_sha256": hashlib.sha256(relay).hexdigest(), "relay_writable": writable,
    "run": sorted(os.listdir("/run/sealgate")),
    "cas": ssl.create_default_context().cert_store_stats()["x509_ca"],
    "ssl_private": os.path.exists("/etc/ssl/private"),
    "interfaces": sorted(l.split(":", 1)[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:] if ":" in l),
}))
"""


def test_networked_sandbox_gets_the_relay_from_sealgates_bytes_and_nothing_more(resolver: FakeResolver) -> None:
    result = run_with(EgressProxy([HOST], resolve=resolver), py(NETWORK_VIEW), env={"RELAY": EGRESS_RELAY})
    assert result.exit_code == 0, result.stderr.decode(errors="replace")
    out = json.loads(result.stdout)
    assert out["relay_sha256"] == hashlib.sha256(relay_source()).hexdigest()
    assert out["relay_writable"] in ("Permission denied", "Read-only file system")  # mode 0444, read-only mount
    assert out["run"] == ["egress-relay.py", "egress.sock"]
    assert out["env"] == {"HTTPS_PROXY": PROXY_URL, "HTTP_PROXY": PROXY_URL, "https_proxy": PROXY_URL,
                          "http_proxy": PROXY_URL, "NO_PROXY": "", "no_proxy": ""}  # fmt: skip
    assert out["cas"] > 0  # the system CA certificates are there for TLS clients
    assert out["ssl_private"] is False  # only /etc/ssl/certs, never the host's private keys
    assert out["interfaces"] == ["lo"]
    assert result.network_events == ()


def test_relay_does_not_take_from_the_tools_process_budget(resolver: FakeResolver) -> None:
    result = run_with(
        EgressProxy([HOST], resolve=resolver), py(FORK_COUNT), limits=Limits(wall_seconds=10, processes=16)
    )
    assert result.stdout == b"EAGAIN 15\n", result.stderr  # as without network: the tool's own 16


def test_tool_output_is_not_mixed_with_the_relays(resolver: FakeResolver) -> None:
    result = run_with(EgressProxy([HOST], resolve=resolver), ["/bin/echo", "only the tool"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, b"only the tool\n", b"")


def test_production_run_with_allow_list_uses_the_probe_and_a_fresh_proxy(token: VerifiedArtifact) -> None:
    with SandboxSpec(py("import os; print(os.environ['HTTPS_PROXY'])"), network=[HOST]) as spec:
        first = run_sandboxed(token, spec, production=True)
        second = run_sandboxed(token, spec, production=True)  # a spec runs again, with a new proxy
    assert first.stdout == second.stdout == f"{PROXY_URL}\n".encode()


def test_runner_imports_the_proxy_only_for_an_allow_list() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sealgate.runner as r\n"
        "with r.SandboxSpec(['/bin/true']): pass\n"
        "print(sorted(m for m in ('sealgate.runner._egress', 'sealgate.checks', 'socket') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_socket_replaced_at_its_path_is_never_bound(resolver: FakeResolver) -> None:
    # The sandbox gets the proxy's socket by the descriptor of its inode, not by its path.
    class Replaced(EgressProxy):
        def start(self) -> EgressProxy:
            super().start()
            path = self.socket_path
            path.unlink()
            self.impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.impostor.bind(str(path))
            self.impostor.listen(1)
            if os.geteuid() == 0:
                os.chown(path, 65534, 65534)
            return self

    proxy = Replaced([HOST], resolve=resolver)
    try:
        with pytest.raises(SandboxError, match="could not be set up"):
            run_with(proxy, ["/bin/true"])
        proxy.impostor.setblocking(False)
        with pytest.raises(BlockingIOError):
            proxy.impostor.accept()
    finally:
        proxy.impostor.close()


class Bulk(http.server.BaseHTTPRequestHandler):
    """GET: 4 MiB of known bytes; POST: the SHA-256 of the body it received."""

    protocol_version = "HTTP/1.1"
    body = bytes(range(256)) * (4 * 4096)

    def answer(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.answer(self.body)

    def do_POST(self) -> None:
        self.answer(hashlib.sha256(self.rfile.read(int(self.headers["Content-Length"]))).hexdigest().encode())

    def log_message(self, *args: Any) -> None:
        pass


def test_large_transfers_both_ways_arrive_intact_in_parallel(http_server: LoopbackServer) -> None:
    # Back-pressure in the relay and the proxy: four parallel 4 MiB downloads and a 3 MB upload.
    http_server.server.RequestHandlerClass = Bulk
    script = (
        "for i in 1 2 3 4; do curl -sS -p --max-time 20 http://api.example.com:443/ | sha256sum & done; wait; "
        "head -c 3000000 /dev/urandom > /tmp/up; sha256sum < /tmp/up; "
        "curl -sS -p --max-time 20 --data-binary @/tmp/up http://api.example.com:443/"
    )
    result = run_with(tunnel_proxy(http_server), ["/bin/sh", "-c", script], limits=Limits(wall_seconds=30))
    assert result.exit_code == 0, result.stderr.decode(errors="replace")
    lines = result.stdout.decode().split()
    assert lines[0:8:2] == [hashlib.sha256(Bulk.body).hexdigest()] * 4
    assert lines[8] == lines[10] and result.network_allowed == 5
