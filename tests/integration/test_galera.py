"""Known answers of issue 5 on a real 3-node MariaDB Galera cluster in network namespaces.

Each case is one seeded run through harness.runner.run; the assertions are only what was
observed to be stable across seeds on this machine (see the issue report for the figures)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.checkers.conflicts_p2p import account
from harness.history import Op, pairs
from tests.integration.runs import needs_galera, needs_root, run_spec

pytestmark = [
    pytest.mark.integration,
    needs_root,
    needs_galera,
]

SUBNET = os.environ.get("SPLITBRAIN_TEST_SUBNET", "198.18.2.0/24")
BASE: dict[str, Any] = dict(
    db="galera",
    mode="multi-primary",
    subnet=SUBNET,
    nemesis=(),
    concurrency=6,
    seed=1,
    time_limit=15,
    fault_interval=6,
    op_timeout=3,
    recovery_timeout=60,
)


def _run(tmp_path: Path, **changes: Any) -> tuple[dict, list[Op]]:
    options = {**BASE.get("options", {}), **changes.pop("options", {})}
    doc, history, _ = run_spec(tmp_path, {**BASE, **changes, "options": options}, recovered=True)
    return doc, history


def _set(doc: dict) -> dict:
    return doc["checkers"]["set"]


def test_replica_reads_without_sync_wait_are_stale(tmp_path: Path) -> None:
    """All writes through n1, reads from n2/n3, wsrep_sync_wait=0: Galera replicates
    synchronously but applies asynchronously, so a read on another node can miss a write n1
    already acknowledged (observed: 20-60 stale reads per 15 s run, a few ms stale)."""
    doc, history = _run(
        tmp_path,
        read_from="replica",
        options={"write_to": "one", "wsrep_sync_wait": 0, "read_ratio": 0.5},
    )
    s = _set(doc)
    assert s["counts"].get("stale-read", 0) > 0, s["stats"]
    assert "lost-write" not in s["counts"]
    nodes = {(op.f, op.node) for op in history if op.type == "ok" and op.f in ("add", "read")}
    assert {n for f, n in nodes if f == "add"} == {"n1"}
    assert {n for f, n in nodes if f == "read"} <= {"n2", "n3"}


def test_replica_reads_with_sync_wait(tmp_path: Path) -> None:
    """wsrep_sync_wait=1: a read first waits until its node applied everything the cluster
    committed before it began (causal reads). Observed: 0 stale reads in seeds 1, 2 and 3
    (7 000-20 000 reads each), against 55-107 with wsrep_sync_wait=0 on the same seeds."""
    doc, history = _run(
        tmp_path,
        read_from="replica",
        options={"write_to": "one", "wsrep_sync_wait": 1, "read_ratio": 0.5},
    )
    s = _set(doc)
    print(f"wsrep_sync_wait=1: stale reads {s['stats']['stale_reads']} of {s['stats']['reads']}")
    assert s["counts"].get("stale-read", 0) == 0, s["anomalies"][:3]
    assert "lost-write" not in s["counts"]
    assert s["stats"]["reads"] > 100
    assert {op.node for op in history if op.type == "ok" and op.f == "read"} <= {"n2", "n3"}


def test_isolated_node_acknowledges_no_write_and_nothing_is_lost(tmp_path: Path) -> None:
    """isolate-one: the minority node goes non-Primary and refuses (1047); the majority keeps
    serving; after heal every acknowledged add is in every node's final read."""
    doc, history = _run(tmp_path, nemesis=("partition",), partition=("isolate-one",), time_limit=20)
    nem = [op for op in history if op.process == "nemesis" and op.type == "info"]
    start = next(op for op in nem if op.f == "start-partition")
    stop = next(op for op in nem if op.f == "stop-partition")
    grudge = start.value["grudge"]
    isolated = next(n for n, drops in grudge.items() if len(drops) == len(grudge) - 1)
    adds = [
        (i, c)
        for i, c in pairs(history)
        if i.f == "add" and start.time <= i.time and (c is None or c.time <= stop.time)
    ]
    # the completion says which node served the op (invocations carry no node)
    on_isolated = [(i, c) for i, c in adds if c is not None and c.node == isolated]
    assert on_isolated, "no write was attempted on the isolated node during the partition"
    assert all(c is None or c.type in ("fail", "info") for _, c in on_isolated)
    assert any(c is not None and c.error and "1047" in c.error for _, c in on_isolated)
    majority_ok = [c for _, c in adds if c is not None and c.node != isolated and c.type == "ok"]
    assert len(majority_ok) > 100
    s = _set(doc)
    assert "lost-write" not in s["counts"], s["counts"]
    assert "divergence" not in s["counts"], s["counts"]
    assert s["stats"]["final_reads"] == 3
    rec = doc["run"]["recovery"]
    assert rec["cluster_size"] == 3


def test_append_repeatable_read_across_nodes(tmp_path: Path) -> None:
    """Contended list-append transactions through all three nodes at repeatable-read.
    Stable across seeds 1-3: the history is not snapshot isolation, with lost updates and
    read skew (G-single) among the findings, and many writes refused by certification."""
    doc, history = _run(tmp_path, workload="append", isolation="repeatable-read", concurrency=8)
    v = doc["checkers"]["list-append"]
    assert v["valid"] is False
    assert v["counts"].get("lost-update", 0) > 0, v["counts"]
    assert v["counts"].get("G-single", 0) > 0, v["counts"]
    acc = account(history, doc)
    assert acc["certification_rejects"]["count"] > 0
    assert acc["lost_updates"]["count"] == v["counts"]["lost-update"]
    print("conflicts:", json.dumps({k: x["count"] for k, x in acc.items()}))
