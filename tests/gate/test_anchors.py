"""Production trust anchors: writability judged from ownership and mode bits, for any uid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sealgate.errors import UsageError
from sealgate.gate import GateRequest
from sealgate.gate._anchors import writable_anchors

SERVICE, CALLER, GROUP = 4242, 5151, 4343


def _own(path: Path, mode: int, uid: int = SERVICE, gid: int = GROUP) -> Path:
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


@pytest.fixture
def anchors(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("chown to other uids needs root")
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "pin.json").write_text("{}")
    _own(trust, 0o755)
    _own(trust / "pin.json", 0o644)
    return trust


def test_service_owned_read_only_anchors_pass_for_another_user(anchors: Path) -> None:
    assert writable_anchors([anchors], uid=CALLER, gids=[CALLER]) == []


def test_anchor_owned_by_the_caller_is_refused(anchors: Path) -> None:
    assert writable_anchors([anchors], uid=SERVICE, gids=[SERVICE]) == [anchors]


def test_group_writable_file_inside_an_anchor_is_refused(anchors: Path) -> None:
    _own(anchors / "pin.json", 0o664)
    assert writable_anchors([anchors], uid=CALLER, gids=[GROUP]) == [anchors / "pin.json"]
    assert writable_anchors([anchors], uid=CALLER, gids=[CALLER]) == []


def test_world_writable_directory_is_refused_and_recursion_is_optional(anchors: Path) -> None:
    _own(anchors / "pin.json", 0o666)
    assert writable_anchors([anchors], uid=CALLER, gids=[CALLER]) == [anchors / "pin.json"]
    assert writable_anchors([anchors], uid=CALLER, gids=[CALLER], recursive=False) == []


def test_root_can_write_everything_so_root_is_always_refused(anchors: Path) -> None:
    assert writable_anchors([anchors], uid=0, gids=[0]) == [anchors]


def test_missing_anchor_is_not_reported(tmp_path: Path) -> None:
    assert writable_anchors([tmp_path / "absent"], uid=CALLER, gids=[CALLER]) == []


def test_request_from_an_unknown_interface_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        GateRequest(kind="tool", name="acme/x", version="1", path=tmp_path, interface="smtp")
