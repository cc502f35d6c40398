"""Every command of the corpus (tests/vectors/commands/) gets exactly its expected findings.

Dangerous commands must produce exactly the expected set of codes (no more, no fewer);
benign ones no finding at or above ``medium``. The generated half must be what
``generate.py`` makes from the seed today.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from sealgate.checks import CODES, analyse_command
from sealgate.errors import Severity

CORPUS = Path(__file__).resolve().parents[1] / "vectors" / "commands"


def _load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (CORPUS / name).read_text("utf-8").splitlines() if line.strip()]


SEED = _load("seed.jsonl")
GENERATED = _load("generated.jsonl")
ALL = SEED + GENERATED


def _run(entry: dict[str, Any]) -> set[str]:
    if "command" in entry:
        findings = analyse_command(entry["command"], shell=True)
    else:
        findings = analyse_command(entry["argv"], shell=False)
    if entry["kind"] == "benign":
        return {f.code for f in findings if f.severity >= Severity.MEDIUM}
    return {f.code for f in findings}


@pytest.mark.parametrize("entry", ALL, ids=[e["id"] for e in ALL])
def test_corpus_command_gets_its_expected_findings(entry: dict[str, Any]) -> None:
    assert _run(entry) == set(entry["expect"])


def test_corpus_is_large_and_covers_every_class() -> None:
    assert len(SEED) >= 150 and len(ALL) >= 300
    ids = [e["id"] for e in ALL]
    assert len(ids) == len(set(ids))
    kinds = {e["kind"] for e in ALL}
    assert kinds == {"benign", "dangerous"}
    expected = {code for e in ALL for code in e["expect"]}
    command_codes = {c for c in CODES if c.startswith("command-")}
    # Policy-list codes and the internal-error code are tested in test_command_attacks.py.
    assert command_codes - expected == {"command-denied", "command-not-allowed", "command-analysis-failed"}
    assert sum(1 for e in SEED if e.get("origin") == "gtfobins-style") >= 30
    assert all(e["kind"] == "dangerous" or e["expect"] == [] for e in ALL)
    assert all(set(e["expect"]) <= set(CODES) for e in ALL)


def test_every_entry_says_where_it_came_from() -> None:
    for entry in SEED:
        assert entry["origin"] in ("sealgate", "gtfobins-style"), entry["id"]
        if entry["origin"] == "gtfobins-style":
            assert entry["gtfobins_category"], entry["id"]
    for entry in GENERATED:
        assert entry["origin"] == "generated" and entry["seed"] and entry["rule"], entry["id"]
    readme = (CORPUS / "README.md").read_text("utf-8")
    assert "https://gtfobins.github.io" in readme and "GPL-3.0" in readme


def test_generated_corpus_is_what_the_generator_makes_today() -> None:
    spec = importlib.util.spec_from_file_location("corpus_generate", CORPUS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (CORPUS / "generated.jsonl").read_text("utf-8") == module.generate(), "run generate.py"
