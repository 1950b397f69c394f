"""The smaller specs a shrink tries, in order, from the spec it has so far (pure).

A shrink is greedy: it takes the first candidate that still reproduces and asks again from
there, so the order matters. Biggest cuts first, as in delta debugging:
1. faults: each step of the schedule alone; the schedule without its first or second half;
   without each single step; no fault at all when one is left;
2. timing: the faults sooner (lead and gaps halved), shorter fault windows (halved), a
   shorter healthy tail (to its floor, then halved): less --time;
3. workers (--concurrency 1, then half, then three quarters);
4. keys (the workload's keys knob: its minimum, then half);
5. ops (--rate: half the rate the last reproducing run had);
6. nodes (one fewer; two at least while a fault needs two sides).
Every candidate holds its schedule explicitly (TestSpec.schedule), so a fault kept is the
very fault that was run, whatever the seed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from harness.spec import TestSpec
from nemesis.steps import Step, format_steps, parse_steps

TWO_SIDED = frozenset({"partition", "packet-loss", "failover"})  # need two nodes at least


@dataclass(frozen=True)
class Limits:
    """Floors of the timing (seconds): a real cluster needs its clients warm before the
    first fault, some time in each fault, and a moment after the last."""

    lead: float = 2.0  # before the first fault
    gap: float = 1.0  # between faults
    window: float = 2.0  # a fault's duration
    tail: float = 2.0  # after the last fault ends
    time: float = 5.0  # --time with no fault at all


@dataclass(frozen=True)
class Candidate:
    spec: TestSpec
    what: str  # e.g. "keep only kill@24 (of 4 faults)"
    family: str  # faults | timing | workers | keys | ops | nodes


def name_of(spec: TestSpec) -> str:
    """The name to keep in a smaller spec: one the user chose; "" (derived anew, so that it
    names the faults left) when it was derived."""
    return "" if spec.name == spec.replace(name="").name else spec.name


def steps_of(spec: TestSpec) -> list[Step]:
    return parse_steps(spec.schedule) if spec.schedule else []


def with_steps(spec: TestSpec, steps: list[Step], time_limit: float | None = None) -> TestSpec:
    """The spec running exactly these steps (--nemesis: their faults, in the spec's order so
    that a derived name does not change with the order of the steps)."""
    held = dict.fromkeys(s.fault for s in steps)
    nemesis = tuple(f for f in spec.nemesis if f in held) + tuple(
        f for f in held if f not in spec.nemesis
    )
    out = spec.replace(
        schedule=format_steps(steps) if steps else "",
        nemesis=nemesis,
        time_limit=spec.time_limit if time_limit is None else time_limit,
        name=name_of(spec),
    )
    if nemesis == spec.nemesis:
        return out
    # the knobs of a fault no longer in the run go with it (a run refuses an unknown knob)
    from harness.plan import owners

    declared = {o.name for _, opts in owners(out) for o in opts}
    return out.replace(
        options={k: v for k, v in spec.options.items() if k in declared}, name=out.name
    )


def candidates(
    spec: TestSpec, ops_per_s: float | None = None, limits: Limits = Limits()
) -> Iterator[Candidate]:
    """Smaller specs than `spec`, biggest cuts first. `ops_per_s`: what the last reproducing
    run of it achieved (for --rate 0, as fast as the database answers)."""
    yield from _faults(spec)
    yield from _timing(spec, limits)
    yield from _numbers(spec, "concurrency", spec.concurrency, 1, "workers")
    yield from _keys(spec)
    yield from _rate(spec, ops_per_s)
    floor = 2 if {s.fault for s in steps_of(spec)} & TWO_SIDED else 1
    if spec.nodes - 1 >= floor:
        yield Candidate(
            spec.replace(nodes=spec.nodes - 1, name=name_of(spec)),
            f"nodes {spec.nodes} -> {spec.nodes - 1}",
            "nodes",
        )


def _label(s: Step) -> str:
    return f"{s.fault}@{s.at:g}"


def _faults(spec: TestSpec) -> Iterator[Candidate]:
    steps = steps_of(spec)
    n = len(steps)
    if n == 0:
        return
    if n == 1:
        yield Candidate(with_steps(spec, []), f"no fault (drop {_label(steps[0])})", "faults")
        return
    for s in steps:
        yield Candidate(with_steps(spec, [s]), f"keep only {_label(s)} (of {n} faults)", "faults")
    if n > 2:
        half = n // 2
        for keep, which in ((steps[half:], "first"), (steps[:half], "second")):
            yield Candidate(
                with_steps(spec, keep),
                f"drop the {which} half ({n} -> {len(keep)} faults)",
                "faults",
            )
    for i, s in enumerate(steps):
        keep = steps[:i] + steps[i + 1 :]
        yield Candidate(
            with_steps(spec, keep), f"drop {_label(s)} ({n} -> {n - 1} faults)", "faults"
        )


def _timing(spec: TestSpec, lim: Limits) -> Iterator[Candidate]:
    steps = steps_of(spec)
    if not steps:
        if spec.time_limit > lim.time:
            for t in _down(spec.time_limit, lim.time):
                yield Candidate(
                    spec.replace(time_limit=t, name=name_of(spec)),
                    f"time {spec.time_limit:g} -> {t:g} s",
                    "timing",
                )
        return
    end = steps[-1].at + steps[-1].duration
    tail = spec.time_limit - end
    # the faults sooner (lead and gaps at their floors, then halved), windows kept; the
    # time shrinks as much
    for lead_fn, gap_fn in (
        (lambda _lead: lim.lead, lambda _gap: lim.gap),
        (lambda lead: _half(lead, lim.lead), lambda gap: _half(gap, lim.gap)),
    ):
        sooner = _retimed(steps, lead_fn, gap_fn)
        if sooner != steps and all(a.at <= b.at for a, b in zip(sooner, steps, strict=True)):
            new_end = sooner[-1].at + sooner[-1].duration
            yield Candidate(
                with_steps(spec, sooner, round(new_end + tail, 3)),
                f"faults sooner (at {', '.join(f'{a.at:g}' for a in steps)} -> "
                f"{', '.join(f'{b.at:g}' for b in sooner)} s)",
                "timing",
            )
    for d in (lambda x: min(x, lim.window), lambda x: _half(x, lim.window)):
        shorter = [Step(s.at, s.fault, d(s.duration), s.params) for s in steps]
        if shorter != steps:  # then packed as before: the same lead and gaps
            packed = _pack(steps, shorter)
            new_end = packed[-1].at + packed[-1].duration
            yield Candidate(
                with_steps(spec, packed, round(new_end + tail, 3)),
                "shorter fault windows ("
                + ", ".join(f"{a.duration:g} -> {b.duration:g} s"
                            for a, b in zip(steps, packed, strict=True)) + ")",
                "timing",
            )  # fmt: skip
    for t in _down(tail, lim.tail):
        yield Candidate(
            with_steps(spec, steps, round(end + t, 3)),
            f"time {spec.time_limit:g} -> {end + t:g} s ({t:g} s after the last fault)",
            "timing",
        )


def _half(x: float, floor: float) -> float:
    return x if x <= floor else max(floor, round(x / 2, 3))


def _down(x: float, floor: float) -> list[float]:
    """Smaller values to try for x: its floor, then half of it (when that is between)."""
    out = []
    if x > floor:
        out.append(round(floor, 3))
        mid = round(x / 2, 3)
        if floor < mid < x:
            out.append(mid)
    return out


def _retimed(
    steps: list[Step], lead_fn: Callable[[float], float], gap_fn: Callable[[float], float]
) -> list[Step]:
    out: list[Step] = []
    t = lead_fn(steps[0].at)
    prev_end = steps[0].at
    for i, s in enumerate(steps):
        if i:
            t = out[-1].at + out[-1].duration + gap_fn(s.at - prev_end)
        out.append(Step(round(t, 3), s.fault, s.duration, s.params))
        prev_end = s.at + s.duration
    return out


def _pack(old: list[Step], new: list[Step]) -> list[Step]:
    """New durations at the old lead and gaps."""
    out: list[Step] = []
    for i, (a, b) in enumerate(zip(old, new, strict=True)):
        if i == 0:
            at = a.at
        else:
            gap = a.at - (old[i - 1].at + old[i - 1].duration)
            at = out[-1].at + out[-1].duration + gap
        out.append(Step(round(at, 3), b.fault, b.duration, b.params))
    return out


def _numbers(spec: TestSpec, field: str, x: int, lo: int, family: str) -> Iterator[Candidate]:
    for v in _smaller_ints(x, lo):
        yield Candidate(
            spec.replace(**{field: v}, name=name_of(spec)), f"{family} {x} -> {v}", family
        )


def _smaller_ints(x: int, lo: int) -> list[int]:
    return [v for v in dict.fromkeys((lo, x // 2, (3 * x) // 4)) if lo <= v < x]


def _keys(spec: TestSpec) -> Iterator[Candidate]:
    import workloads

    opt = workloads.workload_class(spec.workload).keys_knob
    if opt is None:
        return
    cur = int(opt.get(spec.options))
    for v in _smaller_ints(cur, int(opt.minimum or 1)):
        yield Candidate(
            spec.replace(options={**spec.options, opt.name: v}, name=name_of(spec)),
            f"keys ({opt.name}) {cur} -> {v}",
            "keys",
        )


def _rate(spec: TestSpec, ops_per_s: float | None) -> Iterator[Candidate]:
    now = spec.rate or ops_per_s
    if not now or now < 2:
        return
    v = float(max(1, round(now / 2)))
    shown = f"{spec.rate:g} ops/s" if spec.rate else f"unlimited (~{now:.0f} ops/s)"
    yield Candidate(spec.replace(rate=v, name=name_of(spec)), f"rate {shown} -> {v:g} ops/s", "ops")
