"""Cycle evidence in words: each edge re-derived from the reads and appends that prove it."""

from __future__ import annotations

from typing import Any

from harness.checkers.elle.anomalies import KINDS
from harness.checkers.elle.cycles import Cycle
from harness.checkers.elle.edges import LooseEvidence
from harness.checkers.elle.graph import EDGE_NAMES, PROC, RT, RW, WR, WW
from harness.checkers.elle.scan import Scan
from harness.checkers.elle.text import fmt
from harness.checkers.elle.versions import Versions
from harness.verdict import Anomaly


class Explainer:
    def __init__(self, s: Scan, ver: Versions, loose: LooseEvidence) -> None:
        self.s, self.ver, self.loose = s, ver, loose

    def edge(self, a: int, b: int, kind: int, la: str, lb: str) -> tuple[str, dict]:
        ta, tb = self.s.txns[a], self.s.txns[b]
        ev: dict[str, Any] = {"op": ta.op, "txn": ta.mops, "edge": EDGE_NAMES[kind], "to": tb.op}
        text = None
        if kind == WW:
            text = self._ww(a, b, la, lb, ev)
        elif kind == WR:
            for k, r in tb.ext_reads().items():
                if r and self.s.writer.get(k, {}).get(r[-1]) == a:
                    ev.update(key=k, value=r[-1], read=r)
                    text = f"{la} appended {r[-1]} to key {k}, which {lb} read: {fmt(r)} (wr)"
                    break
        elif kind == RW:
            text = self._rw(a, b, la, lb, ev)
        elif kind == RT:
            when_a = f" at {ta.done.seconds:.3f} s" if ta.done and ta.done.time >= 0 else ""
            when_b = f" at {tb.inv.seconds:.3f} s" if tb.inv.time >= 0 else ""
            text = f"{la} completed{when_a} before {lb} was invoked{when_b} (realtime)"
        elif kind == PROC:
            ev["process"] = tb.inv.process
            text = f"{la} and then {lb} ran on process {tb.inv.process} (process order)"
        if text is None:
            text = self._loose(a, b, kind, la, lb, ev)
        return text or f"{la} -> {lb} ({EDGE_NAMES[kind]})", ev

    def _ww(self, a: int, b: int, la: str, lb: str, ev: dict) -> str | None:
        ta, tb = self.s.txns[a], self.s.txns[b]
        mine, theirs = ta.all_appends(), tb.all_appends()
        for k in mine:
            if k not in theirs:
                continue
            pos, order = self.ver.pos.get(k), self.ver.order.get(k)
            if pos is None or order is None:
                continue
            w = self.s.writer.get(k, {})
            for v in theirs[k]:
                p = pos.get(v)
                if p:
                    prev = order[p - 1]
                    if w.get(prev) == a:
                        ev.update(key=k, value=prev, next=v)
                        return (
                            f"{la} appended {prev} to key {k} and {lb} appended {v} right "
                            "after it (ww)"
                        )
                elif p is None and order and w.get(order[-1]) == a:
                    ev.update(key=k, value=order[-1], next=v)
                    return (
                        f"{la} appended {order[-1]} to key {k}, the last value any read saw, "
                        f"so {lb}'s committed append of {v} came after it (ww)"
                    )
        return None

    def _rw(self, a: int, b: int, la: str, lb: str, ev: dict) -> str | None:
        ta, tb = self.s.txns[a], self.s.txns[b]
        for k, r in ta.ext_reads().items():
            order = self.ver.order.get(k)
            if order is None:
                continue
            w = self.s.writer.get(k, {})
            if len(r) < len(order) and w.get(order[len(r)]) == b:
                v = order[len(r)]
            elif len(r) == len(order) and b in self.ver.unread.get(k, ()):
                v = next(x for x in tb.appends(k) if x not in self.ver.pos[k])
            else:
                continue
            ev.update(key=k, read=r, value=v)
            return f"{la} read key {k} = {fmt(r)} and did not see the append of {v} by {lb} (rw)"
        return None

    def _loose(self, a: int, b: int, kind: int, la: str, lb: str, ev: dict) -> str | None:
        """Edges of a key without a trusted order, proven by one read (edges.loose_edges)."""
        found = self.loose.get((a, b, kind))
        if found is None:
            return None
        k, reader, r, i = found
        by = f"op {self.s.txns[reader].op}'s read {fmt(r[: i + 1])}"
        if kind == WW:
            ev.update(key=k, value=r[i - 1], next=r[i], read=r)
            return (
                f"{la} appended {r[i - 1]} to key {k} and {lb} appended {r[i]} right after it, "
                f"as {by} shows (ww)"
            )
        if kind == WR:
            ev.update(key=k, value=r[i], read=r)
            return f"{la} appended {r[i]} to key {k}, which {lb} read: {fmt(r)} (wr)"
        mine = self.s.txns[a].ext_reads().get(k, [])
        ev.update(key=k, read=mine, value=r[i], witness=r)
        return (
            f"{la} read key {k} = {fmt(mine)} and did not see the append of {r[i]} by {lb}, "
            f"which {by} shows right after it (rw)"
        )

    def cycle(self, c: Cycle) -> Anomaly:
        n = len(c.nodes)
        txns = self.s.txns
        label: dict[int, int] = {}
        for t in c.nodes:  # a walk may pass one txn twice: it keeps one name
            label.setdefault(t, len(label) + 1)
        named: set[int] = set()

        def name(t: int) -> str:
            if t in named:
                return f"T{label[t]}"
            named.add(t)
            return f"T{label[t]} (op {txns[t].op})"

        parts, steps = [], []
        for i in range(n):
            a, b = c.nodes[i], c.nodes[(i + 1) % n]
            la = name(a)
            # Name the next txn in full the first time it appears, but not the wrap-around.
            lb = name(b) if i + 1 < n else f"T{label[b]}"
            text, ev = self.edge(a, b, c.kinds[i], la, lb)
            parts.append(text)
            steps.append(ev)
        kind = KINDS[c.name]
        data: dict[str, Any] = {"cycle": steps, "models_ruled_out": list(kind.rules_out)}
        if c.name.startswith("G-nonadjacent"):
            data["forks"] = [
                {"reader": s["op"], "key": s.get("key"), "missed": s.get("value"), "of": s["to"]}
                for s in steps
                if s["edge"] == "rw"
            ]
        ops = list(dict.fromkeys(txns[t].op for t in c.nodes))
        return Anomaly(c.name, ops, "; ".join(parts) + ": " + kind.template, data)
