"""``sealgate enclave``: enclave builds and their measurements (issue 4).

``measure`` reads a SIGSTRUCT, verifies its signature and prints what a registry entry and a
quote are compared on: MRENCLAVE, MRSIGNER, ISV product id and security version, attributes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from sealgate.cli._common import emit_json

if TYPE_CHECKING:
    from sealgate.enclaves.sigstruct import Sigstruct


@click.group("enclave")
def enclave_group() -> None:
    """Measure enclave builds."""


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
