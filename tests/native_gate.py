"""The native tests' gate: skipped when the core is not built, unless CI said it built it
(SPLITBRAIN_REQUIRE_NATIVE=1, set by quickstart test): then a missing core is an error, so
that CI cannot lose these tests silently."""

from __future__ import annotations

import os

import pytest


def require_native(available: bool, missing: str, skip_reason: str) -> None:
    if available:
        return
    if os.environ.get("SPLITBRAIN_REQUIRE_NATIVE") == "1":
        raise RuntimeError(f"SPLITBRAIN_REQUIRE_NATIVE=1 but {missing}")
    pytest.skip(skip_reason, allow_module_level=True)
