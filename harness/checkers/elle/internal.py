"""Anomalies inside one transaction (Elle's `internal`, and the future read).

A read of a key the transaction already touched must match what that earlier operation
implies: the same list as its last read, plus its own appends since. Only transactions that
touch some key twice can have these, so the scan hands us just those.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from harness.checkers.elle.anomalies import KINDS
from harness.checkers.elle.scan import Txn
from harness.checkers.elle.text import fmt

Finding = tuple[str, list[int], str, dict[str, Any]]  # type, ops, explanation, data


def internal_findings(t: Txn) -> list[Finding]:
    out: list[Finding] = []
    # A read can hold a value appended later only if it comes before an append to its key.
    later: dict[Hashable, set[Any]] = {}
    read: set[Hashable] = set()
    for f, k, _ in t.mops:
        if f == "r":
            read.add(k)
        elif k in read:
            for f2, k2, v2 in t.mops:
                if f2 == "append":
                    later.setdefault(k2, set()).add(v2)
            break
    # key -> (the whole list is known, the expected list or own suffix, last read or None,
    #         own appends since that read)
    state: dict[Hashable, tuple[bool, list[Any], list[Any] | None, list[Any]]] = {}
    for f, k, v in t.mops:
        if f == "append":
            known, vals, last_read, mine = state.get(k, (False, [], None, []))
            state[k] = (known, vals + [v], last_read, mine + [v])
            if later:
                later[k].discard(v)
            continue
        r = v if v is not None else []
        fut = later.get(k)
        if fut and not fut.isdisjoint(r):
            seen = [x for x in r if x in fut]
            out.append(
                (
                    "future-read",
                    [t.op],
                    f"op {t.op} read key {k} = {fmt(r)}, which already holds {fmt(seen)} "
                    f"that the same transaction appends only later: "
                    f"{KINDS['future-read'].template}",
                    {"key": k, "read": r, "values": seen, "txn": t.mops},
                )
            )
        st = state.get(k)
        if st is not None:
            known, vals, last_read, mine = st
            # an unknown prefix (no earlier read): the read must at least end with own appends
            good = r == vals if known else r[len(r) - len(vals) :] == vals and len(r) >= len(vals)
            if not good:
                out.append(("internal", [t.op], _explain(t, k, r, st), _data(t, k, r, st)))
        state[k] = (True, r, r, [])
    return out


def _explain(t: Txn, k: Hashable, r: list[Any], st: tuple) -> str:
    known, vals, last_read, mine = st
    head = f"op {t.op} read key {k} = {fmt(r)}"
    tail = KINDS["internal"].template
    if not mine:  # nothing of its own since: two reads of one key disagree
        return (
            f"{head}, but an earlier read of {k} in the same transaction returned "
            f"{fmt(last_read)}: {tail}"
        )
    own = f"its own earlier append of {fmt(mine)}"
    if known:
        return f"{head}, but its earlier read {fmt(last_read)} and {own} imply {fmt(vals)}: {tail}"
    return f"{head}, which does not end with {own} to that key: it missed its own write: {tail}"


def _data(t: Txn, k: Hashable, r: list[Any], st: tuple) -> dict[str, Any]:
    known, vals, last_read, mine = st
    return {
        "key": k,
        "read": r,
        "expected": vals,
        "prefix_unknown": not known,
        "earlier_read": last_read,
        "own_appends": mine,
        "txn": t.mops,
    }
