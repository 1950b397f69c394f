"""The comparison's per-run measurements, each a pure function of one run's files (history,
verdict, spec): time-based write availability per fault kind (counting only acknowledged
writes that survived), the longest stretch without one, conflicts, acknowledged writes lost
per fault window, write throughput.

Times are ns as in the history; the outputs say seconds where they say _s."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.history import OK, Op
from harness.report.results import fault_kind

SLICE_NS = 1_000_000_000  # write availability: share of 1 s slices with an acknowledged write


@dataclass
class Stretch:
    """Acknowledged writes that survived, over some covered time (one fault kind, or the
    whole run); those acknowledged in it and then lost are counted apart."""

    covered_s: float = 0.0  # time observed
    with_writes_s: float = 0.0  # of which: slices holding a surviving acknowledged write
    longest_gap_s: float = 0.0  # longest time without a surviving acknowledged write
    windows: int = 0
    lost: int = 0  # writes acknowledged inside it, then lost (not counted as available)

    def add(self, other: Stretch) -> None:
        self.covered_s += other.covered_s
        self.with_writes_s += other.with_writes_s
        self.longest_gap_s = max(self.longest_gap_s, other.longest_gap_s)
        self.windows += other.windows
        self.lost += other.lost

    @property
    def share(self) -> float | None:
        return self.with_writes_s / self.covered_s if self.covered_s > 0 else None


def ok_write_times(df: pd.DataFrame, lost: Collection[int] = ()) -> np.ndarray:
    """Completion times (ns, sorted) of acknowledged client writes of the workload phase,
    leaving out those whose completion index is in `lost` (acknowledged, then lost)."""
    if df.empty:
        return np.zeros(0, dtype=np.int64)
    sel = (df["type"] == OK) & (df["kind"] == "write") & (df["f"] != "final-read")
    if lost:
        sel &= ~df["index"].isin(list(lost))
    return np.sort(df.loc[sel, "time"].to_numpy(dtype=np.int64))


def stretch(acks: np.ndarray, start: int, end: int) -> Stretch:
    """Acknowledged writes (sorted ns) within [start, end): the share of time covered by 1 s
    slices that hold at least one, and the longest gap between consecutive ones (the
    interval's own edges count as ends of a gap: a window with no ack is one long gap)."""
    if end <= start:
        return Stretch(windows=1)
    inside = acks[(acks >= start) & (acks < end)]
    edges = np.arange(start, end, SLICE_NS, dtype=np.int64)
    lengths = np.minimum(edges + SLICE_NS, end) - edges
    hit = np.zeros(len(edges), dtype=bool)
    if len(inside):
        hit[np.unique((inside - start) // SLICE_NS)] = True
    points = np.concatenate([[start], inside, [end]])
    return Stretch(
        covered_s=float(lengths.sum()) / 1e9,
        with_writes_s=float(lengths[hit].sum()) / 1e9,
        longest_gap_s=float(np.diff(points).max()) / 1e9,
        windows=1,
    )


def workload_span(df: pd.DataFrame) -> tuple[int, int] | None:
    """First invocation to last completion of the workload (final reads excluded)."""
    work = df[df["f"] != "final-read"] if not df.empty else df
    if work.empty:
        return None
    return int(work["invoke_time"].min()), int(work["time"].max())


def availability_by_kind(
    df: pd.DataFrame,
    wins: list[dict[str, Any]],
    has_primary: bool,
    lost: Collection[int] = (),
) -> dict[str, Stretch]:
    """Per fault kind (fault_kind: kill (primary), partition (halves)...), the write stretch
    over its windows (from invocation to heal), and "whole run" over the workload phase.

    A write acknowledged and then lost (its completion index in `lost`, from lost_acks) was
    not available: it is left out of the stretch and counted in its `lost`."""
    acks = ok_write_times(df, lost)
    gone = ok_write_times(df[df["index"].isin(list(lost))]) if lost else acks[:0]
    out: dict[str, Stretch] = {}
    span = workload_span(df)
    if span is not None:
        start, end = span[0], span[1] + 1  # the last completion is inside the run
        out["whole run"] = _with_lost(stretch(acks, start, end), gone, start, end)
    for w in wins:
        kind = fault_kind(w, has_primary)
        start, end = int(w["start"]), int(w["end"])
        out.setdefault(kind, Stretch()).add(_with_lost(stretch(acks, start, end), gone, start, end))
    return out


def _with_lost(st: Stretch, gone: np.ndarray, start: int, end: int) -> Stretch:
    st.lost = int(((gone >= start) & (gone < end)).sum())
    return st


@dataclass
class LossWindow:
    """Acknowledged writes that the final reads do not hold, acknowledged in one window."""

    kind: str  # fault kind, or "no fault" for writes lost outside every window
    invoked_s: float | None
    healed_s: float | None
    lost: int = 0
    first_ack_s: float | None = None
    last_ack_s: float | None = None
    values: list[Any] = field(default_factory=list)

    @property
    def interval_s(self) -> float | None:
        if self.first_ack_s is None or self.last_ack_s is None:
            return None
        return self.last_ack_s - self.first_ack_s


# Acknowledged, then gone: missing after healing (set checker), silently replaced by an
# older write under last-write-wins (conflicts checker).
LOST_TYPES = ("lost-write", "lost-to-lww")
LOSS_CHECKERS = ("set", "conflicts")  # without one of them, loss is not measured


def loss_checked(verdict: dict[str, Any]) -> bool:
    """Whether a checker that finds lost acknowledged writes judged this run (a verdict of
    unknown did not): otherwise "0 lost" would be a figure nobody measured."""
    checkers = verdict.get("checkers") or {}
    return any(
        isinstance(checkers.get(c), dict) and checkers[c].get("valid") in (True, False)
        for c in LOSS_CHECKERS
    )


def lost_acks(history: list[Op], verdict: dict[str, Any]) -> list[tuple[Op, Any]]:
    """(ok completion, value) of each lost acknowledged write in the verdict, by time: the
    ok completion among the anomaly's ops (a final read is never the lost write)."""
    ops = {op.index: op for op in history}
    out = []
    for v in (verdict.get("checkers") or {}).values():
        for a in v.get("anomalies", []) or []:
            if a.get("type") not in LOST_TYPES:
                continue
            acked = [
                ops[i]
                for i in a.get("ops", []) or []
                if i in ops and ops[i].type == OK and ops[i].f != "final-read"
            ]
            if acked:
                data = a.get("data") if isinstance(a.get("data"), dict) else {}
                out.append((acked[0], data.get("value", acked[0].value)))
    return sorted(out, key=lambda x: x[0].time)


def lost_ack_times(history: list[Op], verdict: dict[str, Any]) -> list[tuple[int, Any]]:
    """(ack time ns, value) of each lost acknowledged write in the verdict."""
    return [(op.time, value) for op, value in lost_acks(history, verdict)]


def unlisted_lost(history: list[Op], verdict: dict[str, Any]) -> int:
    """Lost writes the verdict counts but does not itemise (a capped anomaly list): they
    cannot be charged to a window, and the page says how many."""
    counted = sum(_type_counts(verdict).get(t, 0) for t in LOST_TYPES)
    return max(0, counted - len(lost_ack_times(history, verdict)))


def loss_windows(
    history: list[Op], verdict: dict[str, Any], wins: list[dict[str, Any]], has_primary: bool
) -> list[LossWindow]:
    """One entry per fault window (also those that lost nothing: a zero is a measurement),
    plus "no fault" if writes were lost outside every window. A write acknowledged while two
    windows overlap is charged to the one invoked last (the fault most recently begun).
    No entry at all when no checker looked for lost writes (loss_checked): not measured,
    which is not zero."""
    if not loss_checked(verdict):
        return []
    entries = [
        LossWindow(fault_kind(w, has_primary), w["start"] / 1e9, w["end"] / 1e9) for w in wins
    ]
    outside = LossWindow("no fault", None, None)
    for t, value in lost_ack_times(history, verdict):
        found = [i for i, w in enumerate(wins) if w["start"] <= t <= w["end"]]
        e = entries[max(found, key=lambda i: wins[i]["start"])] if found else outside
        e.lost += 1
        e.values.append(value)
        s = t / 1e9
        e.first_ack_s = s if e.first_ack_s is None else min(e.first_ack_s, s)
        e.last_ack_s = s if e.last_ack_s is None else max(e.last_ack_s, s)
    return entries + ([outside] if outside.lost else [])


# ---------------------------------------------------------------- conflicts

CONFLICT_KEYS = (
    "certification_rejects",
    "lost_to_lww",
    "lost_updates",
    "write_skew",
    "read_skew",
)
LOST_UPDATE_TYPES = ("lost-update",)
WRITE_SKEW_TYPES = (
    "G2-item",
    "G2-item-realtime",
    "G2-item-process",
    "G-nonadjacent",
    "G-nonadjacent-realtime",
    "G-nonadjacent-process",
)
READ_SKEW_TYPES = ("G-single", "G-single-realtime", "G-single-process")


def _type_counts(verdict: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in (verdict.get("checkers") or {}).values():
        c = dict(v.get("counts") or {})
        if not c:
            for a in v.get("anomalies", []) or []:
                c[a.get("type")] = c.get(a.get("type"), 0) + 1
        for k, n in c.items():
            counts[str(k)] = counts.get(str(k), 0) + int(n)
    return counts


def conflicts(history: list[Op], verdict: dict[str, Any], certifies: bool) -> dict[str, Any]:
    """What concurrent writes cost, per run: {key: count or None (not measured)}, and the
    writes the certification refusals are out of.

    certification_rejects, for a database that certifies writes (harness.db's `certifies`,
    Galera): verdict.json's `conflicts` block, recomputed from the history for runs recorded
    before it existed; None elsewhere (nothing to certify: one writer, or last-write-wins,
    where a refusal count could never be anything but 0). lost_to_lww: the
    conflicts checker's `lost-to-lww`; None without a conflicts verdict. lost_updates,
    write/read skew: the list-append checker's findings; None without one."""
    checkers = verdict.get("checkers") or {}
    types = _type_counts(verdict)
    out: dict[str, Any] = {k: None for k in CONFLICT_KEYS}
    out["of_writes"] = None
    out["reads_rejected"] = None
    block = verdict.get("conflicts")
    if not certifies:
        block = None
    elif not isinstance(block, dict):
        from harness.checkers.conflicts_p2p import account

        block = account(history, verdict)
    if isinstance(block, dict):
        rej = block.get("certification_rejects") or {}
        out["certification_rejects"] = int(rej.get("count", 0))
        out["of_writes"] = int(rej.get("of_writes", 0))
        out["reads_rejected"] = int(rej.get("reads_rejected", 0))
    if "conflicts" in checkers:
        out["lost_to_lww"] = types.get("lost-to-lww", 0)
    if "list-append" in checkers:
        out["lost_updates"] = sum(types.get(t, 0) for t in LOST_UPDATE_TYPES)
        out["write_skew"] = sum(types.get(t, 0) for t in WRITE_SKEW_TYPES)
        out["read_skew"] = sum(types.get(t, 0) for t in READ_SKEW_TYPES)
    return out


# ---------------------------------------------------------------- write throughput


@dataclass
class Throughput:
    ok_writes: int
    refused_writes: int  # ended fail: the database said no
    unknown_writes: int  # ended info
    span_s: float
    ok_by_node: dict[str, int]
    refused_reads: int = 0  # e.g. Galera reads aborted by a replicated writeset

    @property
    def ok_per_s(self) -> float | None:
        return self.ok_writes / self.span_s if self.span_s > 0 else None


def write_throughput(df: pd.DataFrame) -> Throughput:
    """Acknowledged writes per second over the workload phase (final reads excluded)."""
    span = workload_span(df)
    if span is None:
        return Throughput(0, 0, 0, 0.0, {})
    work = df[df["f"] != "final-read"]
    w = work[work["kind"] == "write"]
    ok = w[w["type"] == OK]
    by_node = ok["node"].fillna("?").value_counts()
    return Throughput(
        ok_writes=len(ok),
        refused_writes=int((w["type"] == "fail").sum()),
        unknown_writes=int((w["type"] == "info").sum()),
        span_s=(span[1] - span[0]) / 1e9,
        ok_by_node={str(k): int(v) for k, v in sorted(by_node.items())},
        refused_reads=int(((work["kind"] == "read") & (work["type"] == "fail")).sum()),
    )
