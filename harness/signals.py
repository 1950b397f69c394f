"""SIGINT and SIGTERM during a run, whatever the parent set.

A shell starting `splitbrain run ... &` from a script sets SIGINT to SIG_IGN, and Python then
installs no handler of its own: the harness installs its handlers explicitly. The first signal
raises KeyboardInterrupt in the main thread (the run tears down and exits 2); any later one,
and any signal during teardown, is only noted: a second Ctrl-C must not cut the teardown short,
which is what leaves half a cluster behind."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    def __init__(self) -> None:
        self.fired: str | None = None  # the first signal's name
        self.shielded = False

    def handler(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.fired is None and not self.shielded:
            self.fired = name
            raise KeyboardInterrupt(name)
        self.fired = self.fired or name
        print(f"splitbrain: {name}: still tearing the cluster down", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        """Teardown: signals are noted, never raised."""
        old, self.shielded = self.shielded, True
        try:
            yield
        finally:
            self.shielded = old


@contextlib.contextmanager
def handled() -> Iterator[Interrupts]:
    state = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield state  # only the main thread may set handlers (suites in threads, tests)
        return
    old = {s: signal.signal(s, state.handler) for s in SIGNALS}
    try:
        yield state
    finally:
        for s, h in old.items():
            signal.signal(s, h)
