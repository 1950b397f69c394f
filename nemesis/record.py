"""Fault windows from the nemesis ops of a history (pure)."""

from __future__ import annotations

from typing import Any

from harness.ops import INFO, NEMESIS, Op


def windows(history: list[Op]) -> list[dict[str, Any]]:
    """[{fault, start, end, start_index, end_index, value}] with times in ns.

    A window opens at the completion of "start-<fault>" and closes at the completion of the
    matching "stop-<fault>"; a window never closed ends at the last op of the history."""
    end_of_history = max((op.time for op in history), default=0)
    open_: dict[str, list[dict[str, Any]]] = {}
    out: list[dict[str, Any]] = []
    for op in history:
        if op.process != NEMESIS or op.type != INFO or op.error is not None:
            continue  # a fault that could not be injected opened no window
        if op.f.startswith("start-"):
            fault = op.f[len("start-") :]
            w = {
                "fault": fault,
                "start": op.time,
                "end": None,
                "start_index": op.index,
                "end_index": None,
                "value": op.value,
            }
            open_.setdefault(fault, []).append(w)
            out.append(w)
        elif op.f.startswith("stop-"):
            fault = op.f[len("stop-") :]
            if open_.get(fault):
                w = open_[fault].pop(0)
                w["end"], w["end_index"] = op.time, op.index
    for w in out:
        if w["end"] is None:
            w["end"] = end_of_history
    return out
