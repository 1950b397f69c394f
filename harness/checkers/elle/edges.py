"""The dependency edges of a history, as flat lists (src, dst, kind), and the strongly
connected components they form.

On a million transactions the graph has millions of edges, almost all outside any cycle: they
are collected in plain lists and handed to scipy's strongly connected components (C, not a
Python Tarjan); only the edges inside a non-trivial component become a `Graph` for the cycle
search.

Edges of keys with a trusted version order (versions.py):
- ww: consecutive committed appends in the order, then last -> each unread committed append;
- wr: the appender of a read's last value -> the reader;
- rw: a reader -> the appender of the value right after what it saw (every unread committed
  append when it saw the whole order).
Keys without one keep the edges each read proves alone (`loose_edges`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from harness.checkers.elle.graph import PROC, RT, RW, WR, WW, Graph, sccs
from harness.checkers.elle.scan import OK, Scan
from harness.checkers.elle.versions import Versions

# (a, b, kind) -> (key, the read that proves it: (reader txn, read), index in that read)
LooseEvidence = dict[tuple[int, int, int], tuple[Hashable, int, list[Any], int]]


class Edges:
    __slots__ = ("src", "dst", "kind")

    def __init__(self) -> None:
        self.src: list[int] = []
        self.dst: list[int] = []
        self.kind: list[int] = []

    def __len__(self) -> int:
        return len(self.src)


def data_edges(s: Scan, ver: Versions, e: Edges) -> None:
    S, D, K = e.src.append, e.dst.append, e.kind.append
    for k, order in ver.order.items():
        w = s.writer.get(k)
        if not w:
            continue
        prev = None
        for v in order:
            cur = w.get(v)
            if prev is not None and cur is not None and prev != cur:
                S(prev)
                D(cur)
                K(WW)
            prev = cur  # an unknown/aborted writer breaks the chain: no edge across it
        if prev is not None:
            for u in ver.unread.get(k, ()):
                S(prev)
                D(u)
                K(WW)
    empty: dict[Any, int] = {}
    for k, rs in s.reads.items():
        order_ = ver.order.get(k)
        if order_ is None:
            continue
        order = order_
        w = s.writer.get(k, empty)
        n = len(order)
        unread = ver.unread.get(k, ())
        for tid, r in rs:
            m = len(r)
            if m:
                a = w.get(r[-1])
                if a is not None:
                    S(a)
                    D(tid)
                    K(WR)
            if m < n:
                b = w.get(order[m])
                if b is not None:
                    S(tid)
                    D(b)
                    K(RW)
            elif unread:
                for u in unread:
                    S(tid)
                    D(u)
                    K(RW)


def loose_edges(s: Scan, ver: Versions, e: Edges) -> LooseEvidence:
    """What each read of an untrusted key proves on its own: wr from the appender of its last
    value; ww between the appenders of consecutive values (up to a repeated one); rw from a
    reader to the appender of the value that a longer read shows right after what it saw."""
    evidence: LooseEvidence = {}

    def add(a: int | None, b: int | None, kind: int, k: Hashable, tr: tuple, i: int) -> None:
        if a is None or b is None or a == b:
            return
        e.src.append(a)
        e.dst.append(b)
        e.kind.append(kind)
        evidence.setdefault((a, b, kind), (k, tr[0], tr[1], i))

    for k, distinct in ver.loose.items():
        w = s.writer.get(k, {})
        # a trie of the distinct reads: node -> {next value: child}; the read that made each
        # child is the witness that some version had that value right after that prefix
        trie: list[dict[Any, int]] = [{}]
        witness: dict[tuple[int, Any], tuple[int, list[Any]]] = {}
        for tr in distinct:
            r = tr[1]
            node, seen = 0, set()
            for i, v in enumerate(r):
                if v in seen:
                    break  # past a repeated value the read proves no order
                if i:
                    add(w.get(r[i - 1]), w.get(v), WW, k, tr, i)
                seen.add(v)
                nxt = trie[node].get(v)
                if nxt is None:
                    nxt = trie[node][v] = len(trie)
                    trie.append({})
                    witness[(node, v)] = tr
                node = nxt
        for tid, r in s.reads.get(k, ()):
            if r:
                add(w.get(r[-1]), tid, WR, k, (tid, r), len(r) - 1)
            end = _walk(trie, r)
            if end is not None:
                for v in trie[end]:
                    add(tid, w.get(v), RW, k, witness[(end, v)], len(r))
    return evidence


def _walk(trie: list[dict[Any, int]], r: list[Any]) -> int | None:
    node = 0
    for v in r:
        nxt = trie[node].get(v)
        if nxt is None:
            return None
        node = nxt
    return node


def order_edges(s: Scan, e: Edges, realtime: bool, process: bool) -> None:
    """Real-time edges, transitively reduced as Elle does: an invocation depends on the
    frontier of ok completions not already implied by a later one. Process edges: each ok
    txn to the next txn its process invokes. Walks s.events (scan(..., events=True))."""
    txns = s.txns
    ok = [t is not None and t.type == OK for t in txns]  # None: outside a focused scan
    frontier: set[int] = set()
    preds: dict[int, list[int]] = {}
    last: dict[Any, int] = {}
    src, dst, kind = e.src, e.dst, e.kind
    tid_of = s.tid_of_pair
    for c in s.events:
        n = tid_of[c >> 1]
        if n < 0:
            continue
        if not c & 1:  # invocation
            if realtime and frontier:
                f = list(frontier)
                preds[n] = f
                src.extend(f)
                dst.extend([n] * len(f))
                kind.extend([RT] * len(f))
            if process:
                p = txns[n].inv.process
                if p in last:
                    src.append(last[p])
                    dst.append(n)
                    kind.append(PROC)
        elif ok[n]:
            if realtime:
                frontier.difference_update(preds.pop(n, ()))
                frontier.add(n)
            if process:
                last[txns[n].inv.process] = n


def components(n: int, e: Edges) -> tuple[list[list[int]], Graph, int]:
    """(non-trivial SCCs smallest first, the graph of the edges inside them, distinct edges)."""
    try:
        import numpy as np
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components
    except ImportError:  # pragma: no cover - scipy is a dependency; this keeps a broken env usable
        return _components_python(n, e)
    count = len(e)
    if not count or n == 0:
        return [], Graph(n), 0
    # Each list is freed as soon as it is an array: on 1M txns they are 40 MB apiece.
    index = np.int32 if n < 2**31 else np.int64
    src = np.fromiter(e.src, dtype=index, count=count)
    e.src.clear()
    dst = np.fromiter(e.dst, dtype=index, count=count)
    e.dst.clear()
    kind = np.fromiter(e.kind, dtype=np.int8, count=count)
    e.kind.clear()
    m = csr_matrix((np.ones(count, dtype=np.int8), (src, dst)), shape=(n, n))
    distinct = int(m.nnz)
    _, labels = connected_components(m, directed=True, connection="strong")
    del m
    sizes = np.bincount(labels)
    big = sizes[labels] > 1
    g = Graph(n)
    keep = np.flatnonzero(big[src] & (labels[src] == labels[dst]))
    for a, b, k in zip(src[keep].tolist(), dst[keep].tolist(), kind[keep].tolist(), strict=True):
        g.add(a, b, k)
    nodes = np.flatnonzero(big)
    groups: dict[int, list[int]] = {}
    for v, lab in zip(nodes.tolist(), labels[nodes].tolist(), strict=True):
        groups.setdefault(lab, []).append(v)
    comps = sorted(groups.values(), key=len)
    return comps, g, distinct


def inside(n: int, comps: list[list[int]], e: Edges) -> Graph | None:
    """The graph of the edges inside the given components (the native core's, of a focused
    scan's edges): None unless each of them is strongly connected by those edges."""
    label: dict[int, int] = {}
    for i, comp in enumerate(comps):
        for t in comp:
            label[t] = i
    g = Graph(n)
    get = label.get
    for a, b, k in zip(e.src, e.dst, e.kind, strict=True):
        la = get(a)
        if la is not None and la == get(b):
            g.add(a, b, k)
    for comp in comps:
        found = sccs(g, comp[:1], inside=set(comp))
        if len(found[-1]) != len(comp):
            return None
    return g


def _components_python(n: int, e: Edges) -> tuple[list[list[int]], Graph, int]:
    g = Graph(n)
    for a, b, k in zip(e.src, e.dst, e.kind, strict=True):
        g.add(a, b, k)
    comps = sorted((c for c in sccs(g, range(n)) if len(c) > 1), key=len)
    return comps, g, g.edge_count()
