"""The command analyser proper: walk a bashlex tree (or an argv list) and report what it would do.

Imported lazily by :func:`sealgate.checks.analyse_command`, because ``bashlex`` alone costs
a hundred milliseconds or more to import. The walk turns every simple command into a list of
words whose value is known where bash's would be (quotes removed, ``$'…'`` decoded,
``${IFS}`` and ``$(echo …)`` folded), peels wrappers (``env``, ``sudo``, ``timeout``, …),
re-parses the shell strings that programs run (``sh -c``, ``find -exec``, ``awk``'s
``system()``, ``vim -c ':!…'``, ``tar --checkpoint-action``, ``python -c``'s ``os.system``,
…), and applies the rules of docs/checks.md. Pipelines carry a small bit mask per stage (this
stage downloads, decodes base64, talks to the network, runs a program read from stdin), so
``curl … | tee f | sh`` is seen for what it is.

This module holds the walk (:class:`Analysis`) and the reading of interpreter inline code;
:mod:`sealgate.checks._shellwords` the word model and shared predicates;
:mod:`sealgate.checks._shellrules` the per-program rules and the wrapper table.

It is a static reading, not an emulator: when a value is not known (``$x`` from nowhere),
the command word is reported as non-literal rather than guessed. Anything bashlex cannot
parse is ``command-unparseable`` (HIGH): fail closed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any, Final

from sealgate.checks._env import loader_variable
from sealgate.checks._finding import Finding, make, merge_findings
from sealgate.checks._shellrules import PROGRAMS, WRAPPERS, disk, interp_options, interpreter
from sealgate.checks._shellwords import (
    BLOCK_DEVICE,
    DECODE,
    DOWNLOAD,
    EXEC_STDIN,
    GLOB,
    LITERAL_NAME,
    NET,
    PLAIN,
    PRODUCERS,
    RESERVED,
    SHELL_IO,
    SHELLS,
    STDIN_PATHS,
    Excerpt,
    Redirect,
    Text,
    Word,
    basename,
    config_target,
    dequote,
    describe,
    expand_words,
    lit,
    only_comments,
    param_name,
    short,
)

__all__ = ["MAX_ARGV", "MAX_COMMAND_CHARS", "Analysis", "run"]

MAX_COMMAND_CHARS: Final = 64 * 1024
MAX_ARGV: Final = 4096
MAX_NESTING: Final = 8  # shell strings inside shell strings (sh -c "sh -c '…'")
MAX_TREE_DEPTH: Final = 100
MAX_COMMANDS: Final = 2000  # simple commands analysed in one call

# Variables whose value is a command line some program will run.
_COMMAND_VARIABLES: Final = frozenset(
    {
        "PAGER", "MANPAGER", "GIT_PAGER", "EDITOR", "VISUAL", "GIT_EDITOR", "SUDO_EDITOR", "GIT_SSH_COMMAND",
        "LESSOPEN", "LESSCLOSE", "BROWSER", "PROMPT_COMMAND", "GIT_PROXY_COMMAND", "GIT_EXTERNAL_DIFF",
    }
)  # fmt: skip


class Stop(Exception):
    """Internal: a bound was exceeded; the finding is already recorded."""


# ----------------------------------------------------------------------------- inline code

_Q: Final = r"""(?:[rRbBuUfF]{0,2})(['"])((?:\\.|(?!\1)[^\\])*)\1"""
_SPAWN_CALLS: Final = {
    "python": re.compile(
        r"(?P<shell>os\.system|os\.popen|subprocess\.getoutput|subprocess\.getstatusoutput|commands\.getoutput)"
        r"|(?P<auto>subprocess\.(?:run|call|check_call|check_output|Popen))"
        r"|(?P<execl>os\.(?:exec|spawn)[lv]p?e?|os\.posix_spawnp?)"
        r"|(?P<program>pty\.spawn)"
    ),
    "perl": re.compile(r"(?<![\w$@%>.])(?P<auto>system|exec)\b"),
    "ruby": re.compile(r"(?<![\w$@.])(?P<auto>system|exec|spawn|IO\.popen|Open3\.\w+)(?![\w])"),
    "php": re.compile(r"(?<![\w$>])(?P<auto>system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\("),
    "node": re.compile(r"(?<![\w$])(?P<node>execSync|exec|spawnSync|spawn|execFileSync|execFile)\s*\("),
    "lua": re.compile(r"(?P<shell>os\.execute|io\.popen)"),
    "awk": re.compile(r"(?P<shell>\bsystem)\s*\("),
    "vim": re.compile(r"(?P<shell>\bsystem(?:list)?)\s*\("),
}
_BACKTICKS: Final = re.compile(r"`([^`]*)`|\bqx\s*[{(\[/|]([^})\]/|]*)|%x\s*[{(\[]([^})\]]*)")
_AWK_PIPES: Final = (
    re.compile(r"""(["'])((?:\\.|(?!\1)[^\\])*)\1\s*\|&?\s*getline"""),
    re.compile(r"""\|&?\s*(["'])((?:\\.|(?!\1)[^\\])*)\1"""),
)
_TCL_SPAWN: Final = re.compile(r"\b(?:spawn|exec)\s+([^;\]\n]+)")
_IN_SOCKET: Final = re.compile(
    r"socket|fsockopen|TCPSocket|UDPSocket|net\.connect|Net\.Sockets|/inet/tcp/|/inet/udp/|IO::Socket|"
    r"stream_socket_client|ztcp",
    re.IGNORECASE,
)
_IN_SPAWN: Final = re.compile(r"exec|spawn|dup2|subprocess|popen|system|/bin/\w*sh|\bsh\b|cmd\.exe|pty", re.I)
_IN_FORK: Final = re.compile(r"\bfork\b")
_IN_LOOP: Final = re.compile(r"\b(?:while|for|loop|until|repeat)\b")
_IN_FETCH: Final = re.compile(
    r"urlopen|urllib|requests\.get|http\.client|httpx|LWP::|HTTP::Tiny|open-uri|Net::HTTP|URI\.open|"
    r"https?\.get\(|fetch\(|file_get_contents\(\s*['\"]https?:|DownloadString|DownloadFile|Invoke-WebRequest|"
    r"\biwr\b|Invoke-RestMethod|\birm\b|socket\.http|curl_exec",
    re.IGNORECASE,
)
_IN_EVAL: Final = re.compile(
    r"\bexec\b|\beval\b|\bIEX\b|Invoke-Expression|\bsystem\b|popen|loadstring|instance_eval|Function\(", re.I
)
_IN_B64: Final = re.compile(
    r"b64decode|base64\.decode|decode_base64|decodebase64|FromBase64String|\batob\(|Base64\.decode|base64_decode|"
    r"unpack\(\s*['\"]m|['\"]base64['\"]",
    re.IGNORECASE,
)
_STRING: Final = re.compile(_Q)


def _literals(code: str, pos: int) -> tuple[str, list[str]] | None:
    """Read the arguments of a call at ``code[pos:]``: ``("string", [s])``, ``("list", [...])``,
    ``("args", [...])`` (several literal arguments) or ``None`` when the first is not literal."""
    n = len(code)
    i = pos
    while i < n and code[i] in " \t(":
        i += 1
    m = _STRING.match(code, i)
    if m is not None:
        first = m.group(2).encode("utf-8", "surrogatepass").decode("unicode_escape", "replace")
        rest: list[str] = []
        j = m.end()
        while j < n and code[j] in " \t,":
            j += 1
            m2 = _STRING.match(code, j)
            if m2 is None:
                break
            rest.append(m2.group(2))
            j = m2.end()
        if j < n and code[j] == "[":  # spawn("sh", ["-i"])
            close = code.find("]", j)
            rest.extend(g[1] for g in _STRING.findall(code[j : close if close >= 0 else n]))
        return ("args", [first, *rest]) if rest else ("string", [first])
    if i < n and code[i] == "[":
        close = code.find("]", i)
        items = [g[1] for g in _STRING.findall(code[i : close if close >= 0 else n])]
        return ("list", items) if items else None
    return None


# ----------------------------------------------------------------------------- the walk


class Analysis:
    """State of one ``analyse_command`` call: findings, the text being walked, what is known so far."""

    def __init__(self, allow: Collection[str] | None, deny: Collection[str]) -> None:
        self.findings: list[Finding] = []
        self.allow = allow
        self.deny = deny
        self.src = ""
        self.outer: str | None = None  # location of the outermost construct while walking nested text
        self.argv_mode = False
        self.nesting = 0
        self.depth = 0
        self.label: str | None = None  # which program spawns the commands being walked (GTFOBins escapes)
        self.piped = False  # stdin of the commands being walked is a pipe, not the caller's terminal
        self.var_masks: dict[str, int] = {}
        self.var_values: dict[str, str] = {}
        self.functions: set[str] = set()
        self.produced: dict[str, int] = {}  # files written by a download or decoder -> DOWNLOAD/DECODE
        self.commands = 0

    # -- bookkeeping

    def add(self, code: str, message: str, loc: str | None) -> None:
        self.findings.append(make(code, message, loc))

    def loc(self, node: Any) -> str:
        if self.outer is not None:
            return self.outer
        start, end = node.pos
        return f"{start}-{end}"

    def excerpt(self, node: Any) -> Excerpt:
        start, end = node.pos
        return Excerpt(self.src, start, end)

    # -- entry points

    def shell(self, text: str) -> None:
        self.src = text
        self._parse_and_walk(text, "0-" + str(len(text)))

    def argv(self, argv: Sequence[str]) -> None:
        self.outer = "argv"
        self.argv_mode = True
        self._simple([lit(a) for a in argv], [], [], "argv", short(" ".join(argv)))

    def nested(self, text: str, loc: str, label: str | None) -> int:
        """Walk a shell string some program will run (``sh -c``, ``find -exec sh -c``, ``system()``)."""
        if self.nesting >= MAX_NESTING:
            self.add("command-unparseable", f"shell strings nested more than {MAX_NESTING} deep", loc)
            return 0
        saved = (self.src, self.outer, self.label, self.argv_mode)
        self.src, self.outer, self.label, self.argv_mode = text, loc, label, False
        self.nesting += 1
        try:
            return self._parse_and_walk(text, loc)
        finally:
            self.nesting -= 1
            self.src, self.outer, self.label, self.argv_mode = saved

    def embedded_argv(
        self, argv: list[Word], loc: str, label: str | None, excerpt: Text, *, literal: bool = False
    ) -> int:
        """Analyse an argv list another program executes directly (``find -exec``, ``os.execl``).

        ``literal``: the items are strings from code (``subprocess.run([...])``), not shell
        words, so no shell expansion applies and the program name must be a plain one.
        """
        saved = (self.label, self.argv_mode)
        self.label = label
        self.argv_mode = self.argv_mode or literal
        try:
            return self._simple(argv, [], [], loc, excerpt)
        finally:
            self.label, self.argv_mode = saved

    def _parse_and_walk(self, text: str, loc: str) -> int:
        if PLAIN.fullmatch(text) is not None:
            plain = self._plain_words(text)
            if plain is not None:
                return plain
        if only_comments(text):
            return 0
        import bashlex  # lazy: importing it costs ~100 ms (its yacc tables are rebuilt)

        try:
            trees = bashlex.parse(text)
        except Exception as exc:  # bashlex raises ParsingError, NotImplementedError and plain errors alike
            why = f"shell text cannot be parsed ({describe(exc)}): {short(text)}"
            self.add("command-unparseable", why, self.outer or loc)
            return 0
        mask = 0
        for tree in trees:
            mask |= self._node(tree)
        return mask

    def _plain_words(self, text: str) -> int | None:
        """Analyse text made of plain words only, without bashlex (about 1% of its cost).

        For such text bash's grammar reduces to splitting on blanks: one simple command, no
        redirection, no expansion. A first word that is a reserved word or an assignment is
        left to bashlex. ``tests/checks/test_command_plain.py`` checks this path against
        bashlex on the corpus and on generated text.
        """
        words = text.split()
        if words[0] in RESERVED or "=" in words[0]:
            return None
        self.commands += 1
        start = text.index(words[0])
        end = len(text.rstrip())
        loc = self.outer if self.outer is not None else f"{start}-{end}"
        return self._simple([Word(w, w) for w in words], [], [], loc, Excerpt(text, start, end))

    # -- tree nodes

    def _node(self, node: Any) -> int:
        self.depth += 1
        try:
            if self.depth > MAX_TREE_DEPTH:
                self.add("command-unparseable", f"shell text nested more than {MAX_TREE_DEPTH} deep", self.loc(node))
                raise Stop
            kind = node.kind
            if kind == "command":
                return self._command(node)
            if kind == "pipeline":
                return self._pipeline(node)
            if kind == "list":
                mask = 0
                for part in node.parts:
                    if part.kind not in ("operator", "reservedword", "pipe"):
                        mask |= self._node(part)
                return mask
            if kind == "compound":
                items = node.list
                if (
                    len(items) > 1
                    and items[0].kind == "reservedword"
                    and items[0].word == "("
                    and items[1].kind == "compound"
                    and items[1].pos[0] == items[0].pos[1]
                ):
                    # "((" is bash's arithmetic command; bashlex reads it as two subshells.
                    why = f"arithmetic command '((' is not supported by the parser: {self.excerpt(node)}"
                    self.add("command-unparseable", why, self.loc(node))
                    return 0
                mask = 0
                for part in node.list:
                    if part.kind not in ("reservedword", "operator"):
                        mask |= self._node(part)
                for redirect in getattr(node, "redirects", ()):
                    self._redirect(self._redir(redirect), self.loc(node))
                return mask
            if kind in ("if", "for", "while", "until"):
                mask = 0
                for part in node.parts:
                    if part.kind == "word":
                        mask |= self._word(part).mask & PRODUCERS
                    elif part.kind not in ("reservedword", "operator"):
                        mask |= self._node(part)
                if kind in ("while", "until"):
                    self._loop_bomb(node, kind)
                return mask
            if kind == "function":
                return self._function(node)
            if kind == "word":
                return self._word(node).mask
            return 0
        finally:
            self.depth -= 1

    def _word(self, node: Any) -> Word:
        start, end = node.pos
        raw = self.src[start:end]
        parts = node.parts
        if not parts:
            # bashlex's own dequoting is wrong for some quote mixes ('a'\''b'); read the source.
            if "'" in raw or '"' in raw or "\\" in raw:
                return Word(dequote(raw), raw, ansi="$'" in raw)
            return Word(raw, raw)
        value: str = node.word
        ansi = "$'" in raw
        mask = 0
        known = True
        dynamic = False
        subs: list[tuple[int, int, str | None]] = []
        for part in parts:
            kind = part.kind
            repl: str | None
            if kind == "parameter":
                pvalue = getattr(part, "value", None)
                if not pvalue:
                    continue  # bashlex's reading of $'…' and $"…", decoded by dequote below
                dynamic = True
                if any(s in pvalue for s in ("$(", "`", "<(", ">(")):
                    mask |= self.nested(": " + pvalue, self.outer or f"{start}-{end}", self.label)
                mask |= self.var_masks.get(param_name(pvalue), 0)
                repl = " " if pvalue == "IFS" else self.var_values.get(pvalue)
            elif kind in ("commandsubstitution", "processsubstitution"):
                dynamic = True
                mask |= self._node(part.command)
                repl = self._echo_value(part.command) if kind == "commandsubstitution" else None
            else:
                continue
            if repl is None:
                known = False
            subs.append((part.pos[0] - start, part.pos[1] - start, repl))
        if known:
            text = raw
            for i, (a, b, _) in enumerate(reversed(subs)):
                text = text[:a] + chr(0xE000 + i) + text[b:]
            value = dequote(text)
            for i, (_, _, repl) in enumerate(reversed(subs)):
                value = value.replace(chr(0xE000 + i), repl or "")
        elif ansi or '$"' in raw:
            value = dequote(raw)
        return Word(value, raw, known, dynamic, mask, ansi, split=bool(subs) and '"' not in raw)

    def _echo_value(self, node: Any) -> str | None:
        """The output of ``echo``/``printf`` with literal words, which obfuscations use to build names."""
        if node.kind != "command" or any(p.kind != "word" or p.parts for p in node.parts):
            return None
        words = [p.word for p in node.parts]
        if not words:
            return None
        if words[0] == "echo":
            args = words[1:]
            while args and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
                args = args[1:]
            return " ".join(args)
        if words[0] == "printf" and len(words) == 2 and "%" not in words[1] and "\\" not in words[1]:
            return str(words[1])
        return None

    def _redir(self, node: Any) -> Redirect:
        output = getattr(node, "output", None)
        target = self._word(output) if getattr(output, "kind", None) == "word" else None
        heredoc = getattr(node, "heredoc", None)
        text = None
        if heredoc is not None:
            lines = str(heredoc.value).split("\n")
            text = "\n".join(lines[:-1]) if len(lines) > 1 else lines[0]
        return (str(node.type), target, text)

    def _command(self, node: Any) -> int:
        self.commands += 1
        if self.commands > MAX_COMMANDS:
            self.add("command-unparseable", f"more than {MAX_COMMANDS} commands to analyse", self.loc(node))
            raise Stop
        words: list[Word] = []
        assigns: list[tuple[str, Word]] = []
        redirects: list[Redirect] = []
        for part in node.parts:
            kind = part.kind
            if kind == "word":
                words.append(self._word(part))
            elif kind == "assignment":
                w = self._word(part)
                name, _, value = w.value.partition("=")
                _, _, raw_value = w.raw.partition("=")
                assigns.append((name.rstrip("+"), Word(value, raw_value, w.known, w.dynamic, w.mask, w.ansi)))
            elif kind == "redirect":
                redirects.append(self._redir(part))
        return self._simple(expand_words(words), assigns, redirects, self.loc(node), self.excerpt(node))

    def _pipeline(self, node: Any) -> int:
        stages = [p for p in node.parts if p.kind not in ("pipe", "reservedword")]
        outer_piped = self.piped
        masks: list[int] = []
        try:
            for i, stage in enumerate(stages):
                self.piped = outer_piped or i > 0
                masks.append(self._node(stage))
        finally:
            self.piped = outer_piped
        loc, excerpt = self.loc(node), self.excerpt(node)
        seen = 0
        for mask in masks:
            if mask & EXEC_STDIN:
                if seen & DOWNLOAD:
                    self.add("command-download-exec", f"pipes a download into an interpreter: {excerpt}", loc)
                if seen & DECODE:
                    self.add("command-base64-exec", f"pipes decoded base64 into an interpreter: {excerpt}", loc)
            seen |= mask
        net = [i for i, m in enumerate(masks) if m & NET]
        shells = [i for i, m in enumerate(masks) if m & (EXEC_STDIN | SHELL_IO)]
        if any(i != j for i in net for j in shells):
            self.add("command-reverse-shell", f"connects a shell to a network socket: {excerpt}", loc)
        return seen

    def _function(self, node: Any) -> int:
        name = str(node.name.word)
        self.functions.add(name)
        self._node(node.body)
        if _spawns_itself(node.body, name):
            self.add(
                "command-fork-bomb", f"function {name!r} starts copies of itself in the background or a pipe: "
                f"{self.excerpt(node)}", self.loc(node)
            )  # fmt: skip
        return 0

    def _loop_bomb(self, node: Any, kind: str) -> None:
        lists = [p for p in node.parts if p.kind == "list" or p.kind == "command"]
        if len(lists) < 2:
            return
        condition = lists[0]
        first = condition if condition.kind == "command" else next(
            (p for p in condition.parts if p.kind == "command"), None
        )  # fmt: skip
        words = [p.word for p in first.parts if p.kind == "word"] if first is not None else []
        forever = ("true", ":") if kind == "while" else ("false",)
        if not words or words[0] not in forever or len(words) > 1:
            return
        body = lists[1]
        parts = body.parts if body.kind == "list" else []
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if nxt.kind == "operator" and nxt.op == "&" and part.kind in ("command", "pipeline", "compound"):
                self.add(
                    "command-fork-bomb", f"an endless loop starts processes in the background: {self.excerpt(node)}",
                    self.loc(node),
                )  # fmt: skip
                return

    # -- simple commands

    def _simple(
        self, words: list[Word], assigns: list[tuple[str, Word]], redirects: list[Redirect], loc: str, excerpt: Text
    ) -> int:
        mask = 0
        for name, w in assigns:
            self.assign(name, w, loc, excerpt, persist=not words)
        for w in words:
            mask |= w.mask & PRODUCERS
        for redirect in redirects:
            self._redirect(redirect, loc)
        via_xargs = False
        while words:
            w0 = words[0]
            if not self._command_word(w0, loc, excerpt):
                return mask
            name = basename(w0.value)
            self._policy(name, w0.value, loc)
            unwrap = WRAPPERS.get(name)
            if unwrap is None:
                mask |= self._program(name, w0, words[1:], redirects, loc, excerpt, via_xargs)
                for op, target, _ in redirects:
                    if op in (">", ">>", ">|", "&>", "&>>") and target is not None:
                        self.produce(target.value, mask)
                return mask
            via_xargs = via_xargs or name == "xargs"
            words = unwrap(self, words[1:], loc, excerpt)
        return mask

    def _command_word(self, w: Word, loc: str, excerpt: Text) -> bool:
        """Check a command word; true when its value is known and analysis can go on."""
        if w.ansi:
            why = f"command name uses ANSI-C quoting ({short(w.raw, 40)}): {excerpt}"
            self.add("command-ansi-c-quoting", why, loc)
        executes = w.mask & (DOWNLOAD | DECODE)
        if w.mask & DOWNLOAD:
            self.add("command-download-exec", f"runs downloaded text as a command: {excerpt}", loc)
        if w.mask & DECODE:
            self.add("command-base64-exec", f"runs decoded base64 as a command: {excerpt}", loc)
        if self.argv_mode and not LITERAL_NAME.fullmatch(w.value):
            self.add("command-non-literal-name", f"argv program {w.value!r} is not a plain name or path", loc)
            return False
        glob = not w.dynamic and GLOB.search(w.value) is not None and not any(q in w.raw for q in "'\"\\")
        if w.dynamic or glob:
            if not executes:
                self.add("command-non-literal-name", f"command name {short(w.raw, 40)!r} is computed: {excerpt}", loc)
            if glob or not w.known:
                if self.allow is not None:
                    why = f"computed command name cannot match the allow-list: {excerpt}"
                    self.add("command-not-allowed", why, loc)
                return False
        return bool(w.value)

    def _policy(self, name: str, value: str, loc: str) -> None:
        if self.deny and (name in self.deny or value in self.deny):
            self.add("command-denied", f"{value} is on the policy's commands deny-list", loc)
        if self.allow is not None and name not in self.allow and value not in self.allow:
            self.add("command-not-allowed", f"{value} is not on the policy's commands allow-list", loc)

    def assign(self, name: str, w: Word, loc: str, excerpt: Text, *, persist: bool) -> None:
        upper = name.upper()
        if loader_variable(name):
            self.add("command-loader-injection", f"sets {name} for the programs it starts: {excerpt}", loc)
        if upper in _COMMAND_VARIABLES and w.value:
            if w.known:
                text = w.value.lstrip("|") if upper in ("LESSOPEN", "LESSCLOSE") else w.value
                self.nested(text, loc, f"the {name} variable")
            elif w.mask & (DOWNLOAD | DECODE):
                self.exec_mask(w, loc, excerpt)
        if persist:
            self.var_masks[name] = w.mask
            if w.known:
                self.var_values[name] = w.value
            else:
                self.var_values.pop(name, None)

    def _redirect(self, redirect: Redirect, loc: str) -> None:
        op, target, _ = redirect
        if target is None:
            return
        value = target.value
        if "/dev/tcp/" in value or "/dev/udp/" in value:
            self.add("command-reverse-shell", f"redirects to a network socket ({short(value, 60)})", loc)
        if op in (">", ">>", ">|", "&>", "&>>", "<>", ">&"):
            why = config_target(value)
            if why is not None:
                self.add("command-writes-system-config", f"redirects output into {why}", loc)
            if BLOCK_DEVICE.match(value):
                self.add("command-destructive-delete", f"overwrites the disk device {value}", loc)

    def exec_mask(self, w: Word, loc: str, excerpt: Text) -> bool:
        """Report a word that carries downloaded or decoded text into an executing position."""
        if w.mask & DOWNLOAD:
            self.add("command-download-exec", f"executes downloaded text: {excerpt}", loc)
        if w.mask & DECODE:
            self.add("command-base64-exec", f"executes decoded base64: {excerpt}", loc)
        return bool(w.mask & (DOWNLOAD | DECODE))

    def produce(self, path: str, mask: int) -> None:
        """Remember that ``path`` now holds downloaded or decoded data."""
        if path and path != "-" and mask & (DOWNLOAD | DECODE):
            path = path[2:] if path.startswith("./") else path
            self.produced[path] = self.produced.get(path, 0) | (mask & (DOWNLOAD | DECODE))

    def _produced(self, value: str) -> int:
        """DOWNLOAD / DECODE when ``value`` names a file an earlier command downloaded or decoded."""
        if not self.produced or not value:
            return 0
        path = value[2:] if value.startswith("./") else value
        mask = self.produced.get(path, 0)
        base = basename(path)
        for known, bits in self.produced.items():
            if basename(known) == base and ("/" not in known or "/" not in path):
                mask |= bits
        return mask

    def _run_file(self, value: str, loc: str, excerpt: Text) -> None:
        mask = self._produced(value)
        if mask & DOWNLOAD:
            self.add("command-download-exec", f"runs the file it downloaded: {excerpt}", loc)
        if mask & DECODE:
            self.add("command-base64-exec", f"runs the file it decoded from base64: {excerpt}", loc)

    def exec_string(self, w: Word, loc: str, excerpt: Text, what: str) -> int:
        """A shell string another program runs (``sh -c S``, ``su -c S``, ``eval S``)."""
        if self.exec_mask(w, loc, excerpt):
            return w.mask & PRODUCERS
        if not w.known:
            self.add("command-non-literal-name", f"{what} runs a string built at run time: {excerpt}", loc)
            return 0
        return self.nested(w.value, loc, self.label)

    def script_operand(self, w: Word, loc: str, excerpt: Text) -> None:
        if not self.exec_mask(w, loc, excerpt):
            self._run_file(w.value, loc, excerpt)

    def stdin_program(self, redirects: list[Redirect], loc: str, excerpt: Text, lang: str) -> str | None:
        """Analyse a program fed on stdin: ``"text"`` (here-document or here-string, read here),
        ``"file"`` (a ``<`` redirect: a file or FIFO we cannot read), or ``None``."""
        fed: str | None = None
        for op, target, heredoc in redirects:
            if op in ("<<", "<<-") and heredoc is not None:
                fed = fed or "text"
                self._code_text(heredoc, lang, loc, excerpt)
            elif op == "<<<" and target is not None:
                fed = fed or "text"
                if not self.exec_mask(target, loc, excerpt) and target.known:
                    self._code_text(target.value, lang, loc, excerpt)
            elif op == "<" and target is not None:
                fed = "file"
                self.script_operand(target, loc, excerpt)
        return fed

    def _code_text(self, text: str, lang: str, loc: str, excerpt: Text) -> None:
        if lang == "sh":
            self.nested(text, loc, self.label)
        else:
            self.inline(text, lang, loc, excerpt, lang)

    # -- programs

    def _program(
        self, name: str, w0: Word, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text, via_xargs: bool
    ) -> int:
        if name in SHELLS:
            return self._shell(name, args, redirects, loc, excerpt, via_xargs)
        lang = interpreter(name)
        if lang is not None:
            return self._interp(name, lang, args, redirects, loc, excerpt, via_xargs)
        self._run_file(w0.value, loc, excerpt)
        handler = PROGRAMS.get(name)
        if handler is None and name.startswith(("mkfs.", "mke2fs", "mkswap")):
            handler = disk
        if handler is None:
            return 0
        return handler(self, name, args, redirects, loc, excerpt)

    def _shell(
        self, name: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text, via_xargs: bool
    ) -> int:
        i, n = 0, len(args)
        c_mode = stdin_mode = interactive = False
        while i < n:
            v = args[i].value
            if v in ("-", "--"):
                i += 1
                break
            if v.startswith("--"):
                i += 2 if v in ("--rcfile", "--init-file") else 1
                continue
            if len(v) > 1 and v[0] in "-+":
                letters = v[1:]
                c_mode = c_mode or (v[0] == "-" and "c" in letters)
                stdin_mode = stdin_mode or "s" in letters
                interactive = interactive or "i" in letters
                i += 2 if ("o" in letters or "O" in letters) else 1
                continue
            break
        operands = args[i:]
        mask = EXEC_STDIN if via_xargs else 0
        if c_mode:
            if operands:
                mask |= self.exec_string(operands[0], loc, excerpt, f"{name} -c")
            return mask
        if operands and not stdin_mode and operands[0].value not in STDIN_PATHS:
            self.script_operand(operands[0], loc, excerpt)
            return mask
        fed = self.stdin_program(redirects, loc, excerpt, "sh")
        if fed is None and self.label is not None and not self.piped and (interactive or not operands):
            self.add("command-shell-escape", f"{self.label} starts an interactive {name}: {excerpt}", loc)
        if fed == "text":
            return mask
        return mask | SHELL_IO | (EXEC_STDIN if fed is None else 0)

    def _interp(
        self, name: str, lang: str, args: list[Word], redirects: list[Redirect], loc: str, excerpt: Text,
        via_xargs: bool,
    ) -> int:  # fmt: skip
        codes, module, encoded, operands = interp_options(lang, args)
        mask = EXEC_STDIN if via_xargs else 0
        if encoded:
            self.add("command-base64-exec", f"{name} runs a base64-encoded command: {excerpt}", loc)
        for code in codes:
            if self.exec_mask(code, loc, excerpt):
                continue
            if not code.known:
                self.add("command-non-literal-name", f"{name} runs code built at run time: {excerpt}", loc)
                continue
            self.inline(code.value, lang, loc, excerpt, name)
        if codes or encoded:
            return mask
        if module is not None:
            if module == "base64" and any(a.value in ("-d", "--decode") for a in operands):
                mask |= DECODE
            return mask
        if operands and operands[0].value not in STDIN_PATHS:
            self.script_operand(operands[0], loc, excerpt)
            return mask
        fed = self.stdin_program(redirects, loc, excerpt, lang)
        if fed is not None:
            return mask | (SHELL_IO if fed == "file" else 0)
        if self.label is not None and not self.piped and not operands:
            self.add("command-shell-escape", f"{self.label} starts an interactive {name}: {excerpt}", loc)
        return mask | EXEC_STDIN

    def inline(self, code: str, lang: str, loc: str, excerpt: Text, prog: str) -> None:
        """Read interpreter code (``python -c``, ``awk`` programs, ``perl -e``) for what it runs."""
        covered = False
        if _IN_SOCKET.search(code) and (_IN_SPAWN.search(code) or "/inet/" in code):
            self.add("command-reverse-shell", f"{prog} code connects a socket to a process: {excerpt}", loc)
            covered = True
        if _IN_FORK.search(code) and _IN_LOOP.search(code):
            self.add("command-fork-bomb", f"{prog} code forks in a loop: {excerpt}", loc)
            covered = True
        if _IN_FETCH.search(code) and _IN_EVAL.search(code):
            self.add("command-download-exec", f"{prog} code downloads and evaluates: {excerpt}", loc)
            covered = True
        if _IN_B64.search(code) and _IN_EVAL.search(code):
            self.add("command-base64-exec", f"{prog} code decodes base64 and runs it: {excerpt}", loc)
            covered = True
        label = None if covered else f"{prog} code"
        pattern = _SPAWN_CALLS.get(lang)
        if pattern is not None:
            for m in pattern.finditer(code):
                mode = m.lastgroup or "auto"
                found = _literals(code, m.end())
                if found is None:
                    if not covered:
                        self.add(
                            "command-non-literal-name", f"{prog} code runs a command built at run time: {excerpt}", loc
                        )
                    continue
                shape, items = found
                if mode == "execl":
                    argv = [items[0], *items[2:]] if shape != "string" else items
                    self.embedded_argv([lit(a) for a in argv], loc, label, excerpt, literal=True)
                elif mode == "program" or shape in ("list", "args"):
                    argv = items if mode != "program" or shape != "string" else items[:1]
                    self.embedded_argv([lit(a) for a in argv], loc, label, excerpt, literal=True)
                else:
                    self.nested(items[0], loc, label)
        if lang in ("perl", "ruby", "php"):
            for m in _BACKTICKS.finditer(code):
                text = next((g for g in m.groups() if g is not None), "")
                self.nested(text, loc, label)
        elif lang == "awk":
            if "/inet/" in code and not covered:
                self.add("command-reverse-shell", f"awk code opens a network connection: {excerpt}", loc)
            for rx in _AWK_PIPES:
                for m in rx.finditer(code):
                    self.nested(m.group(2), loc, label)
        elif lang == "tcl":
            for m in _TCL_SPAWN.finditer(code):
                self.embedded_argv([lit(a) for a in m.group(1).split()], loc, label, excerpt, literal=True)


_CONTAINERS: Final = frozenset({"list", "pipeline", "compound", "if", "while", "until", "for"})


def _spawns_itself(body: Any, name: str) -> bool:
    """Does a function body run the function itself in a pipe or in the background?"""

    def first_word(node: Any) -> str | None:
        if node.kind != "command":
            return None
        for part in node.parts:
            if part.kind == "word":
                return str(part.word)
        return None

    stack = [body]
    while stack:
        node = stack.pop()
        kind = node.kind
        if kind == "pipeline":
            stages = [p for p in node.parts if p.kind not in ("pipe", "reservedword")]
            if len(stages) > 1 and any(first_word(s) == name for s in stages):
                return True
        if kind == "list":
            parts = node.parts
            for i, part in enumerate(parts[:-1]):
                nxt = parts[i + 1]
                if nxt.kind == "operator" and nxt.op == "&" and first_word(part) == name:
                    return True
        children = getattr(node, "list", None) if kind == "compound" else getattr(node, "parts", None)
        if children:
            stack.extend(c for c in children if c.kind in _CONTAINERS)
    return False


def run(command: str | Sequence[str], allow: Collection[str] | None, deny: Collection[str]) -> list[Finding]:
    """Analyse one command (already type-checked by the caller); never raises."""
    analysis = Analysis(allow, deny)
    try:
        if isinstance(command, str):
            if len(command) > MAX_COMMAND_CHARS or "\x00" in command:
                analysis.add("command-unparseable", f"shell text longer than {MAX_COMMAND_CHARS} or with NUL", None)
            else:
                analysis.shell(command)
        elif not command:
            analysis.add("command-unparseable", "empty argv: nothing to execute", "argv")
        elif len(command) > MAX_ARGV or sum(len(a) for a in command) > MAX_COMMAND_CHARS:
            analysis.add("command-unparseable", f"argv larger than {MAX_ARGV} items or {MAX_COMMAND_CHARS}", "argv")
        elif any("\x00" in a for a in command):
            analysis.add("command-unparseable", "argv element contains NUL", "argv")
        else:
            analysis.argv(command)
    except Stop:
        pass
    except Exception as exc:  # fail closed: a bug here must deny, never let the command through unread
        analysis.add("command-analysis-failed", f"command analysis failed ({type(exc).__name__})", None)
    return merge_findings(analysis.findings)
