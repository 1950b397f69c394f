"""The kv workload: its generator, its SQL statements, and runs end to end through the
runner on the memory test double (a healthy one valid; injected stale reads and lost updates
caught by the kv model, with evidence)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from harness.db import sqlclient
from harness.db.galera_clients import MARIADB
from harness.db.postgres_clients import PG
from harness.history import load
from harness.runner import run
from harness.spec import TestSpec
from workloads import get
from workloads.kv import KVWorkload


@pytest.fixture(autouse=True)
def _work_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITBRAIN_MEMORY_DIR", str(tmp_path / "memory-nodes"))


def _ops(n: int, seed: int = 1, **options: object) -> list[tuple[str, Any]]:
    w = get(TestSpec(workload="kv", options=dict(options)), random.Random(seed))
    return [w.next_op(0) for _ in range(n)]


def test_generator_writes_unique_values_on_few_keys() -> None:
    ops = _ops(2000, active_keys=3, ops_per_key=100)
    assert ops == _ops(2000, active_keys=3, ops_per_key=100)  # seeded
    fs = {f for f, _ in ops}
    assert fs == {"get", "put", "append"}
    written = [v[1] for f, v in ops if f != "get"]
    assert len(written) == len(set(written)) and all(w.endswith(";") for w in written)
    assert all(v[1] is None for f, v in ops if f == "get")
    keys = [v[0] for _, v in ops]
    assert max(keys) >= 3  # keys rotate
    assert max(keys.count(k) for k in set(keys)) <= 100


def test_checker_wiring() -> None:
    w = get(TestSpec(workload="kv"), random.Random(0))
    assert isinstance(w, KVWorkload)
    assert w.checkers == ("linearizable",) and w.checker_options() == {"model": "kv"}
    assert w.read_only == frozenset({"get"})


@pytest.mark.parametrize("dialect", [PG, MARIADB])
def test_sql_append_is_one_statement_joining_on_the_server(dialect: sqlclient.SqlDialect) -> None:
    s = dialect.statements
    assert s["kv_append"].count(";") == 0 and s["kv_append"].startswith("INSERT INTO kv")
    assert ("kv.v || EXCLUDED.v" in s["kv_append"]) or ("CONCAT(v, VALUES(v))" in s["kv_append"])
    assert "kv" in sqlclient.WORKLOAD_OPS


class _Cursor:
    def __init__(self, rows: dict[int, str]) -> None:
        self.rows = rows
        self.rowcount = 0
        self.result: Any = None

    def execute(self, sql: str, args: tuple[Any, ...]) -> None:
        if sql.startswith("SELECT"):
            self.result = (self.rows[args[0]],) if args[0] in self.rows else None
        elif "||" in sql or "CONCAT" in sql:
            self.rows[args[0]] = self.rows.get(args[0], "") + args[1]
            self.rowcount = 1
        else:
            self.rows[args[0]] = args[1]
            self.rowcount = 1

    def fetchone(self) -> Any:
        return self.result


class _FakeKV(sqlclient.KVOps):
    dialect = PG

    def __init__(self) -> None:
        self.rows: dict[int, str] = {}

    def _txn(self, role: str, body: Any) -> Any:
        return body(_Cursor(self.rows))

    def _socket_fd(self, conn: Any) -> int | None:
        return None


def test_sql_client_ops() -> None:
    c = _FakeKV()
    assert c.get([1, None]) == [1, ""]  # no row: the initial value
    assert c.append([1, "1;"]) == [1, "1;"]
    assert c.append([1, "2;"]) == [1, "2;"]
    assert c.get([1, None]) == [1, "1;2;"]
    assert c.put([1, "3;"]) == [1, "3;"]
    assert c.get([1, None]) == [1, "3;"]


def _spec(**kw: Any) -> TestSpec:
    base: dict[str, Any] = {
        "db": "memory",
        "provider": "memory",
        "mode": "async",
        "workload": "kv",
        "nemesis": (),
        "time_limit": 2,
        "concurrency": 6,
        "rate": 400,
        "op_timeout": 2,
        "recovery_timeout": 10,
        "seed": 11,
    }
    return TestSpec(**{**base, **kw})


def test_a_healthy_run_is_linearizable(tmp_path: Path) -> None:
    r = run(_spec(), tmp_path / "results", echo=lambda _: None, progress=False)
    v = r.doc["checkers"]["linearizable"]
    assert r.valid is True, v
    assert v["stats"]["model"] == "kv" and v["stats"]["unknown_keys"] == []
    assert v["stats"]["keys_by_write_order"] == v["stats"]["keys"] > 0
    h = load(r.dir / "history.jsonl")
    assert {op.f for op in h if op.process != "nemesis"} >= {"get", "append"}


def test_stale_replica_reads_are_caught(tmp_path: Path) -> None:
    s = _spec(read_from="replica", options={"bug": "stale-read"})
    r = run(s, tmp_path / "results", echo=lambda _: None, progress=False)
    v = r.doc["checkers"]["linearizable"]
    assert r.valid is False
    assert v["counts"]["nonlinearizable"] > 0
    a = v["anomalies"][0]
    assert a["data"]["method"] == "unique-values" and a["ops"]
    assert "get" in a["explanation"]
    report = (r.dir / "report.html").read_text()
    assert '<svg class="lanes"' in report and 'class="op blocked"' in report


def test_lost_updates_are_caught(tmp_path: Path) -> None:
    s = _spec(options={"bug": "lost-update", "read_ratio": 0.3}, concurrency=8)
    r = run(s, tmp_path / "results", echo=lambda _: None, progress=False)
    assert r.valid is False
    assert r.doc["checkers"]["linearizable"]["counts"]["nonlinearizable"] > 0
