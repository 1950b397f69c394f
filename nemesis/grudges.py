"""Partition shapes as grudges: node -> set of nodes whose packets it drops (Jepsen's model).

Pure functions; the random ones take a seeded random.Random."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

Grudge = dict[str, frozenset[str]]


def from_components(components: Sequence[Sequence[str]]) -> Grudge:
    """Every node drops packets from every node outside its own component."""
    everyone = [n for c in components for n in c]
    g: Grudge = {}
    for comp in components:
        outside = frozenset(n for n in everyone if n not in comp)
        for n in comp:
            g[n] = outside
    return g


def isolate(node: str, nodes: Sequence[str]) -> Grudge:
    return from_components([[node], [n for n in nodes if n != node]])


def isolate_one(nodes: Sequence[str], rng: random.Random) -> Grudge:
    return isolate(rng.choice(list(nodes)), nodes)


def halves(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """A random split into a minority and a majority (for 3 nodes: 1 | 2)."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    cut = len(shuffled) // 2
    return from_components([shuffled[:cut], shuffled[cut:]])


def majorities_ring(nodes: Sequence[str]) -> Grudge:
    """Each node sees a majority (itself and its nearest neighbours on a ring), but no two
    nodes see the same majority. For 3 nodes every pair still talks: it degenerates to none."""
    n = len(nodes)
    majority = n // 2 + 1
    reach = -(-(majority - 1) // 2)  # neighbours kept on each side: enough for a majority
    g: Grudge = {}
    for i, node in enumerate(nodes):
        keep = {nodes[(i + d) % n] for d in range(-reach, reach + 1)}
        g[node] = frozenset(set(nodes) - keep)
    return g


def bridge(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """Two halves that cannot see each other, joined by one node that sees both."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    mid = len(shuffled) // 2
    b, left, right = shuffled[mid], shuffled[:mid], shuffled[mid + 1 :]
    g: Grudge = {b: frozenset()}
    for n in left:
        g[n] = frozenset(right)
    for n in right:
        g[n] = frozenset(left)
    return g


def one_way(src: str, dst: str) -> Grudge:
    """dst drops packets from src; src still receives from dst (an asymmetric cut)."""
    return {dst: frozenset({src})}


def describe(g: Grudge) -> str:
    cuts = sorted(f"{n}x{m}" for n, drop in g.items() for m in drop)
    return ", ".join(cuts) if cuts else "none"


def as_json(g: Grudge) -> dict[str, list[str]]:
    return {n: sorted(d) for n, d in sorted(g.items()) if d}


def from_json(data: dict[str, list[str]]) -> dict[str, frozenset[str]]:
    return {n: frozenset(d) for n, d in data.items()}


SHAPES = ("isolate-primary", "halves", "isolate-one", "ring", "bridge", "one-way")


def for_shape(target: Any, shape: str, rng: random.Random) -> Grudge:
    """The grudge of a --partition shape on target.cluster (isolate-primary asks target.db)."""
    nodes = list(target.cluster.nodes)
    if shape == "isolate-primary":
        return isolate(target.db.primary(target.cluster) or rng.choice(nodes), nodes)
    if shape == "isolate-one":
        return isolate_one(nodes, rng)
    if shape == "halves":
        return halves(nodes, rng)
    if shape == "ring":
        return majorities_ring(nodes)
    if shape == "bridge":
        return bridge(nodes, rng)
    if shape == "one-way":  # a random node stops hearing another
        a, b = rng.sample(nodes, 2)
        return one_way(a, b)
    raise ValueError(f"unknown partition shape {shape!r}")
