"""Workers: one thread per logical process, recording invoke then ok/fail/info for every op.

A worker whose op ends `info` (may or may not have happened) continues as a NEW process id
(process + concurrency), as in Jepsen: a process never has two ops outstanding, so an
indeterminate op stays open forever in the history, which is exactly what it is."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from harness.cluster import Cluster
from harness.db import Database
from harness.history import FAIL, INFO, INVOKE, OK, HistoryWriter
from workloads import Fail, Workload


class Watchdog(threading.Thread):
    """Aborts ops that overran their deadline (one thread for all workers: a Timer per op
    would cost more than the op itself at thousands of ops/s)."""

    def __init__(self, stop: threading.Event, tick: float = 0.05) -> None:
        super().__init__(name="watchdog", daemon=True)
        self._armed: dict[int, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._halt = stop
        self._tick = tick

    def arm(self, key: int, deadline: float, client: Any) -> None:
        self._armed[key] = (deadline, client)  # dict item assignment is atomic under the GIL

    def disarm(self, key: int) -> None:
        self._armed.pop(key, None)

    def run(self) -> None:
        while True:
            stopping = self._halt.wait(self._tick)
            now = time.monotonic()
            for key, (deadline, client) in list(self._armed.items()):
                if now >= deadline and self._armed.pop(key, None) is not None:
                    with contextlib.suppress(Exception):  # best effort: the op is info anyway
                        client.abort()
            if stopping and not self._armed:
                return


class Worker(threading.Thread):
    def __init__(
        self,
        slot: int,
        concurrency: int,
        workload: Workload,
        db: Database,
        cluster: Cluster,
        history: HistoryWriter,
        stop: threading.Event,
        watchdog: Watchdog,
        op_timeout: float,
        rate: float = 0.0,
    ) -> None:
        super().__init__(name=f"worker-{slot}", daemon=True)
        self.slot = slot
        self.process = slot
        self.concurrency = concurrency
        self.workload = workload
        self.db = db
        self.cluster = cluster
        self.history = history
        self.stop = stop
        self.watchdog = watchdog
        self.op_timeout = op_timeout
        self.interval = concurrency / rate if rate > 0 else 0.0
        self.error: str | None = None

    def run(self) -> None:
        client = None
        next_at = time.monotonic()
        try:
            while not self.stop.is_set():
                if self.interval:
                    # jittered schedule so workers do not fire in lockstep
                    next_at += self.interval * (0.5 + self.workload.rng.random())
                    if self.stop.wait(max(0.0, next_at - time.monotonic())):
                        break
                f, value = self.workload.next_op(self.process)
                if client is None:
                    client = self.db.client(self.cluster, self.process)
                typ = self.invoke(client, f, value)
                if typ == INFO:
                    client.close()
                    client = None
                    self.process += self.concurrency
        except Exception as e:  # a harness bug must not kill the run silently
            self.error = f"{type(e).__name__}: {e}"
        finally:
            if client is not None:
                client.close()

    def invoke(self, client: Any, f: str, value: Any) -> str:
        h = self.history
        # no node on the invocation: the client may reconnect elsewhere; the completion says
        h.append(self.process, INVOKE, f, value)
        self.watchdog.arm(self.slot, time.monotonic() + self.op_timeout, client)
        error = None
        try:
            out = client.invoke(f, value)
            if out is None:
                out = value  # a write's completion carries what was written, as in Jepsen
            typ = OK
        except Fail as e:
            typ, out, error = FAIL, value, str(e) or "rejected"
        except Exception as e:
            typ, out = self.db.classify(e), value
            error = (
                f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            )
        finally:
            self.watchdog.disarm(self.slot)
        if typ == INFO and f in self.workload.read_only:
            typ = FAIL  # a read has no effect: if we do not know its result, it did nothing
        h.append(self.process, typ, f, out, getattr(client, "node", None), error)
        return typ
