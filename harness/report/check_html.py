"""`splitbrain check --html OUT`: one self-contained page for the histories checked, each
verdict with its anomalies, their explanations and drawings (evidence_svg)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from harness.history import Op, load
from harness.report.evidence_svg import drawing
from harness.report.html import page, verdict_badge
from harness.report.results import windows_from_invocation

MAX_DRAWN = 50  # anomalies drawn per checker of one history (the rest are listed)


def section(path: Path, doc: dict[str, Any], history: list[Op]) -> str:
    windows = windows_from_invocation(history)
    out = [f"<h2>{escape(str(path))} {verdict_badge('verdict', doc['valid'])}</h2>"]
    for note in doc.get("notes", []):
        out.append(f'<p class="note">{escape(str(note))}</p>')
    for name, v in doc["checkers"].items():
        anomalies = v.get("anomalies") or []
        out.append(f"<h3>{escape(name)}: {len(anomalies)} anomalies</h3>")
        for note in v.get("notes") or []:
            out.append(f'<p class="note">{escape(str(note))}</p>')
        for n, a in enumerate(anomalies):
            key = (a.get("data") or {}).get("key")
            head = escape(str(a.get("type"))) + (f" (key {escape(str(key))})" if key else "")
            svg = drawing(history, a, windows) if n < MAX_DRAWN else ""
            out.append(
                f'<div class="anomaly"><b>{head}</b>: {escape(str(a.get("explanation", "")))}'
                + (f'<div class="drawing">{svg}</div>' if svg else "")
                + "</div>"
            )
    return "".join(out)


def write(out: Path, checked: list[tuple[Path, dict[str, Any]]]) -> None:
    """The page for `checked` (path, verdict document) at `out`; each history is read again
    (only for drawing)."""
    body = ["<h1>splitbrain check</h1>"]
    body.append(
        '<p class="caption">Each drawing shows the ops that prove an anomaly: one lane per '
        "process against time, the op no order places in red, the point up to which the "
        "history is linearizable as a dashed line, fault windows shaded, the partial "
        "linearization numbered; a transactional cycle as its transactions and edges. Hover "
        "an op for its call and return times.</p>"
    )
    for path, doc in checked:
        body.append(section(path, doc, load(path)))
    out.write_text(page("splitbrain check", body), encoding="utf-8")
