"""Remote attestation over HTTPS (issue 4): the service side as an ASGI app, and the client.

The protocol (docs/remote-attestation.md), version 1::

    POST /.well-known/sealgate/attestation          Content-Type: application/json
    {"_type": "sealgate/ra-request/v1", "nonce": "<32 to 128 lowercase hex digits>"}

    200 OK   Content-Type: application/json   Cache-Control: no-store
    {"_type": "sealgate/ra-evidence/v1", "quote": "<base64>", "collateral": "<base64>" | null}

    4xx/5xx  {"_type": "sealgate/ra-error/v1", "error": "<code>", "message": "<sentence>"}

The service puts ``expected_report_data(nonce, SPKI)`` (:mod:`.binding`) in its quote, where
SPKI is the DER SubjectPublicKeyInfo of its own TLS certificate. The client sends a fresh
32-byte nonce over a TLS connection it opened itself, takes the SPKI of the certificate
presented *on that connection*, and hands quote, collateral, nonce and SPKI to the gate
(:func:`sealgate.enclaves._attest.attest`). A quote made for another nonce (a replay) or
bound to another TLS key (a relay) is a ``report-data-mismatch``; the gate audits it.

* :class:`AttestationService`: a plain ASGI application (no framework) that serves the
  endpoint, with a pluggable :class:`~sealgate.enclaves.quote.QuoteProvider` (Gramine's
  ``/dev/attestation`` or the development mock) and an optional collateral source. It can
  wrap the service's own ASGI app, passing every other request through.
* :func:`fetch_evidence`: one challenge over HTTPS; bounded sizes, a deadline, no redirects.
* :func:`verify_remote`: refresh the registry through TUF (fail closed), challenge the
  service, ask the gate. Every outcome after the refresh starts is an audited decision.
* :func:`tls_spki`: the SPKI of a certificate (PEM or DER) or a PEM public key, exactly as
  the certificate encodes it.

The client does not rely on the CA chain for the service's authenticity (it may be
self-signed): the trust comes from the quote binding the connection's key. It still
requires TLS, and the binding means "this TLS session ends in the enclave" only if the
service's private key never leaves the enclave (docs/remote-attestation.md, threat model).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import http.client
import json
import logging
import re
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn
from urllib.parse import urlsplit

from sealgate._dataclass import dataclass
from sealgate.config import Home, home_from_env
from sealgate.crypto.keys import PublicKey
from sealgate.enclaves.binding import MAX_NONCE_BYTES, MIN_NONCE_BYTES, expected_report_data
from sealgate.enclaves.quote import MAX_COLLATERAL_BYTES, MAX_QUOTE_BYTES, AttestationError, QuoteProvider
from sealgate.errors import DeniedError, MalformedInputError, Reason, SealgateError, UsageError
from sealgate.tokens import VerifiedArtifact

if TYPE_CHECKING:
    from sealgate.gate import Gate, GateRequest

__all__ = [
    "ATTESTATION_PATH",
    "DEFAULT_TIMEOUT",
    "ERROR_TYPE",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "NONCE_BYTES",
    "REQUEST_TYPE",
    "RESPONSE_TYPE",
    "AttestationService",
    "RemoteDenied",
    "RemoteEvidence",
    "RemoteResult",
    "fetch_evidence",
    "tls_spki",
    "verify_remote",
]

log = logging.getLogger("sealgate.remote")

ATTESTATION_PATH: Final = "/.well-known/sealgate/attestation"
REQUEST_TYPE: Final = "sealgate/ra-request/v1"
RESPONSE_TYPE: Final = "sealgate/ra-evidence/v1"
ERROR_TYPE: Final = "sealgate/ra-error/v1"
#: The nonce the client sends: 256 bits (the binding accepts 16 to 64 bytes).
NONCE_BYTES: Final = 32
#: A request holds a type and at most 128 hex digits: ~200 bytes. Anything over 1 KiB is refused.
MAX_REQUEST_BYTES: Final = 1024
#: Base64 of the largest quote and collateral the verifier accepts, plus the JSON around them.
MAX_RESPONSE_BYTES: Final = 4 * ((MAX_QUOTE_BYTES + MAX_COLLATERAL_BYTES) // 3 + 1) + 1024
#: Whole-exchange deadline of the client (connect, handshake, request, response), seconds.
DEFAULT_TIMEOUT: Final = 30.0
_MAX_ERROR_BODY: Final = 4096
_MAX_CONCURRENT: Final = 4
_JSON: Final = "application/json"
_HEX: Final = re.compile(r"[0-9a-f]*")
_PEM_BLOCK: Final = re.compile(rb"-----BEGIN ([A-Z ]+)-----\s*([A-Za-z0-9+/=\s]+?)-----END \1-----")

ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], ASGIReceive, ASGISend], Awaitable[None]]
CollateralSource = Callable[[bytes], bytes | None]


# -- the TLS key ---------------------------------------------------------------------------


def _der_element(data: bytes, offset: int) -> tuple[int, int, int]:
    """One DER TLV at ``offset``: (tag, start of its value, end of the element)."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[offset], data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _certificate_spki(tbs: bytes) -> bytes:
    """The subjectPublicKeyInfo element of a TBSCertificate, as its bytes stand (RFC 5280 4.1)."""
    tag, pos, end = _der_element(tbs, 0)
    if tag != 0x30 or end != len(tbs):
        raise ValueError("the TBSCertificate is not one SEQUENCE")
    tag, _, after = _der_element(tbs, pos)
    if tag == 0xA0:  # [0] EXPLICIT version
        pos = after
    # serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo
    for _ in range(5):
        pos = _der_element(tbs, pos)[2]
    tag, _, after = _der_element(tbs, pos)
    if tag != 0x30:
        raise ValueError("no subjectPublicKeyInfo where RFC 5280 puts it")
    return tbs[pos:after]


def tls_spki(data: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a certificate (PEM or DER) or of a PEM public key.

    For a certificate, the SPKI bytes exactly as the certificate carries them (what the
    binding hashes); for a PEM file with several certificates, the first one (the leaf of a
    chain file). Raises :class:`MalformedInputError` for anything else.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if type(data) is not bytes or not data:
        raise MalformedInputError("no certificate or public key given")
    if len(data) > 1 << 20:
        raise MalformedInputError("a certificate file over 1 MiB is not a certificate")
    der: bytes | None = None
    if data.lstrip().startswith(b"-----BEGIN"):
        block = _PEM_BLOCK.search(data)
        if block is None:
            raise MalformedInputError("not a PEM certificate or public key")
        try:
            body = base64.b64decode(re.sub(rb"\s+", b"", block.group(2)), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedInputError("the PEM block is not valid base64") from exc
        if block.group(1) == b"PUBLIC KEY":
            try:
                public = serialization.load_der_public_key(body)
            except (ValueError, TypeError) as exc:
                raise MalformedInputError(f"not a public key: {exc}") from exc
            spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            if spki != body:
                raise MalformedInputError("the public key is not in its DER SubjectPublicKeyInfo encoding")
            return body
        if block.group(1) != b"CERTIFICATE":
            raise MalformedInputError(f"a PEM {block.group(1).decode()} is not a certificate or a public key")
        der = body
    else:
        der = data
    try:
        cert = x509.load_der_x509_certificate(der)
        spki = _certificate_spki(cert.tbs_certificate_bytes)
        serialization.load_der_public_key(spki)  # it is a key cryptography can read
    except (ValueError, TypeError) as exc:
        raise MalformedInputError(f"not an X.509 certificate: {exc}") from exc
    return spki


def _check_spki(spki: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if type(spki) is not bytes:
        raise UsageError("the TLS key must be given as DER SubjectPublicKeyInfo bytes")
    try:
        serialization.load_der_public_key(spki)
    except (ValueError, TypeError) as exc:
        raise UsageError(
            "the TLS key is not a DER SubjectPublicKeyInfo (give tls_spki(certificate), not the certificate)"
        ) from exc
    return spki


# -- the service side ----------------------------------------------------------------------


class _HttpError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


class AttestationService:
    """The service side of the protocol, as an ASGI application.

    ``provider`` makes the quotes (``GramineQuoteProvider()`` inside Gramine, a
    ``MockQuoteProvider`` in development); ``tls_spki_der`` is the DER SubjectPublicKeyInfo
    of the certificate this service answers TLS with (``tls_spki(cert_pem)``);
    ``collateral``, if given, is called with each quote and returns the collateral JSON
    bytes the verifier needs (for DCAP: from a PCCS or a cache; a mock quote needs none).
    ``app`` is the service's own ASGI app: requests for any other path (and lifespan events)
    go to it; without it they are answered 404. At most ``max_concurrent`` quotes are made at
    once (a quote costs the enclave real work); beyond that the answer is 503.

    Quote and collateral are produced in the event loop's default thread pool, so the app
    needs an asyncio server (uvicorn, hypercorn's asyncio worker). Errors are JSON with a
    code and a sentence; a failing provider is logged on the ``sealgate.remote`` logger and
    answered 500 without details, never with a traceback.
    """

    def __init__(
        self,
        provider: QuoteProvider,
        tls_spki_der: bytes,
        *,
        collateral: CollateralSource | None = None,
        app: ASGIApp | None = None,
        path: str = ATTESTATION_PATH,
        max_concurrent: int = _MAX_CONCURRENT,
    ) -> None:
        if not callable(getattr(provider, "get_quote", None)):
            raise UsageError("the quote provider must have get_quote(report_data) -> bytes")
        if not path.startswith("/") or type(max_concurrent) is not int or max_concurrent < 1:
            raise UsageError("the path must start with '/' and max_concurrent be a positive integer")
        self._provider = provider
        self._spki = _check_spki(tls_spki_der)
        self._collateral = collateral
        self._app = app
        self._path = path
        self._max = max_concurrent
        self._busy = 0
        if getattr(provider, "mock", True):
            log.warning("the attestation endpoint serves MOCK quotes (%s): development only", provider.name)

    async def __call__(self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        kind = scope.get("type")
        if kind == "http" and self._route_path(scope) == self._path:
            await self._serve(scope, receive, send)
        elif self._app is not None:
            await self._app(scope, receive, send)
        elif kind == "http":
            await _send_error(send, _HttpError(404, "not-found", "no such endpoint"))
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        # any other scope (websocket) without an app: not served

    @staticmethod
    def _route_path(scope: MutableMapping[str, Any]) -> str:
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        return path[len(root) :] if root and path.startswith(root) else path

    async def _serve(self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        try:
            nonce = await _read_challenge(scope, receive)
            if self._busy >= self._max:
                raise _HttpError(503, "busy", "too many attestations at once; retry", ((b"retry-after", b"1"),))
            self._busy += 1
            try:
                body = await asyncio.get_running_loop().run_in_executor(None, self._evidence, nonce)
            finally:
                self._busy -= 1
        except _HttpError as error:
            await _send_error(send, error)
            return
        except _Disconnected:
            return
        await _send_json(send, 200, body)

    def _evidence(self, nonce: bytes) -> bytes:
        try:
            quote = self._provider.get_quote(expected_report_data(nonce, self._spki))
            if type(quote) is not bytes or not 0 < len(quote) <= MAX_QUOTE_BYTES:
                raise ValueError(f"the provider returned {type(quote).__name__} of an unusable size")
            collateral = None if self._collateral is None else self._collateral(quote)
            if collateral is not None and (type(collateral) is not bytes or len(collateral) > MAX_COLLATERAL_BYTES):
                raise ValueError("the collateral source returned something other than bounded bytes")
        except Exception as exc:
            log.error("attestation failed: %s: %s", type(exc).__name__, exc, exc_info=True)
            raise _HttpError(500, "attestation-unavailable", "the service could not produce its evidence") from None
        document = {
            "_type": RESPONSE_TYPE,
            "quote": base64.b64encode(quote).decode("ascii"),
            "collateral": None if collateral is None else base64.b64encode(collateral).decode("ascii"),
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("ascii")


class _Disconnected(Exception):
    pass


async def _read_challenge(scope: MutableMapping[str, Any], receive: ASGIReceive) -> bytes:
    if scope.get("method") != "POST":
        raise _HttpError(405, "method-not-allowed", "use POST", ((b"allow", b"POST"),))
    headers = {bytes(k).lower(): bytes(v) for k, v in scope.get("headers", [])}
    media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    if media != _JSON.encode():
        raise _HttpError(415, "unsupported-media-type", "the challenge is application/json")
    declared = headers.get(b"content-length")
    if declared is not None and not declared.isdigit():
        raise _HttpError(400, "malformed-request", "the Content-Length is not a number")
    if declared is not None and int(declared) > MAX_REQUEST_BYTES:
        raise _HttpError(413, "too-large", f"the challenge is at most {MAX_REQUEST_BYTES} bytes")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body += message.get("body", b"")
        if len(body) > MAX_REQUEST_BYTES:
            raise _HttpError(413, "too-large", f"the challenge is at most {MAX_REQUEST_BYTES} bytes")
        if not message.get("more_body", False):
            break
    from sealgate.canonical import loads_strict

    try:
        doc = loads_strict(bytes(body), what="the challenge", max_size=MAX_REQUEST_BYTES)
    except MalformedInputError as exc:
        raise _HttpError(400, "malformed-request", exc.message) from None
    if not isinstance(doc, dict) or set(doc) != {"_type", "nonce"}:
        raise _HttpError(400, "malformed-request", 'the challenge is {"_type", "nonce"} and nothing else')
    if doc["_type"] != REQUEST_TYPE:
        raise _HttpError(400, "unsupported-version", f"this service speaks {REQUEST_TYPE}")
    nonce = doc["nonce"]
    if (
        not isinstance(nonce, str)
        or not 2 * MIN_NONCE_BYTES <= len(nonce) <= 2 * MAX_NONCE_BYTES
        or len(nonce) % 2
        or not _HEX.fullmatch(nonce)
    ):
        raise _HttpError(
            400, "bad-nonce", f"the nonce is {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes of lowercase hex"
        )
    return bytes.fromhex(nonce)


async def _send_json(send: ASGISend, status: int, body: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    headers = [
        (b"content-type", _JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: ASGISend, error: _HttpError) -> None:
    document = {"_type": ERROR_TYPE, "error": error.error, "message": error.message}
    await _send_json(send, error.status, json.dumps(document, sort_keys=True).encode("utf-8"), error.headers)


# -- the client ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteEvidence:
    """What one challenge brought back, and the key of the connection it came over.

    Nothing here is verified yet: the gate verifies the quote and the binding.
    """

    url: str
    nonce: bytes
    tls_spki_der: bytes
    quote: bytes
    collateral: bytes | None

    @property
    def tls_spki_sha256(self) -> str:
        return hashlib.sha256(self.tls_spki_der).hexdigest()


def _endpoint(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an ``https://`` URL; the well-known path when it names none."""
    if not isinstance(url, str) or len(url) > 2048:
        raise UsageError("the service URL must be a string of at most 2048 characters")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise UsageError(
            f"remote attestation needs https:// (the quote binds the service's TLS key), not {parts.scheme or url!r}"
        )
    if parts.username is not None or parts.password is not None or parts.fragment or parts.query:
        raise UsageError("the service URL takes no user, password, query or fragment")
    try:
        port = parts.port or 443
    except ValueError as exc:
        raise UsageError(f"the service URL has an invalid port: {exc}") from exc
    if not parts.hostname:
        raise UsageError("the service URL names no host")
    path = parts.path if parts.path not in ("", "/") else ATTESTATION_PATH
    return parts.hostname, port, path


def _client_context() -> ssl.SSLContext:
    """TLS 1.2+, certificate not checked against a CA: the quote, not a CA, vouches for the key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _printable(text: str, limit: int = 200) -> str:
    """Text from the network, made safe for a terminal: printable ASCII, bounded."""
    clean = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return clean[:limit] + ("…" if len(clean) > limit else "")


def _read_bounded(response: http.client.HTTPResponse, limit: int, deadline: float) -> bytes:
    """The body, at most ``limit`` bytes, read one receive at a time until the deadline.

    Each receive is bounded by the socket timeout set before the request, and the deadline
    is checked between receives, so a server that trickles bytes cannot hold the client.
    """
    data = bytearray()
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the response took longer than the deadline")
        chunk = response.read1(min(65536, limit + 1 - len(data)))
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > limit:
            raise _TooLarge


class _TooLarge(Exception):
    pass


def _b64(value: object, what: str, limit: int) -> bytes:
    if not isinstance(value, str) or len(value) > 4 * (limit // 3 + 1):
        raise MalformedInputError(f"the {what} is not base64 of at most {limit} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInputError(f"the {what} is not valid base64") from exc
    if not 0 < len(data) <= limit:
        raise MalformedInputError(f"the {what} is empty or over {limit} bytes")
    return data


def _parse_evidence(body: bytes) -> tuple[bytes, bytes | None]:
    from sealgate.canonical import loads_strict

    doc = loads_strict(body, what="the service's evidence", max_size=MAX_RESPONSE_BYTES)
    if not isinstance(doc, dict) or set(doc) != {"_type", "quote", "collateral"}:
        raise MalformedInputError('the service\'s evidence is not {"_type", "quote", "collateral"}')
    if doc["_type"] != RESPONSE_TYPE:
        raise MalformedInputError(f"the service's evidence is not {RESPONSE_TYPE}")
    quote = _b64(doc["quote"], "quote", MAX_QUOTE_BYTES)
    collateral = None if doc["collateral"] is None else _b64(doc["collateral"], "collateral", MAX_COLLATERAL_BYTES)
    return quote, collateral


def fetch_evidence(url: str, *, nonce: bytes | None = None, timeout: float = DEFAULT_TIMEOUT) -> RemoteEvidence:
    """Challenge the service at ``url`` once over HTTPS; nothing is verified here.

    ``nonce`` defaults to :data:`NONCE_BYTES` fresh random bytes (tests pass their own to
    replay). The SPKI is taken from the certificate presented on the very connection the
    request and the answer travel over; the connection is never reopened. Bounded: the
    answer's size (:data:`MAX_RESPONSE_BYTES`) and the whole exchange's time (``timeout``).
    Failures raise :class:`AttestationError`: ``quote-invalid`` when no evidence came back
    (connection, TLS, HTTP status, deadline), ``malformed-input`` when it is malformed.
    """
    host, port, path = _endpoint(url)
    if nonce is None:
        nonce = secrets.token_bytes(NONCE_BYTES)
    if type(nonce) is not bytes or not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
        raise UsageError(f"the nonce must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes")
    if not 0 < timeout <= 600:
        raise UsageError("the timeout must be more than 0 and at most 600 seconds")
    deadline = time.monotonic() + timeout
    request = json.dumps({"_type": REQUEST_TYPE, "nonce": nonce.hex()}, sort_keys=True).encode("ascii")
    connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=_client_context())
    connection.auto_open = 0  # never reconnect: the answer must come over the connection whose key we took
    where = f"the service at {url}"
    response: http.client.HTTPResponse | None = None
    try:
        try:
            connection.connect()
            sock = connection.sock
            assert isinstance(sock, ssl.SSLSocket)
            certificate = sock.getpeercert(binary_form=True)
            if not certificate:
                raise AttestationError(f"{where} presented no TLS certificate")
            spki = tls_spki(certificate)
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            connection.request(
                "POST",
                path,
                body=request,
                headers={"Content-Type": _JSON, "Accept": _JSON, "Connection": "close", "User-Agent": "sealgate"},
            )
            response = connection.getresponse()
            status = response.status
            media = (response.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
            if status != 200:
                detail = _error_detail(_read_bounded(response, _MAX_ERROR_BODY, deadline))
                raise AttestationError(f"{where} answered HTTP {status} {_printable(response.reason)}{detail}")
            if media != _JSON:
                raise AttestationError(f"{where} answered {_printable(media) or 'no content type'}, not {_JSON}",
                                       reason=Reason.MALFORMED_INPUT)  # fmt: skip
            body = _read_bounded(response, MAX_RESPONSE_BYTES, deadline)
        except _TooLarge:
            raise AttestationError(f"{where} answered more than the protocol allows", reason=Reason.TOO_LARGE) from None
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:  # TimeoutError is an OSError
            raise AttestationError(f"{where} gave no evidence: {type(exc).__name__}: {_printable(str(exc))}") from None
        except MalformedInputError as exc:  # the certificate
            raise AttestationError(f"{where} presented an unusable certificate: {exc.message}",
                                   reason=Reason.MALFORMED_INPUT) from None  # fmt: skip
        try:
            quote, collateral = _parse_evidence(body)
        except MalformedInputError as exc:
            raise AttestationError(f"{where}: {exc.message}", reason=Reason.MALFORMED_INPUT) from None
    finally:
        if response is not None:
            response.close()
        connection.close()
    return RemoteEvidence(url=url, nonce=nonce, tls_spki_der=spki, quote=quote, collateral=collateral)


def _error_detail(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return f": {_printable(doc['error'], 40)}: {_printable(str(doc.get('message', '')))}"
    return ""


@dataclass(frozen=True, slots=True)
class RemoteResult:
    """An allowed remote verification: the gate's token and the TLS key it vouches for."""

    url: str
    tls_spki_sha256: str
    token: VerifiedArtifact


class RemoteDenied(DeniedError):
    """An audited denial of a remote verification; ``tls_spki_sha256`` is None if no key was seen."""

    def __init__(
        self, message: str, *, reason: Reason, decision: object | None, url: str, tls_spki_sha256: str | None
    ) -> None:
        super().__init__(message, reason=reason, decision=decision)
        self.url = url
        self.tls_spki_sha256 = tls_spki_sha256


def _refuse(gate: Gate, request: GateRequest, reason: Reason, message: str) -> NoReturn:
    gate.refuse(request, reason, message)  # audited; always raises DeniedError
    raise AssertionError("Gate.refuse returned")


def verify_remote(
    url: str,
    name: str,
    *,
    home: Home | None = None,
    mock_keys: Collection[PublicKey] = (),
    interface: str = "api",
    timeout: float = DEFAULT_TIMEOUT,
    database_url: str | None = None,
) -> RemoteResult:
    """The user's own check of a live service: is the service at ``url`` the enclave ``name``?

    1. Refresh the registry view through TUF from the home's remembered source. If that
       fails, the check fails closed: an audited denial with the refresh's reason
       (``registry-unavailable``, ``metadata-expired``, ``registry-rollback`` …), and the
       service is not contacted.
    2. :func:`fetch_evidence` with a fresh nonce. No evidence is an audited denial
       (``quote-invalid``, ``malformed-input``, ``too-large``).
    3. The gate's decision on the evidence at the current time, with that nonce and the SPKI
       of that connection (taint ``network``): a replayed or relayed quote is a
       ``report-data-mismatch``, and so on (docs/attestation.md).

    ``mock_keys`` are development keys mock quotes may be signed with; the gate refuses mock
    evidence in production and for PROD entries regardless. Returns :class:`RemoteResult`,
    or raises :class:`RemoteDenied` (audited). Bad arguments raise :class:`UsageError`
    before anything is audited.
    """
    from sealgate.enclaves._attest import attest, open_enclave_gate
    from sealgate.enclaves._check import Evidence
    from sealgate.gate import GateRequest
    from sealgate.registry import layout
    from sealgate.registry.client import refresh

    _endpoint(url)
    layout.target_path("enclave", name, "0")  # a malformed name is a usage error, before anything runs
    the_home = home or home_from_env()
    keys = tuple(mock_keys)
    gate = open_enclave_gate(the_home, database_url=database_url)
    spki_sha256: str | None = None
    request = GateRequest("enclave", name, "-", Path("-"), interface, "network", {"url": url})
    try:
        try:
            refresh(the_home.root)
        except UsageError:
            raise
        except SealgateError as exc:  # RegistryError, RegistryIntegrityError, MalformedInputError
            _refuse(gate, request, exc.reason, f"the registry could not be refreshed, so {url} is not trusted: "
                                               f"{exc.message}")  # fmt: skip
        try:
            evidence = fetch_evidence(url, timeout=timeout)
        except AttestationError as exc:
            _refuse(gate, request, exc.reason, exc.message)
        spki_sha256 = evidence.tls_spki_sha256
        checked = Evidence(
            quote=evidence.quote,
            collateral=evidence.collateral,
            at=int(time.time()),
            nonce=evidence.nonce,
            tls_spki_der=evidence.tls_spki_der,
            mock_keys=keys,
        )
        token = attest(name, checked, gate=gate, interface=interface, taint="network")
    except DeniedError as denied:
        raise RemoteDenied(
            denied.message, reason=denied.reason, decision=denied.decision, url=url, tls_spki_sha256=spki_sha256
        ) from None
    finally:
        gate.close()
    return RemoteResult(url=url, tls_spki_sha256=spki_sha256, token=token)
