"""Linearizability checker: Wing & Gong's search with Lowe's improvements.

Semantics are Jepsen's (Knossos): an `ok` op took effect exactly once between its invocation
and its completion; a `fail` op never took effect (dropped); an `info` op, or an invocation
that never completed, took effect at some point after its invocation or never (its
completion is at +infinity, and the search need not linearise it). Indeterminate reads carry
no information and are dropped. Nemesis ops are ignored. Real-time order is history order.

The search (per key, see P-compositionality below) walks a doubly-linked list of call and
return events. At each step it tries to linearise a pending call next; it backtracks when it
meets the return of an op not yet linearised. Configurations (bitset of linearised ops,
model state) already explored are memoised, so no configuration is explored twice. Two
reductions keep crashed (indeterminate) ops from multiplying the configurations: such ops
with the same f and input are interchangeable, so only the earliest unused one of each
class is tried; and a configuration is pruned when an explored one had the same definite
ops and state with a subset of its indeterminate ops (those may always be left for later).
The search succeeds as soon as every op with a finite return is linearised.

Evidence: the last return event any branch was blocked at marks the shortest prefix that
cannot be linearised; its op is illegal in every configuration that reached it, and the
model states of those configurations are reported with the ops that produced them.

P-compositionality: with `independent=True` (Jepsen's independent form, value [key value])
every key is a separate register and is checked on its own.

Options: `model` ("cas-register"), `independent` (None = detect), `initial` (model initial
value), `time_limit` (s, default 60), `max_states` (memoised configurations held for one key,
default 2,000,000), `max_memory_mb` (default 1024: lowers max_states for long keys, whose
bitsets are large). A budget that runs out gives valid "unknown", never a guess.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from harness.checkers import models as models_
from harness.errors import HistoryError
from harness.history import INFO, OK, Op, pairs
from harness.verdict import Anomaly, Verdict

NAME = "linearizable"
INF = math.inf
_CHECK_EVERY = 2048  # iterations between budget checks
_MAX_EVIDENCE_STATES = 8


@dataclass(slots=True)
class _LinOp:
    call: int  # position of the invocation in the history
    ret: float  # position of the ok completion; INF if indeterminate
    f: str
    input: Any
    output: Any
    inv: Op
    comp: Op | None


@dataclass
class _Result:
    status: bool | str  # True, False, "budget-time", "budget-states"
    states: int = 0
    blocked_op: int = -1  # index into the key's op list of the op no order can place
    blocked_states: dict[Any, int] = field(default_factory=dict)  # state -> setter op (-1 init)
    blocked_count: int = 0
    linearised: int = 0  # ops linearised at the latest blocking point (for notes)
    max_states: int = 0  # the states budget in force (max_states, or less for memory)


class _Budget:
    def __init__(self, time_limit: float | None, max_states: int, max_memory_mb: float) -> None:
        self.deadline = time.monotonic() + time_limit if time_limit else INF
        self.max_states = max_states
        self.max_bytes = int(max_memory_mb * 2**20)

    def expired(self) -> bool:
        return time.monotonic() > self.deadline


def _search(ops: list[_LinOp], model: models_.Model, budget: _Budget) -> _Result:
    n = len(ops)
    required = sum(1 for o in ops if o.ret != INF)
    if required == 0:
        return _Result(True)

    # Events in real-time order; entry 0 is the head sentinel, entry E+1 the tail.
    events = sorted(
        [(o.call, i, True) for i, o in enumerate(ops)]
        + [(o.ret, i, False) for i, o in enumerate(ops) if o.ret != INF]
    )
    size = len(events) + 2
    nxt = list(range(1, size + 1))
    prv = list(range(-1, size - 1))
    is_call = [False] * size
    op_of = [0] * size
    call_e = [0] * n
    ret_e = [-1] * n
    for e, (_, i, c) in enumerate(events, start=1):
        is_call[e] = c
        op_of[e] = i
        if c:
            call_e[i] = e
        else:
            ret_e[i] = e

    fs = [o.f for o in ops]
    ins = [o.input for o in ops]
    outs = [o.output for o in ops]
    # Ops with a return and indeterminate ops get bits in separate sets (`lin`, `linfo`).
    definite = [o.ret != INF for o in ops]
    bit = [0] * n
    nd = ni = 0
    for i in range(n):
        if definite[i]:
            bit[i] = 1 << nd
            nd += 1
        else:
            bit[i] = 1 << ni
            ni += 1
    # Indeterminate ops with the same f and input are interchangeable: only the earliest
    # not yet linearised one of each class is tried (symmetry reduction).
    klass = [0] * n
    rank = [0] * n
    classes: dict[tuple[str, Any], int] = {}
    members: list[int] = []
    for i in sorted(range(n), key=lambda i: ops[i].call):
        if not definite[i]:
            c = classes.setdefault((fs[i], ins[i]), len(classes))
            if c == len(members):
                members.append(0)
            klass[i] = c
            rank[i] = members[c]
            members[c] += 1
    used = [0] * len(classes)
    step = model.step
    # memory per memoised configuration: two bitsets, the state, the dict slot
    max_states = min(budget.max_states, budget.max_bytes // (120 + (nd + ni) // 8))

    state = model.init()
    lin = linfo = 0
    stack: list[tuple[int, Any]] = []
    # (lin, state) -> indeterminate sets seen with it. An indeterminate op never has to be
    # linearised and can be at any later point, so a configuration that used a superset of
    # the indeterminate ops of an explored one, with the same definite ops and state, can
    # do nothing the explored one could not: it is pruned (Lowe's memo, plus subsumption).
    cache: dict[tuple[int, Any], list[int]] = {}
    n_states = 0
    remaining = required
    res = _Result(False)
    block_e = 0  # latest return entry any branch was blocked at
    ticks = 0
    entry = nxt[0]
    while True:
        ticks += 1
        if ticks >= _CHECK_EVERY:
            ticks = 0
            if budget.expired():
                res.status = "budget-time"
                break
        if is_call[entry]:
            o = op_of[entry]
            if not definite[o] and rank[o] != used[klass[o]]:
                entry = nxt[entry]
                continue
            new = step(state, fs[o], ins[o], outs[o])
            if new is not None:
                if definite[o]:
                    nlin, nlinfo = lin | bit[o], linfo
                    key = (nlin, new)
                else:
                    nlin, nlinfo = lin, linfo | bit[o]
                    used[klass[o]] += 1  # undone below if the configuration is not fresh
                    key = (nlin, new)
                seen = cache.get(key)
                if seen is None:
                    cache[key] = [nlinfo]
                    fresh = True
                else:
                    fresh = True
                    for s_ in seen:
                        if s_ | nlinfo == nlinfo:
                            fresh = False
                            break
                    if fresh:
                        seen.append(nlinfo)
                if not fresh and not definite[o]:
                    used[klass[o]] -= 1
                if fresh:
                    n_states += 1
                    stack.append((o, state))
                    state = new
                    lin = nlin
                    linfo = nlinfo
                    # lift the op's call and return out of the list
                    nxt[prv[entry]] = nxt[entry]
                    prv[nxt[entry]] = prv[entry]
                    r = ret_e[o]
                    if r >= 0:
                        nxt[prv[r]] = nxt[r]
                        prv[nxt[r]] = prv[r]
                        remaining -= 1
                        if remaining == 0:
                            res.status = True
                            break
                    if n_states > max_states:
                        res.status = "budget-states"
                        break
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
        else:
            # the return of an op not linearised yet: this order cannot work
            if entry >= block_e:
                if entry > block_e:
                    block_e = entry
                    res.blocked_states.clear()
                    res.blocked_count = 0
                    res.linearised = len(stack)
                res.blocked_count += 1
                if (
                    state not in res.blocked_states
                    and len(res.blocked_states) < _MAX_EVIDENCE_STATES
                ):
                    res.blocked_states[state] = _setter(stack, state)
            if not stack:
                break  # every order failed
            o, state = stack.pop()
            if definite[o]:
                lin ^= bit[o]
            else:
                linfo ^= bit[o]
                used[klass[o]] -= 1
            e = call_e[o]
            r = ret_e[o]
            if r >= 0:
                nxt[prv[r]] = r
                prv[nxt[r]] = r
                remaining += 1
            nxt[prv[e]] = e
            prv[nxt[e]] = e
            entry = nxt[e]
    res.states = n_states
    res.max_states = max_states
    if block_e:
        res.blocked_op = op_of[block_e]
    return res


def _setter(stack: list[tuple[int, Any]], state: Any) -> int:
    """The op that produced `state` on this branch (the last one that changed the state)."""
    for o, before in reversed(stack):
        if before != state:
            return o
    return -1


# -- preparing the history -------------------------------------------------------------------


def _is_pair(v: Any) -> bool:
    return isinstance(v, list | tuple) and len(v) == 2


def _detect_independent(
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


def _split(v: Any, inv: Op) -> tuple[Any, Any]:
    if not _is_pair(v):
        raise HistoryError(f"op {inv.index}: independent value must be [key value], got {v!r}")
    return models_.freeze(v[0]), v[1]


def _prepare(
    history: list[Op], model: models_.Model, independent: bool | None
) -> tuple[dict[Any, list[_LinOp]], bool, dict[str, int], list[str]]:
    pos = {id(op): i for i, op in enumerate(history)}
    calls = list(pairs(history))
    notes: list[str] = []
    if independent is None:
        independent, note = _detect_independent(calls, model)
        if note:
            notes.append(note)
    counts = {"fail": 0, "info": 0, "info-dropped": 0}
    by_key: dict[Any, list[_LinOp]] = {}
    for inv, comp in calls:
        typ = comp.type if comp is not None else INFO
        if typ == "fail":
            counts["fail"] += 1
            continue
        if typ not in (OK, INFO):  # an invoke completing an invoke: treat as never completed
            typ = INFO
        ok = typ == OK
        iv, cv = inv.value, comp.value if comp is not None else None
        key = None
        if independent:
            key, iv = _split(iv, inv)
            if ok:
                ckey, cv = _split(cv, comp)  # type: ignore[arg-type]
                if ckey != key:
                    raise HistoryError(
                        f"op {comp.index}: completes key {ckey!r} but op {inv.index} invoked key {key!r}"
                    )  # type: ignore[union-attr]
        try:
            prep = model.prepare(inv.f, iv, cv, ok)
        except ValueError as e:
            raise HistoryError(f"op {inv.index}: {e}") from None
        if prep is None:
            counts["info-dropped"] += 1
            continue
        if not ok:
            counts["info"] += 1
        ret = pos[id(comp)] if ok else INF
        by_key.setdefault(key, []).append(
            _LinOp(pos[id(inv)], ret, inv.f, prep[0], prep[1], inv, comp)
        )
    return by_key, bool(independent), counts, notes


# -- explanations -----------------------------------------------------------------------------


def _at(op: Op) -> str:
    return f"at {op.time / 1e9:.2f} s" if op.time >= 0 else f"at op {op.index}"


def _op_text(o: _LinOp, model: models_.Model, where: str) -> str:
    d = model.describe_op(o.f, o.input, o.output, where)
    if o.ret == INF:
        return f"{d} invoked {_at(o.inv)} (indeterminate)"
    return f"{d} completed {_at(o.comp)}"  # type: ignore[arg-type]


def _anomaly(
    key: Any, independent: bool, ops: list[_LinOp], res: _Result, model: models_.Model
) -> Anomaly:
    x = ops[res.blocked_op]
    where = f" of key {models_.show(key)}" if independent else ""
    verb = "returned" if x.f == "read" else "succeeded"
    head = model.describe_op(x.f, x.input, x.output, where)
    if x.f != "read":
        head = f"{head} {verb}"
    head += f" {_at(x.comp)}"  # type: ignore[arg-type]

    states = list(res.blocked_states)
    shown = " or ".join(model.describe_state(s) for s in states)
    if res.blocked_count > len(states) and len(states) == _MAX_EVIDENCE_STATES:
        shown += " (or more)"
    what = "the register" if isinstance(model, models_.Register) else "the registers"
    setters = sorted({o for o in res.blocked_states.values() if o >= 0}, key=lambda o: ops[o].call)
    parts = [f"{head}, but {what} could only hold {shown} then"]
    causes = [_op_text(ops[o], model, "") for o in setters]
    if -1 in res.blocked_states.values():
        causes.append("the initial value")
    if causes:
        parts.append(" (set by " + "; ".join(causes) + ")" if setters else " (the initial value)")

    hint_ops: list[int] = []
    needs, v = model.needs(x.f, x.input, x.output)
    if needs:
        cands = [
            i
            for i, o in enumerate(ops)
            if o is not x and o.call < x.ret and model.writes(o.f, o.input) == (True, v)
        ]
        if not cands:
            init = getattr(model, "initial", None)
            extra = " and it was already overwritten" if v == init else ""
            parts.append(f", and no write of {models_.show(v)} exists{extra}")
        else:
            last = max(cands, key=lambda i: ops[i].ret if ops[i].ret != INF else ops[i].call)
            hint_ops.append(last)
            parts.append(
                f"; no order puts a write of {models_.show(v)} between them"
                f" (the latest is {_op_text(ops[last], model, '')})"
            )

    idx: list[int] = []
    for o in [res.blocked_op, *setters, *hint_ops]:
        lo = ops[o]
        idx.append(lo.inv.index)
        if lo.comp is not None:
            idx.append(lo.comp.index)
    return Anomaly(
        type="nonlinearizable",
        ops=list(dict.fromkeys(idx)),
        explanation="".join(parts) + ".",
        data={
            "key": key if independent else None,
            "op": x.inv.index,
            "prefix_end": x.comp.index,  # type: ignore[union-attr]
            "possible_states": [model.describe_state(s) for s in states],
            "linearised_ops_before": res.linearised,
            "configurations_blocked": res.blocked_count,
        },
    )


# -- entry point ------------------------------------------------------------------------------


def check(history: list[Op], model: str = "cas-register", **options: Any) -> Verdict:
    """Is the history linearizable for `model`? See the module docstring for options."""
    t0 = time.monotonic()
    known = {"independent", "initial", "time_limit", "max_states", "max_memory_mb"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"linearizable: unknown option(s) {', '.join(unknown)}")
    margs = {"initial": options["initial"]} if "initial" in options else {}
    m = models_.get(model, **margs)
    budget = _Budget(
        options.get("time_limit", 60.0),
        int(options.get("max_states", 2_000_000)),
        float(options.get("max_memory_mb", 1024)),
    )
    independent = options.get("independent")

    by_key, keyed, counts, notes = _prepare(history, m, independent)

    anomalies: list[Anomaly] = []
    states = 0
    checked = 0
    unknown_keys: list[str] = []
    for n_key, (key, ops) in enumerate(by_key.items()):
        name = f"key {models_.show(key)}" if keyed else "the history"
        if budget.expired():
            left = len(by_key) - n_key
            notes.append(f"time budget ran out before {left} of {len(by_key)} keys were checked")
            unknown_keys.extend(models_.show(k) for k in list(by_key)[n_key:])
            break
        res = _search(ops, m, budget)
        states += res.states
        checked += len(ops)
        if res.status is False:
            anomalies.append(_anomaly(key, keyed, ops, res, m))
        elif res.status != True:  # noqa: E712 (status is True, False or a budget string)
            why = (
                "time budget"
                if res.status == "budget-time"
                else f"states budget ({res.max_states})"
            )
            notes.append(
                f"{why} ran out on {name} ({len(ops)} ops) after exploring {res.states} "
                f"configurations; at most {res.linearised} ops were linearised in one order"
            )
            unknown_keys.append(models_.show(key))

    valid: bool | str = False if anomalies else ("unknown" if unknown_keys else True)
    return Verdict(
        checker=NAME,
        valid=valid,  # type: ignore[arg-type]
        anomalies=anomalies,
        stats={
            "model": model,
            "ops": checked,
            "keys": len(by_key),
            "independent": keyed,
            "states": states,
            "dropped_fail": counts["fail"],
            "dropped_info_reads": counts["info-dropped"],
            "indeterminate": counts["info"],
            "unknown_keys": unknown_keys,
            "elapsed": round(time.monotonic() - t0, 4),
        },
        notes=notes,
    )
