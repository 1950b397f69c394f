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
cannot be linearised; its op x is illegal in every configuration that reached it. That prefix
is then shrunk (bounded in time) to a few ops that alone cannot be linearised either and still
fail at x: the anomaly lists them (x, the ops that set the values the register could hold,
the latest write of what x needs, and the ops, often reads, that force the order), so the
contradiction can be checked from them alone. Ops are dropped only when that is sound (see
_Shrinker): the listed ops never tell a story that an op left out would contradict.

P-compositionality: with `independent=True` (Jepsen's independent form, value [key value])
every key is a separate register and is checked on its own.

Options: `model` ("cas-register"), `independent` (None = detect), `initial` (model initial
value), `time_limit` (s, default 60), `max_states` (memoised configurations held for one key,
default 2,000,000), `max_memory_mb` (default 1024: lowers max_states for long keys, whose
bitsets are large). A budget that runs out gives valid "unknown", never a guess.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

from harness.checkers import models as models_
from harness.errors import HistoryError
from harness.history import INFO, OK, Op, pairs
from harness.verdict import Anomaly, Verdict

NAME = "linearizable"
INF = math.inf
_CHECK_EVERY = 2048  # iterations between budget checks
_MAX_EVIDENCE_STATES = 8
_EVIDENCE_TIME = 1.0  # s at most to shrink the evidence of one key...
_EVIDENCE_TOTAL = 10.0  # ...and of all keys (after that, one cheap attempt each)
_MAX_EXPLAINED = 6  # ops beyond the named ones spelled out in an explanation


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

    def within(self, seconds: float) -> _Budget:
        """The same budget, ending in `seconds` at the latest."""
        b = copy.copy(self)
        b.deadline = min(self.deadline, time.monotonic() + seconds)
        return b


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


# -- evidence -------------------------------------------------------------------------------


class _Shrinker:
    """A small sub-history of one key that cannot be linearised on its own, for evidence.

    It starts from the prefix the search could not get past: the ops invoked before the blocked
    op x returned, those still running then taken as indeterminate (no order of that prefix
    places x: that is what the search found). Ops are then dropped greedily, bigger chunks
    first, while the rest still cannot be linearised and still fails at x, and only when the
    drop is sound: whenever the bigger set has a valid order, so does the smaller one (see
    _blockers). So "the listed ops cannot be ordered" implies "the history cannot be", and no
    listed op is contradicted by an op left out that it could have seen. x and the latest write
    of the value x needs are never dropped, so the explanation can name them."""

    def __init__(
        self, ops: list[_LinOp], x: int, pinned: set[int], model: models_.Model, budget: _Budget
    ) -> None:
        cut = ops[x].ret
        self.prefix = [i for i, o in enumerate(ops) if o.call < cut]
        self.sub = {
            i: ops[i] if ops[i].ret <= cut else replace(ops[i], ret=INF) for i in self.prefix
        }
        self.x = x
        self.pinned = pinned | {x}
        self.model = model
        self.budget = budget
        self.effects = {i: model.effects(o.f, o.input, o.output) for i, o in self.sub.items()}
        self.initial = getattr(model, "initial", _NO_INITIAL)

    def run(self, likely: set[int]) -> tuple[list[int], _Result | None, bool]:
        """(kept op indices, their search result, done). The result is None if nothing could be
        dropped: the kept ops are then the prefix, which fails at x (the search that found the
        anomaly says so). The first attempt keeps only `likely` and what cannot go, whatever
        the budget. done is False if the budget cut the shrink short: the kept ops are still
        valid evidence, only not minimal."""
        keep: list[int] = self.prefix
        res: _Result | None = None
        chunks = [[i for i in keep if i not in likely]]
        n = 1
        while True:
            progress = False
            for chunk in chunks:
                if n > 1 and self.budget.expired():
                    return keep, res, False
                drop = self._droppable(keep, chunk)
                if not drop:
                    continue
                rest = [i for i in keep if i not in drop]
                r = self._attempt(rest)
                if r is not None:
                    keep, res, progress = rest, r, True
            cands = [i for i in keep if i not in self.pinned]
            if not cands or (not progress and n >= len(cands)):
                return keep, res, True
            if self.budget.expired():
                return keep, res, False
            n = n if progress else min(2 * n, len(cands))
            size = -(-len(cands) // n)
            chunks = [cands[j : j + size] for j in range(0, len(cands), size)]

    def _attempt(self, keep: list[int]) -> _Result | None:
        """The search result if `keep` cannot be linearised and fails at x, else None."""
        res = _search([self.sub[i] for i in keep], self.model, self.budget)
        if res.status is False and keep[res.blocked_op] == self.x:
            return res
        return None

    def _droppable(self, keep: list[int], chunk: list[int]) -> set[int]:
        """The ops of `chunk` that can be dropped together, soundly (see _blockers)."""
        eff = self.effects
        # an op that writes nothing can always go; a write only if every op's effects are known
        known = all(eff[i] is not None for i in keep)
        drop = {
            i
            for i in chunk
            if i not in self.pinned and eff[i] is not None and (known or not eff[i][1])  # type: ignore[index]
        }
        while drop:
            bad = self._blockers(drop, [i for i in keep if i not in drop])
            if not bad:
                break
            drop -= bad
        return drop

    def _blockers(self, drop: set[int], rest: list[int]) -> set[int]:
        """The ops of `drop` that must stay for `rest` to be sound evidence. Given an order of
        all the ops, dropping `drop` leaves an order of `rest` in which each op sees the same
        value as before (so it is still legal) unless the last write it saw was dropped. Hence a
        dropped write of v must not be able to be the last write seen by a remaining op that
        needs v: such an op must follow it in real time past a completed remaining write of the
        same register. And a remaining op that needs v keeps a write of v it could have seen."""
        sub, eff = self.sub, self.effects
        needers: dict[tuple[Any, Any], list[_LinOp]] = {}
        writers: dict[tuple[Any, Any], list[_LinOp]] = {}
        separators: dict[Any, list[_LinOp]] = {}
        for i in rest:
            if eff[i] is None:
                continue  # only when no write is dropped (see _droppable)
            o = sub[i]
            needs, sets = eff[i]  # type: ignore[misc]
            for kv in needs:
                needers.setdefault(kv, []).append(o)
            for kv in sets:
                writers.setdefault(kv, []).append(o)
                if o.ret != INF:
                    separators.setdefault(kv[0], []).append(o)
        bad: set[int] = set()
        for w in drop:
            ow = sub[w]
            for kv in eff[w][1]:  # type: ignore[index]
                sep = min(
                    (z.ret for z in separators.get(kv[0], ()) if z.call > ow.ret), default=INF
                )
                if any(r.ret > ow.call and r.call < sep for r in needers.get(kv, ())):
                    bad.add(w)
        for kv, rs in needers.items():
            if kv[1] == self.initial:
                continue
            for r in rs:
                if any(z is not r and z.call < r.ret for z in writers.get(kv, ())):
                    continue
                back = [w for w in drop if kv in eff[w][1] and sub[w].call < r.ret]  # type: ignore[index]
                if back:
                    bad.add(max(back, key=lambda w: sub[w].call))
        return bad


class _NoInitial:
    pass


_NO_INITIAL = _NoInitial()


# -- explanations -----------------------------------------------------------------------------


class _Clock:
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


def _op_text(o: _LinOp, model: models_.Model, clock: _Clock) -> str:
    d = model.describe_op(o.f, o.input, o.output, "")
    if o.comp is None or o.comp.type != OK:
        return f"{d} invoked {clock.at(o.inv)} (indeterminate)"
    return f"{d} invoked {clock.at(o.inv)}, completed {clock.at(o.comp)}"


def _anomaly(
    key: Any,
    independent: bool,
    ops: list[_LinOp],
    res: _Result,
    model: models_.Model,
    budget: _Budget,
    shrink_time: float,
) -> Anomaly:
    """The evidence for a key no order linearises: the blocked op, a small set of ops that
    alone cannot be ordered (see _Shrinker), and one or two sentences about them."""
    xi = res.blocked_op
    latest = _latest_write(ops, xi, model)
    # the latest write of what x needs stays, so "the latest" is true of the whole history
    pinned = {latest} if latest >= 0 else set()
    shrinker = _Shrinker(ops, xi, pinned, model, budget.within(shrink_time))
    # first try keeping only x, the ops that set the states x met, and the latest write of
    # what x needs: often that is the whole contradiction
    keep, sres, done = shrinker.run({xi, *pinned, *res.blocked_states.values()})
    if sres is not None:
        res = sres
        blocked = {s: keep[o] if o >= 0 else -1 for s, o in res.blocked_states.items()}
    else:  # the budget ran out before even the prefix was settled: all of it is the evidence
        blocked = dict(res.blocked_states)
    x = ops[xi]
    clock = _Clock([op for i in keep for op in (ops[i].inv, ops[i].comp) if op is not None])
    where = f" of key {models_.show(key)}" if independent else ""
    head = model.describe_op(x.f, x.input, x.output, where)
    if x.f != "read":
        head = f"{head} succeeded"
    head += f" {clock.at(x.comp)} (invoked {clock.at(x.inv)})"  # type: ignore[arg-type]

    states = list(blocked)
    shown = " or ".join(model.describe_state(s) for s in states)
    if res.blocked_count > len(states) and len(states) == _MAX_EVIDENCE_STATES:
        shown += " (or more)"
    what = "the register" if isinstance(model, models_.Register) else "the registers"
    setters = sorted({o for o in blocked.values() if o >= 0}, key=lambda o: ops[o].call)
    parts = [f"{head}, but given the listed ops {what} could only hold {shown} then"]
    causes = [_op_text(ops[o], model, clock) for o in setters]
    if -1 in blocked.values():
        causes.append("the initial value")
    if causes:
        parts.append(" (set by " + "; ".join(causes) + ")" if setters else " (the initial value)")

    hint_ops: list[int] = []
    needs, v = model.needs(x.f, x.input, x.output)
    if needs:
        if latest < 0:
            if v == getattr(model, "initial", _NO_INITIAL):
                parts.append(f", and {models_.show(v)} is the initial value, already overwritten")
            else:
                parts.append(f", and no write of {models_.show(v)} exists")
        else:
            hint_ops.append(latest)
            parts.append(
                f"; no order puts a write of {models_.show(v)} between them"
                f" (the latest is {_op_text(ops[latest], model, clock)})"
            )
    parts.append(".")
    named = [xi, *setters, *hint_ops]
    others = sorted(set(keep) - set(named), key=lambda i: ops[i].call)
    if others:
        texts = [_op_text(ops[i], model, clock) for i in others[:_MAX_EXPLAINED]]
        if len(others) > _MAX_EXPLAINED:
            texts.append(f"{len(others) - _MAX_EXPLAINED} more listed ops")
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
            "prefix_end": x.comp.index,  # type: ignore[union-attr]
            "possible_states": [model.describe_state(s) for s in states],
            "linearised_ops_before": res.linearised,
            "configurations_blocked": res.blocked_count,
            "evidence_minimal": done,  # False if the shrink ran out of time (still valid)
        },
    )


def _latest_write(ops: list[_LinOp], xi: int, model: models_.Model) -> int:
    """The latest op invoked before x returned that writes what x needs; -1 if none (or x
    needs nothing)."""
    x = ops[xi]
    needs, v = model.needs(x.f, x.input, x.output)
    if not needs:
        return -1
    cands = [
        i
        for i in range(len(ops))
        if i != xi and ops[i].call < x.ret and model.writes(ops[i].f, ops[i].input) == (True, v)
    ]
    if not cands:
        return -1
    return max(cands, key=lambda i: ops[i].ret if ops[i].ret != INF else ops[i].call)


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
    evidence_left = _EVIDENCE_TOTAL
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
            t = time.monotonic()
            shrink_time = min(_EVIDENCE_TIME, evidence_left)
            anomalies.append(_anomaly(key, keyed, ops, res, m, budget, shrink_time))
            evidence_left -= time.monotonic() - t
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
