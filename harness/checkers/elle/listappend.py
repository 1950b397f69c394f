"""Elle-style list-append checker: infer version orders from reads, build the dependency graph,
find cycles, and explain them.

Transactions are lists of micro-ops ["append", k, v] (v unique per key) and ["r", k, [v...]].
Because lists only grow, every read of a key is a prefix of the key's final version, so:
- the longest read of a key is its version order, and every other read must be a prefix of it;
- a committed (ok) append that no read saw comes after every value any read saw;
- a txn that read k = [.. x] depends (wr) on the appender of x, and anti-depends (rw) on the
  appender of the value right after x (or on every unseen committed append when x is the last
  value seen).
ok txns committed; fail txns never happened (seeing their writes is G1a); info txns are in the
graph only through writes that some read proves took effect.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.checkers.elle import anomalies as taxonomy
from harness.checkers.elle.cycles import Budget, Cycle, search_scc, shorten
from harness.checkers.elle.graph import (
    EDGE_NAMES,
    PROC,
    RT,
    RW,
    WR,
    WW,
    Graph,
    OutOfTime,
    sccs,
)
from harness.history import FAIL, INFO, INVOKE, OK, Op, pairs
from harness.verdict import Anomaly, Verdict

CHECKER = "list-append"


@dataclass
class Txn:
    id: int
    inv: Op
    done: Op | None
    type: str  # ok | info | fail
    mops: list[list[Any]]
    appends: dict[Hashable, list[Any]] = field(default_factory=dict)
    ext_reads: dict[Hashable, list[Any]] = field(default_factory=dict)

    @property
    def op(self) -> int:
        """The op index that stands for this txn: its completion, else its invocation."""
        return self.done.index if self.done is not None else self.inv.index


def _key(k: Any) -> Hashable:
    return tuple(k) if isinstance(k, list) else k


def _mops(value: Any) -> list[list[Any]] | None:
    """The micro-ops of a txn value, or None if this op is not a list-append txn."""
    if not isinstance(value, list | tuple):
        return None
    out = []
    for m in value:
        if not isinstance(m, list | tuple) or len(m) != 3 or m[0] not in ("append", "r"):
            return None
        # JSON keys that are lists must become hashable; anything else is used as is
        out.append(m if not isinstance(m[1], list) else [m[0], _key(m[1]), m[2]])
    return out


def fmt(vals: list[Any] | None, limit: int = 6) -> str:
    """Elle-style list: [1 2 3]; long ones keep their tail, which is what matters."""
    if not vals:
        return "[]"
    if len(vals) <= limit:
        return "[" + " ".join(map(str, vals)) + "]"
    return "[... " + " ".join(map(str, vals[-(limit - 1) :])) + "]"


class Analysis:
    """Everything inferred from the history; cycle explanation re-derives edge evidence from it."""

    def __init__(self, history: list[Op]) -> None:
        self.txns: list[Txn] = []
        self.skipped = 0
        for inv, done in pairs(history):
            if inv.type != INVOKE:
                continue
            typ = done.type if done is not None else INFO
            src = done.value if typ == OK else inv.value
            mops = _mops(src)
            if mops is None and typ == OK:  # tolerate a completion without the txn echoed
                mops = _mops(inv.value)
            if mops is None:
                self.skipped += 1
                continue
            t = Txn(len(self.txns), inv, done, typ, mops)
            for f, k, v in mops:
                if f == "append":
                    t.appends.setdefault(k, []).append(v)
                elif typ == OK and k not in t.appends and k not in t.ext_reads:
                    t.ext_reads[k] = v if v is not None else []  # nil read of an ok txn: empty
            self.txns.append(t)
        self.anomalies: list[Anomaly] = []
        self.notes: list[str] = []
        self.writer: dict[Hashable, dict[Any, int]] = defaultdict(dict)  # ok + info appends
        self.failed: dict[Hashable, dict[Any, int]] = defaultdict(dict)
        self.order: dict[Hashable, list[Any]] = {}  # trusted version order per key
        self.pos: dict[Hashable, dict[Any, int]] = {}
        self.unread: dict[Hashable, list[int]] = {}  # committed appenders no read saw
        self._index_writes()

    # -- indexes and direct (non-cycle) anomalies --------------------------------------------
    def _index_writes(self) -> None:
        dup = 0
        for t in self.txns:
            idx = self.failed if t.type == FAIL else self.writer
            for k, vs in t.appends.items():
                d = idx[k]
                for v in vs:
                    if v in d or v in self.writer.get(k, ()) or v in self.failed.get(k, ()):
                        dup += 1
                    d[v] = t.id
        if dup:
            self.notes.append(
                f"{dup} append(s) reused a value already appended to the same key: values must be "
                "unique per key, so evidence involving them may be wrong"
            )

    def add(self, kind: str, ops: list[int], explanation: str, **data: Any) -> None:
        data["models_ruled_out"] = list(taxonomy.KINDS[kind].rules_out)
        self.anomalies.append(Anomaly(kind, ops, explanation, data))

    def check_internal(self) -> None:
        """A txn's reads must reflect its own earlier reads and appends; no read may see a
        value the same txn appends only later."""
        for t in self.txns:
            if t.type != OK:
                continue
            later: dict[Hashable, set[Any]] = {}
            for f, k, v in t.mops:
                if f == "append":
                    later.setdefault(k, set()).add(v)
            state: dict[Hashable, tuple[bool, list[Any]]] = {}
            for f, k, v in t.mops:
                if f == "append":
                    known, vals = state.get(k, (False, []))
                    state[k] = (known, vals + [v])
                    later[k].discard(v)
                    continue
                r = v if v is not None else []
                fut = later.get(k)
                if fut and not fut.isdisjoint(r):
                    seen = [x for x in r if x in fut]
                    self.add(
                        "future-read",
                        [t.op],
                        f"op {t.op} read key {k} = {fmt(r)}, which already holds {fmt(seen)} "
                        f"that the same transaction appends only later: "
                        f"{taxonomy.KINDS['future-read'].template}",
                        key=k,
                        read=r,
                        values=seen,
                        txn=t.mops,
                    )
                st = state.get(k)
                if st is not None:
                    known, vals = st
                    if known:
                        good = r == vals
                        want = fmt(vals)
                    else:
                        good = len(r) >= len(vals) and r[len(r) - len(vals) :] == vals
                        want = "a list ending in " + fmt(vals)
                    if not good:
                        self.add(
                            "internal",
                            [t.op],
                            f"op {t.op} read key {k} = {fmt(r)} but its own earlier operations "
                            f"on that key imply {want}: {taxonomy.KINDS['internal'].template}",
                            key=k,
                            read=r,
                            expected=vals,
                            prefix_unknown=not known,
                            txn=t.mops,
                        )
                state[k] = (True, r)

    def infer_orders(self) -> None:
        """Version order per key from the reads; flags incompatible orders, duplicates, G1a,
        G1b and dirty updates. Keys with incompatible or duplicated orders get no edges."""
        reads: dict[Hashable, list[tuple[int, list[Any]]]] = defaultdict(list)
        for t in self.txns:
            if t.type != OK:
                continue
            for f, k, v in t.mops:
                if f == "r" and v:
                    reads[k].append((t.id, v))
        txns = self.txns
        excluded = 0
        for k, rs in reads.items():
            longest_t, longest = max(rs, key=lambda tr: len(tr[1]))
            n_l = len(longest)
            trusted = True
            pos: dict[Any, int] = {}
            for i, v in enumerate(longest):
                pos.setdefault(v, i)
            suspects = [] if len(pos) == n_l else [(longest_t, longest)]
            for tid, r in rs:
                if longest[: len(r)] != r:
                    trusted = False
                    self.add(
                        "incompatible-order",
                        [txns[longest_t].op, txns[tid].op],
                        f"op {txns[tid].op} read key {k} = {fmt(r, 12)} but op "
                        f"{txns[longest_t].op} read {fmt(longest, 12)}: neither is a prefix of "
                        f"the other, so {taxonomy.KINDS['incompatible-order'].template}",
                        key=k,
                        reads=[longest, r],
                    )
                    suspects.append((tid, r))
            for tid, r in suspects:  # a prefix of a duplicate-free list has no duplicates
                if len(set(r)) != len(r):
                    trusted = False
                    seen: set[Any] = set()
                    twice = [x for x in r if x in seen or seen.add(x)]  # type: ignore[func-returns-value]
                    self.add(
                        "duplicate",
                        [txns[tid].op],
                        f"op {txns[tid].op} read key {k} = {fmt(r, 12)}, which holds "
                        f"{fmt(sorted(set(twice), key=str))} more than once: "
                        f"{taxonomy.KINDS['duplicate'].template}",
                        key=k,
                        read=r,
                        duplicates=twice,
                    )
            self._aborted_reads(k, rs, longest if trusted else None, pos)
            self._intermediate_reads(k, rs)
            if not trusted:
                excluded += 1
                continue
            self.order[k] = longest
            self.pos[k] = pos
        # An info txn that some read proves took effect committed all its appends (atomicity).
        proven = {t.id for t in txns if t.type == OK}
        for k, order in self.order.items():
            w = self.writer.get(k, {})
            proven.update(w[v] for v in order if v in w)
        # Committed appends no read saw (all of them for a key nobody read non-empty).
        for k, d in self.writer.items():
            order = self.order.get(k)
            if order is None and k in reads:
                continue  # untrusted key
            pos = self.pos.get(k, {})
            self.unread[k] = sorted({t for v, t in d.items() if v not in pos and t in proven})
            if order is None:
                self.order[k], self.pos[k] = [], {}
        if excluded:
            self.notes.append(
                f"{excluded} key(s) with incompatible or duplicated reads were left out of the "
                "dependency graph (no single version order to infer edges from)"
            )

    def _aborted_reads(
        self, k: Hashable, rs: list[tuple[int, list[Any]]], order: list[Any] | None, pos: dict
    ) -> None:
        failed = self.failed.get(k)
        if not failed:
            return
        txns = self.txns
        if order is not None:  # every read is a prefix: only reads past the first failed value
            fpos = [pos[v] for v in failed if v in pos]
            if not fpos:
                return
            first = min(fpos)
            hits = [(tid, r) for tid, r in rs if len(r) > first]
            # A committed append after an aborted one in the order: it was built on it.
            after = [v for v in order[first + 1 :] if v in self.writer.get(k, ())]
            if after:
                bad, w = order[first], self.writer[k][after[0]]
                self.add(
                    "dirty-update",
                    [txns[failed[bad]].op, txns[w].op],
                    f"op {txns[w].op} appended {after[0]} to key {k} after {bad}, which op "
                    f"{txns[failed[bad]].op} appended and which failed: "
                    f"{taxonomy.KINDS['dirty-update'].template}",
                    key=k,
                    aborted=bad,
                    value=after[0],
                )
        else:
            hits = [(tid, r) for tid, r in rs if not failed.keys().isdisjoint(r)]
        for tid, r in hits:
            bad = [v for v in r if v in failed]
            writers = sorted({txns[failed[v]].op for v in bad})
            self.add(
                "G1a",
                [txns[tid].op] + writers,
                f"op {txns[tid].op} read key {k} = {fmt(r)}, which includes {fmt(bad)} appended "
                f"by op {', '.join(map(str, writers))} that failed: "
                f"{taxonomy.KINDS['G1a'].template}",
                key=k,
                read=r,
                aborted=bad,
            )

    def _intermediate_reads(self, k: Hashable, rs: list[tuple[int, list[Any]]]) -> None:
        txns = self.txns
        writer = self.writer.get(k, {})
        for tid, r in rs:
            w = writer.get(r[-1])
            if w is None or w == tid:
                continue
            mine = txns[w].appends[k]
            if mine[-1] != r[-1]:
                self.add(
                    "G1b",
                    [txns[tid].op, txns[w].op],
                    f"op {txns[tid].op} read key {k} = {fmt(r)}, ending in {r[-1]}, but op "
                    f"{txns[w].op} appended {fmt(mine)} to that key in one transaction: the read "
                    f"saw {r[-1]} without the later {mine[-1]}: {taxonomy.KINDS['G1b'].template}",
                    key=k,
                    read=r,
                    writes=mine,
                )

    def check_lost_updates(self) -> None:
        groups: dict[tuple[Hashable, Any], list[int]] = defaultdict(list)
        for t in self.txns:
            if t.type != OK:
                continue
            for k, r in t.ext_reads.items():
                if k in t.appends and k in self.order:
                    groups[(k, r[-1] if r else None)].append(t.id)
        for (k, last), tids in groups.items():
            if len(tids) < 2:
                continue
            ops = [self.txns[t].op for t in tids]
            seen = "nothing" if last is None else f"... {last}"
            self.add(
                "lost-update",
                ops,
                f"ops {', '.join(map(str, ops))} all read key {k} at the same version ({seen}) "
                f"and each appended to it: {taxonomy.KINDS['lost-update'].template}",
                key=k,
                read_last=last,
                appends={self.txns[t].op: self.txns[t].appends[k] for t in tids},
            )

    # -- graph --------------------------------------------------------------------------------
    def graph(self, realtime: bool, process: bool, history: list[Op]) -> Graph:
        g = Graph(len(self.txns))
        txns = self.txns
        for k, order in self.order.items():
            w = self.writer.get(k, {})
            prev = None
            for v in order:
                cur = w.get(v)
                if prev is not None and cur is not None:
                    g.add(prev, cur, WW)
                prev = cur  # an unknown/aborted writer breaks the chain: no edge across it
            if prev is not None:
                for u in self.unread.get(k, ()):
                    g.add(prev, u, WW)
        for t in txns:
            if t.type != OK:
                continue
            for k, r in t.ext_reads.items():
                order = self.order.get(k)
                if order is None:
                    continue
                w = self.writer.get(k, {})
                if r:
                    src = w.get(r[-1])
                    if src is not None:
                        g.add(src, t.id, WR)
                if len(r) < len(order):
                    nxt = w.get(order[len(r)])
                    if nxt is not None:
                        g.add(t.id, nxt, RW)
                elif len(r) == len(order):
                    for u in self.unread.get(k, ()):
                        g.add(t.id, u, RW)
        if realtime or process:
            self._order_edges(g, history, realtime, process)
        return g

    def _order_edges(self, g: Graph, history: list[Op], realtime: bool, process: bool) -> None:
        """Real-time edges, transitively reduced as Elle does: an invocation depends on the
        frontier of ok completions not already implied by a later one. Process edges: each ok
        txn to the next txn its process invokes."""
        node_of_inv = {t.inv.index: t.id for t in self.txns}
        node_of_done = {t.done.index: t.id for t in self.txns if t.done is not None}
        txns = self.txns
        frontier: set[int] = set()
        preds: dict[int, list[int]] = {}
        last: dict[Any, int] = {}
        for op in history:
            if op.type == INVOKE:
                n = node_of_inv.get(op.index)
                if n is None:
                    continue
                if realtime:
                    preds[n] = list(frontier)
                    for p in frontier:
                        g.add(p, n, RT)
                if process and op.process in last:
                    g.add(last[op.process], n, PROC)
            else:
                n = node_of_done.get(op.index)
                if n is None or txns[n].type != OK:
                    continue
                if realtime:
                    frontier.difference_update(preds.pop(n, ()))
                    frontier.add(n)
                if process:
                    last[op.process] = n

    def before(self, a: int, b: int) -> bool:
        """Real-time order: a completed ok before b was invoked."""
        ta, tb = self.txns[a], self.txns[b]
        return ta.type == OK and ta.done is not None and ta.done.index < tb.inv.index

    # -- explanation --------------------------------------------------------------------------
    def explain_edge(self, a: int, b: int, kind: int, la: str, lb: str) -> tuple[str, dict]:
        ta, tb = self.txns[a], self.txns[b]
        ev: dict[str, Any] = {"op": ta.op, "txn": ta.mops, "edge": EDGE_NAMES[kind], "to": tb.op}
        if kind == WW:
            for k in ta.appends.keys() & tb.appends.keys():
                pos, order = self.pos.get(k), self.order.get(k)
                if pos is None or order is None:
                    continue
                for v in tb.appends[k]:
                    p = pos.get(v)
                    if p:
                        prev = order[p - 1]
                        if self.writer[k].get(prev) == a:
                            ev.update(key=k, value=prev, next=v)
                            return (
                                f"{la} appended {prev} to key {k} and {lb} appended {v} right after it (ww)",
                                ev,
                            )
                    elif p is None and order and self.writer[k].get(order[-1]) == a:
                        ev.update(key=k, value=order[-1], next=v)
                        return (
                            f"{la} appended {order[-1]} to key {k}, the last value any read saw, "
                            f"so {lb}'s committed append of {v} came after it (ww)"
                        ), ev
        elif kind == WR:
            for k, r in tb.ext_reads.items():
                if r and self.writer.get(k, {}).get(r[-1]) == a:
                    ev.update(key=k, value=r[-1], read=r)
                    return f"{la} appended {r[-1]} to key {k}, which {lb} read: {fmt(r)} (wr)", ev
        elif kind == RW:
            for k, r in ta.ext_reads.items():
                order = self.order.get(k)
                if order is None:
                    continue
                w = self.writer.get(k, {})
                if len(r) < len(order) and w.get(order[len(r)]) == b:
                    v = order[len(r)]
                elif len(r) == len(order) and b in self.unread.get(k, ()):
                    v = next(x for x in tb.appends[k] if x not in self.pos[k])
                else:
                    continue
                ev.update(key=k, read=r, value=v)
                return (
                    f"{la} read key {k} = {fmt(r)} and did not see the append of {v} by {lb} (rw)",
                    ev,
                )
        elif kind == RT:
            when_a = f" at {ta.done.seconds:.3f} s" if ta.done and ta.done.time >= 0 else ""
            when_b = f" at {tb.inv.seconds:.3f} s" if tb.inv.time >= 0 else ""
            return f"{la} completed{when_a} before {lb} was invoked{when_b} (realtime)", ev
        elif kind == PROC:
            ev["process"] = tb.inv.process
            return f"{la} and then {lb} ran on process {tb.inv.process} (process order)", ev
        return f"{la} -> {lb} ({EDGE_NAMES[kind]})", ev

    def cycle_anomaly(self, c: Cycle) -> Anomaly:
        n = len(c.nodes)
        labels = [f"T{i + 1} (op {self.txns[t].op})" for i, t in enumerate(c.nodes)]
        short = [f"T{i + 1}" for i in range(n)]
        parts, steps = [], []
        for i in range(n):
            j = (i + 1) % n
            # Name each txn in full the first time it appears, then by its label.
            la = labels[i] if i == 0 else short[i]
            lb = labels[j] if j != 0 and j == i + 1 else short[j]
            text, ev = self.explain_edge(c.nodes[i], c.nodes[j], c.kinds[i], la, lb)
            parts.append(text)
            steps.append(ev)
        kind = taxonomy.KINDS[c.name]
        return Anomaly(
            c.name,
            [self.txns[t].op for t in c.nodes],
            "; ".join(parts) + ": " + kind.template,
            {"cycle": steps, "models_ruled_out": list(kind.rules_out)},
        )


def _models(models: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(models, str):
        models = models.split(",")
    return tuple(taxonomy.normalize_model(m) for m in models if m.strip())


def check(
    history: list[Op],
    models: str | Iterable[str] = ("serializable",),
    realtime: bool | None = None,
    process: bool = False,
    time_limit: float = 30.0,
    **_: Any,
) -> Verdict:
    """Check a list-append history against the requested consistency models.

    realtime=None adds real-time edges only when strict-serializable is requested. valid is
    False only if an anomaly rules out a requested model; others are reported anyway."""
    started = time.monotonic()
    want = _models(models)
    if realtime is None:
        realtime = "strict-serializable" in want
    budget = Budget(time_limit)
    a = Analysis(history)
    a.check_internal()
    a.infer_orders()
    a.check_lost_updates()
    g = a.graph(realtime, process, history)

    comps = [c for c in sccs(g, range(len(g))) if len(c) > 1]
    comps.sort(key=len)
    orders = (RT if realtime else 0) | (PROC if process else 0)
    complete = True
    unexplored = 0
    for i, comp in enumerate(comps):
        try:
            budget.check()
            for cyc in search_scc(g, set(comp), orders, budget.check):
                if realtime:
                    cyc = shorten(cyc, a.before)
                a.anomalies.append(a.cycle_anomaly(cyc))
        except OutOfTime:
            complete = False
            unexplored = sum(len(c) for c in comps[i:])
            a.notes.append(
                f"cycle search ran out of its {time_limit:g} s budget: {len(comps) - i} of "
                f"{len(comps)} strongly connected components ({unexplored} txns) were not fully "
                "searched; anomalies there are unknown"
            )
            break

    found = {an.type for an in a.anomalies}
    ruled_out = taxonomy.rules_out(found)
    valid: bool | str = True
    if any(m in ruled_out for m in want):
        valid = False
    elif not complete:
        valid = "unknown"
    undetermined = []
    consistent = []
    for m in taxonomy.MODELS:
        if m in ruled_out:
            continue
        if not complete or (m == "strict-serializable" and not realtime):
            undetermined.append(m)
        else:
            consistent.append(m)
    if a.skipped:
        a.notes.append(f"{a.skipped} op(s) were not list-append transactions and were ignored")
    elapsed = time.monotonic() - started
    by_type = {t: 0 for t in (OK, INFO, FAIL)}
    for t in a.txns:
        by_type[t.type] += 1
    return Verdict(
        checker=CHECKER,
        valid=valid,  # type: ignore[arg-type]
        anomalies=a.anomalies,
        stats={
            "txns": len(a.txns),
            "ok": by_type[OK],
            "info": by_type[INFO],
            "fail": by_type[FAIL],
            "keys": len(a.order),
            "edges": g.edge_count(),
            "sccs": len(comps),
            "largest_scc": max((len(c) for c in comps), default=0),
            "counts": dict(sorted(Counter(x.type for x in a.anomalies).items())),
            "models": list(want),
            "models_ruled_out": ruled_out,
            "consistent_with": consistent,
            "undetermined": undetermined,
            "realtime": realtime,
            "process": process,
            "complete": complete,
            "elapsed": round(elapsed, 3),
            "txns_per_second": round(len(a.txns) / elapsed) if elapsed > 0 else None,
        },
        notes=a.notes,
    )
