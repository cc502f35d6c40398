"""The egress proxy: enforces a tool's network allow-list from outside the sandbox.

Product requirement: "a declared allow-list is enforced by an egress proxy outside the
sandbox, reached through a bound Unix socket, which resolves names itself and refuses
loopback, private, link-local and cloud-metadata answers; the host network namespace is
never shared". The sandbox keeps its own network namespace with only ``lo``; its one way
out is the Unix socket this proxy listens on, bound into the sandbox by descriptor, where
the in-sandbox relay (``_relay.py``) forwards ``127.0.0.1:3128`` to it (docs/sandbox.md
"Network").

Each connection carries one HTTP/1.x ``CONNECT host:port`` request; the proxy answers it:

1. Reads the request head: at most ``MAX_HEAD_BYTES`` within ``HEAD_TIMEOUT_S`` (400/408).
2. Only ``CONNECT`` in authority form; anything else (``GET http://...``) is 405.
3. The host, lower-cased (it is ASCII by then), must equal an allow-list entry. IP literals
   (``[::1]``, ``127.0.0.1``, ``2130706433``) are refused outright: the allow-list holds
   names only (``SandboxSpec`` refuses numeric entries). A trailing dot is not stripped, so
   ``api.example.com.`` is simply not on the list.
4. The port must be 443 or 80.
5. The proxy resolves the name itself and classifies **every** answer with the URL checks'
   address rules (``sealgate.checks._url._category``: loopback, RFC 1918, CGNAT, ULA,
   link-local, unspecified, multicast, reserved, cloud metadata; an IPv6 address that
   embeds an IPv4 one is judged by that IPv4 address). One bad answer refuses the request.
6. It connects to a vetted address, never to the name, so a second DNS answer (rebinding)
   is never used; then copies bytes both ways until both sides closed, or until neither
   sent anything for ``idle_timeout_s``.

Every answer is recorded as a :class:`~sealgate.runner.NetworkEvent` (host, port, address,
verdict, reason; never payload bytes) and returned by :meth:`EgressProxy.stop`.

Why a thread per connection rather than one selector loop: ``getaddrinfo`` blocks and
cannot be cancelled, and a blocked resolution must not stall other connections. Threads
live in the sealgate process (not in the sandbox, where they would count against
``RLIMIT_NPROC``); there are at most ``max_connections`` of them, and every blocking call
in them has a timeout, except ``getaddrinfo`` itself, which :meth:`EgressProxy.stop` does
not wait for (its result is discarded).

This module is imported only by a run with an allow-list.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import select
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Final

from sealgate._dataclass import dataclass
from sealgate.checks._url import _category, _ends_in_number
from sealgate.errors import Reason, SandboxError
from sealgate.runner._launch import SANDBOX_HOST_UID
from sealgate.runner._spec import MAX_NETWORK_EVENTS, NetworkEvent, _validate_network

__all__ = [
    "ALLOWED_PORTS",
    "CONNECT_TIMEOUT_S",
    "HEAD_TIMEOUT_S",
    "IDLE_TIMEOUT_S",
    "MAX_CONNECTIONS",
    "MAX_HEAD_BYTES",
    "EgressProxy",
    "EgressReport",
    "Resolver",
    "relay_source",
    "system_resolve",
]

#: Maps a host name and port to the addresses it resolves to (strings), like ``getaddrinfo``.
Resolver = Callable[[str, int], Sequence[str]]

ALLOWED_PORTS: Final = frozenset({443, 80})
MAX_HEAD_BYTES: Final = 8192
HEAD_TIMEOUT_S: Final = 10.0
CONNECT_TIMEOUT_S: Final = 10.0
#: A tunnel in which neither side sent a byte for this long is closed (the wall clock caps runs at 30 s).
IDLE_TIMEOUT_S: Final = 20.0
#: Concurrent connections per run; more are answered 503 at once.
MAX_CONNECTIONS: Final = 16
_BACKLOG: Final = 64
_CHUNK: Final = 1 << 16
_STOP_JOIN_S: Final = 2.0
_PHRASES: Final = {
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    408: "Request Timeout",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@functools.cache
def relay_source() -> bytes:
    """The in-sandbox relay's source: the bytes of ``_relay.py`` as installed with sealgate, read once."""
    return (Path(__file__).parent / "_relay.py").read_bytes()


def system_resolve(host: str, port: int) -> list[str]:
    """Every TCP address ``getaddrinfo`` gives for ``host``, in its order, without duplicates."""
    out: list[str] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6):
            address = str(sockaddr[0])
            if address not in out:
                out.append(address)
    return out


@dataclass(frozen=True, slots=True)
class EgressReport:
    """What the proxy answered during one run: exact counts, and the first ``MAX_NETWORK_EVENTS`` events."""

    allowed: int
    refused: int
    events: tuple[NetworkEvent, ...]


class _Refusal(Exception):
    """Internal: the request is answered with ``status`` and recorded as refused."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str,
        *,
        host: str | None = None,
        port: int | None = None,
        address: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.host = host
        self.port = port
        self.address = address

    def event(self) -> NetworkEvent:
        return NetworkEvent(self.host, self.port, self.address, "refused", self.reason, self.detail)


class EgressProxy:
    """An HTTP ``CONNECT`` proxy on a fresh Unix socket, enforcing one run's allow-list.

    ``allow`` is the spec's allow-list (validated again here). ``resolve`` defaults to the
    system resolver (:func:`system_resolve`); tests inject a fake one, production never does.
    Use :meth:`start`, then bind :attr:`socket_fd` into the sandbox, then :meth:`stop`,
    which returns the :class:`EgressReport`. Start failures raise
    :class:`~sealgate.errors.SandboxError` with reason ``sandbox-unavailable``.
    """

    def __init__(
        self,
        allow: Iterable[str],
        *,
        resolve: Resolver | None = None,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        base_dir: str | None = None,
    ) -> None:
        hosts = _validate_network(list(allow))
        assert isinstance(hosts, tuple)
        self.allow: frozenset[str] = frozenset(hosts)
        self._resolve: Resolver = resolve if resolve is not None else system_resolve
        self._idle_timeout_s = idle_timeout_s
        self._max_connections = max_connections
        self._base_dir = base_dir
        #: Test-only: addresses exempt from the address classification, so a test can tunnel to a
        #: server on the host's loopback. Only a test sets it, on an instance it built itself; no
        #: API, manifest, policy field or environment variable reaches it, and the runner never
        #: sets it (``run_bwrap`` builds its own proxy unless a test hands it one).
        self._allow_addresses_for_tests: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._events: list[NetworkEvent] = []
        self._allowed = 0
        self._refused = 0
        self._active: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._started = False
        self._stopped = False
        self._dir: Path | None = None
        self._listener: socket.socket | None = None
        self._path_fd: int | None = None
        self._wake: tuple[int, int] | None = None
        self._accept_thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        if self._dir is None:
            raise SandboxError("the egress proxy is not running", reason=Reason.INTERNAL_ERROR)
        return self._dir / "egress.sock"

    @property
    def socket_fd(self) -> int:
        """An ``O_PATH`` descriptor of the listening socket's inode, for ``bwrap --bind-fd``."""
        if self._path_fd is None:
            raise SandboxError("the egress proxy is not running", reason=Reason.INTERNAL_ERROR)
        return self._path_fd

    def start(self) -> EgressProxy:
        """Listen on ``<fresh 0700 temp dir>/egress.sock`` and serve in a daemon thread."""
        if self._started:
            raise SandboxError("an egress proxy is started once", reason=Reason.INTERNAL_ERROR)
        self._started = True
        try:
            self._dir = Path(tempfile.mkdtemp(prefix="sealgate-egress-", dir=self._base_dir))
            path = self._dir / "egress.sock"
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(str(path))
            os.chmod(path, 0o600)
            # The descriptor pins the inode: bwrap binds exactly this socket and refuses a
            # replacement planted at the path ("Race condition binding dirfd", docs/sandbox.md).
            self._path_fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
            if os.geteuid() == 0:
                # A root caller's bwrap and sandbox run as SANDBOX_HOST_UID (_launch.py): they must
                # traverse the directory, and connect(2) needs write permission on the socket.
                os.chown(self._dir, SANDBOX_HOST_UID, SANDBOX_HOST_UID)
                os.chown(path, SANDBOX_HOST_UID, SANDBOX_HOST_UID, follow_symlinks=False)
            self._listener.listen(_BACKLOG)
            self._wake = os.pipe2(os.O_CLOEXEC)
            self._accept_thread = threading.Thread(target=self._accept_loop, name="sealgate-egress", daemon=True)
            self._accept_thread.start()
        except (OSError, RuntimeError) as exc:
            self.stop()
            raise SandboxError(
                f"the egress proxy could not start ({exc}); a network allow-list cannot be enforced, so the run "
                "is refused",
                reason=Reason.SANDBOX_UNAVAILABLE,
            ) from exc
        return self

    def stop(self) -> EgressReport:
        """Stop accepting, close every connection, delete the socket directory. Idempotent."""
        with self._lock:
            self._stopped = True
            for sock in self._active:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the handler, which closes it
            threads = list(self._threads)
        if self._wake is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(_STOP_JOIN_S)
        deadline = time.monotonic() + _STOP_JOIN_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()
        if self._wake is not None and (self._accept_thread is None or not self._accept_thread.is_alive()):
            for fd in self._wake:
                os.close(fd)
            self._wake = None
        if self._path_fd is not None:
            os.close(self._path_fd)
            self._path_fd = None
        if self._dir is not None:
            with contextlib.suppress(FileNotFoundError):
                (self._dir / "egress.sock").unlink()
            with contextlib.suppress(OSError):
                self._dir.rmdir()
        with self._lock:
            return EgressReport(self._allowed, self._refused, tuple(self._events))

    def __enter__(self) -> EgressProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving --------------------------------------------------------------------------

    def _record(self, event: NetworkEvent) -> None:
        with self._lock:
            if self._stopped:
                return
            if event.verdict == "allowed":
                self._allowed += 1
            else:
                self._refused += 1
            if len(self._events) < MAX_NETWORK_EVENTS:
                self._events.append(event)

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        poller = select.poll()
        poller.register(self._listener, select.POLLIN)
        poller.register(self._wake[0], select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._wake[0] in ready:
                return
            try:
                client, _ = self._listener.accept()
            except OSError:
                time.sleep(0.05)  # EMFILE and friends: do not spin
                continue
            thread = threading.Thread(target=self._serve, args=(client,), name="sealgate-egress-conn", daemon=True)
            with self._lock:
                if self._stopped:
                    client.close()
                    return
                full = len(self._threads) >= self._max_connections
                if not full:
                    self._active.add(client)
                    self._threads.add(thread)
            if not full:
                thread.start()
                continue
            refusal = _Refusal(503, "too-many-connections", f"more than {self._max_connections} open connections")
            self._record(refusal.event())
            _reply(client, refusal)
            client.close()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            try:
                read = _read_head(client)
                if read is None:
                    return  # closed before asking anything: nothing to record
                head, rest = read
                host, port = self._parse(head)
                addresses = self._vet(host, port)
                upstream, address = self._connect(host, port, addresses)
            except _Refusal as refusal:
                self._record(refusal.event())
                _reply(client, refusal)
                return
            self._record(NetworkEvent(host, port, address, "allowed", "allowed", f"tunnel to {address} port {port}"))
            client.settimeout(self._idle_timeout_s)
            upstream.settimeout(self._idle_timeout_s)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)  # bytes the client sent after the head (e.g. an early TLS hello)
            self._splice(client, upstream)
        except OSError:
            pass  # a peer went away or timed out: the tunnel is over
        finally:
            with self._lock:
                self._active.discard(client)
                if upstream is not None:
                    self._active.discard(upstream)
                self._threads.discard(threading.current_thread())
            client.close()
            if upstream is not None:
                upstream.close()

    def _parse(self, head: bytes) -> tuple[str, int]:
        line = head.split(b"\r\n", 1)[0]
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            raise _Refusal(400, "bad-request", "the request line is not ASCII") from None
        parts = text.split(" ")
        if (
            len(parts) != 3
            or not parts[2].startswith("HTTP/1.")
            or any(ord(c) <= 0x20 or c == "\x7f" for part in parts for c in part)
        ):
            raise _Refusal(400, "bad-request", "the request line is not an HTTP/1.x request line")
        method, target, _ = parts
        if method != "CONNECT":
            shown = method[:16] if method.isalpha() else "this method"
            raise _Refusal(
                405, "method-not-allowed", f"{shown} requests are not proxied: only CONNECT tunnels (use https)"
            )
        host_text, sep, port_text = target.rpartition(":")
        if not sep or not host_text or len(host_text) > 253:
            raise _Refusal(400, "bad-request", "the CONNECT target is not host:port")
        host = host_text.lower()
        port: int | None = int(port_text) if port_text.isdigit() and len(port_text) <= 5 else None
        if port is None or not 0 < port <= 65535 or str(port) != port_text:
            raise _Refusal(400, "bad-request", f"the CONNECT port {port_text[:8]!r} is not a port number", host=host)
        if host.startswith("[") or _ends_in_number(host.split(".")):
            raise _Refusal(
                403, "ip-literal", f"{host} is an IP address; the allow-list names hosts", host=host, port=port
            )
        if host not in self.allow:
            raise _Refusal(
                403, "host-not-allowed", f"{host} is not on the tool's network allow-list", host=host, port=port
            )
        if port not in ALLOWED_PORTS:
            raise _Refusal(
                403, "port-not-allowed", f"port {port} is not allowed (443 and 80 are)", host=host, port=port
            )
        return host, port

    def _vet(self, host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """Resolve ``host`` here and classify every answer; one refused answer refuses the request."""
        try:
            answers = [str(a) for a in self._resolve(host, port)]
        except Exception as exc:  # any resolver failure refuses; only the type is reported
            raise _Refusal(
                502, "resolution-failed", f"resolving {host} failed ({type(exc).__name__})", host=host, port=port
            ) from exc
        if not answers:
            raise _Refusal(502, "resolution-failed", f"{host} resolves to no address", host=host, port=port)
        vetted: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        for answer in answers:
            try:
                addr = ipaddress.ip_address(answer)
            except ValueError:
                raise _Refusal(
                    502,
                    "resolution-failed",
                    f"the resolver answered {answer[:64]!r}, not an address",
                    host=host,
                    port=port,
                ) from None
            if str(addr) in self._allow_addresses_for_tests:
                vetted.append(addr)
                continue
            if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
                raise _Refusal(
                    403, "private-address", f"{host} resolves to {addr}, a scoped (interface-bound) address",
                    host=host, port=port, address=str(addr),
                )  # fmt: skip
            found = _category(addr)
            if found is not None:
                code, what, _ = found
                reason = "metadata-address" if code == "url-metadata-address" else "private-address"
                raise _Refusal(
                    403, reason, f"{host} resolves to {addr}, {what}", host=host, port=port, address=str(addr)
                )
            if addr not in vetted:
                vetted.append(addr)
        return vetted

    def _connect(
        self, host: str, port: int, addresses: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address]
    ) -> tuple[socket.socket, str]:
        """Connect to the first vetted address that answers (never to the name: no second lookup)."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        failure = "no address was tried"
        timed_out = False
        last = str(addresses[0])
        for addr in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            with self._lock:
                if self._stopped:
                    sock.close()
                    raise _Refusal(503, "connect-failed", "the run ended", host=host, port=port)
                self._active.add(sock)
            try:
                sock.settimeout(remaining)
                sock.connect((str(addr), port))
            except OSError as exc:
                with self._lock:
                    self._active.discard(sock)
                sock.close()
                last = str(addr)
                timed_out = isinstance(exc, TimeoutError)
                failure = exc.strerror or type(exc).__name__
                continue
            return sock, str(addr)
        raise _Refusal(
            504 if timed_out else 502,
            "connect-failed",
            f"connecting to {last} port {port} failed ({'timed out' if timed_out else failure})",
            host=host,
            port=port,
            address=last,
        )

    def _splice(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy bytes both ways; half-closes are passed on; ends when both sides closed or after idling."""
        peers = {client.fileno(): (client, upstream), upstream.fileno(): (upstream, client)}
        poller = select.poll()
        for fd in peers:
            poller.register(fd, select.POLLIN)
        reading = set(peers)
        while reading:
            events = poller.poll(round(self._idle_timeout_s * 1000))
            if not events:
                return  # idle
            for fd, _ in events:
                if fd not in reading:
                    continue
                src, dst = peers[fd]
                data = src.recv(_CHUNK)
                if data:
                    dst.sendall(data)  # bounded by the idle timeout set on the socket
                else:
                    poller.unregister(fd)
                    reading.discard(fd)
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)


def _read_head(client: socket.socket) -> tuple[bytes, bytes] | None:
    """The request head and any bytes after it; ``None`` if the client closed without sending anything."""
    deadline = time.monotonic() + HEAD_TIMEOUT_S
    buf = bytearray()
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            return bytes(buf[:end]), bytes(buf[end + 4 :])
        if len(buf) > MAX_HEAD_BYTES:
            raise _Refusal(400, "bad-request", f"the request head is larger than {MAX_HEAD_BYTES} bytes")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Refusal(408, "bad-request", f"no complete request head within {HEAD_TIMEOUT_S:g} s")
        client.settimeout(remaining)
        try:
            chunk = client.recv(4096)
        except TimeoutError:
            raise _Refusal(408, "bad-request", f"no complete request head within {HEAD_TIMEOUT_S:g} s") from None
        if not chunk:
            if not buf:
                return None
            raise _Refusal(400, "bad-request", "the connection closed in the middle of the request head")
        buf += chunk


def _reply(client: socket.socket, refusal: _Refusal) -> None:
    body = f"sealgate egress proxy: {refusal.detail}\n".encode()
    head = (
        f"HTTP/1.1 {refusal.status} {_PHRASES[refusal.status]}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Sealgate-Egress: {refusal.reason}\r\n"
        + ("Allow: CONNECT\r\n" if refusal.status == 405 else "")
        + "Connection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        client.settimeout(2.0)
        client.sendall(head.encode() + body)
        client.shutdown(socket.SHUT_WR)
