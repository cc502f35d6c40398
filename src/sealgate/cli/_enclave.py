"""``sealgate enclave``: enclave builds and their measurements (issue 4).

``measure`` reads a SIGSTRUCT, verifies its signature and prints what a registry entry and a
quote are compared on: MRENCLAVE, MRSIGNER, ISV product id and security version, attributes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sealgate.cli._attest import evidence_options, mock_key_option
from sealgate.cli._ci import candidate_from_options, candidate_options
from sealgate.cli._common import emit_json, get_home, say
from sealgate.errors import UsageError

if TYPE_CHECKING:
    from sealgate.enclaves.sigstruct import Sigstruct


@click.group("enclave")
def enclave_group() -> None:
    """Measure enclave builds, propose entries, and check an enclave at start-up."""


def describe_sigstruct(sig: Sigstruct) -> str:
    """The facts of a verified SIGSTRUCT, one per line, for people."""
    debug = "yes (the enclave is signed as a debug enclave)" if sig.debug else "no"
    if not sig.debug and sig.debug_possible:
        debug += "; ATTRIBUTEMASK does not enforce it, so this MRENCLAVE can also launch as a debug enclave"
    rows = [
        ("MRENCLAVE", sig.mrenclave),
        ("MRSIGNER", sig.mrsigner),
        ("ISV product id", str(sig.isv_prod_id)),
        ("ISV SVN", str(sig.isv_svn)),
        ("attributes", f"{sig.attributes} (flags {sig.flags:#018x}, xfrm {sig.xfrm:#018x})"),
        ("attribute mask", sig.attribute_mask),
        ("debug", debug),
        ("misc select", f"{sig.misc_select:#010x} (mask {sig.misc_mask:#010x})"),
        ("vendor", f"{sig.vendor:#06x}" + (" (Intel)" if sig.vendor == 0x8086 else "")),
        ("date", sig.date),
        ("signature", "verified (RSA-3072, exponent 3, PKCS#1 v1.5 SHA-256; Q1/Q2 consistent)"),
        ("SIGSTRUCT sha256", sig.sha256),
    ]
    return "\n".join(f"{label:<17} {value}" for label, value in rows)


@enclave_group.command("measure")
@click.argument("sigstruct", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the measurement as JSON.")
def measure_cmd(sigstruct: Path, as_json: bool) -> None:
    """Verify an SGX SIGSTRUCT and print MRENCLAVE, MRSIGNER, ISV product id and SVN, attributes."""
    from sealgate.enclaves.sigstruct import read_sigstruct

    sig = read_sigstruct(sigstruct)
    if as_json:
        emit_json(sig.to_dict())
        return
    click.echo(describe_sigstruct(sig))


_HEX48 = "48 bytes as 96 hex digits"


@enclave_group.command("add")
@candidate_options
@click.option("--mrtd", help=f"TDX: MRTD ({_HEX48}); then every TDX register option is required.")
@click.option("--rtmr0", help=f"TDX: RTMR0 ({_HEX48}).")
@click.option("--rtmr1", help=f"TDX: RTMR1 ({_HEX48}).")
@click.option("--rtmr2", help=f"TDX: RTMR2 ({_HEX48}).")
@click.option("--rtmr3", help=f"TDX: RTMR3 ({_HEX48}).")
@click.option("--mr-config-id", help=f"TDX: MRCONFIGID ({_HEX48}).")
@click.option("--td-attributes", help="TDX: TD attributes (8 bytes, 16 hex).")
@click.option("--xfam", help="TDX: XFAM (8 bytes, 16 hex).")
@click.option("--min-tee-tcb-svn", default="0" * 32, show_default=True, help="TDX: minimum TEE TCB SVN (32 hex).")
@click.option("--entry-out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the entry document.")
@click.option(
    "--bundle", type=click.Path(dir_okay=False, path_type=Path), help="Statements (default ENTRY.statements.json)."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Proposal file to write.")
@click.option("--json", "as_json", is_flag=True, help="Print the proposal and its description as JSON.")
@click.pass_context
def add_cmd(ctx: click.Context, /, **options: Any) -> None:
    """Propose an enclave entry: its identity (SGX or TDX), allowed TCB statuses and advisories.

    Writes the entry document (for signers: `sealgate sign ENTRY --kind enclave ...`) and a
    proposal with the statements found in the bundle; the normal publication threshold
    applies. A name's minimum security version never goes down (minimum-lowered).
    """
    from sealgate.cli._registry import _repo, _save_proposal
    from sealgate.crypto.bundle import StatementBundle, bundle_path_for
    from sealgate.registry.documents import EnclaveEntryDocument, TdxIdentity

    tdx_names = ("mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mr_config_id", "td_attributes", "xfam")
    tdx = {k: options.pop(k) for k in (*tdx_names, "min_tee_tcb_svn")}
    entry_out, bundle, out, as_json = (options.pop(k) for k in ("entry_out", "bundle", "out", "as_json"))
    name, version, stage = options["name"], options["version"], options["stage"]
    if tdx["mrtd"] is not None:
        missing = [f"--{k.replace('_', '-')}" for k in tdx_names if tdx[k] is None]
        if missing or options["sigstruct"] or options["mrenclave"] or options["mrsigner"]:
            raise UsageError(f"a TDX entry needs every register option and no SGX identity (missing: {missing})")
        if options["repo"] is not None:
            from sealgate.enclaves.candidate import check_git_commit

            check_git_commit(options["repo"], options["git_commit"])
        entry = EnclaveEntryDocument(
            tdx=TdxIdentity(**{k: str(v).lower() for k, v in tdx.items()}),
            version=version,
            stage=stage,
            status="active",
            git_commit=options["git_commit"].lower(),
            build_timestamp=options["build_timestamp"],
            allowed_tcb_statuses=options["tcb_statuses"] or ("UpToDate",),
            allowed_advisories=options["advisories"],
        )
    else:
        entry = candidate_from_options(**options)[0].entry
    home = get_home(ctx)
    entry_path = entry_out or home.proposals / f"enclave-{name}-{version}.entry.json"
    entry_path.parent.mkdir(parents=True, exist_ok=True)
    if entry_path.exists() and options["build_timestamp"] is None:
        # A second run (after the signers signed the first one's document) keeps the first
        # run's build time when nothing else differs, so the statements still cover it.
        from sealgate._dataclass import replace

        previous = EnclaveEntryDocument.from_bytes(entry_path.read_bytes())
        if replace(entry, build_timestamp=previous.build_timestamp) == previous:
            entry = previous
    data = entry.to_bytes()
    if entry_path.exists() and entry_path.read_bytes() != data:
        raise UsageError(f"{entry_path} exists with another entry document; choose another --entry-out")
    entry_path.write_bytes(data)
    bundle_path = bundle or bundle_path_for(entry_path)
    statements = StatementBundle.read(bundle_path).envelopes if bundle_path.exists() else ()
    if not statements:
        say(f"warning: no statements yet ({bundle_path}); sign {entry_path} and propose again, or the gate denies")
    proposal = _repo(ctx).propose_add_enclave(
        name=name, version=version, stage=stage, document=entry, statements=[e.to_dict() for e in statements]
    )
    say(f"entry document {entry_path} sha256:{hashlib.sha256(data).hexdigest()}")
    _save_proposal(ctx, proposal, out, f"enclave-{name}-{version}", as_json)


@enclave_group.command("self-check")
@click.option("--name", required=True, help="The enclave's registry name.")
@click.option(
    "--attestation-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/dev/attestation"),
    show_default=True,
    help="Gramine's attestation interface.",
)
@click.pass_context
def self_check_cmd(ctx: click.Context, name: str, attestation_dir: Path) -> None:
    """Run at enclave start-up: exit 3 when a debug build or the mock provider meets a PROD entry or production."""
    from sealgate.enclaves.quote import GramineQuoteProvider
    from sealgate.enclaves.selfcheck import self_check

    result = self_check(name, GramineQuoteProvider(attestation_dir), home=get_home(ctx))
    stages = ", ".join(f"{v} ({s})" for v, s in zip(result.versions, result.stages, strict=True)) or "none"
    say(f"self-check passed for {name}: provider {result.provider}, debug {result.debug}, entries {stages}")


@enclave_group.command("gate")
@evidence_options
@mock_key_option
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON on stdout.")
@click.pass_context
def gate_cmd(
    ctx: click.Context,
    quote: Path,
    collateral: Path | None,
    name: str,
    nonce: bytes | None,
    tls_cert: Path | None,
    report_data: bytes | None,
    mock_keys: tuple[Path, ...],
    as_json: bool,
) -> None:
    """The launcher's gatekeeper: exit 0 only when the gate allows this quote for NAME, now.

    For a launcher script: start the enclave's service only on exit status 0. Always the
    current time (no --at), always audited; any other status means do not proceed.
    """
    from sealgate.cli._attest import run_attest_verify

    obj = ctx.find_root().obj or {}
    code = run_attest_verify(
        home=obj.get("home"), quote=quote, collateral=collateral, name=name, nonce=nonce, tls_cert=tls_cert,
        report_data=report_data, at=None, mock_keys=mock_keys, as_json=as_json, verbose=bool(obj.get("verbose")),
    )  # fmt: skip
    ctx.exit(code)
