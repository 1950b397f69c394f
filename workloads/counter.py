"""Counter workload: workers add random positive amounts to one counter and read it.

Ops: "add" delta (int >= 1); "read" None -> ok int. After healing, "final-read" None -> ok int
on every reachable node. An absent counter reads as 0.

Client protocol: add(delta) -> None; read() -> int.
Judged by harness/checkers/counter.py: every ok read must lie between what certainly was
applied before it began and what possibly was applied before it ended.
"""

from __future__ import annotations

import random
from typing import Any

from harness.options import Option
from harness.spec import TestSpec
from workloads import Workload

READ_RATIO = Option("read_ratio", float, 0.25, "fraction of ops that read", minimum=0, maximum=1)
MAX_DELTA = Option("max_delta", int, 5, "largest increment", minimum=1)


class CounterWorkload(Workload):
    name = "counter"
    checkers = ("counter",)
    read_only = frozenset({"read", "final-read"})
    options = (READ_RATIO, MAX_DELTA)

    def __init__(self, spec: TestSpec, rng: random.Random) -> None:
        super().__init__(spec, rng)
        self.read_ratio = self.opt(READ_RATIO)
        self.max_delta = self.opt(MAX_DELTA)

    def next_op(self, process: int) -> tuple[str, Any]:
        if self.rng.random() < self.read_ratio:
            return "read", None
        return "add", self.rng.randint(1, self.max_delta)

    def final_ops(self) -> list[tuple[str, Any]]:
        return [("final-read", None)]
