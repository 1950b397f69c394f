"""Rates and when to stop: pure arithmetic, no I/O.

A race is measured as k detections in n runs. Its rate is reported with the exact
(Clopper-Pearson) 95% interval: conservative, and honest at the small n a hunt has (with no
detection it still gives an upper bound: about 3/n). Wilson's interval is here for
comparison; both are in the tests against known values."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal

from harness.errors import SpecError

CONFIDENCE = 0.95


def _log_pmf(i: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if i == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if i == n else -math.inf
    return (
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        + i * math.log(p) + (n - i) * math.log1p(-p)
    )  # fmt: skip


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return min(1.0, sum(math.exp(_log_pmf(i, n, p)) for i in range(k + 1)))


def _bisect(f: Callable[[float], float], target: float, increasing: bool) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if (f(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The exact two-sided interval of a rate seen k times in n."""
    _check(k, n)
    if n == 0:
        return 0.0, 1.0
    a = (1 - confidence) / 2
    # lower: P(X >= k | p) = a, i.e. cdf(k-1) = 1 - a (cdf falls as p grows)
    lo = 0.0 if k == 0 else _bisect(lambda p: binom_cdf(k - 1, n, p), 1 - a, increasing=False)
    hi = 1.0 if k == n else _bisect(lambda p: binom_cdf(k, n, p), a, increasing=False)
    return lo, hi


def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson's score interval of a rate seen k times in n."""
    _check(k, n)
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _check(k: int, n: int) -> None:
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"a rate needs 0 <= k <= n, got {k} of {n}")


@dataclass(frozen=True)
class Rate:
    k: int
    n: int

    @property
    def interval(self) -> tuple[float, float]:
        return clopper_pearson(self.k, self.n)

    def to_dict(self) -> dict[str, object]:
        lo, hi = self.interval
        return {
            "k": self.k,
            "n": self.n,
            "rate": round(self.k / self.n, 4) if self.n else None,
            "ci95": [round(lo, 4), round(hi, 4)],
            "method": "Clopper-Pearson (exact), 95%",
        }

    def __str__(self) -> str:
        if not self.n:
            return "no completed run"
        lo, hi = self.interval
        if self.k == 0:
            return f"0 of {self.n} (rate below {hi:.0%} at 95% confidence)"
        return f"{self.k} of {self.n} = {self.k / self.n:.0%} (95% CI {lo:.0%}-{hi:.0%})"


Decision = Literal["accept", "reject", "more"]


@dataclass(frozen=True)
class Acceptance:
    """A candidate is tried up to `tries` times; it is kept once it reproduced `need` times,
    and dropped as soon as the tries left cannot reach `need` (both ends stop early: a run
    of a real cluster costs a minute)."""

    tries: int
    need: int

    @classmethod
    def at(cls, tries: int, min_rate: float) -> Acceptance:
        """need = the least k with k / tries >= min_rate (at least 1)."""
        if tries < 1:
            raise SpecError(f"--tries must be >= 1, got {tries}")
        if not 0 < min_rate <= 1:
            raise SpecError(f"--min-rate must be in (0, 1], got {min_rate:g}")
        return cls(tries, max(1, math.ceil(min_rate * tries - 1e-9)))

    def decide(self, hits: int, done: int) -> Decision:
        if hits >= self.need:
            return "accept"
        if hits + (self.tries - done) < self.need:
            return "reject"
        return "more"

    def __str__(self) -> str:
        return f"{self.need} of {self.tries}"


@dataclass
class Budget:
    """Runs and wall time a hunt or shrink may spend. A run is never cut short: one is not
    started when the time left is less than the longest run so far (or the first run's
    --time) would take."""

    max_runs: int | None = None
    max_seconds: float | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    runs: int = 0
    longest: float = 0.0

    def __post_init__(self) -> None:
        if self.max_runs is not None and self.max_runs < 1:
            raise SpecError(f"--max-runs must be >= 1, got {self.max_runs}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise SpecError(f"--max-time must be > 0, got {self.max_seconds:g} s")
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def runs_left(self) -> int | None:
        return None if self.max_runs is None else self.max_runs - self.runs

    def why_not(self, estimate: float, reserve_runs: int = 0) -> str | None:
        """None if another run fits, else the reason (said in the report). `reserve_runs`
        keeps that many runs back (a shrink's final confirmation)."""
        if self.max_runs is not None and self.runs + reserve_runs >= self.max_runs:
            return f"run budget spent ({self.runs} of {self.max_runs} runs)"
        if self.max_seconds is not None:
            need = max(self.longest, estimate) * (1 + reserve_runs)
            if self.elapsed() + need > self.max_seconds:
                return (
                    f"time budget spent ({self.elapsed():.0f} of {self.max_seconds:.0f} s; "
                    f"a run takes about {max(self.longest, estimate):.0f} s)"
                )
        return None

    def spent(self, seconds: float) -> None:
        self.runs += 1
        self.longest = max(self.longest, seconds)


def hunt_done(hits: int, stop_after: int, errors_in_a_row: int, max_errors: int) -> str:
    """Why a hunt stops after this run ('' = go on; the budget is asked apart): the
    --stop-after-th detection (0: never, spend the budget), or too many failed runs in a row."""
    if errors_in_a_row >= max_errors:
        return f"{errors_in_a_row} runs in a row failed"
    if stop_after and hits >= stop_after:
        return "found" if stop_after == 1 else f"found {hits} times"
    return ""


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '2h' -> seconds; a one-line SpecError otherwise."""
    t = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(t[-1:], 0)
    num = t[:-1] if scale else t
    try:
        v = float(num) * (scale or 1)
    except ValueError:
        raise SpecError(f"--max-time {text!r}: give seconds, or a number with s, m or h") from None
    if not math.isfinite(v) or v <= 0:
        raise SpecError(f"--max-time {text!r}: must be more than zero")
    return v
