"""Conflicts (last-write-wins) checker and workload on hand-made histories."""

from __future__ import annotations

import random

from harness.checkers import check
from harness.history import Op
from harness.spec import TestSpec
from workloads.conflicts import ConflictsWorkload


def H(*rows: tuple) -> list[Op]:
    return [
        Op(i, i * 100_000_000, r[0], r[1], r[2], r[3], r[4] if len(r) > 4 else None)
        for i, r in enumerate(rows)
    ]


def test_the_last_acknowledged_write_wins_is_valid() -> None:
    h = H(
        (0, "invoke", "write", [1, 10]),
        (0, "ok", "write", [1, 10]),
        (1, "invoke", "write", [1, 11]),
        (1, "ok", "write", [1, 11]),
        (2, "invoke", "final-read", None),
        (2, "ok", "final-read", [[1, 11]], "n1"),
    )
    v = check("conflicts", h)
    assert v.valid is True
    assert v.stats["lost_to_lww"] == 0


def test_newer_acknowledged_write_lost_to_an_older_one() -> None:
    h = H(
        (0, "invoke", "write", [1, 10]),  # 0
        (0, "ok", "write", [1, 10]),  # 1: W2 acknowledged
        (1, "invoke", "write", [1, 11]),  # 2: W1 invoked after -> strictly newer
        (1, "ok", "write", [1, 11]),  # 3
        (2, "invoke", "final-read", None),
        (2, "ok", "final-read", [[1, 10]], "n3"),  # 5: the older write won
    )
    v = check("conflicts", h)
    assert v.valid is False
    (a,) = v.anomalies
    assert a.type == "lost-to-lww"
    assert a.ops == [2, 3, 0, 1, 5]
    assert a.data == {"key": 1, "lost": 11, "winner": 10, "gap_s": 0.1}
    assert "final read at 0.50 s by n3 returns 10" in a.explanation


def test_concurrent_writes_may_resolve_either_way() -> None:
    h = H(
        (0, "invoke", "write", [1, 10]),
        (1, "invoke", "write", [1, 11]),
        (1, "ok", "write", [1, 11]),
        (0, "ok", "write", [1, 10]),
        (2, "invoke", "final-read", None),
        (2, "ok", "final-read", [[1, 10]]),
    )
    v = check("conflicts", h)
    assert v.valid is True
    assert v.stats["overwritten_concurrent"] == 1


def test_indeterminate_winner_and_indeterminate_loser_prove_nothing() -> None:
    h = H(
        (0, "invoke", "write", [1, 10]),
        (0, "info", "write", [1, 10]),
        (1, "invoke", "write", [1, 11]),
        (1, "ok", "write", [1, 11]),
        (1, "invoke", "write", [2, 12]),
        (1, "ok", "write", [2, 12]),
        (0, "invoke", "write", [2, 13]),
        (0, "info", "write", [2, 13]),
        (2, "invoke", "final-read", None),
        (2, "ok", "final-read", [[1, 10], [2, 12]]),
    )
    assert check("conflicts", h).valid is True


def test_failed_and_unexpected_winners() -> None:
    h = H(
        (0, "invoke", "write", [1, 10]),
        (0, "fail", "write", [1, 10]),
        (2, "invoke", "final-read", None),
        (2, "ok", "final-read", {1: 10, 2: 99}),
    )
    v = check("conflicts", h)
    assert sorted(a.type for a in v.anomalies) == ["failed-write-visible", "unexpected-value"]


def test_each_final_read_is_judged_and_divergence_noted() -> None:
    h = H(
        (0, "invoke", "write", [1, 10]),
        (0, "ok", "write", [1, 10]),
        (1, "invoke", "write", [1, 11]),
        (1, "ok", "write", [1, 11]),
        (2, "invoke", "final-read", None),
        (2, "ok", "final-read", [[1, 11]], "n1"),
        (3, "invoke", "final-read", None),
        (3, "ok", "final-read", [[1, 10]], "n2"),
        (4, "invoke", "final-read", None),
        (4, "ok", "final-read", [[1, 10]], "n3"),
    )
    v = check("conflicts", h)
    assert [a.type for a in v.anomalies] == ["lost-to-lww"]  # reported once, not per node
    assert v.stats["divergent_keys"] == 1
    assert v.notes == ["final reads disagree on 1 key(s), e.g. 1"]


def test_no_final_read_is_unknown() -> None:
    h = H((0, "invoke", "write", [1, 10]), (0, "ok", "write", [1, 10]))
    assert check("conflicts", h).valid == "unknown"


def test_workload_writes_unique_values_to_few_keys() -> None:
    spec = TestSpec(db="cassandra", mode="quorum", workload="conflicts", options={"keys": 3})
    w = ConflictsWorkload(spec, random.Random(2))
    ops = [w.next_op(p % 4) for p in range(300)]
    writes = [v for f, v in ops if f == "write"]
    assert len({v for _, v in writes}) == len(writes)
    assert {k for k, _ in writes} == {0, 1, 2}
    assert any(f == "read" for f, _ in ops)
