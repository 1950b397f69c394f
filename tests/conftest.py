from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPLITBRAIN_SHARED", ROOT.parent / "shared"))
REFERENCE = SHARED / "reference-histories"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def reference() -> Path:
    """The public reference histories (../shared/reference-histories); skipped in a user's clone."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference histories not present at {REFERENCE} (only CI and dev machines have ../shared)")
    return REFERENCE


def needs_root() -> pytest.MarkDecorator:
    return pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
