"""docs/checks.md lists every finding code with the severity the code gives it."""

from __future__ import annotations

import re
from pathlib import Path

from sealgate.checks import CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "checks.md"


def test_every_code_is_documented_with_its_severity() -> None:
    rows = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (critical|high|medium|low|info) \|", DOC.read_text("utf-8"), re.M))
    assert rows == {code: severity.value for code, severity in CODES.items()}
