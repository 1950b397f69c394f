"""Deciding a kv key from the order of writes its gets reveal (Porcupine's kv model).

When puts and appends write values of their own (Jepsen's and Porcupine's generators do), a
get's value names the writes behind it: a put's value (or the initial one) followed by
appends' values. The get then says "the last put before me was p, and exactly a1 .. ak
followed it, in that order": p, a1 .. ak are consecutive among the writes that took effect,
and the get sits after ak and before the next write. The gets' chains merge into blocks (a
put or the initial value, its appends in order, the gets after each); two gets that disagree
on what directly follows a write are already a contradiction. What is left is to order whole
blocks (and the writes no get saw, each a block of one) so that no op is placed before an op
that returned before it was invoked: block A can precede block B iff every op of A was
invoked before every op of B returned, and a topological order of that relation is found
greedily in O(n log n). For one reading of the gets this is exact, not a heuristic.

Real data is not always that tidy (Porcupine's own kv files append some values twice, and
put once what another op appends): a value that splits in more than one way real time
allows, or an append whose value another append wrote too, gives several readings, and each
is decided; the key is linearizable iff one is. Past MAX_ASSIGNMENTS readings, a put whose
value another put wrote, or an empty append, `decide_key` returns None and the search decides
that key. Indeterminate writes no get saw never need to take effect and are left out.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from typing import Any

from harness.checkers.linearizable.calls import INF, Call

INIT = -1  # the initial value, as a put that took effect before everything
SHRINK_ROUNDS = 64  # delta-debugging passes at most (each O(n log n))


@dataclass
class Why:
    """Why a set of calls has no order: `kind` and the calls (indices) that show it.
    kinds: "no-split" (a get whose value no writes make), "two-next" (two gets disagree on
    the write right after `ops[0]`), "two-before" (on the write right before `ops[0]`),
    "backward" (`ops[1]` must follow `ops[0]` but returned before it was invoked),
    "cycle" (two blocks must each come first)."""

    kind: str
    ops: list[int]
    gets: list[int] = field(default_factory=list)  # the gets whose values force it


@dataclass
class Decision:
    valid: bool
    order: list[int] = field(default_factory=list)  # a linearization when valid
    why: Why | None = None
    ways: int = 1  # ways of reading the gets that were decided


class _Ambiguous(Exception):
    pass


MAX_ASSIGNMENTS = 64  # ways to tell apart writes of one value tried before searching instead


def applicable(ops: list[Call]) -> bool:
    """Non-empty appends and puts that each write their own value (appends of one value may
    repeat: which of them a get saw is then tried each way, see `decide_key`)."""
    puts: set[str] = set()
    for o in ops:
        if o.f == "append" and o.input == "":
            return False
        if o.f == "put":
            if o.input in puts:
                return False
            puts.add(o.input)
    return True


MAX_SPLITS = 4  # readings of one get's value tried (a value put once and appended once...)


def _splitter(ops: list[Call], initial: str) -> Any:
    puts = {o.input for o in ops if o.f == "put"}
    appends = {o.input for o in ops if o.f == "append"}
    put_lens = sorted({len(v) for v in puts})
    app_lens = sorted({len(v) for v in appends})
    cap = MAX_SPLITS + 1

    def split(s: str) -> list[list[str | None]]:
        """The ways s is made: None (the initial value) or a put's value first, then the
        appends' values; _Ambiguous if more than MAX_SPLITS."""
        n = len(s)
        ways = [0] * (n + 1)  # splits of s[p:] into appended values, capped
        ways[n] = 1
        for p in range(n - 1, -1, -1):
            w = 0
            for L in app_lens:
                if p + L > n:
                    break
                if s[p : p + L] in appends:
                    w += ways[p + L]
            ways[p] = min(w, cap)
        starts: list[tuple[str | None, int]] = []
        total = 0
        if s.startswith(initial) and ways[len(initial)]:
            starts.append((None, len(initial)))
            total += ways[len(initial)]
        for L in put_lens:
            if n < L:
                break
            if s[:L] in puts and ways[L]:
                starts.append((s[:L], L))
                total += ways[L]
        if total > MAX_SPLITS:
            raise _Ambiguous
        out: list[list[str | None]] = []

        def rest(p: int, acc: list[str | None]) -> None:
            if p == n:
                out.append(list(acc))
                return
            for L in app_lens:
                if p + L <= n and ways[p + L] and s[p : p + L] in appends:
                    acc.append(s[p : p + L])
                    rest(p + L, acc)
                    acc.pop()

        for head, p in starts:
            rest(p, [head])
        return out

    return split


def chains(ops: list[Call], initial: str) -> list[dict[int, list[int] | None]] | None:
    """Ways to read the gets: for each, per get (by index), the writes its value reveals
    (INIT or a put first); None for a get no writes explain. Several ways when a value splits
    in more than one way that real time allows, or appends share a value and the gets alone
    do not tell which of them they saw (at most MAX_ASSIGNMENTS ways); None if the method
    does not apply (too many ways, a repeated put, an empty append)."""
    if not applicable(ops):
        return None
    split = _splitter(ops, initial)
    put_of = {o.input: i for i, o in enumerate(ops) if o.f == "put"}
    instances: dict[str, list[int]] = {}
    for i, o in enumerate(ops):
        if o.f == "append":
            instances.setdefault(o.input, []).append(i)
    first_call: dict[str, float] = {
        v: min(ops[i].call for i in inst) for v, inst in instances.items()
    }
    done_writes = sorted((o.ret, o.f, o.input) for o in ops if o.f != "get" and o.ret != INF)
    readings: dict[int, list[list[str | None]] | None] = {}
    try:
        for g, o in enumerate(ops):
            if o.f != "get":
                continue
            splits = split(o.output)
            if not splits:
                readings[g] = None
                continue
            if len(splits) > 1:
                ok = [sp for sp in splits if _possible(sp, o, put_of, first_call, done_writes, ops)]
                splits = ok or splits[:1]  # none possible: the first fails, and says why
            readings[g] = splits
    except _Ambiguous:
        return None
    multi = [g for g, r in readings.items() if r is not None and len(r) > 1]
    n_split_ways = 1
    for g in multi:
        n_split_ways *= len(readings[g])  # type: ignore[arg-type]
        if n_split_ways > MAX_ASSIGNMENTS:
            return None
    out: list[dict[int, list[int] | None]] = []
    for pick in _product([[{g: j} for j in range(len(readings[g]))] for g in multi]):  # type: ignore[arg-type]
        chosen = {g: j for part in pick for g, j in part.items()}
        vals = {g: None if r is None else r[chosen.get(g, 0)] for g, r in readings.items()}
        ways = _assign(ops, vals, put_of, instances, MAX_ASSIGNMENTS - len(out))
        if ways is None:
            return None
        out.extend(ways)
    return out


def _possible(
    sp: list[str | None],
    g: Call,
    put_of: dict[str, int],
    first_call: dict[str, float],
    done_writes: list[tuple[float, str, str]],
    ops: list[Call],
) -> bool:
    """Whether real time allows the get to have seen the writes of split sp: each invoked
    before it returned; and, for the initial value first, every write completed before the
    get was invoked among them (no put, and no other append, can precede it)."""
    head = sp[0]
    if head is not None and ops[put_of[head]].call > g.ret:
        return False
    if any(first_call[v] > g.ret for v in sp[1:]):  # type: ignore[index]
        return False
    if head is None:
        vals = set(sp[1:])
        for ret, f, v in done_writes:
            if ret >= g.call:
                break
            if f == "put" or v not in vals:
                return False
    return True


def _assign(
    ops: list[Call],
    vals: dict[int, list[str | None] | None],
    put_of: dict[str, int],
    instances: dict[str, list[int]],
    most: int,
) -> list[dict[int, list[int] | None]] | None:
    """For one reading of every get (its values), the ways to tell which append each value
    was: positions among the writes are nodes (their parent node, value), one append each."""
    node_of: dict[tuple[int, Any], int] = {}
    node_value: list[str | None] = []
    node_head: list[int] = []  # the put (or INIT) of a root node, -2 for an append
    deadline: list[float] = []  # the earliest return of a get at or after the node
    paths: dict[int, list[int] | None] = {}
    for g, vs in vals.items():
        if vs is None:
            paths[g] = None
            continue
        parent = -1
        path = []
        for j, v in enumerate(vs):
            k = (parent, v if j else ("put", v))
            nd = node_of.get(k)
            if nd is None:
                nd = node_of[k] = len(node_value)
                node_value.append(v)
                node_head.append((INIT if v is None else put_of[v]) if j == 0 else -2)
                deadline.append(INF)
            deadline[nd] = min(deadline[nd], ops[g].ret)
            path.append(nd)
            parent = nd
        paths[g] = path
    by_value: dict[str, list[int]] = {}
    for nd, v in enumerate(node_value):
        if node_head[nd] == -2:
            by_value.setdefault(v, []).append(nd)  # type: ignore[arg-type]
    choices: list[list[dict[int, int]]] = []
    ways = 1
    for v, nodes in by_value.items():
        inst = instances[v]
        if len(inst) == 1 or len(nodes) > len(inst):
            # one write of it, or more positions than writes: any choice fails the same way
            choices.append([{nd: inst[min(j, len(inst) - 1)] for j, nd in enumerate(nodes)}])
            continue
        opts = _injective(nodes, inst, ops, deadline)
        ways *= max(1, len(opts))
        if ways > most:
            return None
        choices.append(opts or [{nd: inst[j] for j, nd in enumerate(nodes)}])
    out = []
    heads = {nd: node_head[nd] for nd in range(len(node_value)) if node_head[nd] != -2}
    for combo in _product(choices):
        op_of = dict(heads)
        for part in combo:
            op_of.update(part)
        out.append({g: None if p is None else [op_of[nd] for nd in p] for g, p in paths.items()})
    return out


def _injective(
    nodes: list[int], inst: list[int], ops: list[Call], deadline: list[float]
) -> list[dict[int, int]]:
    """The ways to give each node its own write, each invoked before the node's deadline
    (at most MAX_ASSIGNMENTS + 1 of them)."""
    out: list[dict[int, int]] = []
    cur: dict[int, int] = {}

    def go(j: int, used: set[int]) -> None:
        if len(out) > MAX_ASSIGNMENTS:
            return
        if j == len(nodes):
            out.append(dict(cur))
            return
        nd = nodes[j]
        for w in inst:
            if w not in used and ops[w].call < deadline[nd]:
                cur[nd] = w
                used.add(w)
                go(j + 1, used)
                used.discard(w)

    go(0, set())
    return out


def _product(choices: list[list[dict[int, int]]]) -> list[list[dict[int, int]]]:
    out: list[list[dict[int, int]]] = [[]]
    for c in choices:
        out = [o + [x] for o in out for x in c]
    return out


def decide_key(ops: list[Call], initial: str) -> Decision | None:
    """Is this key linearizable? None when the method does not apply (see `chains`): each
    way of reading the gets is decided exactly, and the key is linearizable iff one is."""
    ways = chains(ops, initial)
    if ways is None:
        return None
    first: Decision | None = None
    for revealed in ways:
        d = decide(ops, initial, revealed)
        if d.valid:
            return d
        first = first or d
    assert first is not None
    first.ways = len(ways)
    return first


def decide(ops: list[Call], initial: str, revealed: dict[int, list[int] | None]) -> Decision:
    """Is this key linearizable, the gets having seen the writes `revealed` says?"""
    nxt: dict[int, tuple[int, int]] = {}  # write -> (the write right after it, the get saying so)
    prv: dict[int, tuple[int, int]] = {}
    after: dict[int, list[int]] = {}  # write -> the gets right after it
    for g, chain in revealed.items():
        if chain is None:
            return Decision(False, why=Why("no-split", [g], [g]))
        for u, v in zip(chain, chain[1:], strict=False):
            seen = nxt.setdefault(u, (v, g))
            if seen[0] != v:
                return Decision(False, why=Why("two-next", [u, seen[0], v], [seen[1], g]))
            seen = prv.setdefault(v, (u, g))
            if seen[0] != u:
                return Decision(False, why=Why("two-before", [v, seen[0], u], [seen[1], g]))
        after.setdefault(chain[-1], []).append(g)

    # blocks: from INIT or a put, along nxt; writes no get saw: a block of their own
    blocks: list[list[list[int]]] = []  # block -> groups -> calls
    heads = [INIT] if INIT in after or INIT in nxt else []
    heads += [i for i, o in enumerate(ops) if o.f == "put" and (i in after or i in nxt)]
    placed: set[int] = set()
    for h in heads:
        groups: list[list[int]] = []
        w: int | None = h
        while w is not None:
            placed.add(w)
            if w != INIT:
                groups.append([w])
            if w in after:
                groups.append(sorted(after[w], key=lambda g: ops[g].call))
            w = nxt[w][0] if w in nxt else None
        blocks.append(groups)
    for i, o in enumerate(ops):
        if o.f != "get" and i not in placed and o.ret != INF:
            blocks.append([[i]])
    init_block = 0 if heads and heads[0] == INIT else -1

    # each block on its own: no op returns before an op it must follow is invoked
    span: list[tuple[int, int, float, int]] = []  # (max call, its op, min ret, its op)
    for groups in blocks:
        hi, hi_op = -1, -1
        lo, lo_op = INF, -1
        for grp in groups:
            g_lo, g_lo_op = INF, -1
            for i in grp:
                if ops[i].ret < g_lo:
                    g_lo, g_lo_op = ops[i].ret, i
            if g_lo < hi:
                return Decision(False, why=Why("backward", [hi_op, g_lo_op], _gets(groups)))
            for i in grp:
                if ops[i].call > hi:
                    hi, hi_op = ops[i].call, i
            if g_lo < lo:
                lo, lo_op = g_lo, g_lo_op
        span.append((hi, hi_op, lo, lo_op))

    # blocks in an order where each block's ops were all invoked before any later op returned
    order: list[int] = []
    n = len(blocks)
    done = [False] * n
    if init_block == 0:
        hi, hi_op = span[0][0], span[0][1]
        for b in range(1, n):
            if span[b][2] < hi:
                return Decision(False, why=_cycle(blocks, span, 0, b))
        done[0] = True
        order.append(0)
    by_call = [(span[b][0], b) for b in range(n) if not done[b]]
    by_ret = [(span[b][2], b) for b in range(n) if not done[b]]
    heapq.heapify(by_call)
    heapq.heapify(by_ret)
    left = len(by_call)
    while left:
        while done[by_call[0][1]]:
            heapq.heappop(by_call)
        while done[by_ret[0][1]]:
            heapq.heappop(by_ret)
        x0 = by_call[0][1]
        m1 = heapq.heappop(by_ret)
        while by_ret and done[by_ret[0][1]]:
            heapq.heappop(by_ret)
        r2 = by_ret[0][0] if by_ret else INF
        m2 = by_ret[0][1] if by_ret else -1
        heapq.heappush(by_ret, m1)
        if x0 != m1[1] and span[x0][0] < m1[0]:
            pick = x0
        elif span[m1[1]][0] < r2:
            pick = m1[1]
        else:  # the two blocks that return first must each precede the other
            return Decision(False, why=_cycle(blocks, span, m1[1], m2))
        done[pick] = True
        order.append(pick)
        left -= 1
    lin = [i for b in order for grp in blocks[b] for i in grp]
    return Decision(True, order=lin)


def _gets(groups: list[list[int]]) -> list[int]:
    return [i for grp in groups[1:] for i in grp] if groups else []


def _cycle(blocks: list[list[list[int]]], span: list[Any], a: int, b: int) -> Why:
    """Why blocks a and b can be in no order: an op of each returned before an op of the
    other was invoked."""
    ops = [span[a][3], span[b][1], span[b][3], span[a][1]]
    gets = [i for blk in (blocks[a], blocks[b]) for grp in blk for i in grp]
    return Why("cycle", ops, gets)


# -- the first op no order places, and a few ops that prove it ---------------------------------


def prefix(ops: list[Call], t: float) -> list[int]:
    """The calls invoked before position t, as the history stood then: a call still running
    is indeterminate (its get tells nothing and is left out)."""
    return [i for i, o in enumerate(ops) if o.call < t and (o.ret <= t or o.f != "get")]


@dataclass
class Proof:
    x: int  # the call no order places: the prefix up to its return is not linearizable
    keep: list[int]  # calls that alone cannot be linearized (x among them)
    why: Why  # the contradiction among them (indices into ops)
    order: list[int]  # a linearization of the history just before x returned
    minimal: bool
    ways: int = 1  # ways of telling apart same-valued appends, each of which failed


def prove(ops: list[Call], initial: str) -> Proof | None:
    """For a key `decide` found not linearizable: the op x at whose return the history stops
    being linearizable (binary search over return positions: a prefix that is not is never
    followed by one that is), and a subset of the calls before it that is not linearizable
    either, shrunk soundly: a get can always go; a write only when no remaining get's value
    contains it (then every remaining get sees the same state in any order of the rest)."""
    split = _splitter(ops, initial)
    seen: dict[int, set[Any]] = {}  # get -> the values its value is made of
    for g, o in enumerate(ops):
        if o.f == "get":
            try:
                seen[g] = {v for sp in split(o.output) for v in sp}
            except _Ambiguous:  # not after decide_key applied; kept whole if it happens
                seen[g] = {o.input for o in ops if o.f != "get"}
    rets = sorted(o.ret for o in ops if o.ret != INF)

    def bad(keep: list[int], t: float) -> bool:
        d = _decide_subset(ops, keep, t, initial)
        return d is not None and not d.valid

    lo, hi = 0, len(rets) - 1  # rets[hi] is bad (the whole history is)
    while lo < hi:
        mid = (lo + hi) // 2
        if bad(prefix(ops, rets[mid]), rets[mid]):
            hi = mid
        else:
            lo = mid + 1
    t = rets[lo]
    x = next(i for i, o in enumerate(ops) if o.ret == t)
    before = _decide_subset(ops, prefix(ops, t - 0.5), t - 0.5, initial)
    keep = prefix(ops, t)
    minimal = True
    size = max(1, len(keep) // 2)
    rounds = 0
    while True:
        rounds += 1
        if rounds > SHRINK_ROUNDS:
            minimal = False
            break
        progress = False
        j = 0
        while j < len(keep):
            drop = _droppable(ops, keep[j : j + size], keep, seen, x)
            if drop:
                rest = [i for i in keep if i not in drop]
                if bad(rest, t):
                    keep = rest
                    progress = True
                    continue
            j += size
        if not progress:
            if size == 1:
                break
            size = max(1, size // 2)
    d = _decide_subset(ops, keep, t, initial)
    if d is None or d.why is None:
        return None  # a part read more ways than are tried: the caller lists the whole key
    order = before.order if before is not None and before.valid else []
    return Proof(x, sorted(keep, key=lambda i: ops[i].call), d.why, order, minimal, d.ways)


def _decide_subset(ops: list[Call], keep: list[int], t: float, initial: str) -> Decision | None:
    """decide_key() on the calls `keep` as they stood at position t; indices in the answer
    are into `ops`."""
    sub = [ops[i] if ops[i].ret <= t else replace(ops[i], ret=INF) for i in keep]
    d = decide_key(sub, initial)
    if d is None:
        return None

    def back(i: int) -> int:
        return INIT if i == INIT else keep[i]

    d.order = [back(i) for i in d.order]
    if d.why is not None:
        d.why = Why(d.why.kind, [back(i) for i in d.why.ops], [back(i) for i in d.why.gets])
    return d


def _droppable(
    ops: list[Call], chunk: list[int], keep: list[int], seen: dict[int, set[Any]], x: int
) -> set[int]:
    drop = {i for i in chunk if i != x}
    if not drop:
        return drop
    needed: set[Any] = set()
    for g in keep:
        if g not in drop and ops[g].f == "get":
            needed |= seen[g]
    return {i for i in drop if ops[i].f == "get" or ops[i].input not in needed}
