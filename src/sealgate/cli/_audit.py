"""``sealgate audit``: show, verify, prove, checkpoint and export the audit log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sealgate.cli._common import emit_json, get_home, keystore, load_private, say
from sealgate.config import database_url_from_env
from sealgate.errors import AuditError, AuditIntegrityError, KeyError_
from sealgate.gate import OUTCOME_TYPE

if TYPE_CHECKING:
    from sealgate.audit import AuditLog, VerifierState

DEFAULT_ORIGIN = "sealgate/audit"
CHECKPOINT_KEY = "audit-log"


def _open(ctx: click.Context) -> AuditLog:
    """Open the audit log; these commands never create one where there is none.

    The file is opened read-write (nothing is written): a read-only SQLite connection in WAL
    mode would leave -wal/-shm files behind that it may not remove.
    """
    from sealgate.audit import open_audit_log

    home = get_home(ctx)
    url = database_url_from_env()
    if url is None and not home.audit_db.exists():
        raise AuditError(f"there is no audit log at {home.audit_db}; nothing has been decided in this home yet")
    return open_audit_log(home.root, url)


def _state(ctx: click.Context, origin: str, key_ref: str) -> VerifierState | None:
    from sealgate.audit import NoteVerifier, VerifierState

    try:
        public = keystore(ctx).public(key_ref)
    except KeyError_:
        return None
    return VerifierState.for_home(get_home(ctx).root, origin=origin, verifiers=[NoteVerifier(origin, public)])


_origin_opt = click.option("--origin", default=DEFAULT_ORIGIN, show_default=True, help="Checkpoint origin line.")
_key_opt = click.option(
    "--key", "key_ref", default=CHECKPOINT_KEY, show_default=True, help="Checkpoint signing key (Ed25519)."
)


@click.group("audit")
def audit_group() -> None:
    """Show, verify and prove the tamper-evident audit log."""


@audit_group.command("show")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--limit", type=click.IntRange(min=1, max=10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, start: int, limit: int, as_json: bool) -> None:
    """List audit records from index START."""
    log = _open(ctx)
    try:
        stop = min(log.size(), start + limit)
        rows = log.records(start, stop) if stop > start else []
    finally:
        log.close()
    records = [json.loads(raw) for raw in rows]
    if as_json:
        emit_json([{"index": start + i, "record": r} for i, r in enumerate(records)])
        return
    for i, rec in enumerate(records):
        subject = rec.get("subject", {}) if isinstance(rec, dict) else {}
        what = subject.get("target") or f"{subject.get('kind')} {subject.get('name')}@{subject.get('version')}"
        if rec.get("_type") == OUTCOME_TYPE:
            outcome = rec.get("outcome", {})
            ended = outcome.get("killed_reason") or outcome.get("error") or f"exit {outcome.get('exit_code')}"
            click.echo(
                f"#{start + i}\t{rec.get('time', '')}\toutcome\t{ended}\tof #{rec.get('decision_index')}\t{what}"
            )
            continue
        click.echo(
            f"#{start + i}\t{rec.get('time', '')}\t{rec.get('decision', rec.get('_type', ''))}\t"
            f"{rec.get('reason', '')}\t{rec.get('interface', '')}\t{what}"
        )


@audit_group.command("verify")
@_origin_opt
@_key_opt
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def verify(ctx: click.Context, origin: str, key_ref: str, as_json: bool) -> None:
    """Re-hash every stored record; check the log extends the last accepted checkpoint. Exit 4 if not."""
    from sealgate.audit import LAST_CHECKPOINT

    state = _state(ctx, origin, key_ref)
    if state is None and (get_home(ctx).root / LAST_CHECKPOINT).exists():
        # Fail closed: without the key the checkpoint cannot be read, and skipping it would let a
        # truncated or deleted log pass as "no checkpoint yet".
        raise KeyError_(
            f"checkpoint key {key_ref!r} is not in the key store, so the log cannot be checked against "
            f"{LAST_CHECKPOINT}; restore its .pub file or name it with --key"
        )
    last = state.last() if state is not None else None
    home = get_home(ctx)
    if last is not None and last.size > 0 and database_url_from_env() is None and not home.audit_db.exists():
        raise AuditIntegrityError(
            f"the audit log {home.audit_db} was deleted or truncated: the last checkpoint commits to "
            f"{last.size} records"
        )
    log = _open(ctx)
    try:
        head = log.verify(checkpoint=last)
        if state is not None and last is not None:
            state.check_log(log)
    finally:
        log.close()
    result = {
        "size": head.size,
        "root": head.root_hex,
        "checkpoint_size": last.size if last is not None else None,
        "consistent_with_checkpoint": last is not None,
    }
    if as_json:
        emit_json(result)
    against = f", consistent with the checkpoint at size {last.size}" if last is not None else " (no checkpoint yet)"
    say(f"audit log OK: {head.size} records, root {head.root_hex}{against}")


@audit_group.command("checkpoint")
@_origin_opt
@_key_opt
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def checkpoint(ctx: click.Context, origin: str, key_ref: str, as_json: bool) -> None:
    """Sign a C2SP checkpoint of the current tree head and remember it as the last one seen."""
    key = load_private(ctx, key_ref)
    log = _open(ctx)
    try:
        note = log.checkpoint(origin, key)
        state = _state(ctx, origin, key_ref)
        if state is None:
            raise KeyError_(f"public key {key_ref!r} not found in the key store")
        accepted = state.accept(note, log)
    finally:
        log.close()
    if as_json:
        emit_json({"origin": origin, "size": accepted.size, "root": accepted.root_hex, "note": note.decode()})
        return
    click.echo(note.decode(), nl=False)


@audit_group.command("proof")
@click.argument("index", type=click.IntRange(min=0))
@click.option("--size", type=click.IntRange(min=1), help="Tree size to prove against (default: current).")
@click.option("--consistency-from", "old_size", type=click.IntRange(min=0), help="Also prove consistency from OLD.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def proof(ctx: click.Context, index: int, size: int | None, old_size: int | None, as_json: bool) -> None:
    """Print and check an inclusion proof for record INDEX (and optionally a consistency proof)."""
    from sealgate.audit import leaf_hash, verify_consistency, verify_inclusion

    log = _open(ctx)
    try:
        head = log.tree_head(size)
        inc = log.inclusion_proof(index, head.size)
        leaf = leaf_hash(log.record(index))
        verify_inclusion(leaf, inc, head.root_hash)
        result: dict[str, Any] = {
            "index": index,
            "tree_size": head.size,
            "root": head.root_hex,
            "leaf_hash": leaf.hex(),
            "inclusion": [h.hex() for h in inc.hashes],
        }
        if old_size is not None:
            cons = log.consistency_proof(old_size, head.size)
            verify_consistency(cons, log.root_hash(old_size), head.root_hash)
            result["consistency"] = {"old_size": old_size, "hashes": [h.hex() for h in cons.hashes]}
    finally:
        log.close()
    if as_json:
        emit_json(result)
        return
    click.echo(json.dumps(result, indent=2))
    say(f"record {index} is included in the tree of size {head.size} (proof verified)")


@audit_group.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default stdout).")
@click.pass_context
def export(ctx: click.Context, out: Path | None) -> None:
    """Export every record as JSON lines: index, leaf hash and the exact stored record."""
    from sealgate.audit import leaf_hash

    log = _open(ctx)
    try:
        size = log.size()
        lines = []
        for start in range(0, size, 10_000):
            for offset, raw in enumerate(log.records(start, min(size, start + 10_000))):
                entry = {"index": start + offset, "leaf_hash": leaf_hash(raw).hex(), "record": raw.decode("utf-8")}
                lines.append(json.dumps(entry, sort_keys=True))
    finally:
        log.close()
    text = "".join(line + "\n" for line in lines)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        say(f"exported {size} records to {out}")


__all__ = ["audit_group"]
