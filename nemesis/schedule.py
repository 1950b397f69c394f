"""Seeded fault schedules: healthy for d seconds, a fault for d seconds, and so on.

A schedule is plain data (a list of Step) computed up front from the spec and the seed, so a
run's faults are reproducible and visible in spec.json/history before they happen.

A spec may instead hold its schedule explicitly (`--schedule`, TestSpec.schedule), as text
that one command line carries: `FAULT@AT+SECONDS[:KEY=VALUE,...]` steps joined by `;`, e.g.
`failover@2+4:how=isolate;kill@8+2:target=primary,seed=17`. `splitbrain shrink` makes such
specs (fewer faults, shorter windows); a run of one uses exactly those steps."""

from __future__ import annotations

import random

from harness.errors import SpecError
from harness.spec import TestSpec
from nemesis import faults
from nemesis.grudges import SHAPES as PARTITION_SHAPES
from nemesis.steps import Step, format_steps, parse_steps, show_number

__all__ = [
    "Step",
    "build",
    "check_fits",
    "check_steps",
    "format_steps",
    "minimum_time",
    "parse_steps",
]


def build(
    spec: TestSpec,
    rng: random.Random | None = None,
    kinds: dict[str, faults.Fault] | None = None,
) -> list[Step]:
    """The spec's explicit schedule (--schedule) if it has one; else alternate healthy and
    faulty periods of spec.fault_interval seconds, cycling through the requested faults in a
    seeded random order; no fault starts in the last interval so the cluster is healthy
    before the run ends. `kinds`: the run's Fault objects (its plan's)."""
    if spec.schedule:
        return parse_steps(spec.schedule)
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


def check_steps(
    spec: TestSpec, plan: list[Step], kinds: dict[str, faults.Fault] | None = None
) -> None:
    """An explicit schedule's steps carry the parameters their fault plans (a step written by
    hand with a missing or extra key is refused before any cluster starts)."""
    if not spec.schedule:
        return
    kinds = kinds or {f: faults.get(f, spec) for f in spec.nemesis}
    for st in plan:
        want = set(kinds[st.fault].plan(random.Random(0)))
        if set(st.params) != want:
            raise SpecError(
                f"--schedule {st.fault}@{show_number(st.at)}: its parameters must be "
                f"{', '.join(sorted(want)) or 'none'}, got {', '.join(sorted(st.params)) or 'none'}"
            )
        shape = st.params.get("shape")
        if shape is not None and shape not in PARTITION_SHAPES:
            raise SpecError(
                f"--schedule {st.fault}@{show_number(st.at)}: shape {shape!r} is not one of: "
                f"{', '.join(PARTITION_SHAPES)}"
            )


def check_fits(spec: TestSpec, plan: list[Step]) -> None:
    """A schedule that leaves out a requested fault is refused before any cluster starts."""
    missing = [f for f in spec.nemesis if f not in {s.fault for s in plan}]
    if missing:
        raise SpecError(
            f"--time {spec.time_limit:g} leaves no room for {', '.join(missing)}: each fault "
            f"needs a healthy --fault-interval ({spec.fault_interval:g} s) before and after it; "
            f"use --time >= {minimum_time(spec):g} or a shorter --fault-interval"
        )
