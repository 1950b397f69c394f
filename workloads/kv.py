"""Key-value workload: get, put and append on string values of a few keys, checked for
linearizability with the kv model (harness.checkers.models.KV; Porcupine's kv histories).

Each put and append writes a value no other op writes ("<n>;", n a counter of the run), so a
get's value shows which writes came before it and in what order; that is what lets the
checker decide every key quickly (harness/checkers/linearizable/unique.py). Ops use Jepsen's
independent form:

    get     [k, None]  -> ok [k, v]   (v is "" if the key was never written)
    put     [k, v]     -> ok [k, v]   (the key now holds v)
    append  [k, v]     -> ok [k, v]   (the key now holds its old value followed by v)

Keys rotate as in the register workload: `active_keys` in use at once, each taking
`ops_per_key` ops, so values stay short and each key's history small.

Client protocol:
- `client.invoke("get", [k, None])` -> `[k, v]`: the key's string, "" if it has no row.
- `client.invoke("put", [k, v])` -> `[k, v]`: sets it to v (creates the row if needed).
- `client.invoke("append", [k, v])` -> `[k, v]`: appends v in one atomic statement (an
  upsert `v = v || x` / `CONCAT(v, x)`: never a read then a write, which is another test).
- Any other exception: outcome unknown (info), except for get, a read (recorded fail).
"""

from __future__ import annotations

import random
import threading
from typing import Any

from harness.options import Option
from harness.spec import TestSpec
from workloads import Workload

OPS_PER_KEY = Option(
    "ops_per_key", int, 200, "ops on a key before a fresh one replaces it", minimum=1
)
ACTIVE_KEYS = Option("active_keys", int, 5, "keys in use at once", minimum=1)
READ_RATIO = Option("read_ratio", float, 0.5, "fraction of ops that get", minimum=0, maximum=1)
PUT_RATIO = Option(
    "put_ratio", float, 0.1, "fraction of ops that put (the rest append)", minimum=0, maximum=1
)


class KVWorkload(Workload):
    name = "kv"
    checkers = ("linearizable",)
    read_only = frozenset({"get"})
    options = (OPS_PER_KEY, ACTIVE_KEYS, READ_RATIO, PUT_RATIO)
    keys_knob = ACTIVE_KEYS

    def __init__(self, spec: TestSpec, rng: random.Random) -> None:
        super().__init__(spec, rng)
        self.ops_per_key = self.opt(OPS_PER_KEY)
        self.active_keys = self.opt(ACTIVE_KEYS)
        self.read_ratio = self.opt(READ_RATIO)
        self.put_ratio = self.opt(PUT_RATIO)
        self._lock = threading.Lock()
        self._active = list(range(self.active_keys))
        self._count = [0] * self.active_keys
        self._next_key = self.active_keys
        self._written = 0  # values written so far: the next one is f"{n};"

    def next_op(self, process: int) -> tuple[str, Any]:
        with self._lock:  # workers call this concurrently
            slot = self.rng.randrange(self.active_keys)
            k = self._active[slot]
            self._count[slot] += 1
            if self._count[slot] >= self.ops_per_key:
                self._active[slot] = self._next_key
                self._count[slot] = 0
                self._next_key += 1
            r = self.rng.random()
            if r < self.read_ratio:
                return "get", [k, None]
            self._written += 1
            f = "put" if r < self.read_ratio + self.put_ratio else "append"
            return f, [k, f"{self._written};"]

    def checker_options(self) -> dict[str, Any]:
        return {"model": "kv"}
