"""Helpers for the tests of the memory test doubles (tests/doubles/memory_provider.py, memory_db.py):
a spec for them, and a small driver that runs real workers, a real nemesis and the real final
reads against a memory cluster, then the real checkers."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import workloads
from harness import checkers
from harness.history import HistoryWriter, Op, load
from harness.spec import TestSpec
from harness.verdict import Verdict
from harness.worker import Watchdog, Worker
from nemesis import schedule as schedules
from nemesis.runner import Nemesis
from tests.doubles.memory_db import MemoryDB
from tests.doubles.memory_provider import MemoryCluster


def memory_spec(**kw: Any) -> TestSpec:
    return TestSpec(**{"db": "memory", "provider": "memory", **kw})


def up(spec: TestSpec, tmp: Path, **cluster_kw: Any) -> tuple[MemoryDB, MemoryCluster]:
    db = MemoryDB(spec)
    db.validate()
    nodes = [f"n{i}" for i in range(1, spec.nodes + 1)]
    cluster = MemoryCluster("a1b2c3", nodes, root=tmp / "work", **cluster_kw)
    db.setup(cluster)
    return db, cluster


@dataclass
class Outcome:
    history: list[Op]
    verdicts: dict[str, Verdict]
    nemesis_errors: list[str]
    recovery: dict[str, Any]


def drive(db: MemoryDB, cluster: MemoryCluster, tmp: Path, seconds: float) -> Outcome:
    """Workers and the spec's fault schedule for `seconds`, then heal, recover, final reads on
    every node, and the workload's checkers over the history written to disk."""
    spec = db.spec
    rng = random.Random(spec.seed)
    wl = workloads.get(spec, rng)
    path = tmp / "history.jsonl"
    history = HistoryWriter(path)
    stop = threading.Event()
    wd = Watchdog(stop)
    workers = [
        Worker(i, spec.concurrency, wl, db, cluster, history, stop, wd, spec.op_timeout, spec.rate)
        for i in range(spec.concurrency)
    ]
    plan = schedules.build(spec, random.Random(spec.seed + 1))
    nem = Nemesis(spec, plan, cluster, db, history, time.monotonic(), stop)
    wd.start()
    for w in workers:
        w.start()
    nem.start()
    time.sleep(seconds)
    stop.set()
    nem.join(10)
    for w in workers:
        w.join(spec.op_timeout + 2)
    wd.join(spec.op_timeout + 2)
    assert not [w for w in workers if w.is_alive()], "a worker did not return"
    assert not [w.error for w in workers if w.error], [w.error for w in workers]
    cluster.heal()
    for n in cluster.nodes:
        with contextlib.suppress(Exception):
            cluster.resume(n)
    recovery = db.recover(cluster, 5)
    stop2 = threading.Event()
    wd2 = Watchdog(stop2)
    wd2.start()
    process = 1000
    for node in cluster.nodes:
        for f, value in wl.final_ops():
            reader = Worker(process, 1, wl, db, cluster, history, stop2, wd2, spec.op_timeout)
            client = db.client(cluster, process, node=node)
            try:
                reader.invoke(client, f, value)
            finally:
                client.close()
        process += 1
    stop2.set()
    wd2.join(5)
    history.close()
    ops = load(path)
    opts = wl.checker_options()
    verdicts = {name: checkers.check(name, ops, **opts) for name in wl.checkers}
    return Outcome(ops, verdicts, nem.errors, recovery)
