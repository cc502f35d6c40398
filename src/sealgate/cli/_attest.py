"""``sealgate attest``: the gate's decision on attestation evidence (issue 4).

``verify`` judges a quote and its collateral from files, against the registry entries of
``--name``, binding either a nonce and the server's TLS key or the exact report data; ``--at``
checks old evidence at a past time and is recorded as historical. ``remote`` is the user's
own check of a live service over the challenge protocol of docs/remote-attestation.md: it
refreshes the registry through TUF first and fails closed if it cannot.

Both print a verdict line on stderr (``ALLOWED …`` or ``DENIED <reason>: …``), the decision
as JSON on stdout with ``--json``, and exit 0 when allowed, 3 when denied (every denial is
audited), 1 or 2 for bad arguments. The work is done by click-free functions
(:func:`run_attest_verify`, :func:`run_attest_remote`), like ``sealgate verify``'s.
"""

from __future__ import annotations

import json
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from sealgate._verify_cli import guarded
from sealgate.errors import DeniedError, ExitCode, MalformedInputError

__all__ = ["attest_group", "run_attest_remote", "run_attest_verify"]

_HEX = re.compile(r"[0-9a-fA-F]*")


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def _decision_json(denied: DeniedError) -> dict[str, Any]:
    decision = denied.decision
    if decision is not None and hasattr(decision, "to_json"):
        value: dict[str, Any] = decision.to_json()
        return value
    return {"allowed": False, "reason": denied.reason.value, "message": denied.message}


def _read(path: Path, limit: int, what: str) -> bytes:
    """At most ``limit + 1`` bytes: an oversized quote reaches the gate, which refuses it (audited)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise MalformedInputError(f"cannot read the {what} {path}: {exc.strerror}") from exc


def _mock_keys(paths: Sequence[Path]) -> tuple[Any, ...]:
    if not paths:
        return ()
    from sealgate.crypto.keys import read_public_key_file

    return tuple(read_public_key_file(path) for path in paths)


def _mock_warnings(caught: list[warnings.WarningMessage]) -> None:
    for warning in caught:
        _say(f"warning: {warning.message}")


def _facts(token: Any) -> str:
    quote = token.interpretation
    tee = getattr(getattr(quote, "tee", None), "value", "?")
    if getattr(quote, "mock", False):
        return f"{tee}, MOCK evidence (development only)"
    return f"{tee}, TCB {getattr(quote, 'tcb_status', '?')}"


def _allowed_line(token: Any) -> str:
    where = f"{token.target} sha256:{token.digest} level={token.level} audit#{token.audit_index}"
    return f"ALLOWED {where} ({_facts(token)})"


def run_attest_verify(
    *,
    home: str | None,
    quote: Path,
    collateral: Path | None,
    name: str,
    nonce: bytes | None,
    tls_cert: Path | None,
    report_data: bytes | None,
    at: int | None,
    mock_keys: Sequence[Path] = (),
    as_json: bool = False,
    verbose: bool = False,
) -> int:
    """``sealgate attest verify``: the exit status to leave with (0 allowed, 3 denied)."""

    def work() -> int:
        from sealgate.config import home_from_env
        from sealgate.enclaves._attest import attest
        from sealgate.enclaves._check import Evidence
        from sealgate.enclaves.quote import MAX_COLLATERAL_BYTES, MAX_QUOTE_BYTES

        spki = None
        if tls_cert is not None:
            from sealgate.enclaves.remote import tls_spki

            spki = tls_spki(_read(tls_cert, 1 << 20, "TLS certificate"))
        evidence = Evidence(
            quote=_read(quote, MAX_QUOTE_BYTES, "quote"),
            collateral=None if collateral is None else _read(collateral, MAX_COLLATERAL_BYTES, "collateral"),
            at=int(time.time()) if at is None else at,
            nonce=nonce,
            tls_spki_der=spki,
            report_data=report_data,
            historical=at is not None,
            mock_keys=_mock_keys(mock_keys),
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                token = attest(name, evidence, home=home_from_env(home), interface="cli", taint="untrusted")
            except DeniedError as denied:
                _mock_warnings(caught)
                if as_json:
                    _emit_json(_decision_json(denied))
                _say(f"DENIED {denied.reason.value}: {denied.message}")
                return int(ExitCode.DENIED)
        _mock_warnings(caught)
        if as_json:
            _emit_json(token.extra["decision"].to_json())
        for warning in token.warnings:
            _say(f"warning: {warning}")
        _say(_allowed_line(token))
        return int(ExitCode.OK)

    return guarded(verbose, work)


def run_attest_remote(
    *,
    home: str | None,
    url: str,
    name: str,
    mock_keys: Sequence[Path] = (),
    timeout: float,
    as_json: bool = False,
    verbose: bool = False,
) -> int:
    """``sealgate attest remote``: the exit status to leave with (0 allowed, 3 denied)."""

    def work() -> int:
        from sealgate.config import home_from_env
        from sealgate.enclaves.remote import RemoteDenied, verify_remote

        keys = _mock_keys(mock_keys)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = verify_remote(
                    url, name, home=home_from_env(home), mock_keys=keys, interface="cli", timeout=timeout
                )
            except RemoteDenied as denied:
                _mock_warnings(caught)
                if as_json:
                    _emit_json(
                        {"url": url, "tls_spki_sha256": denied.tls_spki_sha256, "decision": _decision_json(denied)}
                    )
                _say(f"DENIED {denied.reason.value}: {denied.message}")
                return int(ExitCode.DENIED)
        _mock_warnings(caught)
        token = result.token
        if as_json:
            _emit_json(
                {"url": url, "tls_spki_sha256": result.tls_spki_sha256, "decision": token.extra["decision"].to_json()}
            )
        for warning in token.warnings:
            _say(f"warning: {warning}")
        _say(_allowed_line(token))
        _say(f"the service's TLS key (SPKI sha256) {result.tls_spki_sha256} is bound to this enclave's quote")
        return int(ExitCode.OK)

    return guarded(verbose, work)


# -- click -----------------------------------------------------------------------------------


def _hex_option(low: int, high: int) -> Callable[[click.Context, click.Parameter, str | None], bytes | None]:
    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
        if value is None:
            return None
        if not _HEX.fullmatch(value) or len(value) % 2 or not 2 * low <= len(value) <= 2 * high:
            size = f"{low} bytes" if low == high else f"{low} to {high} bytes"
            raise click.BadParameter(f"expected {size} as hex ({2 * low}-{2 * high} hex digits)")
        return bytes.fromhex(value)

    return parse


_home_json = click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON on stdout.")
mock_key_option = click.option(
    "--mock-key",
    "mock_keys",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A trusted development key (PEM public key) for mock quotes; repeatable. "
    "Mock evidence is refused in production and for PROD entries regardless.",
)


@click.group("attest")
def attest_group() -> None:
    """Verify attestation evidence: a quote from files, or a live service."""


def evidence_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that give a quote and its challenge (shared by `attest verify` and `enclave gate`)."""
    for option in reversed(_EVIDENCE_OPTIONS):
        command = option(command)
    return command


_EVIDENCE_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option(
        "--quote", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The quote (raw bytes)."
    ),
    click.option(
        "--collateral",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The quote's collateral (dcap-qvl JSON). Required for a DCAP quote; a mock quote has none.",
    ),
    click.option("--name", required=True, help="The enclave's registry name."),
    click.option(
        "--nonce", callback=_hex_option(16, 64), metavar="HEX", help="The challenge nonce (needs --tls-cert)."
    ),
    click.option(
        "--tls-cert",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="The server's TLS certificate (PEM or DER) or public key (PEM), bound with --nonce.",
    ),
    click.option(
        "--report-data", callback=_hex_option(64, 64), metavar="HEX", help="The exact 64 bytes of report data expected."
    ),
]


@attest_group.command("verify", short_help="Ask the gate about a quote and its collateral, from files.")
@evidence_options
@click.option(
    "--at",
    type=click.IntRange(min=0),
    metavar="UNIX_TIME",
    help="Check old evidence at this time (recorded as historical); default now.",
)
@mock_key_option
@_home_json
@click.pass_context
def verify_cmd(
    ctx: click.Context,
    quote: Path,
    collateral: Path | None,
    name: str,
    nonce: bytes | None,
    tls_cert: Path | None,
    report_data: bytes | None,
    at: int | None,
    mock_keys: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Ask the gate about a quote for enclave NAME: verified, registered, bound to the challenge.

    Give --nonce with --tls-cert, or --report-data. Exit 0 allowed, 3 denied (audited).
    """
    if report_data is not None and (nonce is not None or tls_cert is not None):
        raise click.UsageError("give --report-data, or --nonce with --tls-cert, not both")
    if report_data is None and (nonce is None or tls_cert is None):
        raise click.UsageError("give --nonce with --tls-cert (the server's key it binds), or --report-data")
    obj = ctx.find_root().obj or {}
    code = run_attest_verify(
        home=obj.get("home"), quote=quote, collateral=collateral, name=name, nonce=nonce, tls_cert=tls_cert,
        report_data=report_data, at=at, mock_keys=mock_keys, as_json=as_json, verbose=bool(obj.get("verbose")),
    )  # fmt: skip
    ctx.exit(code)


@attest_group.command("remote", short_help="Check a live service over the HTTPS challenge protocol.")
@click.argument("url")
@click.option("--name", required=True, help="The enclave's registry name.")
@mock_key_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=600),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Deadline of the whole exchange with the service.",
)
@_home_json
@click.pass_context
def remote_cmd(
    ctx: click.Context, url: str, name: str, mock_keys: tuple[Path, ...], timeout: float, as_json: bool
) -> None:
    """Check the live service at URL (https://) is enclave NAME: refresh, challenge, verify.

    The quote must bind a fresh nonce and the TLS key of this very connection. Exit 0
    allowed, 3 denied (audited, including a registry that cannot be refreshed).
    """
    obj = ctx.find_root().obj or {}
    code = run_attest_remote(
        home=obj.get("home"), url=url, name=name, mock_keys=mock_keys, timeout=timeout, as_json=as_json,
        verbose=bool(obj.get("verbose")),
    )  # fmt: skip
    ctx.exit(code)
