"""evidence_svg: the drawings of a linearizability anomaly and of a transactional cycle."""

from __future__ import annotations

from harness.checkers import linearizable
from harness.history import Op
from harness.report.evidence_svg import cycle, drawing, lanes


def _bad() -> tuple[list[Op], dict]:
    h = [
        Op(0, 0, 0, "invoke", "append", "x", extra={"key": "k"}),
        Op(1, 10**9, 0, "ok", "append", "x", extra={"key": "k"}),
        Op(2, 2 * 10**9, 0, "invoke", "append", "y", extra={"key": "k"}),
        Op(3, 3 * 10**9, 0, "ok", "append", "y", extra={"key": "k"}),
        Op(4, 4 * 10**9, 1, "invoke", "get", None, extra={"key": "k"}),
        Op(5, 5 * 10**9, 1, "ok", "get", "y", extra={"key": "k"}),
    ]
    v = linearizable.check(h, model="kv")
    return h, v.to_dict()["anomalies"][0]


def test_lanes_mark_the_op_the_prefix_and_faults() -> None:
    h, a = _bad()
    wins = [{"fault": "partition", "start": 1_500_000_000, "end": 2_500_000_000, "value": {}}]
    svg = lanes(h, a, wins)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="op') == 3  # both appends and the get
    assert svg.count('class="op blocked"') == 1 and 'data-op="4"' in svg
    assert 'class="prefix"' in svg and 'class="fault"' in svg and "partition" in svg
    assert "invoked 4 s, completed 5 s (ok)" in svg
    assert drawing(h, a, wins) == svg


def test_cycle_and_nothing_for_other_anomalies() -> None:
    a = {
        "type": "G-single",
        "data": {
            "cycle": [
                {"op": 3, "txn": [["r", "x", [1]]], "edge": "rw", "to": 1, "key": "y"},
                {"op": 1, "txn": [["append", "x", 1]], "edge": "wr", "to": 3, "key": "x"},
            ]
        },
    }
    svg = cycle(a)
    assert svg.count('class="txn"') == 2 and svg.count('class="edge"') == 2
    assert "rw y" in svg and "wr x" in svg
    assert drawing([], {"type": "lost-write", "data": {}}, []) == ""
