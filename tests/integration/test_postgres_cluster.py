"""Real PostgreSQL 15 clusters in network namespaces: setup, replication, failover, clients."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.db.postgres import Postgres
from harness.providers import local
from harness.spec import TestSpec
from tests.conftest import needs_root
from workloads import Fail

pytestmark = [
    pytest.mark.integration,
    needs_root(),
    pytest.mark.skipif(
        not os.access(f"{Postgres.bin}/postgres", os.X_OK), reason="PostgreSQL 15 not installed"
    ),
]

SUBNET = os.environ.get("SPLITBRAIN_TEST_SUBNET", "198.18.1.0/24")
Up = tuple[local.LocalCluster, Postgres]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., Up]]:
    """Factory: make(mode=..., **spec) -> (cluster, db); every cluster is torn down at the end."""
    made: list[local.LocalCluster] = []

    def _make(**kw: Any) -> Up:
        spec = TestSpec(subnet=SUBNET, nodes=3, **kw)
        db = Postgres(spec)
        local.preflight(db)
        c = local.create(spec, secrets.token_hex(3))
        made.append(c)
        db.setup(c)
        return c, db

    try:
        yield _make
    finally:
        for c in made:
            c.collect_logs(tmp_path / c.run_id)
            c.teardown()


def _eventually(fn: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            out = fn()
            if out:
                return out
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.1)


def _read_set(db: Postgres, c: local.LocalCluster, node: str, k: int = 0) -> list[int]:
    cl = db.client(c, 99, node=node)
    try:
        return cl.invoke("read", [k, None])[1]
    finally:
        cl.close()


def test_async_cluster_streams_and_replicates(make: Callable[..., Up]) -> None:
    c, db = make()
    assert db.primaries(c) == ["n1"]
    assert db.primary(c) == "n1"
    rep = db.replication(c, "n1")
    assert {n: s for n, (s, _) in rep.items()} == {"n2": "streaming", "n3": "streaming"}
    sync = db.query(c, "n1", "SHOW synchronous_standby_names")[0][0]
    assert sync == ""
    cl = db.client(c, 0)
    cl.invoke("add", [0, 42])
    assert cl.node == "n1"
    cl.close()
    for n in ("n2", "n3"):
        assert _eventually(lambda n=n: _read_set(db, c, n) == [42])


def test_failover_isolate_split_brain_and_rejoin(make: Callable[..., Up]) -> None:
    c, db = make()
    old_client = db.client(c, 0, node="n1")
    old_client.invoke("add", [0, 1])
    st = db.failover(c, "isolate")
    assert st["old_primary"] == "n1" and st["new_primary"] in ("n2", "n3")
    new = st["new_primary"]
    # no fencing: the isolated old primary still takes writes from the clients that reach it
    old_client.invoke("add", [0, 2])
    assert sorted(db.primaries(c)) == sorted(["n1", new])
    assert db.primaries(c)[0] == new  # newest timeline first
    w = db.client(c, 1, node=new)
    w.invoke("add", [0, 3])
    w.close()
    old_client.close()
    back = db.end_failover(c, st)
    assert back["rejoined"] == "n1" and back["method"].startswith("pg_rewind")
    assert db.primaries(c) == [new]
    rec = db.recover(c, 30)
    assert rec["primary"] == new and set(rec["replicas"]) == {"n1", "n2", "n3"} - {new}
    # the write acknowledged by the isolated old primary is gone: the split brain's cost
    for n in c.nodes:
        assert _eventually(lambda n=n: _read_set(db, c, n) == [1, 3])


def test_recover_resolves_a_split_brain(make: Callable[..., Up]) -> None:
    """Heal without end_failover: two primaries; recover keeps the newest timeline."""
    c, db = make()
    st = db.failover(c, "isolate")
    old = db.client(c, 0, node="n1")
    old.invoke("add", [0, 1])  # only on the old primary's timeline
    old.close()
    c.heal()
    assert len(db.primaries(c)) == 2
    rec = db.recover(c, 40)
    assert rec["primary"] == st["new_primary"]
    assert [r["rejoined"] for r in rec["rejoined"]] == ["n1"]
    assert db.primaries(c) == [st["new_primary"]]
    assert _eventually(lambda: _read_set(db, c, "n1") == [])


def test_failover_kill_then_recover_rejoins(make: Callable[..., Up]) -> None:
    c, db = make()
    st = db.failover(c, "kill")
    assert not c.is_running("n1")
    new = st["new_primary"]
    other = ({"n2", "n3"} - {new}).pop()
    cl = db.client(c, 0)  # multi-host, read-write: finds the new primary
    cl.invoke("add", [0, 7])
    assert cl.node == new
    cl.close()
    rec = db.recover(c, 40)  # restarts n1, which must come back as a replica
    assert rec["primary"] == new and "n1" in rec["restarted"]
    assert _eventually(lambda: _read_set(db, c, "n1") == [7])
    assert _eventually(lambda: _read_set(db, c, other) == [7])


def test_kill_and_start_replica(make: Callable[..., Up]) -> None:
    c, db = make()
    c.kill("n3")
    assert not c.is_running("n3")
    cl = db.client(c, 0)
    cl.invoke("add", [0, 5])
    cl.close()
    db.start(c, "n3")
    assert c.is_running("n3")
    assert _eventually(lambda: _read_set(db, c, "n3") == [5])
    assert db.primaries(c) == ["n1"]


def test_sync_commit_on_isolated_primary_blocks(make: Callable[..., Up]) -> None:
    c, db = make(mode="sync")
    assert db.query(c, "n1", "SHOW synchronous_standby_names")[0][0] == "ANY 1 (n2, n3)"
    cl = db.client(c, 0)
    cl.invoke("add", [0, 1])  # replicas up: commits
    c.partition({"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}})
    result: dict[str, Any] = {}

    def op() -> None:
        try:
            result["ok"] = cl.invoke("add", [0, 2])
        except Exception as e:
            result["exc"] = e

    t = threading.Thread(target=op)
    t.start()
    t.join(3)
    assert t.is_alive(), f"commit on an isolated sync primary returned: {result}"
    cl.abort()  # what the op-timeout watchdog does
    t.join(5)
    assert not t.is_alive(), "abort() did not unblock the op"
    assert "exc" in result and db.classify(result["exc"]) == "info"
    cl.close()
    c.heal()
    rec = db.recover(c, 30)
    assert rec["primary"] == "n1"


def test_clients_for_each_workload(make: Callable[..., Up]) -> None:
    c, db = make(options={"accounts": 3, "initial_balance": 10})

    def client(workload: str, **kw: Any) -> Any:
        # a run sets up only its own workload's tables: do what a run of this one would
        wdb = Postgres(db.spec.replace(workload=workload, **kw))
        if workload not in made:
            made.add(workload)
            wdb._create_schema(c, c.nodes[0])
        return wdb.client(c, 3)

    made = {db.spec.workload}

    s = client("set")
    for v in range(3):
        assert s.invoke("add", [1, v]) is None
    assert s.invoke("read", [1, None]) == [1, [0, 1, 2]]
    assert s.invoke("final-read", None) == [[1, [0, 1, 2]]]
    s.close()

    r = client("register")
    assert r.invoke("read", [5, None]) == [5, None]
    r.invoke("write", [5, 1])
    assert r.invoke("cas", [5, [1, 2]]) == [5, [1, 2]]
    with pytest.raises(Fail):
        r.invoke("cas", [5, [1, 3]])
    assert r.invoke("read", [5, None]) == [5, 2]
    r.close()

    a = client("append")
    assert a.invoke("txn", [["append", 1, 10], ["r", 1, None]]) == [
        ["append", 1, 10],
        ["r", 1, [10]],
    ]
    a.invoke("txn", [["append", 1, 11], ["append", 2, 20]])
    assert a.invoke("txn", [["r", 1, None], ["r", 2, None], ["r", 3, None]]) == [
        ["r", 1, [10, 11]],
        ["r", 2, [20]],
        ["r", 3, []],
    ]
    a.close()

    b = client("bank")
    assert b.invoke("read", None) == {0: 10, 1: 10, 2: 10}
    b.invoke("transfer", {"from": 0, "to": 1, "amount": 4})
    with pytest.raises(Fail):
        b.invoke("transfer", {"from": 0, "to": 2, "amount": 7})
    assert b.invoke("read", None) == {0: 6, 1: 14, 2: 10}
    b.close()

    # reads routed to replicas land on one (at repeatable read: a standby refuses serializable)
    rr = client("bank", read_from="replica")
    assert _eventually(lambda: rr.invoke("read", None) == {0: 6, 1: 14, 2: 10})
    assert rr.node in ("n2", "n3")
    rr.invoke("transfer", {"from": 1, "to": 0, "amount": 1})  # writes still go to the primary
    assert rr.node == "n1"
    rr.close()

    # a write sent to a standby is a definite failure
    st = db.client(c, 4, node="n2")
    with pytest.raises(Exception) as exc:
        st.invoke("add", [9, 9])
    assert db.classify(exc.value) == "fail"
    st.close()
