"""``sealgate check``: run the runtime analysers on a tool manifest or a command, without the gate.

For authors and reviewers before signing: the same analysers the gate runs on a tool
(docs/checks.md), without a policy's allow- and deny-lists (the gate adds those). It
decides nothing and runs nothing; ``sealgate verify`` and ``sealgate run`` are the gate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sealgate.cli._common import emit_json, say
from sealgate.errors import ExitCode, MalformedInputError, Severity, UsageError

if TYPE_CHECKING:
    from sealgate.checks import Finding
    from sealgate.tools.manifest import ToolManifest


def _manifest(directory: Path) -> ToolManifest:
    from sealgate.tools.manifest import SOURCE_NAME, ToolManifest, compile_manifest_yaml

    try:
        text = (directory / SOURCE_NAME).read_bytes()
    except OSError as exc:
        raise MalformedInputError(f"{directory / SOURCE_NAME} cannot be read: {exc.strerror}") from exc
    return ToolManifest.from_json_bytes(compile_manifest_yaml(text))


def manifest_findings(manifest: ToolManifest) -> list[Finding]:
    """What the analysers say about a manifest as written: command, declared env, paths and hosts."""
    from sealgate.checks import analyse_command, analyse_path, analyse_url, merge_findings, sanitise_env

    command = manifest.command
    found = analyse_command(command, shell=isinstance(command, str))
    found += sanitise_env(dict.fromkeys((v.name for v in manifest.env), ""), base={})[1]
    for declared in (*manifest.filesystem.read, *manifest.filesystem.write):
        found += analyse_path(declared)
    for host in manifest.network.allow:
        found += analyse_url(f"https://{host}/")
    return merge_findings(found)


@click.command("check")
@click.option("--manifest", "directory", type=click.Path(file_okay=False, path_type=Path), help="A tool directory.")
@click.option("--command", "shell_command", help="A shell string, as `sh -c` would run it.")
@click.option("--argv-json", help='An argv list as JSON, e.g. \'["rm", "-rf", "/"]\'.')
@click.option("--path", "paths", multiple=True, help="A path a tool would use; repeat for more.")
@click.option("--url", "urls", multiple=True, help="A URL a tool would reach; repeat for more.")
@click.option("--env", "env_pairs", multiple=True, metavar="NAME=VALUE", help="A variable a tool would get.")
@click.option(
    "--deny-from",
    type=click.Choice([s.value for s in Severity]),
    default="high",
    show_default=True,
    help="Exit 3 when a finding is at or above this severity (strict levels use medium).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON on stdout.")
def check_cmd(
    directory: Path | None,
    shell_command: str | None,
    argv_json: str | None,
    paths: tuple[str, ...],
    urls: tuple[str, ...],
    env_pairs: tuple[str, ...],
    deny_from: str,
    as_json: bool,
) -> None:
    """Run the command, path, URL and environment analysers; exit 3 on a finding at --deny-from or above."""
    from sealgate.checks import analyse_command, analyse_path, analyse_url, merge_findings, sanitise_env

    found: list[Finding] = []
    if directory is not None:
        found += manifest_findings(_manifest(directory))
    if shell_command is not None:
        found += analyse_command(shell_command, shell=True)  # noqa: S604 - analysed, never run
    if argv_json is not None:
        try:
            argv = json.loads(argv_json)
        except ValueError as exc:
            raise MalformedInputError(f"--argv-json is not JSON: {exc}") from exc
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise MalformedInputError("--argv-json must be a non-empty JSON list of strings")
        found += analyse_command(argv, shell=False)
    for path in paths:
        found += analyse_path(path)
    for url in urls:
        found += analyse_url(url)
    if env_pairs:
        env: dict[str, str] = {}
        for pair in env_pairs:
            name, sep, value = pair.partition("=")
            if not sep:
                raise UsageError(f"--env takes NAME=VALUE, not {pair!r}")
            env[name] = value
        found += sanitise_env(env, base={})[1]
    if not (directory or shell_command is not None or argv_json is not None or paths or urls or env_pairs):
        raise UsageError("nothing to check: give --manifest, --command, --argv-json, --path, --url or --env")
    findings = merge_findings(found)
    threshold = Severity(deny_from)
    denying = [f for f in findings if f.severity >= threshold]
    if as_json:
        emit_json(
            {
                "findings": [
                    {"code": f.code, "severity": f.severity.value, "analyser": f.analyser,
                     "location": f.location, "message": f.message}
                    for f in findings
                ],
                "deny_from": threshold.value,
                "denied": bool(denying),
            }
        )  # fmt: skip
    for f in findings:
        say(f"{f.severity.value:8} {f.code} [{f.location or '-'}] {f.message}")
    if denying:
        say(f"sealgate: check-denied: {len(denying)} finding(s) at {threshold.value} or above")
        raise click.exceptions.Exit(int(ExitCode.DENIED))
    say(f"no finding at {threshold.value} or above ({len(findings)} below)")
