"""Drawings of evidence, as inline SVG (no script, no network): what Porcupine's users ask of
a visualisation, for splitbrain's anomalies.

- `lanes`: a linearizability anomaly's ops on one lane per process against time. The op no
  order places (`data.op`) is red, the point up to which the history is linearizable
  (`data.prefix_end`, that op's return) a dashed line, fault windows shaded, the
  partial linearization's order (`data.linearization`, when the checker gives it) numbered
  on the ops, and each op's call and return times, value and node on hover (<title>).
- `cycle`: a transactional cycle (Elle's `data.cycle`) as its transactions on a circle and
  the edges between them, labelled with the dependency kind and key.
Pure functions of the history, the anomaly and the fault windows."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from harness.checkers.models import show
from harness.history import Op
from harness.report.results import window_label

LANE_H = 28
LEFT = 90
WIDTH = 900
MAX_LABEL = 22
CHAR_W = 6.6  # px an 11 px sans-serif character takes at most, about (digits, lower case)
COLORS = {"ok": "#9ecae1", "info": "#fdd0a2", "fail": "#d9d9d9"}


def _short(v: Any) -> str:
    s = v if isinstance(v, str) else show(v)
    return s if len(s) <= MAX_LABEL else s[: MAX_LABEL - 1] + "…"


def _label_x(a: float, text: str) -> tuple[float, str]:
    """Where an op's label starts (just inside its box), or, when that would run past the
    drawing's right edge (the red op usually sits there), its end at that edge."""
    if a + 3 + len(text) * CHAR_W <= WIDTH - 4:
        return a + 3, ""
    return WIDTH - 4, ' text-anchor="end"'


def _when(op: Op) -> float:
    return op.time / 1e9 if op.time >= 0 else float(op.index)


def lanes(
    history: list[Op], anomaly: dict[str, Any], windows: list[dict[str, Any]] | None = None
) -> str:
    """The SVG of a linearizability anomaly's ops per process against time ("" if the
    anomaly names no op of `history`)."""
    by_index = {op.index: op for op in history}
    comp_of: dict[int, Op] = {}
    pending: dict[Any, Op] = {}
    for op in history:
        if op.process == "nemesis":
            continue
        if op.type == "invoke":
            pending[op.process] = op
        else:
            inv = pending.pop(op.process, None)
            if inv is not None:
                comp_of[inv.index] = op
    inv_of = {c.index: i for i, c in comp_of.items()}
    calls: dict[int, tuple[Op, Op | None]] = {}
    for idx in anomaly.get("ops") or []:
        found = by_index.get(idx)
        if found is None or found.process == "nemesis":
            continue
        inv = by_index[inv_of[idx]] if found.type != "invoke" and idx in inv_of else found
        calls[inv.index] = (inv, comp_of.get(inv.index))
    if not calls:
        return ""
    data = anomaly.get("data") or {}
    x_op = data.get("op")
    keyed = data.get("key") is not None
    prefix_end = by_index.get(data.get("prefix_end", -1))
    order = {idx: n for n, idx in enumerate(data.get("linearization") or [], start=1)}
    timed = all(op.time >= 0 for inv, c in calls.values() for op in (inv, c) if op is not None)
    when = _when if timed else (lambda op: float(op.index))
    t0 = min(when(inv) for inv, _ in calls.values())
    t1 = max(when(c) if c is not None else when(inv) for inv, c in calls.values())
    if prefix_end is not None:
        t1 = max(t1, when(prefix_end))
    span = (t1 - t0) or 1.0
    t0 -= span * 0.03
    t1 += span * 0.08
    span = t1 - t0

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * (WIDTH - LEFT - 10)

    procs = sorted({inv.process for inv, _ in calls.values()}, key=lambda p: (str(type(p)), p))
    lane = {p: n for n, p in enumerate(procs)}
    height = 30 + LANE_H * len(procs) + 30
    unit = "s" if timed else "op"
    out = [
        f'<svg class="lanes" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" '
        'font-size="11">'
    ]
    top, bottom = 20, 20 + LANE_H * len(procs)
    for w in windows or []:
        ws, we = w["start"] / 1e9, w["end"] / 1e9
        if not timed or we < t0 or ws > t1:
            continue
        a, b = x(max(ws, t0)), x(min(we, t1))
        label = escape(window_label(w) if "fault" in w else str(w.get("f", "fault")))
        out.append(
            f'<rect class="fault" x="{a:.1f}" y="{top}" width="{max(b - a, 1):.1f}" '
            f'height="{bottom - top}" fill="#fdae6b" fill-opacity="0.25">'
            f"<title>{label} {ws:.3f}–{we:.3f} s</title></rect>"
        )
    for p, n in lane.items():
        y = top + n * LANE_H
        out.append(
            f'<text x="4" y="{y + 17}" fill="#555">process {escape(str(p))}</text>'
            f'<line x1="{LEFT}" y1="{y + LANE_H}" x2="{WIDTH - 10}" y2="{y + LANE_H}" '
            'stroke="#eee"/>'
        )
    for inv, comp in sorted(calls.values(), key=lambda c: c[0].index):
        y = top + lane[inv.process] * LANE_H + 4
        a = x(when(inv))
        b = x(when(comp)) if comp is not None else x(t1)
        kind = comp.type if comp is not None else "info"
        blocked = inv.index == x_op
        fill = "#e6550d" if blocked else COLORS.get(kind, "#d9d9d9")
        dash = ' stroke-dasharray="4 2"' if comp is None or kind == "info" else ""
        shown = comp.value if comp is not None and kind == "ok" else inv.value
        if keyed and isinstance(shown, list) and len(shown) == 2:
            shown = shown[1]  # Jepsen's [key value] (unkeyed, [a b] is a cas's old and new)
        text = f"{inv.f} {_short(shown)}" if shown is not None else inv.f
        done = (
            f"completed {when(comp):.6g} {unit} ({comp.type})"
            if comp is not None
            else "never completed"
        )
        node = (comp.node if comp is not None else None) or inv.node or ""
        title = (
            f"{inv.f} {shown!r}, process {inv.process}"
            + (f", node {node}" if node else "")
            + f": invoked {when(inv):.6g} {unit}, {done}; ops {inv.index}"
            + (f"→{comp.index}" if comp is not None else "")
        )
        if blocked:
            title += " — no order of the listed ops places this op"
        rank = order.get(inv.index)
        if rank is not None:
            title += f"; linearized {rank} of {len(order)}"
        cls = "op blocked" if blocked else "op"
        tx, anchor = _label_x(a, text)
        out.append(
            f'<g class="{cls}" data-op="{inv.index}"><title>{escape(title)}</title>'
            f'<rect x="{a:.1f}" y="{y}" width="{max(b - a, 2):.1f}" height="{LANE_H - 8}" '
            f'rx="3" fill="{fill}" stroke="#333"{dash}/>'
            f'<text x="{tx:.1f}" y="{y + 14}"{anchor}>{escape(text)}</text>'
            + (
                f'<text class="order" x="{b - 3:.1f}" y="{y - 1}" text-anchor="end" '
                f'font-size="9" fill="#08519c">#{rank}</text>'
                if rank is not None
                else ""
            )
            + "</g>"
        )
    if prefix_end is not None:
        px = x(when(prefix_end))
        out.append(
            f'<line class="prefix" x1="{px:.1f}" y1="{top - 6}" x2="{px:.1f}" y2="{bottom + 4}" '
            'stroke="#d62728" stroke-dasharray="5 3" stroke-width="1.5"/>'
            f'<text x="{px - 4:.1f}" y="{bottom + 18}" text-anchor="end" fill="#d62728">'
            "linearizable up to here</text>"
        )
    out.append(
        f'<text x="{WIDTH - 10}" y="12" text-anchor="end" fill="#777">time ({unit})</text></svg>'
    )
    return "".join(out)


def cycle(anomaly: dict[str, Any]) -> str:
    """The SVG of a transactional cycle: its transactions on a circle, an arrow per edge
    labelled with its kind and key ("" if the anomaly has no cycle)."""
    steps = (anomaly.get("data") or {}).get("cycle") or []
    if not steps:
        return ""
    n = len(steps)
    size = 360
    cx = cy = size / 2
    r = size / 2 - 70
    pos = {}
    for i, s in enumerate(steps):
        ang = -math.pi / 2 + 2 * math.pi * i / n
        pos[s["op"]] = (cx + r * math.cos(ang), cy + r * math.sin(ang))
    out = [
        f'<svg class="cycle" xmlns="http://www.w3.org/2000/svg" width="{size}" '
        f'height="{size}" viewBox="0 0 {size} {size}" font-family="sans-serif" font-size="11">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#333"/></marker></defs>'
    ]
    for s in steps:
        a, b = pos[s["op"]], pos.get(s["to"])
        if b is None:
            continue
        dx, dy = b[0] - a[0], b[1] - a[1]
        d = math.hypot(dx, dy) or 1.0
        ux, uy = dx / d, dy / d
        x1, y1 = a[0] + ux * 26, a[1] + uy * 26
        x2, y2 = b[0] - ux * 26, b[1] - uy * 26
        mx, my = (x1 + x2) / 2 - uy * 14, (y1 + y2) / 2 + ux * 14
        label = f"{s.get('edge', '')} {s.get('key', '')}".strip()
        out.append(
            f'<g class="edge"><title>{escape(_edge_title(s))}</title>'
            f'<path d="M{x1:.1f},{y1:.1f} Q{mx:.1f},{my:.1f} {x2:.1f},{y2:.1f}" fill="none" '
            'stroke="#333" marker-end="url(#arrow)"/>'
            f'<text x="{mx:.1f}" y="{my:.1f}" text-anchor="middle" fill="#08519c">'
            f"{escape(label)}</text></g>"
        )
    for i, s in enumerate(steps, start=1):
        x, y = pos[s["op"]]
        txn = " ".join(_mop(m) for m in s.get("txn") or [])
        tip = escape(f"T{i} (op {s['op']}): {txn}")
        out.append(
            f'<g class="txn" data-op="{s["op"]}"><title>{tip}'
            f'</title><circle cx="{x:.1f}" cy="{y:.1f}" r="24" fill="#c6dbef" stroke="#333"/>'
            f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">T{i}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def _mop(m: Any) -> str:
    if isinstance(m, list | tuple) and len(m) == 3:
        return f"[{m[0]} {m[1]} {m[2]!r}]"
    return repr(m)


def _edge_title(s: dict[str, Any]) -> str:
    kind = {"ww": "write-write", "wr": "write-read", "rw": "read-write (anti-dependency)"}.get(
        str(s.get("edge")), str(s.get("edge", ""))
    )
    return f"op {s['op']} → op {s['to']}: {kind} on key {s.get('key')!r}"


def drawing(history: list[Op], anomaly: dict[str, Any], windows: list[dict[str, Any]]) -> str:
    """The drawing that fits an anomaly ("" if none does)."""
    data = anomaly.get("data") or {}
    if data.get("cycle"):
        return cycle(anomaly)
    if "prefix_end" in data and "op" in data:
        return lanes(history, anomaly, windows)
    return ""
