"""Counter checker: reads must be explained by the increments around them.

History (workloads/counter.py): "add" delta; "read"/"final-read" None -> ok int.

For an ok read R (invoked at index i, completed at index j):
- lower(R) = sum of positive deltas of ok adds completed before i
           + sum of negative deltas of adds not failed (ok or indeterminate) invoked before j
- upper(R) = sum of positive deltas of adds not failed invoked before j
           + sum of negative deltas of ok adds completed before i
An add that never completed counts as indeterminate. Real-time order is the order of the
history's lines (indices), which the harness writes as things happen.

Anomalies:
- counter-lost-increments: value < lower; acknowledged increments are missing.
- counter-phantom-increments: value > upper; more was counted than was ever attempted
  (e.g. an increment applied twice, or a failed one applied).
Valid: true when every ok read is within bounds; "unknown" with no ok read.
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate
from typing import Any

from harness.checkers import shapes
from harness.history import FAIL, OK, Op, pairs
from harness.options import Option
from harness.verdict import Anomaly, Verdict

NAME = "counter"
OPTIONS: tuple[Option, ...] = ()
# the anomaly types its verdicts report (harness.checkers.anomalies_of: hunt and shrink targets)
ANOMALIES = ("counter-lost-increments", "counter-phantom-increments")


class _Sums:
    """Sum of the amounts whose position is < a given index."""

    def __init__(self, items: list[tuple[int, int]]) -> None:
        items.sort()
        self.at = [i for i, _ in items]
        self.prefix = [0, *accumulate(d for _, d in items)]

    def before(self, index: int) -> int:
        return self.prefix[bisect_left(self.at, index)]


def check(history: list[Op], **options: Any) -> Verdict:
    shapes.read_options(NAME, OPTIONS, options)
    pos_ok: list[tuple[int, int]] = []  # (index, delta)
    neg_ok: list[tuple[int, int]] = []
    pos_may: list[tuple[int, int]] = []
    neg_may: list[tuple[int, int]] = []
    reads: list[tuple[Op, Op, int]] = []
    adds = acknowledged = failed = 0
    for inv, done in pairs(history):
        if inv.f == "add":
            adds += 1
            delta = shapes.integer(inv, inv.value, "an add's delta")
            status = done.type if done is not None else "info"
            if status == FAIL:
                failed += 1
                continue
            (pos_may if delta >= 0 else neg_may).append((inv.index, delta))
            if status == OK:
                acknowledged += 1
                (pos_ok if delta >= 0 else neg_ok).append((done.index, delta))  # type: ignore[union-attr]
        elif inv.f in ("read", "final-read") and done is not None and done.type == OK:
            value = 0 if done.value is None else shapes.integer(done, done.value, "a read")
            reads.append((inv, done, value))

    must_pos, must_neg, may_pos, may_neg = (
        _Sums(pos_ok),
        _Sums(neg_ok),
        _Sums(pos_may),
        _Sums(neg_may),
    )
    anomalies: list[Anomaly] = []
    worst_lost = worst_extra = 0
    for inv, done, value in reads:
        lo = must_pos.before(inv.index) + may_neg.before(done.index)
        hi = may_pos.before(done.index) + must_neg.before(inv.index)
        where = f"{inv.f} at {inv.time / 1e9:.2f} s" + (f" on {done.node}" if done.node else "")
        if value < lo:
            worst_lost = max(worst_lost, lo - value)
            anomalies.append(
                Anomaly(
                    "counter-lost-increments",
                    [inv.index, done.index],
                    f"{where} returned {value}, but increments acknowledged before it began sum "
                    f"to at least {lo}: {lo - value} of acknowledged increments are missing",
                    {"value": value, "lower": lo, "upper": hi},
                )
            )
        elif value > hi:
            worst_extra = max(worst_extra, value - hi)
            anomalies.append(
                Anomaly(
                    "counter-phantom-increments",
                    [inv.index, done.index],
                    f"{where} returned {value}, but all increments attempted before it ended sum "
                    f"to at most {hi}: {value - hi} more than was ever added",
                    {"value": value, "lower": lo, "upper": hi},
                )
            )
    notes = [] if reads else ["no read completed ok: nothing to check"]
    if not adds and not any(inv.f in ("read", "final-read") for inv, _ in pairs(history)):
        notes = ["no add or read op in the history: nothing to check"]
    return Verdict(
        checker=NAME,
        valid=(not anomalies) if reads else "unknown",
        anomalies=anomalies,
        stats={
            "adds": adds,
            "acknowledged": acknowledged,
            "failed": failed,
            "indeterminate": adds - acknowledged - failed,
            "reads": len(reads),
            "max_lost": worst_lost,
            "max_phantom": worst_extra,
        },
        notes=notes,
    )
