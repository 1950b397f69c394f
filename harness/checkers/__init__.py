"""Checkers: pure functions of a history -> Verdict. No I/O, no clocks, no randomness.

Registry name -> "module:function"; every function has the signature
`check(history: list[Op], **options) -> Verdict`, and its module declares the options it
takes as `OPTIONS: tuple[harness.options.Option, ...]`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from harness.checkers.shapes import read_options
from harness.errors import HistoryError, SpecError, one_line
from harness.history import Op
from harness.options import Option
from harness.registry import CHECKERS, resolve
from harness.verdict import Verdict


def get(name: str) -> Callable[..., Verdict]:
    return resolve(CHECKERS, name, "--checker")


def _declared(name: str) -> tuple[Option, ...] | None:
    """The OPTIONS of the checker's module; None if it declares none (not even empty)."""
    get(name)  # a SpecError naming the known checkers if there is no such one
    module = importlib.import_module(CHECKERS[name].split(":")[0])
    opts = getattr(module, "OPTIONS", None)
    return None if opts is None else tuple(opts)


def options_of(name: str) -> tuple[Option, ...]:
    """The options the checker `name` declares."""
    return _declared(name) or ()


def anomalies_of(name: str) -> tuple[str, ...]:
    """The anomaly types the checker `name` declares it reports (its module's ANOMALIES)."""
    get(name)
    module = importlib.import_module(CHECKERS[name].split(":")[0])
    return tuple(getattr(module, "ANOMALIES", ()))


def meets(found: str, wanted: str) -> bool:
    """Whether an anomaly of type `found` is one of `wanted`: the same type, or a special case
    of it in the list-append taxonomy (a G1a meets a G1 target)."""
    if found == wanted:
        return True
    from harness.checkers.elle.anomalies import special_cases

    return found in special_cases(wanted)


def check(name: str, history: list[Op], **options: Any) -> Verdict:
    """Run a checker, its options validated first: an unknown key or a bad value is a
    SpecError naming the key (and the known keys)."""
    declared = _declared(name)
    if declared is not None:  # a module without OPTIONS gets its options as given
        read_options(name, declared, options)
    return get(name)(history, **options)


def check_safely(name: str, history: list[Op], **options: Any) -> Verdict:
    """check(), but a checker that crashes (a bug, not a bad history or option) gives an
    "unknown" verdict saying so instead of losing the run's other verdicts."""
    try:
        return check(name, history, **options)
    except (HistoryError, SpecError):
        raise
    except Exception as e:  # noqa: BLE001 (any crash of a checker is reported, not raised)
        error = f"{type(e).__name__}: {one_line(e)}"
        return Verdict(
            checker=name,
            valid="unknown",
            notes=[f"checker crashed: {error}"],
            stats={"error": error},
        )
