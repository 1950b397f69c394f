"""Evidence that proves itself: a reported dependency cycle re-derived, edge by edge, from the
raw ops of the history (what the values read and appended show), so that an integration test
can tell a real finding from a checker's mistake."""

from __future__ import annotations

from typing import Any

from harness.history import Op


def reads_of(op: Op) -> dict[int, list[int]]:
    return {k: v for f, k, v in op.value if f == "r"}


def appends_of(op: Op) -> set[tuple[int, int]]:
    return {(k, v) for f, k, v in op.value if f == "append"}


def assert_edge(step: dict[str, Any], ops: dict[int, Op], history: list[Op]) -> None:
    """Re-derive one edge of a reported cycle from the ops themselves."""
    a, b, k, v = ops[step["op"]], ops[step["to"]], step["key"], step["value"]
    assert a.value == step["txn"], step
    if step["edge"] == "wr":  # b read a's append
        assert (k, v) in appends_of(a) and v in reads_of(b)[k], step
    elif step["edge"] == "rw":  # a read k without b's append
        assert (k, v) in appends_of(b) and v not in reads_of(a)[k], step
    else:  # ww: some read shows a's append right before b's
        assert step["edge"] == "ww", step
        nxt = step["next"]
        assert (k, v) in appends_of(a) and (k, nxt) in appends_of(b), step
        assert any(
            v in r and r.index(v) + 1 < len(r) and r[r.index(v) + 1] == nxt
            for op in history
            if op.type == "ok" and op.f == "txn"
            for r in [reads_of(op).get(k, [])]
        ), step


def assert_cycle_proves_itself(anomaly: dict[str, Any], history: list[Op]) -> None:
    """The anomaly's cycle closes, and every edge of it re-derives from the ops."""
    ops = {op.index: op for op in history if op.type == "ok"}
    cycle = anomaly["data"]["cycle"]
    assert [s["to"] for s in cycle] == [s["op"] for s in cycle[1:] + cycle[:1]], anomaly
    for step in cycle:
        assert_edge(step, ops, history)


def pause_windows(history: list[Op]) -> list[tuple[str, int, int]]:
    """(node, from, to) of every pause that took effect: from the nemesis' report that the
    node was stopped (observed) to the invocation of its resume."""
    out, open_ = [], {}
    for op in history:
        if op.process != "nemesis":
            continue
        if op.f == "start-pause" and op.type == "info" and not op.error:
            open_[op.value["node"]] = op.time
        elif op.f == "stop-pause" and op.type == "invoke":
            for node, t in list(open_.items()):
                out.append((node, t, op.time))
                del open_[node]
    return out


def completed_while_paused(history: list[Op]) -> list[Op]:
    """Client ops that a paused node acknowledged inside its pause window (must be none).
    Ops that failed there are the clients giving up (their timeout shut the socket down,
    a connect to the port proxy was never answered), not the node answering."""
    windows = pause_windows(history)
    return [
        op
        for op in history
        if op.process != "nemesis" and op.type == "ok" and op.node is not None
        for node, a, b in windows
        if op.node == node and a < op.time < b
    ]
