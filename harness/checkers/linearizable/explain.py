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


MAX_ORDER = 200  # ops of the partial linearization kept in the anomaly (its latest ones)


def unique_anomaly(key: Any, ops: list[Call], proof: Any, model: models_.Model) -> Anomaly:
    """The anomaly for a kv key the unique-values method found not linearizable (see
    unique.py): the op x no order places, and why the listed ops cannot be ordered."""
    from harness.checkers.linearizable.unique import INIT

    keep, why, x = proof.keep, proof.why, ops[proof.x]
    assert x.comp is not None
    clock = Clock([op for i in keep for op in (ops[i].inv, ops[i].comp) if op is not None])
    where = f" of key {models_.show(key)}"

    def name(i: int) -> str:
        if i == INIT:
            return "the initial value"
        o = ops[i]
        return f"the {model.describe_op(o.f, o.input, o.output)}"

    def told(g: int) -> str:
        return f"{op_text(ops[g], model, clock)}"

    head = model.describe_op(x.f, x.input, x.output, where)
    verb = "" if x.f == "get" else " succeeded"
    parts = [f"{head}{verb} {clock.at(x.comp)} (invoked {clock.at(x.inv)}), and no order of "]
    parts.append(
        "the listed ops places it. A get's value tells which put (or the initial value) and "
        "which appends, in order, came right before it"
    )
    if proof.ways > 1:
        parts.append(
            f" (appends that write the same value make {proof.ways} ways to read the gets; "
            "each fails, the first so)"
        )
    parts.append(": ")
    k, w = why.kind, why.ops
    if k == "no-split":
        parts.append(
            f"{told(w[0])}, but no put or initial value followed by appends invoked before it "
            "returned makes that value"
        )
    elif k == "two-next":
        g1, g2 = why.gets
        parts.append(
            f"{told(g1)} says {name(w[1])} came right after {name(w[0])}, and {told(g2)} says "
            f"{name(w[2])} did; both cannot be so"
        )
    elif k == "two-before":
        g1, g2 = why.gets
        parts.append(
            f"{told(g1)} says {name(w[0])} came right after {name(w[1])}, and {told(g2)} says "
            f"it came right after {name(w[2])}; both cannot be so"
        )
    elif k == "backward":
        a, b = w
        parts.append(
            f"the values read order {name(b)} after {name(a)}, but it completed "
            f"{_at(clock, ops[b].comp)} before that was invoked "
            f"{clock.at(ops[a].inv)}"
        )
    else:  # cycle
        u1, v1, u2, v2 = w
        parts.append(
            "the values read tie the listed writes and gets into two runs, each of which must "
            f"come first: {name(u1)} completed {_at(clock, ops[u1].comp)} "
            f"before {name(v1)} was invoked {clock.at(ops[v1].inv)}, and {name(u2)} completed "
            f"{_at(clock, ops[u2].comp)} before {name(v2)} was invoked {clock.at(ops[v2].inv)}"
        )
    parts.append(".")
    named = {x_ for x_ in [proof.x, *w, *why.gets] if x_ != INIT}
    others = [i for i in keep if i not in named]
    if others:
        texts = [op_text(ops[i], model, clock) for i in others[:MAX_EXPLAINED]]
        if len(others) > MAX_EXPLAINED:
            texts.append(f"{len(others) - MAX_EXPLAINED} more listed ops")
        parts.append(" The other listed ops: " + "; ".join(texts) + ".")
    idx: list[int] = []
    for i in [proof.x, *sorted(named - {proof.x}, key=lambda i: ops[i].call), *others]:
        lo = ops[i]
        idx.append(lo.inv.index)
        if lo.comp is not None:
            idx.append(lo.comp.index)
    order = [ops[i].inv.index for i in proof.order if i != INIT]
    return Anomaly(
        type="nonlinearizable",
        ops=list(dict.fromkeys(idx)),
        explanation="".join(parts),
        data={
            "key": key,
            "op": x.inv.index,
            "prefix_end": x.comp.index,
            "possible_states": [],
            "linearised_ops_before": len(order),
            "linearization": order[-MAX_ORDER:],
            "method": "unique-values",
            "reason": why.kind,
            "evidence_minimal": proof.minimal,
        },
    )


def _at(clock: Clock, op: Op | None) -> str:
    return clock.at(op) if op is not None else "never"


def whole_key_anomaly(key: Any, ops: list[Call]) -> Anomaly:
    """A kv key decided not linearizable whose evidence could not be shrunk: all its ops."""
    idx = [i for o in ops for i in (o.inv.index, o.comp.index if o.comp else None) if i is not None]
    return Anomaly(
        type="nonlinearizable",
        ops=idx,
        explanation=(
            f"no order of the {len(ops)} ops of key {models_.show(key)} is linearizable (from "
            "the order of writes its gets reveal, each way of reading them); the evidence "
            "could not be narrowed down, so every op of the key is listed"
        ),
        data={"key": key, "method": "unique-values", "evidence_minimal": False},
    )
