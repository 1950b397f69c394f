"""Conflicts checker: acknowledged writes silently lost to last-write-wins.

History (workloads/conflicts.py): "write" [k, v] with unique v; "final-read" None ->
ok [[k, v], ...] after the cluster healed (one per reachable node).

Definition. For a key k whose final read returns v, let W2 be the write of v. If W2 was
acknowledged (ok), every ok write W1 of k that was *invoked after W2 was acknowledged*
(W2's completion precedes W1's invocation in the history) is strictly newer than W2 in real
time; a database that orders writes by real time must end with W1 or a later write, never
W2. Finding W2 means W1 was acknowledged and then silently discarded in favour of an older
write: anomaly `lost-to-lww` (Cassandra: W1's client timestamp was lower, e.g. a skewed
client clock). Writes that overlap W2 in time are not anomalies (either order is allowed);
they are counted as `overwritten_concurrent` in stats.

Also:
- failed-write-visible: the final value is a write that returned fail (it took effect).
- unexpected-value: the final value was never written.
- divergence (note + stat): final reads from different nodes disagree on a key; each final
  read is judged on its own.
Valid: false with any anomaly, "unknown" without an ok final read, else true.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness.checkers import shapes
from harness.history import FAIL, OK, Op, pairs
from harness.options import Option
from harness.verdict import Anomaly, Verdict

NAME = "conflicts"
OPTIONS: tuple[Option, ...] = ()
# the anomaly types its verdicts report (harness.checkers.anomalies_of: hunt and shrink targets)
ANOMALIES = ("lost-to-lww", "failed-write-visible", "unexpected-value")


@dataclass(slots=True)
class _Write:
    key: Any
    value: Any
    invoke: Op
    done: Op | None

    @property
    def status(self) -> str:
        return self.done.type if self.done is not None else "info"


def _final_pairs(op: Op) -> list[tuple[Any, Any]]:
    """A final read's [[k v]...] (or {k: v}), keys and values usable as dict keys."""
    value = op.value
    if value is None:
        return []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list | tuple):
        items = [shapes.pair(op, kv, "[key value] for each key") for kv in value]
    else:
        raise shapes.bad(op, f"a final read is [[key value]...], got {shapes.shown(value)}")
    return [(shapes.hashable(op, k, "a key"), shapes.hashable(op, v, "a value")) for k, v in items]


def _write(op: Op) -> tuple[Any, Any]:
    k, v = shapes.pair(op, op.value)
    return shapes.hashable(op, k, "a key"), shapes.hashable(op, v, "a value")


def check(history: list[Op], **options: Any) -> Verdict:
    shapes.read_options(NAME, OPTIONS, options)
    writes: dict[Any, _Write] = {}
    by_key: dict[Any, list[_Write]] = defaultdict(list)
    finals: list[tuple[Op, Op, list[tuple[Any, Any]]]] = []
    for inv, done in pairs(history):
        if inv.f == "write":
            k, v = _write(inv)
            w = _Write(k, v, inv, done)
            writes[v] = w
            by_key[k].append(w)
        elif inv.f == "final-read" and done is not None and done.type == OK:
            finals.append((inv, done, _final_pairs(done)))

    anomalies: list[Anomaly] = []
    seen: set[tuple[str, Any, Any]] = set()
    final_values: dict[Any, set[Any]] = defaultdict(set)
    concurrent: set[Any] = set()

    def add(
        kind: str, key: tuple[str, Any, Any], ops: list[int], text: str, data: dict[str, Any]
    ) -> None:
        if key not in seen:
            seen.add(key)
            anomalies.append(Anomaly(kind, ops, text, data))

    for _inv, fin, content in finals:
        node = f" by {fin.node}" if fin.node else ""
        at = f"{fin.time / 1e9:.2f} s{node}"
        for k, v in content:
            final_values[k].add(v)
            if v is None:
                continue
            w2 = writes.get(v)
            if w2 is None or w2.key != k:
                add(
                    "unexpected-value",
                    ("u", k, v),
                    [fin.index],
                    f"the final read at {at} returns {v!r} for key {k!r}, which no write of that key wrote",
                    {"key": k},
                )
                continue
            if w2.status == FAIL:
                add(
                    "failed-write-visible",
                    ("f", k, v),
                    [w2.invoke.index, w2.done.index, fin.index],  # type: ignore[union-attr]
                    f"write of {v!r} to key {k!r} returned fail, yet the final read at {at} returns it",
                    {"key": k},
                )
                continue
            if w2.status != OK:
                continue  # an indeterminate winner has no completion time to order against
            assert w2.done is not None
            for w1 in by_key[k]:
                if w1 is w2 or w1.status != OK:
                    continue
                assert w1.done is not None
                if w1.invoke.index > w2.done.index:
                    gap = (w1.invoke.time - w2.done.time) / 1e9
                    add(
                        "lost-to-lww",
                        ("l", k, w1.value),
                        [w1.invoke.index, w1.done.index, w2.invoke.index, w2.done.index, fin.index],
                        f"write of {w1.value!r} to key {k!r}, acknowledged at {w1.done.time / 1e9:.2f} s, "
                        f"was invoked {gap:.3f} s after write of {v!r} was acknowledged, yet the final "
                        f"read at {at} returns {v!r}: the newer acknowledged write was silently "
                        f"discarded for an older one (last-write-wins)",
                        {"key": k, "lost": w1.value, "winner": v, "gap_s": round(gap, 6)},
                    )
                elif w1.done.index > w2.invoke.index:
                    concurrent.add(w1.value)

    divergent = sorted((k for k, vs in final_values.items() if len(vs) > 1), key=repr)
    notes = []
    if not writes and not any(inv.f == "final-read" for inv, _ in pairs(history)):
        notes.append("no write or final-read op in the history: nothing to check")
    if divergent:
        notes.append(f"final reads disagree on {len(divergent)} key(s), e.g. {divergent[0]!r}")
    if not finals:
        notes.append("no final read completed ok: nothing to check")
    acknowledged = sum(w.status == OK for w in writes.values())
    return Verdict(
        checker=NAME,
        valid=(not anomalies) if finals else "unknown",
        anomalies=anomalies,
        stats={
            "writes": len(writes),
            "acknowledged": acknowledged,
            "keys": len(by_key),
            "final_reads": len(finals),
            "lost_to_lww": sum(a.type == "lost-to-lww" for a in anomalies),
            "overwritten_concurrent": len(concurrent),
            "divergent_keys": len(divergent),
        },
        notes=notes,
    )
