"""Set workload: workers add unique integers to a set and read it back.

The set is split into keys (Jepsen's set-full): a read returns one key's set, so reads and the
history stay small however long the run. `active_keys` keys take adds at once, each retiring
after `adds_per_key` adds and replaced by a fresh key; spreading adds over many live keys
makes each key live long (active_keys * adds_per_key / throughput seconds), which is what
lets a read show how stale a replica is, and not only how young the key is.
Values are Jepsen's independent form: add [k, v]; read [k, None] -> [k, [v...]].

Client protocol: invoke("add", [k, v]) -> None; invoke("read", [k, None]) -> [k, sorted list];
invoke("final-read", None) -> [[k, sorted list], ...] for every key.
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
        n = int(spec.option("active_keys", 40))
        self._active = list(range(n))  # slot -> key taking adds
        self._added = [0] * n  # slot -> adds so far to that key
        self._next_key = n
        self._next_value = 0  # values are unique across the run
        self._lock = threading.Lock()

    def next_op(self, process: int) -> tuple[str, Any]:
        with self._lock:
            slot = self.rng.randrange(len(self._active))
            key = self._active[slot]
            if self.rng.random() < self.read_ratio:
                return "read", [key, None]
            v = self._next_value
            self._next_value += 1
            self._added[slot] += 1
            if self._added[slot] >= self.adds_per_key:
                self._active[slot], self._added[slot] = self._next_key, 0
                self._next_key += 1
            return "add", [key, v]

    def final_ops(self) -> list[tuple[str, Any]]:
        return [("final-read", None)]
