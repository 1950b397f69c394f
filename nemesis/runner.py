"""Runs a fault schedule against a cluster, recording every fault in the history."""

from __future__ import annotations

import threading
import time
from typing import Any

from harness.cluster import Cluster
from harness.db import Database
from harness.errors import one_line
from harness.history import INFO, INVOKE, NEMESIS, HistoryWriter
from harness.spec import TestSpec
from nemesis import faults
from nemesis.steps import Step

WATCH_S = 0.25  # how often a fault in effect is asked what it sees change


class Nemesis(threading.Thread):
    def __init__(
        self,
        spec: TestSpec,
        schedule: list[Step],
        cluster: Cluster,
        db: Database,
        history: HistoryWriter,
        start_monotonic: float,
        stop: threading.Event,
        kinds: dict[str, faults.Fault] | None = None,
    ) -> None:
        super().__init__(name="nemesis", daemon=True)
        self.schedule = schedule
        self.target = faults.Target(cluster, db)
        # the run's plan made them (a strobe's state lives in its Fault object)
        self.faults = kinds or {
            name: faults.get(name, spec) for name in {s.fault for s in schedule}
        }
        self.history = history
        self.t0 = start_monotonic
        self.stop_event = stop
        self.active: list[str] = []  # shown by the progress display
        self.errors: list[str] = []
        self.failed: list[dict[str, Any]] = []  # steps that did not take effect: {fault, at, error}
        self.began: list[str] = []  # faults that took effect (their end may still fail)
        self.done: list[str] = []  # faults that began and ended
        self.events: list[dict[str, Any]] = []  # what faults saw change: {f, at_s, ...}

    def run(self) -> None:
        for step in self.schedule:
            if self._sleep_until(self.t0 + step.at):
                return
            fault = self.faults[step.fault]
            state = self._do(
                f"start-{step.fault}", step, lambda f=fault, s=step: f.start(self.target, s.params)
            )
            if state is None:
                continue
            self.began.append(step.fault)
            self.active.append(step.fault)
            self._watch(fault, step, state)  # until the window ends (cut short by stop: heal now)
            ended = self._do(
                f"stop-{step.fault}",
                step,
                lambda f=fault, s=step, st=state: f.end(self.target, s.params, st),
            )
            self.active.remove(step.fault)
            if ended is not None:
                self.done.append(step.fault)
            if self.stop_event.is_set():
                return

    def _watch(self, fault: faults.Fault, step: Step, state: dict[str, Any]) -> None:
        """Wait for the window's end, recording what the fault sees change meanwhile."""
        deadline = self.t0 + step.at + step.duration
        while not self._sleep_until(min(deadline, time.monotonic() + WATCH_S)):
            try:
                events = fault.watch(self.target, step.params, state)
            except Exception as e:  # noqa: BLE001 - a failed look is noted, the fault goes on
                events = []
                self.errors.append(f"watch {step.fault}: {type(e).__name__}: {one_line(e)}")
            for event in events:
                event = dict(event)
                f = str(event.pop("f"))
                # when it happened, if the fault knows (else when it was seen), in history time
                at = float(event.pop("at_monotonic", time.monotonic()))
                event["at_ns"] = int(at * 1e9) - self.history.origin
                self.history.append(NEMESIS, INFO, f, event)
                at_s = round(event["at_ns"] / 1e9, 3)
                self.events.append({"f": f, "at_s": at_s, "fault": step.fault, **event})
            if time.monotonic() >= deadline:
                return

    def _sleep_until(self, deadline: float) -> bool:
        """True if asked to stop before the deadline."""
        return self.stop_event.wait(max(0.0, deadline - time.monotonic()))

    def _do(self, f: str, step: Step, action: Any) -> dict[str, Any] | None:
        self.history.append(NEMESIS, INVOKE, f, dict(step.params))
        try:
            result = action()
        except Exception as e:  # a fault that could not be injected is recorded, not fatal
            msg = f"{type(e).__name__}: {one_line(e)}"
            self.errors.append(f"{f}: {msg}")
            if f.startswith("start-"):
                self.failed.append({"fault": step.fault, "at": step.at, "error": msg})
            self.history.append(NEMESIS, INFO, f, dict(step.params), error=msg)
            return None
        self.history.append(NEMESIS, INFO, f, result)
        return result
