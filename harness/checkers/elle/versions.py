"""Version orders inferred from reads, and the anomalies found directly in them.

Lists only grow, so every read of a key is a prefix of the key's final version: the longest
read is the version order ("trusted" when every other read is a prefix of it, it holds no
value twice and no transaction's own appends appear reversed). A key without such an order
still yields the evidence each read proves on its own (see edges.loose_edges).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any

from harness.checkers.elle.anomalies import KINDS
from harness.checkers.elle.scan import FAIL, OK, Scan
from harness.checkers.elle.text import around, fmt

Report = Callable[..., None]  # report(kind, ops, explanation, **data)


class Versions:
    def __init__(self, s: Scan, report: Report) -> None:
        self.s = s
        self.report = report
        self.order: dict[Hashable, list[Any]] = {}  # trusted version order per key
        self.pos: dict[Hashable, dict[Any, int]] = {}
        self.unread: dict[Hashable, list[int]] = {}  # committed appenders no read saw
        self.loose: dict[Hashable, list[tuple[int, list[Any]]]] = {}  # untrusted: distinct reads

    def infer(self) -> None:
        s, txns = self.s, self.s.txns
        multi: dict[Hashable, list[int]] = defaultdict(list)
        for tid, k in s.multi:
            multi[k].append(tid)
        # in history order (not a set's): the anomalies come out in the same order every run
        for k in list(s.reads) + [k for k in s.inner_reads if k not in s.reads]:
            rs = s.reads.get(k, [])
            if k in s.inner_reads:
                rs = rs + s.inner_reads[k]
            longest_t, longest = rs[0]
            for tr in rs:
                if len(tr[1]) > len(longest):
                    longest_t, longest = tr
            if not longest:
                continue  # only empty reads: ordered by the unread appends below
            pos = dict(zip(longest, range(len(longest)), strict=True))  # positions, if no dups
            trusted = self._compatible(k, rs, longest_t, longest, len(pos) < len(longest))
            if trusted and k in multi:
                trusted = self._own_order(k, multi[k], longest_t, longest, pos)
            self._garbage(k, rs, longest, pos if trusted else None)
            self._aborted_reads(k, rs, longest if trusted else None, pos)
            self._intermediate_reads(k, rs)
            if trusted:
                self.order[k], self.pos[k] = longest, pos
            else:
                seen: set[tuple[Any, ...]] = set()
                distinct = []
                for tid, r in rs:
                    t = tuple(r)
                    if t not in seen:
                        seen.add(t)
                        distinct.append((tid, r))
                self.loose[k] = distinct
        # An info txn that some read proves took effect committed all its appends (atomicity).
        seen_loose = {k: {v for _, r in rs for v in r} for k, rs in self.loose.items()}
        proven: set[int] = set(s.proven)
        for tid in s.info:
            for f, k, v in txns[tid].mops:
                if f == "append" and (v in self.pos.get(k, ()) or v in seen_loose.get(k, ())):
                    proven.add(tid)
                    break
        for k, d in s.writer.items():
            if k in self.loose:
                continue
            known = self.pos.get(k)
            if known is None:
                self.order[k], self.pos[k] = [], {}
                known = self.pos[k]
            self.unread[k] = sorted(
                {t for v, t in d.items() if v not in known and (txns[t].type == OK or t in proven)}
            )
        for k in s.reads:  # read, never appended by a committed txn, no non-empty read
            if k not in self.loose:
                self.order.setdefault(k, [])
                self.pos.setdefault(k, {})

    def _compatible(
        self, k: Hashable, rs: list, longest_t: int, longest: list[Any], dups: bool
    ) -> bool:
        txns = self.s.txns
        trusted = True
        suspects = [(longest_t, longest)] if dups else []
        for tid, r in rs:
            if r and longest[: len(r)] != r:
                trusted = False
                self.report(
                    "incompatible-order",
                    [txns[longest_t].op, txns[tid].op],
                    f"op {txns[tid].op} read key {k} = {fmt(r, 12)} but op "
                    f"{txns[longest_t].op} read {fmt(longest, 12)}: neither is a prefix of "
                    f"the other, so {KINDS['incompatible-order'].template}",
                    key=k,
                    reads=[longest, r],
                )
                suspects.append((tid, r))
        for tid, r in suspects:  # a prefix of a duplicate-free list has no duplicates
            if len(set(r)) != len(r):
                trusted = False
                seen: set[Any] = set()
                twice = []
                for x in r:
                    if x in seen:
                        twice.append(x)
                    seen.add(x)
                self.report(
                    "duplicate",
                    [txns[tid].op],
                    f"op {txns[tid].op} read key {k} = {fmt(r, 12)}, which holds "
                    f"{fmt(sorted(set(twice), key=str))} more than once: "
                    f"{KINDS['duplicate'].template}",
                    key=k,
                    read=r,
                    duplicates=twice,
                )
        return trusted

    def _own_order(
        self, k: Hashable, tids: list[int], longest_t: int, longest: list[Any], pos: dict
    ) -> bool:
        """A txn appends 2 then 3; the order must not show 3 before 2."""
        txns = self.s.txns
        trusted = True
        for tid in sorted(set(tids)):
            mine = txns[tid].appends(k)
            seen = [(pos[v], v) for v in mine if v in pos]
            for (p1, v1), (p2, v2) in zip(seen, seen[1:], strict=False):
                if p2 < p1:
                    trusted = False
                    reader = txns[longest_t].op
                    self.report(
                        "incompatible-order",
                        [txns[tid].op, reader],
                        f"op {txns[tid].op} appended {v1} then {v2} to key {k} in one "
                        f"transaction, but op {reader} read {k} = {around(longest, p2, p1)}, "
                        f"{v2} before {v1}: the read reverses that transaction's own appends, so "
                        f"{KINDS['incompatible-order'].template}",
                        key=k,
                        appends=mine,
                        read=longest,
                    )
                    break
        return trusted

    def _garbage(self, k: Hashable, rs: list, longest: list[Any], pos: dict | None) -> None:
        """Values no append (committed, indeterminate or failed) wrote to this key."""
        w, f = self.s.writer.get(k, {}), self.s.failed.get(k, {})
        values = longest if pos is not None else list(dict.fromkeys(v for _, r in rs for v in r))
        bad = [v for v in values if v not in w and v not in f]
        if not bad:
            return
        txns = self.s.txns
        first = bad[0]
        tid, r = next((tid, r) for tid, r in rs if first in r)
        never = "no transaction ever appended to that key" if not w and not f else ""
        what = never or f"no transaction appended {fmt(bad) if len(bad) > 1 else first} to that key"
        self.report(
            "garbage-versions",
            [txns[tid].op],
            f"op {txns[tid].op} read key {k} = {fmt(r)}, but {what}: "
            f"{KINDS['garbage-versions'].template}",
            key=k,
            read=r,
            values=bad,
        )

    def _aborted_reads(self, k: Hashable, rs: list, order: list[Any] | None, pos: dict) -> None:
        failed = self.s.failed.get(k)
        if not failed:
            return
        txns = self.s.txns
        if order is not None:  # every read is a prefix: only reads past the first failed value
            fpos = [pos[v] for v in failed if v in pos]
            if not fpos:
                return
            first = min(fpos)
            hits = [(tid, r) for tid, r in rs if len(r) > first]
            # A committed append after an aborted one in the order: it was built on it.
            w = self.s.writer.get(k, {})
            after = [v for v in order[first + 1 :] if v in w]
            if after:
                bad, wt = order[first], w[after[0]]
                self.report(
                    "dirty-update",
                    [txns[failed[bad]].op, txns[wt].op],
                    f"op {txns[wt].op} appended {after[0]} to key {k} after {bad}, which op "
                    f"{txns[failed[bad]].op} appended and which failed: "
                    f"{KINDS['dirty-update'].template}",
                    key=k,
                    aborted=bad,
                    value=after[0],
                )
        else:
            hits = [(tid, r) for tid, r in rs if not failed.keys().isdisjoint(r)]
        for tid, r in hits:
            bad_vals = [v for v in r if v in failed]
            writers = sorted({txns[failed[v]].op for v in bad_vals})
            self.report(
                "G1a",
                [txns[tid].op] + writers,
                f"op {txns[tid].op} read key {k} = {fmt(r)}, which includes {fmt(bad_vals)} "
                f"appended by op {', '.join(map(str, writers))} that failed: "
                f"{KINDS['G1a'].template}",
                key=k,
                read=r,
                aborted=bad_vals,
            )

    def _intermediate_reads(self, k: Hashable, rs: list) -> None:
        inter = self.s.intermediate.get(k)
        if not inter:
            return
        txns, writer = self.s.txns, self.s.writer.get(k, {})
        for tid, r in rs:
            if not r or r[-1] not in inter:
                continue
            w = writer.get(r[-1])
            if w is None or w == tid:
                continue
            mine = txns[w].appends(k)
            self.report(
                "G1b",
                [txns[tid].op, txns[w].op],
                f"op {txns[tid].op} read key {k} = {fmt(r)}, ending in {r[-1]}, but op "
                f"{txns[w].op} appended {fmt(mine)} to that key in one transaction: the read "
                f"saw {r[-1]} without the later {mine[-1]}: {KINDS['G1b'].template}",
                key=k,
                read=r,
                writes=mine,
            )

    def lost_updates(self) -> None:
        groups: dict[tuple[Hashable, tuple[Any, ...]], list[int]] = defaultdict(list)
        for tid, k, r in self.s.rmw:
            groups[(k, tuple(r))].append(tid)
        txns = self.s.txns
        for (k, rt), tids in groups.items():
            r = list(rt)
            if len(tids) < 2:
                continue
            ops = [txns[t].op for t in tids]
            seen = "nothing" if not r else f"... {r[-1]}"
            self.report(
                "lost-update",
                ops,
                f"ops {', '.join(map(str, ops))} all read key {k} at the same version ({seen}) "
                f"and each appended to it: {KINDS['lost-update'].template}",
                key=k,
                read_last=r[-1] if r else None,
                appends={txns[t].op: txns[t].appends(k) for t in tids},
            )


__all__ = ["FAIL", "Versions"]
