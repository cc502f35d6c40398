"""Path checks: traversal out of the base, sensitive locations, symlinks that leave the base."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealgate.checks import analyse_path, check_no_symlink_escape
from sealgate.checks._path import normalise_path


def codes(path: str, **kwargs: object) -> set[str]:
    return {f.code for f in analyse_path(path, **kwargs)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "a/../../b", "./../x", "/srv/work/../other", "/etc/hosts", "~/x", "sub/../../../root"]
)
def test_path_leaving_the_base_directory_is_traversal(path: str) -> None:
    assert "path-traversal" in codes(path, base="/srv/work")


@pytest.mark.parametrize("path", ["data/x.csv", "a/../b", "./out/", "/srv/work/out/file", "."])
def test_path_inside_the_base_directory_is_allowed(path: str) -> None:
    assert codes(path, base="/srv/work") == set()


def test_relative_path_climbing_above_its_start_is_traversal_without_a_base() -> None:
    assert codes("../x") == {"path-traversal"}
    assert codes("x/../y") == set()


@pytest.mark.parametrize(
    "path",
    [
        "~/.ssh/id_ed25519", "$HOME/.aws/credentials", "${HOME}/.gnupg/secring.gpg", "/home/bob/.kube/config",
        "~/.docker/config.json", "/etc/shadow", "/etc/sudoers.d/x", "/etc/sudoers", ".env", "app/.env.production",
        "~/.bashrc", "/root/.profile", "repo/.git/hooks/pre-commit", "/proc/1234/mem", "/proc/self/environ",
        "/dev/mem", "/var/run/docker.sock", "~/.netrc", "/etc/ld.so.preload",
    ],
)  # fmt: skip
def test_sensitive_location_is_high(path: str) -> None:
    findings = analyse_path(path)
    assert [f.code for f in findings] == ["path-sensitive"]
    assert findings[0].severity.value == "high"


@pytest.mark.parametrize("path", ["src/environment.py", "docs/ssh.md", "/srv/data/git/hooks.txt", "/etc-backup/x"])
def test_ordinary_paths_with_similar_names_are_not_sensitive(path: str) -> None:
    assert codes(path) == set()


@pytest.mark.parametrize("path", ["", "a\x00b", "x" * 5000])
def test_invalid_path_is_a_finding(path: str) -> None:
    assert codes(path) == {"path-invalid"}


def test_policy_path_lists_match_by_component() -> None:
    assert codes("/srv/data/x", allow={"/srv/data"}) == set()
    assert codes("/srv/data-evil/x", allow={"/srv/data"}) == {"path-not-allowed"}
    assert codes("/srv/data/secret/k", deny={"/srv/data/secret"}) == {"path-denied"}


def test_normalisation_folds_dots_and_never_climbs_above_root_or_home() -> None:
    assert normalise_path("/a/./b//c/../d/") == "/a/b/d"
    assert normalise_path("/../../etc") == "/etc"
    assert normalise_path("~/../x") == "~/x"
    assert normalise_path("../a/../../b") == "../../b"
    assert normalise_path("$HOME/.ssh") == "~/.ssh"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*"ab./~$-\x00", "..", "HOME", "{HOME}", "/etc", ".ssh"]), max_size=20).map("".join))
def test_analyse_path_never_raises_and_traversal_never_stays_inside(path: str) -> None:
    findings = analyse_path(path, base="/srv/work")
    assert findings == analyse_path(path, base="/srv/work")
    if path and "\x00" not in path and "path-traversal" not in {f.code for f in findings}:
        norm = normalise_path(path)
        target = norm if norm.startswith(("/", "~")) else normalise_path("/srv/work/" + path)
        assert target == "/srv/work" or target.startswith("/srv/work/")


# -- symlinks (real files in a temporary directory)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    base = tmp_path / "base"
    (base / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (base / "sub" / "file").write_text("x")
    os.symlink("/etc", base / "abs")
    os.symlink("../../outside", base / "sub" / "up")
    os.symlink("sub", base / "inner")
    os.symlink("loop2", base / "loop1")
    os.symlink("loop1", base / "loop2")
    os.mkfifo(base / "fifo")
    return base


def test_symlink_to_an_absolute_path_is_an_escape(tree: Path) -> None:
    assert [f.code for f in check_no_symlink_escape(tree, "abs/passwd")] == ["path-symlink-escape"]


def test_relative_symlink_climbing_out_of_the_base_is_an_escape(tree: Path) -> None:
    findings = check_no_symlink_escape(tree, "sub/up/anything")
    assert [f.code for f in findings] == ["path-symlink-escape"] and "'up'" in findings[0].message


def test_symlink_staying_inside_the_base_is_allowed(tree: Path) -> None:
    assert check_no_symlink_escape(tree, "inner/file") == []
    assert check_no_symlink_escape(tree, "inner/../inner/file") == []
    assert check_no_symlink_escape(str(tree), "sub/file") == []


def test_symlink_loop_is_reported(tree: Path) -> None:
    assert [f.code for f in check_no_symlink_escape(tree, "loop1")] == ["path-symlink-escape"]


def test_literal_dotdot_out_of_the_base_is_traversal(tree: Path) -> None:
    assert [f.code for f in check_no_symlink_escape(tree, "../x")] == ["path-traversal"]
    assert [f.code for f in check_no_symlink_escape(tree, "/etc/passwd")] == ["path-traversal"]


def test_missing_tail_and_fifo_are_walked_without_blocking(tree: Path) -> None:
    assert check_no_symlink_escape(tree, "not/yet/there") == []
    assert check_no_symlink_escape(tree, "fifo") == []
    assert check_no_symlink_escape(tree, "sub/file/below") == []


def test_unopenable_base_is_unverifiable(tmp_path: Path) -> None:
    assert [f.code for f in check_no_symlink_escape(tmp_path / "missing", "x")] == ["path-unverifiable"]


def test_symlink_planted_after_a_clean_check_is_caught_on_the_next_check(tree: Path) -> None:
    (tree / "data").mkdir()
    assert check_no_symlink_escape(tree, "data/out.txt") == []
    (tree / "data").rmdir()
    os.symlink("/", tree / "data")
    assert [f.code for f in check_no_symlink_escape(tree, "data/out.txt")] == ["path-symlink-escape"]
