"""Path checks: traversal out of a base directory, sensitive locations, symlink escapes.

:func:`analyse_path` is lexical (no IO): it normalises the path as the kernel would walk it
without symlinks and reports ``..`` escapes and well-known secret or start-up locations.
:func:`check_no_symlink_escape` does the IO half: it walks an existing path one component at
a time from a directory descriptor with ``O_NOFOLLOW`` and follows each symlink itself, so a
link that leaves the base is reported, whatever the race. The runner still binds declared
paths by descriptor (ARCHITECTURE.md step 6); this check explains a denial, it does not
replace that.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Collection
from typing import Final

from sealgate.checks._finding import Finding, make, merge_findings
from sealgate.errors import UsageError

__all__ = ["MAX_PATH_CHARS", "analyse_path", "check_no_symlink_escape", "normalise_path", "sensitive_reason"]

MAX_PATH_CHARS: Final = 4096  # PATH_MAX
_MAX_SYMLINKS: Final = 40  # the kernel's own limit (MAXSYMLINKS)

_HOME_PREFIXES: Final = ("$HOME", "${HOME}")


def normalise_path(path: str) -> str:
    """Lexically normalise ``path``: ``~``, ``$HOME`` and ``${HOME}`` become ``~``; ``.``, ``//``
    and ``..`` are folded (``..`` never climbs above ``/`` or ``~``; a relative path keeps its
    leading ``..``). No symlink is resolved and nothing is read.
    """
    for prefix in _HOME_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            path = "~" + path[len(prefix) :]
            break
    if path.startswith("/"):
        root = "/"
    elif path == "~" or path.startswith("~/"):
        root = "~/"
    elif path.startswith("~") and "/" in path:
        root = path[: path.index("/") + 1]  # ~user/
    elif path.startswith("~"):
        return path
    else:
        root = ""
    parts: list[str] = []
    for part in path[len(root) :].split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not root:
                parts.append("..")
            continue
        parts.append(part)
    if root == "/":
        return "/" + "/".join(parts)
    if root:
        return (root + "/".join(parts)).rstrip("/") if parts else root.rstrip("/")
    return "/".join(parts) or "."


def _within(target: str, base: str) -> bool:
    if base in ("/", "~") and target.startswith(base):
        return True
    return target == base or target.startswith(base.rstrip("/") + "/")


# Directories whose contents are secrets or start-up code, matched as a component anywhere.
_SENSITIVE_DIRS: Final = {
    ".ssh": "SSH keys and configuration",
    ".aws": "AWS credentials",
    ".gnupg": "GnuPG keys",
    ".kube": "Kubernetes credentials",
    ".azure": "Azure credentials",
    ".password-store": "pass password store",
    ".vault-token": "Vault token",
}
# File names that are secrets or are read by a shell at start-up, matched as a component.
SHELL_RC_FILES: Final = frozenset(
    {
        ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zshenv", ".zprofile",
        ".zlogin", ".zlogout", ".kshrc", ".mkshrc", ".cshrc", ".tcshrc", ".login", ".logout", ".xprofile",
        ".xinitrc", ".xsessionrc", ".inputrc",
    }
)  # fmt: skip
_SENSITIVE_FILES: Final = {
    ".netrc": "network credentials",
    ".git-credentials": "git credentials",
    ".pgpass": "PostgreSQL passwords",
    ".my.cnf": "MySQL credentials",
    ".npmrc": "npm credentials",
    ".pypirc": "PyPI credentials",
    ".env": "application secrets",
    ".envrc": "direnv start-up code",
    ".bash_history": "shell history",
    ".zsh_history": "shell history",
    ".python_history": "interpreter history",
}
# Two-component sequences matched anywhere.
_SENSITIVE_PAIRS: Final = {
    (".docker", "config.json"): "Docker registry credentials",
    (".git", "hooks"): "git hooks (code run by git)",
    (".git", "config"): "git configuration (can name commands git runs)",
    (".config", "gcloud"): "Google Cloud credentials",
    (".config", "gh"): "GitHub CLI credentials",
    (".config", "fish"): "fish start-up code",
    (".config", "autostart"): "desktop autostart entries",
    (".config", "systemd"): "user systemd units",
}
# Absolute prefixes.
_SENSITIVE_ABSOLUTE: Final = (
    ("/etc/shadow", "password hashes"),
    ("/etc/gshadow", "group password hashes"),
    ("/etc/passwd", "the account database"),
    ("/etc/sudoers", "sudo rules"),
    ("/etc/sudoers.d", "sudo rules"),
    ("/etc/ssh", "SSH host keys and daemon configuration"),
    ("/etc/ld.so.preload", "libraries preloaded into every process"),
    ("/etc/ld.so.conf", "the dynamic loader's search path"),
    ("/etc/pam.d", "authentication modules"),
    ("/etc/security", "authentication limits and access rules"),
    ("/etc/crontab", "scheduled commands"),
    ("/etc/cron.d", "scheduled commands"),
    ("/etc/profile", "login shell start-up code"),
    ("/etc/bash.bashrc", "shell start-up code"),
    ("/etc/environment", "the login environment"),
    ("/etc/systemd", "system services"),
    ("/root", "the administrator's home"),
    ("/boot", "the boot loader and kernels"),
    ("/dev/mem", "physical memory"),
    ("/dev/kmem", "kernel memory"),
    ("/dev/port", "I/O ports"),
    ("/proc/kcore", "kernel memory"),
    ("/proc/sysrq-trigger", "kernel SysRq actions"),
    ("/sys/kernel", "kernel controls"),
    ("/var/run/docker.sock", "the Docker daemon (root on the host)"),
    ("/run/docker.sock", "the Docker daemon (root on the host)"),
    ("/run/containerd", "the container runtime"),
    ("/var/spool/cron", "scheduled commands"),
)
_PROC_PID_FILES: Final = {"mem": "process memory", "environ": "process environment (secrets)", "root": "process root"}


def sensitive_reason(normalised: str) -> str | None:
    """Why a normalised path is a sensitive location, or ``None``."""
    for prefix, why in _SENSITIVE_ABSOLUTE:
        if normalised == prefix or normalised.startswith(prefix + "/"):
            return f"{prefix} ({why})"
    parts = normalised.split("/")
    if len(parts) >= 4 and parts[0] == "" and parts[1] == "proc" and parts[3] in _PROC_PID_FILES:
        return f"/proc/{parts[2]}/{parts[3]} ({_PROC_PID_FILES[parts[3]]})"
    for i, part in enumerate(parts):
        named = _SENSITIVE_DIRS.get(part) or _SENSITIVE_FILES.get(part)
        if named is not None:
            return f"{part} ({named})"
        if part.startswith(".env."):
            return f"{part} (application secrets)"
        if part in SHELL_RC_FILES:
            return f"{part} (shell start-up code)"
        if i + 1 < len(parts):
            pair = _SENSITIVE_PAIRS.get((part, parts[i + 1]))
            if pair is not None:
                return f"{part}/{parts[i + 1]} ({pair})"
    return None


def _listed(target: str, entries: Collection[str]) -> bool:
    return any(_within(target, normalise_path(entry)) for entry in entries)


def analyse_path(
    path: str, *, base: str | None = None, allow: Collection[str] | None = None, deny: Collection[str] = ()
) -> list[Finding]:
    """Findings for a path a tool wants to use, without touching the file system.

    With ``base``, a relative path is joined to it and must stay inside it after ``..`` is
    folded; an absolute (or ``~``) path must lie inside it too. Without ``base``, a relative
    path must not climb above its starting directory. ``allow`` / ``deny`` are the policy's
    ``paths`` lists: entries are path prefixes matched component by component.
    """
    if isinstance(allow, str) or isinstance(deny, str):
        raise UsageError("analyse_path: allow and deny are collections of path prefixes, not one string")
    if not isinstance(path, str) or not path or "\x00" in path or len(path) > MAX_PATH_CHARS:
        shown = repr(path)[:80]
        return [make("path-invalid", f"path {shown} is empty, too long or contains NUL", None)]
    findings: list[Finding] = []
    norm = normalise_path(path)
    target = norm
    if base is not None:
        nbase = normalise_path(base)
        if not norm.startswith(("/", "~")):
            target = normalise_path(nbase + "/" + path)
        if not _within(target, nbase):
            findings.append(make("path-traversal", f"path {path!r} resolves to {target}, outside {nbase}", path))
    elif norm == ".." or norm.startswith("../"):
        findings.append(make("path-traversal", f"path {path!r} climbs above the directory it is relative to", path))
    why = sensitive_reason(target) or (sensitive_reason(norm) if norm != target else None)
    if why is not None:
        findings.append(make("path-sensitive", f"path {path!r} is a sensitive location: {why}", path))
    if deny and _listed(target, deny):
        findings.append(make("path-denied", f"path {path!r} is under an entry of the policy's paths deny-list", path))
    if allow is not None and not _listed(target, allow):
        findings.append(make("path-not-allowed", f"path {path!r} is not under the policy's paths allow-list", path))
    return merge_findings(findings)


_O_PATH: Final = getattr(os, "O_PATH", 0)
_O_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
# O_PATH opens without reading (a FIFO cannot block, a device is not touched); where it does
# not exist, O_NONBLOCK keeps a FIFO from blocking the open.
_WALK_FLAGS: Final = (_O_PATH or os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)) | _O_NOFOLLOW | _O_CLOEXEC


def check_no_symlink_escape(base: str | os.PathLike[str], rel: str) -> list[Finding]:
    """Walk ``base/rel`` as it exists now and report a symlink that leaves ``base``.

    Each component is opened relative to its parent's descriptor with ``O_NOFOLLOW``; a
    symlink is read with ``readlink`` and its target walked in its place (at most 40, like
    the kernel). An absolute target, or a ``..`` that climbs above ``base``, is
    ``path-symlink-escape``. The walk stops quietly where the path does not exist yet. A
    component that cannot be opened for another reason is ``path-unverifiable`` (fail
    closed: the check could not prove the path stays inside).
    """
    if not isinstance(rel, str) or "\x00" in rel or len(rel) > MAX_PATH_CHARS:
        return [make("path-invalid", f"path {repr(rel)[:80]} is not a string, too long or contains NUL", None)]
    if rel.startswith("/"):
        return [make("path-traversal", f"path {rel!r} is absolute, not relative to the base", rel)]
    try:
        root = os.open(base, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except OSError as exc:
        return [make("path-unverifiable", f"base directory {os.fspath(base)!r} cannot be opened: {exc.strerror}", rel)]
    stack = [root]  # descriptors of the directories walked so far, base first
    # Components still to walk, last first, each with the symlink it came from (None: from rel).
    pending: list[tuple[str, str | None]] = [(p, None) for p in reversed(rel.split("/")) if p not in ("", ".")]
    hops = 0
    findings: list[Finding] = []
    try:
        while pending:
            part, via = pending.pop()
            if part == "..":
                if len(stack) == 1:
                    if via is None:
                        findings.append(make("path-traversal", f"path {rel!r} climbs above the base directory", rel))
                    else:
                        why = f"symlink {via!r} in {rel!r} leads above the base directory"
                        findings.append(make("path-symlink-escape", why, rel))
                    break
                os.close(stack.pop())
                continue
            try:
                fd = os.open(part, _WALK_FLAGS, dir_fd=stack[-1])
            except FileNotFoundError:
                break  # the rest does not exist yet: nothing to follow
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a symlink, on systems without O_PATH
                    fd = -1
                elif exc.errno == errno.ENOTDIR:
                    break
                else:
                    findings.append(make("path-unverifiable", f"cannot open {part!r} in {rel!r}: {exc.strerror}", rel))
                    break
            mode = stat.S_IFLNK if fd < 0 else os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                if fd >= 0:
                    os.close(fd)
                hops += 1
                if hops > _MAX_SYMLINKS:
                    findings.append(make("path-symlink-escape", f"path {rel!r} has more than 40 symlinks", rel))
                    break
                target = os.readlink(part, dir_fd=stack[-1])
                if target.startswith("/"):
                    findings.append(
                        make("path-symlink-escape", f"{part!r} in {rel!r} is a symlink to absolute {target!r}", rel)
                    )
                    break
                pending.extend((p, part) for p in reversed(target.split("/")) if p not in ("", "."))
                continue
            if stat.S_ISDIR(mode):
                stack.append(fd)  # the descriptor we checked is the one we walk on from
                continue
            os.close(fd)
            if pending:
                break  # a file in the middle of the path: the kernel would answer ENOTDIR
    except OSError as exc:
        findings.append(make("path-unverifiable", f"walking {rel!r} failed: {exc.strerror}", rel))
    finally:
        for fd in stack:
            os.close(fd)
    return merge_findings(findings)
