"""``sealgate ci``: what a CI pipeline runs on a build; nothing here signs anything (docs/ci.md).

``measure`` recomputes a build's measurement; ``check-mock`` fails a STAGE or PROD build that
carries mock-attestation code; ``candidate`` writes a candidate entry and an unsigned in-toto
statement for maintainers to review, sign and propose.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sealgate.cli._common import emit_json, say
from sealgate.errors import UsageError
from sealgate.registry.documents import TCB_STATUSES
from sealgate.registry.layout import STAGES

if TYPE_CHECKING:
    from sealgate.enclaves.candidate import Candidate
    from sealgate.enclaves.sigstruct import Sigstruct

_json_opt = click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")


@click.group("ci")
def ci_group() -> None:
    """Measure builds, refuse mock attestation, write candidate entries (no keys needed)."""


@ci_group.command("measure")
@click.option("--sigstruct", type=click.Path(dir_okay=False, path_type=Path), help="An SGX SIGSTRUCT: its MRENCLAVE.")
@click.option("--file", "file_", type=click.Path(dir_okay=False, path_type=Path), help="A file: its SHA-256.")
@click.option(
    "--oci-layout",
    type=click.Path(file_okay=False, path_type=Path),
    help="An OCI image layout directory: the digest of its image manifest.",
)
@click.option("--platform", help="os/arch[/variant]: which manifest of a multi-platform layout.")
@_json_opt
def measure_cmd(
    sigstruct: Path | None, file_: Path | None, oci_layout: Path | None, platform: str | None, as_json: bool
) -> None:
    """Recompute the measurement of a build: exactly one of --sigstruct, --file, --oci-layout."""
    from sealgate.enclaves import buildmeasure

    given = [o for o, v in (("--sigstruct", sigstruct), ("--file", file_), ("--oci-layout", oci_layout)) if v]
    if len(given) != 1:
        raise UsageError("give exactly one of --sigstruct, --file, --oci-layout")
    if platform is not None and oci_layout is None:
        raise UsageError("--platform only applies to --oci-layout")
    if sigstruct is not None:
        measurement = buildmeasure.measure_sigstruct(sigstruct)
    elif file_ is not None:
        measurement = buildmeasure.measure_file(file_)
    else:
        assert oci_layout is not None
        measurement = buildmeasure.measure_oci_layout(oci_layout, platform=platform)
    if as_json:
        emit_json(measurement.to_dict())
        return
    click.echo(buildmeasure.describe(measurement))


@ci_group.command("check-mock")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--stage",
    required=True,
    type=click.Choice(STAGES),
    help="The build's stage: hits fail STAGE and PROD, and are only reported for DEV and TEST.",
)
@click.option("--pattern", "patterns", multiple=True, metavar="REGEX", help="An extra regular expression; repeatable.")
@click.option(
    "--patterns-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Extra regular expressions, one per line (# comments).",
)
@click.option(
    "--exclude",
    "excludes",
    multiple=True,
    metavar="GLOB",
    help="Leave out paths matching GLOB (relative to each directory given); listed in the report.",
)
@_json_opt
def check_mock_cmd(
    paths: tuple[Path, ...],
    stage: str,
    patterns: tuple[str, ...],
    patterns_file: Path | None,
    excludes: tuple[str, ...],
    as_json: bool,
) -> None:
    """Find mock-attestation code in a build: Python, configuration, text and binaries.

    Exit 3 (mock-attestation-found) on any hit when --stage is STAGE or PROD; exit 3
    (malformed-input) in every stage when a path could not be scanned.
    """
    from sealgate.enclaves.mockscan import FATAL_STAGES, read_patterns_file, require_no_mock, scan_for_mock

    extra = list(patterns)
    if patterns_file is not None:
        extra += read_patterns_file(patterns_file)
    report = scan_for_mock(paths, patterns=extra, excludes=excludes)
    fatal = stage in FATAL_STAGES
    if as_json:
        emit_json({"stage": stage, "fatal": fatal and bool(report.hits), **report.to_dict()})
    for hit in report.hits:
        say(f"{hit.location()}: {hit.rule}: {hit.message}")
        if hit.excerpt:
            say(f"    {hit.excerpt}")
    if report.hits_left_out:
        say(f"… and {report.hits_left_out} more hit(s) left out of this report")
    for problem in report.problems:
        say(f"error: {problem.path}: {problem.message}")
    for link in report.not_followed:
        say(f"not followed: {link.path}: {link.message}")
    for path in report.excluded:
        say(f"excluded: {path}")
    count = len(report.hits) + report.hits_left_out
    verdict = "fails the build" if fatal else "reported only"
    say(f"{report.files_scanned} file(s) scanned, {count} hit(s), {len(report.problems)} error(s); {stage}: {verdict}")
    require_no_mock(report, stage)


def candidate_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that describe an enclave build (shared by `ci candidate` and `enclave add`)."""
    for option in reversed(_CANDIDATE_OPTIONS):
        command = option(command)
    return command


_CANDIDATE_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--name", required=True, help="Enclave name (the registry entry enclaves/NAME/VERSION)."),
    click.option("--version", "version", required=True),
    click.option("--stage", required=True, type=click.Choice(STAGES)),
    click.option("--sigstruct", type=click.Path(dir_okay=False, path_type=Path), help="The build's SGX SIGSTRUCT."),
    click.option(
        "--pin",
        type=click.Choice(["both", "mrenclave", "mrsigner"]),
        default="both",
        show_default=True,
        help="With --sigstruct: pin the exact build, the signer and product, or both.",
    ),
    click.option("--mrenclave", help="MRENCLAVE (64 hex), when there is no SIGSTRUCT."),
    click.option(
        "--mrsigner", help="MRSIGNER (64 hex), when there is no SIGSTRUCT; needs --isv-prod-id, --min-isv-svn."
    ),
    click.option("--isv-prod-id", type=click.IntRange(0, 0xFFFF), help="ISV product id, with --mrsigner."),
    click.option(
        "--min-isv-svn",
        type=click.IntRange(0, 0xFFFF),
        help="Minimum ISV SVN (default with --sigstruct: the build's own).",
    ),
    click.option(
        "--allow-tcb-status",
        "tcb_statuses",
        multiple=True,
        type=click.Choice(TCB_STATUSES),
        help="A platform TCB status the entry accepts; repeatable (default UpToDate only).",
    ),
    click.option(
        "--allow-advisory", "advisories", multiple=True, metavar="ID", help="An INTEL-SA-NNNNN id; repeatable."
    ),
    click.option("--git-commit", required=True, help="The full 40-hex commit the build was made from."),
    click.option(
        "--repo",
        type=click.Path(file_okay=False, path_type=Path),
        help="The git repository: the commit must exist there.",
    ),
    click.option("--build-timestamp", help="RFC 3339 time of the build (default: now)."),
]


def candidate_from_options(
    *,
    name: str,
    version: str,
    stage: str,
    sigstruct: Path | None,
    pin: str,
    mrenclave: str | None,
    mrsigner: str | None,
    isv_prod_id: int | None,
    min_isv_svn: int | None,
    tcb_statuses: tuple[str, ...],
    advisories: tuple[str, ...],
    git_commit: str,
    repo: Path | None,
    build_timestamp: str | None,
    builder_id: str | None = None,
) -> tuple[Candidate, Sigstruct | None]:
    """The candidate the options describe (the SIGSTRUCT read and verified, the commit checked)."""
    from sealgate.enclaves.candidate import check_git_commit, make_candidate
    from sealgate.enclaves.sigstruct import read_sigstruct

    sig = read_sigstruct(sigstruct) if sigstruct is not None else None
    if repo is not None:
        check_git_commit(repo, git_commit)
    candidate = make_candidate(
        name=name,
        version=version,
        stage=stage,
        git_commit=git_commit,
        sigstruct=sig,
        pin=pin,
        mrenclave=mrenclave,
        mrsigner=mrsigner,
        isv_prod_id=isv_prod_id,
        min_isv_svn=min_isv_svn,
        allowed_tcb_statuses=tcb_statuses or ("UpToDate",),
        allowed_advisories=advisories,
        build_timestamp=build_timestamp,
        builder_id=builder_id,
        commit_checked=repo is not None,
    )
    return candidate, sig


@ci_group.command("candidate")
@candidate_options
@click.option("--builder-id", help="Who built it, e.g. the CI run's URL (recorded in the statement).")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="New directory for the files."
)
@_json_opt
def candidate_cmd(out: Path, as_json: bool, **options: Any) -> None:
    """Write a candidate enclave entry (entry.json) and an unsigned in-toto statement (statement.json).

    Nothing is signed: maintainers review the files, sign entry.json with `sealgate sign`
    and propose it with `sealgate registry propose entry.json --kind enclave`.
    """
    from sealgate.enclaves.candidate import write_candidate

    candidate, sig = candidate_from_options(**options)
    name, version, stage, git_commit = (options[k] for k in ("name", "version", "stage", "git_commit"))
    repo = options["repo"]
    entry_path, statement_path = write_candidate(candidate, out)
    if as_json:
        emit_json({**candidate.to_dict(), "entry": str(entry_path), "statement": str(statement_path)})
    if sig is not None and sig.debug_possible:
        say("warning: ATTRIBUTEMASK does not enforce DEBUG=0: this MRENCLAVE can also launch as a debug enclave")
    say(f"candidate {candidate.target} sha256:{candidate.entry_sha256} ({stage})")
    say(f"  {entry_path}\n  {statement_path} (unsigned)")
    if repo is None:
        say("note: the git commit was not checked (no --repo)")
    args = f"--kind enclave --name {name} --version {version}"
    say(f"next: sealgate sign {entry_path} {args} --role ROLE --key KEY")
    say(f"      sealgate registry propose {entry_path} {args} --stage {stage} --git-commit {git_commit.lower()}")
