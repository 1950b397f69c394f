"""Live progress: elapsed/remaining, ops/s, ok/fail/info counts, active faults.

A rich live panel on a terminal; a plain line every few seconds otherwise (CI logs)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any


class Progress(threading.Thread):
    def __init__(
        self,
        title: str,
        time_limit: float,
        counts: dict[str, int],
        faults: Callable[[], list[str]],
        stop: threading.Event,
        out: Any = None,
    ) -> None:
        super().__init__(name="progress", daemon=True)
        self.title = title
        self.time_limit = time_limit
        self.counts = counts
        self.faults = faults
        self.stop_event = stop
        self.out = out or sys.stderr
        self.t0 = time.monotonic()
        self._last = (self.t0, 0)

    def line(self) -> str:
        now = time.monotonic()
        done = self.counts["ok"] + self.counts["fail"] + self.counts["info"]
        t_last, n_last = self._last
        rate = (done - n_last) / max(now - t_last, 1e-6)
        self._last = (now, done)
        elapsed = now - self.t0
        faults = ", ".join(self.faults()) or "none"
        return (
            f"{elapsed:5.1f}s / {self.time_limit:.0f}s  {rate:7.0f} ops/s  "
            f"ok {self.counts['ok']}  fail {self.counts['fail']}  info {self.counts['info']}  "
            f"faults: {faults}"
        )

    def run(self) -> None:
        if getattr(self.out, "isatty", lambda: False)():
            self._run_live()
        else:
            while not self.stop_event.wait(5.0):
                print(f"[{self.title}] {self.line()}", file=self.out, flush=True)

    def _run_live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        with Live(console=Console(file=self.out), refresh_per_second=4, transient=True) as live:
            while not self.stop_event.wait(0.5):
                live.update(f"[bold]{self.title}[/bold]  {self.line()}")
