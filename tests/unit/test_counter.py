"""Counter checker and workload on hand-made histories."""

from __future__ import annotations

import random

from harness.checkers import check
from harness.history import Op
from harness.spec import TestSpec
from workloads.counter import CounterWorkload


def H(*rows: tuple) -> list[Op]:
    """rows: (process, type, f, value[, node]); time = index in ms."""
    return [
        Op(i, i * 1_000_000, r[0], r[1], r[2], r[3], r[4] if len(r) > 4 else None)
        for i, r in enumerate(rows)
    ]


def test_reads_within_bounds_are_valid() -> None:
    h = H(
        (0, "invoke", "add", 3),
        (0, "ok", "add", 3),
        (1, "invoke", "add", 2),  # concurrent with the read: may or may not be seen
        (2, "invoke", "read", None),
        (2, "ok", "read", 5),  # 3 certain + 2 possible
        (1, "info", "add", 2),
        (3, "invoke", "add", 7),
        (3, "fail", "add", 7),  # failed: must never be seen
        (2, "invoke", "read", None),
        (2, "ok", "read", 3),  # the indeterminate add may never apply
    )
    v = check("counter", h)
    assert v.valid is True, v.anomalies
    assert v.stats == {
        "adds": 3,
        "acknowledged": 1,
        "failed": 1,
        "indeterminate": 1,
        "reads": 2,
        "max_lost": 0,
        "max_phantom": 0,
    }


def test_lost_acknowledged_increment() -> None:
    h = H(
        (0, "invoke", "add", 4),
        (0, "ok", "add", 4),
        (0, "invoke", "add", 1),
        (0, "ok", "add", 1),
        (1, "invoke", "final-read", None),
        (1, "ok", "final-read", 1, "n2"),
    )
    v = check("counter", h)
    assert v.valid is False
    (a,) = v.anomalies
    assert a.type == "counter-lost-increments"
    assert a.ops == [4, 5]
    assert a.data == {"value": 1, "lower": 5, "upper": 5}
    assert (
        "on n2 returned 1" in a.explanation
        and "4 of acknowledged increments are missing" in a.explanation
    )


def test_failed_increment_visible_is_a_phantom() -> None:
    h = H(
        (0, "invoke", "add", 2),
        (0, "fail", "add", 2),
        (1, "invoke", "read", None),
        (1, "ok", "read", 2),
    )
    v = check("counter", h)
    assert v.valid is False
    assert [a.type for a in v.anomalies] == ["counter-phantom-increments"]
    assert v.stats["max_phantom"] == 2


def test_increment_invoked_after_the_read_ended_cannot_be_seen() -> None:
    h = H(
        (1, "invoke", "read", None),
        (1, "ok", "read", 6),
        (0, "invoke", "add", 6),
        (0, "ok", "add", 6),
    )
    assert check("counter", h).valid is False


def test_an_add_that_never_completed_counts_as_indeterminate() -> None:
    h = H(
        (0, "invoke", "add", 5),
        (1, "invoke", "read", None),
        (1, "ok", "read", 5),
    )
    v = check("counter", h)
    assert v.valid is True
    assert v.stats["indeterminate"] == 1


def test_negative_deltas_widen_the_bounds_the_other_way() -> None:
    h = H(
        (0, "invoke", "add", 10),
        (0, "ok", "add", 10),
        (1, "invoke", "add", -4),  # indeterminate decrement
        (2, "invoke", "read", None),
        (2, "ok", "read", 6),
        (2, "invoke", "read", None),
        (2, "ok", "read", 10),
        (2, "invoke", "read", None),
        (2, "ok", "read", 5),  # below 10 - 4
    )
    v = check("counter", h)
    assert [a.ops for a in v.anomalies] == [[7, 8]]


def test_nemesis_ops_are_ignored_and_no_reads_is_unknown() -> None:
    h = H(
        ("nemesis", "info", "start-partition", None), (0, "invoke", "add", 1), (0, "ok", "add", 1)
    )
    v = check("counter", h)
    assert v.valid == "unknown"
    assert v.notes == ["no read completed ok: nothing to check"]


def test_workload_generates_positive_adds_and_reads() -> None:
    w = CounterWorkload(
        TestSpec(db="cassandra", mode="quorum", workload="counter"), random.Random(1)
    )
    ops = [w.next_op(0) for _ in range(400)]
    fs = {f for f, _ in ops}
    assert fs == {"add", "read"}
    assert all(1 <= v <= 5 for f, v in ops if f == "add")
    assert w.final_ops() == [("final-read", None)]
    assert w.checkers == ("counter",)


# -- wrong shapes (issue 11): one-line HistoryErrors naming the op --------------------------

import math  # noqa: E402

import pytest  # noqa: E402

from harness.errors import HistoryError, SpecError  # noqa: E402


@pytest.mark.parametrize(
    "rows,message",
    [
        (((0, "invoke", "add", "three"), (0, "ok", "add", "three")), "op 0 .*delta must be an"),
        (((0, "invoke", "add", [1, 2]), (0, "ok", "add", [1, 2])), "op 0 .*delta must be an"),
        (((0, "invoke", "add", math.inf), (0, "ok", "add", math.inf)), "delta must be an"),
        (((0, "invoke", "add", 1.5), (0, "ok", "add", 1.5)), "delta must be an integer, got 1.5"),
        (((0, "invoke", "add", True), (0, "ok", "add", True)), "delta must be an integer"),
        (((0, "invoke", "add", 10**400), (0, "ok", "add", 10**400)), "delta is out of range"),
        (((0, "invoke", "read", None), (0, "ok", "read", {"n": 3})), r"op 1 \(ok read\): a read"),
        (((0, "invoke", "read", None), (0, "ok", "read", math.nan)), "a read must be an integer"),
    ],
)
def test_wrong_shapes_are_history_errors(rows: tuple, message: str) -> None:
    with pytest.raises(HistoryError, match=message):
        check("counter", H(*rows))


def test_integral_floats_count_as_integers() -> None:
    h = H(
        (0, "invoke", "add", 2.0),
        (0, "ok", "add", 2.0),
        (1, "invoke", "read", None),
        (1, "ok", "read", 2.0),
    )
    v = check("counter", h)
    assert v.valid is True and v.anomalies == []


def test_no_counter_op_is_unknown_and_options_are_refused() -> None:
    v = check("counter", H((0, "invoke", "write", [0, 1]), (0, "ok", "write", [0, 1])))
    assert v.valid == "unknown"
    assert v.notes == ["no add or read op in the history: nothing to check"]
    with pytest.raises(SpecError, match="counter option model: unknown option"):
        check("counter", [], model="cas-register")
