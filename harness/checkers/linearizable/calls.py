"""From a history to the calls the search orders: one list of calls per key, each with the
position of its invocation and of its ok completion (+infinity when indeterminate)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.checkers import models as models_
from harness.errors import HistoryError
from harness.history import INFO, OK, Op, pairs

INF = math.inf


@dataclass(slots=True)
class Call:
    call: int  # position of the invocation in the history
    ret: float  # position of the ok completion; INF if indeterminate
    f: str
    input: Any
    output: Any
    inv: Op
    comp: Op | None


@dataclass
class Prepared:
    by_key: dict[Any, list[Call]]
    independent: bool
    counts: dict[str, int]  # "fail", "info", "info-dropped"
    notes: list[str]
    calls: int  # client invocations (a history of failed ops has calls but no key)


def _is_pair(v: Any) -> bool:
    t = type(v)
    if t is list or t is tuple:  # the common case, without isinstance of a union
        return len(v) == 2
    return isinstance(v, list | tuple) and len(v) == 2


def detect_independent(
    calls: list[tuple[Op, Op | None]], model: models_.Model
) -> tuple[bool, str | None]:
    """Jepsen's independent form, recognised only when nothing else fits: every value is a
    [key value] pair (cas: [key [old new]]) and at least one read is [key nil]."""
    if not isinstance(model, models_.Register) or not calls:
        return False, None
    saw_keyed_read = False
    for inv, _ in calls:
        v = inv.value
        if not _is_pair(v) or (inv.f == "cas" and not _is_pair(v[1])):
            return False, None
        if inv.f == "read" and v[1] is None:
            saw_keyed_read = True
    if not saw_keyed_read:
        return False, (
            "every value looks like a [key value] pair but no read [key nil] confirms it; "
            "checked as one register (pass independent=True to split by key)"
        )
    return True, None


def _split(v: Any, op: Op) -> tuple[Any, Any]:
    if not _is_pair(v):
        raise HistoryError(
            f"op {op.index}: independent value must be [key value], got {models_.show(v)}"
        )
    try:
        return models_.freeze(v[0]), v[1]
    except ValueError as e:
        raise HistoryError(f"op {op.index}: key: {e}") from None


class OpError(HistoryError):
    """A HistoryError about one op, with its position in the history (the CLI names the
    op's line in the file)."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


def _keyed(inv: Op, comp: Op | None, ok: bool, pos: dict[int, int]) -> tuple[Any, Any, Any]:
    """(key, invocation value, completion value) of an op of a keyed model: the key is the
    op's `key` field, else the first of Jepsen's independent [key value]."""

    def split(op: Op) -> tuple[Any, Any]:
        if "key" in op.extra:
            k, v = op.extra["key"], op.value
        elif _is_pair(op.value):
            k, v = op.value
        else:
            raise OpError(
                f"op {op.index}: {op.f} has no key (neither a :key field nor a [key value])",
                pos[id(op)],
            )
        if k is None:
            raise OpError(f"op {op.index}: {op.f} has no key (its key is nil)", pos[id(op)])
        try:
            return models_.freeze(k), v
        except ValueError as e:
            raise OpError(f"op {op.index}: key: {e}", pos[id(op)]) from None

    key, iv = split(inv)
    cv = None
    if ok:
        assert comp is not None
        ckey, cv = split(comp)
        if ckey != key:
            raise OpError(
                f"op {comp.index}: completes key {models_.show(ckey)} but op {inv.index} "
                f"invoked key {models_.show(key)}",
                pos[id(comp)],
            )
    return key, iv, cv


def prepare(history: list[Op], model: models_.Model, independent: bool | None) -> Prepared:
    pos = {id(op): i for i, op in enumerate(history)}
    calls = list(pairs(history))
    notes: list[str] = []
    if model.keyed:
        independent = True  # the key is in each op (a :key field or [key value])
    elif independent is None:
        independent, note = detect_independent(calls, model)
        if note:
            notes.append(note)
    counts = {"fail": 0, "info": 0, "info-dropped": 0}
    by_key: dict[Any, list[Call]] = {}
    for inv, comp in calls:
        call = _call(inv, comp, model, independent, pos, counts)
        if call is not None:
            by_key.setdefault(call[0], []).append(call[1])
    return Prepared(by_key, bool(independent), counts, notes, len(calls))


def _call(
    inv: Op,
    comp: Op | None,
    model: models_.Model,
    independent: bool,
    pos: dict[int, int],
    counts: dict[str, int],
) -> tuple[Any, Call] | None:
    typ = comp.type if comp is not None else INFO
    if typ == "fail":
        counts["fail"] += 1
        return None
    if typ not in (OK, INFO):  # an invoke completing an invoke: treat as never completed
        typ = INFO
    ok = typ == OK
    iv, cv = inv.value, comp.value if comp is not None else None
    key = None
    if model.keyed:
        key, iv, cv = _keyed(inv, comp, ok, pos)
    elif independent:
        key, iv = _split(iv, inv)
        if ok:
            assert comp is not None
            ckey, cv = _split(cv, comp)
            if ckey != key:
                raise HistoryError(
                    f"op {comp.index}: completes key {models_.show(ckey)} but op {inv.index} "
                    f"invoked key {models_.show(key)}"
                )
    try:
        prep = model.prepare(inv.f, iv, cv, ok)
    except ValueError as e:
        bad = comp if ok and comp is not None and inv.f == "get" else inv
        raise OpError(f"op {bad.index}: {e}", pos[id(bad)]) from None
    if prep is None:
        counts["info-dropped"] += 1
        return None
    if not ok:
        counts["info"] += 1
    ret = pos[id(comp)] if ok else INF
    return key, Call(pos[id(inv)], ret, inv.f, prep[0], prep[1], inv, comp)
