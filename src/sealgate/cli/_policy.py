"""``sealgate policy``: compile the authored YAML, show the effective policy, tighten locally."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sealgate._fs import atomic_write
from sealgate.cli._common import emit_json, get_home, say
from sealgate.errors import MalformedInputError


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MalformedInputError(f"cannot read {path}: {exc.strerror}") from exc


@click.group("policy")
def policy_group() -> None:
    """Compile, show and tighten the trust policy."""


@policy_group.command("compile")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the canonical JSON here.")
@click.option("--local", "local", is_flag=True, help="FILE is a local tightening file, not a trust policy.")
def compile_cmd(file: Path, out: Path | None, local: bool) -> None:
    """Validate the YAML policy FILE and print its canonical JSON (what the registry publishes)."""
    from sealgate.policy import compile_local_policy_yaml, compile_policy_yaml

    data = (compile_local_policy_yaml if local else compile_policy_yaml)(_read(file))
    if out is None:
        click.echo(data.decode("utf-8"))
    else:
        atomic_write(out, data, mode=0o600)
        say(f"compiled {file} -> {out}")


@policy_group.command("show")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Show the effective policy: the signed one from the registry view, tightened by the local file."""
    import time

    from sealgate.policy import effective_policy
    from sealgate.registry.layout import POLICY_TARGET
    from sealgate.registry.view import RegistryView

    home = get_home(ctx)
    view = RegistryView.load(home.trust, time.time())
    local = home.local_policy.read_bytes() if home.local_policy.exists() else None
    policy = effective_policy(view.read_target_bytes(POLICY_TARGET), local)
    value = policy.to_json_value()
    if as_json:
        emit_json({"registry_version": view.version, "policy_digest": policy.digest, "policy": value})
        return
    click.echo(json.dumps(value, indent=2, sort_keys=True))


@policy_group.command("tighten")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def tighten_cmd(ctx: click.Context, file: Path) -> None:
    """Install the local tightening FILE (YAML) as SEALGATE_HOME/local-policy.json.

    Refused (policy-loosened) when any field would loosen the signed policy.
    """
    import time

    from sealgate.policy import compile_local_policy_yaml, effective_policy
    from sealgate.registry.layout import POLICY_TARGET
    from sealgate.registry.view import RegistryView

    home = get_home(ctx)
    local = compile_local_policy_yaml(_read(file))
    view = RegistryView.load(home.trust, time.time())
    effective_policy(view.read_target_bytes(POLICY_TARGET), local)  # raises policy-loosened
    atomic_write(home.local_policy, local, mode=0o600)
    say(f"installed local policy {home.local_policy} (it only tightens the signed policy)")
