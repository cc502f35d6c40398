"""``sealgate demo`` runs the whole flow end to end and shows every outcome it promises."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.cli.clihome import SEALGATE, SEALGATE_VARIABLES

EXPECTED = [
    "ALLOWED",
    "hello demo, from a sealed tool",
    "check-denied: tools/acme/hello/1.0.0 fails the runtime checks",
    "DENIED digest-mismatch",
    "DENIED threshold-not-met",
    "DENIED not-registered",
    "DENIED revoked",
    "registry-rollback",
    "audit log OK",
]


def test_demo_runs_to_exit_0_and_shows_each_outcome(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SEALGATE_VARIABLES}
    # A home that must not be touched: the demo works only in its own throwaway folder.
    env.update(TMPDIR=str(tmp_path), SEALGATE_HOME=str(tmp_path / "untouched-home"), COLUMNS="200")
    result = subprocess.run(
        [str(SEALGATE), "demo"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    missing = [text for text in EXPECTED if text not in output]
    assert missing == [], f"the demo output lacks {missing}"
    assert list(tmp_path.iterdir()) == [], "the demo left files behind (or wrote to SEALGATE_HOME)"
