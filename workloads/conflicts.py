"""Conflicts workload: concurrent writers overwrite a few hot keys, each worker through its own
coordinator, to expose last-write-wins conflict resolution.

Ops: "write" [k, v] with v unique across the run (so the winner of a key names its write);
"read" [k, None] -> ok [k, v | None]. After healing, "final-read" None ->
ok [[k, v], ...] for every key, from every reachable node.

Client protocol: write(k, v) -> None (a blind overwrite, no read-before-write);
read(k) -> v | None; read_all() -> {k: v}.
Judged by harness/checkers/conflicts.py.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from harness.options import Option
from harness.spec import TestSpec
from workloads import Workload

KEYS = Option("keys", int, 5, "hot keys every writer overwrites", minimum=1)
READ_RATIO = Option("read_ratio", float, 0.1, "fraction of ops that read", minimum=0, maximum=1)


class ConflictsWorkload(Workload):
    name = "conflicts"
    checkers = ("conflicts",)
    read_only = frozenset({"read", "final-read"})
    options = (KEYS, READ_RATIO)
    keys_knob = KEYS

    def __init__(self, spec: TestSpec, rng: random.Random) -> None:
        super().__init__(spec, rng)
        self.keys = self.opt(KEYS)
        self.read_ratio = self.opt(READ_RATIO)
        self._next = 0
        self._lock = threading.Lock()

    def next_op(self, process: int) -> tuple[str, Any]:
        with self._lock:
            k = self.rng.randrange(self.keys)
            if self.rng.random() < self.read_ratio:
                return "read", [k, None]
            self._next += 1
            return "write", [k, self._next]

    def final_ops(self) -> list[tuple[str, Any]]:
        return [("final-read", None)]
