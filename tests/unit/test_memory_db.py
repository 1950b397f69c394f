"""The memory database (a test double of a primary-replica database): replication, faults,
failover, recovery, injected bugs, and end to end with real workers, nemesis and checkers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.db import GENERIC_FAULTS
from harness.errors import ClusterError, SpecError
from harness.options import validate
from tests.doubles.memory_db import MemoryDB
from tests.doubles.memory_provider import PAUSED, RUNNING, MemoryCluster
from tests.memory_helpers import drive, memory_spec, up
from workloads import Fail

Up = Callable[..., tuple[MemoryDB, MemoryCluster]]


@pytest.fixture
def make(tmp_path: Path) -> Any:
    made: list[MemoryCluster] = []

    def _make(**kw: Any) -> tuple[MemoryDB, MemoryCluster]:
        broken = kw.pop("broken", ())
        db, c = up(memory_spec(**kw), tmp_path, broken=broken)
        made.append(c)
        return db, c

    yield _make
    for c in made:
        c.teardown()


def final(db: MemoryDB, c: MemoryCluster, node: str) -> dict[Any, list[Any]]:
    cl = db.client(c, 99, node=node)
    return {k: vs for k, vs in cl.invoke("final-read", None)}


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


# -- the definition ---------------------------------------------------------------------------
def test_declares_what_it_takes() -> None:
    assert MemoryDB.name == "memory" and MemoryDB.topology == "primary-replica"
    assert MemoryDB.modes == ("async",)
    assert set(MemoryDB.workloads) == {"set", "register", "kv", "append", "bank"}
    assert set(MemoryDB.faults) == {*GENERIC_FAULTS, "failover", "clock"}
    from tests.doubles import memory_provider

    owners = [("memory", MemoryDB.options), ("memory provider", memory_provider.OPTIONS)]
    assert validate(
        {"bug": "lost-write", "broken_fault": "kill", "abort_after": "1.5"}, owners
    ) == {
        "bug": "lost-write",
        "broken_fault": "kill",
        "abort_after": 1.5,
    }
    with pytest.raises(SpecError, match="bug=lost-everything: expected one of: none"):
        validate({"bug": "lost-everything"}, owners)
    with pytest.raises(SpecError, match="abort_after=-1: must be >= 0"):
        validate({"abort_after": -1}, owners)


def test_refuses_what_it_lacks() -> None:
    with pytest.raises(SpecError, match="--workload 'counter' is not supported on memory"):
        MemoryDB(memory_spec(workload="counter")).validate()
    with pytest.raises(SpecError, match="bug=lost-update needs --workload append, bank or kv"):
        MemoryDB(memory_spec(workload="set", options={"bug": "lost-update"})).validate()
    MemoryDB(memory_spec(workload="bank", options={"bug": "lost-update"})).validate()


def test_setup_needs_the_memory_provider() -> None:
    with pytest.raises(ClusterError, match="runs on the memory provider only"):
        MemoryDB(memory_spec()).setup(object())  # type: ignore[arg-type]


def test_setup_starts_every_node_with_n1_primary(make: Up) -> None:
    db, c = make()
    assert all(c.state[n] == RUNNING for n in c.nodes)
    assert db.primary(c) == "n1"
    assert c.read_file("n2", c.node_dir("n2") / "memory.conf") == "role = replica\n"
    c.kill("n1")
    assert db.primary(c) is None  # the primary is down: nobody takes writes


# -- replication ------------------------------------------------------------------------------
def test_writes_reach_every_replica_at_once(make: Up) -> None:
    db, c = make(read_from="replica")
    w = db.client(c, 0)
    assert w.invoke("add", [1, 10]) is None
    assert w.node == "n1"
    assert w.invoke("read", [1, None]) == [1, [10]]
    assert w.node in ("n2", "n3")  # reads follow read_from
    assert final(db, c, "n3") == {1: [10]}


def test_a_cut_replica_is_stale_until_it_hears_its_primary(make: Up) -> None:
    db, c = make()
    w = db.client(c, 0)
    w.invoke("add", [1, 1])
    c.partition({"n3": {"n1"}})  # one way cuts the stream
    w.invoke("add", [1, 2])
    assert final(db, c, "n1") == {1: [1, 2]}
    assert final(db, c, "n2") == {1: [1, 2]}
    assert final(db, c, "n3") == {1: [1]}
    c.heal()
    assert final(db, c, "n3") == {1: [1, 2]}


def test_a_paused_replica_misses_writes_and_catches_up(make: Up) -> None:
    db, c = make()
    w = db.client(c, 0)
    c.pause("n2")
    w.invoke("add", [5, 1])
    c.resume("n2")
    assert final(db, c, "n2") == {5: [1]}


def test_total_packet_loss_keeps_a_replica_stale(make: Up) -> None:
    db, c = make()
    w = db.client(c, 0)
    c.lose_packets({"n2": {"n1"}}, 1.0)
    w.invoke("add", [1, 1])
    assert final(db, c, "n2") == {}
    c.heal()
    assert final(db, c, "n2") == {1: [1]}


# -- outcomes of ops on faulty nodes ------------------------------------------------------------
def test_down_primary_refuses_writes_as_definite_failures(make: Up) -> None:
    db, c = make()
    w = db.client(c, 0)
    w.invoke("add", [1, 1])
    c.kill("n1")
    with pytest.raises(ConnectionRefusedError, match="no node up takes writes") as e:
        w.invoke("add", [1, 2])
    assert db.classify(e.value) == "fail"
    with pytest.raises(ConnectionRefusedError, match="n1 is down"):
        db.client(c, 1, node="n1").invoke("final-read", None)
    db.start(c, "n1")
    w.invoke("add", [1, 3])  # the client reconnects
    assert final(db, c, "n1") == {1: [1, 3]}


def test_an_op_on_a_paused_node_waits_for_resume(make: Up) -> None:
    db, c = make()
    w = db.client(c, 0)
    c.pause("n1")
    t, out = in_thread(lambda: w.invoke("add", [1, 1]))
    t.join(0.3)
    assert t.is_alive(), "the op should block while its node is paused"
    c.resume("n1")
    t.join(5)
    assert out == {"value": None}
    assert final(db, c, "n1") == {1: [1]}


def test_abort_ends_a_blocked_op_as_info_and_shuts_the_client(make: Up) -> None:
    db, c = make()
    w = db.client(c, 0)
    c.pause("n1")
    t, out = in_thread(lambda: w.invoke("add", [1, 1]))
    t.join(0.2)
    w.abort()
    t.join(5)
    assert isinstance(out["error"], ConnectionAbortedError)
    assert db.classify(out["error"]) == "info"
    c.resume("n1")
    with pytest.raises(ConnectionAbortedError):
        w.invoke("add", [1, 2])
    assert final(db, c, "n1") == {}


def test_a_node_killed_under_a_blocked_op_makes_it_info(make: Up) -> None:
    db, c = make()
    w = db.client(c, 0)
    c.pause("n1")
    t, out = in_thread(lambda: w.invoke("add", [1, 1]))
    t.join(0.2)
    c.kill("n1")
    t.join(5)
    assert isinstance(out["error"], ConnectionResetError)
    assert db.classify(out["error"]) == "info"


# -- failover, recovery -----------------------------------------------------------------------
def test_isolating_failover_is_a_split_brain_that_loses_the_old_primarys_writes(
    make: Up,
) -> None:
    db, c = make()
    old = db.client(c, 0)  # rotation n1, n2, n3: connects to n1
    old.invoke("add", [1, 1])
    state = db.failover(c, "isolate")
    assert state == {"how": "isolate", "old_primary": "n1", "new_primary": "n2"}
    assert c.cut("n1", "n2") and c.cut("n1", "n3") and not c.cut("n2", "n3")
    assert db.primary(c) == "n2"
    old.invoke("add", [1, 2])  # acknowledged by the isolated old primary: no fencing
    assert old.node == "n1"
    new = db.client(c, 1)  # rotation n2, n3, n1: the new primary
    new.invoke("add", [1, 3])
    assert new.node == "n2"
    assert final(db, c, "n1") == {1: [1, 2]} and final(db, c, "n3") == {1: [1, 3]}
    back = db.end_failover(c, state)
    assert back == {"rejoined": "n1", "primary": "n2", "in_sync": True}
    assert c.grudge == {}
    for n in c.nodes:
        assert final(db, c, n) == {1: [1, 3]}  # 2 was acknowledged, and is lost
    with pytest.raises(Fail, match="n1 is read-only"):
        old.invoke("add", [1, 4])
    old.invoke("add", [1, 5])  # reconnected to the primary
    assert old.node == "n2"


def test_killing_failover_promotes_and_the_old_primary_comes_back_a_replica(make: Up) -> None:
    db, c = make()
    state = db.failover(c, "kill")
    assert c.state["n1"] != RUNNING and db.primary(c) == "n2"
    db.client(c, 0).invoke("add", [2, 7])
    db.end_failover(c, state)
    assert c.state["n1"] == RUNNING
    assert final(db, c, "n1") == {2: [7]}
    with pytest.raises(SpecError, match="how must be isolate or kill"):
        db.failover(c, "reboot")


def test_failover_with_a_broken_primitive_fails_to_start(make: Up) -> None:
    db, c = make(broken={"partition"})
    with pytest.raises(ClusterError, match="partition is broken"):
        db.failover(c, "isolate")
    assert db.primary(c) == "n1"  # nothing was promoted


def test_recover_restarts_resumes_and_resyncs(make: Up) -> None:
    db, c = make()
    w = db.client(c, 0)
    c.kill("n2")
    c.pause("n3")
    state = db.failover(c, "kill")  # n1 down too; n3 (paused, alive) is promoted
    assert state["new_primary"] == "n3"
    c.resume("n3")
    w.invoke("add", [3, 1])
    c.pause("n3")
    out = db.recover(c, 5)
    assert out["primary"] == "n3" and out["nodes_up"] == ["n1", "n2", "n3"]
    assert out["lagging"] == [] and sorted(out["resynced"]) == ["n1", "n2"]
    for n in c.nodes:
        assert final(db, c, n) == {3: [1]}


# -- workloads ------------------------------------------------------------------------------
def test_register_read_write_cas(make: Up) -> None:
    db, c = make(workload="register")
    r = db.client(c, 0)
    assert r.invoke("read", [1, None]) == [1, None]
    with pytest.raises(Fail, match="register 1 is not 0"):
        r.invoke("cas", [1, [0, 1]])  # a missing register matches nothing
    assert r.invoke("write", [1, 0]) == [1, 0]
    assert r.invoke("cas", [1, [0, 4]]) == [1, [0, 4]]
    with pytest.raises(Fail):
        r.invoke("cas", [1, [0, 2]])
    assert r.invoke("read", [1, None]) == [1, 4]
    with pytest.raises(Fail, match="unknown op"):
        r.invoke("add", [1, 1])


def test_append_transactions_read_their_own_appends(make: Up) -> None:
    db, c = make(workload="append")
    a = db.client(c, 0)
    assert a.invoke("txn", [["append", 1, 1], ["r", 1, None], ["r", 2, None]]) == [
        ["append", 1, 1],
        ["r", 1, [1]],
        ["r", 2, []],
    ]
    assert a.invoke("txn", [["append", 1, 2], ["r", 1, None]]) == [
        ["append", 1, 2],
        ["r", 1, [1, 2]],
    ]


def test_bank_starts_with_the_workloads_balances_and_refuses_overdrafts(make: Up) -> None:
    db, c = make(workload="bank", options={"accounts": 3, "initial_balance": 10})
    b = db.client(c, 0)
    assert b.invoke("read", None) == {0: 10, 1: 10, 2: 10}
    b.invoke("transfer", {"from": 0, "to": 2, "amount": 4})
    with pytest.raises(Fail, match="account 0 has less than 7"):
        b.invoke("transfer", {"from": 0, "to": 1, "amount": 7})
    with pytest.raises(Fail, match="no account 9"):
        b.invoke("transfer", {"from": 0, "to": 9, "amount": 1})
    assert db.client(c, 5, node="n3").invoke("read", None) == {0: 6, 1: 10, 2: 14}


# -- injected bugs ----------------------------------------------------------------------------
def test_lost_write_drops_every_tenth_acknowledged_write(make: Up) -> None:
    db, c = make(options={"bug": "lost-write"})
    w = db.client(c, 0)
    for v in range(20):
        assert w.invoke("add", [0, v]) is None
    assert final(db, c, "n1") == {0: [v for v in range(20) if v not in (9, 19)]}


def test_stale_read_serves_a_snapshot_never_refreshed(make: Up) -> None:
    db, c = make(read_from="replica", options={"bug": "stale-read"})
    w = db.client(c, 0)
    w.invoke("add", [0, 1])
    assert w.invoke("read", [0, None]) == [0, [1]]  # the snapshot is taken here
    w.invoke("add", [0, 2])
    assert w.invoke("read", [0, None]) == [0, [1]]
    assert final(db, c, "n1") == {0: [1, 2]}


def _adds(db: MemoryDB, c: MemoryCluster, values: range) -> None:
    w = db.client(c, 0)
    for v in values:
        w.invoke("add", [0, v])


def test_needs_two_drops_writes_only_once_a_partition_and_a_kill_both_happened(
    make: Up,
) -> None:
    db, c = make(options={"bug": "needs-two"})
    c.partition({"n3": frozenset({"n1", "n2"})})
    c.heal()
    _adds(db, c, range(0, 20))
    assert final(db, c, "n1") == {0: list(range(20))}  # a partition alone: nothing lost
    c.kill("n3")
    db.start(c, "n3")
    _adds(db, c, range(20, 40))  # both have happened now, one after the other
    assert final(db, c, "n1") == {0: [v for v in range(40) if v not in (29, 39)]}


def test_needs_two_ignores_a_kill_alone(make: Up) -> None:
    db, c = make(options={"bug": "needs-two"})
    c.kill("n3")
    _adds(db, c, range(30))
    assert final(db, c, "n1") == {0: list(range(30))}


@pytest.mark.parametrize("seed", [3, 7])  # race_shows(3) and not race_shows(7)
def test_race_shows_in_the_runs_its_seed_draws_and_only_after_a_fault(make: Up, seed: int) -> None:
    from tests.doubles.memory_db import race_shows

    db, c = make(seed=seed, options={"bug": "race"})
    _adds(db, c, range(20))
    assert final(db, c, "n1") == {0: list(range(20))}  # no fault yet: nothing lost
    c.pause("n3")
    c.resume("n3")
    _adds(db, c, range(20, 40))
    lost = [] if not race_shows(seed) else [29, 39]
    assert final(db, c, "n1") == {0: [v for v in range(40) if v not in lost]}


def test_race_shows_in_about_one_run_in_three() -> None:
    from tests.doubles.memory_db import race_shows

    assert 0.28 < sum(race_shows(s) for s in range(3000)) / 3000 < 0.39
    assert race_shows(3) and not race_shows(7)


def test_abort_after_interrupts_the_main_thread_once_the_workload_starts(make: Up) -> None:
    db, c = make(options={"abort_after": 0.05})
    db.client(c, 0, node="n1")  # a final-read client does not start the clock
    time.sleep(0.2)
    assert not c.interrupted
    with pytest.raises(KeyboardInterrupt):
        db.client(c, 0)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.01)
    assert c.interrupted


# -- end to end: real workers, nemesis and checkers ---------------------------------------------
FAULTS = ("partition", "kill", "pause")
CASES = [
    # workload, bug, read_from, faults, checker, expected validity, anomaly expected
    ("set", "none", "primary", FAULTS, "set", True, None),
    ("set", "lost-write", "primary", (), "set", False, "lost-write"),
    ("set", "stale-read", "replica", (), "set", False, "stale-read"),
    ("bank", "none", "primary", FAULTS, "bank", True, None),
    ("bank", "lost-update", "primary", (), "bank", False, "wrong-total"),
    ("append", "none", "primary", FAULTS, "list-append", True, None),
    ("append", "lost-update", "primary", (), "list-append", False, None),
    ("register", "none", "primary", FAULTS, "linearizable", True, None),
    ("register", "stale-read", "replica", (), "linearizable", False, "nonlinearizable"),
]


@pytest.mark.parametrize(
    ("workload", "bug", "read_from", "faults", "checker", "valid", "anomaly"), CASES
)
def test_end_to_end_with_the_real_checkers(
    make: Up,
    tmp_path: Path,
    workload: str,
    bug: str,
    read_from: str,
    faults: tuple[str, ...],
    checker: str,
    valid: bool,
    anomaly: str | None,
) -> None:
    opts: dict[str, Any] = {"bug": bug, "active_keys": 5}
    db, c = make(
        workload=workload,
        read_from=read_from,
        nemesis=faults,
        time_limit=1.6,
        fault_interval=0.3,
        concurrency=5,
        rate=500,
        options=opts,
    )
    out = drive(db, c, tmp_path, 1.6)
    assert out.nemesis_errors == []
    ok = [op for op in out.history if op.type == "ok" and op.process != "nemesis"]
    assert len(ok) > 100
    if faults:  # the schedule really injected faults
        started = {op.f for op in out.history if op.process == "nemesis"}
        assert len([f for f in started if f.startswith("start-")]) >= 2
    finals = [op for op in out.history if op.type == "ok" and op.process in (1000, 1001, 1002)]
    if workload != "register":  # register has no final read
        assert {op.node for op in finals} == {"n1", "n2", "n3"}
    v = out.verdicts[checker]
    assert v.valid is valid, v.counts
    if anomaly:
        assert anomaly in v.counts


def test_async_failover_loses_acknowledged_writes(make: Up, tmp_path: Path) -> None:
    db, c = make(
        nemesis=("failover",),
        time_limit=1.0,
        fault_interval=0.3,
        concurrency=4,
        rate=400,
        options={"failover_how": "isolate"},
    )
    out = drive(db, c, tmp_path, 1.0)
    assert [op.f for op in out.history if op.process == "nemesis" and op.type == "info"] == [
        "start-failover",
        "stop-failover",
    ]
    assert out.verdicts["set"].valid is False
    assert "lost-write" in out.verdicts["set"].counts


def test_a_broken_fault_is_recorded_by_the_nemesis(make: Up, tmp_path: Path) -> None:
    db, c = make(nemesis=("kill",), time_limit=1.0, fault_interval=0.3, rate=200, broken={"kill"})
    out = drive(db, c, tmp_path, 1.0)
    assert len(out.nemesis_errors) == 1
    assert out.nemesis_errors[0].startswith("start-kill: ClusterError:")
    assert "kill is broken on purpose" in out.nemesis_errors[0]
    assert out.verdicts["set"].valid is True
    assert c.state == {n: RUNNING for n in c.nodes} and PAUSED not in c.state.values()
