"""``sealgate drift``: have sanitiser rules or invariant settings weakened since the released commit?

A thin adapter over :func:`sealgate.drift.check_drift` (docs/drift.md). The baseline is
``--since COMMIT``, or the git commit of the newest active PROD entry ``--kind``/``--name``
in the verified registry view of ``SEALGATE_HOME``. Findings go to stderr, the report
(``--json``) to stdout, also when drift is found; exit 3 ``drift-detected`` on any removal,
weakening or unsafe setting (and on ``unverifiable-change`` under ``strict``).
"""

from __future__ import annotations

from pathlib import Path

import click

from sealgate.cli._common import emit_json, get_home, say
from sealgate.errors import UsageError

_KINDS = ("enclave", "tool", "module")


def _report(report: object, as_json: bool) -> None:
    from sealgate.drift import DriftReport, FindingKind

    assert isinstance(report, DriftReport)
    if as_json:
        emit_json(report.to_json())
    source = report.baseline.source
    if report.baseline.entry is not None:
        entry = report.baseline.entry
        source = f"registry: {entry['kind']} {entry['name']} {entry['version']} (PROD)"
    say(
        f"compared {len(report.files)} rule file(s) in {report.repository} with {report.commit[:12]} "
        f"({source}) at level {report.level.value}"
    )
    for finding in report.findings:
        where = f"{finding.file}:{finding.line or finding.baseline_line or '-'}"
        head = f"{finding.kind.value} {finding.subject} {finding.id!r} at {where}: {finding.message}"
        if finding.kind.fails(report.level):
            say(f"DRIFT {head}")
        elif finding.kind is FindingKind.UNVERIFIABLE:
            say(f"warning: {head} (fails under strict)")
        else:
            say(f"  {head}")


@click.command("drift")
@click.option(
    "--rules",
    "rules",
    multiple=True,
    required=True,
    metavar="PATH",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A rule file (*.yaml, *.yml, *.json, *.py) in a git working tree; repeat for more.",
)
@click.option("--since", metavar="COMMIT", help="Compare with this commit instead of the registry's PROD entry.")
@click.option(
    "--kind",
    type=click.Choice(_KINDS),
    help="Kind of the registry entry whose PROD commit is the baseline (default enclave).",
)
@click.option("--name", metavar="NAME", help="Name of that entry (enclave NAME, or NS/NAME for tools and modules).")
@click.option(
    "--level",
    type=click.Choice(["standard", "strict"]),
    help="Raise the level (strict fails unverifiable changes); never below the policy's level for the entry.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.pass_context
def drift_cmd(
    ctx: click.Context,
    rules: tuple[Path, ...],
    since: str | None,
    kind: str | None,
    name: str | None,
    level: str | None,
    as_json: bool,
) -> None:
    """Compare rule files with the commit of the last active PROD entry (or --since); exit 3 on drift."""
    from sealgate.drift import Baseline, DriftDetectedError, check_drift, registry_baseline
    from sealgate.policy import Level

    if since is not None and (name is not None or kind is not None):
        raise UsageError("--since names the baseline commit itself; leave out --kind and --name")
    if since is None and name is None:
        raise UsageError(
            "no baseline: give --name NAME (and --kind) to use the commit of its last active PROD entry, "
            "or --since COMMIT"
        )
    if since is not None:
        baseline = Baseline(commit=since, source="since")
    else:
        assert name is not None
        baseline = registry_baseline(get_home(ctx), kind or "enclave", name)
    try:
        report = check_drift(rules, baseline, level=Level(level) if level else Level.STANDARD)
    except DriftDetectedError as exc:
        _report(exc.report, as_json)
        raise
    _report(report, as_json)
    say(f"no drift: {report.summary()}")
