"""The worker's recording rules, with an in-process client (this tests the harness, not a DB)."""

import random
import threading
import time
from typing import Any

from harness.history import HistoryWriter, pairs, read_jsonl
from harness.spec import TestSpec
from harness.worker import Watchdog, Worker
from workloads import Client, Fail
from workloads.set import SetWorkload


class ScriptedClient(Client):
    node = "n1"

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.aborted = threading.Event()

    def invoke(self, f: str, value: Any) -> Any:
        step = self.script.pop(0) if self.script else "ok"
        if step == "fail":
            raise Fail("rejected by test")
        if step == "lost":
            raise ConnectionError("connection lost mid-op")
        if step == "hang":
            self.aborted.wait(10)
            raise ConnectionError("socket shut down by watchdog")
        return [value[0], []] if f == "read" else None

    def abort(self) -> None:
        self.aborted.set()


class ScriptedDb:
    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.clients: list[ScriptedClient] = []

    def client(self, cluster: Any, process: int, node: str | None = None) -> ScriptedClient:
        c = ScriptedClient(self.script)
        self.clients.append(c)
        return c

    def classify(self, exc: BaseException) -> str:
        return "info"


def _run_one(tmp_path, script, ops=4, op_timeout=5.0, read_ratio=0.0):
    spec = TestSpec(options={"read_ratio": read_ratio})
    wl = SetWorkload(spec, random.Random(1))
    db = ScriptedDb(script)
    stop = threading.Event()
    wd = Watchdog(stop, tick=0.01)
    wd.start()
    with HistoryWriter(tmp_path / "h.jsonl") as h:
        w = Worker(0, 3, wl, db, None, h, stop, wd, op_timeout)  # type: ignore[arg-type]
        client = db.client(None, 0)
        for _ in range(ops):
            f, v = wl.next_op(w.process)
            typ = w.invoke(client, f, v)
            if typ == "info":
                w.process += w.concurrency
    stop.set()
    wd.join(2)
    return read_jsonl(tmp_path / "h.jsonl"), db


def test_ok_fail_info_are_recorded_as_pairs(tmp_path):
    hist, _ = _run_one(tmp_path, ["ok", "fail", "lost", "ok"])
    types = [c.type for _, c in pairs(hist)]
    assert types == ["ok", "fail", "info", "ok"]
    assert [op.index for op in hist] == list(range(8))
    assert hist[3].error == "rejected by test"


def test_info_moves_the_worker_to_a_new_process(tmp_path):
    hist, _ = _run_one(tmp_path, ["ok", "lost", "ok"], ops=3)
    procs = [inv.process for inv, _ in pairs(hist)]
    assert procs == [0, 0, 3]


def test_indeterminate_read_is_a_fail(tmp_path):
    hist, _ = _run_one(tmp_path, ["lost"], ops=1, read_ratio=1.0)
    ((inv, done),) = list(pairs(hist))
    assert inv.f == "read" and done.type == "fail"


def test_watchdog_aborts_an_op_that_overruns(tmp_path):
    t = time.monotonic()
    hist, db = _run_one(tmp_path, ["hang"], ops=1, op_timeout=0.2)
    assert time.monotonic() - t < 5
    assert db.clients[0].aborted.is_set()
    ((inv, done),) = list(pairs(hist))
    assert done.type == "info"


def test_time_is_monotonic_ns(tmp_path):
    hist, _ = _run_one(tmp_path, ["ok"] * 6, ops=6)
    times = [op.time for op in hist]
    assert times == sorted(times) and times[0] >= 0
