"""Generate ``generated.jsonl`` from ``seed.jsonl``: the same commands, disguised and wrapped.

Every rule is a plain text transformation whose effect on the expected findings is known
(see README.md, "Generating rules"), so each generated line keeps its seed's expectation,
plus ``command-ansi-c-quoting`` or ``command-non-literal-name`` where the disguise itself is
a finding. Deterministic: rules are chosen round-robin by the seed's position, so running it
twice gives the same file. ``tests/checks/test_corpus.py`` fails if the file is stale.

Usage: ``.venv/bin/python tests/vectors/commands/generate.py`` (rewrites generated.jsonl).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = HERE / "seed.jsonl"
GENERATED = HERE / "generated.jsonl"

NL = "command-non-literal-name"
AC = "command-ansi-c-quoting"

# Builtins and keywords: a wrapper or a quote in front of these changes what the text means.
BUILTINS = frozenset(
    {
        "export", "declare", "typeset", "local", "readonly", "eval", "source", ".", "cd", "exec", "set", "unset",
        "alias", "read", "while", "for", "if", "until", "case", "function", "time", "[", "[[", "!", "{", "(",
    }
)  # fmt: skip
FIRST_WORD = re.compile(r"([A-Za-z/.][\w./+-]*)(?= |$)")
SIMPLE = re.compile(r"[^|&;<>()$`\\\"'*?\[\]{}~#\n]+")

Rule = Callable[[str], tuple[str, list[str]] | None]


def first_word(command: str) -> str | None:
    m = FIRST_WORD.match(command)
    return m.group(1) if m is not None and m.group(1) not in BUILTINS else None


def single_quoted(command: str) -> str:
    return "'" + command.replace("'", "'\\''") + "'"


def double_quoted(command: str) -> str:
    return '"' + re.sub(r'([$`"\\])', r"\\\1", command) + '"'


def prefix(text: str) -> Rule:
    def rule(command: str) -> tuple[str, list[str]] | None:
        return (text + command, []) if first_word(command) else None

    return rule


def sh_c(command: str) -> tuple[str, list[str]] | None:
    return f"sh -c {single_quoted(command)}", []


def bash_c(command: str) -> tuple[str, list[str]] | None:
    return f"bash -c {double_quoted(command)}", []


def rename(build: Callable[[str], str], added: list[str]) -> Rule:
    def rule(command: str) -> tuple[str, list[str]] | None:
        word = first_word(command)
        if word is None or len(word) < 2:
            return None
        return build(word) + command[len(word) :], added

    return rule


def ifs(command: str) -> tuple[str, list[str]] | None:
    word = first_word(command)
    if word is None or not re.match(r" [A-Za-z0-9/.-]", command[len(word) :]):
        return None
    return word + "${IFS}" + command[len(word) + 1 :], [NL]


WRAPPERS: list[tuple[str, Rule]] = [
    ("sudo", prefix("sudo ")),
    ("timeout", prefix("timeout 60 ")),
    ("env", prefix("env LC_ALL=C ")),
    ("nohup-nice", prefix("nohup nice -n 5 ")),
]
NESTED: list[tuple[str, Rule]] = [("sh-c", sh_c), ("bash-c", bash_c)]
DISGUISES: list[tuple[str, Rule]] = [
    ("quote-split", rename(lambda w: w[0] + "''" + w[1:], [])),
    ("backslash", rename(lambda w: "\\" + w, [])),
    ("ansi-c", rename(lambda w: "$'" + "".join(f"\\x{ord(c):02x}" for c in w) + "'", [AC])),
    ("ifs", ifs),
    ("echo-subst", rename(lambda w: f"$(echo {w})", [NL])),
]


def variants(index: int, seed: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    expect: list[str] = seed["expect"]

    def emit(rule: str, body: dict[str, Any], added: list[str]) -> None:
        out.append(
            {
                "id": f"{seed['id']}~{rule}",
                "kind": seed["kind"],
                "category": seed["category"],
                **body,
                "expect": sorted(set(expect) | set(added)) if seed["kind"] == "dangerous" else [],
                "origin": "generated",
                "seed": seed["id"],
                "rule": rule,
            }
        )

    command = seed.get("command")
    if not isinstance(command, str):
        return out
    name, nest = NESTED[index % len(NESTED)]
    made = nest(command)
    if made is not None:
        emit(name, {"command": made[0]}, made[1])
    for offset in range(len(WRAPPERS)):
        name, wrap = WRAPPERS[(index + offset) % len(WRAPPERS)]
        made = wrap(command)
        if made is not None:
            emit(name, {"command": made[0]}, made[1])
            break
    if seed["kind"] == "dangerous" and seed["category"] != "unparseable":
        for offset in range(len(DISGUISES)):
            name, disguise = DISGUISES[(index + offset) % len(DISGUISES)]
            made = disguise(command)
            if made is not None:
                emit(name, {"command": made[0]}, made[1])
                break
    if SIMPLE.fullmatch(command) and first_word(command):
        emit("argv", {"argv": command.split()}, [])
    return out


def generate() -> str:
    seeds = [json.loads(line) for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = [json.dumps(v, ensure_ascii=False) for i, seed in enumerate(seeds) for v in variants(i, seed)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = generate()
    GENERATED.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} commands to {GENERATED}")
