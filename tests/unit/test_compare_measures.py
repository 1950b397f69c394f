"""The comparison's per-run measurements over small hand-made histories whose figures are
known in advance; each has a twin where a wrong implementation would give another number."""

from __future__ import annotations

import numpy as np
import pytest

from harness.history import Op
from harness.report.html import pct
from harness.report.measures import (
    availability_by_kind,
    conflicts,
    loss_windows,
    lost_acks,
    stretch,
    unlisted_lost,
    write_throughput,
)
from harness.report.results import completions, knobs, windows_from_invocation
from tests.builder import H

S = 1_000_000_000


def test_stretch_share_of_time_and_longest_gap() -> None:
    acks = [int(t * S) for t in (0.5, 1.2, 4.9)]

    st = stretch(np.array(acks), 0, 5 * S)
    # slices [0,1) [1,2) [4,5) hold an ack; [2,3) [3,4) do not
    assert (st.covered_s, st.with_writes_s, st.share) == (5.0, 3.0, 0.6)
    assert st.longest_gap_s == pytest.approx(3.7)  # 1.2 s -> 4.9 s
    # twin: no ack at all is one gap as long as the window, share 0 (not None, not 1)
    empty = stretch(np.zeros(0, dtype=np.int64), 2 * S, int(4.5 * S))
    assert (empty.share, empty.longest_gap_s, empty.covered_s) == (0.0, 2.5, 2.5)
    # an ack outside the window does not count for it
    outside = stretch(np.array([int(5.5 * S)]), 0, 5 * S)
    assert outside.share == 0.0


def kills(primary_first: bool = True) -> list[Op]:
    """kill aimed at the primary 1-3 s (acks at 0.5 and 2.9 only), kill of a random node
    6-8 s (acks every 0.5 s); the first kill is invoked at 1.0 and takes effect at 1.4."""
    h = H()
    t0 = {"target": "primary" if primary_first else "random", "seed": 1}
    t1 = {"target": "random", "seed": 2}
    h.call(0.4, 0.5, 0, "add", 0, node="n1")
    h.invoke(1.0, "nemesis", "start-kill", t0)
    h.call(1.05, 1.1, 0, "add", 1, node="n1")  # between invocation and effect: inside
    h.info(1.4, "nemesis", "start-kill", {"node": "n1"})
    h.call(1.5, 2.5, 0, "add", 2, typ="fail", node="n1")
    h.call(2.8, 2.9, 0, "add", 3, node="n2")
    h.invoke(3.0, "nemesis", "stop-kill").info(3.0, "nemesis", "stop-kill", {"node": "n1"})
    h.invoke(6.0, "nemesis", "start-kill", t1).info(6.0, "nemesis", "start-kill", {"node": "n3"})
    for i in range(4):
        h.call(6.0 + 0.5 * i, 6.1 + 0.5 * i, 0, "add", 10 + i, node="n1")
    h.invoke(8.0, "nemesis", "stop-kill").info(8.0, "nemesis", "stop-kill", {"node": "n3"})
    h.call(9.0, 9.1, 0, "add", 20, node="n1")
    h.call(10.0, 10.1, 5, "final-read", None, [0, 1, 3], node="n1")
    return h.ops


def test_write_availability_splits_kill_of_the_primary_from_kill_of_any_node() -> None:
    ops = kills()
    wins = windows_from_invocation(ops)
    by = availability_by_kind(completions(ops), wins, has_primary=True)
    assert sorted(by) == ["kill (primary)", "kill (random node)", "whole run"]
    p, r = by["kill (primary)"], by["kill (random node)"]
    # 1.0 -> 3.0 s: slices [1,2) (ack at 1.1) and [2,3) (ack at 2.9) both hold one
    assert (p.covered_s, p.share) == (2.0, 1.0)
    assert p.longest_gap_s == pytest.approx(1.8)  # 1.1 s -> 2.9 s
    assert (r.share, r.windows) == (1.0, 1)
    assert r.longest_gap_s == pytest.approx(0.5)
    whole = by["whole run"]
    assert whole.longest_gap_s == pytest.approx(3.2)  # 2.9 s -> 6.1 s
    # twin: from the completion (1.4 s), the 1.1 s ack would fall outside the window
    late = [dict(w, start=w["effective"]) for w in wins]
    p_late = availability_by_kind(completions(ops), late, has_primary=True)["kill (primary)"]
    assert p_late.longest_gap_s == pytest.approx(1.5)  # 1.4 s (edge) -> 2.9 s


def test_a_kill_aimed_at_the_primary_of_a_peer_to_peer_database_is_a_random_kill() -> None:
    ops = kills()
    by = availability_by_kind(completions(ops), windows_from_invocation(ops), has_primary=False)
    assert sorted(by) == ["kill (random node)", "whole run"]
    assert by["kill (random node)"].windows == 2
    assert by["kill (random node)"].covered_s == 4.0


def lost_history() -> tuple[list[Op], dict]:
    """Partition 1-3 s; adds 1 and 2 acknowledged inside it and lost, add 3 lost at 5 s
    (outside), add 0 kept. A second partition 6-7 s loses nothing."""
    h = H()
    h.call(0.1, 0.2, 0, "add", 0, node="n1")
    h.invoke(1.0, "nemesis", "start-partition", {"shape": "isolate-primary", "seed": 1})
    h.info(1.2, "nemesis", "start-partition", {"shape": "isolate-primary"})
    h.call(1.4, 1.5, 0, "add", 1, node="n1")
    h.call(2.4, 2.5, 0, "add", 2, node="n1")
    h.invoke(3.0, "nemesis", "stop-partition").info(3.0, "nemesis", "stop-partition")
    h.call(4.9, 5.0, 0, "add", 3, node="n1")
    h.invoke(6.0, "nemesis", "start-partition", {"shape": "halves", "seed": 2})
    h.info(6.0, "nemesis", "start-partition", {"shape": "halves"})
    h.invoke(7.0, "nemesis", "stop-partition").info(7.0, "nemesis", "stop-partition")
    h.call(8.0, 8.1, 5, "final-read", None, [0], node="n2")
    ops = h.ops
    final = ops[-1].index

    def lost(v: int) -> dict:
        inv, done = (op for op in ops if op.f == "add" and op.value == v)
        return {"type": "lost-write", "ops": [inv.index, done.index, final], "data": {"value": v}}

    verdict = {"checkers": {"set": {"valid": False, "anomalies": [lost(1), lost(2), lost(3)]}}}
    return ops, verdict


def test_lost_writes_are_charged_to_the_window_they_were_acknowledged_in() -> None:
    ops, verdict = lost_history()
    wins = windows_from_invocation(ops)
    first, second, outside = loss_windows(ops, verdict, wins, has_primary=True)
    assert (first.kind, first.lost, first.values) == ("partition (isolate-primary)", 2, [1, 2])
    assert (first.first_ack_s, first.last_ack_s) == (1.5, 2.5)
    assert first.interval_s == pytest.approx(1.0)
    assert (first.invoked_s, first.healed_s) == (1.0, 3.0)
    # a window that lost nothing is a measurement too (0, not missing)
    assert (second.kind, second.lost, second.interval_s) == ("partition (halves)", 0, None)
    assert (outside.kind, outside.lost, outside.values) == ("no fault", 1, [3])
    assert unlisted_lost(ops, verdict) == 0
    # a capped anomaly list: the counts say 5, three are itemised; two are charged nowhere
    capped = {"checkers": {"set": dict(verdict["checkers"]["set"], counts={"lost-write": 5})}}
    assert unlisted_lost(ops, capped) == 2
    # twin: a verdict without lost writes charges nothing, and adds no "no fault" entry
    clean = loss_windows(ops, {"checkers": {"set": {"valid": True, "anomalies": []}}}, wins, True)
    assert [w.lost for w in clean] == [0, 0]
    # twin: no checker looked for lost writes (or it could not decide): not measured, not 0
    assert loss_windows(ops, {"checkers": {"linearizable": {"valid": True}}}, wins, True) == []
    unknown = {"checkers": {"set": {"valid": "unknown", "anomalies": []}}}
    assert loss_windows(ops, unknown, wins, True) == []


def test_availability_counts_only_acknowledged_writes_that_survived() -> None:
    ops, verdict = lost_history()
    wins = windows_from_invocation(ops)
    df = completions(ops)
    lost = {op.index for op, _ in lost_acks(ops, verdict)}
    st = availability_by_kind(df, wins, True, lost)["partition (isolate-primary)"]
    # adds 1 (1.5 s) and 2 (2.5 s) were acknowledged in the 1.0-3.0 s window and then lost:
    # no surviving write in it at all, and both counted beside it
    assert (st.covered_s, st.with_writes_s, st.share, st.lost) == (2.0, 0.0, 0.0, 2)
    assert st.longest_gap_s == pytest.approx(2.0)
    # twin: counting every acknowledgement would have called the window fully available
    naive = availability_by_kind(df, wins, True)["partition (isolate-primary)"]
    assert (naive.share, naive.lost) == (1.0, 0)
    whole = availability_by_kind(df, wins, True, lost)["whole run"]
    assert whole.lost == 3  # add 3, lost outside any window, counts against the run


def test_conflicts_from_each_checker_and_not_measured_elsewhere() -> None:
    h = H()
    h.call(0, 0.1, 0, "add", 1, node="n1")
    h.invoke(0.2, 1, "add", 2, node="n2")
    h.ops.append(Op(len(h.ops), int(0.3 * S), 1, "fail", "add", 2, "n2", "1213 Deadlock found"))
    h.invoke(0.4, 2, "read", None, node="n3")
    h.ops.append(Op(len(h.ops), int(0.5 * S), 2, "fail", "read", None, "n3", "1213 Deadlock"))
    ops = h.ops
    # a certifying database, recorded before verdict.json had a conflicts block: recomputed
    c = conflicts(ops, {"checkers": {"set": {"anomalies": []}}}, certifies=True)
    assert (c["certification_rejects"], c["of_writes"]) == (1, 2)  # the refused read is apart
    assert c["reads_rejected"] == 1
    assert c["lost_to_lww"] is None and c["lost_updates"] is None
    # the block in verdict.json wins over the history
    block = {"certification_rejects": {"count": 7, "of_writes": 70}}
    assert (
        conflicts(ops, {"checkers": {}, "conflicts": block}, certifies=True)[
            "certification_rejects"
        ]
        == 7
    )
    # twin: a database that does not certify (one writer, or last-write-wins) has nothing to
    # refuse: not measured, not zero, even where the runner wrote a block (every peer-to-peer)
    assert conflicts(ops, {"checkers": {}}, certifies=False)["certification_rejects"] is None
    no_block = {"checkers": {}, "conflicts": block}
    assert conflicts(ops, no_block, certifies=False)["certification_rejects"] is None
    lww = {"conflicts": {"counts": {"lost-to-lww": 3}, "anomalies": []}}
    assert conflicts([], {"checkers": lww}, certifies=False)["lost_to_lww"] == 3
    la = {"list-append": {"counts": {"lost-update": 1, "G2-item": 2, "G-single-realtime": 4}}}
    c = conflicts([], {"checkers": la}, certifies=False)
    assert (c["lost_updates"], c["write_skew"], c["read_skew"]) == (1, 2, 4)
    # a clean list-append verdict measured zero
    c = conflicts([], {"checkers": {"list-append": {"counts": {}}}}, certifies=False)
    assert (c["lost_updates"], c["write_skew"]) == (0, 0)


def test_write_throughput_counts_acknowledged_writes_per_second() -> None:
    h = H()
    for i in range(10):
        h.call(0.2 * i, 0.2 * i + 0.1, 0, "add", i, node="n1")  # 0 -> 1.9 s
    h.call(0.5, 0.6, 1, "add", 99, typ="fail", node="n2")
    h.call(0.7, 0.8, 1, "read", None, [1], node="n2")  # reads do not count
    h.call(0.9, 1.0, 1, "read", None, typ="fail", node="n2")  # except as refused reads
    h.call(5.0, 5.1, 2, "final-read", None, [1], node="n1")  # nor the final read's time
    t = write_throughput(completions(h.ops))
    assert (t.ok_writes, t.refused_writes, t.unknown_writes) == (10, 1, 0)
    assert t.span_s == pytest.approx(1.9) and t.ok_per_s == pytest.approx(10 / 1.9)
    assert t.ok_by_node == {"n1": 10} and t.refused_reads == 1


@pytest.mark.parametrize(
    "x, shown",
    [
        (1.0, "100%"),
        (0.9997, "99.97%"),  # never rounded up to 100
        (0.9996, "99.96%"),  # a failure in 2,500 is not 100%
        (0.99999, ">99.99%"),
        (0.999, "99.9%"),
        (0.5, "50.0%"),
        (0.0002, "0.02%"),  # never rounded down to 0
        (0.0, "0%"),
        (None, "–"),
    ],
)
def test_percentages_claim_100_or_0_only_when_exact(x: float | None, shown: str) -> None:
    assert pct(x) == shown


def test_knobs_are_shown_only_where_they_mean_something() -> None:
    base = {"read_from": "primary", "isolation": "serializable"}
    assert knobs({"db": "postgres", **base}) == "read_from=primary, isolation=serializable"
    assert knobs({"db": "galera", **base}) == "isolation=serializable"
    assert (
        knobs({"db": "galera", **base, "options": {"write_to": "one"}})
        == "read_from=primary, isolation=serializable, write_to=one"
    )
    assert knobs({"db": "cassandra", **base, "options": {"write_cl": "ONE"}}) == "write_cl=ONE"
