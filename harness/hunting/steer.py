"""Steering a hunt (after Mallory, CCS 2023, much simplified): vary what the user's flags
leave open, and favour the variations whose runs came closer to the anomaly.

A variation sets some open dimensions: fault timing (--fault-interval), fault targets (each
fault's declared choice knobs: kill_target, failover_how, pause_target, clock mode...;
--partition shapes), --concurrency and the workload's keys knob. What the user gave on the
command line (or a suite case set) is never varied. Every run also gets a fresh seed, which
draws the fault order, the fault parameters and the operations.

Closeness (score) of a run that did not show the target, from its verdict.json alone:
anomalies of a related kind (the same checker's), faults that took effect (each failover
counts), and the shares of indeterminate and failed client ops (the cluster was shaken).
The choice of the next variation is epsilon-greedy over the variations tried: mostly the best
one by mean score with one dimension changed, sometimes the best one again, sometimes a fresh
random one. Seeded: a hunt with the same seed varies the same way."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.hunting.targets import Target, related
from harness.spec import TestSpec
from nemesis.grudges import SHAPES

Variant = tuple[tuple[str, Any], ...]  # sorted (dimension, value) pairs; () = as given
EXPLORE = 0.25  # share of fresh random variations
REPEAT = 0.25  # share of repeats of the best variation (more seeds of it)


@dataclass(frozen=True)
class Dimension:
    name: str  # a spec field (fault_interval, concurrency, partition) or opt:<knob>
    values: tuple[Any, ...]


def open_dimensions(spec: TestSpec, fixed: frozenset[str]) -> list[Dimension]:
    """What a hunt of this spec may vary: the dimensions the user did not fix (`fixed`: spec
    field names given on the command line; options in spec.options are fixed too)."""
    import workloads
    from nemesis import faults, schedule

    dims: list[Dimension] = []
    if spec.nemesis and not spec.schedule and "fault_interval" not in fixed:
        fi = spec.fault_interval
        fits = [
            round(fi * m, 3)
            for m in (0.5, 0.75, 1.0, 1.5, 2.0)
            if schedule.minimum_time(spec.replace(fault_interval=fi * m)) <= spec.time_limit
        ]
        if len(fits) > 1:
            dims.append(Dimension("fault_interval", tuple(fits)))
    shaped = {"partition", "packet-loss"} & set(spec.nemesis)
    if shaped and not spec.schedule and "partition" not in fixed:
        dims.append(Dimension("partition", (spec.partition, *((s,) for s in SHAPES))))
    for f in spec.nemesis:
        for o in faults.fault_class(f).options:
            if o.choices and o.type is str and o.name not in spec.options:
                dims.append(Dimension(f"opt:{o.name}", tuple(o.choices)))
    if "concurrency" not in fixed:
        c = spec.concurrency
        dims.append(Dimension("concurrency", _distinct(c, max(1, c // 2), min(1000, c * 2))))
    keys = workloads.workload_class(spec.workload).keys_knob
    if keys is not None and keys.name not in spec.options:
        d, lo = keys.default, int(keys.minimum or 1)
        dims.append(
            Dimension(f"opt:{keys.name}", _distinct(d, max(lo, d // 4), max(lo, d // 2), d * 2))
        )
    return [d for d in dims if len(d.values) > 1]


def _distinct(*xs: Any) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(xs))


def apply(spec: TestSpec, variant: Variant) -> TestSpec:
    """The spec with a variation's values set (its name kept: runs of a hunt group together)."""
    fields: dict[str, Any] = {}
    options = dict(spec.options)
    for name, value in variant:
        if name.startswith("opt:"):
            options[name[4:]] = value
        else:
            fields[name] = value
    return spec.replace(**fields, options=options, name=spec.name)


def describe(variant: Variant) -> str:
    if not variant:
        return "as given"
    return ", ".join(f"{n.removeprefix('opt:')}={_show(v)}" for n, v in variant)


def _show(v: Any) -> str:
    return ",".join(v) if isinstance(v, tuple) else str(v)


def score(doc: Mapping[str, Any], target: Target, spec: TestSpec) -> float:
    """How close a run came to the target (0..10; a run that showed it scores 10)."""
    run = doc.get("run") or {}
    if run.get("aborted"):
        return 0.0
    if target.hit(dict(doc)):
        return 10.0
    near = related(dict(doc), target, spec)
    faults = run.get("faults") or {}
    planned = len(faults.get("planned") or []) or 1
    began = len(faults.get("began") or [])
    ops = run.get("ops") or {}
    total = sum(int(ops.get(k, 0)) for k in ("ok", "fail", "info")) or 1
    s = 4.0 * min(1.0, near / 5)
    s += 2.0 * min(1.0, began / planned)
    s += 2.0 * min(1.0, 10 * int(ops.get("info", 0)) / total)  # 10% indeterminate: full marks
    s += 1.0 * min(1.0, 5 * int(ops.get("fail", 0)) / total)
    return round(s, 4)


@dataclass
class Steering:
    dims: list[Dimension]
    rng: random.Random
    scores: dict[Variant, list[float]] = field(default_factory=dict)
    hits: dict[Variant, int] = field(default_factory=dict)

    def next(self) -> Variant:
        """The variation of the next run."""
        if not self.dims or not self.scores:
            return ()
        found = [v for v, n in self.hits.items() if n]
        if found:  # once found, stay with it: its rate is what the user wants next
            return max(found, key=lambda v: (self.hits[v] / len(self.scores[v]), -len(v)))
        roll = self.rng.random()
        if roll < EXPLORE or len(self.scores) < 2:
            return self._random()
        best = max(self.scores, key=lambda v: sum(self.scores[v]) / len(self.scores[v]))
        if roll < EXPLORE + REPEAT:
            return best
        return self._mutate(best)

    def record(self, variant: Variant, score: float, hit: bool) -> None:
        self.scores.setdefault(variant, []).append(score)
        self.hits[variant] = self.hits.get(variant, 0) + int(hit)

    def _random(self) -> Variant:
        return tuple(sorted((d.name, self.rng.choice(d.values)) for d in self.dims))

    def _mutate(self, v: Variant) -> Variant:
        cur = dict(v)
        d = self.rng.choice(self.dims)
        others = [x for x in d.values if x != cur.get(d.name)]
        cur[d.name] = self.rng.choice(others)
        return tuple(sorted(cur.items()))
