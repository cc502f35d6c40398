"""A candidate enclave entry, written by CI for maintainers to approve (``sealgate ci candidate``).

CI measures a build but holds no signing key. It writes two files:

* ``entry.json``: the enclave entry document (:class:`~sealgate.registry.documents.EnclaveEntryDocument`,
  canonical JSON) that would become the registry target ``enclaves/NAME/VERSION``;
* ``statement.json``: an **unsigned** in-toto Statement v1 whose subject is that target path
  with the SHA-256 of ``entry.json``, and whose predicate (type
  :data:`CANDIDATE_PREDICATE_TYPE`) records how CI got there: the SIGSTRUCT facts, the git
  commit and whether it was found in the repository, the build time, the builder.

The predicate type is deliberately not the approval type: the statement is evidence for
the reviewers, never an approval, and a DSSE envelope around it would not count towards
any threshold. Maintainers who agree sign ``entry.json`` itself with ``sealgate sign``
(an approval over the same subject and digest) and propose it with ``sealgate registry
propose entry.json --kind enclave``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sealgate._dataclass import dataclass
from sealgate.canonical import canonical_bytes
from sealgate.enclaves.sigstruct import Sigstruct
from sealgate.errors import MalformedInputError, Reason, UsageError, VerificationError
from sealgate.registry.documents import EnclaveEntryDocument, is_mrenclave
from sealgate.registry.layout import STAGES, target_path

__all__ = [
    "CANDIDATE_PREDICATE_TYPE",
    "ENTRY_FILE",
    "PINS",
    "STATEMENT_FILE",
    "Candidate",
    "check_git_commit",
    "make_candidate",
    "write_candidate",
]

CANDIDATE_PREDICATE_TYPE: Final = "https://sealgate.dev/enclave-candidate/v1"
STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
ENTRY_FILE: Final = "entry.json"
STATEMENT_FILE: Final = "statement.json"
#: What an entry made from a SIGSTRUCT pins: the exact build, the signer and product, or both.
PINS: Final = ("both", "mrenclave", "mrsigner")
_GIT_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, slots=True)
class Candidate:
    """The two files of a candidate, as bytes, with the facts a caller prints."""

    target: str
    entry: EnclaveEntryDocument
    entry_bytes: bytes
    entry_sha256: str
    statement_bytes: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "entry_sha256": self.entry_sha256,
            "stage": self.entry.stage,
            "version": self.entry.version,
            "git_commit": self.entry.git_commit,
            "mrenclave": self.entry.mrenclave,
            "mrsigner": self.entry.mrsigner,
            "isv_prod_id": self.entry.isv_prod_id,
            "min_isv_svn": self.entry.min_isv_svn,
        }


def _timestamp(value: str | None) -> str:
    """RFC 3339 in UTC with a ``Z``: the given time (which must carry an offset) or now."""
    if value is None:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"build timestamp {value!r} is not RFC 3339 (e.g. 2026-01-31T12:00:00Z)") from exc
    if moment.tzinfo is None:
        raise UsageError(f"build timestamp {value!r} has no time zone offset")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex32(value: str, what: str) -> str:
    normalised = value.lower()
    if not is_mrenclave(normalised):
        raise MalformedInputError(f"{what} must be 64 hex digits")
    return normalised


def make_candidate(
    *,
    name: str,
    version: str,
    stage: str,
    git_commit: str,
    sigstruct: Sigstruct | None = None,
    pin: str = "both",
    mrenclave: str | None = None,
    mrsigner: str | None = None,
    isv_prod_id: int | None = None,
    min_isv_svn: int | None = None,
    allowed_tcb_statuses: Sequence[str] = ("UpToDate",),
    allowed_advisories: Sequence[str] = (),
    build_timestamp: str | None = None,
    builder_id: str | None = None,
    commit_checked: bool = False,
) -> Candidate:
    """Build the entry document and the unsigned statement; nothing is written.

    The identity comes from a verified ``sigstruct`` (pinned per ``pin``; ``min_isv_svn``
    defaults to its ISV SVN and may not exceed it), or from ``mrenclave`` and/or
    ``mrsigner`` + ``isv_prod_id`` + ``min_isv_svn`` given by hand (the minimum has no
    default: an accidental 0 would accept every older build). A SIGSTRUCT with the DEBUG
    attribute is refused (``debug-enclave``): the gate denies debug enclaves in every stage.
    """
    target = target_path("enclave", name, version)
    if stage not in STAGES:
        raise UsageError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    commit = git_commit.lower()
    if not _GIT_COMMIT.match(commit):
        raise MalformedInputError("the git commit must be the full 40 hex digits")
    measurement: dict[str, Any]
    if sigstruct is not None:
        if mrenclave is not None or mrsigner is not None or isv_prod_id is not None:
            raise UsageError("give the identity either as a SIGSTRUCT or by hand, not both")
        if pin not in PINS:
            raise UsageError(f"pin must be one of {', '.join(PINS)}")
        if sigstruct.debug:
            raise VerificationError(
                "the SIGSTRUCT has the DEBUG attribute: a debug enclave is denied in every stage",
                reason=Reason.DEBUG_ENCLAVE,
            )
        minimum = sigstruct.isv_svn if min_isv_svn is None else min_isv_svn
        if minimum > sigstruct.isv_svn:
            raise UsageError(
                f"minimum ISV SVN {minimum} is above this build's own ({sigstruct.isv_svn}): it could never pass"
            )
        mrenclave = sigstruct.mrenclave if pin in ("both", "mrenclave") else None
        if pin in ("both", "mrsigner"):
            mrsigner, isv_prod_id = sigstruct.mrsigner, sigstruct.isv_prod_id
        measurement = {"source": "sigstruct", **sigstruct.to_dict()}
    else:
        if mrenclave is None and mrsigner is None:
            raise UsageError("give a SIGSTRUCT, an MRENCLAVE, or an MRSIGNER with its product id and minimum SVN")
        if mrenclave is not None:
            mrenclave = _hex32(mrenclave, "MRENCLAVE")
        if mrsigner is not None:
            mrsigner = _hex32(mrsigner, "MRSIGNER")
            if isv_prod_id is None or min_isv_svn is None:
                raise UsageError("an MRSIGNER entry needs its ISV product id and a minimum ISV SVN")
        elif isv_prod_id is not None:
            raise UsageError("an ISV product id only means something with an MRSIGNER")
        minimum = min_isv_svn if min_isv_svn is not None else 0
        measurement = {"source": "given", "mrenclave": mrenclave, "mrsigner": mrsigner, "isv_prod_id": isv_prod_id}
    entry = EnclaveEntryDocument(
        version=version,
        stage=stage,
        status="active",
        mrenclave=mrenclave,
        mrsigner=mrsigner,
        isv_prod_id=isv_prod_id,
        min_isv_svn=minimum,
        git_commit=commit,
        build_timestamp=_timestamp(build_timestamp),
        revocation_reason=None,
        allowed_tcb_statuses=tuple(allowed_tcb_statuses),
        allowed_advisories=tuple(allowed_advisories),
    )
    entry_bytes = entry.to_bytes()
    entry_sha256 = hashlib.sha256(entry_bytes).hexdigest()
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": target, "digest": {"sha256": entry_sha256}}],
        "predicateType": CANDIDATE_PREDICATE_TYPE,
        "predicate": {
            "stage": stage,
            "git_commit": commit,
            "git_commit_checked": commit_checked,
            "build_timestamp": entry.build_timestamp,
            "builder_id": builder_id,
            "pin": pin if sigstruct is not None else None,
            "measurement": measurement,
        },
    }
    return Candidate(target, entry, entry_bytes, entry_sha256, canonical_bytes(statement))


def write_candidate(candidate: Candidate, out: Path) -> tuple[Path, Path]:
    """Write ``entry.json`` and ``statement.json`` into ``out`` (created); existing files are refused."""
    from sealgate._fs import atomic_write

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out} cannot be created: {exc.strerror}") from exc
    entry_path, statement_path = out / ENTRY_FILE, out / STATEMENT_FILE
    for path in (entry_path, statement_path, out / f"{ENTRY_FILE}.statements.json"):
        if os.path.lexists(path):
            raise UsageError(f"{path} already exists: write each candidate to a new directory")
    try:
        atomic_write(entry_path, candidate.entry_bytes)
        atomic_write(statement_path, candidate.statement_bytes)
    except OSError as exc:
        raise UsageError(f"the candidate cannot be written to {out}: {exc.strerror}") from exc
    return entry_path, statement_path


def check_git_commit(repository: Path, commit: str) -> None:
    """Raise unless ``commit`` (40 hex) is a commit object of the git repository at ``repository``.

    ``git rev-parse --verify`` on ``COMMIT^{commit}`` with the repository given by ``-C``,
    the caller's ``GIT_*`` variables dropped (a ``GIT_DIR`` must not point the check at
    another repository) and lazy fetching off: a commit this clone does not have is an
    error, never a download. A shallow clone is named as the likely cause.
    """
    commit = commit.lower()
    if not _GIT_COMMIT.match(commit):
        raise MalformedInputError("the git commit must be the full 40 hex digits")
    git = shutil.which("git")
    if git is None:
        raise UsageError("git is not installed (or not on PATH); it is needed to check the commit")
    from sealgate.drift._git import run_git

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return run_git(git, repository, list(args))

    proc = run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}^{{commit}}")
    if proc.returncode == 0 and proc.stdout.decode("ascii", "replace").strip() == commit:
        return
    inside = run("rev-parse", "--is-shallow-repository")
    if inside.returncode != 0:
        message = inside.stderr.decode("utf-8", "replace").strip().splitlines() or ["not a git repository"]
        raise UsageError(f"{repository} is not a git repository: {message[0][:300]}")
    hint = (
        " (this is a shallow clone: fetch the history, e.g. fetch-depth: 0 in actions/checkout)"
        if inside.stdout.strip() == b"true"
        else ""
    )
    raise MalformedInputError(f"{commit} is not a commit of the git repository {repository}{hint}")
