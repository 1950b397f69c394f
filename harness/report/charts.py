"""The comparison's pictures: small multiples over the trade-off table's columns, one row per
column in every panel, drawn as one self-contained SVG (no script, nothing fetched) in the
Okabe-Ito palette with a shape per series, so colour is never the only cue.

Each panel is its data (a pure function of the columns: availability, losses, anomalies,
scaling) and its drawing (panel_svg); every mark carries its exact figure as a tooltip."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

from harness.report.configs import Config
from harness.report.guarantees import MODELS, OTHER, by_model
from harness.report.html import pct
from harness.report.scaling import ScalePoint, series

# Okabe & Ito's colour-blind-safe palette, without its yellow (unreadable on white)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
SHAPES = ("circle", "square", "triangle", "diamond")
NOT_MEASURED = "#757575"

# layout, px
WIDTH = 1350
LABEL_W = 138  # row labels, drawn once at the left
GAP = 22  # between panels
ROW_H = 19
GROUP_H = 15  # a group's name above its rows
HEAD_H = 20  # panel titles
AXIS_H = 24


@dataclass
class Mark:
    row: int  # the column's position in the table
    value: float
    series: str  # fault kind, consistency model, "1 node"...
    tip: str  # the exact figure, on hover


@dataclass
class Panel:
    id: str
    title: str
    scale: str  # "share" (0-100 %), "log0" (0, then log), "linear"
    marks: list[Mark] = field(default_factory=list)
    missing: dict[int, str] = field(default_factory=dict)  # row -> why it has no mark
    joined: list[tuple[int, int]] = field(default_factory=list)  # marks drawn as a dumbbell

    def series(self) -> list[str]:
        return list(dict.fromkeys(m.series for m in self.marks))


def availability(cols: list[Config]) -> Panel:
    """Share of each fault kind's time holding a surviving acknowledged write."""
    p = Panel("chart-availability", "time with surviving writes, per fault kind", "share")
    for i, c in enumerate(cols):
        kinds = [k for k in c.fault_kinds() if c.stretch[k].share is not None]
        if not kinds:
            p.missing[i] = "no fault injected"
        for k in kinds:
            st = c.stretch[k]
            lost = f"; {st.lost:,} more acknowledged, then lost" if st.lost else ""
            tip = (
                f"{c.title}, {k}: {pct(st.share)} of {st.covered_s:.0f} s held a surviving "
                f"acknowledged write, {st.longest_gap_s:.1f} s without one{lost}"
            )
            p.marks.append(Mark(i, st.share or 0.0, k, tip))
    return p


def losses(cols: list[Config]) -> Panel:
    """Acknowledged writes lost in each fault window (one mark per window)."""
    p = Panel("chart-losses", "acknowledged writes lost, per fault window", "log0")
    for i, c in enumerate(cols):
        windows = [(d, w) for d, w in c.losses if d in c.loss_runs and w.kind != "no fault"]
        if not c.loss_runs:
            p.missing[i] = "not measured (no lost-write check)"
        elif not windows:
            p.missing[i] = "no fault window"
        for d, w in windows:
            at = f" at {w.invoked_s:.1f} s" if w.invoked_s is not None else ""
            tip = f"{c.title}, {w.kind}{at} ({d.parent.name}): {w.lost:,} lost"
            p.marks.append(Mark(i, float(w.lost), w.kind, tip))
    return p


def anomalies(cols: list[Config]) -> Panel:
    """Anomalies found, per consistency model they show broken, for the models measured."""
    p = Panel("chart-anomalies", "anomalies found, per consistency model", "log0")
    for i, c in enumerate(cols):
        counts = by_model(dict(c.anomalies))
        measured = [m for m in (*MODELS, OTHER) if m in c.judged or counts.get(m)]
        if not measured:
            p.missing[i] = "not measured (no checker decided)"
        for m in measured:
            n = counts.get(m, 0)
            kinds = ", ".join(
                f"{t} {k:,}" for t, k in sorted(c.anomalies.items()) if by_model({t: k}).get(m)
            )
            p.marks.append(
                Mark(i, float(n), m, f"{c.title}, {m}: {n:,}" + (f" ({kinds})" if kinds else ""))
            )
    return p


def scaling(cols: list[Config], points: list[ScalePoint]) -> Panel:
    """Acknowledged writes/s with writes sent to 1 node and to every node (the largest
    cluster measured), from `splitbrain scale` runs of the same database and mode."""
    p = Panel("chart-scaling", "acknowledged writes/s, 1 node vs all", "linear")
    for i, c in enumerate(cols):
        lines = series([x for x in points if (x.db, x.mode) == (c.db, c.mode)])
        if not lines:
            p.missing[i] = "not measured (no scale run)"
            continue
        (_, n), line = max(lines.items(), key=lambda kv: kv[0][1])
        (k1, v1), (kn, vn) = line[0], line[-1]
        first = len(p.marks)
        p.marks.append(Mark(i, v1, "1 node", f"{c.title}, {n} nodes, writes to {k1}: {v1:,.0f}/s"))
        if kn != k1:
            ratio = f" (×{vn / v1:.2f})" if v1 > 0 else ""
            tip = f"{c.title}, {n} nodes, writes to {kn}: {vn:,.0f}/s{ratio}"
            p.marks.append(Mark(i, vn, "all nodes", tip))
            p.joined.append((first, first + 1))
    return p


# ---------------------------------------------------------------- drawing


class Scale:
    """Data value -> x within a panel [x0, x1]."""

    def __init__(self, kind: str, top: float, x0: float, x1: float) -> None:
        self.kind, self.x0, self.x1 = kind, x0, x1
        if kind == "log0":
            self.decades = max(1, math.ceil(math.log10(max(top, 1.0)) + 1e-9))
        elif kind == "share":
            self.top = 1.0
        else:
            self.step = _nice(max(top, 1e-9) * 1.05 / 4)
            self.top = 4 * self.step

    def x(self, v: float) -> float:
        if self.kind == "share":
            return self.x0 + v * (self.x1 - self.x0)
        if self.kind == "log0":  # 0 has its own place left of 1
            if v <= 0:
                return self.x0
            start = self.x0 + 16
            return start + math.log10(max(v, 1.0)) / self.decades * (self.x1 - start)
        return self.x0 + v / self.top * (self.x1 - self.x0)

    def ticks(self) -> list[tuple[float, str]]:
        if self.kind == "share":
            return [(t / 100, f"{t}%") for t in (0, 25, 50, 75, 100)]
        if self.kind == "log0":
            return [(0.0, "0")] + [(10.0**d, _short(10**d)) for d in range(self.decades + 1)]
        return [(self.step * t, _short(self.step * t)) for t in range(5)]


def _nice(v: float) -> float:
    """The least of 1, 2, 5 x 10^k that is at least v (a tick step)."""
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= v)


def _short(v: float) -> str:
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def style(names: list[str], start: int = 0) -> dict[str, tuple[str, str]]:
    """series -> (colour, shape), in the order given from palette entry `start` (so that two
    legends side by side do not begin alike); no two series of one legend look the same."""
    return {
        # each time the colours come round again the shape moves one further: 28 distinct
        n: (
            PALETTE[(start + i) % len(PALETTE)],
            SHAPES[(i + 2 * (i // len(PALETTE))) % len(SHAPES)],
        )
        for i, n in enumerate(names)
    }


def marker(shape: str, x: float, y: float, colour: str, filled: bool = True) -> str:
    fill = colour if filled else "#fff"
    common = f'fill="{fill}" stroke="{colour}" stroke-width="1.4"'
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" {common}/>'
    if shape == "triangle":
        pts = f"{x:.1f},{y - 5:.1f} {x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}"
        return f'<polygon points="{pts}" {common}/>'
    if shape == "diamond":
        pts = f"{x:.1f},{y - 5.5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5.5:.1f} {x - 5:.1f},{y:.1f}"
        return f'<polygon points="{pts}" {common}/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.3" {common}/>'


@dataclass
class Layout:
    """Where the rows are: a group's name above its rows (primary-replica, peer-to-peer)."""

    labels: list[str]
    groups: list[str]  # each row's group

    def row_y(self, r: int) -> float:
        starts = sum(1 for i in range(r + 1) if i == 0 or self.groups[i] != self.groups[i - 1])
        return HEAD_H + starts * GROUP_H + r * ROW_H + ROW_H / 2

    @property
    def bottom(self) -> float:
        return self.row_y(len(self.labels) - 1) + ROW_H / 2 if self.labels else HEAD_H

    @property
    def height(self) -> float:
        return self.bottom + AXIS_H


def panel_svg(
    p: Panel, lay: Layout, x0: float, x1: float, styles: dict[str, tuple[str, str]]
) -> str:
    """One panel: its title, grid, axis, a mark per figure (jittered within its row when
    several share it), a dumbbell line where marks are joined, and why a row has none."""
    top = max((m.value for m in p.marks), default=1.0)
    sc = Scale(p.scale, top, x0 + 6, x1 - 8)
    out = [f'<g id="{p.id}" class="panel">']
    out.append(f'<text x="{x0}" y="13" class="ptitle">{escape(p.title)}</text>')
    y_top, y_bot = HEAD_H + 2, lay.bottom
    for v, text in sc.ticks():
        x = sc.x(v)
        out.append(f'<line x1="{x:.1f}" y1="{y_top}" x2="{x:.1f}" y2="{y_bot:.1f}" class="grid"/>')
        out.append(f'<text x="{x:.1f}" y="{y_bot + 13:.1f}" class="tick">{escape(text)}</text>')
    out.append(f'<line x1="{x0}" y1="{y_bot:.1f}" x2="{x1}" y2="{y_bot:.1f}" class="axis"/>')
    for r, why in p.missing.items():
        out.append(
            f'<text x="{x0 + 6}" y="{lay.row_y(r) + 4:.1f}" class="missing">{escape(why)}</text>'
        )
    in_row: dict[int, list[str]] = {}
    for m in p.marks:
        in_row.setdefault(m.row, [])
        if m.series not in in_row[m.row]:
            in_row[m.row].append(m.series)
    pos: list[tuple[float, float]] = []
    for m in p.marks:
        same = in_row[m.row]
        dy = 0.0 if len(same) == 1 else (same.index(m.series) / (len(same) - 1) - 0.5) * 10
        pos.append((sc.x(m.value), lay.row_y(m.row) + dy))
    for a, b in p.joined:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        out.append(f'<line x1="{xa:.1f}" y1="{ya:.1f}" x2="{xb:.1f}" y2="{yb:.1f}" class="join"/>')
    for m, (x, y) in zip(p.marks, pos, strict=True):
        colour, shape = styles[m.series]
        filled = not (p.joined and m.series == "1 node")
        out.append(
            f'<g class="mark" data-row="{m.row}" data-series="{escape(m.series)}" '
            f'data-value="{m.value:g}"><title>{escape(m.tip)}</title>'
            f"{marker(shape, x, y, colour, filled)}</g>"
        )
    out.append("</g>")
    return "".join(out)


CSS = (
    ".ptitle{font:600 12px system-ui,sans-serif;fill:#212121}"
    ".rlabel{font:12px system-ui,sans-serif;fill:#212121}"
    ".glabel{font:600 10px system-ui,sans-serif;fill:#616161;letter-spacing:.04em}"
    ".tick{font:10px system-ui,sans-serif;fill:#616161;text-anchor:middle}"
    ".missing{font:italic 11px system-ui,sans-serif;fill:" + NOT_MEASURED + "}"
    ".grid{stroke:#eee;stroke-width:1}.axis{stroke:#9e9e9e;stroke-width:1}"
    ".join{stroke:#9e9e9e;stroke-width:2}.band{fill:#fafafa}"
)


def small_multiples(
    panels: list[Panel], labels: list[str], groups: list[str], styles: dict[str, tuple[str, str]]
) -> str:
    """The panels side by side over the same rows (the table's columns), labelled once."""
    lay = Layout(labels, groups)
    width = (WIDTH - LABEL_W - GAP * (len(panels) - 1)) / max(1, len(panels))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="glance-charts" width="{WIDTH}" '
        f'height="{lay.height:.0f}" viewBox="0 0 {WIDTH} {lay.height:.0f}" role="img" '
        'aria-label="small multiples over the trade-off table\'s columns">'
        f"<style>{CSS}</style>"
    ]
    for r, label in enumerate(labels):
        y = lay.row_y(r)
        if r % 2:
            out.append(
                f'<rect x="0" y="{y - ROW_H / 2:.1f}" width="{WIDTH}" height="{ROW_H}" class="band"/>'
            )
        if r == 0 or groups[r] != groups[r - 1]:
            out.append(
                f'<text x="0" y="{y - ROW_H / 2 - 4:.1f}" class="glabel">'
                f"{escape(groups[r].upper())}</text>"
            )
        out.append(f'<text x="0" y="{y + 4:.1f}" class="rlabel">{escape(label)}</text>')
    for i, p in enumerate(panels):
        x0 = LABEL_W + i * (width + GAP)
        out.append(panel_svg(p, lay, x0, x0 + width, styles))
    out.append("</svg>")
    return "".join(out)


def legend(names: list[str], styles: dict[str, tuple[str, str]], filled_all: bool = True) -> str:
    """An HTML line of the series' markers and names (inline SVG, nothing fetched)."""
    items = []
    for n in names:
        colour, shape = styles[n]
        filled = filled_all or n != "1 node"
        items.append(
            '<span class="key"><svg width="14" height="14" viewBox="0 0 14 14">'
            f"{marker(shape, 7, 7, colour, filled)}</svg>{escape(n)}</span>"
        )
    return "".join(items)
