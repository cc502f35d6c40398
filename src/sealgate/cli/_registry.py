"""``sealgate init`` and ``sealgate registry``: build, change, publish and refresh the registry.

Every change is a proposal file (docs/registry.md): it is created here, approved with
``registry approve`` on each approver's machine (only the key and the file are needed), and
published with ``registry publish``, which refuses below the publication threshold.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sealgate.cli._common import emit_json, get_home, keystore, load_private, say
from sealgate.errors import MalformedInputError, RegistryError, UsageError

if TYPE_CHECKING:
    from sealgate.registry.repository import OnlineKeys, Repository

_KINDS = click.Choice(["tool", "module", "enclave"])
_STAGES = click.Choice(["DEV", "TEST", "STAGE", "PROD"])


def _repo(ctx: click.Context) -> Repository:
    from sealgate.registry.repository import Repository

    return Repository.at_home(get_home(ctx).root)


def _online_keys(ctx: click.Context, files: dict[str, str] | None = None) -> OnlineKeys:
    """The online snapshot/timestamp keys, from the files the repository config (or init proposal) names."""
    from sealgate.cli._common import prompt_passphrase
    from sealgate.crypto.keys import read_private_key_file
    from sealgate.registry.repository import OnlineKeys

    home = get_home(ctx)
    if files is None:
        configured = _repo(ctx).config().online_key_files
        files = {"snapshot": configured.snapshot, "timestamp": configured.timestamp}
    passphrase = prompt_passphrase()
    return OnlineKeys(
        read_private_key_file(home.root / files["snapshot"], passphrase),
        read_private_key_file(home.root / files["timestamp"], passphrase),
    )


def _save_proposal(ctx: click.Context, proposal: Any, out: Path | None, slug: str, as_json: bool) -> None:
    home = get_home(ctx)
    if out is None:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", slug).strip("-")[:80]
        out = home.proposals / f"{time.strftime('%Y%m%dT%H%M%S')}-{safe}.proposal.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        raise UsageError(f"{out} already exists; choose another --out")
    proposal.save(out)
    description = proposal.describe()
    if as_json:
        emit_json({"proposal": str(out), "description": description.to_dict()})
    else:
        click.echo(str(out))
    say(f"wrote proposal {out}: {description.summary}")
    say(
        "next: `sealgate registry approve PROPOSAL --key K` by each approver, then `sealgate registry publish PROPOSAL`"
    )


def _read(path: Path) -> bytes:
    """An input file's bytes; a missing or unreadable file is malformed input, never a traceback."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MalformedInputError(f"cannot read {path}: {exc.strerror}") from exc


def _public_keys(ctx: click.Context, refs: Sequence[str]) -> list[Any]:
    store = keystore(ctx)
    return [store.public(ref) for ref in refs]


_out_opt = click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Proposal file to write.")
_json_opt = click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")


# -- client side ------------------------------------------------------------------------


@click.command("init")
@click.option("--root", "root_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--root-sha256", required=True, help="SHA-256 of the root file, obtained out of band.")
@click.option("--source", required=True, help="Registry directory or https URL to refresh from.")
@_json_opt
@click.pass_context
def init_cmd(ctx: click.Context, root_file: Path, root_sha256: str, source: str, as_json: bool) -> None:
    """Pin the registry root by its hash (never trust a downloaded root) and fetch the registry."""
    from sealgate.registry.client import pin_root, refresh

    home = get_home(ctx)
    pinned = pin_root(home.root, _read(root_file), root_sha256, source)
    result = refresh(home.root, source)
    if as_json:
        emit_json({"pin": pinned.to_dict(), "refresh": result.to_dict()})
    say(
        f"pinned root v{pinned.root_version} sha256:{pinned.root_sha256[:16]}…; "
        f"registry version {result.snapshot_version} fetched from {source}"
    )


@click.group("registry")
def registry_group() -> None:
    """Create, change, publish and refresh the signed registry."""


@registry_group.command("refresh")
@click.option("--source", help="Directory or URL (default: the one given to `sealgate init`).")
@_json_opt
@click.pass_context
def refresh_cmd(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """Update the local, verified registry view with tuf.ngclient (rollback and freeze protected)."""
    from sealgate.registry.client import refresh

    result = refresh(get_home(ctx).root, source)
    if as_json:
        emit_json(result.to_dict())
    say(
        f"registry version {result.snapshot_version} (root v{result.root_version}, timestamp "
        f"v{result.timestamp_version}), {result.roles_loaded} roles verified, refreshed at {result.last_refresh}"
    )


# -- repository side --------------------------------------------------------------------


@registry_group.command("init")
@click.option("--policy", "policy_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--root-key", "root_keys", multiple=True, required=True, help="Root key (repeat).")
@click.option("--root-threshold", type=click.IntRange(min=1), required=True)
@click.option("--targets-key", "targets_keys", multiple=True, required=True, help="Publication key (repeat).")
@click.option("--threshold", type=click.IntRange(min=1), required=True, help="Publication threshold.")
@click.option("--snapshot-key", required=True, help="Online snapshot key name (its .key stays on this host).")
@click.option("--timestamp-key", required=True, help="Online timestamp key name (its .key stays on this host).")
@_out_opt
@_json_opt
@click.pass_context
def init_registry(
    ctx: click.Context,
    policy_file: Path,
    root_keys: tuple[str, ...],
    root_threshold: int,
    targets_keys: tuple[str, ...],
    threshold: int,
    snapshot_key: str,
    timestamp_key: str,
    out: Path | None,
    as_json: bool,
) -> None:
    """Propose a new registry: root v1 and targets v1 carrying the trust policy.

    Root and publication keys approve it (`registry approve`), then `registry publish` creates
    SEALGATE_HOME/repository.
    """
    from sealgate.policy import compile_policy_yaml
    from sealgate.registry.repository import OnlineKeyFiles, propose_init

    policy = compile_policy_yaml(_read(policy_file))
    store = keystore(ctx)
    proposal = propose_init(
        root_keys=_public_keys(ctx, root_keys),
        root_threshold=root_threshold,
        targets_keys=_public_keys(ctx, targets_keys),
        targets_threshold=threshold,
        snapshot_key=store.public(snapshot_key),
        timestamp_key=store.public(timestamp_key),
        policy=policy,
        online_key_files=OnlineKeyFiles(f"keys/{snapshot_key}.key", f"keys/{timestamp_key}.key"),
    )
    _save_proposal(ctx, proposal, out, "init", as_json)


@registry_group.command("namespace")
@click.argument("namespace")
@click.option("--key", "keys", multiple=True, required=True, help="Namespace key (repeat).")
@click.option("--threshold", type=click.IntRange(min=1), required=True)
@click.option("--bits", type=click.IntRange(min=0, max=14), default=4, show_default=True, help="log2 of the bins.")
@_out_opt
@_json_opt
@click.pass_context
def namespace_cmd(
    ctx: click.Context,
    namespace: str,
    keys: tuple[str, ...],
    threshold: int,
    bits: int,
    out: Path | None,
    as_json: bool,
) -> None:
    """Propose delegating NAMESPACE (e.g. tools/acme) to KEYs, with 2**BITS hashed bins."""
    proposal = _repo(ctx).propose_add_namespace(namespace, _public_keys(ctx, keys), threshold, bits)
    _save_proposal(ctx, proposal, out, f"namespace-{namespace}", as_json)


@registry_group.command("propose")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--kind", required=True, type=_KINDS)
@click.option("--name", required=True)
@click.option("--version", "version", required=True)
@click.option("--stage", required=True, type=_STAGES)
@click.option("--git-commit", help="Full 40-hex commit the artifact was built from.")
@click.option(
    "--bundle", type=click.Path(dir_okay=False, path_type=Path), help="Statements (default FILE.statements.json)."
)
@_out_opt
@_json_opt
@click.pass_context
def propose(
    ctx: click.Context,
    file: Path,
    kind: str,
    name: str,
    version: str,
    stage: str,
    git_commit: str | None,
    bundle: Path | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Propose FILE (file or directory) as KIND NAME@VERSION with the statements signed for it."""
    from sealgate.crypto.bundle import StatementBundle, bundle_path_for
    from sealgate.digest import read_artifact

    artifact = read_artifact(file)
    if kind == "tool" and artifact.is_directory:
        # A tool directory must carry the manifest of exactly the entry proposed. (Single-file
        # "tool" artifacts, as in the demo, predate manifests; the gate will require them.)
        from sealgate.tools.manifest import manifest_from_artifact

        manifest = manifest_from_artifact(artifact)
        if (manifest.name, manifest.version) != (name, version):
            raise MalformedInputError(
                f"the tool's manifest names {manifest.name}@{manifest.version}, not {name}@{version}"
            )
    bundle_path = bundle or bundle_path_for(file)
    statements = StatementBundle.read(bundle_path).envelopes if bundle_path.exists() else ()
    if not statements:
        say(f"warning: no statements found ({bundle_path}); the gate will deny it until it is signed")
    content = None if artifact.is_directory else artifact.files[""][1]
    proposal = _repo(ctx).propose_add_entry(
        kind=kind,
        name=name,
        version=version,
        digest=artifact.digest,
        size=artifact.size,
        stage=stage,
        git_commit=git_commit,
        statements=[e.to_dict() for e in statements],
        content=content,
    )
    _save_proposal(ctx, proposal, out, f"{kind}-{name}-{version}", as_json)


@registry_group.command("approve")
@click.argument("proposal", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_ref", required=True)
@_json_opt
@click.pass_context
def approve_cmd(ctx: click.Context, proposal: Path, key_ref: str, as_json: bool) -> None:
    """Add this key's signature to every role of PROPOSAL it counts for (needs no repository)."""
    from sealgate.registry.proposal import approve

    result = approve(proposal, load_private(ctx, key_ref))
    if as_json:
        emit_json(result.to_dict())
    desc = result.description
    say(f"proposal: {desc.summary}")
    incomplete = [role for role in desc.roles if not role.complete]
    say(f"  {len(desc.roles) - len(incomplete)} of {len(desc.roles)} roles have all the signatures they need")
    for role in incomplete[:5]:
        for req in role.requirements:
            if req.missing:
                say(f"  {role.name} v{role.version}: {req.label} needs {req.missing} more of {req.threshold}")
    if len(incomplete) > 5:
        say(f"  … and {len(incomplete) - 5} more roles")
    if not result.signed_roles and not result.already_signed:
        raise UsageError(f"key {result.keyid[:16]}… counts for no role of this proposal; nothing was signed")
    say(f"signed {', '.join(result.signed_roles) or 'nothing new'} with key {result.keyid[:16]}…")


@registry_group.command("describe")
@click.argument("proposal", type=click.Path(dir_okay=False, path_type=Path))
@_json_opt
def describe_cmd(proposal: Path, as_json: bool) -> None:
    """Show what PROPOSAL would publish, read from its signed content, and which signatures it lacks."""
    from sealgate.registry.proposal import describe_proposal

    desc = describe_proposal(proposal)
    if as_json:
        emit_json(desc.to_dict())
        return
    click.echo(f"{desc.summary} ({'complete' if desc.complete else 'incomplete'})")
    for role in desc.roles:
        click.echo(f"  {role.name} v{role.version} ({role.type})")
        for line in role.targets:
            click.echo(f"    target {line.to_dict()}")
        for req in role.requirements:
            click.echo(f"    signatures {req.to_dict()}")


@registry_group.command("publish")
@click.argument("proposal", type=click.Path(dir_okay=False, path_type=Path))
@_json_opt
@click.pass_context
def publish_cmd(ctx: click.Context, proposal: Path, as_json: bool) -> None:
    """Publish PROPOSAL with this host's online keys; refused below the publication threshold."""
    from sealgate.registry.proposal import Proposal

    loaded = Proposal.load(proposal)
    repo = _repo(ctx)
    files = None
    if loaded.initial:
        files = dict(loaded.init.online_key_files) if loaded.init is not None else {}
        if "snapshot" not in files or "timestamp" not in files:
            raise RegistryError("the initial proposal does not name its online key files")
    online = _online_keys(ctx, files)
    result = repo.publish(loaded, online)
    if as_json:
        emit_json(result.to_dict())
    state = "was already published" if result.already_published else "published"
    say(f"{state}: registry version {result.snapshot_version} (targets v{result.targets_version})")


@registry_group.command("timestamp")
@_json_opt
@click.pass_context
def timestamp_cmd(ctx: click.Context, as_json: bool) -> None:
    """Re-sign timestamp (and snapshot when it expires soon) with the online keys; run from cron."""
    result = _repo(ctx).timestamp(_online_keys(ctx))
    if as_json:
        emit_json(result.to_dict())
    say(f"timestamp v{result.timestamp_version} valid until {result.timestamp_expires}")
    for soon in result.expiring_soon:
        say(f"warning: {soon.to_dict()} — propose `sealgate registry renew`")


def _status_command(name: str, status_help: str) -> click.Command:
    def command(
        ctx: click.Context,
        kind: str,
        artifact_name: str,
        version: str,
        out: Path | None,
        as_json: bool,
        reason: str | None = None,
    ) -> None:
        repo = _repo(ctx)
        if name == "revoke":
            assert reason is not None  # click requires it
            proposal = repo.propose_revoke(kind, artifact_name, version, reason=reason)
        elif name == "deprecate":
            proposal = repo.propose_deprecate(kind, artifact_name, version)
        else:
            proposal = repo.propose_reactivate(kind, artifact_name, version)
        _save_proposal(ctx, proposal, out, f"{name}-{kind}-{artifact_name}-{version}", as_json)

    decorated = click.pass_context(command)
    decorated = _json_opt(decorated)
    decorated = _out_opt(decorated)
    if name == "revoke":
        # Only a revocation carries a reason: it is shown to everyone the gate denies.
        decorated = click.option("--reason", required=True, help="Why it is revoked (shown in every denial).")(
            decorated
        )
    decorated = click.argument("version")(decorated)
    decorated = click.argument("artifact_name", metavar="NAME")(decorated)
    decorated = click.argument("kind", type=_KINDS)(decorated)
    return click.command(name, help=status_help)(decorated)


registry_group.add_command(_status_command("revoke", "Propose revoking KIND NAME VERSION (the gate denies it)."))
registry_group.add_command(_status_command("deprecate", "Propose deprecating KIND NAME VERSION."))
registry_group.add_command(_status_command("reactivate", "Propose reactivating KIND NAME VERSION."))


@registry_group.command("rollback")
@click.argument("kind", type=_KINDS)
@click.argument("artifact_name", metavar="NAME")
@click.option("--from", "bad", required=True, help="The bad version to revoke.")
@click.option("--to", "good", help="The version to reactivate (default: the previous one).")
@click.option("--reason", required=True)
@_out_opt
@_json_opt
@click.pass_context
def rollback_cmd(
    ctx: click.Context,
    kind: str,
    artifact_name: str,
    bad: str,
    good: str | None,
    reason: str,
    out: Path | None,
    as_json: bool,
) -> None:
    """Propose ONE new registry version that revokes --from and reactivates --to (never an older version)."""
    proposal = _repo(ctx).propose_rollback(kind, artifact_name, bad, reason, to_version=good)
    _save_proposal(ctx, proposal, out, f"rollback-{kind}-{artifact_name}-{bad}", as_json)


@registry_group.command("policy")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_out_opt
@_json_opt
@click.pass_context
def policy_cmd(ctx: click.Context, file: Path, out: Path | None, as_json: bool) -> None:
    """Propose publishing the trust policy FILE (YAML) as policy/trust-policy.json."""
    from sealgate.policy import compile_policy_yaml

    proposal = _repo(ctx).propose_policy(compile_policy_yaml(_read(file)))
    _save_proposal(ctx, proposal, out, "policy", as_json)


@registry_group.command("rotate")
@click.argument("role")
@click.option("--key", "keys", multiple=True, required=True, help="New key set (repeat).")
@click.option("--threshold", type=click.IntRange(min=1), required=True)
@_out_opt
@_json_opt
@click.pass_context
def rotate_cmd(
    ctx: click.Context, role: str, keys: tuple[str, ...], threshold: int, out: Path | None, as_json: bool
) -> None:
    """Propose new keys for ROLE: root, targets (= policy keys), snapshot, timestamp, or a namespace."""
    proposal = _repo(ctx).propose_rotate(role, _public_keys(ctx, keys), threshold)
    _save_proposal(ctx, proposal, out, f"rotate-{role}", as_json)


@registry_group.command("renew")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
@_out_opt
@_json_opt
@click.pass_context
def renew_cmd(ctx: click.Context, days: int, out: Path | None, as_json: bool) -> None:
    """Propose re-signing roles that expire within DAYS (targets, namespaces, bins, root)."""
    from datetime import timedelta

    proposal = _repo(ctx).propose_renew(within=timedelta(days=days))
    _save_proposal(ctx, proposal, out, "renew", as_json)


@registry_group.command("verify")
@_json_opt
@click.pass_context
def verify_repo(ctx: click.Context, as_json: bool) -> None:
    """Verify every file of SEALGATE_HOME/repository like a client would; exit 4 when tampered."""
    report = _repo(ctx).verify()
    if as_json:
        emit_json(report.to_dict())
    say(
        f"repository OK: root v{report.root_version}, targets v{report.targets_version}, snapshot "
        f"v{report.snapshot_version}, {report.roles_verified} roles, {report.entries} entries"
    )
    for soon in report.expiring_soon:
        say(f"warning: expires soon: {soon.to_dict()}")


@registry_group.command("list")
@click.option("--kind", type=_KINDS)
@click.option("--name")
@_json_opt
@click.pass_context
def list_cmd(ctx: click.Context, kind: str | None, name: str | None, as_json: bool) -> None:
    """List registered entries (from the repository on this host)."""
    entries = _repo(ctx).list_entries(kind=kind, name=name)
    if as_json:
        emit_json([e.to_dict() for e in entries])
        return
    for e in entries:
        click.echo(f"{e.target}\t{e.status}\t{e.stage}\tsha256:{e.digest[:16]}…\t{e.statements} statements")


@registry_group.command("show")
@click.argument("kind", type=_KINDS)
@click.argument("artifact_name", metavar="NAME")
@click.argument("version")
@_json_opt
@click.pass_context
def show_cmd(ctx: click.Context, kind: str, artifact_name: str, version: str, as_json: bool) -> None:
    """Show one entry with its status, stage, digest and statements."""
    detail = _repo(ctx).show_entry(kind, artifact_name, version)
    value = detail.to_dict()
    if as_json:
        emit_json(value)
        return
    import json

    click.echo(json.dumps(value, indent=2, sort_keys=True))


@registry_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["signal"]), required=True)
@click.option("--key", "key_ref", required=True, help="Ed25519 key that signs the legacy file.")
@click.option("--name", required=True, help="Enclave name to export.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def export_cmd(ctx: click.Context, fmt: str, key_ref: str, name: str, out: Path | None) -> None:
    """Export enclave entries as a signed legacy measurement_registry.json."""
    from sealgate.registry.legacy import export_signal

    data = export_signal(_repo(ctx), load_private(ctx, key_ref), name=name)
    if out is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        out.write_bytes(data)
        say(f"exported {name} to {out} ({hashlib.sha256(data).hexdigest()[:16]}…)")


@registry_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["signal"]), required=True)
@click.option("--key", "key_ref", required=True, help="The legacy registry's Ed25519 public key (file or name).")
@click.option("--name", required=True, help="Enclave name for the imported measurements.")
@_out_opt
@_json_opt
@click.pass_context
def import_cmd(
    ctx: click.Context, file: Path, fmt: str, key_ref: str, name: str, out: Path | None, as_json: bool
) -> None:
    """Verify a legacy signed measurement registry, then propose its entries (normal threshold applies)."""
    from sealgate.registry.legacy import import_signal

    public = keystore(ctx).public(key_ref)
    proposal = import_signal(_repo(ctx), _read(file), public, name)
    _save_proposal(ctx, proposal, out, f"import-{name}", as_json)
