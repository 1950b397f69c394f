"""Seeded fault schedules: healthy for d seconds, a fault for d seconds, and so on.

A schedule is plain data (a list of Step) computed up front from the spec and the seed, so a
run's faults are reproducible and visible in spec.json/history before they happen."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from harness.spec import TestSpec


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the workload started
    fault: str  # partition | kill | pause | failover
    duration: float
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build(spec: TestSpec, rng: random.Random | None = None) -> list[Step]:
    """Alternate healthy and faulty periods of spec.fault_interval seconds, cycling through the
    requested faults in a seeded random order; no fault starts in the last interval so the
    cluster is healthy before the run ends."""
    if not spec.nemesis:
        return []
    rng = rng or random.Random(spec.seed)
    d = spec.fault_interval
    steps: list[Step] = []
    t = d  # start healthy: clients warm up first
    order: list[str] = []
    while t + 2 * d <= spec.time_limit:
        if not order:
            order = list(spec.nemesis)
            rng.shuffle(order)
        fault = order.pop()
        steps.append(Step(round(t, 3), fault, d, _params(fault, spec, rng)))
        t += 2 * d
    return steps


def _params(fault: str, spec: TestSpec, rng: random.Random) -> dict[str, Any]:
    if fault == "partition":
        return {"shape": rng.choice(list(spec.partition)), "seed": rng.randrange(2**31)}
    if fault in ("kill", "pause"):
        return {
            "target": spec.option(f"{fault}_target") or rng.choice(["primary", "random"]),
            "seed": rng.randrange(2**31),
        }
    if fault == "failover":
        return {"how": spec.option("failover_how") or rng.choice(["isolate", "kill"])}
    return {}
