"""Conflict accounting for peer-to-peer (multi-primary) runs: what concurrent writes through
different nodes cost, in four counts, each with a one-line explanation.

Pure: `account(history, verdicts)` reads the history and the checkers' verdict dicts (as in
verdict.json: {"checkers": {name: {...}}} or directly {name: {...}}) and never does I/O.

- certification_rejects: writes that ended `fail` with a deadlock error (MariaDB error 1213:
  a certification failure at COMMIT, or a brute-force abort by a replicated writeset, or an
  ordinary local deadlock — the error does not tell them apart). The database refused them;
  the client was told. Read-only ops rejected the same way are counted apart.
- lost_updates: the list-append checker's `lost-update` findings (two committed transactions
  read the same version of a key and both appended to it).
- g_single / g2: the list-append checker's read-skew (G-single) and write-skew (G2-item)
  cycles, including their -realtime and -process variants (counted separately in `by_type`).
- lost_acknowledged_writes: the set checker's lost writes (acknowledged, missing from every
  final read after healing).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from harness.history import FAIL, Op, pairs

DEADLOCK = re.compile(r"\b1213\b|deadlock", re.IGNORECASE)
READ_FS = frozenset({"read", "final-read"})
G_SINGLE = ("G-single", "G-single-realtime", "G-single-process")
G2 = (
    "G2-item",
    "G2-item-realtime",
    "G2-item-process",
    "G-nonadjacent",  # a special case of G2-item (no two rw edges adjacent: long fork)
    "G-nonadjacent-realtime",
    "G-nonadjacent-process",
)


def _is_write(inv: Op) -> bool:
    if inv.f in READ_FS:
        return False
    if inv.f == "txn" and isinstance(inv.value, list):
        return any(isinstance(m, list | tuple) and m and m[0] != "r" for m in inv.value)
    return True


def _checkers(verdicts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    inner = verdicts.get("checkers")
    found = inner if isinstance(inner, dict) else verdicts
    return {k: v for k, v in found.items() if isinstance(v, dict)}


def _anomalies(v: dict[str, Any] | None, types: tuple[str, ...]) -> list[dict[str, Any]]:
    if not v:
        return []
    return [a for a in _anomaly_dicts(v) if a.get("type") in types]


def _count(v: dict[str, Any] | None, types: tuple[str, ...]) -> dict[str, int]:
    """Per-type counts from the verdict's `counts` (complete even when anomalies were capped)."""
    if not v:
        return {}
    counts = v.get("counts")
    if not isinstance(counts, dict) or not counts:
        counts = Counter(a.get("type") for a in _anomaly_dicts(v))
    return {t: int(counts[t]) for t in types if isinstance(counts.get(t), int) and counts[t]}


def _anomaly_dicts(v: dict[str, Any]) -> list[dict[str, Any]]:
    found = v.get("anomalies")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def account(history: list[Op], verdicts: dict[str, Any]) -> dict[str, Any]:
    rejected: list[tuple[Op, Op]] = []
    rejected_reads = 0
    writes = 0
    for inv, done in pairs(history):
        if inv.process == "nemesis":
            continue
        write = _is_write(inv)
        writes += write
        # the error is text as the harness records it; a history from elsewhere may hold a code
        error = "" if done is None or done.error is None else str(done.error)
        if done is None or done.type != FAIL or not DEADLOCK.search(error):
            continue
        if write:
            rejected.append((inv, done))
        else:
            rejected_reads += 1
    by_node = Counter(done.node or inv.node or "?" for inv, done in rejected)

    checkers = _checkers(verdicts)
    append = checkers.get("list-append")
    sets = checkers.get("set")
    lost_update = _count(append, ("lost-update",))
    g_single = _count(append, G_SINGLE)
    g2 = _count(append, G2)
    lost_writes = (
        int(
            sets.get("stats", {}).get("lost", 0)
            or _count(sets, ("lost-write",)).get("lost-write", 0)
        )
        if sets
        else 0
    )

    def example(v: dict[str, Any] | None, types: tuple[str, ...]) -> str | None:
        found = _anomalies(v, types)
        return found[0].get("explanation") if found else None

    first = rejected[0] if rejected else None
    out: dict[str, Any] = {
        "certification_rejects": {
            "count": len(rejected),
            "of_writes": writes,
            "by_node": dict(sorted(by_node.items())),
            "reads_rejected": rejected_reads,
            "explanation": (
                f"{len(rejected)} of {writes} writes were refused with a deadlock error (1213): "
                "a certification conflict with a write that another node committed first "
                "(or a local deadlock); the clients were told, nothing was lost"
                + (
                    f" — e.g. op {first[1].index} on {first[1].node or '?'} at "
                    f"{first[1].time / 1e9:.2f} s"
                    if first
                    else ""
                )
            ),
            "ops": [done.index for _, done in rejected[:20]],
        },
        "lost_updates": {
            "count": sum(lost_update.values()),
            "explanation": (
                f"{sum(lost_update.values())} lost update(s): two committed transactions read "
                "the same version of a key and both appended to it, so one overwrote the other "
                "unseen" + (f" — e.g. {example(append, ('lost-update',))}" if lost_update else "")
            )
            if append
            else "not measured (no list-append verdict in this run)",
        },
        "g_single": {
            "count": sum(g_single.values()),
            "by_type": g_single,
            "explanation": (
                f"{sum(g_single.values())} read-skew cycle(s) (G-single): a transaction missed "
                "a write that another transaction it depends on had seen"
                + (f" — e.g. {example(append, G_SINGLE)}" if g_single else "")
            )
            if append
            else "not measured (no list-append verdict in this run)",
        },
        "g2": {
            "count": sum(g2.values()),
            "by_type": g2,
            "explanation": (
                f"{sum(g2.values())} write-skew cycle(s) (G2-item): transactions each missed "
                "the other's write" + (f" — e.g. {example(append, G2)}" if g2 else "")
            )
            if append
            else "not measured (no list-append verdict in this run)",
        },
        "lost_acknowledged_writes": {
            "count": lost_writes,
            "explanation": (
                f"{lost_writes} acknowledged write(s) missing from every final read after "
                "the cluster healed"
                + (f" — e.g. {example(sets, ('lost-write',))}" if lost_writes else "")
            )
            if sets
            else "not measured (no set verdict in this run)",
        },
    }
    return out
