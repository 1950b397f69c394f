"""Set checker: lost writes, stale reads, unexpected and failed-but-visible elements.

History (workloads/set.py): "add" [k, v]; "read" [k, None] -> ok [k, [v...]];
"final-read" None -> ok [[k, [v...]], ...] from one node after the cluster healed.

Definitions (times are the history's ns):
- lost-write: an acknowledged add absent from every final read.
- stale-read: an ok read of key k that began after add v (same k) was acknowledged, and does
  not contain v, although v was not lost (a final read has it). Staleness: how long before the
  read began the earliest missing element had been acknowledged.
- unexpected: a read holds a value no add ever attempted (for that key).
- failed-add-visible: a read holds the value of an add that returned fail (it did take effect).
- read-then-lost: an add that was never acknowledged (indeterminate), yet a client's read
  returned it, is absent from every final read: a write others could see was then discarded
  (Jepsen's set-full counts an element as lost once any read saw it; acknowledged adds that
  are lost are lost-write).
- divergence: after healing, final reads from different nodes disagree about an element.
- recovered (stat, not an anomaly): indeterminate adds that the final reads contain.
- time_to_visibility_s (stat): quantiles, over acknowledged elements that survived, of how
  long after the acknowledgment a read could still miss the element.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness.checkers import shapes
from harness.history import FAIL, INFO, OK, Op, pairs
from harness.options import Option
from harness.verdict import Anomaly, Validity, Verdict


@dataclass(slots=True)
class _Add:
    key: Any
    value: Any
    invoke: Op
    done: Op | None  # None: never completed (indeterminate)

    @property
    def status(self) -> str:
        return self.done.type if self.done is not None else INFO


def _s(ns: int) -> str:
    return f"{ns / 1e9:.2f} s"


def _quantiles(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {}
    xs = sorted(xs)

    def q(p: float) -> float:
        return round(xs[min(len(xs) - 1, int(p * len(xs)))], 3)

    return {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": round(xs[-1], 3)}


NAME = "set"
OPTIONS: tuple[Option, ...] = ()
# the anomaly types its verdicts report (harness.checkers.anomalies_of: hunt and shrink targets)
ANOMALIES = ("lost-write", "stale-read", "divergence", "failed-add-visible", "unexpected")

Read = tuple[Op, Op, Any, list[Any]]  # invocation, completion, key, elements


def _elements(op: Op, vs: Any) -> list[Any]:
    if not isinstance(vs, list | tuple):
        raise shapes.bad(op, f"a read's elements must be a list, got {shapes.shown(vs)}")
    return [shapes.hashable(op, v, "an element") for v in vs]


def _read(op: Op) -> tuple[Any, list[Any]]:
    k, vs = shapes.pair(op, op.value, "[key [element...]]")
    return shapes.hashable(op, k, "a key"), _elements(op, vs)


def _final(op: Op) -> list[tuple[Any, list[Any]]]:
    if op.value is None:
        return []
    if not isinstance(op.value, list | tuple):
        raise shapes.bad(
            op, f"a final read is [[key [element...]]...], got {shapes.shown(op.value)}"
        )
    out = []
    for kv in op.value:
        k, vs = shapes.pair(op, kv, "[key [element...]] for each key")
        out.append((shapes.hashable(op, k, "a key"), _elements(op, vs)))
    return out


def check(history: list[Op], **options: Any) -> Verdict:
    shapes.read_options(NAME, OPTIONS, options)
    adds: dict[Any, _Add] = {}  # value -> add (values are unique across the run)
    reads: list[Read] = []
    finals: list[tuple[Op, Op, list[tuple[Any, list[Any]]]]] = []
    for inv, done in pairs(history):
        if inv.f == "add":
            k, v = shapes.pair(inv, inv.value)
            k = shapes.hashable(inv, k, "a key")
            v = shapes.hashable(inv, v, "an element")
            adds[v] = _Add(k, v, inv, done)
        elif inv.f == "read" and done is not None and done.type == OK:
            k, vs = _read(done)
            reads.append((inv, done, k, vs))
        elif inv.f == "final-read" and done is not None and done.type == OK:
            finals.append((inv, done, _final(done)))

    anomalies: list[Anomaly] = []
    stats: dict[str, Any] = {
        "adds": len(adds),
        "acknowledged": sum(a.status == OK for a in adds.values()),
        "failed": sum(a.status == FAIL for a in adds.values()),
        "indeterminate": sum(a.status == INFO for a in adds.values()),
        "reads": len(reads),
        "final_reads": len(finals),
    }

    # --- final reads: which node holds which element
    final_has: dict[Any, set[str]] = defaultdict(set)  # value -> nodes whose final read has it
    final_keys: dict[Any, set[Any]] = defaultdict(set)  # key -> values in any final read
    final_nodes: list[str] = []
    for inv, done, content in finals:
        node = done.node or inv.node or f"op{done.index}"
        final_nodes.append(node)
        for k, vs in content:
            for v in vs:
                final_has[v].add(node)
                final_keys[k].add(v)
    final_idx = [done.index for _, done, _ in finals]

    # --- elements seen by reads (value -> first read that saw it, and its key)
    first_seen: dict[Any, Op] = {}
    seen_key: dict[int, Any] = {}  # read completion index -> key read (None: a final read)
    for _inv, done, k, vs in reads:
        seen_key[done.index] = k
        for v in vs:
            if v not in first_seen or done.time < first_seen[v].time:
                first_seen[v] = done
    for _inv, done, content in finals:
        for _k, vs in content:
            for v in vs:
                first_seen.setdefault(v, done)

    # --- unexpected and failed-but-visible
    for v, seen in sorted(first_seen.items(), key=lambda kv: kv[1].index):
        add = adds.get(v)
        k = seen_key.get(seen.index)
        if add is None or (k is not None and add.key != k):
            anomalies.append(
                Anomaly(
                    "unexpected",
                    [seen.index],
                    f"read at {_s(seen.time)} (op {seen.index}) returned {v!r}, which no add ever wrote"
                    + (f" to key {k}" if k is not None else ""),
                    {"value": v},
                )
            )
        elif add.status == FAIL:
            anomalies.append(
                Anomaly(
                    "failed-add-visible",
                    [add.invoke.index, add.done.index, seen.index],  # type: ignore[union-attr]
                    f"add of {v} to key {add.key} failed at {_s(add.done.time)} "  # type: ignore[union-attr]
                    f"(op {add.done.index}) but a read at {_s(seen.time)} (op {seen.index}) "  # type: ignore[union-attr]
                    "contains it: the failure was reported for a write that took effect",
                    {"value": v, "key": add.key},
                )
            )

    # --- lost writes and divergence
    notes: list[str] = []
    valid_unknown = False
    if not adds and not reads and not finals:
        valid_unknown = True
        notes.append("no add or read op in the history: nothing to check")
    elif not finals:
        valid_unknown = True
        notes.append("no final read succeeded, so lost writes cannot be decided")
    else:
        for v, add in adds.items():
            if add.status == OK and v not in final_has:
                saw = first_seen.get(v)
                was = (
                    f"; it had been visible to a read at {_s(saw.time)} (op {saw.index})"
                    if saw is not None
                    else ""
                )
                anomalies.append(
                    Anomaly(
                        "lost-write",
                        [add.invoke.index, add.done.index, *final_idx],  # type: ignore[union-attr]
                        f"add of {v} to key {add.key} acknowledged at {_s(add.done.time)}"  # type: ignore[union-attr]
                        f"{f' by {add.done.node}' if add.done.node else ''} (op {add.done.index}) "  # type: ignore[union-attr]
                        f"is missing from every final read after the cluster healed{was}",
                        {"value": v, "key": add.key, "acknowledged_s": add.done.time / 1e9},  # type: ignore[union-attr]
                    )
                )
        for v, add in adds.items():
            saw = first_seen.get(v)
            if add.status == INFO and v not in final_has and saw is not None:
                anomalies.append(
                    Anomaly(
                        "read-then-lost",
                        [add.invoke.index, saw.index, *final_idx],
                        f"add of {v} to key {add.key} (op {add.invoke.index}, never acknowledged) "
                        f"was returned by a read at {_s(saw.time)}"
                        f"{f' on {saw.node}' if saw.node else ''} (op {saw.index}), and is "
                        "missing from every final read after the cluster healed: a write "
                        "that others could see was discarded",
                        {"value": v, "key": add.key, "seen_s": saw.time / 1e9},
                    )
                )
        n_final = set(final_nodes)
        for v, nodes in final_has.items():
            if nodes != n_final:
                absent = sorted(n_final - nodes)
                anomalies.append(
                    Anomaly(
                        "divergence",
                        final_idx,
                        f"after healing, the final reads of {', '.join(sorted(nodes))} contain {v!r} "
                        f"but those of {', '.join(absent)} do not: the nodes did not converge",
                        {"value": v, "has": sorted(nodes), "missing": absent},
                    )
                )
        stats["recovered"] = sum(1 for v, a in adds.items() if a.status == INFO and v in final_has)
        stats["lost"] = sum(1 for a in anomalies if a.type == "lost-write")
        stats["read_then_lost"] = sum(1 for a in anomalies if a.type == "read-then-lost")

    # --- stale reads (only elements that were not lost: a lost one is reported as lost)
    acked_by_key: dict[Any, list[_Add]] = defaultdict(list)
    for add in adds.values():
        if add.status == OK:
            acked_by_key[add.key].append(add)
    for lst in acked_by_key.values():
        lst.sort(key=lambda a: a.done.time)  # type: ignore[union-attr]
    survived = set(final_has) if finals else set(first_seen)
    windows: dict[Any, int] = {}  # value -> last time a read that should have seen it missed it
    stalest = 0
    for inv, done, k, vs in reads:
        have = set(vs)
        missing: list[_Add] = []
        for add in acked_by_key.get(k, ()):
            if add.done.time >= inv.time:  # type: ignore[union-attr]
                break
            if add.value not in have and add.value in survived:
                missing.append(add)
                windows[add.value] = max(windows.get(add.value, 0), done.time - add.done.time)  # type: ignore[union-attr]
        if missing:
            oldest = missing[0]
            staleness = inv.time - oldest.done.time  # type: ignore[union-attr]
            stalest = max(stalest, staleness)
            shown = ", ".join(str(a.value) for a in missing[:5]) + (
                " ..." if len(missing) > 5 else ""
            )
            anomalies.append(
                Anomaly(
                    "stale-read",
                    [inv.index, done.index, oldest.done.index],  # type: ignore[union-attr]
                    f"read of key {k} began at {_s(inv.time)}{f' on {done.node}' if done.node else ''} "
                    f"(op {done.index}) and missed {len(missing)} acknowledged add(s) ({shown}); "
                    f"the oldest, {oldest.value}, was acknowledged at {_s(oldest.done.time)} "  # type: ignore[union-attr]
                    f"(op {oldest.done.index}): at least {staleness / 1e9:.2f} s stale",  # type: ignore[union-attr]
                    {
                        "key": k,
                        "missing": [a.value for a in missing],
                        "staleness_s": staleness / 1e9,
                    },
                )
            )
    stats["stale_reads"] = sum(1 for a in anomalies if a.type == "stale-read")
    stats["max_staleness_s"] = round(stalest / 1e9, 3)
    # time-to-visibility: per acknowledged element that survived, how long after its
    # acknowledgment a read could still miss it (0 when no later read missed it)
    stats["time_to_visibility_s"] = _quantiles(
        [
            windows.get(a.value, 0) / 1e9
            for lst in acked_by_key.values()
            for a in lst
            if a.value in survived
        ]
    )

    valid: Validity = not anomalies
    if valid and valid_unknown:
        valid = "unknown"
    return Verdict(NAME, valid, anomalies, stats, notes)
