"""Checkers: pure functions of a history -> Verdict. No I/O, no clocks, no randomness.

Registry name -> "module:function"; every function has the signature
`check(history: list[Op], **options) -> Verdict`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.history import Op
from harness.registry import resolve
from harness.verdict import Verdict

REGISTRY = {
    "set": "harness.checkers.set:check",
    "linearizable": "harness.checkers.linearizable:check",
    "list-append": "harness.checkers.elle:check",
    "bank": "harness.checkers.bank:check",
    "counter": "harness.checkers.counter:check",
    "conflicts": "harness.checkers.conflicts:check",
}


def get(name: str) -> Callable[..., Verdict]:
    return resolve(REGISTRY, name, "--checker")


def check(name: str, history: list[Op], **options: Any) -> Verdict:
    return get(name)(history, **options)
