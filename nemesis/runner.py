"""Runs a fault schedule against a cluster, recording every fault in the history."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from harness.cluster import Cluster
from harness.db import Database
from harness.history import INFO, INVOKE, NEMESIS, HistoryWriter
from nemesis import grudges
from nemesis.schedule import Step


class Nemesis(threading.Thread):
    def __init__(
        self,
        schedule: list[Step],
        cluster: Cluster,
        db: Database,
        history: HistoryWriter,
        start_monotonic: float,
        stop: threading.Event,
    ) -> None:
        super().__init__(name="nemesis", daemon=True)
        self.schedule = schedule
        self.cluster = cluster
        self.db = db
        self.history = history
        self.t0 = start_monotonic
        self.stop_event = stop
        self.active: list[str] = []  # shown by the progress display
        self.errors: list[str] = []

    def run(self) -> None:
        for step in self.schedule:
            if self._sleep_until(self.t0 + step.at):
                return
            state = self._do(f"start-{step.fault}", step, lambda s=step: self._begin(s))
            if state is None:
                continue
            self.active.append(step.fault)
            self._sleep_until(self.t0 + step.at + step.duration)  # cut short by stop: heal now
            self._do(f"stop-{step.fault}", step, lambda s=step, st=state: self._end(s, st))
            self.active.remove(step.fault)
            if self.stop_event.is_set():
                return

    def _sleep_until(self, deadline: float) -> bool:
        """True if asked to stop before the deadline."""
        return self.stop_event.wait(max(0.0, deadline - time.monotonic()))

    def _do(self, f: str, step: Step, action: Any) -> dict[str, Any] | None:
        self.history.append(NEMESIS, INVOKE, f, dict(step.params))
        try:
            result = action()
        except Exception as e:  # a fault that could not be injected is recorded, not fatal
            msg = f"{type(e).__name__}: {e}"
            self.errors.append(f"{f}: {msg}")
            self.history.append(NEMESIS, INFO, f, dict(step.params), error=msg)
            return None
        self.history.append(NEMESIS, INFO, f, result)
        return result

    def _pick_node(self, params: dict[str, Any]) -> str:
        rng = random.Random(params.get("seed", 0))
        if params.get("target") == "primary":
            p = self.db.primary(self.cluster)
            if p is not None:
                return p
        return rng.choice(list(self.cluster.nodes))

    def _begin(self, step: Step) -> dict[str, Any]:
        p = step.params
        nodes = list(self.cluster.nodes)
        if step.fault == "partition":
            rng = random.Random(p.get("seed", 0))
            shape = p["shape"]
            if shape == "isolate-primary":
                g = grudges.isolate(self.db.primary(self.cluster) or rng.choice(nodes), nodes)
            elif shape == "isolate-one":
                g = grudges.isolate_one(nodes, rng)
            elif shape == "halves":
                g = grudges.halves(nodes, rng)
            elif shape == "ring":
                g = grudges.majorities_ring(nodes)
            elif shape == "bridge":
                g = grudges.bridge(nodes, rng)
            else:  # one-way: a random node stops hearing another
                a, b = rng.sample(nodes, 2)
                g = grudges.one_way(a, b)
            self.cluster.partition(g)
            return {"shape": shape, "grudge": grudges.as_json(g), "cuts": grudges.describe(g)}
        if step.fault == "kill":
            node = self._pick_node(p)
            self.cluster.kill(node)
            return {"node": node}
        if step.fault == "pause":
            node = self._pick_node(p)
            self.cluster.pause(node)
            return {"node": node}
        if step.fault == "failover":
            return {
                "how": p.get("how", "isolate"),
                **self.db.failover(self.cluster, p.get("how", "isolate")),
            }
        raise ValueError(f"unknown fault {step.fault!r}")

    def _end(self, step: Step, state: dict[str, Any]) -> dict[str, Any]:
        if step.fault == "partition":
            self.cluster.heal()
            return {"healed": True}
        if step.fault == "kill":
            self.db.start(self.cluster, state["node"])
            return {"node": state["node"]}
        if step.fault == "pause":
            self.cluster.resume(state["node"])
            return {"node": state["node"]}
        if step.fault == "failover":
            return self.db.end_failover(self.cluster, state) or {}
        raise ValueError(f"unknown fault {step.fault!r}")
