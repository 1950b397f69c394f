"""Observations that a fault took effect, made right after it began (observed, not assumed).

Each returns what it saw (recorded with the fault in the history) or raises NotObserved
naming what was not as the fault says. A run with such a fault is `unknown`, never valid.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.cluster import Cluster, Grudge
from harness.db import Database
from nemesis.faults import NotObserved


def client_port(db: Database) -> int:
    return int(next(iter(db.deployment.ports.values())))


def cut(grudge: Grudge, a: str, b: str) -> bool:
    return b in grudge.get(a, ()) or a in grudge.get(b, ())


def separation(
    cluster: Cluster, db: Database, grudge: Grudge, lossy: Grudge | None = None
) -> dict[str, str]:
    """Every pair of nodes probed with a TCP connect: across a cut no answer may come, within
    a side one must (a pair with packet loss between them is not asked to connect)."""
    port = client_port(db)
    lossy = lossy or {}
    pairs = list(itertools.combinations(cluster.nodes, 2))
    with ThreadPoolExecutor(max_workers=max(1, len(pairs))) as ex:
        seen = dict(
            zip(pairs, ex.map(lambda p: cluster.reach(p[0], p[1], port), pairs), strict=True)
        )
    wrong = []
    for (a, b), how in seen.items():
        if cut(grudge, a, b) and how != "silent":
            wrong.append(f"{a} reached {b} across the cut ({how})")
        elif not cut(grudge, a, b) and not cut(lossy, a, b) and how == "silent":
            wrong.append(f"{a} could not reach {b} on the same side")
    if wrong:
        raise NotObserved("; ".join(wrong))
    return {f"{a}-{b}": how for (a, b), how in seen.items()}


def rules(cluster: Cluster, node_rules: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Each node's kernel holds exactly the drop rules asked for (source -> probability)."""
    wrong = []
    for node, want in node_rules.items():
        have = cluster.firewall_rules(node)
        if set(have) != set(want) or any(abs(have[s] - p) > 1e-3 for s, p in want.items()):
            wrong.append(f"{node} drops {have or 'nothing'}, not {want}")
    if wrong:
        raise NotObserved("; ".join(wrong))
    return {n: len(r) for n, r in node_rules.items()}


def stopped(cluster: Cluster, db: Database, node: str, opened: Any, wait: float) -> dict[str, Any]:
    """A paused node: every process of its database stopped, and for `wait` seconds neither
    a connection that answered just before the pause (`opened`) nor a new one gets an
    answer. A node that served nothing before the pause (still restarting) cannot be asked
    to stall: then only a new connection's request is asked, and it must not be answered."""
    procs = cluster.processes(node)
    running = sorted(p for p, s in procs.items() if s not in ("T", "t"))
    if not procs or running:
        raise NotObserved(f"{node}: processes {running or 'none'} are not stopped")
    asks = {"new_connection": lambda: db.ask_new(cluster, node, wait)}
    if opened is not None:
        asks["open_connection"] = lambda: opened.ask(wait)
    with ThreadPoolExecutor(max_workers=len(asks)) as ex:
        seen: dict[str, Any] = dict(zip(asks, ex.map(lambda f: f(), asks.values()), strict=True))
    quiet = ("silent",) if opened is not None else ("silent", "error")
    heard = [f"the {k.replace('_', ' ')} {v}" for k, v in seen.items() if v not in quiet]
    if heard:
        raise NotObserved(f"{node} is paused, yet {' and '.join(heard)}")
    return {"stopped": len(procs), **seen}


def elected(db: Database, cluster: Cluster, old: str, within: float) -> str:
    """The primary that replaced `old`, waiting until the database has elected one."""
    deadline = time.monotonic() + within
    while True:
        p = db.primary(cluster)
        if p is not None and p != old:
            return p
        if time.monotonic() > deadline:
            raise NotObserved(f"no new primary within {within:g} s (still {p or 'none'})")
        time.sleep(0.5)


def gone(cluster: Cluster, node: str) -> dict[str, Any]:
    procs = cluster.processes(node)
    if procs:
        raise NotObserved(f"{node}: processes {sorted(procs)} still run after SIGKILL")
    return {"processes": 0}


def clock(cluster: Cluster, node: str, offset: float, tolerance: float = 0.5) -> float:
    """The node's clock, read as its database reads it, is off by `offset` seconds."""
    deadline = time.monotonic() + 3  # libfaketime re-reads the offset file once a second
    while True:
        reading = cluster.clock_reading(node)
        if abs(reading - offset) <= tolerance:
            return round(reading, 3)
        if time.monotonic() > deadline:
            raise NotObserved(f"{node}: its clock reads {reading:+.3f} s, not {offset:+.3f} s")
        time.sleep(0.2)
