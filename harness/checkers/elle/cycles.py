"""Cycle search inside one strongly connected component, and classification of what is found.

As in Elle, each anomaly class is searched separately with its own edge constraint, and the
shortest cycle through one closing edge is found by BFS:
- G0:       a cycle of ww edges                       (some ww edge inside a ww-only SCC)
- G1c:      ww/wr edges with at least one wr          (some wr edge inside a ww+wr SCC)
- G-single: exactly one rw edge a->b closed by a ww/wr path b ~> a
- G-nonadjacent: two or more rw edges, no two consecutive (wrap-around included): the cycles
            snapshot isolation forbids (Long Fork). A BFS over states (txn, came by rw,
            used an rw) so that an rw edge is never followed by another; candidate closing
            edges are first filtered by the SCCs of that two-state product graph.
- G2-item:  an rw edge a->b whose b cannot reach a over ww/wr: any path back needs another rw
Each is tried first on data edges only, then (if real-time / process edges are in the graph
and nothing was found) with those orders allowed: the "-realtime" / "-process" variants.

G-single needs "does b reach a over ww/wr" for every rw edge: one BFS per edge is quadratic on
a large SCC, so we condense the ww/wr subgraph and give each component its reachable set as
a Python int used as a bitset, built in one pass in Tarjan's reverse topological order.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from harness.checkers.elle.graph import (
    ORDER,
    PROC,
    RT,
    RW,
    WR,
    WW,
    Graph,
    OutOfTime,
    sccs,
    shortest_path,
)

# Above this many components the bitsets (n^2 / 8 bytes) cost too much memory: fall back to
# one BFS per rw target, bounded by the time budget.
BITSET_LIMIT = 40_000
# A few closing edges are tried per class to report a short cycle, not just the first one.
TRIES = 4


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise OutOfTime


@dataclass
class Cycle:
    nodes: list[int]  # t0 -> t1 -> ... -> t(n-1) -> t0
    kinds: list[int]  # kinds[i]: the single edge type used for nodes[i] -> nodes[i+1 mod n]

    @property
    def adjacent_rw(self) -> bool:
        """Two consecutive rw edges somewhere, counting the last edge and the first."""
        k, n = self.kinds, len(self.kinds)
        return any(k[i] == RW and k[(i + 1) % n] == RW for i in range(n))

    @property
    def name(self) -> str:
        rw = self.kinds.count(RW)
        if rw >= 2:
            base = "G2-item" if self.adjacent_rw else "G-nonadjacent"
        else:
            base = "G-single" if rw == 1 else "G1c" if WR in self.kinds else "G0"
        if RT in self.kinds:
            return base + "-realtime"
        if PROC in self.kinds:
            return base + "-process"
        return base


# Data edges explain more than order edges; process order is a weaker promise than real time.
_PREFERENCE = (WW, WR, RW, PROC, RT)


def _pick(bits: int) -> int:
    for k in _PREFERENCE:
        if bits & k:
            return k
    raise ValueError("empty edge")


def _close(g: Graph, a: int, closing: int, path: list[int], mask: int) -> Cycle:
    """Cycle a -(closing)-> path[0]=b -> ... -> path[-1]=a."""
    nodes = [a] + path[:-1]
    kinds = [closing] + [_pick(g.edge(path[i], path[i + 1]) & mask) for i in range(len(path) - 1)]
    return Cycle(nodes, kinds)


def _shortest(cycles: list[Cycle]) -> Cycle | None:
    return min(cycles, key=lambda c: len(c.nodes)) if cycles else None


def cycle_through(
    g: Graph, scc: set[int], allowed: int, required: int, check: Callable[[], None]
) -> Cycle | None:
    """A short cycle over `allowed` edges that uses at least one `required` edge."""
    found: list[Cycle] = []
    for comp in sccs(g, scc, allowed, scc):
        if len(comp) < 2:
            continue
        cs = set(comp)
        for a in comp:
            for b, m in g.out[a].items():
                if m & required and b in cs:
                    path = shortest_path(g, b, a, allowed, cs, check)
                    if path is not None:
                        found.append(_close(g, a, _pick(m & required), path, allowed))
                        if len(found) >= TRIES:
                            return _shortest(found)
            check()
        if found:
            return _shortest(found)
    return _shortest(found)


class Reach:
    """Reachability over the `mask` subgraph of an SCC, by condensation + bitsets."""

    def __init__(self, g: Graph, scc: set[int], mask: int, check: Callable[[], None]) -> None:
        self.g, self.scc, self.mask, self.check = g, scc, mask, check
        comps = sccs(g, scc, mask, scc)
        self.bitsets = len(comps) <= BITSET_LIMIT
        self.comp_of: dict[int, int] = {}
        for i, comp in enumerate(comps):
            for v in comp:
                self.comp_of[v] = i
        self.reach: list[int] = []
        if not self.bitsets:
            return
        out, comp_of = g.out, self.comp_of
        for i, comp in enumerate(comps):  # sinks first: successors are already done
            succ: set[int] = set()
            for v in comp:
                for w, m in out[v].items():
                    if m & mask and w in scc:
                        j = comp_of[w]
                        if j != i:
                            succ.add(j)
            r = 1 << i
            for j in succ:
                r |= self.reach[j]
            self.reach.append(r)
            if i & 255 == 0:
                check()

    def reaches(self, b: int, a: int) -> bool:
        if self.bitsets:
            return bool(self.reach[self.comp_of[b]] >> self.comp_of[a] & 1)
        if self.comp_of[a] == self.comp_of[b]:
            return True
        return shortest_path(self.g, b, a, self.mask, self.scc, self.check) is not None


def g_single(g: Graph, scc: set[int], reach: Reach, check: Callable[[], None]) -> Cycle | None:
    """A cycle with exactly one rw edge a->b: b reaches a over the reach.mask edges."""
    found: list[Cycle] = []
    for a in scc:
        for b, m in g.out[a].items():
            if m & RW and b in scc and reach.reaches(b, a):
                path = shortest_path(g, b, a, reach.mask, scc, check)
                if path is not None:
                    found.append(_close(g, a, RW, path, reach.mask))
                    if len(found) >= TRIES:
                        return _shortest(found)
        check()
    return _shortest(found)


def g_nonadjacent(g: Graph, scc: set[int], plain: int, check: Callable[[], None]) -> Cycle | None:
    """A cycle with >= 2 rw edges, none followed by another; `plain` are the non-rw edges."""
    out = g.out
    # Product graph: node 2v = "reached v by a plain edge", 2v+1 = "reached v by rw".
    prod = Graph(2 * len(g))
    for v in scc:
        for w, m in out[v].items():
            if w not in scc:
                continue
            if m & plain:
                prod.add(2 * v, 2 * w, WW)
                prod.add(2 * v + 1, 2 * w, WW)
            if m & RW:
                prod.add(2 * v, 2 * w + 1, WW)
    comp_of: dict[int, int] = {}
    for i, comp in enumerate(sccs(prod, [2 * v for v in scc] + [2 * v + 1 for v in scc])):
        if len(comp) > 1:
            for x in comp:
                comp_of[x] = i
    check()
    found: list[Cycle] = []
    for a in scc:
        ca = comp_of.get(2 * a)
        if ca is None:
            continue
        for b, m in out[a].items():
            if m & RW and b in scc and comp_of.get(2 * b + 1) == ca:
                c = _nonadjacent_through(g, a, b, scc, plain, check)
                if c is not None:
                    found.append(c)
                    if len(found) >= TRIES:
                        return _shortest(found)
        check()
    return _shortest(found)


def _nonadjacent_through(
    g: Graph, a: int, b: int, scc: set[int], plain: int, check: Callable[[], None]
) -> Cycle | None:
    """Shortest b ~> a with no rw right after an rw, using at least one rw, entering a by a
    plain edge (a -> b is the closing rw). States: (txn, came by rw, used an rw)."""
    start, goal = (b, True, False), (a, False, True)
    parent: dict[tuple[int, bool, bool], tuple[tuple[int, bool, bool], int]] = {}
    queue = deque([start])
    seen = {start}
    out = g.out
    steps = 0
    while queue:
        st = queue.popleft()
        v, by_rw, used = st
        steps += 1
        if steps & 1023 == 0:
            check()
        for w, m in out[v].items():
            if w not in scc:
                continue
            nexts = []
            if m & plain:
                nexts.append(((w, False, used), _pick(m & plain)))
            if m & RW and not by_rw:
                nexts.append(((w, True, True), RW))
            for nst, kind in nexts:
                if nst in seen:
                    continue
                seen.add(nst)
                parent[nst] = (st, kind)
                if nst == goal:
                    nodes, kinds = [], []
                    cur = nst
                    while cur != start:
                        prev, k = parent[cur]
                        nodes.append(prev[0])
                        kinds.append(k)
                        cur = prev
                    nodes.reverse()
                    kinds.reverse()
                    return Cycle([a] + nodes, [RW] + kinds)
                queue.append(nst)
    return None


def g2_item(
    g: Graph, scc: set[int], allowed: int, reach: Reach, check: Callable[[], None]
) -> Cycle | None:
    """A cycle through an rw edge a->b such that b cannot reach a without another rw edge."""
    found: list[Cycle] = []
    for comp in sccs(g, scc, allowed, scc):
        if len(comp) < 2:
            continue
        cs = set(comp)
        for a in comp:
            for b, m in g.out[a].items():
                if m & RW and b in cs and not reach.reaches(b, a):
                    path = shortest_path(g, b, a, allowed, cs, check)
                    if path is not None:
                        found.append(_close(g, a, RW, path, allowed))
                        if len(found) >= TRIES:
                            return _adjacent_first(found)
            check()
        if found:
            return _adjacent_first(found)
    return _adjacent_first(found)


def _adjacent_first(cycles: list[Cycle]) -> Cycle | None:
    """A G2-item proper if one was found (a nonadjacent one is reported by its own search)."""
    return _shortest([c for c in cycles if c.adjacent_rw]) or _shortest(cycles)


def shorten(c: Cycle, before: Callable[[int, int], bool]) -> Cycle:
    """Shortcut runs of ww/realtime/process edges by one realtime edge where real time allows.

    Real-time edges are transitively reduced, so a stale read shows up as a long chain; the
    direct "T2 completed before T1 began" is the evidence an engineer wants. rw and wr edges
    are never removed, so the cycle keeps its class."""
    if RT not in c.kinds:
        return c
    n = len(c.nodes)
    keep = [i for i, k in enumerate(c.kinds) if k in (RW, WR)]
    start = keep[0] if keep else 0  # rotate so that a kept edge comes first
    nodes = c.nodes[start:] + c.nodes[:start]
    kinds = c.kinds[start:] + c.kinds[:start]
    out_nodes: list[int] = []
    out_kinds: list[int] = []
    i = 0
    while i < n:
        out_nodes.append(nodes[i])
        j = i + 1
        if kinds[i] not in (RW, WR):
            # farthest j reachable from i by a realtime shortcut over removable edges only
            best = None
            for cand in range(i + 2, n + 1):
                if kinds[cand - 1] in (RW, WR):
                    break
                if before(nodes[i], nodes[cand % n]):
                    best = cand
            if best is not None:
                out_kinds.append(RT)
                i = best
                continue
        out_kinds.append(kinds[i])
        i = j
    if len(out_nodes) < 2:
        return c
    return Cycle(out_nodes, out_kinds)


def search_scc(g: Graph, scc: set[int], orders: int, check: Callable[[], None]) -> list[Cycle]:
    """The cycles of each class in this SCC, at most one per class name.

    `orders` is the set of order edges (RT, PROC) present in the graph, 0 if none."""
    found: dict[str, Cycle] = {}

    def keep(c: Cycle | None) -> bool:
        if c is None or c.name in found:
            return False
        found[c.name] = c
        return True

    variants = [0] + ([orders] if orders else [])
    for extra in variants:
        # After a data-only class was found, its order variant adds nothing: skip it.
        if not extra or not any(n.startswith("G0") for n in found):
            keep(cycle_through(g, scc, WW | extra, extra or WW, check))
        if not extra or not any(n.startswith("G1c") for n in found):
            keep(cycle_through(g, scc, WW | WR | extra, extra or WR, check))
        reach = Reach(g, scc, WW | WR | extra, check)
        if not extra or not any(n.startswith("G-single") for n in found):
            keep(g_single(g, scc, reach, check))
        # A G-single is itself a nonadjacent cycle: searching on adds nothing it rules out.
        if not any(n.startswith(("G-single", "G-nonadjacent")) for n in found):
            keep(g_nonadjacent(g, scc, WW | WR | extra, check))
        if not extra or not any(n.startswith("G2-item") for n in found):
            keep(g2_item(g, scc, WW | WR | RW | extra, reach, check))
    return list(found.values())


__all__ = ["Budget", "Cycle", "OutOfTime", "search_scc", "ORDER"]
