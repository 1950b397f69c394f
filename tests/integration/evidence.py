"""Evidence that proves itself: a reported dependency cycle re-derived, edge by edge, from the
raw ops of the history (what the values read and appended show), so that an integration test
can tell a real finding from a checker's mistake."""

from __future__ import annotations

from typing import Any

from harness.history import Op


def reads_of(op: Op) -> dict[int, list[int]]:
    return {k: v for f, k, v in op.value if f == "r"}


_ADJACENT: dict[int, tuple[list[Op], dict[int, set[tuple[int, int]]]]] = {}
_OKS: dict[int, tuple[list[Op], dict[int, Op]]] = {}


def _oks(history: list[Op]) -> dict[int, Op]:
    """index -> op of every ok op (once per history)."""
    hit = _OKS.get(id(history))
    if hit is not None and hit[0] is history:
        return hit[1]
    out = {op.index: op for op in history if op.type == "ok"}
    _OKS.clear()
    _OKS[id(history)] = (history, out)
    return out


def _adjacent(history: list[Op]) -> dict[int, set[tuple[int, int]]]:
    """key -> every (x, y) that some committed read shows y right after x (once per history:
    a run with thousands of ww edges would otherwise scan the history for each)."""
    hit = _ADJACENT.get(id(history))
    if hit is not None and hit[0] is history:
        return hit[1]
    out: dict[int, set[tuple[int, int]]] = {}
    for op in history:
        if op.type == "ok" and op.f == "txn":
            for f, k, r in op.value:
                if f == "r" and r:
                    out.setdefault(k, set()).update(zip(r, r[1:], strict=False))
    _ADJACENT.clear()  # one history at a time
    _ADJACENT[id(history)] = (history, out)
    return out


def reads_all(op: Op, k: int) -> list[list[int]]:
    """Every read of key k in the transaction, in order."""
    return [list(v) for f, kk, v in op.value if f == "r" and kk == k]


def appends_of(op: Op) -> set[tuple[int, int]]:
    return {(k, v) for f, k, v in op.value if f == "append"}


def assert_edge(step: dict[str, Any], ops: dict[int, Op], history: list[Op]) -> None:
    """Re-derive one edge of a reported cycle from the ops themselves."""
    a, b, k, v = ops[step["op"]], ops[step["to"]], step["key"], step["value"]
    assert a.value == step["txn"], step
    if step["edge"] == "wr":  # b read a's append
        assert (k, v) in appends_of(a) and any(v in r for r in reads_all(b, k)), step
    elif step["edge"] == "rw":  # a read k without b's append (the read the edge names: a
        # transaction may read a key twice, and InnoDB's second read can differ)
        read = step.get("read", reads_of(a).get(k))
        assert (k, v) in appends_of(b) and read in reads_all(a, k) and v not in read, step
    else:  # ww: some read shows a's append right before b's
        assert step["edge"] == "ww", step
        nxt = step["next"]
        assert (k, v) in appends_of(a) and (k, nxt) in appends_of(b), step
        assert (v, nxt) in _adjacent(history).get(k, ()), step


def assert_cycle_proves_itself(anomaly: dict[str, Any], history: list[Op]) -> None:
    """The anomaly's cycle closes, and every edge of it re-derives from the ops."""
    ops = _oks(history)
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


def assert_lost_update_proves_itself(anomaly: dict[str, Any], history: list[Op]) -> None:
    """Two or more committed transactions read the key ending at the same element and each
    appended to it: one read-modify-write overwrote another it never saw."""
    ops = _oks(history)
    k, last = anomaly["data"]["key"], anomaly["data"]["read_last"]
    writers = [ops[int(i)] for i in anomaly["data"]["appends"]]
    assert len(writers) >= 2, anomaly
    for op in writers:
        mops = [(f, v) for f, kk, v in op.value if kk == k]
        first_append = next(i for i, (f, _) in enumerate(mops) if f == "append")
        before = [v for f, v in mops[:first_append] if f == "r"]  # read before its append
        assert before, (op.value, anomaly)
        assert (before[-1][-1] if before[-1] else None) == last, (op.value, anomaly)


def assert_internal_proves_itself(anomaly: dict[str, Any], history: list[Op]) -> None:
    """One committed transaction read a key, (maybe) appended to it, and read it again, and
    the second read is not the first plus its own appends: its view changed under it."""
    ops = _oks(history)
    (index,) = anomaly["ops"]
    txn = ops[index].value
    k = anomaly["data"]["key"]
    expected: list[int] | None = None  # what the next read of k must return
    for f, kk, v in txn:
        if kk != k:
            continue
        if f == "append":
            if expected is not None:
                expected.append(v)
        else:
            if expected is not None and list(v) != expected:
                return
            expected = list(v)
    raise AssertionError(f"op {index} read key {k} consistently: {txn} ({anomaly})")
