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

import random
import threading
from typing import Any

from harness.options import Option
from harness.spec import TestSpec
from workloads import Workload

ADDS_PER_KEY = Option("adds_per_key", int, 200, "adds to a key before it retires", minimum=1)
READ_RATIO = Option("read_ratio", float, 0.2, "fraction of ops that read", minimum=0, maximum=1)
ACTIVE_KEYS = Option("active_keys", int, 40, "keys taking adds at once", minimum=1)


class SetWorkload(Workload):
    name = "set"
    checkers = ("set",)
    read_only = frozenset({"read", "final-read"})
    options = (ADDS_PER_KEY, READ_RATIO, ACTIVE_KEYS)
    keys_knob = ACTIVE_KEYS

    def __init__(self, spec: TestSpec, rng: random.Random) -> None:
        super().__init__(spec, rng)
        self.adds_per_key = self.opt(ADDS_PER_KEY)
        self.read_ratio = self.opt(READ_RATIO)
        n = self.opt(ACTIVE_KEYS)
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
