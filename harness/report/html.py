"""Tiny HTML helpers shared by the run report and the comparison (escaping, tables, style)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from harness.verdict import VERDICT_WORD

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#212121;
     max-width:1400px}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.2em;margin-top:32px;border-bottom:1px solid #ddd}
h3{font-size:1.05em} table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top;max-width:520px;
      overflow-wrap:break-word}
th{background:#f5f5f5;word-break:normal;overflow-wrap:normal;hyphens:none}
details>summary{cursor:pointer;color:#1565c0;margin:4px 0}
.answer{font-size:15px;background:#e3f2fd;padding:8px 14px;border-left:4px solid #1565c0} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.hl td{background:#fff3e0;font-weight:600}
.valid{background:#c8e6c9;color:#1b5e20} .invalid{background:#ffcdd2;color:#b71c1c}
.unknown{background:#ffe0b2;color:#e65100}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;margin:2px 6px 2px 0;font-weight:600}
.caption{font-size:12px;color:#555;margin:2px 0 12px} img.plot{max-width:100%;display:block}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.anomaly{border-left:4px solid #e57373;padding:4px 12px;margin:12px 0;background:#fafafa}
.note{color:#6d4c41}
"""

VERDICT_CLASS = {True: "valid", False: "invalid", "unknown": "unknown"}


def verdict_badge(label: str, valid: Any) -> str:
    cls = VERDICT_CLASS.get(valid, "unknown")
    word = VERDICT_WORD.get(valid, str(valid))
    return f'<span class="badge {cls}">{escape(label)}: {escape(word)}</span>'


def short(value: Any, limit: int = 160) -> str:
    """A JSON value cut to `limit` characters (a final read can hold 100k elements)."""
    s = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    if len(s) > limit:
        return f"{s[:limit]}… ({len(s):,} chars)"
    return s


def pct(x: float | None) -> str:
    """A share as a percentage that never claims 100% or 0% unless it is exactly that:
    0.9997 -> 99.97%, 0.99999 -> >99.99%, 0.0002 -> 0.02%."""
    if x is None or x != x:
        return "–"
    if x >= 1.0 or x <= 0.0:
        return f"{100 * x:.0f}%"
    for digits in (1, 2):
        s = f"{100 * x:.{digits}f}"
        if s not in (f"{100:.{digits}f}", f"{0:.{digits}f}"):
            return f"{s}%"
    return ">99.99%" if x > 0.5 else "<0.01%"


def readable(value: Any, limit: int = 300) -> str:
    """A JSON value as a person reads it: `key: value; key: value`, lists comma-joined,
    nested dicts in parentheses, cut to `limit` characters."""

    def fmt(v: Any) -> str:
        if isinstance(v, dict):
            return "; ".join(f"{k}: {nested(x)}" for k, x in v.items()) if v else "–"
        if isinstance(v, list | tuple):
            inner = ", ".join(nested(x) for x in v)
            return inner or "none"
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)

    def nested(v: Any) -> str:
        return f"({fmt(v)})" if isinstance(v, dict) and v else fmt(v)

    s = fmt(value)
    return s if len(s) <= limit else f"{s[:limit]}… ({len(s):,} chars)"


def collapsed(summary: str, inner: str) -> str:
    """Content behind a count (closed by default) so long lists do not make pages endless."""
    return f"<details><summary>{escape(summary)}</summary>{inner}</details>"


def num(x: float | None, fmt: str = "{:.1f}") -> str:
    if x is None or x != x:  # None or NaN
        return "–"
    return fmt.format(x)


def table(
    headers: Sequence[str] | None,
    rows: Iterable[Sequence[Any]],
    row_classes: Sequence[str] | None = None,
    raw_cols: frozenset[int] = frozenset(),
) -> str:
    """Cells are escaped except in `raw_cols` (pre-built HTML such as links); headers None =
    a key/value table without a header row."""
    out = ["<table>"]
    if headers is not None:
        out += ["<thead><tr>", *(f"<th>{escape(h)}</th>" for h in headers), "</tr></thead>"]
    out.append("<tbody>")
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        out.append(f"<tr{cls}>")
        for j, cell in enumerate(row):
            numeric = isinstance(cell, int | float) and not isinstance(cell, bool)
            text = str(cell) if j in raw_cols else escape(str(cell))
            out.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def long_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    what: str,
    show: int = 10,
    raw_cols: frozenset[int] = frozenset(),
) -> str:
    """The first `show` rows, the rest behind "N more <what>"."""
    head = table(headers, rows[:show], raw_cols=raw_cols)
    if len(rows) <= show:
        return head
    rest = table(headers, rows[show:], raw_cols=raw_cols)
    return head + collapsed(f"{len(rows) - show} more {what} (of {len(rows)})", rest)


def page(title: str, body: list[str], style: str = "") -> str:
    """A whole page; `style` adds to the shared STYLE."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
