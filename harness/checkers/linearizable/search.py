"""The search: Wing & Gong's, with Lowe's improvements, over the calls of one key.

It walks a doubly-linked list of call and return events. At each step it tries to linearise
a pending call next; it backtracks when it meets the return of an op not yet linearised.
Configurations (bitset of linearised ops, model state) already explored are memoised, so no
configuration is explored twice. Two reductions keep crashed (indeterminate) ops from
multiplying the configurations: such ops with the same f and input are interchangeable, so
only the earliest unused one of each class is tried; and a configuration is pruned when an
explored one had the same definite ops and state with a subset of its indeterminate ops
(those may always be left for later). The search succeeds as soon as every op with a finite
return is linearised. When it fails, the last return event any branch was blocked at marks
the shortest prefix that cannot be linearised (see evidence.py).

The native core (native/src/linear.rs) runs the same search step for step, so it gives the
same Result, faster: `search` uses it for the models it knows (register, cas-register, kv)
when every value is one it reads (see `Native.encode`), else `python_search` runs.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from harness.checkers.linearizable.calls import INF, Call
from harness.checkers.models import Model

CHECK_EVERY = 2048  # iterations between budget checks
MAX_EVIDENCE_STATES = 8  # blocked states remembered for the explanation


@dataclass
class Result:
    status: bool | str  # True, False, "budget-time", "budget-states", "budget-steps"
    states: int = 0
    steps: int = 0  # iterations of the search loop: its work, independent of the machine
    blocked_op: int = -1  # index into the key's op list of the op no order can place
    blocked_states: dict[Any, int] = field(default_factory=dict)  # state -> setter op (-1 init)
    blocked_count: int = 0
    linearised: int = 0  # ops linearised at the latest blocking point (for notes)
    max_states: int = 0  # the states budget in force (max_states, or less for memory)
    unordered: list[int] = field(default_factory=list)  # ops invoked before the furthest
    # point reached and left out of the order that reached it (said when the budget ran out)


class Budget:
    def __init__(
        self,
        time_limit: float | None,
        max_states: int,
        max_memory_mb: float,
        max_steps: float = INF,
    ) -> None:
        self.deadline = time.monotonic() + time_limit if time_limit else INF
        self.max_states = max_states
        self.max_bytes = int(max_memory_mb * 2**20)
        self.max_steps = max_steps  # search iterations (checked every CHECK_EVERY)

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def within(self, seconds: float, steps: float = INF) -> Budget:
        """The same budget, ending in `seconds` and after `steps` iterations at the latest."""
        b = copy.copy(self)
        b.deadline = min(self.deadline, time.monotonic() + seconds)
        b.max_steps = min(self.max_steps, steps)
        return b


def search(ops: list[Call], model: Model, budget: Budget) -> Result:
    """The search of one key's calls: by the native core when it reads them, else in Python
    (the same Result either way; `python_search` is the reference)."""
    nk = Native.encode(ops, model)
    if nk is not None:
        try:
            return nk.search(budget)
        except RuntimeError:  # a panic in the core: Python decides (never a lost verdict)
            pass
    return python_search(ops, model, budget)


def python_search(ops: list[Call], model: Model, budget: Budget) -> Result:
    n = len(ops)
    required = sum(1 for o in ops if o.ret != INF)
    if required == 0:
        return Result(True)

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
    for e, (_, i, is_c) in enumerate(events, start=1):
        is_call[e] = is_c
        op_of[e] = i
        if is_c:
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
    res = Result(False)
    block_e = 0  # latest return entry any branch was blocked at
    deepest: list[int] = []  # the linearised ops of the branch that first got that far
    ticks = steps = 0
    max_steps = budget.max_steps
    entry = nxt[0]
    while True:
        ticks += 1
        if ticks >= CHECK_EVERY:
            steps += ticks
            ticks = 0
            if budget.expired():
                res.status = "budget-time"
                break
            if steps > max_steps:
                res.status = "budget-steps"
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
                    deepest = [o for o, _ in stack]
                res.blocked_count += 1
                if (
                    state not in res.blocked_states
                    and len(res.blocked_states) < MAX_EVIDENCE_STATES
                ):
                    res.blocked_states[state] = setter(stack, state)
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
    res.steps = steps + ticks
    if res.status not in (True, False) and block_e:
        done = set(deepest)
        res.unordered = [
            i for i in range(n) if call_e[i] < block_e and i not in done and definite[i]
        ]
    res.max_states = max_states
    if block_e:
        res.blocked_op = op_of[block_e]
    return res


def setter(stack: list[tuple[int, Any]], state: Any) -> int:
    """The op that produced `state` on this branch (the last one that changed the state)."""
    for o, before in reversed(stack):
        if before != state:
            return o
    return -1


class _Unsure(Exception):
    """A value the native search does not read the way Python compares it."""


_STATUS: tuple[bool | str, ...] = (False, True, "budget-time", "budget-states", "budget-steps")
_REGISTER_FS = {"read": 0, "write": 1, "cas": 2}
_KV_FS = {"get": 0, "put": 1, "append": 2}


def _plain(v: Any) -> bool:
    """A value whose equality the ids keep exactly: ints, strings, nil, booleans and tuples
    of them (a float may equal an int, or not equal itself)."""
    t = type(v)
    if t is tuple:
        return all(_plain(x) for x in v)
    return t is int or t is str or v is None or t is bool


def _same(a: Any, b: Any) -> bool:
    """Two equal values of the same types throughout (1 and True are equal, and would be
    shown differently in an explanation: such a key is left to the Python search)."""
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    return True


class Native:
    """One key's calls in the native core (splitbrain_native.LinKey), encoded once and then
    searched whole or in parts (the evidence shrink searches many subsets of one prefix).
    Values become ids (equal values, equal ids); `encode` gives None when the core is not
    there, or the model or a value is one it does not read: then Python searches."""

    def __init__(self, key: Any, ids: dict[Any, int], values: list[Any], kv: bool) -> None:
        self.key = key
        self.ids = ids
        self.values = values
        self.kv = kv

    @staticmethod
    def encode(ops: list[Call], model: Model) -> Native | None:
        from harness import native
        from harness.checkers import models

        lin_key = getattr(native.module(), "LinKey", None)  # an older core has none
        if lin_key is None or not ops:
            return None
        kind = type(model)
        if kind is models.KV:
            code, fs = 2, _KV_FS
        elif kind is models.CasRegister:
            code, fs = 1, _REGISTER_FS
        elif kind is models.Register:
            code, fs = 0, _REGISTER_FS
        else:
            return None
        kv = code == 2
        ids: dict[Any, int] = {}
        values: list[Any] = []

        def vid(v: Any) -> int:
            i = ids.get(v)
            if i is None:
                if not (type(v) is str if kv else _plain(v)):
                    raise _Unsure
                i = ids[v] = len(values)
                values.append(v)
            elif values[i] is not v and not _same(values[i], v):
                raise _Unsure
            return i

        n = len(ops)
        call = [0] * n
        ret = [0] * n
        f = [0] * n
        a = [0] * n
        b = [0] * n
        out = [0] * n
        try:
            init = vid(model.initial)  # type: ignore[attr-defined]
            for j, o in enumerate(ops):
                fc = fs.get(o.f)
                c, r = o.call, o.ret
                if fc is None or type(c) is not int or c < 0:
                    return None
                if r == INF:
                    r = -1
                elif type(r) is not int or r < 0:
                    return None
                call[j], ret[j], f[j] = c, r, fc
                if kv:
                    a[j] = init if fc == 0 else vid(o.input)
                    out[j] = vid(o.output) if fc == 0 else init
                elif fc == 2:
                    x = o.input
                    if type(x) is not tuple or len(x) != 2:
                        return None
                    a[j], b[j] = vid(x[0]), vid(x[1])
                else:
                    a[j] = vid(o.input)
                    out[j] = vid(o.output) if fc == 0 else 0
        except (_Unsure, TypeError):  # TypeError: an unhashable value
            return None
        try:
            key = lin_key(code, init, call, ret, f, a, b, out, values if kv else [])
        except (ValueError, OverflowError, TypeError):  # e.g. positions past 64 bits
            return None
        return Native(key, ids, values, kv)

    def search(self, budget: Budget, only: list[int] | None = None) -> Result:
        """search() of these calls, or of those at positions `only` (indices in the Result
        are then positions in `only`, as if Python searched that list)."""
        return self.result(
            self.key.search(
                only,
                budget.deadline - time.monotonic(),
                min(budget.max_states, 2**63 - 1),  # exact: the memory bound is far lower
                budget.max_bytes,
                float(budget.max_steps),
            )
        )

    def result(self, raw: tuple[Any, ...]) -> Result:
        """The Result of the core's tuple (states as Python's search holds them)."""
        status, states, steps, blocked_op, blocked, count, linearised, max_states, unordered = raw
        values = self.values
        res = Result(_STATUS[status], states, steps, blocked_op)
        res.blocked_states = {(s if self.kv else (values[s],)): o for s, o in blocked}
        res.blocked_count = count
        res.linearised = linearised
        res.max_states = max_states
        res.unordered = unordered
        return res

    def value_id(self, v: Any) -> int | None:
        """The id of a value of these calls (None: not one of them, or not the same)."""
        try:
            i = self.ids.get(v)
        except TypeError:
            return None
        if i is None or (self.values[i] is not v and not _same(self.values[i], v)):
            return None
        return i

    def effects(self, effects: list[Any]) -> tuple[list[int], list[int]] | None:
        """Model.effects of each call as the core's shrink reads them: (what each needs, what
        each sets): a value id, -1 nothing, -2 unknown; None if an effect is on more than one
        (register, value), on a register other than the model's one, or a value not seen."""
        need: list[int] = []
        sets: list[int] = []
        for e in effects:
            if e is None:
                need.append(-2)
                sets.append(-2)
                continue
            pair: list[int] = []
            for side in e:
                if len(side) > 1:
                    return None
                if not side:
                    pair.append(-1)
                    continue
                ((reg, v),) = side
                i = self.value_id(v)
                if reg is not None or i is None:
                    return None
                pair.append(i)
            need.append(pair[0])
            sets.append(pair[1])
        return need, sets
