"""Read the baseline side of a rule set from git: resolve a commit, read a file at that commit.

Only plumbing commands (``rev-parse``, ``ls-tree``, ``cat-file``), as an argv list with the
repository given by ``-C``, never a shell; revisions are checked before use and passed
after ``--end-of-options``, paths as literal pathspecs. The caller's ``GIT_*`` variables are
dropped so a hook's ``GIT_DIR`` cannot point the comparison at another repository, and lazy
fetching is off: a commit or blob missing from this clone is an error, never a download and
never a pass. A commit missing from a shallow clone says so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

from sealgate.errors import MalformedInputError, UsageError

__all__ = ["BaselineMissingError", "GitRepository", "run_git"]

GIT_TIMEOUT: Final = 60.0
_SHA: Final = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_REVISION: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@{}~^+-]{0,254}$")


class BaselineMissingError(UsageError):
    """The baseline commit is not in the repository (or only outside a shallow clone): exit 1, never a pass."""


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_LITERAL_PATHSPECS": "1",
            "GIT_NO_LAZY_FETCH": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
            "LC_ALL": "C",
        }
    )
    return env


def run_git(git: str, cwd: Path, args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """One git command in ``cwd`` as an argv list: no shell, the caller's ``GIT_*`` dropped, bounded."""
    try:
        return subprocess.run(
            [git, "-C", str(cwd), "-c", "core.fsmonitor=false", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=_environment(),
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"git {args[0]} took longer than {GIT_TIMEOUT:g} s in {cwd}") from exc
    except OSError as exc:
        raise UsageError(f"git cannot be run: {exc.strerror}") from exc


class GitRepository:
    """One git working tree, found from a path inside it."""

    def __init__(self, toplevel: Path, git: str) -> None:
        self.toplevel = toplevel
        self._git = git

    @classmethod
    def containing(cls, path: Path) -> GitRepository:
        """The repository whose working tree holds ``path`` (which need not exist any more)."""
        git = shutil.which("git")
        if git is None:
            raise UsageError("git is not installed (or not on PATH); drift reads the baseline with git")
        start = path.parent if not path.is_dir() else path
        while not start.is_dir() and start != start.parent:
            start = start.parent
        proc = cls._call(git, start, ["rev-parse", "--show-toplevel"])
        if proc.returncode != 0:
            raise UsageError(f"{path} is not inside a git working tree: {_first_line(proc.stderr)}")
        top = proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")
        return cls(Path(top), git)

    @staticmethod
    def _call(git: str, cwd: Path, args: list[str]) -> subprocess.CompletedProcess[bytes]:
        return run_git(git, cwd, args)

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[bytes]:
        return self._call(self._git, self.toplevel, args)

    def relative(self, path: Path) -> str:
        """``path`` relative to the top of the working tree, with ``/``; refused when outside it."""
        absolute = Path(os.path.realpath(path.parent)) / path.name
        try:
            rel = absolute.relative_to(Path(os.path.realpath(self.toplevel)))
        except ValueError:
            raise UsageError(f"{path} is outside the git working tree {self.toplevel}") from None
        if not rel.parts:
            raise UsageError(f"{path} is the working tree itself, not a rule file")
        return rel.as_posix()

    def is_shallow(self) -> bool:
        proc = self._run(["rev-parse", "--is-shallow-repository"])
        return proc.returncode == 0 and proc.stdout.strip() == b"true"

    def resolve_commit(self, revision: str) -> str:
        """The full id of commit ``revision``; :class:`BaselineMissingError` when it is not here."""
        if not _REVISION.match(revision) or ".." in revision or "@{" in revision:
            raise UsageError(
                f"baseline {revision!r} is not a commit id or a plain revision name (no leading '-', ranges or reflogs)"
            )
        proc = self._run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"])
        commit = proc.stdout.decode("ascii", "replace").strip()
        if proc.returncode == 0 and _SHA.match(commit):
            return commit
        if self.is_shallow():
            raise BaselineMissingError(
                f"the baseline commit {revision} is not in this repository, which is a shallow clone "
                f"({self.toplevel}): drift cannot compare against a commit it does not have; fetch the history "
                "(git fetch --unshallow, or fetch-depth: 0 in actions/checkout) and run it again"
            )
        raise BaselineMissingError(
            f"the baseline commit {revision} is not a commit of the repository {self.toplevel}: "
            "fetch it, or name an existing commit with --since"
        )

    def read_at(self, commit: str, relpath: str, *, max_size: int) -> bytes | None:
        """The bytes of ``relpath`` at ``commit``, or ``None`` when the commit has no such path."""
        proc = self._run(["ls-tree", "-l", "-z", "--full-tree", commit, "--", relpath])
        if proc.returncode != 0:
            raise BaselineMissingError(
                f"git cannot list {relpath} at {commit[:12]}: {_first_line(proc.stderr)}"
                + (" (this is a shallow clone)" if self.is_shallow() else "")
            )
        entry = None
        for record in proc.stdout.split(b"\0"):
            meta, tab, name = record.partition(b"\t")
            if tab and name.decode("utf-8", "surrogateescape") == relpath:
                entry = meta.split()
        if entry is None:
            return None
        mode, kind, oid, size = (p.decode("ascii", "replace") for p in entry[:4])
        if kind != "blob" or mode not in ("100644", "100755"):
            what = "a symbolic link" if mode == "120000" else f"a {kind} (mode {mode})"
            raise MalformedInputError(f"{relpath} at {commit[:12]} is {what}, not a regular file")
        if not size.isdigit() or int(size) > max_size:
            raise MalformedInputError(f"{relpath} at {commit[:12]} is {size} bytes, over the {max_size}-byte limit")
        blob = self._run(["cat-file", "blob", oid])
        if blob.returncode != 0:
            raise BaselineMissingError(
                f"git cannot read {relpath} at {commit[:12]} (object {oid[:12]}): {_first_line(blob.stderr)}"
            )
        return blob.stdout


def _first_line(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    return (text.splitlines() or ["(no message)"])[0][:300]
