"""Routing of --read-from for the list-append workload (issue 15, Long Fork on replicas): which
transactions go to replicas, how Postgres clients spread their reads, which model a run with
replica reads is checked against, and that the history says which node served each op."""

from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from harness.db.postgres import Postgres
from harness.db.postgres_clients import PG, make_client, read_order
from harness.db.sqlclient import AppendOps
from harness.spec import TestSpec
from tests.doubles.memory_provider import MemoryCluster
from tests.memory_helpers import drive, memory_spec, up
from workloads.append import models_for

T = TypeVar("T")
NODES = ["n1", "n2", "n3"]


class _Cursor:
    """Answers list_read with an empty row set; enough for AppendOps to build its result."""

    rowcount = 1

    def execute(self, sql: str, args: Any) -> None:
        pass

    def fetchone(self) -> None:
        return None


class _RoleRecorder(AppendOps):
    """AppendOps over a connection layer that only records the role each transaction asked for."""

    dialect = PG

    def __init__(self) -> None:
        super().__init__()
        self.roles: list[str] = []

    def _txn(self, role: str, body: Callable[[Any], T]) -> T:
        self.roles.append(role)
        return body(_Cursor())

    def _socket_fd(self, conn: Any) -> int | None:
        return None


@pytest.mark.parametrize(
    ("txn", "role"),
    [
        ([["r", 1, None]], "read"),
        ([["r", 1, None], ["r", 2, None]], "read"),
        ([["append", 1, 1]], "write"),
        ([["r", 1, None], ["append", 2, 1], ["r", 3, None]], "write"),
    ],
)
def test_only_transactions_of_reads_ask_for_the_read_connection(
    txn: list[list[Any]], role: str
) -> None:
    c = _RoleRecorder()
    out = c.invoke("txn", txn)
    assert c.roles == [role]
    assert [m[0] for m in out] == [m[0] for m in txn]
    assert all(m[2] == [] for m in out if m[0] == "r")


def test_read_order_is_seeded_and_spreads_readers_evenly_over_replicas() -> None:
    assert read_order(NODES, 7, 3) == read_order(NODES, 7, 3)
    orders = {tuple(read_order(NODES, 7, p)) for p in range(30)}
    assert len(orders) > 1
    assert {tuple(sorted(o)) for o in orders} == {tuple(NODES)}
    assert len({tuple(read_order(NODES, s, 0)) for s in range(8)}) > 1  # the seed matters
    # libpq takes the first standby in the order: whichever node is the primary, the readers
    # are dealt evenly to the others (a rotation by process would give one of them 2/3)
    for nodes in (NODES, [f"n{i}" for i in range(1, 6)]):
        for seed in range(4):
            for primary in nodes:
                first = collections.Counter(
                    next(n for n in read_order(nodes, seed, p) if n != primary) for p in range(60)
                )
                share = 60 // (len(nodes) - 1)
                assert set(first) == set(nodes) - {primary}
                assert all(abs(v - share) <= 2 for v in first.values()), (primary, first)


def _dsn(conninfo: str) -> dict[str, str]:
    return psycopg.conninfo.conninfo_to_dict(conninfo)  # type: ignore[return-value]


def _pg_client(tmp_path: Path, read_from: str, process: int, node: str | None = None) -> Any:
    spec = TestSpec(db="postgres", workload="append", read_from=read_from, seed=5, nemesis=())
    cluster = MemoryCluster("d4e5f6", NODES, root=tmp_path / "work")
    try:
        return make_client(Postgres(spec), cluster, process, node)  # connects lazily
    finally:
        cluster.teardown()  # only its addresses were needed


@pytest.mark.parametrize(("read_from", "attrs"), [("replica", "standby"), ("any", "any")])
def test_postgres_reads_follow_read_from_in_the_seeded_order(
    tmp_path: Path, read_from: str, attrs: str
) -> None:
    for process in range(6):
        c = _pg_client(tmp_path, read_from, process)
        write, read = _dsn(c.dsn["write"]), _dsn(c.dsn["read"])
        assert write["target_session_attrs"] == "read-write"
        assert read["target_session_attrs"] == attrs
        hosts = [f"{n}.memory" for n in read_order(NODES, 5, process)]
        assert read["host"].split(",") == hosts
        assert read["port"] == "5432"
        assert sorted(write["host"].split(",")) == sorted(hosts)


def test_postgres_reads_from_the_primary_share_the_write_connection(tmp_path: Path) -> None:
    c = _pg_client(tmp_path, "primary", 1)
    assert c.dsn["read"] == c.dsn["write"]
    assert _dsn(c.dsn["write"])["target_session_attrs"] == "read-write"


def test_postgres_client_for_one_node_reads_and_writes_there(tmp_path: Path) -> None:
    c = _pg_client(tmp_path, "replica", 1, node="n3")
    assert c.dsn["read"] == c.dsn["write"]
    d = _dsn(c.dsn["read"])
    assert d["host"] == "n3.memory" and "target_session_attrs" not in d


@pytest.mark.parametrize(
    ("db", "isolation", "read_from", "models"),
    [
        ("postgres", "serializable", "primary", ("serializable",)),
        # a hot standby refuses serializable: its read-only transactions run repeatable read
        ("postgres", "serializable", "replica", ("snapshot-isolation",)),
        ("postgres", "serializable", "any", ("snapshot-isolation",)),
        ("postgres", "repeatable-read", "replica", ("snapshot-isolation",)),
        ("postgres", "repeatable-read", "primary", ("snapshot-isolation",)),
        ("postgres", "read-committed", "replica", ("read-committed",)),
        ("galera", "serializable", "replica", ("serializable",)),
    ],
)
def test_model_checked_follows_what_the_replicas_run(
    db: str, isolation: str, read_from: str, models: tuple[str, ...]
) -> None:
    spec = TestSpec(db=db, workload="append", isolation=isolation, read_from=read_from)
    assert models_for(spec) == models


def test_history_says_which_node_served_each_transaction(tmp_path: Path) -> None:
    spec = memory_spec(
        workload="append", read_from="replica", nemesis=(), concurrency=6, seed=3, nodes=3
    )
    db, cluster = up(spec, tmp_path)
    try:
        out = drive(db, cluster, tmp_path, 0.5)
    finally:
        cluster.teardown()
    served: collections.Counter[tuple[str, str | None]] = collections.Counter()
    for op in out.history:
        if op.type == "ok" and op.f == "txn" and isinstance(op.process, int) and op.process < 1000:
            ro = all(m[0] == "r" for m in op.value)
            served["read" if ro else "write", op.node] += 1
    assert served["write", "n1"] > 0 and served["read", "n1"] == 0, served
    assert served["read", "n2"] + served["read", "n3"] > 0, served
    assert {n for kind, n in served if kind == "write"} == {"n1"}, served
    assert out.verdicts["list-append"].valid is True
