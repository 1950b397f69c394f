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

import threading
from typing import Any

from workloads import Workload


class RegisterWorkload(Workload):
    name = "register"
    checkers = ("linearizable",)
    read_only = frozenset({"read"})

    def __init__(self, spec, rng) -> None:  # type: ignore[no-untyped-def]
        super().__init__(spec, rng)
        self.ops_per_key = int(spec.option("ops_per_key", 100))
        self.active_keys = int(spec.option("active_keys", 5))
        self.values = int(spec.option("values", 5))
        self.read_ratio = float(spec.option("read_ratio", 0.5))
        self.cas_ratio = float(spec.option("cas_ratio", 0.25))
        if self.ops_per_key < 1 or self.active_keys < 1 or self.values < 1:
            raise ValueError("ops_per_key, active_keys and values must be >= 1")
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
