"""Cycle search inside one strongly connected component, and classification of what is found.

As in Elle, each anomaly class is searched separately with its own edge constraint, and the
shortest cycle through one closing edge is found by BFS:
- G0:       a cycle of ww edges                       (some ww edge inside a ww-only SCC)
- G1c:      ww/wr edges with at least one wr          (some wr edge inside a ww+wr SCC)
- G-single: exactly one rw edge a->b closed by a ww/wr path b ~> a
- G2-item:  an rw edge a->b whose b cannot reach a over ww/wr: any path back needs another rw
Each is tried first on data edges only, then (if real-time / process edges are in the graph
and nothing was found) with those orders allowed: the "-realtime" / "-process" variants.

G-single needs "does b reach a over ww/wr" for every rw edge: one BFS per edge is quadratic on
a large SCC, so we condense the ww/wr subgraph and give each component its reachable set as
a Python int used as a bitset, built in one pass in Tarjan's reverse topological order.
"""

from __future__ import annotations

import time
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
    def name(self) -> str:
        rw = self.kinds.count(RW)
        base = (
            "G2-item" if rw >= 2 else "G-single" if rw == 1 else "G1c" if WR in self.kinds else "G0"
        )
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
                            return _shortest(found)
            check()
        if found:
            return _shortest(found)
    return _shortest(found)


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
        if not extra or not any(n.startswith("G2-item") for n in found):
            keep(g2_item(g, scc, WW | WR | RW | extra, reach, check))
    return list(found.values())


__all__ = ["Budget", "Cycle", "OutOfTime", "search_scc", "ORDER"]
