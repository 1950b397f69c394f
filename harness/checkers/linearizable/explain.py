"""The anomaly for a key no order linearises: its listed ops and one or two sentences about
them that a database engineer can check from those ops alone."""

from __future__ import annotations

from typing import Any

from harness.checkers import models as models_
from harness.checkers.linearizable.calls import Call
from harness.checkers.linearizable.evidence import NO_INITIAL, Evidence
from harness.checkers.linearizable.search import MAX_EVIDENCE_STATES
from harness.history import OK, Op
from harness.verdict import Anomaly

MAX_EXPLAINED = 6  # ops beyond the named ones spelled out in an explanation


class Clock:
    """Times as text, with just enough decimals to tell apart the times one explanation uses."""

    def __init__(self, ops: list[Op]) -> None:
        ts = sorted({op.time for op in ops if op.time >= 0})
        self.decimals = 2
        while self.decimals < 6 and any(
            round(a / 1e9, self.decimals) == round(b / 1e9, self.decimals)
            for a, b in zip(ts, ts[1:], strict=False)
        ):
            self.decimals += 1

    def at(self, op: Op) -> str:
        return f"at {op.time / 1e9:.{self.decimals}f} s" if op.time >= 0 else f"at op {op.index}"


def op_text(o: Call, model: models_.Model, clock: Clock) -> str:
    d = model.describe_op(o.f, o.input, o.output, "")
    if o.comp is None or o.comp.type != OK:
        return f"{d} invoked {clock.at(o.inv)} (indeterminate)"
    return f"{d} invoked {clock.at(o.inv)}, completed {clock.at(o.comp)}"


def anomaly(
    key: Any, independent: bool, ops: list[Call], ev: Evidence, model: models_.Model
) -> Anomaly:
    res, blocked, keep, xi, latest = ev.result, ev.blocked, ev.keep, ev.x, ev.latest
    x = ops[xi]
    assert x.comp is not None  # x blocked the search at its return: it completed ok
    clock = Clock([op for i in keep for op in (ops[i].inv, ops[i].comp) if op is not None])
    where = f" of key {models_.show(key)}" if independent else ""
    head = model.describe_op(x.f, x.input, x.output, where)
    if x.f != "read":
        head = f"{head} succeeded"
    head += f" {clock.at(x.comp)} (invoked {clock.at(x.inv)})"

    states = list(blocked)
    shown = " or ".join(model.describe_state(s) for s in states)
    if res.blocked_count > len(states) and len(states) == MAX_EVIDENCE_STATES:
        shown += " (or more)"
    what = "the register" if isinstance(model, models_.Register) else "the registers"
    setters = sorted({o for o in blocked.values() if o >= 0}, key=lambda o: ops[o].call)
    parts = [f"{head}, but given the listed ops {what} could only hold {shown} then"]
    causes = [op_text(ops[o], model, clock) for o in setters]
    if -1 in blocked.values():
        causes.append("the initial value")
    if causes:
        parts.append(" (set by " + "; ".join(causes) + ")" if setters else " (the initial value)")

    hint_ops: list[int] = []
    needs, v = model.needs(x.f, x.input, x.output)
    if needs:
        if latest < 0:
            if v == getattr(model, "initial", NO_INITIAL):
                parts.append(f", and {models_.show(v)} is the initial value, already overwritten")
            else:
                parts.append(f", and no write of {models_.show(v)} exists")
        else:
            hint_ops.append(latest)
            parts.append(
                f"; no order puts a write of {models_.show(v)} between them"
                f" (the latest is {op_text(ops[latest], model, clock)})"
            )
    parts.append(".")
    named = [xi, *setters, *hint_ops]
    others = sorted(set(keep) - set(named), key=lambda i: ops[i].call)
    if others:
        texts = [op_text(ops[i], model, clock) for i in others[:MAX_EXPLAINED]]
        if len(others) > MAX_EXPLAINED:
            texts.append(f"{len(others) - MAX_EXPLAINED} more listed ops")
        parts.append(" The other ops that force this: " + "; ".join(texts) + ".")

    idx: list[int] = []
    for o in [*named, *others]:
        lo = ops[o]
        idx.append(lo.inv.index)
        if lo.comp is not None:
            idx.append(lo.comp.index)
    return Anomaly(
        type="nonlinearizable",
        ops=list(dict.fromkeys(idx)),
        explanation="".join(parts),
        data={
            "key": key if independent else None,
            "op": x.inv.index,
            "prefix_end": x.comp.index,
            "possible_states": [model.describe_state(s) for s in states],
            "linearised_ops_before": res.linearised,
            "configurations_blocked": res.blocked_count,
            "evidence_minimal": ev.minimal,  # False if the shrink ran out of budget (still valid)
        },
    )
