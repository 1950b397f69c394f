"""Seeded fault schedules: healthy for d seconds, a fault for d seconds, and so on.

A schedule is plain data (a list of Step) computed up front from the spec and the seed, so a
run's faults are reproducible and visible in spec.json/history before they happen."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from harness.errors import SpecError
from harness.spec import TestSpec
from nemesis import faults


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the workload started
    fault: str  # a name in harness.registry.FAULTS
    duration: float
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build(
    spec: TestSpec,
    rng: random.Random | None = None,
    kinds: dict[str, faults.Fault] | None = None,
) -> list[Step]:
    """Alternate healthy and faulty periods of spec.fault_interval seconds, cycling through the
    requested faults in a seeded random order; no fault starts in the last interval so the
    cluster is healthy before the run ends. `kinds`: the run's Fault objects (its plan's)."""
    if not spec.nemesis:
        return []
    rng = rng or random.Random(spec.seed)
    kinds = kinds or {f: faults.get(f, spec) for f in spec.nemesis}
    d = spec.fault_interval
    steps: list[Step] = []
    t = d  # start healthy: clients warm up first
    order: list[str] = []
    while t + 2 * d <= spec.time_limit:
        if not order:
            order = list(spec.nemesis)
            rng.shuffle(order)
        fault = order.pop()
        steps.append(Step(round(t, 3), fault, d, kinds[fault].plan(rng)))
        t += 2 * d
    return steps


def minimum_time(spec: TestSpec) -> float:
    """The shortest --time that schedules every requested fault once: a healthy interval,
    then fault and healthy interval in turn, and a healthy last interval."""
    return (2 * len(spec.nemesis) + 1) * spec.fault_interval


def check_fits(spec: TestSpec, plan: list[Step]) -> None:
    """A schedule that leaves out a requested fault is refused before any cluster starts."""
    missing = [f for f in spec.nemesis if f not in {s.fault for s in plan}]
    if missing:
        raise SpecError(
            f"--time {spec.time_limit:g} leaves no room for {', '.join(missing)}: each fault "
            f"needs a healthy --fault-interval ({spec.fault_interval:g} s) before and after it; "
            f"use --time >= {minimum_time(spec):g} or a shorter --fault-interval"
        )
