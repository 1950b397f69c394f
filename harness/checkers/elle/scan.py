"""One pass over a history: pair invocations with completions, check each transaction's shape,
and index what the later stages need (who appended what, every external read).

A transaction is an op with f "txn" (or, for histories without f, a value that looks like
micro-ops) whose value is a list of [f k v] triples: ["append", k, v] with a scalar v unique
per key, ["r", k, [v...]] (None on an invocation; on an ok completion None means empty).
Anything else in such an op is a HistoryError naming the op index and the problem: the later
stages index dicts by keys and values, and a list there must not surface as a TypeError.

This loop is the checker's hot path (a million transactions), hence one flat function.
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HistoryError
from harness.history import FAIL, INFO, INVOKE, NEMESIS, OK, Op

# bool is an int; None is not a value an append can write.
SCALARS = frozenset((str, int, float, bool))
FUNCTIONS = ("append", "r")


class Txn:
    __slots__ = ("id", "inv", "done", "type", "mops")

    def __init__(self, id: int, inv: Op, done: Op | None, type: str, mops: list[Any]) -> None:
        self.id, self.inv, self.done, self.type, self.mops = id, inv, done, type, mops

    @property
    def op(self) -> int:
        """The op index that stands for this txn: its completion, else its invocation."""
        return self.done.index if self.done is not None else self.inv.index

    def appends(self, k: Hashable) -> list[Any]:
        return [v for f, kk, v in self.mops if f == "append" and kk == k]

    def all_appends(self) -> dict[Hashable, list[Any]]:
        out: dict[Hashable, list[Any]] = {}
        for f, k, v in self.mops:
            if f == "append":
                out.setdefault(k, []).append(v)
        return out

    def ext_reads(self) -> dict[Hashable, list[Any]]:
        """Reads of keys this txn had not touched before (what it saw of others' writes)."""
        out: dict[Hashable, list[Any]] = {}
        touched: set[Hashable] = set()
        for f, k, v in self.mops:
            if f == "r" and k not in touched and self.type == OK:
                out[k] = v if v is not None else []
            touched.add(k)
        return out


@dataclass
class Scan:
    txns: list[Txn] = field(default_factory=list)
    writer: dict[Hashable, dict[Any, int]] = field(default_factory=dict)  # ok + info appends
    failed: dict[Hashable, dict[Any, int]] = field(default_factory=dict)  # fail appends
    # key -> [(txn id, read)] for every external read of an ok txn (empty reads included)
    reads: dict[Hashable, list[tuple[int, list[Any]]]] = field(default_factory=dict)
    # key -> [(txn id, read)] for the non-empty reads of keys an ok txn had touched before:
    # they too are prefixes of the version order, but prove no dependency on another txn
    inner_reads: dict[Hashable, list[tuple[int, list[Any]]]] = field(default_factory=dict)
    # key -> {value: that txn's final value}: non-final appends of txns appending k twice
    intermediate: dict[Hashable, dict[Any, Any]] = field(default_factory=dict)
    multi: list[tuple[int, Hashable]] = field(default_factory=list)  # (txn, key) appended twice+
    rmw: list[tuple[int, Hashable, list[Any]]] = field(default_factory=list)  # read, then append
    repeats: list[int] = field(default_factory=list)  # ok txns touching some key twice
    info: list[int] = field(default_factory=list)  # indeterminate txns
    # History order of invocations (2 * pair) and completions (2 * pair + 1) of the
    # invocation/completion pairs, and each pair's txn id (-1: not a txn), for order edges
    events: array = field(default_factory=lambda: array("q"))
    tid_of_pair: array = field(default_factory=lambda: array("q"))
    reused: int = 0  # appends of a value already appended to the same key
    skipped: int = 0  # ops that are not list-append txns
    # info txns known (from outside a focused scan) to have taken effect
    proven: set[int] = field(default_factory=set)


def _show(x: Any, limit: int = 60) -> str:
    try:
        s = repr(x)
    except RecursionError:  # a list nested thousands deep
        return f"a deeply nested {type(x).__name__}"
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _bad(op: Op, problem: str) -> HistoryError:
    return HistoryError(f"op {op.index}: {problem}")


def _looks_like_txn(value: Any) -> bool:
    """For ops without f "txn" (Elle histories may lack :f): micro-op shaped values only."""
    if not isinstance(value, list | tuple) or not value:
        return False
    m = value[0]
    return isinstance(m, list | tuple) and len(m) > 0 and m[0] in FUNCTIONS


def _check_mop(op: Op, value: list[Any], m: Any) -> None:
    """Raise the HistoryError for a malformed micro-op m of value (the slow path of scan())."""
    i = next(j for j, x in enumerate(value) if x is m)
    if not isinstance(m, list | tuple) or len(m) != 3:
        raise _bad(op, f"micro-op {i} is not an [f k v] triple: {_show(m)}")
    f, k, v = m
    if f not in FUNCTIONS:
        raise _bad(op, f"micro-op {i} has function {_show(f)}; list-append has append and r")
    if type(k) not in SCALARS:
        raise _bad(op, f"micro-op {i}: key {_show(k)} is not a scalar")
    if f == "append":
        if type(v) not in SCALARS:
            raise _bad(op, f"append to key {_show(k)} of a non-scalar value: {_show(v)}")
    elif v is not None:
        if not isinstance(v, list | tuple):
            raise _bad(op, f"read of key {_show(k)} is not a list: {_show(v)}")
        for x in v:
            if type(x) not in SCALARS:
                raise _bad(op, f"read of key {_show(k)} holds a non-scalar element: {_show(x)}")
    raise AssertionError(f"micro-op {m!r} is well-formed")  # the fast path disagreed: a bug


def _lists(value: Any) -> list[Any]:
    """A copy of a txn value with tuples (from a programmatic caller) turned into lists."""
    out = []
    for m in value:
        if isinstance(m, tuple):
            m = list(m)
        if isinstance(m, list) and len(m) == 3 and isinstance(m[2], tuple):
            m = [m[0], m[1], list(m[2])]
        out.append(m)
    return out


def _parse(src: Op, value: list[Any]) -> tuple[list[Any], list[Any], list[Any], list[Any] | None]:
    """(mops, [(k, v)] appends, [(k, read)] external reads, [(k, read)] reads of keys it had
    touched before, or None if it touches no key twice) of one txn."""
    scalars = SCALARS
    issuperset = scalars.issuperset
    apps: list[tuple[Any, Any]] = []
    exts: list[tuple[Any, list[Any]]] = []
    touched: list[Any] = []
    inner: list[tuple[Any, list[Any]]] | None = None
    for m in value:
        if type(m) is not list or len(m) != 3:
            if isinstance(m, tuple):
                return _parse(src, _lists(value))
            _check_mop(src, value, m)
        f, k, v = m
        if type(k) not in scalars:
            _check_mop(src, value, m)
        seen = k in touched
        if seen and inner is None:
            inner = []
        if f == "append":
            if type(v) not in scalars:
                _check_mop(src, value, m)
            apps.append((k, v))
        elif f == "r":
            if v is None:
                v = []
            elif type(v) is not list:
                if isinstance(v, tuple):
                    return _parse(src, _lists(value))
                _check_mop(src, value, m)
            if not issuperset(map(type, v)):
                _check_mop(src, value, m)
            if not seen:
                exts.append((k, v))
            elif inner is not None:
                inner.append((k, v))
        else:
            _check_mop(src, value, m)
        touched.append(k)
    return value, apps, exts, inner


def _pair(history: list[Op], pairs: list, pending: dict, note: Any) -> None:
    """Invocations in history order, each with its completion (a process has at most one
    op outstanding, Jepsen's rule); note(2 * pair number [+1 for a completion])."""
    for op in history:
        p = op.process
        if p == NEMESIS:
            continue
        if op.type == INVOKE:
            pnum = len(pairs)
            pending[p] = pair = [op, None, pnum]
            if note is not None:
                note(2 * pnum)
            pairs.append(pair)
        else:
            done_pair = pending.pop(p, None)
            if done_pair is not None:
                done_pair[1] = op
                if note is not None:
                    note(2 * done_pair[2] + 1)


def scan(
    history: list[Op],
    events: bool = False,
    tids: list[int] | None = None,
    n: int = 0,
    only: set[Any] | None = None,
) -> Scan:
    """events=True also records the history order of txns for real-time / process edges.

    A focused scan (of a part of a history the native core chose: listappend.check_native)
    gives its i-th txn the id tids[i] in a list of n slots (None where a txn was left out),
    and indexes only the micro-ops on the keys in `only` (a txn's value stays whole)."""
    s = Scan()
    if tids is not None:
        s.txns = [None] * n  # type: ignore[list-item]
    txns, writer, failed, reads = s.txns, s.writer, s.failed, s.reads
    pairs: list[list[Any]] = []  # [invocation, completion or None, pair number]
    pending: dict[Any, list[Any]] = {}
    note = s.events.append if events else None
    try:
        _pair(history, pairs, pending, note)
    except TypeError:  # an unhashable process; find it to name it
        bad = next(op for op in history if not isinstance(op.process, Hashable))
        raise _bad(bad, f"process is not a scalar: {_show(bad.process)}") from None
    tid_of_pair = None
    if events:
        tid_of_pair = s.tid_of_pair = array("q", [-1]) * len(pairs)
    multi, rmw, repeats, inner_reads = s.multi, s.rmw, s.repeats, s.inner_reads
    new_txn = txns.append
    placed = 0
    for inv, done, pnum in pairs:
        typ = done.type if done is not None else INFO
        src = done if typ == OK and done.value is not None else inv
        value = src.value
        if inv.f != "txn" and not _looks_like_txn(value):
            s.skipped += 1
            continue
        if type(value) is not list:
            if not isinstance(value, tuple):
                raise _bad(src, f"txn value is not a list of micro-ops: {_show(value)}")
            value = list(value)
        mops, apps, exts, inner = _parse(src, value)
        if tids is None:
            tid = len(txns)
            new_txn(Txn(tid, inv, done, typ, mops))
        else:
            tid = tids[placed]
            placed += 1
            txns[tid] = Txn(tid, inv, done, typ, mops)
            if only is not None:
                apps = [a for a in apps if a[0] in only]
                exts = [x for x in exts if x[0] in only]
                if inner is not None:
                    inner = [x for x in inner if x[0] in only]
        if tid_of_pair is not None:
            tid_of_pair[pnum] = tid
        ok = typ == OK
        if typ == INFO:
            s.info.append(tid)
        if apps:
            idx = failed if typ == FAIL else writer
            keys: list[Any] = []
            for k, v in apps:
                d = idx.get(k)
                if d is None:
                    d = idx[k] = {}
                if v in d or (idx is writer and k in failed and v in failed[k]):
                    s.reused += 1
                d[v] = tid
                if k in keys:
                    if typ != FAIL and (not multi or multi[-1] != (tid, k)):
                        multi.append((tid, k))
                else:
                    keys.append(k)
            if ok:
                for k, v in exts:
                    if k in keys:
                        rmw.append((tid, k, v))
        if ok:
            for k, v in exts:
                rs = reads.get(k)
                if rs is None:
                    reads[k] = [(tid, v)]
                else:
                    rs.append((tid, v))
            if inner is not None:
                repeats.append(tid)
                for k, v in inner:
                    if v:
                        inner_reads.setdefault(k, []).append((tid, v))
    for tid, k in s.multi:
        mine = txns[tid].appends(k)
        inter = s.intermediate.setdefault(k, {})
        for v in mine[:-1]:
            inter[v] = mine[-1]
    return s


__all__ = ["FAIL", "INFO", "OK", "Scan", "Txn", "scan"]
