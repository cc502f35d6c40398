"""docs/enclaves.md, ceremony.md and rollback.md cannot drift from the code they describe.

Operators follow these pages during a release or an incident, so a command that no longer
exists, an option that was renamed or a reason code that was never raised would fail them
when it matters. Checked here:

- every ``sealgate …`` command line, in code blocks and inline code, is a real command of
  the click tree (tests/cli/clitree.py, parsed with the helpers of test_ci_docs.py) and
  uses only its options, with valid choices;
- commands named in bold under "## Not yet" really do not exist, so the page is updated
  when they arrive;
- every reason code the pages name is a ``sealgate.errors.Reason``, and every reason the
  enclave code raises is explained in enclaves.md;
- the entry documents shown parse as ``EnclaveEntryDocument`` and round-trip exactly; the
  Python shown imports names that exist; relative links and their anchors resolve.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import click
import pytest

from sealgate.errors import Reason
from sealgate.registry.documents import ENCLAVE_ENTRY_TYPE, EnclaveEntryDocument
from tests.cli.clitree import CommandInfo, long_names
from tests.enclaves.test_ci_docs import COMMANDS, _command, _invocations

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = ("enclaves.md", "ceremony.md", "rollback.md")
FENCE = re.compile(r"^[ \t]*```([a-z]*)\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)  # also inside list items
NOT_SHELL = ("python", "json", "yaml")  # every other code block holds command lines
KEBAB = re.compile(r"[a-z]+(?:-[a-z]+)+")
# The enclave modules whose reason codes an operator meets; enclaves.md must explain each.
ENCLAVE_SOURCES = ("_check.py", "_attest.py", "quote.py", "binding.py", "mock.py", "selfcheck.py")


def _text(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def _blocks(page: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a page: (language, body)."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(_text(page))]


def _prose(text: str) -> str:
    return FENCE.sub("", text)


def _spans(text: str) -> list[str]:
    """Inline code spans outside code blocks; a span may wrap onto the next line."""
    return [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", _prose(text))]


def _split_not_yet(text: str) -> tuple[str, list[str]]:
    """The page without the commands its "## Not yet" section names in bold, and those commands."""
    match = re.search(r"^## Not yet[ \t]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if match is None:
        return text, []
    bold = re.compile(r"\*\*`(sealgate [^`]+)`\*\*")
    rest = text[: match.start()] + bold.sub("", match.group(0)) + text[match.end() :]
    return rest, bold.findall(match.group(1))


def _invocations_of(text: str) -> list[list[str]]:
    """Every command line in the shell blocks and inline code of ``text``."""
    code = [m.group(2) for m in FENCE.finditer(text) if m.group(1) not in NOT_SHELL]
    return [argv for chunk in (*code, *_spans(text)) for argv in _invocations(chunk)]


def _without_root_options(argv: list[str]) -> list[str]:
    """``sealgate --home DIR --verbose registry refresh`` -> ``sealgate registry refresh``."""
    root = {name: option for option in COMMANDS["sealgate"].options() for name in long_names(option)}
    i = 1
    while i < len(argv) and argv[i].startswith("--"):
        name = argv[i].split("=", 1)[0]
        assert name in root, f"`{' '.join(argv)}`: `sealgate` has no option {name}"
        i += 1 if root[name].is_flag or "=" in argv[i] else 2
    return [argv[0], *argv[i:]]


def _resolve(argv: list[str]) -> CommandInfo | None:
    """The command ``argv`` runs, or None when it names a subcommand that does not exist."""
    info = _command(argv)
    rest = argv[len(info.path) :]
    if isinstance(info.command, click.Group) and rest and not rest[0].startswith("-"):
        return None
    return info


def _cases() -> list[tuple[str, list[str]]]:
    out = []
    for page in PAGES:
        body, _ = _split_not_yet(_text(page))
        out += [(page, _without_root_options(argv)) for argv in _invocations_of(body)]
    return out


def _label(value: object) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


def test_the_pages_show_the_commands_of_the_release_and_the_rollback() -> None:
    used = {info.title for _, argv in _cases() if (info := _resolve(argv)) is not None}
    expected = {
        "sealgate ci candidate", "sealgate sign", "sealgate registry propose", "sealgate registry approve",
        "sealgate registry publish", "sealgate registry refresh", "sealgate registry rotate",
        "sealgate registry revoke", "sealgate registry rollback", "sealgate registry reactivate",
        "sealgate enclave add", "sealgate enclave self-check", "sealgate attest verify", "sealgate attest remote",
    }  # fmt: skip
    assert expected <= used, sorted(expected - used)


@pytest.mark.parametrize(("page", "argv"), _cases(), ids=_label)
def test_every_documented_command_exists_with_its_options(page: str, argv: list[str]) -> None:
    info = _resolve(argv)
    assert info is not None, f"{page}: `{' '.join(argv)}` names a subcommand that does not exist"
    options = {name: option for option in info.options() for name in long_names(option)}
    for i, token in enumerate(argv):
        if not token.startswith("--"):
            continue
        name, _, inline = token.partition("=")
        assert name in options, f"{page}: `{' '.join(argv)}`: {info.title} has no option {name}"
        option = options[name]
        value = inline or (argv[i + 1] if i + 1 < len(argv) and not option.is_flag else None)
        if isinstance(option.type, click.Choice) and value is not None:
            assert value in option.type.choices, f"{page}: {name} {value} is not one of {option.type.choices}"


def test_what_the_pages_say_is_not_there_yet_really_is_not() -> None:
    _, not_yet = _split_not_yet(_text("enclaves.md"))
    missing = [argv for command in not_yet for argv in _invocations(command)]
    for argv in missing:  # (none today: `enclave gate` exists now)
        assert _resolve(argv) is None, f"`{' '.join(argv)}` exists now: document it and take it out of 'Not yet'"


def _not_reasons() -> set[str]:
    """Hyphenated words that name something else: command names, option choices and defaults."""
    words = {part for info in COMMANDS.values() for part in info.path}
    for info in COMMANDS.values():
        for option in info.options():
            if isinstance(option.type, click.Choice):
                words.update(str(c) for c in option.type.choices)
            if isinstance(option.default, str):
                words.add(option.default)
    return words


@pytest.mark.parametrize("page", PAGES)
def test_every_reason_code_named_is_a_real_one(page: str) -> None:
    reasons = {r.value for r in Reason}
    other = _not_reasons()
    named = {s for s in _spans(_text(page)) if KEBAB.fullmatch(s) and s not in other}
    assert named, f"{page} names no reason code"
    assert named <= reasons, f"{page} names reason codes that do not exist: {sorted(named - reasons)}"


def test_every_reason_the_enclave_code_raises_is_explained() -> None:
    source = "".join((ROOT / "src" / "sealgate" / "enclaves" / f).read_text(encoding="utf-8") for f in ENCLAVE_SOURCES)
    raised = {Reason[name].value for name in re.findall(r"\bReason\.([A-Z_]+)\b", source)}
    raised.add(Reason.MINIMUM_LOWERED.value)  # the registry's rule for enclave minimums
    named = set(_spans(_text("enclaves.md")))
    assert raised <= named, f"docs/enclaves.md does not explain {sorted(raised - named)}"


def test_rollback_names_what_a_hand_edit_or_a_low_version_runs_into() -> None:
    named = set(_spans(_text("rollback.md")))
    for reason in (Reason.DIGEST_MISMATCH, Reason.REGISTRY_TAMPERED, Reason.MINIMUM_LOWERED,
                   Reason.SECURITY_VERSION_TOO_LOW, Reason.REGISTRY_ROLLBACK):  # fmt: skip
        assert reason.value in named, reason


def test_the_entry_documents_shown_are_real_ones() -> None:
    shown = [body for lang, body in _blocks("enclaves.md") if lang == "json" and ENCLAVE_ENTRY_TYPE in body]
    assert len(shown) >= 2  # one SGX, one TDX
    tees = set()
    for body in shown:
        document = EnclaveEntryDocument.from_bytes(body.encode())
        assert document.to_dict() == json.loads(body)
        tees.add(document.tee)
    assert tees == {"sgx", "tdx"}


@pytest.mark.parametrize("page", PAGES)
def test_the_python_shown_imports_names_that_exist(page: str) -> None:
    for lang, body in _blocks(page):
        if lang != "python":
            continue
        for node in ast.walk(ast.parse(body)):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{page}: {node.module} has no {alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", _prose(path.read_text(encoding="utf-8")), re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES)
def test_links_and_anchors_resolve(page: str) -> None:
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", _prose(_text(page))):
        if target.startswith(("http://", "https://")):
            continue
        path = (DOCS / target).resolve() if target else DOCS / page
        assert path.exists(), f"{page} links to {target}, which does not exist"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{page} links to {target}#{anchor}, which has no such heading"
