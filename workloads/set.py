"""Set workload: workers add unique integers to a set and read it back.

The set is split into keys that rotate (each key takes `adds_per_key` adds), as in Jepsen's
set-full: a read returns one key's set, so reads and the history stay small however long the
run. Values are Jepsen's independent form: add [k, v]; read [k, [v...]].

Client protocol: add(k, v) -> None; read(k) -> list[int]; read_all() -> {k: [v...]}.
"""

from __future__ import annotations

import threading
from typing import Any

from workloads import Workload


class SetWorkload(Workload):
    name = "set"
    checkers = ("set",)
    read_only = frozenset({"read", "final-read"})

    def __init__(self, spec, rng) -> None:  # type: ignore[no-untyped-def]
        super().__init__(spec, rng)
        self.adds_per_key = int(spec.option("adds_per_key", 200))
        self.read_ratio = float(spec.option("read_ratio", 0.2))
        self._next = 0  # next value to add; values are unique across the run
        self._lock = threading.Lock()

    def next_op(self, process: int) -> tuple[str, Any]:
        with self._lock:
            key = self._next // self.adds_per_key
            if self.rng.random() < self.read_ratio:
                # mostly the key being written, sometimes the one just finished
                return "read", [max(key - self.rng.choice((0, 0, 0, 1)), 0), None]
            v = self._next
            self._next += 1
            return "add", [key, v]

    def final_ops(self) -> list[tuple[str, Any]]:
        return [("final-read", None)]
