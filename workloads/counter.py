"""Counter workload: workers add random positive amounts to one counter and read it.

Ops: "add" delta (int >= 1); "read" None -> ok int. After healing, "final-read" None -> ok int
on every reachable node. An absent counter reads as 0.

Client protocol: add(delta) -> None; read() -> int.
Judged by harness/checkers/counter.py: every ok read must lie between what certainly was
applied before it began and what possibly was applied before it ended.
"""

from __future__ import annotations

from typing import Any

from workloads import Workload


class CounterWorkload(Workload):
    name = "counter"
    checkers = ("counter",)
    read_only = frozenset({"read", "final-read"})

    def __init__(self, spec, rng) -> None:  # type: ignore[no-untyped-def]
        super().__init__(spec, rng)
        self.read_ratio = float(spec.option("read_ratio", 0.25))
        self.max_delta = int(spec.option("max_delta", 5))

    def next_op(self, process: int) -> tuple[str, Any]:
        if self.rng.random() < self.read_ratio:
            return "read", None
        return "add", self.rng.randint(1, self.max_delta)

    def final_ops(self) -> list[tuple[str, Any]]:
        return [("final-read", None)]
