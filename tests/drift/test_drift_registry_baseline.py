"""The default baseline is the git commit of the newest active PROD entry in the verified registry.

A real home: TUF registry, signed policy, refreshed trust view (tests/gatehome.py). Entries
are registered with their git commit; ``sealgate drift --kind tool --name acme/sanitiser``
must compare against the commit of the right entry, and never pass when there is none.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sealgate.crypto.intoto import make_approval
from sealgate.registry.layout import target_path
from tests.drift.gitrepo import Repo, drift
from tests.gatehome import GateHome, build_gate_home

NAME = "acme/sanitiser"

V1 = """\
    rules:
      - id: email
        pattern: '[\\w.+-]+@[\\w-]+\\.[\\w.]+'
        examples: ["alice@example.com"]
      - id: token
        pattern: 'tok_[a-z0-9]{8}'
    """


def _register(gh: GateHome, version: str, commit: str, *, stage: str = "PROD") -> None:
    content = f"sanitiser build {version} from {commit}\n".encode()
    digest = hashlib.sha256(content).hexdigest()
    target = target_path("tool", NAME, version)
    statements = [
        make_approval(target, digest, role, gh.keys[key]).to_dict()
        for key, role in (("alice", "author"), ("bob", "reviewer"), ("carol", "approver"), ("dave", "approver"))
    ]
    gh.publish(
        gh.repo.propose_add_entry(
            kind="tool", name=NAME, version=version, digest=digest, size=len(content), stage=stage,
            git_commit=commit, statements=statements, content=content,
        )
    )  # fmt: skip
    gh.refresh()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> GateHome:
    return build_gate_home(tmp_path_factory.mktemp("drift-home") / "home")


@pytest.fixture
def gh(template: GateHome, tmp_path: Path) -> GateHome:
    from tests.gatehome import copy_gate_home

    return copy_gate_home(template, tmp_path / "home")


def test_default_baseline_is_the_last_active_prod_entry(gh: GateHome, tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    path = repo.write("rules.yaml", V1)
    released = repo.commit("1.0.0")
    # Removed in a commit that only ever reached DEV: the DEV entry must not become the baseline.
    repo.write("rules.yaml", V1.replace("tok_[a-z0-9]{8}", "tok_[a-z0-9]{12}"))
    dev_only = repo.commit("1.1.0, DEV only")
    _register(gh, "1.0.0", released)
    _register(gh, "1.1.0", dev_only, stage="DEV")

    result = drift("--rules", str(path), "--kind", "tool", "--name", NAME, "--json", home=gh.root)
    report = json.loads(result.out)
    assert report["baseline"]["commit"] == released
    assert report["baseline"]["source"] == "registry"
    assert report["baseline"]["entry"]["version"] == "1.0.0"
    # The policy makes PROD strict, so an unverifiable change fails without --level.
    assert report["level"] == "strict"
    assert [(f["id"], f["kind"], f["fails"]) for f in report["findings"]] == [("token", "unverifiable-change", True)]
    assert result.code == 3
    assert "registry: tool acme/sanitiser 1.0.0 (PROD)" in result.err


def test_removed_rule_since_the_prod_entry_detected(gh: GateHome, tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    path = repo.write("rules.yaml", V1)
    released = repo.commit("1.0.0")
    _register(gh, "1.0.0", released)
    repo.write("rules.yaml", "rules: []\n")
    repo.commit("drop every rule")
    result = drift("--rules", str(path), "--kind", "tool", "--name", NAME, "--json", home=gh.root)
    assert result.code == 3
    assert {f["id"]: f["kind"] for f in json.loads(result.out)["findings"]} == {"email": "removed", "token": "removed"}


def test_newest_active_prod_entry_wins_and_revoked_ones_are_skipped(gh: GateHome, tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    path = repo.write("rules.yaml", V1)
    first = repo.commit("1.0.0")
    repo.write("rules.yaml", V1.replace("tok_[a-z0-9]{8}", "tok_[a-z0-9]{8}\n        examples: [tok_abcdefgh]"))
    second = repo.commit("1.1.0")
    repo.write("rules.yaml", V1.replace("tok_[a-z0-9]{8}", "tok_[a-z0-9]{8}\n        examples: [tok_abcdefgh, x]"))
    third = repo.commit("1.2.0, revoked later")
    _register(gh, "1.0.0", first)
    _register(gh, "1.1.0", second)
    _register(gh, "1.2.0", third)
    proposal = gh.repo.propose_revoke("tool", NAME, "1.2.0", "bad build")
    gh.publish(proposal)
    gh.refresh()
    result = drift("--rules", str(path), "--kind", "tool", "--name", NAME, "--json", home=gh.root)
    assert json.loads(result.out)["baseline"]["commit"] == second, result.err


def test_no_prod_entry_is_an_error_never_a_pass(gh: GateHome, tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    path = repo.write("rules.yaml", V1)
    commit = repo.commit("1.0.0")
    _register(gh, "1.0.0", commit, stage="STAGE")
    result = drift("--rules", str(path), "--kind", "tool", "--name", NAME, home=gh.root)
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith("sealgate: not-registered: tool acme/sanitiser has no active PROD entry")


def test_unknown_name_is_an_error_never_a_pass(gh: GateHome, tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    path = repo.write("rules.yaml", V1)
    repo.commit("1.0.0")
    result = drift("--rules", str(path), "--kind", "tool", "--name", "acme/nothing", home=gh.root)
    assert result.code == 1
    assert result.err.startswith("sealgate: not-registered: tool acme/nothing is not in the registry")


def test_prod_commit_missing_from_the_clone_is_an_error(gh: GateHome, tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    path = repo.write("rules.yaml", V1)
    repo.commit("1.0.0")
    _register(gh, "1.0.0", "f" * 40)  # built from a commit this clone does not have
    result = drift("--rules", str(path), "--kind", "tool", "--name", NAME, home=gh.root)
    assert result.code == 1
    assert "sealgate: invalid-argument: the baseline commit ffffffff" in result.err


def test_without_a_registry_the_default_baseline_is_an_error(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    path = repo.write("rules.yaml", V1)
    repo.commit("1.0.0")
    result = drift("--rules", str(path), "--name", "signal", home=tmp_path / "empty-home")
    assert result.code != 0
    assert result.out == ""
    assert result.err.startswith("sealgate: registry-unavailable: ")
