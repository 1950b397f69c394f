"""report.html for one run: what happened, when the faults were, and the evidence of each
anomaly, built from the results folder alone and self-contained (plots inline as PNG)."""

from __future__ import annotations

from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

from harness.history import NEMESIS, Op, pairs
from harness.report import plots
from harness.report.evidence_svg import drawing
from harness.report.html import (
    collapsed,
    long_table,
    num,
    page,
    pct,
    readable,
    short,
    table,
    verdict_badge,
)
from harness.report.results import (
    WRITE_DEFINITION,
    RunData,
    availability,
    completions,
    load_run,
    mode_label,
    quantiles,
    routes_reads,
)

MAX_ANOMALIES = 30  # per checker; verdict.json has them all
SHOWN_ANOMALIES = 5  # per checker before the rest is collapsed behind a count
MAX_OPS_PER_ANOMALY = 20
CONTEXT = 10  # ops of the same process shown before and after an anomaly's op

Pair = tuple[Op, Op | None]


def write_report(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    data = load_run(run_dir)
    out = run_dir / "report.html"
    out.write_text(render(data))
    return out


def render(data: RunData) -> str:
    df = completions(data.history)
    body = [_header(data, df)]
    body += _performance(data, df)
    body += _availability(data, df)
    body += _faults(data)
    body += _events(data)
    body += _anomalies(data)
    body += _files(data)
    return page(f"splitbrain: {data.name}", body)


def _header(data: RunData, df: Any) -> str:
    run, spec = data.run, data.spec
    mode = mode_label({"db": run.get("db"), "mode": run.get("mode"), **spec})
    facts = [
        ("database", run.get("db", spec.get("db", "?"))),
        ("topology / mode", f"{data.topology} / {mode}"),
        ("provider", run.get("provider", spec.get("provider", "?"))),
        ("workload", run.get("workload", spec.get("workload", "?"))),
        ("nemesis", ", ".join(run.get("nemesis", spec.get("nemesis", []))) or "none"),
    ]
    if routes_reads(spec):
        facts.append(("read from", spec.get("read_from", "?")))
    facts += [
        ("knobs", ", ".join(f"{k}={v}" for k, v in (spec.get("options") or {}).items()) or "–"),
        ("duration", f"{run['duration_s']} s" if "duration_s" in run else "?"),
        (
            "time limit / concurrency",
            f"{spec.get('time_limit', '?')} s / {spec.get('concurrency', '?')}",
        ),
        ("seed", run.get("seed", spec.get("seed", "?"))),
        ("started", run.get("started", "?")),
        ("run id", run.get("run_id", "?")),
    ]
    # Counted from the history as the plots count them: completed client ops; the nemesis's
    # ops (recorded as info) are counted apart, so the two figures agree.
    if not df.empty:
        by = df["type"].value_counts()
        facts.append(
            (
                "client ops (plotted)",
                f"ok {int(by.get('ok', 0))}, fail {int(by.get('fail', 0))}, "
                f"info {int(by.get('info', 0))}",
            )
        )
    nemesis_ops = sum(
        1
        for op in data.history
        if op.process == NEMESIS and op.type != "invoke" and op.f.startswith(("start-", "stop-"))
    )
    if nemesis_ops:
        facts.append(("nemesis ops", f"{nemesis_ops} fault starts and stops (not plotted)"))
    if run.get("recovery"):
        facts.append(("recovery", readable(run["recovery"])))
    badges = [verdict_badge("overall", data.verdict.get("valid", "unknown"))]
    badges += [verdict_badge(n, v.get("valid", "unknown")) for n, v in data.checkers.items()]
    parts = [
        f"<h1>{escape(data.name)}</h1>",
        f"<div>{''.join(badges)}</div>",
        table(None, facts),
    ]
    if run.get("aborted"):
        parts.append(f'<p class="note"><b>aborted:</b> {escape(str(run["aborted"]))}</p>')
    if not data.checkers:
        parts.append('<p class="note">No checker verdict in verdict.json.</p>')
    for e in run.get("errors", []) or []:
        parts.append(f'<p class="note">warning: {escape(str(e))}</p>')
    return "\n".join(parts)


def _performance(data: RunData, df: Any) -> list[str]:
    out = ["<h2>Latency and throughput</h2>"]
    if df.empty:
        return out + ["<p>No completed client op in the history.</p>"]
    img, note = plots.latency_plot(df, data.windows)
    out.append(
        f'<img class="plot" id="latency-plot" alt="latency over time" src="data:image/png;base64,{img}">'
    )
    out.append(
        '<p class="caption">Every completed op: x = completion time, y = latency (log scale), '
        f"coloured by outcome; shaded = fault windows. {escape(note)}</p>"
    )
    img = plots.throughput_plot(df, data.windows)
    out.append(
        f'<img class="plot" id="throughput-plot" alt="throughput over time" src="data:image/png;base64,{img}">'
    )
    out.append(
        '<p class="caption">Ops completed per second, stacked by outcome; shaded = fault windows.</p>'
    )
    q = quantiles(df)
    out.append("<h3>Latency quantiles (ms)</h3>")
    out.append(
        table(
            ["f", "type", "count", "p50", "p90", "p99", "max"],
            [
                (r.f, r.type, int(r.count), num(r.p50), num(r.p90), num(r.p99), num(r.max))
                for r in q.itertuples()
            ],
        )
    )
    return out


def _availability(data: RunData, df: Any) -> list[str]:
    out = ["<h2>Availability: during faults vs healthy</h2>"]
    if df.empty:
        return out + ["<p>No completed client op.</p>"]
    av = availability(df, data.windows)
    rows = [
        (
            r.period,
            pct(r.read_share),
            f"{r.read_ok}/{r.read_total}",
            pct(r.write_share),
            f"{r.write_ok}/{r.write_total}",
        )
        for r in av.itertuples()
    ]
    out.append(
        table(
            ["period", "reads ok", "reads ok/completed", "writes ok", "writes ok/completed"], rows
        )
    )
    out.append(
        f'<p class="caption">Share of completed ops that ended ok, by when they completed '
        f"(an op completing while a fault was active counts under that fault; overlapping "
        f"faults count it under each; healthy = no fault active). {escape(WRITE_DEFINITION)}.</p>"
    )
    return out


def _faults(data: RunData) -> list[str]:
    out = ["<h2>Fault windows</h2>"]
    if not data.windows:
        return out + ["<p>No nemesis op in the history: no fault was injected.</p>"]
    rows = [
        (
            w["label"],
            f"{w['start'] / 1e9:.3f}",
            f"{w.get('effective', w['start']) / 1e9:.3f}",
            f"{w['end'] / 1e9:.3f}",
            f"{(w['end'] - w['start']) / 1e9:.3f}",
            readable(w.get("params"), 200),
            readable(w.get("value"), 200),
        )
        for w in data.windows
    ]
    headers = [
        "fault",
        "invoked (s)",
        "took effect (s)",
        "healed (s)",
        "lasted (s)",
        "aimed at",
        "result",
    ]
    return out + [
        long_table(headers, rows, "fault windows"),
        '<p class="caption">A window runs from the nemesis invoking the fault (where the '
        "plots' shading starts) to the heal completing; took effect = the nemesis's "
        "completion (the dashed line on the plots).</p>",
    ]


def _events(data: RunData) -> list[str]:
    """What the nemesis saw change while a fault was in effect (lone nemesis info ops that
    neither start nor stop a fault), e.g. a primary falling back from semi-sync to async."""
    events = [
        op
        for op in data.history
        if op.process == NEMESIS and op.type == "info" and not op.f.startswith(("start-", "stop-"))
    ]
    if not events:
        return []

    def at(op: Op) -> float:
        v = op.value.get("at_ns") if isinstance(op.value, dict) else None
        return (v if isinstance(v, int) else op.time) / 1e9

    rows = [
        (op.f, f"{at(op):.3f}", f"{op.time / 1e9:.3f}", readable(op.value, 300)) for op in events
    ]
    return [
        "<h2>What the nemesis saw</h2>",
        long_table(["event", "happened (s)", "recorded (s)", "what"], rows, "nemesis events"),
        '<p class="caption">Observed on the database while a fault was in effect: when it '
        "happened (as first read by the fault's own watch) and when the nemesis recorded it."
        "</p>",
    ]


def _anomalies(data: RunData) -> list[str]:
    out = ["<h2>Anomalies</h2>"]
    by_index: dict[int, Pair] = {}
    by_process: dict[Any, list[Pair]] = defaultdict(list)
    for p in pairs(data.history):
        by_process[p[0].process].append(p)
        by_index[p[0].index] = p
        if p[1] is not None:
            by_index[p[1].index] = p
    ops = {op.index: op for op in data.history}
    linked: dict[int, None] = {}  # ordered set of op indices that get a timeline
    any_anomaly = False
    for checker, v in data.checkers.items():
        anomalies = v.get("anomalies", []) or []
        for note in v.get("notes", []) or []:
            out.append(f'<p class="note">{escape(checker)}: {escape(str(note))}</p>')
        if not anomalies:
            continue
        any_anomaly = True
        counts = ", ".join(f"{k}: {n}" for k, n in sorted((v.get("counts") or {}).items()))
        out.append(f"<h3>{escape(checker)} ({escape(counts)})</h3>")
        if len(anomalies) > MAX_ANOMALIES:
            out.append(
                f'<p class="note">Showing the first {MAX_ANOMALIES} of {len(anomalies)} '
                "anomalies; verdict.json has them all.</p>"
            )
        shown = [
            _anomaly(checker, n, a, by_index, ops, linked, drawing(data.history, a, data.windows))
            for n, a in enumerate(anomalies[:MAX_ANOMALIES])
        ]
        out += shown[:SHOWN_ANOMALIES]
        if len(shown) > SHOWN_ANOMALIES:
            out.append(
                collapsed(
                    f"{len(shown) - SHOWN_ANOMALIES} more {checker} anomalies "
                    f"(of {len(anomalies)})",
                    "".join(shown[SHOWN_ANOMALIES:]),
                )
            )
    if not data.checkers:
        out.append("<p>No checker ran on this history (see the note at the top).</p>")
    elif not any_anomaly:
        out.append("<p>No checker reported an anomaly.</p>")
    if linked:
        out.append("<h2>Process timelines around the evidence</h2>")
        out.append(
            f'<p class="caption">One per op of the evidence above (its invocation and '
            f"completion are one op): the {CONTEXT} ops before and after it on the same "
            "process (a process that saw an indeterminate op continues under a new id, so a "
            f"timeline can be short), and the fault windows around them. {len(linked)} "
            "timeline(s), each folded: click to open.</p>"
        )
        for idx in linked:
            out.append(_timeline(idx, by_index, by_process, ops, data.windows))
    return out


def _anomaly(
    checker: str,
    n: int,
    a: dict[str, Any],
    by_index: dict[int, Pair],
    ops: dict[int, Op],
    linked: dict[int, None],
    svg: str = "",
) -> str:
    rows = []
    # A checker may list an op's invocation and its completion: one op, one row, one timeline.
    keys: dict[int, None] = {}
    for idx in a.get("ops", []) or []:
        pair = by_index.get(idx)
        keys[pair[0].index if pair is not None else idx] = None
    idxs = list(keys)
    for idx in idxs[:MAX_OPS_PER_ANOMALY]:
        linked[idx] = None
        inv, comp = by_index.get(idx, (ops.get(idx), None))
        if inv is None:
            rows.append((str(idx), "?", "?", "?", "?", "?", "not in history", "?"))
            continue
        shown = comp if comp is not None else inv
        label = f"{inv.index}→{comp.index}" if comp is not None else str(inv.index)
        rows.append(
            (
                f'<a href="#op-{idx}">{label}</a>',
                str(inv.process),
                shown.node or inv.node or "",
                f"{inv.time / 1e9:.3f}",
                f"{comp.time / 1e9:.3f}" if comp else "never completed",
                inv.f,
                short(shown.value),
                comp.type if comp else inv.type,
            )
        )
    more = ""
    if len(idxs) > MAX_OPS_PER_ANOMALY:
        more = f'<p class="note">{len(idxs) - MAX_OPS_PER_ANOMALY} more ops in verdict.json.</p>'
    data = a.get("data") or {}
    data_html = f'<p class="mono">{escape(readable(data, 400))}</p>' if data else ""
    return (
        f'<div class="anomaly" id="anomaly-{escape(checker)}-{n}"><b>{escape(str(a.get("type")))}</b>: '
        f"{escape(str(a.get('explanation', '')))}{data_html}"
        + (f'<div class="drawing">{svg}</div>' if svg else "")
        + table(
            ["op", "process", "node", "invoked (s)", "completed (s)", "f", "value", "type"],
            rows,
            raw_cols=frozenset({0}),
        )
        + more
        + "</div>"
    )


def _timeline(
    idx: int,
    by_index: dict[int, Pair],
    by_process: dict[Any, list[Pair]],
    ops: dict[int, Op],
    wins: list[dict[str, Any]],
) -> str:
    pair = by_index.get(idx)
    if pair is None:
        op = ops.get(idx)
        what = "not a client op" if op is not None and op.process == NEMESIS else "not in history"
        return f'<h3 id="op-{idx}">op {idx}</h3><p>{what}</p>'
    inv = pair[0]
    seq = by_process[inv.process]
    pos = next(i for i, p in enumerate(seq) if p[0].index == inv.index)
    window = seq[max(0, pos - CONTEXT) : pos + CONTEXT + 1]
    rows, classes = [], []
    for a, c in window:
        rows.append(
            (
                a.index,
                c.index if c else "–",
                f"{a.time / 1e9:.3f}",
                f"{c.time / 1e9:.3f}" if c else "–",
                a.f,
                short(a.value, 80),
                short(c.value, 80) if c else "–",
                c.type if c else "no completion",
                (c.node if c else None) or a.node or "",
                (c.error if c else None) or "",
            )
        )
        classes.append("hl" if a.index == inv.index else "")
    lo = window[0][0].time - 5_000_000_000
    hi = max((c or a).time for a, c in window) + 5_000_000_000
    near = [w for w in wins if w["start"] < hi and w["end"] > lo]
    faults = (
        "; ".join(f"{w['label']} {w['start'] / 1e9:.3f}–{w['end'] / 1e9:.3f} s" for w in near)
        or "no fault within 5 s of these ops"
    )
    comp = pair[1]
    what = f"op {inv.index}" + (f"→{comp.index}" if comp is not None else "")
    what += f" ({inv.f}, {comp.type if comp is not None else 'never completed'}) on process "
    what += f"{inv.process}: {len(window)} ops around it"
    return (
        f'<details class="timeline" id="op-{idx}"><summary>{escape(what)}</summary>'
        f'<p class="caption">Fault windows around (invoked–healed): {escape(faults)}</p>'
        + table(
            [
                "invoke",
                "completion",
                "invoked (s)",
                "completed (s)",
                "f",
                "value in",
                "value out",
                "type",
                "node",
                "error",
            ],
            rows,
            row_classes=classes,
        )
        + "</details>"
    )


def _files(data: RunData) -> list[str]:
    logs = data.dir / "logs"
    files = sorted(p for p in logs.rglob("*") if p.is_file()) if logs.is_dir() else []
    out = ["<h2>Files</h2>", "<p>"]
    for name in ("spec.json", "history.jsonl", "verdict.json", "summary.txt", "junit.xml"):
        if (data.dir / name).exists():
            out.append(f'<a href="{name}">{name}</a> ')
    out.append("</p>")
    if files:
        out.append(
            "<p>Node logs: "
            + " ".join(
                f'<a href="{escape(str(p.relative_to(data.dir)))}">{escape(str(p.relative_to(logs)))}</a>'
                for p in files[:200]
            )
            + "</p>"
        )
    return out
