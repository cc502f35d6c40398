"""Shared test fixtures: paths to the shared external vectors and throwaway homes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_VECTORS = ROOT.parent / "shared" / "vectors"
LOCAL_VECTORS = Path(__file__).resolve().parent / "vectors"


@pytest.fixture
def shared_vectors() -> Path:
    if not SHARED_VECTORS.is_dir():
        # CI runs beside shared/: there a missing vector folder is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"shared vectors not found at {SHARED_VECTORS}")
        pytest.skip(f"shared vectors not found at {SHARED_VECTORS}")
    return SHARED_VECTORS
