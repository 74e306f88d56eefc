from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FLEXPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real annotation files beside the checkout (CI has them); skip when absent."""
    if not (SHARED_DATA / "README.md").exists():
        pytest.skip(f"real pose data not found at {SHARED_DATA} (set FLEXPOSE_SHARED_DATA to its folder)")
    return SHARED_DATA
