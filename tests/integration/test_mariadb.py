"""Known answers of MariaDB 10.11 primary-replica (issue 26), on real 3-node clusters (GTID
replication) and a single node, local provider. Figures: docs/mariadb.md.

- async + isolating failover: the isolated old primary keeps acknowledging writes that the
  promoted replica never had; re-cloning it discards them: acknowledged writes lost.
- semi-sync AFTER_SYNC, the partition (6 s) shorter than rpl_semi_sync_master_timeout (10 s):
  a commit on the cut-off primary waits for an ack that never comes and is invisible until
  then: nothing acknowledged is lost and no read saw what the failover discarded.
- semi-sync AFTER_COMMIT, same: nothing acknowledged is lost, but a commit is visible on the
  primary before any replica has it, so reads there return writes the failover then discards
  (read-then-lost, as Jepsen's set-full counts them).
- semi-sync with the partition longer than the timeout (3 s here, to keep the test short; the
  nightly case uses 10 s): the primary falls back to asynchronous replication (recorded by the
  nemesis from the primary's Rpl_semi_sync_master_status), then acknowledges writes the
  failover loses.
- one healthy node, list-append: REPEATABLE READ shows what Jepsen found in MySQL 8.0.34
  (G-single, G2-item, lost updates, internal inconsistency; here G-nonadjacent too), each
  proved from the raw ops; SERIALIZABLE showed none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.ops import Op
from tests.integration.evidence import (
    assert_cycle_proves_itself,
    assert_internal_proves_itself,
    assert_lost_update_proves_itself,
)
from tests.integration.runs import needs_mariadb, needs_root, run_spec

pytestmark = [pytest.mark.integration, needs_root, needs_mariadb]

FAILOVER: dict[str, Any] = dict(
    db="mariadb",
    workload="set",
    subnet="198.18.26.0/24",
    nemesis=("failover",),
    # plain reads: at SERIALIZABLE MariaDB's SELECTs take shared locks, and an AFTER_SYNC
    # commit's row locks would block readers instead of showing what they do not see
    isolation="repeatable-read",
    concurrency=10,
    rate=200,  # reads return whole keys: bounded so the history stays small
    seed=1,
    time_limit=20,
    fault_interval=6,  # the isolation: shorter than the 10 s semi-sync timeout
    op_timeout=5,
    recovery_timeout=90,
)
# few live keys and many reads: a read on the cut-off primary meets the writes stuck there
HOT = {"failover_how": "isolate", "active_keys": 4, "adds_per_key": 100000, "read_ratio": 0.5}


def _run(tmp_path: Path, **changes: Any) -> tuple[dict[str, Any], list[Op]]:
    doc, history, _ = run_spec(tmp_path, {**FAILOVER, **changes}, clean=True)
    return doc, history


def _cut(history: list[Op]) -> int:
    """When the failover was invoked: the cut comes right after (its completion waits for the
    promotion and the observation, seconds later)."""
    return [op for op in history if op.f == "start-failover" and op.type == "invoke"][0].time


def _failover(history: list[Op]) -> tuple[Op, Op]:
    """The failover's completed start and stop (observed: old primary cut off, new one up)."""
    start = [op for op in history if op.f == "start-failover" and op.type == "info"]
    stop = [op for op in history if op.f == "stop-failover" and op.type == "info"]
    assert len(start) == len(stop) == 1 and not start[0].error and not stop[0].error
    value = start[0].value
    assert value["observed"]["primary"] == value["new_primary"] != value["old_primary"]
    assert stop[0].value["rejoined"] == value["old_primary"]
    return start[0], stop[0]


def _adds_on(history: list[Op], node: str, typ: str, after: int, before: int) -> list[Op]:
    return [
        op
        for op in history
        if op.f == "add" and op.type == typ and op.node == node and after < op.time < before
    ]


def test_async_isolating_failover_loses_acknowledged_writes(tmp_path: Path) -> None:
    doc, history = _run(tmp_path, mode="async", options=HOT)
    s = doc["checkers"]["set"]
    start, stop = _failover(history)
    old = start.value["old_primary"]
    lost = [a for a in s["anomalies"] if a["type"] == "lost-write"]
    assert doc["valid"] is False and lost, s["counts"]
    assert "divergence" not in s["counts"]  # the old primary was re-cloned: one history
    # every lost write was acknowledged by the cut-off old primary while it was cut off
    by_index = {op.index: op for op in history}
    for a in lost:
        ack = by_index[a["ops"][1]]
        assert ack.node == old and _cut(history) < ack.time < stop.time, a


def test_semi_sync_after_sync_short_partition_loses_nothing(tmp_path: Path) -> None:
    doc, history = _run(
        tmp_path, mode="semi-sync", options={**HOT, "semi_sync_wait_point": "AFTER_SYNC"}
    )
    s = doc["checkers"]["set"]
    start, stop = _failover(history)
    old = start.value["old_primary"]
    assert start.value["old_semi_sync"]["Rpl_semi_sync_master_status"] == "ON"
    # reads on the cut-off old primary may miss what the new one acknowledged: stale only
    assert set(s["counts"]) <= {"stale-read"}, s["counts"]
    assert s["stats"]["lost"] == 0 and s["stats"]["read_then_lost"] == 0
    # writes did reach the cut-off primary, and none was acknowledged: each waited for an
    # ack that never came, until the client gave up (indeterminate)
    assert _adds_on(history, old, "info", start.time, stop.time)
    assert not _adds_on(history, old, "ok", start.time + 10**9, stop.time)
    # and readers on it were served meanwhile, without seeing them
    assert [op for op in history if op.f == "read" and op.type == "ok" and op.node == old
            and start.time < op.time < stop.time]  # fmt: skip
    assert start.time - _cut(history) < 6e9  # the cut came well before the 10 s timeout
    assert not [op for op in history if op.f == "semi-sync-fallback"]
    assert stop.value["semi_sync_while_cut_off"]["fell_back"] is False


def test_semi_sync_after_commit_shows_writes_the_failover_discards(tmp_path: Path) -> None:
    doc, history = _run(
        tmp_path, mode="semi-sync", options={**HOT, "semi_sync_wait_point": "AFTER_COMMIT"}
    )
    s = doc["checkers"]["set"]
    start, stop = _failover(history)
    old = start.value["old_primary"]
    assert set(s["counts"]) <= {"stale-read", "read-then-lost"}, s["counts"]
    assert s["stats"]["lost"] == 0  # acknowledged writes survive
    seen = [a for a in s["anomalies"] if a["type"] == "read-then-lost"]
    assert seen, s["counts"]  # but others read writes the failover discarded
    by_index = {op.index: op for op in history}
    for a in seen:
        add, read = by_index[a["ops"][0]], by_index[a["ops"][1]]
        assert read.f == "read" and read.type == "ok" and read.node == old, a
        assert a["data"]["value"] in read.value[1] and _cut(history) < read.time < stop.time
        done = [op for op in history if op.process == add.process and op.index > add.index]
        assert done and done[0].f == "add" and done[0].type == "info", a  # never acknowledged
    assert not [op for op in history if op.f == "semi-sync-fallback"]


def test_semi_sync_falls_back_when_the_partition_outlasts_its_timeout(tmp_path: Path) -> None:
    doc, history = _run(
        tmp_path,
        mode="semi-sync",
        options={**HOT, "semi_sync_wait_point": "AFTER_SYNC", "semi_sync_timeout_ms": 3000},
    )
    s = doc["checkers"]["set"]
    start, stop = _failover(history)
    old = start.value["old_primary"]
    assert start.value["old_semi_sync"]["Rpl_semi_sync_master_status"] == "ON"
    (event,) = [op for op in history if op.f == "semi-sync-fallback"]
    assert event.process == "nemesis" and event.type == "info"
    assert event.value["status"]["Rpl_semi_sync_master_status"] == "OFF"
    fell_back = event.value["at_ns"]
    assert _cut(history) < fell_back < stop.time
    (seen,) = doc["run"]["nemesis_events"]
    assert seen["f"] == "semi-sync-fallback" and seen["fault"] == "failover"
    # then the old primary acknowledged writes no replica had, and the failover lost them
    lost = [a for a in s["anomalies"] if a["type"] == "lost-write"]
    assert lost, s["counts"]
    by_index = {op.index: op for op in history}
    for a in lost:
        ack = by_index[a["ops"][1]]
        # the watch reads the status every 0.1 s: a waiting commit is released at the timeout
        assert ack.node == old and fell_back - 0.5e9 < ack.time < stop.time, (a, fell_back)


APPEND: dict[str, Any] = dict(
    db="mariadb",
    mode="async",
    workload="append",
    subnet="198.18.26.0/24",
    nodes=1,
    nemesis=(),
    concurrency=5,
    seed=1,
    time_limit=15,
    op_timeout=5,
)
INNODB_RR = {"G-single", "G2-item", "lost-update", "internal"}  # Jepsen, MySQL 8.0.34


def test_single_node_repeatable_read_is_not_snapshot_isolation(tmp_path: Path) -> None:
    doc, history, _ = run_spec(tmp_path, {**APPEND, "isolation": "repeatable-read"})
    la = doc["checkers"]["list-append"]
    assert la["stats"]["ok"] > 5000, la["stats"]
    assert INNODB_RR <= set(la["counts"]) <= INNODB_RR | {"G-nonadjacent"}, la["counts"]
    for a in la["anomalies"]:
        if a["type"] == "lost-update":
            assert_lost_update_proves_itself(a, history)
        elif a["type"] == "internal":
            assert_internal_proves_itself(a, history)
        else:
            assert_cycle_proves_itself(a, history)
    assert {op.node for op in history if op.f == "txn" and op.type == "ok"} == {"n1"}


def test_single_node_serializable_is_valid(tmp_path: Path) -> None:
    doc, _, _ = run_spec(tmp_path, {**APPEND, "isolation": "serializable"})
    la = doc["checkers"]["list-append"]
    assert la["stats"]["ok"] > 5000 and la["stats"]["fail"] > 0, la["stats"]  # it did conflict
    assert doc["valid"] is True, la["counts"]
