"""How values appear in explanations."""

from __future__ import annotations

from typing import Any


def fmt(vals: list[Any] | None, limit: int = 6) -> str:
    """Elle-style list: [1 2 3]; long ones keep their tail, which is what matters."""
    if not vals:
        return "[]"
    if len(vals) <= limit:
        return "[" + " ".join(map(str, vals)) + "]"
    return "[... " + " ".join(map(str, vals[-(limit - 1) :])) + "]"


def around(vals: list[Any], i: int, j: int) -> str:
    """The part of a long read around positions i..j: [... 3 2 ...]."""
    lo, hi = max(0, i - 1), min(len(vals), j + 2)
    body = " ".join(map(str, vals[lo:hi]))
    return "[" + ("... " if lo else "") + body + (" ..." if hi < len(vals) else "") + "]"
