"""The bearer token of the loopback HTTP transport, read from a file only its owner can read.

Kept apart from the server module so that the CLI checks the file before importing the MCP
SDK: a token file with loose permissions stops ``sealgate mcp`` before anything listens.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Final

from sealgate.digest import read_fd_bounded
from sealgate.errors import UsageError

__all__ = ["MIN_TOKEN_CHARS", "BearerToken", "read_token_file"]

#: At least 32 characters (e.g. ``openssl rand -hex 32`` gives 64).
MIN_TOKEN_CHARS: Final = 32
_MAX_FILE: Final = 4096
# RFC 6750 b64token characters: what fits in an Authorization header unquoted.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")


class BearerToken:
    """A bearer token whose ``repr`` never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "BearerToken(<redacted>)"


def read_token_file(path: Path) -> BearerToken:
    """Read the token from ``path``: a regular file of the caller's, mode 0600 or stricter.

    Raises :class:`~sealgate.errors.UsageError` naming what is wrong (a link, another owner,
    group or other permission bits, a token too short or with characters a header cannot
    carry).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError(f"cannot open the token file {path}: {exc.strerror} (symlinks are refused)") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"the token file {path} is not a regular file")
        if st.st_uid != os.geteuid():
            raise UsageError(f"the token file {path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()})")
        if st.st_mode & 0o077:
            raise UsageError(
                f"the token file {path} has mode {stat.S_IMODE(st.st_mode):04o}; it must be 0600 or stricter "
                f"(chmod 600 {path})"
            )
        data = read_fd_bounded(fd, _MAX_FILE, f"token file {path}")
    finally:
        os.close(fd)
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise UsageError(f"the token file {path} must hold one ASCII token") from None
    if len(text) < MIN_TOKEN_CHARS or _TOKEN.fullmatch(text) is None:
        raise UsageError(
            f"the token in {path} must be at least {MIN_TOKEN_CHARS} characters of A-Z a-z 0-9 . _ ~ + / - "
            "(for example the output of `openssl rand -hex 32`)"
        )
    return BearerToken(text)
