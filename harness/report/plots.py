"""Matplotlib figures as inline base64 PNG (Agg backend: no display, no network)."""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harness.report.results import window_label  # noqa: E402
from nemesis import faults  # noqa: E402

TYPE_COLOURS = {"ok": "#2e7d32", "fail": "#c62828", "info": "#f9a825"}
MAX_POINTS = 20_000  # a scatter of more points is slow to draw and no more readable


def png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def shade(ax: Any, wins: list[dict[str, Any]]) -> None:
    """Shade fault windows behind the data from the fault's invocation to its heal, with a
    dashed line where it took effect (the nemesis's completion), labelled above the axes
    (overlaps stack rows)."""
    rows_end: list[float] = []
    for w in sorted(wins, key=lambda w: w["start"]):
        s, e = w["start"] / 1e9, w["end"] / 1e9
        colour = faults.colour(w["fault"])  # each fault module says how it is drawn
        ax.axvspan(s, e, color=colour, alpha=0.35, lw=0, zorder=0)
        effective = w.get("effective", w["start"]) / 1e9
        if effective > s:
            ax.axvline(effective, color="#37474f", lw=0.8, ls="--", zorder=1)
        row = next((i for i, end in enumerate(rows_end) if end <= s), len(rows_end))
        if row == len(rows_end):
            rows_end.append(e)
        rows_end[row] = e
        ax.annotate(
            w.get("label") or window_label(w),
            xy=(s, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(1, 2 + 10 * row),
            textcoords="offset points",
            fontsize=7,
            color="#37474f",
            va="bottom",
            annotation_clip=False,
            bbox={"boxstyle": "square,pad=0.1", "fc": colour, "alpha": 0.6, "lw": 0},
        )


def sample(df: pd.DataFrame, limit: int = MAX_POINTS, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """Keep every fail/info point (they are the interesting ones) and a random sample of ok."""
    if len(df) <= limit:
        return df, ""
    rare = df[df["type"] != "ok"]
    if len(rare) >= limit:
        kept = rare.sample(limit, random_state=seed)
    else:
        ok = df[df["type"] == "ok"].sample(limit - len(rare), random_state=seed)
        kept = pd.concat([rare, ok])
    note = (
        f"Downsampled: {len(kept):,} of {len(df):,} ops drawn (all fail/info kept, "
        f"a random sample of ok); the quantile table uses every op."
    )
    return kept.sort_values("time"), note


def latency_plot(df: pd.DataFrame, wins: list[dict[str, Any]]) -> tuple[str, str]:
    pts, note = sample(df)
    fig, ax = plt.subplots(figsize=(13, 4.2))
    for typ, colour in TYPE_COLOURS.items():
        sel = pts[pts["type"] == typ]
        if len(sel):
            ax.scatter(
                sel["time"] / 1e9,
                np.maximum(sel["latency"], 1) / 1e6,
                s=4,
                c=colour,
                label=f"{typ} ({int((df['type'] == typ).sum()):,})",
                alpha=0.6,
                lw=0,
                zorder=2,
            )
    shade(ax, wins)
    ax.set_yscale("log")
    ax.set_xlabel("completion time (s since start)")
    ax.set_ylabel("latency (ms, log)")
    ax.grid(True, which="major", alpha=0.3)
    if len(pts):
        ax.legend(loc="lower right", fontsize=8, markerscale=3)
    return png(fig), note


def throughput_plot(df: pd.DataFrame, wins: list[dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(13, 3.6))
    if len(df):
        sec = (df["time"] // 1_000_000_000).astype("int64")
        counts = pd.crosstab(sec, df["type"])
        full = range(int(sec.min()), int(sec.max()) + 1)
        counts = counts.reindex(full, fill_value=0)
        x = np.asarray(counts.index, dtype=float)
        bottom = np.zeros(len(counts))
        for typ, colour in TYPE_COLOURS.items():
            if typ in counts:
                y = counts[typ].to_numpy(dtype=float)
                ax.bar(
                    x,
                    y,
                    width=1.0,
                    bottom=bottom,
                    align="edge",
                    color=colour,
                    label=typ,
                    lw=0,
                    zorder=2,
                )
                bottom += y
        ax.set_ylim(0, max(1.0, float(bottom.max())) * 1.08)
        ax.legend(loc="upper right", fontsize=8)
    shade(ax, wins)
    ax.set_xlabel("completion time (s since start)")
    ax.set_ylabel("ops completed per second")
    ax.grid(True, axis="y", alpha=0.3)
    return png(fig)


def scaling_plot(lines: dict[tuple[str, int], list[tuple[int, float]]]) -> str:
    """Acknowledged writes/s against the number of nodes taking writes, one line per
    database and cluster size."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    top = 1.0
    for (db, n), pts in lines.items():
        x = [k for k, _ in pts]
        y = [v for _, v in pts]
        top = max(top, *y)
        ax.plot(x, y, marker="o", label=f"{db}, {n} nodes")
        for k, v in pts:
            ax.annotate(f"{v:.0f}", (k, v), xytext=(4, 4), textcoords="offset points", fontsize=8)
    ks = sorted({k for pts in lines.values() for k, _ in pts})
    ax.set_xticks(ks or [1])
    ax.set_xlabel("nodes taking writes")
    ax.set_ylabel("acknowledged writes per second")
    ax.set_ylim(0, top * 1.15)
    ax.grid(True, alpha=0.3)
    if lines:
        ax.legend(fontsize=8, loc="best")
    return png(fig)
