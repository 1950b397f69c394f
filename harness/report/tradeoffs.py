"""The trade-off table a reader takes in at a glance: the seed's rows against one column per
database and mode as run, each cell a short figure with a one-word judgement where one is
honest, together with the runs it rests on (the page links every cell to them).
Pure: Config -> Cell."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.report.configs import Config, column_key, pool
from harness.report.html import pct
from harness.report.scaling import ScalePoint, series

GOOD, BAD = "good", "bad"
# single point of failure: the worst fault kind's share of time with surviving writes
SPOF_YES, SPOF_NO = 0.5, 0.9


@dataclass
class Cell:
    text: str
    runs: list[Path] = field(default_factory=list)
    word: str = ""  # the one-word judgement, where one is honest
    tone: str = ""  # GOOD | BAD | "": how the word is marked
    detail: str = ""  # the longer figures, shown on hover

    @property
    def measured(self) -> bool:
        return not self.text.startswith("not measured")


# (row title, what it is computed from): the table's first column and its caption
ROWS = (
    (
        "who takes writes",
        "the most nodes that acknowledged writes within one healthy second, of the nodes seen",
    ),
    ("consistency seen", "the checkers' anomalies over every run of the column"),
    (
        "write scaling",
        "acknowledged writes/s of `splitbrain scale` runs of that database and mode, 1 node "
        "vs every node taking writes",
    ),
    (
        "single point of failure on writes",
        "the fault kind with the least time holding a surviving acknowledged write (1 s "
        f"slices, invocation to heal): yes below {SPOF_YES:.0%}, no from {SPOF_NO:.0%}, "
        "partly between; writes acknowledged and then lost do not count, and are shown",
    ),
    (
        "conflicts",
        "certification refusals (Galera), writes lost to last-write-wins (conflicts "
        "checker), lost updates and write/read skew (list-append checker)",
    ),
    (
        "data lost per failover",
        "acknowledged writes missing after healing (set checker) or replaced by an older "
        "write under last-write-wins (conflicts checker), charged to the fault window they "
        "were acknowledged in, per fault kind",
    ),
    (
        "what the application must handle",
        "writes refused (to retry) and indeterminate (to reconcile) among all writes, and "
        "the anomaly kinds seen",
    ),
)


def columns(configs: list[Config]) -> list[Config]:
    """One column per database and mode as run (configurations pooled), primary-replica
    first."""
    return pool(configs, column_key)


def who_writes(c: Config) -> Cell:
    seen, most = len(c.nodes_seen), c.max_write_nodes
    if not most:
        return Cell("not measured (no healthy second with an acknowledged write)", c.runs)
    total = sum(c.write_nodes.values())
    shares = ", ".join(f"{n} {pct(k / total)}" for n, k in c.write_nodes.most_common())
    detail = f"acknowledged writes by node: {shares}"
    if most == 1:
        return Cell(f"node of {seen} at a time", c.runs, "one", detail=detail)
    if most >= seen:
        return Cell(f"node ({most} of {seen} at once)", c.runs, "every", detail=detail)
    return Cell(f"of {seen} nodes at once", c.runs, str(most), detail=detail)


def consistency(c: Config) -> Cell:
    runs = len(c.runs)
    unknown = c.valid.get("unknown", 0)
    undecided = f" ({unknown} undecided)" if unknown else ""
    checked = ", ".join(sorted(c.judged)) or "no model"
    if c.anomalies:
        top = c.anomalies.most_common()
        shown = ", ".join(f"{t} {n:,}" for t, n in top[:2])
        more = f" +{len(top) - 2} kinds" if len(top) > 2 else ""
        return Cell(
            f"{shown}{more}; {len(c.anomaly_runs)} of {runs} runs{undecided}",
            c.anomaly_runs,
            tone=BAD,
            detail=", ".join(f"{t} {n:,}" for t, n in top) + f"; checked: {checked}",
        )
    if not c.judged:
        return Cell(f"not measured (no checker decided in {_plural(runs, 'run')})", c.runs)
    text = f"found in {_plural(runs, 'run')}{undecided}"
    return Cell(text, c.runs, "none", GOOD, detail=f"checked: {checked}")


def write_scaling(c: Config, points: list[ScalePoint]) -> Cell:
    mine = [p for p in points if (p.db, p.mode) == (c.db, c.mode)]
    lines = series(mine)
    if not lines:
        return Cell("not measured (no scale run)")
    (_, n), line = max(lines.items(), key=lambda kv: kv[0][1])
    (k1, v1), (kn, vn) = line[0], line[-1]
    text = f"{v1:,.0f}/s via {k1} node" + (f", {vn:,.0f}/s via {kn}" if kn != k1 else "")
    refused = sum(p.refused for p in mine if p.nodes == n and p.write_nodes == kn)
    tried = refused + sum(p.ok_writes for p in mine if p.nodes == n and p.write_nodes == kn)
    if refused and kn != k1:
        text += f" ({pct(refused / tried)} refused)"
    runs = [p.run for p in mine if p.nodes == n]
    return Cell(text, runs, detail=f"{n}-node cluster; all nodes on one machine")


def single_point(c: Config) -> Cell:
    kinds = [k for k in c.fault_kinds() if c.stretch[k].share is not None]
    if not kinds:
        return Cell("not measured (no fault injected)", c.runs)
    worst = min(kinds, key=lambda k: (c.stretch[k].share or 0.0, k))
    st = c.stretch[worst]
    share = st.share or 0.0
    word, tone = (
        ("yes", BAD) if share < SPOF_YES else ("no", GOOD) if share >= SPOF_NO else ("partly", "")
    )
    text = f"{worst}: writes in {pct(share)} of its time, {st.longest_gap_s:.1f} s gap"
    if st.lost:
        text += f"; {st.lost:,} acked then lost"
    detail = "; ".join(
        f"{k}: {pct(c.stretch[k].share)} of {c.stretch[k].covered_s:.0f} s"
        + (f", {c.stretch[k].lost:,} acknowledged then lost" if c.stretch[k].lost else "")
        for k in kinds
    )
    return Cell(text, c.stretch_runs[worst], word, tone, detail)


CONFLICT_WORDS = (
    ("certification_rejects", "certification refusals"),
    ("lost_to_lww", "lost to last-write-wins"),
    ("lost_updates", "lost updates"),
    ("write_skew", "write skew"),
    ("read_skew", "read skew"),
)


def conflict_cell(c: Config) -> Cell:
    parts, measured, runs = [], [], []
    for key, words in CONFLICT_WORDS:
        n = c.conflict.get(key)
        if n is None:
            continue
        measured.append(words)
        runs += [r for r in c.conflict_runs.get(key, []) if r not in runs]
        if not n:
            continue
        if key == "certification_rejects" and c.of_writes:
            parts.append(f"{words} {pct(n / c.of_writes)} of writes")
        else:
            parts.append(f"{words} {n:,}")
    if not measured:
        why = "single writer, " if c.has_primary else ""
        return Cell(f"not measured ({why}no conflicts or list-append run)", c.runs)
    detail = "measured: " + ", ".join(measured)
    if not parts:
        return Cell(f"({', '.join(measured)} measured)", runs, "none", GOOD, detail)
    return Cell("; ".join(parts), runs, tone=BAD, detail=detail)


def data_loss(c: Config) -> Cell:
    if not c.loss_runs:
        return Cell("not measured (no run checked for lost writes)", c.runs)
    mine = [(d, w) for d, w in c.losses if d in c.loss_runs]
    faulted = [(d, w) for d, w in mine if w.kind != "no fault"]
    outside = sum(w.lost for _, w in mine if w.kind == "no fault")
    outside_text = f"; {outside:,} outside any fault" if outside else ""
    if not faulted:
        text = "not measured (no fault window in a run checked for lost writes)"
        return Cell(text + outside_text, c.loss_runs)
    lost = sum(w.lost for _, w in faulted)
    if not lost:
        tone = BAD if outside else GOOD
        text = f"in {_plural(len(faulted), 'fault window')}{outside_text}"
        return Cell(text, c.loss_runs, "0 lost", tone)
    by_kind: dict[str, list[int]] = {}
    for _, w in faulted:
        by_kind.setdefault(w.kind, []).append(w.lost)
    hit = sorted((k for k in by_kind if sum(by_kind[k])), key=lambda k: -sum(by_kind[k]))
    if len(by_kind) == 1:  # "in 1 failover (isolate)", "in 2 of 3 kills (primary)"
        text = f"in {_windows(by_kind[hit[0]], hit[0])}"
    else:
        parts = [f"{sum(by_kind[k]):,} in {_windows(by_kind[k], k)}" for k in hit[:2]]
        text = ": " + ", ".join(parts) + (f" +{len(hit) - 2} kinds" if len(hit) > 2 else "")
    text += outside_text
    spans = [w.interval_s for _, w in faulted if w.interval_s is not None]
    detail = "; ".join(
        f"{k}: {', '.join(f'{n:,}' for n in by_kind[k])} lost per window" for k in by_kind
    )
    if spans:
        detail += f"; the lost writes of one window were acknowledged over up to {max(spans):.1f} s"
    if c.unlisted_lost:
        detail += f"; {c.unlisted_lost:,} more counted but not itemised in verdict.json"
    runs = sorted({d for d, w in faulted if w.lost})
    return Cell(text, runs, f"{lost:,} lost", BAD, detail)


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _windows(lost: list[int], kind: str) -> str:
    """ "1 failover (isolate)", "2 failovers (isolate)", "2 of 3 kills (primary)": the
    windows of a kind that lost writes."""
    hit = sum(1 for n in lost if n)
    first, _, rest = kind.partition(" ")
    name = (first if len(lost) == 1 else first + "s") + (f" {rest}" if rest else "")
    return f"{hit} {name}" if hit == len(lost) else f"{hit} of {len(lost)} {name}"


def must_handle(c: Config) -> Cell:
    total = sum(c.writes.values())
    if not total:
        return Cell("not measured (no write)", c.runs)
    text = (
        f"{pct(c.writes['fail'] / total)} of writes refused (retry), "
        f"{pct(c.writes['info'] / total)} indeterminate (reconcile)"
    )
    detail = f"{total:,} writes: {c.writes['fail']:,} refused, {c.writes['info']:,} indeterminate"
    if c.anomalies:
        detail += f"; anomaly kinds to design around: {', '.join(sorted(c.anomalies))}"
    return Cell(text, c.runs, detail=detail)


def cells(c: Config, points: list[ScalePoint]) -> list[Cell]:
    """One cell per ROWS entry, in order."""
    makers: list[Callable[[Config], Cell]] = [
        who_writes,
        consistency,
        lambda x: write_scaling(x, points),
        single_point,
        conflict_cell,
        data_loss,
        must_handle,
    ]
    return [m(c) for m in makers]
