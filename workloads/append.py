"""List-append workload (Elle's): transactions of appends and reads over a few hot keys.

Each op is f "txn" with a value of 1..`max_txn_length` micro-ops (default 5), each on one of
`keys` hot keys (default 8): ["append", k, v] or ["r", k, None]. Values are unique per key
(a counter per key), so a read's list tells exactly which appends it saw and in what order.
A key is retired after `max_writes_per_key` appends (default 32) and a fresh one takes its
slot, as Jepsen's generator does: reads stay short however long the run, while the hot set
stays small enough for transactions to conflict.

Client protocol: invoke("txn", [[f, k, v], ...]) runs all micro-ops, in order, in ONE database
transaction at the spec's isolation level, and returns the same list with every read filled
in: ["r", k, [v1, v2, ...]] (an empty list for a key never written). "append" adds v at the
end of the list stored under k (creating it). Raise workloads.Fail when the transaction
certainly did not commit (serialization failure, deadlock, a rollback before COMMIT); any
other error, notably a connection lost during COMMIT, makes the op indeterminate (info).

Checked by "list-append" (harness/checkers/elle) against the model the isolation level
promises: serializable -> serializable; repeatable-read -> snapshot-isolation, because that is
what PostgreSQL, MySQL/InnoDB and MongoDB give under that name, and ANSI repeatable read would
flag their legitimate write skew (G2-item); read-committed -> read-committed. The option
`models` (e.g. "strict-serializable") overrides this.

Reads from replicas (--read-from replica|any): a transaction of reads only goes where
read_from says, every transaction with an append to the primary, and the completion's node
says which node served it. A PostgreSQL hot standby refuses SERIALIZABLE, so there read-only
transactions run at REPEATABLE READ (harness.db.postgres_clients) and a serializable run with
replica reads is checked against snapshot isolation (models_for): what it can promise. A
replica's stale but consistent snapshot is legitimate there (no real-time order); Long Fork
(G-nonadjacent: two reads that see two writes in opposite orders) is not, and is what
PostgreSQL's replicas show (docs/long-fork.md).
"""

from __future__ import annotations

import random
import threading
from typing import Any

from harness.options import Option
from harness.spec import TestSpec
from workloads import Workload

MODELS_FOR_ISOLATION = {
    "serializable": ("serializable",),
    "repeatable-read": ("snapshot-isolation",),
    "read-committed": ("read-committed",),
}
# database -> {asked: what its replicas run read-only transactions at}
REPLICA_ISOLATION = {"postgres": {"serializable": "repeatable-read"}}


KEYS = Option("keys", int, 8, "hot keys in use at once", minimum=1, maximum=100_000)
MAX_TXN_LENGTH = Option("max_txn_length", int, 5, "micro-ops per transaction, at most", minimum=1)
MAX_WRITES_PER_KEY = Option(
    "max_writes_per_key", int, 32, "appends to a key before a fresh key replaces it", minimum=1
)
READ_RATIO = Option(
    "read_ratio", float, 0.5, "fraction of micro-ops that read", minimum=0, maximum=1
)
MODELS = Option(
    "models",
    list,
    (),
    "consistency models to check against (default: from --isolation)",
    choices=(
        "strict-serializable",
        "serializable",
        "snapshot-isolation",
        "repeatable-read",
        "read-committed",
        "read-uncommitted",
        "read-atomic",
        "strong-snapshot-isolation",
        "strong-session-snapshot-isolation",
        "consistent-view",
        "cursor-stability",
        "monotonic-atomic-view",
        "update-serializable",
    ),
)


class AppendWorkload(Workload):
    name = "append"
    checkers = ("list-append",)
    options = (KEYS, MAX_TXN_LENGTH, MAX_WRITES_PER_KEY, READ_RATIO, MODELS)
    keys_knob = KEYS

    def __init__(self, spec: TestSpec, rng: random.Random) -> None:
        super().__init__(spec, rng)
        self.keys = self.opt(KEYS)
        self.max_txn_length = self.opt(MAX_TXN_LENGTH)
        self.max_writes_per_key = self.opt(MAX_WRITES_PER_KEY)
        self.read_ratio = self.opt(READ_RATIO)
        self.active = list(range(self.keys))  # the hot keys, by slot
        self._next_key = self.keys
        self._counter: dict[int, int] = {}  # last value appended per key
        self._lock = threading.Lock()

    def next_op(self, process: int) -> tuple[str, Any]:
        with self._lock:
            txn: list[list[Any]] = []
            for _ in range(self.rng.randint(1, self.max_txn_length)):
                slot = self.rng.randrange(self.keys)
                k = self.active[slot]
                if self.rng.random() < self.read_ratio:
                    txn.append(["r", k, None])
                    continue
                v = self._counter.get(k, 0) + 1
                self._counter[k] = v
                txn.append(["append", k, v])
                if v >= self.max_writes_per_key:
                    self.active[slot] = self._next_key
                    self._next_key += 1
            return "txn", txn

    def final_ops(self) -> list[tuple[str, Any]]:
        # Every key ever written, read once after healing: places the appends no other read saw.
        with self._lock:
            return [("txn", [["r", k, None] for k in sorted(self._counter)])]

    def checker_options(self) -> dict[str, Any]:
        return {"models": tuple(self.opt(MODELS) or models_for(self.spec))}


def effective_isolation(spec: TestSpec) -> str:
    """The weakest isolation the run's transactions get: the one asked, unless reads go to
    replicas that run read-only transactions at a weaker one."""
    if spec.read_from == "primary":
        return spec.isolation
    return REPLICA_ISOLATION.get(spec.db, {}).get(spec.isolation, spec.isolation)


def models_for(spec: TestSpec) -> tuple[str, ...]:
    """The consistency models a run promises, from its isolation (see the module docstring)."""
    return MODELS_FOR_ISOLATION[effective_isolation(spec)]
