"""Command analysis entry point: ``analyse_command`` for shell strings and argv lists.

The analyser itself (:mod:`sealgate.checks._shellwalk`) and ``bashlex`` are imported on the
first call, so that importing :mod:`sealgate.checks` stays cheap for callers that only need
the URL, path or environment checks.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sealgate.checks._finding import Finding
from sealgate.errors import UsageError

__all__ = ["analyse_command"]


def analyse_command(
    command: str | Sequence[str],
    *,
    shell: bool,
    allow: Collection[str] | None = None,
    deny: Collection[str] = (),
) -> list[Finding]:
    """Findings for a command a tool would run. Never raises on any string or argv content.

    ``shell=True``: ``command`` is one string for ``/bin/sh -c``, parsed with bashlex;
    anything bashlex cannot parse is ``command-unparseable`` (HIGH). ``shell=False``:
    ``command`` is an argv list executed directly; ``argv[0]`` must be a plain name or path
    and the elements are not shell-parsed, except the string a shell runs with ``-c``.
    There is no default for ``shell``: which one applies is the manifest's decision.

    ``allow`` / ``deny`` are the policy's ``commands`` lists; an entry matches a program by
    base name (``curl``) or exact path (``/usr/bin/curl``), and applies to every program the
    command would start, wrappers and nested shells included.

    Raises :class:`~sealgate.errors.UsageError` only when the argument types contradict
    ``shell`` (a list with ``shell=True``, a string with ``shell=False``).
    """
    if isinstance(allow, str) or isinstance(deny, str):
        raise UsageError("analyse_command: allow and deny are collections of names, not one string")
    if shell:
        if not isinstance(command, str):
            raise UsageError("analyse_command(shell=True) takes the command as one string")
    elif isinstance(command, str | bytes) or not isinstance(command, Sequence):
        raise UsageError("analyse_command(shell=False) takes the command as an argv list of strings")
    elif not all(isinstance(item, str) for item in command):
        raise UsageError("analyse_command(shell=False): every argv element must be a string")
    from sealgate.checks import _shellwalk

    return _shellwalk.run(command if shell else list(command), allow, deny)
