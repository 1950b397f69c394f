"""MariaDB primary-replica (harness/db/mariadb.py) without a server: its declared facts and
options (refused before anything starts), GTID positions, client routing, the semi-sync
fallback watch; the kill fault over several nodes and the nemesis's recording of what a
fault sees (on the memory double); Galera's innodb_flush_log_at_trx_commit and its old name."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.db import database_class
from harness.db.galera import flush_of
from harness.db.mariadb import FallbackWatch, MariaDB, gtid_seq, semi_sync_state
from harness.db.mariadb_clients import wanted
from harness.errors import SpecError
from harness.history import HistoryWriter, load
from harness.plan import prepare
from harness.spec import TestSpec
from nemesis.faults import Target
from nemesis.faults.kill import Kill
from nemesis.runner import Nemesis
from nemesis.schedule import Step
from tests.memory_helpers import memory_spec, up


def test_registered_with_the_facts_reports_and_installers_read() -> None:
    cls = database_class("mariadb")
    assert cls is MariaDB and cls.topology == "primary-replica"
    assert cls.modes == ("async", "semi-sync") and "failover" in cls.faults
    assert cls.title == "MariaDB" and cls.isolation_applies and cls.reads_routed
    assert cls.packages == ("mariadb-server",)
    assert cls.deployment.image == "splitbrain/mariadb:10.11"
    assert set(cls.workloads) == {"set", "register", "kv", "append", "bank"}
    names = {o.name for o in cls.consistency_options}
    assert names == {
        "semi_sync_wait_point",
        "semi_sync_timeout_ms",
        "innodb_flush_log_at_trx_commit",
    }


def test_default_mode_and_as_run() -> None:
    assert TestSpec(db="mariadb").mode == "async"
    spec = TestSpec(db="mariadb", mode="semi-sync", options={"semi_sync_wait_point": "AFTER_SYNC"})
    run = MariaDB.as_run(spec.to_dict())
    assert run.mode == "semi-sync"
    assert ("semi_sync_wait_point", "AFTER_SYNC") in run.settings
    assert ("isolation", "serializable") in run.settings


@pytest.mark.parametrize(
    "options, match",
    [
        ({"semi_sync_wait_point": "FOO"}, "semi_sync_wait_point=FOO: expected one of"),
        ({"semi_sync_timeout_ms": 0}, "semi_sync_timeout_ms"),
        ({"innodb_flush_log_at_trx_commit": 3}, "innodb_flush_log_at_trx_commit"),
    ],
)
def test_bad_options_are_refused_at_plan_time(options: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        prepare(TestSpec(db="mariadb", mode="semi-sync", nemesis=(), options=options))


def test_a_mode_it_lacks_is_refused() -> None:
    with pytest.raises(SpecError, match="--mode 'sync' is not one of mariadb's"):
        prepare(TestSpec(db="mariadb", mode="sync", nemesis=()))


def test_gtid_positions() -> None:
    assert gtid_seq("0-1-42") == 42
    assert gtid_seq("1-2-3,0-3-17") == 17
    assert gtid_seq("1-2-3", domain=1) == 3
    assert gtid_seq("") == -1 and gtid_seq(None) == -1


def test_what_a_connection_must_reach() -> None:
    assert wanted("write", "replica") == "read-write"
    assert wanted("read", "primary") == "read-write"
    assert wanted("read", "replica") == "read-only"
    assert wanted("read", "any") == "any"


def test_the_fallback_watch_keeps_the_first_off_and_reports_it_once() -> None:
    answers = iter([{"semi_sync": {"Rpl_semi_sync_master_status": "ON"}}, None])
    off = {"semi_sync": {"Rpl_semi_sync_master_status": "OFF", "Rpl_semi_sync_master_no_tx": "5"}}

    def status() -> dict[str, Any] | None:
        return next(answers, off)

    t0 = time.monotonic()
    w = FallbackWatch(status)
    deadline = time.monotonic() + 5
    while w.at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    event = w.report()
    assert event is not None and event["f"] == "semi-sync-fallback"
    assert event["at_monotonic"] > t0 and event["status"]["Rpl_semi_sync_master_no_tx"] == "5"
    assert w.report() is None  # once
    w.stop()
    assert w.summary()["fell_back"] is True
    assert semi_sync_state(off) == "off" and semi_sync_state(None) == "unknown"


def test_a_watch_that_sees_no_fallback_says_so() -> None:
    w = FallbackWatch(lambda: {"semi_sync": {"Rpl_semi_sync_master_status": "ON"}})
    time.sleep(0.3)
    w.stop()
    assert w.report() is None
    s = w.summary()
    assert s["fell_back"] is False and s["polls"] >= 1


# -- Galera: innodb_flush_log_at_trx_commit, and fsync its old name -----------------------


def test_galera_flush_setting_and_its_old_name() -> None:
    assert flush_of({}) == 2  # as before
    assert flush_of({"fsync": True}) == 1 and flush_of({"fsync": False}) == 2
    assert flush_of({"innodb_flush_log_at_trx_commit": 0}) == 0
    assert flush_of({"innodb_flush_log_at_trx_commit": 1, "fsync": True}) == 1
    with pytest.raises(SpecError, match="contradicts"):
        flush_of({"innodb_flush_log_at_trx_commit": 0, "fsync": True})


def test_galera_flush_is_refused_before_anything_starts() -> None:
    with pytest.raises(SpecError, match="innodb_flush_log_at_trx_commit=5"):
        prepare(TestSpec(db="galera", nemesis=(), options={"innodb_flush_log_at_trx_commit": 5}))
    with pytest.raises(SpecError, match="contradicts"):
        prepare(
            TestSpec(
                db="galera",
                nemesis=(),
                options={"innodb_flush_log_at_trx_commit": 2, "fsync": True},
            )
        )


# -- kill: several nodes in quick succession ----------------------------------------------


def test_kill_plans_one_node_as_before_and_several_when_asked() -> None:
    one = Kill(memory_spec()).plan(random.Random(1))
    assert set(one) == {"target", "seed"}  # a single kill's schedule is unchanged
    many = Kill(memory_spec(options={"kill_nodes": 3, "kill_gap_ms": 0})).plan(random.Random(1))
    assert many["nodes"] == 3 and many["gap_ms"] == 0


def test_kill_more_nodes_than_the_cluster_has_is_refused() -> None:
    with pytest.raises(SpecError, match="only 3 nodes"):
        Kill(memory_spec(options={"kill_nodes": 4})).validate(None, frozenset({"kill"}))
    with pytest.raises(SpecError, match="kill_gap_ms"):
        prepare(memory_spec(nemesis=("kill",), options={"kill_gap_ms": -1}))


def test_kill_several_nodes_observes_each_gone_and_brings_them_back(tmp_path: Path) -> None:
    spec = memory_spec(options={"kill_nodes": 3, "kill_gap_ms": 10})
    db, cluster = up(spec, tmp_path)
    try:
        f, target = Kill(spec), Target(cluster, db)
        params = {**f.plan(random.Random(2)), "target": "primary"}
        primary = db.primary(cluster)
        state = f.start(target, params)
        assert state["nodes"][0] == primary and sorted(state["nodes"]) == sorted(cluster.nodes)
        assert set(state["killed_at_s"]) == set(cluster.nodes)
        assert state["observed"] == {n: {"processes": 0} for n in cluster.nodes}
        assert not any(cluster.is_running(n) for n in cluster.nodes)
        assert f.end(target, params, state) == {"nodes": state["nodes"]}
        assert all(cluster.is_running(n) for n in cluster.nodes)
    finally:
        cluster.teardown()


# -- the nemesis records what a fault sees while in effect --------------------------------


class _Seeing(Kill):
    def watch(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> Any:
        if getattr(self, "_told", False):
            return []
        self._told = True
        return [{"f": "something-changed", "at_monotonic": self._at, "node": state["node"]}]


def test_events_a_fault_sees_are_recorded_with_when_they_happened(tmp_path: Path) -> None:
    spec = memory_spec(nemesis=("kill",), options={"kill_target": "random"})
    db, cluster = up(spec, tmp_path)
    try:
        path = tmp_path / "history.jsonl"
        history = HistoryWriter(path)
        t0 = time.monotonic()
        nem = Nemesis(spec, [Step(0.0, "kill", 0.6, {"target": "random", "seed": 1})], cluster, db,
                      history, t0, threading.Event())  # fmt: skip
        seeing = _Seeing(spec)
        seeing._at = t0 + 0.05  # type: ignore[attr-defined]
        nem.faults["kill"] = seeing
        nem.run()
        history.close()
        ops = load(path)
        events = [op for op in ops if op.f == "something-changed"]
        assert len(events) == 1 and events[0].type == "info" and events[0].process == "nemesis"
        at_ns = events[0].value["at_ns"]
        assert at_ns == int((t0 + 0.05) * 1e9) - history.origin
        assert [e["f"] for e in nem.events] == ["something-changed"]
        assert nem.events[0]["fault"] == "kill" and nem.events[0]["at_s"] == round(at_ns / 1e9, 3)
        assert [op.f for op in ops if op.type == "info" and op.f != "something-changed"] == [
            "start-kill",
            "stop-kill",
        ]
    finally:
        cluster.teardown()
