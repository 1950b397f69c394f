"""`splitbrain hunt`: repeat a run with fresh seeds until it shows the anomaly looked for or
the budget ends; report the runs and wall time to the first detection, the detection rate
with its 95% interval, and keep every attempt under one folder:

    RESULTS/hunts/<test-name>/<stamp>/{hunt.json, hunt.txt, attempt-NNN/<test-name>/<stamp>/}

Attempt i runs with seed = the spec's seed + i. With steering (steer.py) each attempt may
also vary what the flags left open; the report says what was varied and each variation's own
rate. A hunt that found nothing says so, with the rate's upper bound."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import signals
from harness.hunting import steer
from harness.hunting.stats import Budget, Rate, hunt_done
from harness.hunting.targets import Target
from harness.hunting.trial import (
    MAX_ERRORS_IN_A_ROW,
    Echo,
    RunFn,
    attempt,
    new_dir,
    now,
    write_json,
)
from harness.spec import TestSpec


@dataclass
class HuntConfig:
    target: Target
    budget: Budget
    stop_after: int = 1  # detections; 0 = spend the whole budget (a rate, not just a find)
    steer: bool = False
    fixed: frozenset[str] = frozenset()  # spec fields the user gave (never varied)


@dataclass
class Attempt:
    n: int
    seed: int
    variant: steer.Variant
    dir: str | None
    valid: Any
    found: dict[str, int]
    hit: bool
    score: float
    seconds: float
    wall_s: float  # since the hunt began, at the end of this attempt
    error: str | None = None
    interrupted: bool = False

    @property
    def counted(self) -> bool:
        """A completed run (an interrupted or failed one says nothing about the rate)."""
        return self.error is None and not self.interrupted

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.n,
            "seed": self.seed,
            "variant": steer.describe(self.variant),
            "dir": self.dir,
            "valid": self.valid,
            "anomalies": self.found,
            "found": self.hit,
            "score": self.score,
            "seconds": round(self.seconds, 2),
            "wall_s": round(self.wall_s, 2),
            "error": self.error,
            "interrupted": self.interrupted,
        }


@dataclass
class HuntResult:
    dir: Path
    spec: TestSpec
    target: Target
    attempts: list[Attempt] = field(default_factory=list)
    varied: list[steer.Dimension] = field(default_factory=list)
    stopped_because: str = ""
    interrupted: bool = False

    @property
    def first(self) -> Attempt | None:
        return next((a for a in self.attempts if a.hit), None)

    @property
    def rate(self) -> Rate:
        done = [a for a in self.attempts if a.counted]
        return Rate(sum(a.hit for a in done), len(done))

    def variant_rates(self) -> dict[str, Rate]:
        out: dict[str, list[Attempt]] = {}
        for a in self.attempts:
            if a.counted:
                out.setdefault(steer.describe(a.variant), []).append(a)
        return {v: Rate(sum(a.hit for a in xs), len(xs)) for v, xs in out.items()}

    def to_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "kind": "hunt",
            "spec": self.spec.to_dict(),
            "target": str(self.target),
            "kinds": list(self.target.kinds),
            "attempts": [a.to_dict() for a in self.attempts],
            "first_detection": None
            if first is None
            else {
                "attempt": first.n,
                "runs": first.n,
                "wall_s": round(first.wall_s, 2),
                "seed": first.seed,
                "variant": steer.describe(first.variant),
                "dir": first.dir,
            },  # fmt: skip
            "rate": self.rate.to_dict(),
            "varied": {d.name.removeprefix("opt:"): list(map(str, d.values)) for d in self.varied},
            "variant_rates": {v: r.to_dict() for v, r in self.variant_rates().items()},
            "stopped_because": self.stopped_because,
            "interrupted": self.interrupted,
            "finished": now(),
        }

    def text(self) -> str:
        first = self.first
        lines = [f"hunt {self.spec.name} for {self.target}: {self.dir}"]
        done = [a for a in self.attempts if a.counted]
        lines.append(
            f"runs: {len(self.attempts)} ({len(done)} completed), "
            f"{self.attempts[-1].wall_s if self.attempts else 0:.0f} s; stopped: {self.stopped_because}"
        )
        if first is not None:
            lines.append(
                f"first detection: run {first.n} (seed {first.seed}), after {first.wall_s:.0f} s: "
                + ", ".join(f"{t} x{n}" for t, n in sorted(first.found.items()))
            )
            lines.append(f"  {first.dir}")
        else:
            lines.append(f"not found in {len(done)} completed run(s)")
        lines.append(f"detection rate: {self.rate}")
        if self.varied:
            lines.append(
                "varied (left open by the flags): "
                + "; ".join(
                    f"{d.name.removeprefix('opt:')} in {', '.join(map(steer._show, d.values))}"
                    for d in self.varied
                )  # fmt: skip
            )
            for v, r in sorted(self.variant_rates().items(), key=lambda x: -x[1].n):
                lines.append(f"  {v}: {r}")
        lines.append("every run (under the hunt's folder):")
        for a in self.attempts:
            where = a.dir or ""
            if where and Path(where).is_relative_to(self.dir):
                where = str(Path(where).relative_to(self.dir))
            var = f" [{steer.describe(a.variant)}]" if a.variant else ""
            lines.append(f"  {a.n} seed {a.seed}{var}: {_outcome(a)}  {where}")
        if self.interrupted:
            lines.append("interrupted: what was found so far is above; every run is kept on disk")
        return "\n".join(lines) + "\n"


def hunt(
    spec: TestSpec, results_root: Path, run_fn: RunFn, config: HuntConfig, echo: Echo = print
) -> HuntResult:
    out = new_dir(results_root, "hunts", spec.name)
    result = HuntResult(out, spec, config.target)
    dims = steer.open_dimensions(spec, config.fixed) if config.steer else []
    result.varied = dims
    steering = steer.Steering(dims, random.Random(f"steer:{spec.seed}"))
    budget = config.budget
    echo(f"hunt {spec.name} for {config.target} -> {out}")
    if config.steer:
        echo("varying: " + ("; ".join(f"{d.name.removeprefix('opt:')}" for d in dims) or
                            "nothing (the flags leave nothing open; only the seed changes)"))  # fmt: skip
    errors_in_a_row = 0
    hits = 0
    with signals.handled() as interrupts:
        try:
            while True:
                why = budget.why_not(spec.time_limit)
                if why:
                    result.stopped_because = why
                    break
                n = len(result.attempts) + 1
                variant = steering.next()
                s = steer.apply(spec, variant).replace(seed=spec.seed + n - 1, name=spec.name)
                o = attempt(run_fn, s, out / f"attempt-{n:03d}", budget.clock)
                budget.spent(o.seconds)
                hit = o.completed and config.target.hit(o.doc)
                a = Attempt(
                    n, s.seed, variant, str(o.dir) if o.dir else None, o.doc.get("valid"),
                    config.target.matched(o.doc) if o.doc else {}, hit,
                    steer.score(o.doc, config.target, s) if o.completed else 0.0,
                    o.seconds, budget.elapsed(), o.error, o.interrupted,
                )  # fmt: skip
                result.attempts.append(a)
                if a.counted:
                    steering.record(variant, a.score, hit)
                echo(_line(a, budget))
                write_json(out / "hunt.json", result.to_dict())
                if o.interrupted:
                    result.interrupted = True
                    result.stopped_because = "interrupted"
                    break
                errors_in_a_row = errors_in_a_row + 1 if o.error else 0
                hits += hit
                done = hunt_done(hits, config.stop_after, errors_in_a_row, MAX_ERRORS_IN_A_ROW)
                if done:
                    result.stopped_because = done + (f": {o.error}" if o.error else "")
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            result.stopped_because = "interrupted"
        finally:
            with interrupts.shield():
                if interrupts.fired:
                    result.interrupted = True
                    result.stopped_because = "interrupted"
                write_json(out / "hunt.json", result.to_dict())
                (out / "hunt.txt").write_text(result.text())
    return result


def _outcome(a: Attempt) -> str:
    if a.interrupted:
        return "interrupted"
    if a.error:
        return f"error: {a.error}"
    if a.hit:
        return "FOUND " + ", ".join(f"{t} x{n}" for t, n in sorted(a.found.items()))
    return f"not found (score {a.score:g})"


def _line(a: Attempt, budget: Budget) -> str:
    of = f"/{budget.max_runs}" if budget.max_runs is not None else ""
    var = f" [{steer.describe(a.variant)}]" if a.variant else ""
    return f"  run {a.n}{of} seed {a.seed}{var}: {_outcome(a)} ({a.seconds:.0f} s) {a.dir or ''}"
