"""Register workload: reads, writes and compare-and-set on single-value registers, checked
for linearizability (harness.checkers.linearizable, model "cas-register").

Ops use Jepsen's independent form so each key is checked on its own (P-compositionality):

    read   [k, None]        -> ok [k, v]           (v is None if the row does not exist)
    write  [k, v]           -> ok [k, v]
    cas    [k, [old, new]]  -> ok [k, [old, new]]  if the value was old and is now new
                               raises workloads.Fail if the value was not old

Keys rotate: `active_keys` keys (option, default 5) are in use at once and each takes
`ops_per_key` ops (option, default 100) before a fresh key replaces it, so each key's
history stays short (the search is per key) and a few keys see concurrent ops. Values come
from a small range (option `values`, default 5: 0-4) so that cas sometimes succeeds.

Client protocol (what a database's client implements for this workload):
- `client.invoke("read", [k, None])` -> `[k, v]`: the current value of register k, or None if
  k was never written.
- `client.invoke("write", [k, v])` -> `[k, v]`: sets register k to v (creates it if needed).
- `client.invoke("cas", [k, [old, new]])` -> `[k, [old, new]]` when it set k from old to new in
  one atomic step; raises `workloads.Fail` when k's value was not old (nothing changed). A
  cas on a missing row does not match any old value and fails.
- Any other exception means the outcome is unknown (the worker records `info`), except for a
  read, which is `read_only` and so recorded as a fail.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from harness.options import Option
from harness.spec import TestSpec
from workloads import Workload

OPS_PER_KEY = Option(
    "ops_per_key", int, 100, "ops on a key before a fresh one replaces it", minimum=1
)
ACTIVE_KEYS = Option("active_keys", int, 5, "keys in use at once", minimum=1)
VALUES = Option("values", int, 5, "values are drawn from 0..values-1", minimum=1)
READ_RATIO = Option("read_ratio", float, 0.5, "fraction of ops that read", minimum=0, maximum=1)
CAS_RATIO = Option(
    "cas_ratio", float, 0.25, "fraction of ops that compare-and-set", minimum=0, maximum=1
)


class RegisterWorkload(Workload):
    name = "register"
    checkers = ("linearizable",)
    read_only = frozenset({"read"})
    options = (OPS_PER_KEY, ACTIVE_KEYS, VALUES, READ_RATIO, CAS_RATIO)
    keys_knob = ACTIVE_KEYS

    def __init__(self, spec: TestSpec, rng: random.Random) -> None:
        super().__init__(spec, rng)
        self.ops_per_key = self.opt(OPS_PER_KEY)
        self.active_keys = self.opt(ACTIVE_KEYS)
        self.values = self.opt(VALUES)
        self.read_ratio = self.opt(READ_RATIO)
        self.cas_ratio = self.opt(CAS_RATIO)
        self._lock = threading.Lock()
        self._active = list(range(self.active_keys))  # slots of keys in use
        self._count = [0] * self.active_keys  # ops issued on the key in each slot
        self._next_key = self.active_keys

    def next_op(self, process: int) -> tuple[str, Any]:
        with self._lock:  # workers call this concurrently; the rng and counters are shared
            slot = self.rng.randrange(self.active_keys)
            k = self._active[slot]
            self._count[slot] += 1
            if self._count[slot] >= self.ops_per_key:  # retire the key, bring in a fresh one
                self._active[slot] = self._next_key
                self._count[slot] = 0
                self._next_key += 1
            r = self.rng.random()
            if r < self.read_ratio:
                return "read", [k, None]
            if r < self.read_ratio + self.cas_ratio:
                return "cas", [
                    k,
                    [self.rng.randrange(self.values), self.rng.randrange(self.values)],
                ]
            return "write", [k, self.rng.randrange(self.values)]

    def checker_options(self) -> dict[str, Any]:
        return {"model": "cas-register", "independent": True}
