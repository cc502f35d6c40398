"""Shell words as bash sees them: values, quoting, and the predicates the command rules share.

Part of the command analyser (:mod:`sealgate.checks._shellwalk` walks, :mod:`sealgate.checks._shellrules`
holds the per-program rules). Nothing here imports bashlex.
"""

from __future__ import annotations

import re
from typing import Final

from sealgate.checks._path import SHELL_RC_FILES, normalise_path

__all__ = [
    "BLOCK_DEVICE",
    "DECODE",
    "DOWNLOAD",
    "EXEC_STDIN",
    "GLOB",
    "LITERAL_NAME",
    "NET",
    "PLAIN",
    "PRODUCERS",
    "RESERVED",
    "SHELLS",
    "SHELL_IO",
    "STDIN_PATHS",
    "Excerpt",
    "Redirect",
    "Text",
    "Word",
    "ansi_c",
    "basename",
    "config_target",
    "dequote",
    "describe",
    "expand_words",
    "lit",
    "only_comments",
    "param_name",
    "root_class",
    "short",
]

# What a pipeline stage does with data: bits OR-ed upward through lists and substitutions.
DOWNLOAD: Final = 1  # fetches from the network (curl, wget, …)
DECODE: Final = 2  # decodes base64 / hex (base64 -d, xxd -r, …)
NET: Final = 4  # raw network connection (nc, socat, telnet, openssl s_client)
EXEC_STDIN: Final = 8  # runs a program read from its stdin (sh, python -, source /dev/stdin)
SHELL_IO: Final = 16  # a shell whose program comes from stdin or a file redirect (a FIFO in reverse shells)
PRODUCERS: Final = DOWNLOAD | DECODE | NET

SHELLS: Final = frozenset(
    {
        "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "ash", "yash", "rbash", "posh", "fish", "csh",
        "tcsh",
    }
)  # fmt: skip
STDIN_PATHS: Final = frozenset({"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})
LITERAL_NAME: Final = re.compile(r"[A-Za-z0-9_./+@%:,~-]+")
# Text that bash splits into words and nothing else: no quoting, expansion, operator, glob,
# comment, brace or tilde, on one line. Such text skips bashlex (see _plain_words).
PLAIN: Final = re.compile(r"[ \t]*[A-Za-z0-9_./:=@%+,-]+(?:[ \t]+[A-Za-z0-9_./:=@%+,-]+)*[ \t]*")
RESERVED: Final = frozenset(
    {
        "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do", "done", "in",
        "function", "time", "coproc",
    }
)  # fmt: skip
GLOB: Final = re.compile(r"[*?]|\[.*\]")
_BRACE: Final = re.compile(r"""([^{}'"\\$\s]*)\{([^{}'"\\$\s]*,[^{}'"\\$\s]*)\}([^{}'"\\$\s]*)""")
BLOCK_DEVICE: Final = re.compile(r"/dev/(?:sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|md\d|dm-\d|disk/|mapper/)")
_TOP_DIRS: Final = frozenset(
    {
        "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/opt", "/proc", "/root", "/sbin",
        "/srv", "/sys", "/usr", "/var", "/snap", "/mnt", "/media",
    }
)  # fmt: skip


class Word:
    """One shell word: its value as bash would see it, where that value is known."""

    __slots__ = ("ansi", "dynamic", "known", "mask", "raw", "split", "value")

    def __init__(
        self, value: str, raw: str, known: bool = True, dynamic: bool = False, mask: int = 0, ansi: bool = False,
        split: bool = False,
    ) -> None:  # fmt: skip
        self.value = value  # dequoted; unknown expansions stay as their source text
        self.raw = raw  # the source text of the word
        self.known = known  # value is exactly what bash would produce
        self.dynamic = dynamic  # had an expansion or substitution (even one we could fold)
        self.mask = mask  # producer bits of the substitutions inside it
        self.ansi = ansi  # contains $'…' quoting
        self.split = split  # unquoted expansion: bash would split the value into words


def lit(value: str) -> Word:
    return Word(value, value)


Redirect = tuple[str, "Word | None", "str | None"]  # (operator, target word, here-document text)


def basename(value: str) -> str:
    return value.rsplit("/", 1)[-1]


class Excerpt:
    """The source text of a construct, shortened only when a finding quotes it (most never do)."""

    __slots__ = ("end", "src", "start")

    def __init__(self, src: str, start: int, end: int) -> None:
        self.src, self.start, self.end = src, start, end

    def __str__(self) -> str:
        return short(self.src[self.start : self.end])

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


Text = str | Excerpt


def short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_ANSI_SIMPLE: Final = {
    "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"', "?": "?",
}  # fmt: skip
_HEXDIGITS: Final = frozenset("0123456789abcdefABCDEF")


def ansi_c(raw: str, i: int) -> tuple[str, int]:
    """Decode the body of ``$'…'`` starting at ``raw[i]``; return the text and the index after ``'``."""
    out: list[str] = []
    n = len(raw)
    while i < n and raw[i] != "'":
        c = raw[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = raw[i + 1]
        i += 2
        if e in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[e])
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            j = i
            while j < n and j - i < width and raw[j] in _HEXDIGITS:
                j += 1
            if j == i:
                out.append("\\" + e)
            else:
                out.append(chr(min(int(raw[i:j], 16), 0x10FFFF)))
                i = j
        elif e in "01234567":
            j = i
            while j < n and j - i < 2 and raw[j] in "01234567":
                j += 1
            out.append(chr(int(e + raw[i:j], 8) & 0xFF))
            i = j
        elif e == "c" and i < n:
            out.append(chr(ord(raw[i]) & 0x1F))
            i += 1
        else:
            out.append("\\" + e)
    return "".join(out), i + 1


def dequote(raw: str) -> str:
    """Remove shell quoting from a word's source text; ``$'…'`` is decoded, expansions kept as text."""
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "\\":
            if i + 1 < n and raw[i + 1] != "\n":
                out.append(raw[i + 1])
            i += 2
        elif c == "'":
            j = raw.find("'", i + 1)
            j = n if j < 0 else j
            out.append(raw[i + 1 : j])
            i = j + 1
        elif c == "$" and raw.startswith("'", i + 1):
            text, i = ansi_c(raw, i + 2)
            out.append(text)
        elif c == "$" and raw.startswith('"', i + 1):
            i += 1  # $"…" (locale translation) reads as "…"
        elif c == '"':
            i += 1
            while i < n and raw[i] != '"':
                if raw[i] == "\\" and i + 1 < n and raw[i + 1] in '$`"\\\n':
                    if raw[i + 1] != "\n":
                        out.append(raw[i + 1])
                    i += 2
                else:
                    out.append(raw[i])
                    i += 1
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def param_name(value: str) -> str:
    m = re.match(r"[#!]?([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])", value)
    return m.group(1) if m else value


def only_comments(text: str) -> bool:
    if "#" not in text:
        return not text.strip()
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    kind = type(exc).__name__
    if kind == "NotImplementedError":
        return f"construct not supported by the parser: {short(text, 60)}"
    if kind == "ParsingError":
        return short(text, 60)
    return kind


def root_class(value: str) -> bool:
    """Is ``value`` a deletion target at the scale of a whole system or home directory?"""
    norm = normalise_path(value)
    for tail in ("/*", "/.*"):
        if norm.endswith(tail):
            norm = norm[: -len(tail)] or "/"
    if norm in ("/", "~", "/*") or norm in _TOP_DIRS:
        return True
    if norm.startswith("~") and "/" not in norm:
        return True  # ~user
    parts = norm.split("/")
    return len(parts) == 3 and parts[0] == "" and parts[1] == "home" and bool(parts[2])


def config_target(value: str) -> str | None:
    """Why writing ``value`` changes system configuration or shell start-up code, or ``None``."""
    norm = normalise_path(value)
    for prefix in ("/etc", "/boot", "/usr/lib/systemd", "/lib/systemd", "/var/spool/cron", "/root/.ssh"):
        if norm == prefix or norm.startswith(prefix + "/"):
            return f"{prefix} (system configuration)"
    parts = norm.split("/")
    if norm.startswith("~"):
        rest = parts[1:]
    elif len(parts) > 1 and parts[0] == "" and parts[1] == "root":
        rest = parts[2:]
    elif len(parts) > 2 and parts[0] == "" and parts[1] == "home":
        rest = parts[3:]
    elif len(parts) == 1:
        rest = parts  # a bare file name in the working directory
    else:
        return None
    if len(rest) == 1 and rest[0] in SHELL_RC_FILES:
        return f"{rest[0]} (shell start-up file)"
    if rest and rest[0] == ".ssh" and len(rest) > 1:
        return f".ssh/{rest[1]} (SSH access and configuration)"
    if len(rest) > 1 and rest[0] == ".config" and rest[1] in ("autostart", "systemd", "fish"):
        return f".config/{rest[1]} (start-up code)"
    return None


def expand_words(words: list[Word]) -> list[Word]:
    """Apply the word splitting and brace expansion bash would do to folded words."""
    if not any(w.split or "{" in w.raw for w in words):
        return words
    out: list[Word] = []
    for w in words:
        if w.split and w.known:
            out.extend(Word(p, w.raw, True, True, w.mask, w.ansi) for p in w.value.split())
            continue
        m = _BRACE.fullmatch(w.raw) if "{" in w.raw and not w.dynamic else None
        if m is not None:
            pre, alternatives, post = m.groups()
            out.extend(Word(pre + a + post, w.raw, True, True, w.mask) for a in alternatives.split(","))
            continue
        out.append(w)
    return out
