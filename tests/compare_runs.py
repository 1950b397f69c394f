"""A realistic set of hand-made run folders for the comparison page: the quick suite's 13
configurations, MariaDB primary-replica async and semi-sync failovers, and `splitbrain
scale` runs. No database: each run is simulated from a seed by a small model of what that
database does under its fault (who acknowledges, what fails, what is lost or stale), and
its verdict names exactly the ops that the model lost or served stale.

`python3 -m tests.compare_runs DIR` writes them (and their report.html) under DIR."""

from __future__ import annotations

import contextlib
import json
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checkers.conflicts_p2p import account
from harness.db import Database
from harness.history import Op, write_jsonl
from harness.registry import DATABASES as REGISTRY
from harness.spec import TestSpec
from harness.verdict import Anomaly, Verdict, compose

S = 1_000_000_000
NODES = ("n1", "n2", "n3")


@dataclass
class Fault:
    start: float
    end: float
    fault: str
    params: dict[str, Any]
    value: dict[str, Any]
    effect: float = 0.3  # seconds from invocation to effect


@dataclass
class Outcome:
    node: str
    typ: str = "ok"  # ok | fail | info
    lost: bool = False  # acknowledged, then missing after healing
    stale: bool = False  # a read that missed an acknowledged write
    error: str | None = None


# (time s, process, is write) -> what the database did
World = Callable[[float, int, bool], Outcome]


@dataclass
class Case:
    name: str
    spec: dict[str, Any]
    topology: str
    world: World
    faults: list[Fault] = field(default_factory=list)
    duration: float = 30.0
    extra: dict[str, dict[str, int]] = field(default_factory=dict)  # checker -> anomaly counts
    scale: tuple[int, int] | None = None  # (nodes, write_nodes) of a `splitbrain scale` run
    speed: float = 1.0  # ops per second against the others' (what a protocol costs)


def spec(db: str, mode: str, name: str, **kw: Any) -> dict[str, Any]:
    """spec.json as the runner writes it; the database need not be known to this version
    (MariaDB is written elsewhere), so the TestSpec is made for postgres and renamed."""
    base = TestSpec(db="postgres", mode="async", name=name, **kw).to_dict()
    return base | {"db": db, "mode": mode}


def hit(f: Fault) -> str:
    """The node a fault cut off or stopped."""
    return str(f.value.get("node") or next(iter(f.value.get("grudge") or {"n3": []})))


def in_window(t: float, faults: list[Fault], fault: str | None = None) -> Fault | None:
    for f in faults:
        if f.start <= t < f.end and (fault is None or f.fault == fault):
            return f
    return None


# ---------------------------------------------------------------- worlds


def primary(node: str = "n1") -> World:
    """A healthy primary-replica database: writes on the primary, reads from `read_from`."""

    def world(t: float, p: int, write: bool) -> Outcome:
        return Outcome(node if write else NODES[p % 3])

    return world


def peers() -> World:
    def world(t: float, p: int, write: bool) -> Outcome:
        return Outcome(NODES[p % 3])

    return world


def failover(faults: list[Fault], durable: bool, promote_s: float = 2.5) -> World:
    """The primary n1 is isolated and n2 promoted after `promote_s`. Clients still on n1
    (processes 0-3) are acknowledged by it and lose those writes (async), or wait for a
    standby that never answers (sync, semi-sync: indeterminate); the others fail until the
    promotion, then write to n2, which stays primary."""

    def world(t: float, p: int, write: bool) -> Outcome:
        f = in_window(t, faults)
        after = faults[0].start
        if f is None:
            return Outcome("n1" if t < after else "n2") if write else Outcome(NODES[p % 3])
        cut = t >= f.start + f.effect
        if p < 4:  # connected to the old primary
            if not write:
                return Outcome("n1", stale=cut and p == 0)
            if durable and cut:
                return Outcome("n1", "info", error="timeout")
            return Outcome("n1", lost=cut and not durable)
        if t < f.start + promote_s:
            return Outcome("n2", "fail", error="connection refused") if write else Outcome("n3")
        return Outcome("n2") if write else Outcome(NODES[p % 3])

    return world


def restart(faults: list[Fault], lose_before_s: float = 0.0) -> World:
    """The primary loses power; it is back after 4 s, from its own WAL. With
    synchronous_commit=off the writes acknowledged in the last `lose_before_s` before the
    cut were never flushed, and are gone."""

    def world(t: float, p: int, write: bool) -> Outcome:
        f = in_window(t, faults)
        if f is None or not write:
            return Outcome("n1" if write else NODES[p % 3])
        cut = f.start + f.effect
        if t < cut:
            return Outcome("n1", lost=cut - t < lose_before_s)
        if t < cut + 4.0:
            return Outcome("n1", "fail", error="connection refused")
        return Outcome("n1")

    return world


def stale_replicas(faults: list[Fault]) -> World:
    """The primary is cut from its replicas; it keeps taking writes, the replicas serve
    reads of the state before the cut."""

    def world(t: float, p: int, write: bool) -> Outcome:
        if write:
            return Outcome("n1")
        return Outcome(NODES[1 + p % 2], stale=in_window(t, faults) is not None and p % 3 == 0)

    return world


def galera(faults: list[Fault], deadlock: float = 0.003) -> World:
    """Every node takes writes; a node cut off or killed refuses its clients (it left the
    primary component); certification refuses a few conflicting writes (error 1213)."""
    rng = random.Random(7)

    def world(t: float, p: int, write: bool) -> Outcome:
        node = NODES[p % 3]
        f = in_window(t, faults)
        if f is not None and t >= f.start + f.effect and hit(f) == node:
            return Outcome(
                node, "fail" if f.fault == "partition" else "info", error="WSREP not ready"
            )
        if write and rng.random() < deadlock:
            return Outcome(node, "fail", error="1213 Deadlock found when trying to get lock")
        return Outcome(node)

    return world


def cassandra_one(faults: list[Fault]) -> World:
    """ONE/ONE: the isolated node's coordinator acknowledges writes to itself and answers
    reads from its own replica: stale for everything written elsewhere meanwhile."""

    def world(t: float, p: int, write: bool) -> Outcome:
        node = NODES[p % 3]
        f = in_window(t, faults)
        stale = f is not None and not write and node == "n3" and t > f.start + 1
        return Outcome(node, stale=stale)

    return world


# ---------------------------------------------------------------- histories


def history(c: Case, seed: int, processes: int, rate: float) -> tuple[list[Op], dict[str, Any]]:
    rng = random.Random(seed)
    rate *= c.speed
    events: list[tuple[int, Any, str, str, Any, str | None, str | None]] = []
    for f in c.faults:
        start, effect, end = int(f.start * S), int((f.start + f.effect) * S), int(f.end * S)
        events.append((start, "nemesis", "invoke", f"start-{f.fault}", f.params, None, None))
        events.append((effect, "nemesis", "info", f"start-{f.fault}", f.value, None, None))
        events.append((end - 1000, "nemesis", "invoke", f"stop-{f.fault}", None, None, None))
        events.append((end, "nemesis", "info", f"stop-{f.fault}", f.value, None, None))
    txn = c.spec["workload"] == "append"
    value = 0
    lost_values: list[int] = []
    stale_reads: list[int] = []  # event positions of the stale reads' completions
    for p in range(processes):
        proc: int = p
        t = rng.uniform(0, 1.0 / rate)
        while t < c.duration:
            write = rng.random() < 0.55
            lat = rng.lognormvariate(-5.3, 0.5)
            o = c.world(t + lat, p, write)  # as things stand when it completes
            if o.typ == "fail":
                lat = rng.uniform(0.01, 0.05)
            elif o.typ == "info":
                lat = 5.0  # the op timeout
            if txn:
                f, v = "txn", ([["append", p % 4, value]] if write else [["r", p % 4, None]])
            else:
                f, v = ("add", value) if write else ("read", None)
            events.append((int(t * S), proc, "invoke", f, v, None, None))
            events.append((int((t + lat) * S), proc, o.typ, f, v, o.node, o.error))
            if write and o.lost and o.typ == "ok":
                lost_values.append(value)
            if not write and o.stale:
                stale_reads.append(len(events) - 1)
            value += write
            if o.typ == "info":
                proc += processes
            t += lat + rng.expovariate(rate)
    final = [v for v in range(value) if v not in set(lost_values)]
    for i, node in enumerate(NODES):
        at = c.duration + 3 + i
        events.append((int(at * S), 1000 + i, "invoke", "final-read", None, node, None))
        events.append((int((at + 0.05) * S), 1000 + i, "ok", "final-read", final, node, None))
    order = sorted(range(len(events)), key=lambda i: events[i][0])
    position = {e: i for i, e in enumerate(order)}
    ops = [Op(i, *events[e]) for i, e in enumerate(order)]
    return ops, _verdict(c, ops, set(lost_values), [position[s] for s in stale_reads])


def _verdict(c: Case, ops: list[Op], lost: set[int], stale: list[int]) -> dict[str, Any]:
    verdicts = []
    if c.spec["workload"] == "set" and not c.scale:
        final = next(op.index for op in ops if op.f == "final-read" and op.type == "ok")
        found = [
            Anomaly(
                "lost-write",
                [op.index, final],
                f"write of {op.value} acknowledged at {op.time / S:.3f} s by {op.node} is "
                "missing from every final read",
                {"value": op.value},
            )
            for op in ops
            if op.f == "add" and op.type == "ok" and op.value in lost
        ]
        found += [
            Anomaly("stale-read", [i], f"read at {ops[i].time / S:.3f} s missed a write", {})
            for i in stale
        ]
        verdicts.append(Verdict("set", not found, found, stats={"lost": len(lost)}))
    # other checkers' findings cite acknowledged writes, inside a fault window if there is one
    writes = [op for op in ops if op.type == "ok" and op.process != "nemesis" and op.f != "read"]
    inside = [op for op in writes if any(f.start <= op.time / S < f.end for f in c.faults)]
    cited = inside or writes
    for checker, counts in c.extra.items():
        anomalies = [
            Anomaly(t, [cited[(17 * k) % len(cited)].index], f"{t} (hand-made)", {})
            for t, n in counts.items()
            for k in range(n)
        ]
        verdicts.append(Verdict(checker, not anomalies, anomalies, stats={"realtime": False}))
    doc = compose(verdicts)
    if c.topology == "peer-to-peer":
        doc["conflicts"] = account(ops, doc["checkers"])
    return doc


def write(root: Path, c: Case, seed: int = 1, processes: int = 8, rate: float = 15.0) -> Path:
    ops, doc = history(c, seed, processes, rate)
    run_dir = Path(root) / c.name / "20261206-120000"
    run_dir.mkdir(parents=True)
    (run_dir / "spec.json").write_text(json.dumps(c.spec, indent=2))
    write_jsonl(ops, run_dir / "history.jsonl")
    counts = {
        t: sum(op.type == t and op.process != "nemesis" for op in ops)
        for t in ("ok", "fail", "info")
    }
    doc["run"] = {
        "test": c.name,
        "db": c.spec["db"],
        "topology": c.topology,
        "mode": c.spec["mode"],
        "workload": c.spec["workload"],
        "nemesis": c.spec["nemesis"],
        "seed": seed,
        "duration_s": c.duration + 6,
        "setup_s": 9.5,
        "aborted": None,
        "ops": counts,
    }
    (run_dir / "verdict.json").write_text(json.dumps(doc))
    if c.scale:
        (run_dir / "scale.json").write_text(
            json.dumps({"nodes": c.scale[0], "write_nodes": c.scale[1]})
        )
    return run_dir


# ---------------------------------------------------------------- the set


def _failover_case(name: str, db: str, mode: str, durable: bool) -> Case:
    f = Fault(
        8.0, 16.0, "failover", {"how": "isolate"},
        {"how": "isolate", "old_primary": "n1", "new_primary": "n2"},
    )  # fmt: skip
    s = spec(db, mode, name, nemesis=("failover",), options={"failover_how": "isolate"})
    return Case(name, s, "primary-replica", failover([f], durable), [f])


def quick_suite() -> list[Case]:
    """The quick suite's 13 cases, as suites/quick.yaml states them, plus MariaDB."""
    part = Fault(8.0, 16.0, "partition", {"shape": "isolate-primary", "seed": 1},
                 {"shape": "isolate-primary", "grudge": {"n1": ["n2", "n3"]}})  # fmt: skip
    power = Fault(8.0, 14.0, "power-loss", {"target": "primary", "nodes": 1, "seed": 3},
                  {"nodes": ["n1"], "dropped": {"n1": {"files": 3}}}, effect=0.4)  # fmt: skip
    g_part = Fault(6.0, 12.0, "partition", {"shape": "isolate-one", "seed": 5},
                   {"shape": "isolate-one", "grudge": {"n3": ["n1", "n2"]}})  # fmt: skip
    g_kill = Fault(18.0, 24.0, "kill", {"target": "primary", "seed": 6}, {"node": "n2"})
    c_part = Fault(8.0, 16.0, "partition", {"shape": "isolate-one", "seed": 2},
                   {"shape": "isolate-one", "grudge": {"n3": ["n1", "n2"]}})  # fmt: skip
    clock = Fault(10.0, 20.0, "clock", {"mode": "bump", "offset_s": 20.0, "seed": 4},
                  {"mode": "bump", "node": "n2", "offset_s": 20.0})  # fmt: skip
    append = {"workload": "append", "isolation": "repeatable-read", "nemesis": ()}
    return [
        _failover_case("pg-async-failover", "postgres", "async", durable=False),
        Case(
            "pg-async-replica-reads-partition",
            spec(
                "postgres",
                "async",
                "pg-async-replica-reads-partition",
                read_from="replica",
                nemesis=("partition",),
                partition=("isolate-primary",),
            ),  # fmt: skip
            "primary-replica",
            stale_replicas([part]),
            [part],
        ),
        _failover_case("pg-sync-failover", "postgres", "sync", durable=True),
        Case(
            "pg-no-fault",
            spec("postgres", "async", "pg-no-fault", nemesis=()),
            "primary-replica",
            primary(),
        ),  # fmt: skip
        Case(
            "pg-append-rr-any-reads-long-fork",
            spec(
                "postgres",
                "async",
                "pg-append-rr-any-reads-long-fork",
                read_from="any",
                options={"keys": 4, "max_txn_length": 4},
                **append,
            ),  # fmt: skip
            "primary-replica",
            primary(),
            extra={"list-append": {"G-nonadjacent": 2}},
        ),
        Case(
            "pg-power-loss-defaults",
            spec(
                "postgres",
                "async",
                "pg-power-loss-defaults",
                nemesis=("power-loss",),
                options={"power_loss_target": "primary"},
            ),  # fmt: skip
            "primary-replica",
            restart([power]),
            [power],
        ),
        Case(
            "pg-power-loss-sync-commit-off",
            spec(
                "postgres",
                "async",
                "pg-power-loss-sync-commit-off",
                nemesis=("power-loss",),
                options={"power_loss_target": "primary", "synchronous_commit": "off"},
            ),  # fmt: skip
            "primary-replica",
            restart([power], lose_before_s=0.35),
            [power],
        ),
        Case(
            "galera-partition-kill",
            spec(
                "galera",
                "multi-primary",
                "galera-partition-kill",
                nemesis=("partition", "kill"),
                partition=("isolate-one", "halves"),
                time_limit=40,
                fault_interval=6,
            ),  # fmt: skip
            "peer-to-peer",
            galera([g_part, g_kill]),
            [g_part, g_kill],
            duration=40.0,
        ),
        Case(
            "pg-append-repeatable-read",
            spec(
                "postgres",
                "async",
                "pg-append-repeatable-read",
                options={"keys": 3},
                time_limit=15,
                **append,
            ),  # fmt: skip
            "primary-replica",
            primary(),
            duration=15.0,
            extra={"list-append": {"G2-item": 14}},
        ),
        Case(
            "galera-append-repeatable-read",
            spec(
                "galera", "multi-primary", "galera-append-repeatable-read", time_limit=15, **append
            ),
            "peer-to-peer",
            galera([], deadlock=0.025),
            duration=15.0,
            extra={"list-append": {"lost-update": 6, "G-single": 9}},
        ),
        Case(
            "cassandra-quorum",
            spec("cassandra", "quorum", "cassandra-quorum", nemesis=(), time_limit=20),
            "peer-to-peer",
            peers(),
            duration=20.0,
        ),  # fmt: skip
        Case(
            "cassandra-one-isolate-one",
            spec(
                "cassandra",
                "quorum",
                "cassandra-one-isolate-one",
                nemesis=("partition",),
                partition=("isolate-one",),
                options={"write_cl": "ONE", "read_cl": "ONE"},
            ),  # fmt: skip
            "peer-to-peer",
            cassandra_one([c_part]),
            [c_part],
        ),
        Case(
            "cassandra-clock-bump",
            spec(
                "cassandra",
                "quorum",
                "cassandra-clock-bump",
                workload="conflicts",
                nemesis=("clock",),
                fault_interval=10,
                options={"clock_offset_ms": 20000, "clock_direction": "+", "keys": 40},
            ),  # fmt: skip
            "peer-to-peer",
            peers(),
            [clock],
            extra={"conflicts": {"lost-to-lww": 35}},
        ),
        _failover_case("mariadb-async-failover", "mariadb", "async", durable=False),
        _failover_case("mariadb-semi-sync-failover", "mariadb", "semi-sync", durable=True),
    ]


def scale_runs() -> list[Case]:
    """`splitbrain scale` points: writes pinned to 1 node, then to all 3 (a replica of a
    primary-replica database refuses the writes sent to it: the measurement)."""
    out = []
    speeds = {
        "postgres": (1.0, 1.0),
        "mariadb": (0.9, 0.9),
        "galera": (0.8, 0.55),
        "cassandra": (0.6, 1.1),
    }
    modes = {
        "postgres": "async",
        "mariadb": "async",
        "galera": "multi-primary",
        "cassandra": "quorum",
    }
    for db, (one, every) in speeds.items():
        topology = "primary-replica" if db in ("postgres", "mariadb") else "peer-to-peer"
        for k in (1, 3):
            name = f"scale-{db}-3nodes-writes-to-{k}"

            def world(
                t: float, p: int, write: bool, k: int = k, topology: str = topology
            ) -> Outcome:
                node = NODES[p % k]
                refused = write and topology == "primary-replica" and node != "n1"
                return Outcome(
                    node, "fail" if refused else "ok", error="read-only" if refused else None
                )

            c = Case(name, spec(db, modes[db], name, nemesis=(), time_limit=15), topology, world,
                     duration=15.0, scale=(3, k), speed=one if k == 1 else every)  # fmt: skip
            out.append(c)
    return out


def write_all(
    root: Path, processes: int = 8, rate: float = 15.0, reports: bool = True
) -> list[Path]:
    from harness.report.run_report import write_report

    dirs = [
        write(root, c, seed=i + 1, processes=processes, rate=rate)
        for i, c in enumerate(quick_suite())
    ]
    dirs += [write(root / "scale", c, seed=1, processes=processes, rate=rate) for c in scale_runs()]
    if reports:
        for d in dirs:
            write_report(d)
    return dirs


class MariaDB(Database):
    """A stand-in for harness/db/mariadb.py (being written): the facts a report reads, as
    that module declares them, so that the page shows what a new database's module makes
    of its column without a line of the report changed."""

    name = "mariadb"
    topology = "primary-replica"
    modes = ("async", "semi-sync")
    title = "MariaDB"
    isolation_applies = True
    reads_routed = True

    def setup(self, cluster: Any) -> None:
        raise NotImplementedError

    def recover(self, cluster: Any, timeout: float) -> dict[str, Any]:
        raise NotImplementedError

    def client(self, cluster: Any, process: int, node: str | None = None) -> Any:
        raise NotImplementedError


@contextlib.contextmanager
def mariadb_registered() -> Iterator[None]:
    """harness.registry.DATABASES with a MariaDB line: the real module's once it is registered (it
    declares the same facts), else the stand-in's for the duration; the registry is left as
    it was found."""
    if "mariadb" in REGISTRY:
        yield
        return
    REGISTRY["mariadb"] = "tests.compare_runs:MariaDB"
    try:
        yield
    finally:
        del REGISTRY["mariadb"]


if __name__ == "__main__":
    from harness.report.compare import compare

    root = Path(sys.argv[1])
    write_all(root, processes=10, rate=40.0)
    with mariadb_registered():
        print(compare([root], root / "cmp")[0])
