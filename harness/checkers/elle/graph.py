"""Dependency graph over transactions: nodes are ints 0..n-1, edges carry a bitmask of types.

Everything here is iterative (no recursion limit on a 100,000-node history) and works on a
subgraph given by an edge mask and an optional node set, so the cycle search can ask "is there
a cycle of ww edges only inside this SCC" without copying the graph.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterable

WW, WR, RW, RT, PROC = 1, 2, 4, 8, 16
ALL = WW | WR | RW | RT | PROC
DATA = WW | WR | RW  # the dependencies Adya's phenomena are defined on
ORDER = RT | PROC  # extra orders a stronger model (strict / session) promises
EDGE_NAMES = {WW: "ww", WR: "wr", RW: "rw", RT: "realtime", PROC: "process"}


class Graph:
    """Sparse: only nodes with out-edges have an entry (the cycle search only ever sees the
    few nodes inside cycles of a million-node history)."""

    __slots__ = ("n", "out")

    def __init__(self, n: int) -> None:
        self.n = n
        self.out: defaultdict[int, dict[int, int]] = defaultdict(dict)

    def __len__(self) -> int:
        return self.n

    def add(self, a: int, b: int, kind: int) -> None:
        if a != b:  # a txn depending on itself is not a cycle between txns
            d = self.out[a]
            d[b] = d.get(b, 0) | kind

    def edge(self, a: int, b: int) -> int:
        d = self.out.get(a)
        return d.get(b, 0) if d else 0

    def edge_count(self) -> int:
        return sum(len(d) for d in self.out.values())


def sccs(
    g: Graph, nodes: Iterable[int], mask: int = ALL, inside: Collection[int] | None = None
) -> list[list[int]]:
    """Strongly connected components (iterative Tarjan) of the subgraph of edges in `mask`
    between nodes of `inside` (all nodes if None), reachable from `nodes`.

    Components come out in reverse topological order: a component is emitted only after every
    component it reaches, which the reachability bitsets in cycles.py rely on."""
    out = g.out
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    result: list[list[int]] = []
    counter = 0

    def succ(v: int) -> list[int]:
        if inside is None:
            if mask == ALL:
                return list(out[v])
            return [w for w, m in out[v].items() if m & mask]
        return [w for w, m in out[v].items() if m & mask and w in inside]

    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[int, Iterable[int]]] = [(root, iter(succ(root)))]
        while work:
            v, it = work[-1]
            descended = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ(w))))
                    descended = True
                    break
                if w in on_stack and index[w] < low[v]:
                    low[v] = index[w]
            if descended:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == index[v]:
                comp: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                result.append(comp)
    return result


class OutOfTime(Exception):
    """The cycle search's time budget ran out."""


def shortest_path(
    g: Graph,
    start: int,
    goal: int,
    mask: int,
    inside: Collection[int],
    deadline_check: Callable[[], None] | None = None,
) -> list[int] | None:
    """Shortest path start -> ... -> goal (BFS) over edges in `mask` within `inside`."""
    if start == goal:
        return [start]
    parent: dict[int, int] = {start: start}
    queue = deque([start])
    out = g.out
    steps = 0
    while queue:
        v = queue.popleft()
        steps += 1
        if deadline_check is not None and steps & 1023 == 0:
            deadline_check()
        for w, m in out[v].items():
            if m & mask and w not in parent and w in inside:
                parent[w] = v
                if w == goal:
                    path = [w]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    path.reverse()
                    return path
                queue.append(w)
    return None
