"""Conflict accounting on hand-made peer-to-peer histories and verdict dicts."""

from __future__ import annotations

from harness.checkers.conflicts_p2p import account
from tests.builder import H

DEADLOCK_AT_COMMIT = (
    "OperationalError: (1213, 'Deadlock found when trying to get lock; try restarting transaction')"
)
DEADLOCK_IN_BODY = "OperationalError: (1213) Deadlock found when trying to get lock"


def _fail(h: H, t: float, p: int, f: str, v: object, node: str, error: str) -> H:
    h.invoke(t, p, f, v, node)
    h.ops.append(type(h.ops[0])(len(h.ops), int((t + 0.01) * 1e9), p, "fail", f, v, node, error))
    return h


def test_certification_rejects_are_counted_per_node_and_reads_apart():
    h = H().call(0, 0.1, 0, "add", [0, 1], node="n1")
    _fail(h, 0.2, 1, "add", [0, 2], "n2", DEADLOCK_AT_COMMIT)
    _fail(h, 0.3, 2, "txn", [["append", 1, 1], ["r", 2, None]], "n3", DEADLOCK_IN_BODY)
    _fail(h, 0.4, 3, "read", [0, None], "n2", DEADLOCK_AT_COMMIT)  # a read, not a write
    _fail(h, 0.5, 4, "add", [0, 3], "n3", "OperationalError: (1047) WSREP has not yet prepared")
    h.invoke(0.6, "nemesis", "start-partition", {})
    out = account(h.ops, {})
    rej = out["certification_rejects"]
    assert rej["count"] == 2 and rej["by_node"] == {"n2": 1, "n3": 1}
    assert rej["reads_rejected"] == 1
    assert rej["of_writes"] == 4  # the adds and the txn with an append
    assert rej["ops"] == [3, 5]
    assert "2 of 4 writes" in rej["explanation"] and "op 3 on n2 at 0.21 s" in rej["explanation"]
    assert "\n" not in rej["explanation"]


def test_read_only_txn_is_not_a_write():
    h = H()
    _fail(h, 0, 0, "txn", [["r", 1, None]], "n1", DEADLOCK_AT_COMMIT)
    out = account(h.ops, {})
    assert out["certification_rejects"]["count"] == 0
    assert out["certification_rejects"]["reads_rejected"] == 1


def _elle(counts: dict[str, int]) -> dict:
    anomalies = [
        {"type": t, "ops": [1, 2], "explanation": f"T1 and T2: {t} example"}
        for t, n in counts.items()
        for _ in range(n)
    ]
    return {"valid": not counts, "counts": counts, "anomalies": anomalies, "stats": {}}


def test_elle_findings_are_counted_from_verdict_json():
    verdicts = {
        "checkers": {
            "list-append": _elle({"lost-update": 2, "G-single": 1, "G-single-realtime": 3,
                                  "G2-item": 1, "G1c": 5})
        }
    }  # fmt: skip
    out = account([], verdicts)
    assert out["lost_updates"]["count"] == 2
    assert "T1 and T2: lost-update example" in out["lost_updates"]["explanation"]
    assert out["g_single"]["count"] == 4
    assert out["g_single"]["by_type"] == {"G-single": 1, "G-single-realtime": 3}
    assert out["g2"]["count"] == 1 and out["g2"]["by_type"] == {"G2-item": 1}
    assert "not measured" in out["lost_acknowledged_writes"]["explanation"]


def test_counts_win_over_capped_anomaly_lists():
    v = _elle({"lost-update": 1})
    v["counts"] = {"lost-update": 40}  # the checker kept only a few examples
    assert account([], {"list-append": v})["lost_updates"]["count"] == 40


def test_lost_acknowledged_writes_come_from_the_set_checker():
    sets = {
        "valid": False,
        "counts": {"lost-write": 1, "stale-read": 3},
        "stats": {"lost": 1},
        "anomalies": [
            {
                "type": "lost-write",
                "ops": [3],
                "explanation": "add of 2 to key 0 acknowledged at 0.30 s is missing",
            }
        ],
    }
    out = account([], {"set": sets})
    assert out["lost_acknowledged_writes"]["count"] == 1
    assert "add of 2" in out["lost_acknowledged_writes"]["explanation"]
    assert "not measured" in out["lost_updates"]["explanation"]


def test_nothing_found_is_zero_everywhere():
    out = account(
        H().call(0, 0.1, 0, "add", [0, 1], node="n1").ops,
        {"set": {"counts": {}, "stats": {"lost": 0}, "anomalies": []}},
    )
    assert out["certification_rejects"]["count"] == 0
    assert out["lost_acknowledged_writes"]["count"] == 0
    assert all("\n" not in v["explanation"] for v in out.values())


def test_an_error_that_is_not_text_is_read_as_text():
    h = H()
    _fail(h, 0.2, 1, "add", [0, 2], "n2", DEADLOCK_AT_COMMIT)
    # a history from elsewhere may hold an error code, or anything
    h.ops[-1].error = 1213  # type: ignore[assignment]
    _fail(h, 0.3, 2, "add", [0, 3], "n2", DEADLOCK_AT_COMMIT)
    h.ops[-1].error = ["not", "text"]  # type: ignore[assignment]
    out = account(h.ops, {"checkers": {"set": "not a verdict", "list-append": {"counts": 3}}})
    assert out["certification_rejects"]["count"] == 1
    assert out["lost_updates"]["count"] == 0
