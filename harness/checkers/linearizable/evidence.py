"""Evidence: a few ops of one key that alone cannot be linearised, failing at the same op.

The search's last blocking point marks the shortest prefix that cannot be linearised: its op
x is illegal in every configuration that reached it. That prefix is shrunk (bounded in time)
to a few ops that alone cannot be linearised either and still fail at x: x, the ops that set
the values the register could hold, the latest write of what x needs, and the ops, often
reads, that force the order. Ops are dropped only when that is sound (see Shrinker): the
listed ops never tell a story that an op left out would contradict.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from typing import Any

from harness.checkers.linearizable.calls import INF, Call
from harness.checkers.linearizable.search import Budget, Native, Result, search
from harness.checkers.models import Model


class _NoInitial:
    pass


NO_INITIAL = _NoInitial()
ATTEMPT_FACTOR = 4  # an attempt may cost this many times the last failing search...
ATTEMPT_FLOOR = 1000  # ...plus this many iterations
WINDOW_START = 8  # ops in the first window before x


@dataclass
class Evidence:
    x: int  # the op no order can place (index into the key's calls)
    keep: list[int]  # the calls listed, indices into the key's calls
    result: Result  # the search result that the kept calls give (blocked states, counts)
    blocked: dict[Any, int]  # possible state at x -> the kept call that set it (-1: initial)
    latest: int  # the latest write of what x needs (-1: none)
    minimal: bool  # False if the budget (time or work) cut the shrink short (still valid)
    work: float = 0  # search iterations (and ops scanned) the shrink spent


def latest_write(ops: list[Call], xi: int, model: Model) -> int:
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


def prove(
    ops: list[Call], res: Result, model: Model, budget: Budget, work: float = INF
) -> Evidence:
    """The evidence for a key whose search `res` failed, shrunk within `budget` and `work`
    (search iterations, the unit of Result.steps)."""
    xi = res.blocked_op
    latest = latest_write(ops, xi, model)
    # the latest write of what x needs stays, so "the latest" is true of the whole history
    pinned = {latest} if latest >= 0 else set()
    shrinker = Shrinker(ops, xi, pinned, model, budget, work, res.steps)
    # first try keeping only x, the ops that set the states x met, and the latest write of
    # what x needs: often that is the whole contradiction
    keep, sres, done = shrinker.run({xi, *pinned, *res.blocked_states.values()})
    if sres is not None:
        res = sres
        blocked = {s: keep[o] if o >= 0 else -1 for s, o in res.blocked_states.items()}
    else:  # the budget ran out before even the prefix was settled: all of it is the evidence
        blocked = dict(res.blocked_states)
    return Evidence(xi, keep, res, blocked, latest, done, shrinker.spent)


class Shrinker:
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
        self,
        ops: list[Call],
        x: int,
        pinned: set[int],
        model: Model,
        budget: Budget,
        work: float = INF,
        cost: float = INF,
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
        self.work = work  # search iterations (and ops scanned) the shrink may still spend
        self.work_given = work
        self.cost = cost  # search iterations of the last failing set (the prefix: the decision)
        self.effects = {i: model.effects(o.f, o.input, o.output) for i, o in self.sub.items()}
        self.initial = getattr(model, "initial", NO_INITIAL)
        # the prefix encoded once for the native search, which then searches its subsets,
        # and shrinks it all alone when it reads the ops' effects (see run)
        self.native = Native.encode([self.sub[i] for i in self.prefix], model)
        self.at = {i: j for j, i in enumerate(self.prefix)}
        self.native_effects: tuple[list[int], list[int], int] | None = None
        if self.native is not None:
            eff = self.native.effects([self.effects[i] for i in self.prefix])
            init = -1 if self.initial is NO_INITIAL else self.native.value_id(self.initial)
            calls = [self.sub[i].call for i in self.prefix]
            # (its chunks sort ops by invocation: positions in a history are distinct)
            if eff is not None and init is not None and len(set(calls)) == len(calls):
                self.native_effects = (*eff, init)

    def run(self, likely: set[int]) -> tuple[list[int], Result | None, bool]:
        """(kept op indices, their search result, done). The result is None if nothing could be
        dropped: the kept ops are then the prefix, which fails at x (the search that found the
        anomaly says so). The first attempt keeps only `likely` and what cannot go, whatever
        the budget. done is False if the budget cut the shrink short: the kept ops are still
        valid evidence, only not minimal.

        Then, if that failed, windows of the latest ops before x, growing fourfold: the story
        is nearly always told by the ops just before x, and a small window is cheap to search.
        Then chunks of what is left, halving (delta debugging without complements).

        The native core runs this same loop when it reads the ops' effects (native/src/
        shrink.rs, step for step: the same ops kept, the same work counted)."""
        if self.native is not None and self.native_effects is not None:
            try:
                return self._run_native(likely)
            except RuntimeError:  # a panic in the core: the Python loop shrinks
                pass
        return self._run_python(likely)

    def _run_native(self, likely: set[int]) -> tuple[list[int], Result | None, bool]:
        assert self.native is not None and self.native_effects is not None
        at, b = self.at, self.budget
        need, sets, init = self.native_effects
        keep, raw, done, self.work, self.cost = self.native.key.shrink(
            at[self.x],
            [at[i] for i in self.pinned if i in at],
            [at[i] for i in likely if i in at],
            need,
            sets,
            init,
            b.deadline - time.monotonic(),
            min(b.max_states, 2**63 - 1),
            b.max_bytes,
            float(b.max_steps),
            float(self.work),
            float(self.cost),
        )
        res = None if raw is None else self.native.result(raw)
        return [self.prefix[j] for j in keep], res, done

    def _run_python(self, likely: set[int]) -> tuple[list[int], Result | None, bool]:
        keep: list[int] = self.prefix
        res: Result | None = None
        first = [i for i in keep if i not in likely]
        r = self._try_drop(keep, first, unlimited=True)
        if r is not None:
            keep, res = r
        else:
            w = WINDOW_START
            while 2 * w <= len(first):  # a window of most of the prefix is no shortcut
                if self._spent():
                    return keep, res, False
                r = self._try_drop(keep, first[:-w])
                if r is not None:
                    keep, res = r
                    break
                w *= 4
        n = 1
        progress = True
        while True:
            cands = [i for i in keep if i not in self.pinned]
            if not cands or (not progress and n >= len(cands)):
                return keep, res, True
            if self._spent():
                return keep, res, False
            n = n if progress else min(2 * n, len(cands))
            size = -(-len(cands) // n)
            progress = False
            for j in range(0, len(cands), size):
                if self._spent():
                    return keep, res, False
                r = self._try_drop(keep, cands[j : j + size])
                if r is not None:
                    (keep, res), progress = r, True

    def _spent(self) -> bool:
        return self.work <= 0 or self.budget.expired()

    @property
    def spent(self) -> float:
        return self.work_given - self.work

    def _try_drop(
        self, keep: list[int], chunk: list[int], unlimited: bool = False
    ) -> tuple[list[int], Result] | None:
        """(the ops left, their result) if the sound part of `chunk` can go, else None."""
        drop = self._droppable(keep, chunk)
        if not drop:
            return None
        rest = [i for i in keep if i not in drop]
        # Fewer ops leave more orders open: an attempt can cost far more than the search of
        # the ops it keeps (which failed). Past a few times that cost it is given up (the
        # chunk stays): the evidence is then less small, never wrong.
        cap = INF if unlimited else min(self.work, ATTEMPT_FACTOR * self.cost + ATTEMPT_FLOOR)
        budget = self.budget.within(INF, cap)
        res = None
        if self.native is not None:
            at = self.at
            try:
                res = self.native.search(budget, [at[i] for i in rest])
            except RuntimeError:  # a panic in the core: Python searches
                res = None
        if res is None:
            res = search([self.sub[i] for i in rest], self.model, budget)
        self.work -= res.steps
        if res.status is False and rest[res.blocked_op] == self.x:
            self.cost = res.steps
            return rest, res
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
            rest = [i for i in keep if i not in drop]
            self.work -= 2 * len(rest)  # an op scanned here costs about two search iterations
            bad = self._blockers(drop, rest)
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
        same register. And a remaining op that needs v keeps a write of v it could have seen.

        Sorted arrays and bisection answer each question in O(log n), not a scan of `rest`."""
        sub, eff = self.sub, self.effects
        needers: dict[tuple[Any, Any], list[Call]] = {}
        writers: dict[tuple[Any, Any], list[Call]] = {}
        separators: dict[Any, list[Call]] = {}
        for i in rest:  # in call order: the lists below are sorted by call
            e = eff[i]
            if e is None:
                continue  # only when no write is dropped (see _droppable)
            o = sub[i]
            for kv in e[0]:
                needers.setdefault(kv, []).append(o)
            for kv in e[1]:
                writers.setdefault(kv, []).append(o)
                if o.ret != INF:
                    separators.setdefault(kv[0], []).append(o)
        # per register: the earliest return among separators invoked at or after a position
        sep_index: dict[Any, tuple[list[int], list[float]]] = {}
        for reg, zs in separators.items():
            suffix = [INF] * (len(zs) + 1)
            for j in range(len(zs) - 1, -1, -1):
                suffix[j] = min(zs[j].ret, suffix[j + 1])
            sep_index[reg] = ([z.call for z in zs], suffix)
        # per (register, value): the latest return among needers invoked before a position
        need_index: dict[tuple[Any, Any], tuple[list[int], list[float]]] = {}
        for kv, rs in needers.items():
            prefix = [-INF] * (len(rs) + 1)
            for j, r in enumerate(rs):
                prefix[j + 1] = max(prefix[j], r.ret)
            need_index[kv] = ([r.call for r in rs], prefix)
        bad: set[int] = set()
        for w in drop:
            ow = sub[w]
            for kv in eff[w][1]:  # type: ignore[index]
                ni = need_index.get(kv)
                if ni is None:
                    continue
                si = sep_index.get(kv[0])
                sep = si[1][bisect_right(si[0], ow.ret)] if si is not None else INF
                # some remaining needer invoked before `sep` returns after w was invoked
                if ni[1][bisect_left(ni[0], sep)] > ow.call:
                    bad.add(w)
        dropped_writers: dict[tuple[Any, Any], list[int]] = {}
        for w in sorted(drop, key=lambda w: sub[w].call):
            for kv in eff[w][1]:  # type: ignore[index]
                dropped_writers.setdefault(kv, []).append(w)
        for kv, rs in needers.items():
            if kv[1] == self.initial:
                continue
            back = dropped_writers.get(kv)
            if not back:
                continue
            zs = writers.get(kv, [])
            back_calls = [sub[w].call for w in back]
            for r in rs:
                # a remaining write of v (other than r) invoked before r returned?
                z = next((z for z in zs[:2] if z is not r), None)
                if z is not None and z.call < r.ret:
                    continue
                j = bisect_left(back_calls, r.ret)
                if j:
                    bad.add(back[j - 1])
        return bad
