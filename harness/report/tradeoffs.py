"""The trade-off table's cells, each a sentence built from measured figures together with
the runs it rests on (the page links every cell to them). Pure: Config -> Cell."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING

from harness.report.html import pct
from harness.report.scaling import ScalePoint, ratio, series

if TYPE_CHECKING:
    from harness.report.compare import Config


@dataclass
class Cell:
    text: str
    runs: list[Path] = field(default_factory=list)


# (row title, what it is based on): the table's first column and its caption
ROWS = (
    ("who takes writes", "share of acknowledged writes by the node that acknowledged them"),
    ("consistency seen", "the checkers' anomalies over every run of the configuration"),
    (
        "write scaling",
        "acknowledged writes/s of `splitbrain scale` runs, 1 node vs every node taking "
        "writes; without them, the most nodes acknowledging writes in one healthy second",
    ),
    (
        "single point of failure for writes",
        "share of each fault's time (invocation to heal, 1 s slices) holding an "
        "acknowledged write, and the longest stretch without one",
    ),
    (
        "conflicts",
        "certification refusals (deadlock error 1213 on Galera), writes lost to "
        "last-write-wins (conflicts checker), lost updates and write skew (list-append)",
    ),
    (
        "data lost per failover",
        "acknowledged writes missing after healing (set checker), charged to the fault "
        "window they were acknowledged in, and the span of their acknowledgements",
    ),
    (
        "complexity if you keep it",
        "what the application had to handle: refused writes to retry, indeterminate writes "
        "to reconcile, anomaly kinds to design around, and the measured setup time",
    ),
)


def who_writes(c: Config) -> Cell:
    total = sum(c.write_nodes.values())
    if not total:
        return Cell("no acknowledged write", c.runs)
    top = ", ".join(f"{n} {pct(k / total)}" for n, k in c.write_nodes.most_common(3))
    more = len(c.write_nodes) - 3
    text = top + (f" (+{more} nodes)" if more > 0 else "")
    text += f"; up to {c.max_write_nodes} of {len(c.nodes_seen)} nodes in one healthy second"
    return Cell(text, c.runs)


def consistency(c: Config) -> Cell:
    runs = len(c.runs)
    if c.anomalies:
        found = ", ".join(f"{t} {n}" for t, n in sorted(c.anomalies.items()))
        return Cell(f"{found} in {len(c.anomaly_runs)} of {runs} run(s)", c.anomaly_runs)
    unknown = c.valid.get("unknown", 0)
    text = f"no anomaly found in {runs} run(s)" + (f" ({unknown} undecided)" if unknown else "")
    return Cell(text, c.runs)


def write_scaling(c: Config, points: list[ScalePoint]) -> Cell:
    mine = [p for p in points if p.db == c.db]
    if not mine:
        return Cell(
            f"not measured (no scale run of {c.db}); up to {c.max_write_nodes} node(s) "
            "acknowledged writes in one healthy second",
            c.runs,
        )
    parts = []
    for (_, n), line in series(mine).items():
        figures = " → ".join(f"{k} node(s) {v:,.0f}/s" for k, v in line)
        r = ratio(line)
        parts.append(f"{n}-node cluster: {figures}" + (f" (×{r:.2f})" if r is not None else ""))
    refused = sum(p.refused for p in mine if p.write_nodes > 1)
    if refused:
        parts.append(f"{refused:,} writes refused when sent to every node")
    return Cell("acknowledged writes: " + "; ".join(parts), [p.run for p in mine])


SPOF_ORDER = ("kill (primary)", "failover", "partition (isolate-primary)", "kill (random node)")


def _spof_rank(kind: str) -> tuple[int, str]:
    ranks = [i for i, k in enumerate(SPOF_ORDER) if kind.startswith(k)]
    return (ranks[0] if ranks else len(SPOF_ORDER), kind)


def single_point(c: Config) -> Cell:
    kinds = sorted(c.fault_kinds(), key=_spof_rank)
    if not kinds:
        return Cell("not measured (no fault injected)", c.runs)
    parts, runs = [], []
    for k in kinds[:3]:
        st = c.stretch[k]
        parts.append(
            f"{k}: writes acknowledged in {pct(st.share)} of the time, none for up to "
            f"{st.longest_gap_s:.2f} s"
        )
        runs += [r for r in c.stretch_runs[k] if r not in runs]
    more = len(kinds) - 3
    return Cell("; ".join(parts) + (f" (+{more} fault kinds below)" if more > 0 else ""), runs)


CONFLICT_WORDS = (
    ("certification_rejects", "certification refused"),
    ("lost_to_lww", "lost to last-write-wins"),
    ("lost_updates", "lost updates"),
    ("write_skew", "write skew"),
    ("read_skew", "read skew"),
)


def conflict_cell(c: Config) -> Cell:
    parts, runs = [], []
    for key, words in CONFLICT_WORDS:
        n = c.conflict.get(key)
        if n is None:
            continue
        if key == "certification_rejects" and c.of_writes:
            reads = f" (and {c.reads_rejected:,} reads)" if c.reads_rejected else ""
            parts.append(f"{words} {n:,} of {c.of_writes:,} writes ({pct(n / c.of_writes)}){reads}")
        else:
            parts.append(f"{words} {n:,}")
        runs += [r for r in c.conflict_runs.get(key, []) if r not in runs]
    if not parts:
        return Cell(
            "single writer: nothing to certify; not measured (no conflicts or list-append run)"
            if c.has_primary
            else "not measured (no conflicts or list-append run)",
            c.runs,
        )
    return Cell("; ".join(parts), runs)


def data_loss(c: Config) -> Cell:
    faulted = [(d, w) for d, w in c.losses if w.kind != "no fault"]
    outside = sum(w.lost for _, w in c.losses if w.kind == "no fault")
    if not faulted and not outside:
        return Cell("not measured (no fault window)", c.runs)
    lost = sum(w.lost for _, w in faulted)
    worst = max((w.lost for _, w in faulted), default=0)
    spans = [w.interval_s for _, w in c.losses if w.interval_s is not None]
    text = (
        f"{lost:,} acknowledged write(s) lost over {len(faulted)} fault window(s) "
        f"(at most {worst:,} in one)"
    )
    if spans:
        text += f", acknowledged over up to {max(spans):.2f} s"
    if outside:
        text += f"; {outside:,} lost outside any fault"
    if c.unlisted_lost:
        text += f"; {c.unlisted_lost:,} more counted but not itemised in verdict.json"
    runs = sorted({d for d, w in c.losses if w.lost}) or sorted({d for d, _ in faulted})
    return Cell(text, runs)


def complexity(c: Config) -> Cell:
    total = sum(c.writes.values())
    if not total:
        return Cell("not measured (no write)", c.runs)
    kinds = len(c.anomalies)
    text = (
        f"retry {pct(c.writes['fail'] / total)} refused writes, reconcile "
        f"{pct(c.writes['info'] / total)} indeterminate ones; "
        f"{kinds} anomaly kind(s) to design around"
    )
    if c.setup_s:
        text += f"; setup {median(c.setup_s):.0f} s (median)"
    return Cell(text, c.runs)


def cells(c: Config, points: list[ScalePoint]) -> list[Cell]:
    """One cell per ROWS entry, in order."""
    makers: list[Callable[[Config], Cell]] = [
        who_writes,
        consistency,
        lambda x: write_scaling(x, points),
        single_point,
        conflict_cell,
        data_loss,
        complexity,
    ]
    return [m(c) for m in makers]
