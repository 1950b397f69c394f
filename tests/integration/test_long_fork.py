"""Long Fork on PostgreSQL 15 streaming replicas (issue 15), on a real healthy 3-node cluster.

Jepsen's 2025 analysis of Amazon RDS for PostgreSQL 17.4 found Long Fork (G-nonadjacent) with
reads from replicas and traced it to PostgreSQL: a standby makes commits visible in WAL order,
the primary in the order its backends leave the ProcArray, and the two can differ. Two
transactions T1, T2 whose commit records are in WAL as T1 < T2 can become visible on the
primary as T2 < T1: a primary transaction then sees T2 without T1 while a replica read sees T1
without T2. No single order of snapshots explains both reads.

List-append read-write transactions go to the primary and read-only ones to any node
(--read-from any: the primary and both replicas), no faults, a few hot keys, 40 workers. It is
a race, and how often it shows decides how the test is built (docs/long-fork.md):
- with read-only transactions on the replicas only (--read-from replica) a 30 s run showed a
  fork in 3 of 12 runs on a quiet 2-core machine (seeds 2-4; commit_delay, CPU-bound processes
  beside it or a delayed standby did not raise that), and a CI run found none in 8 (seeds 2-9);
- with them on any node, 6 of 8 runs (seeds 2-9, 9 forks; why is not settled, see the doc).
The test gives it up to ten seeded 30 s runs (ATTEMPTS) and stops at the first that shows one;
all ten missing at one miss in four per run is about one in a million.
Each finding is checked here against the raw ops (every edge of the cycle re-derived from the
values read and appended), and its two readers must be one on the primary and one on a replica:
each node alone stays consistent. Reads from the primary only, same configuration, keep snapshot
isolation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.history import Op
from tests.integration.evidence import assert_cycle_proves_itself, reads_of
from tests.integration.runs import needs_root, run_spec

pytestmark = [
    pytest.mark.integration,
    needs_root,
]

PRIMARY = "n1"  # no faults: the first primary stays the primary
ATTEMPTS = tuple(range(2, 12))  # seeds of the runs Long Fork may take to show
BASE: dict[str, Any] = dict(
    db="postgres",
    mode="async",
    workload="append",
    subnet="198.18.15.0/24",
    nemesis=(),
    nodes=3,
    concurrency=40,
    time_limit=30,
    op_timeout=5,
    recovery_timeout=60,
    # few hot keys and short transactions: commits on the primary are concurrent all the time
    options={"keys": 4, "max_txn_length": 4},
)


def _run(tmp_path: Path, **changes: Any) -> tuple[dict[str, Any], list[Op]]:
    doc, history, _ = run_spec(tmp_path, {**BASE, **changes}, clean=True)
    return doc, history


def _read_only(op: Op) -> bool:
    return all(m[0] == "r" for m in op.value)


def _final_reads(history: list[Op]) -> set[int]:
    """The final phase's reads: one transaction reading every key ever appended to."""
    keys = {k for op in history if op.f == "txn" for f, k, _ in op.value if f == "append"}
    return {
        op.index
        for op in history
        if op.type == "ok" and op.f == "txn" and _read_only(op) and set(reads_of(op)) == keys
    }


def _assert_routed(history: list[Op]) -> None:
    """Every transaction with an append was served by the primary, the others by every node."""
    final = _final_reads(history)
    served = [op for op in history if op.type == "ok" and op.f == "txn" and op.index not in final]
    assert served
    assert all(op.node == PRIMARY for op in served if not _read_only(op))
    readers = {op.node for op in served if _read_only(op)}
    assert readers == {PRIMARY, "n2", "n3"}, readers  # spread over all three


def test_reads_from_any_node_show_long_fork(tmp_path: Path) -> None:
    tried = []
    forks: list[dict[str, Any]] = []
    for seed in ATTEMPTS:
        doc, history = _run(
            tmp_path / f"seed-{seed}", isolation="repeatable-read", read_from="any", seed=seed
        )
        la = doc["checkers"]["list-append"]
        assert la["stats"]["models"] == ["snapshot-isolation"]
        assert la["stats"]["ok"] > 5000, la["stats"]
        _assert_routed(history)
        tried.append((seed, la["stats"]["ok"], la["counts"]))
        # write skew is snapshot isolation's to allow; a fork is the one thing it forbids here
        assert set(la["counts"]) <= {"G2-item", "G-nonadjacent"}, la["counts"]
        forks = [a for a in la["anomalies"] if a["type"] == "G-nonadjacent"]
        if forks:
            break
    assert forks, f"no Long Fork in {len(tried)} runs (seed, ok txns, counts): {tried}"
    assert doc["valid"] is False and la["counts"]["G-nonadjacent"] == len(forks)
    ops = {op.index: op for op in history if op.type == "ok"}
    for a in forks:
        assert_cycle_proves_itself(a, history)
        cycle = a["data"]["cycle"]
        kinds = [s["edge"] for s in cycle]
        rw = [i for i, e in enumerate(kinds) if e == "rw"]
        assert len(rw) >= 2 and all(kinds[(i + 1) % len(kinds)] != "rw" for i in rw), kinds
        # the readers that missed a write: one on the primary, one on a replica
        readers = {ops[f["reader"]].node for f in a["data"]["forks"]}
        assert PRIMARY in readers and readers - {PRIMARY}, (readers, a["explanation"])
        assert "snapshot-isolation" in a["data"]["models_ruled_out"]


def test_primary_reads_keep_snapshot_isolation(tmp_path: Path) -> None:
    doc, history = _run(tmp_path, isolation="repeatable-read", read_from="primary", seed=2)
    la = doc["checkers"]["list-append"]
    assert la["stats"]["models"] == ["snapshot-isolation"]
    assert la["stats"]["ok"] > 5000, la["stats"]
    assert {op.node for op in history if op.type == "ok" and op.f == "txn"} >= {PRIMARY}
    final = _final_reads(history)
    assert {op.node for op in history if op.type == "ok" and op.index not in final} == {PRIMARY}
    assert "G-nonadjacent" not in la["counts"], la["counts"]
    assert doc["valid"] is True, la["counts"]
    # transactions did conflict: PostgreSQL's repeatable read shows write skew, which SI allows
    assert la["counts"].get("G2-item", 0) > 0, la["counts"]
