"""What the checkers share about bad input: a history of the wrong shape is a one-line
HistoryError naming the op, a bad option a SpecError naming the option (issue 11), never a
TypeError or KeyError from deep inside a checker."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping, Sequence
from typing import Any

from harness.checkers.models import MAX_DEPTH
from harness.errors import HistoryError
from harness.history import Op
from harness.options import Option, validate

_SHOWN = 60  # characters of a bad value quoted in an error
_MAX_BITS = 1024  # an integer longer than any a database returns (and printable as text)


def read_options(
    checker: str, declared: Sequence[Option], given: Mapping[str, Any]
) -> dict[str, Any]:
    """The parsed options; None leaves an option unset (its default)."""
    return validate(
        {k: v for k, v in given.items() if v is not None},
        [(checker, declared)],
        flag=f"{checker} option",
    )


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 4, 4, 40, 40


def shown(v: Any) -> str:
    """A bad value, briefly (deeply nested, long or unprintable values too)."""
    try:
        s = _REPR.repr(v)
    except ValueError:  # an integer too long to print
        return f"<{v.bit_length()}-bit integer>" if isinstance(v, int) else "<unprintable>"
    return s if len(s) <= _SHOWN else s[: _SHOWN - 3] + "..."


def bad(op: Op, problem: str) -> HistoryError:
    return HistoryError(f"op {op.index} ({op.type} {op.f}): {problem}")


def pair(op: Op, v: Any, what: str = "[key value]") -> tuple[Any, Any]:
    if not isinstance(v, list | tuple) or len(v) != 2:
        raise bad(op, f"value must be {what}, got {shown(v)}")
    return v[0], v[1]


def hashable(op: Op, v: Any, what: str, depth: int = 0) -> Any:
    """v as a dict key: lists become tuples (JSON has no tuples); a map is refused."""
    if isinstance(v, list | tuple):
        if depth >= MAX_DEPTH:
            raise bad(op, f"{what} is nested more than {MAX_DEPTH} deep")
        return tuple(hashable(op, x, what, depth + 1) for x in v)
    if isinstance(v, dict | set):
        raise bad(op, f"{what} must be a scalar or a list, got {shown(v)}")
    if isinstance(v, float) and not math.isfinite(v):
        raise bad(op, f"{what} must be finite, got {shown(v)}")
    if isinstance(v, int) and v.bit_length() > _MAX_BITS:
        raise bad(op, f"{what} is out of range: {shown(v)}")
    return v


def integer(op: Op, v: Any, what: str) -> int:
    """An exact integer: bool, a float with a fraction, Infinity or NaN, text are refused."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise bad(op, f"{what} must be an integer, got {shown(v)}")
    if isinstance(v, float):
        if not math.isfinite(v) or not v.is_integer():
            raise bad(op, f"{what} must be an integer, got {shown(v)}")
        return int(v)
    if v.bit_length() > _MAX_BITS:
        raise bad(op, f"{what} is out of range: {shown(v)}")
    return v
