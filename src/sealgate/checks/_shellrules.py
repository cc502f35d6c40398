"""Per-program rules of the command analyser: wrappers to peel, and what each program does.

``WRAPPERS`` maps a wrapper (``env``, ``sudo``, ``timeout``, …) to a function returning the
command it runs; ``PROGRAMS`` maps a program to a rule that records findings on the
:class:`~sealgate.checks._shellwalk.Analysis` and returns the stage's producer bits
(downloads, decodes, network). Rules that find a shell string or argv another program runs
hand it back to the analysis, which walks it like top-level text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Final

from sealgate.checks._shellwords import (
    BLOCK_DEVICE,
    DECODE,
    DOWNLOAD,
    EXEC_STDIN,
    NET,
    SHELL_IO,
    STDIN_PATHS,
    Redirect,
    Text,
    Word,
    basename,
    config_target,
    lit,
    root_class,
)

if TYPE_CHECKING:
    from sealgate.checks._shellwalk import Analysis

__all__ = [
    "PROGRAMS",
    "WRAPPERS",
    "disk",
    "interp_options",
    "interpreter",
]

_PY: Final = re.compile(r"(?:python|pypy)[0-9.]*")
_VERSIONED: Final = re.compile(r"(perl|ruby|php|lua|luajit|node|nodejs)[0-9.]*")

_GIT_COMMAND_KEYS: Final = frozenset(
    {
        "core.pager", "core.sshcommand", "core.editor", "core.fsmonitor", "core.askpass", "sequence.editor",
        "diff.external", "gpg.program", "uploadpack.packobjectshook", "credential.helper", "core.gitproxy",
    }
)  # fmt: skip
_GIT_COMMAND_PATTERN: Final = re.compile(
    r"(?:filter\..+\.(?:clean|smudge|process)|diff\..+\.(?:textconv|command)|merge\..+\.driver|pager\..+|alias\..+)"
)


def interpreter(name: str) -> str | None:
    if _PY.fullmatch(name):
        return "python"
    m = _VERSIONED.fullmatch(name)
    if m is not None:
        base = m.group(1)
        return {"luajit": "lua", "nodejs": "node"}.get(base, base)
    if name in ("pwsh", "powershell", "powershell.exe"):
        return "pwsh"
    if name in ("expect", "tclsh", "wish"):
        return "tcl"
    return None


def interp_options(lang: str, args: list[Word]) -> tuple[list[Word], str | None, bool, list[Word]]:
    """Split interpreter arguments into inline code, a ``-m`` module, an encoded command, operands."""
    codes: list[Word] = []
    module: str | None = None
    encoded = False
    i, n = 0, len(args)
    while i < n:
        w = args[i]
        v = w.value
        if v == "--":
            i += 1
            break
        if v == "-" or len(v) < 2 or v[0] != "-":
            break
        nxt = args[i + 1] if i + 1 < n else None
        low = v.lower()
        if lang == "pwsh":
            key = low[1:]
            if key in ("e", "ec", "enc") or (len(key) >= 3 and "encodedcommand".startswith(key)):
                return codes, module, True, args[i + 2 :]
            if key == "c" or (len(key) >= 2 and "command".startswith(key)):
                rest = " ".join(a.value for a in args[i + 1 :])
                known = all(a.known for a in args[i + 1 :])
                mask = 0
                for a in args[i + 1 :]:
                    mask |= a.mask
                return [Word(rest, rest, known, False, mask)], module, False, []
            if key in ("f", "file") or (len(key) >= 2 and "file".startswith(key)):
                return codes, module, False, args[i + 1 :]
            i += 2 if key in ("ep", "executionpolicy", "workingdirectory", "wd", "windowstyle", "w") else 1
            continue
        if lang == "python":
            if v.startswith("-c"):
                if len(v) > 2:
                    codes.append(Word(v[2:], v[2:], w.known, w.dynamic, w.mask))
                elif nxt is not None:
                    codes.append(nxt)
                return codes, module, encoded, []
            if v.startswith("-m"):
                module = v[2:] or (nxt.value if nxt is not None else "")
                return codes, module, encoded, args[i + (1 if len(v) > 2 else 2) :]
            i += 2 if v in ("-W", "-X", "-Q") else 1
            continue
        if lang in ("perl", "ruby"):
            if v.startswith("--"):
                i += 1
                continue
            letters = v[1:]
            for j, letter in enumerate(letters):
                if letter in "eE":
                    rest = letters[j + 1 :]
                    if rest:
                        codes.append(Word(rest, rest, w.known, w.dynamic, w.mask))
                        i += 1
                    else:
                        if nxt is not None:
                            codes.append(nxt)
                        i += 2
                    break
                if letter in ("IMmrxCF" if lang == "perl" else "rIC"):
                    i += 1 if letters[j + 1 :] else 2
                    break
            else:
                i += 1
            continue
        code_opts = {"node": ("-e", "--eval", "-p", "--print"), "php": ("-r", "-B", "-R", "-E"), "lua": ("-e",)}
        value_opts = {
            "node": ("-r", "--require", "--import", "--loader", "--input-type", "--experimental-loader"),
            "php": ("-f", "-c", "-d", "-z", "-F"),
            "lua": ("-l",),
            "tcl": ("-f",),
        }
        if (lang == "tcl" and v == "-c") or v in code_opts.get(lang, ()):
            if nxt is not None:
                codes.append(nxt)
            i += 2
            continue
        if "=" in v and v.split("=", 1)[0] in code_opts.get(lang, ()):
            value = v.split("=", 1)[1]
            codes.append(Word(value, value, w.known, w.dynamic, w.mask))
            i += 1
            continue
        if lang == "php" and v == "-f":
            return codes, module, encoded, args[i + 1 :]
        i += 2 if v in value_opts.get(lang, ()) else 1
    return codes, module, encoded, args[i:]


# ----------------------------------------------------------------------------- wrappers

_Unwrap = Callable[["Analysis", list[Word], str, Text], list[Word]]


def _skip_options(
    args: list[Word], short_values: str = "", long_values: Collection[str] = (), positional: int = 0
) -> list[Word]:
    """Drop leading options (and their values) and ``positional`` operands; return the command."""
    i, n = 0, len(args)
    while i < n:
        v = args[i].value
        if v == "--":
            i += 1
            break
        if len(v) < 2 or v[0] != "-":
            break
        if v[1] == "-":
            i += 2 if ("=" not in v and v in long_values) else 1
            continue
        for j in range(1, len(v)):
            if v[j] in short_values:
                i += 2 if j == len(v) - 1 else 1
                break
        else:
            i += 1
    return args[i + positional :]


def _simple_wrapper(short_values: str = "", long_values: Collection[str] = (), positional: int = 0) -> _Unwrap:
    def unwrap(a: Analysis, args: list[Word], loc: str, excerpt: Text) -> list[Word]:
        return _skip_options(args, short_values, long_values, positional)

    return unwrap


def _take_assignments(a: Analysis, args: list[Word], loc: str, excerpt: Text) -> list[Word]:
    i = 0
    while i < len(args) and "=" in args[i].value and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", args[i].value):
        w = args[i]
        name, _, value = w.value.partition("=")
        a.assign(name, Word(value, value, w.known, w.dynamic, w.mask), loc, excerpt, persist=False)
        i += 1
    return args[i:]


def _env(a: Analysis, args: list[Word], loc: str, excerpt: Text) -> list[Word]:
    i, n = 0, len(args)
    while i < n:
        v = args[i].value
        if v in ("-", "-i", "--ignore-environment", "-0", "--null", "-v", "--debug", "--"):
            i += 1
            continue
        if v in ("-u", "--unset", "-C", "--chdir"):
            i += 2
            continue
        split = None
        if v in ("-S", "--split-string") and i + 1 < n:
            split, rest = args[i + 1], args[i + 2 :]
        elif v.startswith("--split-string="):
            split, rest = Word(v.partition("=")[2], v, args[i].known), args[i + 1 :]
        elif v.startswith("-S") and len(v) > 2:
            split, rest = Word(v[2:], v, args[i].known), args[i + 1 :]
        if split is not None:
            text = " ".join([split.value, *(r.value for r in rest)])
            a.exec_string(Word(text, text, split.known and all(r.known for r in rest), False, split.mask), loc, excerpt,
                           "env -S")  # fmt: skip
            return []
        if v.startswith("-") and len(v) > 1:
            i += 1
            continue
        break
    return _take_assignments(a, args[i:], loc, excerpt)


def _sudo(a: Analysis, args: list[Word], loc: str, excerpt: Text) -> list[Word]:
    long_values = ("--close-from", "--chdir", "--group", "--prompt", "--chroot", "--role", "--type",
                   "--command-timeout", "--other-user", "--user", "--host")  # fmt: skip
    return _take_assignments(a, _skip_options(args, "CDgpRrtTUu", long_values), loc, excerpt)


def _strace(a: Analysis, args: list[Word], loc: str, excerpt: Text) -> list[Word]:
    # -E VAR=VAL sets the traced program's environment.
    for i, w in enumerate(args[:-1]):
        if w.value == "-E" and "=" in args[i + 1].value:
            name, _, value = args[i + 1].value.partition("=")
            a.assign(name, lit(value), loc, excerpt, persist=False)
    return _skip_options(args, "abeEIopPsSuXl", ("--output", "--expr", "--attach", "--user", "--env"))


def _with_command_option(option_names: tuple[str, ...], label: str, positional: int = 0) -> _Unwrap:
    """Wrappers that take a shell string with ``-c`` (``su``, ``runuser``, ``script``, ``flock``)."""

    def unwrap(a: Analysis, args: list[Word], loc: str, excerpt: Text) -> list[Word]:
        for i, w in enumerate(args):
            v = w.value
            for opt in option_names:
                if v == opt and i + 1 < len(args):
                    a.exec_string(args[i + 1], loc, excerpt, label)
                    return []
                if opt.startswith("--") and v.startswith(opt + "="):
                    value = v[len(opt) + 1 :]
                    a.exec_string(Word(value, value, w.known, w.dynamic, w.mask), loc, excerpt, label)
                    return []
        if label in ("su", "runuser", "script"):
            return []  # without -c they start a login shell: a shell, not a command we can see
        return _skip_options(args, "wE", ("--timeout", "--conflict-exit-code"), positional)

    return unwrap


def _watch(a: Analysis, args: list[Word], loc: str, excerpt: Text) -> list[Word]:
    exec_mode = any(w.value in ("-x", "--exec") for w in args)
    rest = _skip_options(args, "nqd", ("--interval", "--differences"))
    if exec_mode or not rest:
        return rest
    text = " ".join(w.value for w in rest)
    mask = 0
    for w in rest:
        mask |= w.mask
    a.exec_string(Word(text, text, all(w.known for w in rest), False, mask), loc, excerpt, "watch")
    return []


WRAPPERS: Final[dict[str, _Unwrap]] = {
    "env": _env,
    "sudo": _sudo,
    "doas": _simple_wrapper("uC"),
    "pkexec": _simple_wrapper("", ("--user",)),
    "nohup": _simple_wrapper(),
    "setsid": _simple_wrapper(),
    "nice": _simple_wrapper("n", ("--adjustment",)),
    "ionice": _simple_wrapper("cnpPu", ("--class", "--classdata")),
    "timeout": _simple_wrapper("sk", ("--signal", "--kill-after"), positional=1),
    "stdbuf": _simple_wrapper("ioe", ("--input", "--output", "--error")),
    "taskset": _simple_wrapper("", (), positional=1),
    "chrt": _simple_wrapper("TPD", (), positional=1),
    "chroot": _simple_wrapper("", ("--userspec", "--groups"), positional=1),
    "exec": _simple_wrapper("a"),
    "command": _simple_wrapper(),
    "builtin": _simple_wrapper(),
    "xargs": _simple_wrapper(
        "adEILnPs", ("--arg-file", "--delimiter", "--max-lines", "--max-args", "--max-procs", "--max-chars")
    ),
    "time": _simple_wrapper("fo", ("--format", "--output")),
    "strace": _strace,
    "ltrace": _simple_wrapper("aADeEFlnopsSuwx", ("--output",)),
    "busybox": _simple_wrapper(),
    "toybox": _simple_wrapper(),
    "unbuffer": _simple_wrapper(),
    "nsenter": _simple_wrapper("tSG", ("--target", "--setuid", "--setgid")),
    "unshare": _simple_wrapper("SGRwC", ("--setuid", "--setgid", "--root", "--wd")),
    "proxychains": _simple_wrapper("f"),
    "proxychains4": _simple_wrapper("f"),
    "torsocks": _simple_wrapper("uapP"),
    "catchsegv": _simple_wrapper(),
    "flock": _with_command_option(("-c", "--command"), "flock", positional=1),
    "su": _with_command_option(("-c", "--command"), "su"),
    "runuser": _with_command_option(("-c", "--command"), "runuser"),
    "script": _with_command_option(("-c", "--command"), "script"),
    "watch": _watch,
}

# ----------------------------------------------------------------------------- program rules

_Handler = Callable[["Analysis", str, list[Word], list[Redirect], str, Text], int]


def _operands(
    args: list[Word], short_values: str = "", long_values: Collection[str] = ()
) -> tuple[list[str], list[Word]]:
    """Split arguments into option strings and operands (options may appear anywhere, GNU style)."""
    options: list[str] = []
    operands: list[Word] = []
    i, n = 0, len(args)
    while i < n:
        v = args[i].value
        if v == "--":
            operands.extend(args[i + 1 :])
            break
        if len(v) > 1 and v[0] == "-":
            options.append(v)
            if v[1] == "-":
                if "=" not in v and v in long_values and i + 1 < n:
                    options.append(args[i + 1].value)
                    i += 1
            elif v[-1] in short_values and i + 1 < n and not any(c in short_values for c in v[1:-1]):
                options.append(args[i + 1].value)
                i += 1
        else:
            operands.append(args[i])
        i += 1
    return options, operands


def _has_short(options: list[str], letters: str) -> bool:
    return any(o.startswith("-") and not o.startswith("--") and any(c in o[1:] for c in letters) for o in options)


def _rm(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    options, operands = _operands(args)
    if "--no-preserve-root" in options:
        a.add("command-destructive-delete", f"rm with --no-preserve-root: {excerpt}", loc)
        return 0
    recursive = _has_short(options, "rR") or "--recursive" in options
    if recursive and any(root_class(w.value) for w in operands):
        a.add("command-destructive-delete", f"recursive delete of a system or home directory: {excerpt}", loc)
    return 0


def _find(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    i, n = 0, len(args)
    while i < n and (args[i].value in ("-H", "-L", "-P") or args[i].value.startswith(("-D", "-O"))):
        i += 2 if args[i].value == "-D" else 1
    starts: list[str] = []
    while i < n and not args[i].value.startswith(("-", "(", "!")):
        starts.append(args[i].value)
        i += 1
    deletes = False
    mask = 0
    while i < n:
        v = args[i].value
        if v == "-delete":
            deletes = True
        elif v in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < n and args[j].value not in (";", "+"):
                j += 1
            sub = args[i + 1 : j]
            if sub:
                deletes = deletes or basename(sub[0].value) in ("rm", "shred", "unlink")
                mask |= a.embedded_argv(sub, loc, f"find {v}", excerpt)
            i = j
        elif v in ("-fprint", "-fprint0", "-fprintf", "-fls") and i + 1 < n:
            why = config_target(args[i + 1].value)
            if why is not None:
                a.add("command-writes-system-config", f"find writes into {why}: {excerpt}", loc)
        i += 1
    if deletes and any(root_class(s) for s in starts):
        a.add("command-destructive-delete", f"find deletes across a system or home directory: {excerpt}", loc)
    return mask


def _dd(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    for w in args:
        if w.value.startswith("of="):
            target = w.value[3:]
            if BLOCK_DEVICE.match(target):
                a.add("command-destructive-delete", f"dd overwrites the disk device {target}: {excerpt}", loc)
            why = config_target(target)
            if why is not None:
                a.add("command-writes-system-config", f"dd writes into {why}: {excerpt}", loc)
    return 0


def disk(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    if any(BLOCK_DEVICE.match(w.value) for w in args):
        a.add("command-destructive-delete", f"{name} destroys data on a disk device: {excerpt}", loc)
    return 0


def _chmod(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    options: list[str] = []
    operands: list[str] = []
    for w in args:
        v = w.value
        # A symbolic mode such as -w or -x looks like an option; chmod treats it as the mode.
        if v.startswith("-") and not re.fullmatch(r"-[rwxXst]+", v):
            options.append(v)
        else:
            operands.append(v)
    if not operands or any(o.startswith("--reference") for o in options):
        return 0
    mode = operands[0]
    recursive = " recursively" if _has_short(options, "R") or "--recursive" in options else ""
    world, setid = _mode_bits(mode)
    if world:
        a.add("command-chmod-world-writable", f"makes files world-writable{recursive} ({mode}): {excerpt}", loc)
    if setid:
        a.add("command-chmod-setuid", f"sets the set-user/group-ID bit{recursive} ({mode}): {excerpt}", loc)
    return 0


def _mode_bits(mode: str) -> tuple[bool, bool]:
    """``(world-writable, set-id)`` for a chmod mode, octal or symbolic."""
    if re.fullmatch(r"[0-7]{1,5}", mode):
        bits = int(mode, 8)
        return bool(bits & 0o002), bool(bits & 0o6000)
    world = setid = False
    for clause in mode.split(","):
        m = re.fullmatch(r"([ugoa]*)((?:[-+=][rwxXstugo]*)+)", clause)
        if m is None:
            continue
        who = m.group(1)
        for op, perms in re.findall(r"([-+=])([rwxXstugo]*)", m.group(2)):
            if op == "-":
                continue
            if "w" in perms and ("o" in who or "a" in who):
                world = True
            if "s" in perms and (not who or "u" in who or "g" in who or "a" in who):
                setid = True
    return world, setid


def _writes(a: Analysis, targets: list[str], loc: str, excerpt: Text, verb: str) -> None:
    for target in targets:
        why = config_target(target)
        if why is not None:
            a.add("command-writes-system-config", f"{verb} into {why}: {excerpt}", loc)


def _tee(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    _, operands = _operands(args)
    _writes(a, [w.value for w in operands], loc, excerpt, "tee writes")
    return 0


def _copy(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    short_values = {"cp": "St", "mv": "St", "install": "mogtS", "ln": "tS", "rsync": "efT"}.get(name, "")
    long_values = ("--target-directory", "--suffix", "--mode", "--owner", "--group", "--rsh", "--rsync-path")
    options, operands = _operands(args, short_values, long_values)
    targets: list[str] = []
    for i, o in enumerate(options):
        if o in ("-t", "--target-directory") and i + 1 < len(options):
            targets.append(options[i + 1])
        elif o.startswith("--target-directory="):
            targets.append(o.partition("=")[2])
        elif o.startswith("-t") and len(o) > 2 and not o.startswith("--"):
            targets.append(o[2:])
        if name == "rsync":
            value = None
            if o == "-e" and i + 1 < len(options):
                value = options[i + 1]
            elif o.startswith("--rsh="):
                value = o.partition("=")[2]
            elif o == "--rsh" and i + 1 < len(options):
                value = options[i + 1]
            if value is not None:
                a.nested(value, loc, "rsync -e")
    if not targets:
        if name == "install" and _has_short(options, "d"):
            targets = [w.value for w in operands]
        elif len(operands) >= 2:
            targets = [operands[-1].value]
    if name == "rsync":
        targets = [t for t in targets if ":" not in t]
    _writes(a, targets, loc, excerpt, f"{name} writes")
    return 0


_SED_E: Final = re.compile(
    r"(?:^|[;\n{])\s*(?:(?:\d+|\$|/(?:[^/\\\n]|\\.)*/)(?:\s*,\s*(?:\d+|\$|/(?:[^/\\\n]|\\.)*/))?\s*!?\s*)?"
    r"e(?:[ \t]+([^;\n}]+)|\s*(?=$|[;\n}]))"
)
_SED_S_E: Final = re.compile(r"(?:^|[;\n{])\s*s(.)(?:(?!\1)[^\\]|\\.)*\1(?:(?!\1)[^\\]|\\.)*\1[gpIiMm0-9]*e")


def _sed(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    scripts: list[str] = []
    files: list[str] = []
    in_place = False
    have_script = False
    i, n = 0, len(args)
    while i < n:
        v = args[i].value
        if v in ("-e", "--expression") and i + 1 < n:
            scripts.append(args[i + 1].value)
            have_script = True
            i += 2
            continue
        if v.startswith("--expression="):
            scripts.append(v.partition("=")[2])
            have_script = True
        elif v in ("-f", "--file", "-l", "--line-length"):
            have_script = have_script or v in ("-f", "--file")
            i += 2
            continue
        elif v.startswith(("--in-place", "-i")) or (v[:1] == "-" and v[1:2] != "-" and "i" in v and "e" not in v):
            in_place = True
        elif v.startswith("-") and len(v) > 1:
            pass
        elif not have_script:
            scripts.append(v)
            have_script = True
        else:
            files.append(v)
        i += 1
    for script in scripts:
        for m in _SED_E.finditer(script):
            if m.group(1):
                a.nested(m.group(1).strip(), loc, "sed e")
            else:
                a.add("command-non-literal-name", f"sed runs lines of its input as commands: {excerpt}", loc)
        if _SED_S_E.search(script):
            a.add("command-non-literal-name", f"sed runs substitution results as commands: {excerpt}", loc)
    if in_place:
        _writes(a, files, loc, excerpt, "sed -i edits")
    return 0


def _touch(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    _, operands = _operands(args, "srdt" if name == "truncate" else "dtr", ("--size", "--reference", "--date"))
    _writes(a, [w.value for w in operands], loc, excerpt, f"{name} writes")
    return 0


def _accounts(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    options, _ = _operands(args)
    if name == "crontab" and (_has_short(options, "lr") or "-e" in options):
        return 0
    if name == "passwd" and not args:
        return 0
    a.add("command-writes-system-config", f"{name} changes accounts, authentication or scheduled jobs: {excerpt}", loc)
    return 0


def _download(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    urls = [w.value for w in args if "://" in w.value]
    outputs: list[str] = []
    i, n = 0, len(args)
    while i < n:
        v = args[i].value
        nxt = args[i + 1].value if i + 1 < n else None
        if name == "curl":
            if v in ("-o", "--output") and nxt is not None:
                outputs.append(nxt)
                i += 1
            elif v.startswith("-") and not v.startswith("--"):
                if "O" in v[1:]:
                    outputs.extend(u.rstrip("/").rsplit("/", 1)[-1].split("?")[0] for u in urls)
                if "o" in v[1:]:
                    at = v.index("o")
                    if at == len(v) - 1 and nxt is not None:
                        outputs.append(nxt)
                        i += 1
                    elif at < len(v) - 1:
                        outputs.append(v[at + 1 :])
            elif v == "--remote-name":
                outputs.extend(u.rstrip("/").rsplit("/", 1)[-1].split("?")[0] for u in urls)
        elif name == "wget":
            if v.startswith("--output-document="):
                outputs.append(v.partition("=")[2])
            elif v == "--output-document" and nxt is not None:
                outputs.append(nxt)
                i += 1
            elif v.startswith("-") and not v.startswith("--") and "O" in v:
                at = v.index("O")
                if at == len(v) - 1 and nxt is not None:
                    outputs.append(nxt)
                    i += 1
                else:
                    outputs.append(v[at + 1 :])
        i += 1
    if name == "wget" and not outputs:
        outputs.extend(u.rstrip("/").rsplit("/", 1)[-1].split("?")[0] for u in urls)
    for out in outputs:
        a.produce(out, DOWNLOAD)
    return DOWNLOAD


def _netcat(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    for w in args:
        v = w.value
        if v.startswith(("--exec", "--sh-exec", "--lua-exec")) or (
            v.startswith("-") and not v.startswith("--") and v[-1] in "ec" and len(v) > 1
        ):
            a.add("command-reverse-shell", f"{name} runs a program on a network connection: {excerpt}", loc)
            break
    return NET


def _socat(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    if any(re.search(r"(?:^|[!,])(?:exec|system):", w.value, re.IGNORECASE) for w in args):
        a.add("command-reverse-shell", f"socat connects a program to an address: {excerpt}", loc)
    return NET


def _net(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    return NET


def _openssl(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    values = [w.value for w in args]
    if values and values[0] in ("s_client", "s_server"):
        return NET
    if values and (values[0] == "base64" or (values[0] == "enc" and ("-base64" in values or "-a" in values))):
        return DECODE if "-d" in values else 0
    return 0


def _decoder(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    options, _ = _operands(args)
    if name == "uudecode":
        return DECODE
    if name == "xxd":
        return DECODE if _has_short(options, "r") or "-revert" in options else 0
    return DECODE if _has_short(options, "dD") or "--decode" in options else 0


def _eval(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    if not args:
        return 0
    text = " ".join(w.value for w in args)
    mask = 0
    for w in args:
        mask |= w.mask
    return a.exec_string(Word(text, text, all(w.known for w in args), False, mask), loc, excerpt, "eval")


def _source(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    if not args:
        return 0
    if args[0].value in STDIN_PATHS:
        fed = a.stdin_program(redirects, loc, excerpt, "sh")
        return EXEC_STDIN if fed is None else SHELL_IO if fed == "file" else 0
    a.script_operand(args[0], loc, excerpt)
    return 0


def _export(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    for w in args:
        if not w.value.startswith("-") and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", w.value):
            var, _, value = w.value.partition("=")
            a.assign(var, Word(value, value, w.known, w.dynamic, w.mask), loc, excerpt, persist=True)
    return 0


def _awk(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    programs: list[Word] = []
    from_file = False
    i, n = 0, len(args)
    while i < n:
        v = args[i].value
        if v == "--":
            i += 1
            break
        if v in ("-f", "--file"):
            from_file = True
            i += 2
            continue
        if v in ("-e", "--source") and i + 1 < n:
            programs.append(args[i + 1])
            i += 2
            continue
        if v in ("-F", "-v", "--assign", "--field-separator"):
            i += 2
            continue
        if v.startswith("-") and len(v) > 1:
            i += 1
            continue
        break
    if not programs and not from_file and i < n:
        programs.append(args[i])
    for program in programs:
        if program.known:
            a.inline(program.value, "awk", loc, excerpt, name)
        elif not a.exec_mask(program, loc, excerpt):
            a.add("command-non-literal-name", f"{name} runs a program built at run time: {excerpt}", loc)
    return 0


_VIM_SHELL: Final = re.compile(r"(?:sh|she|shel|shell|ter|term|termi|termin|termina|terminal)\b")
_VIM_LANG: Final = re.compile(r"(py3?|python3?|pyx|pythonx|lua|perl|ruby|rub|pe)\b\s*(.*)", re.S)
_VIM_READ: Final = re.compile(r"(?:r|re|rea|read|w|wr|wri|writ|write)\s*!(.*)", re.S)


def _vim(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    commands: list[str] = []
    for i, w in enumerate(args):
        v = w.value
        if v in ("-c", "--cmd") and i + 1 < len(args):
            commands.append(args[i + 1].value)
        elif v.startswith("+") and len(v) > 1:
            commands.append(v[1:])
    for command in commands:
        c = command.lstrip(": ")
        m = _VIM_LANG.match(c)
        if c.startswith("!"):
            a.nested(c[1:], loc, f"{name} :!")
        elif _VIM_SHELL.match(c):
            a.add("command-shell-escape", f"{name} opens a shell: {excerpt}", loc)
        elif (r := _VIM_READ.match(c)) is not None:
            a.nested(r.group(1), loc, f"{name} :r !")
        elif m is not None:
            lang = {"py": "python", "py3": "python", "python": "python", "python3": "python", "pyx": "python",
                    "pythonx": "python", "rub": "ruby", "pe": "perl"}.get(m.group(1), m.group(1))  # fmt: skip
            a.inline(m.group(2), lang, loc, excerpt, f"{name} :{m.group(1)}")
        else:
            a.inline(c, "vim", loc, excerpt, name)
    return 0


def _pager(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    for i, w in enumerate(args):
        v = w.value
        if name == "man":
            value = None
            if v in ("-P", "--pager", "-H", "--html") and i + 1 < len(args):
                value = args[i + 1].value
            elif v.startswith(("--pager=", "--html=")):
                value = v.partition("=")[2]
            if value:
                a.nested(value, loc, "man pager")
        elif v.startswith("+"):
            command = v.lstrip("+")
            if command.startswith("!"):
                a.nested(command[1:], loc, f"{name} !")
    return 0


def _git_config(a: Analysis, key: str, value: str, loc: str, excerpt: Text) -> None:
    k = key.lower()
    if k == "core.hookspath":
        a.add("command-loader-injection", f"points git's hooks at another directory: {excerpt}", loc)
        return
    if k in _GIT_COMMAND_KEYS or _GIT_COMMAND_PATTERN.fullmatch(k):
        if k.startswith(("alias.", "credential.")) and not value.startswith("!"):
            return
        if k == "core.fsmonitor" and value.lower() in ("true", "false", "0", "1", ""):
            return
        a.nested(value[1:] if value.startswith("!") else value, loc, f"git {key}")


def _git(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    i, n = 0, len(args)
    while i < n:
        v = args[i].value
        if v == "-c" and i + 1 < n:
            key, _, value = args[i + 1].value.partition("=")
            _git_config(a, key, value, loc, excerpt)
            i += 2
            continue
        if v in ("-C", "--git-dir", "--work-tree", "--namespace", "--config-env", "--exec-path") and i + 1 < n:
            i += 2
            continue
        if v.startswith("-"):
            i += 1
            continue
        break
    sub = args[i].value if i < n else ""
    rest = args[i + 1 :]
    for j, w in enumerate(rest):
        v = w.value
        for prefix in ("--upload-pack=", "--receive-pack=", "--exec="):
            if v.startswith(prefix):
                a.nested(v[len(prefix) :], loc, f"git {sub}")
        if v in ("--upload-pack", "--receive-pack", "-u") and sub in ("clone", "fetch", "ls-remote", "pull", "push") \
                and j + 1 < len(rest):  # fmt: skip
            a.nested(rest[j + 1].value, loc, f"git {sub}")
        if v.startswith("ext::"):
            a.nested(v[5:], loc, "git ext:: transport")
    if sub == "config":
        values = [w.value for w in rest if not w.value.startswith("-")]
        if len(values) >= 2:
            _git_config(a, values[0], values[1], loc, excerpt)
    return 0


def _ssh(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    for i, w in enumerate(args):
        v = w.value
        option = None
        if v == "-o" and i + 1 < len(args):
            option = args[i + 1].value
        elif v.startswith("-o") and len(v) > 2:
            option = v[2:]
        elif v == "-S" and name in ("scp", "sftp") and i + 1 < len(args):
            a.embedded_argv([args[i + 1]], loc, f"{name} -S", excerpt)
        if option is None:
            continue
        m = re.match(r"\s*(\w+)\s*(?:=|\s)\s*(.*)", option, re.S)
        if m is None:
            continue
        key, value = m.group(1).lower(), m.group(2)
        if key == "proxycommand":
            a.nested("exec " + value, loc, f"{name} ProxyCommand")
        elif key in ("localcommand", "knownhostscommand"):
            a.nested(value, loc, f"{name} {m.group(1)}")
    return 0


def _zip(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    for i, w in enumerate(args):
        if w.value in ("-TT", "--unzip-command") and i + 1 < len(args):
            a.nested(args[i + 1].value, loc, "zip -TT")
        elif w.value.startswith("--unzip-command="):
            a.nested(w.value.partition("=")[2], loc, "zip -TT")
    return 0


_TAR_COMMAND_OPTIONS: Final = (
    "--to-command", "--use-compress-program", "--info-script", "--new-volume-script", "--rsh-command",
)  # fmt: skip


def _tar(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    extract = False
    directory: str | None = None
    for i, w in enumerate(args):
        v = w.value
        nxt = args[i + 1].value if i + 1 < len(args) else None
        old_style = i == 0 and not v.startswith("-")  # tar xzf a.tgz
        if (old_style and "x" in v) or v in ("--extract", "--get") or (v[:1] == "-" and v[1:2] != "-" and "x" in v):
            extract = True
        if v.startswith("--checkpoint-action="):
            action = v.partition("=")[2]
            if action.startswith("exec="):
                a.nested(action[5:], loc, "tar --checkpoint-action")
        elif v == "--checkpoint-action" and nxt is not None and nxt.startswith("exec="):
            a.nested(nxt[5:], loc, "tar --checkpoint-action")
        for option in _TAR_COMMAND_OPTIONS:
            if v.startswith(option + "="):
                a.nested(v[len(option) + 1 :], loc, f"tar {option}")
            elif v == option and nxt is not None:
                a.nested(nxt, loc, f"tar {option}")
        if v in ("-I", "-F") and nxt is not None:
            a.nested(nxt, loc, f"tar {v}")
        elif v.startswith("-I") and len(v) > 2:
            a.nested(v[2:], loc, "tar -I")
        if v in ("-C", "--directory") and nxt is not None:
            directory = nxt
        elif v.startswith("--directory="):
            directory = v.partition("=")[2]
    if extract and directory is not None:
        _writes(a, [directory + "/x"], loc, excerpt, "tar extracts")
    return 0


def _gdb(a: Analysis, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text) -> int:
    for i, w in enumerate(args):
        v = w.value
        command = None
        if v in ("-ex", "--ex", "-iex", "--iex", "-eval-command", "--eval-command") and i + 1 < len(args):
            command = args[i + 1].value
        elif v.startswith(("--eval-command=", "-eval-command=")):
            command = v.partition("=")[2]
        elif v == "--args" and i + 1 < len(args):
            return a.embedded_argv(args[i + 1 :], loc, None, excerpt)
        if command is None:
            continue
        c = command.strip()
        if c.startswith("!"):
            a.nested(c[1:], loc, "gdb !")
        elif c.startswith("shell"):
            a.nested(c[5:], loc, "gdb shell")
        elif c.startswith(("python ", "py ", "pi ")):
            a.inline(c.split(" ", 1)[1], "python", loc, excerpt, "gdb python")
    return 0


PROGRAMS: Final[dict[str, _Handler]] = {
    "rm": _rm,
    "find": _find,
    "dd": _dd,
    "shred": disk,
    "wipefs": disk,
    "sgdisk": disk,
    "chmod": _chmod,
    "tee": _tee,
    "cp": _copy,
    "mv": _copy,
    "install": _copy,
    "ln": _copy,
    "rsync": _copy,
    "sed": _sed,
    "touch": _touch,
    "truncate": _touch,
    "crontab": _accounts,
    "useradd": _accounts,
    "usermod": _accounts,
    "passwd": _accounts,
    "chpasswd": _accounts,
    "visudo": _accounts,
    "chsh": _accounts,
    "curl": _download,
    "wget": _download,
    "fetch": _download,
    "aria2c": _download,
    "lwp-download": _download,
    "lwp-request": _download,
    "GET": _download,
    "http": _download,
    "https": _download,
    "xh": _download,
    "tftp": _download,
    "nc": _netcat,
    "netcat": _netcat,
    "ncat": _netcat,
    "nc.traditional": _netcat,
    "nc.openbsd": _netcat,
    "socat": _socat,
    "telnet": _net,
    "openssl": _openssl,
    "base64": _decoder,
    "base32": _decoder,
    "basenc": _decoder,
    "xxd": _decoder,
    "uudecode": _decoder,
    "eval": _eval,
    "source": _source,
    ".": _source,
    "export": _export,
    "declare": _export,
    "typeset": _export,
    "local": _export,
    "readonly": _export,
    "awk": _awk,
    "gawk": _awk,
    "mawk": _awk,
    "nawk": _awk,
    "vim": _vim,
    "vi": _vim,
    "nvim": _vim,
    "view": _vim,
    "vimdiff": _vim,
    "rvim": _vim,
    "ex": _vim,
    "vim.tiny": _vim,
    "vim.basic": _vim,
    "less": _pager,
    "more": _pager,
    "most": _pager,
    "man": _pager,
    "git": _git,
    "ssh": _ssh,
    "scp": _ssh,
    "sftp": _ssh,
    "zip": _zip,
    "tar": _tar,
    "gdb": _gdb,
}
