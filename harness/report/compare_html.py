"""compare.html: the answer first (the trade-off table and its pictures, glance.py), then
the details each cell rests on: conflicts, write availability per fault kind, data loss per
fault window, write scaling, every configuration's figures, and every run."""

from __future__ import annotations

from html import escape
from pathlib import Path

from harness.report import plots
from harness.report.configs import NAMED, Config, row
from harness.report.glance import STYLE, first_screen
from harness.report.html import collapsed, long_table, num, page, pct, table
from harness.report.measures import SLICE_NS
from harness.report.results import HEALTHY, WRITE_DEFINITION
from harness.report.run_links import Links
from harness.report.scaling import CAVEAT, ScalePoint, ratio, series

MAX_RUN_LIST = 12  # runs listed before the rest is collapsed


def render(configs: list[Config], faults: list[str], points: list[ScalePoint], out: Path) -> str:
    runs = [d for c in configs for d in c.runs] + [p.run for p in points]
    links = Links(runs, out)
    body = ["<h1>splitbrain: primary-replica or peer-to-peer?</h1>"]
    if configs:
        body += first_screen(configs, points, links)
    else:
        body.append(
            '<h2 id="tradeoffs">Trade-offs, as measured</h2><p class="note">No fault-injection '
            "run among these folders, only write-scaling runs: the trade-off table, conflicts, "
            "availability and data loss need runs with faults (e.g. `splitbrain suite "
            "suites/nightly.yaml`; compare both folders together).</p>"
        )
    body.append('<h2 id="summary">Summary</h2><div class="answer"><ul>')
    body += [f"<li>{escape(s)}</li>" for s in summary(configs, points)]
    body.append("</ul></div>")
    if configs:
        body += _conflicts(configs, links)
        body += _availability(configs, links)
        body += _data_loss(configs, links)
    body += _scaling(points, links)
    body += _details(configs, faults)
    body += _run_list(configs, points, links)
    return page("splitbrain comparison", body, STYLE)


def _conflicts(configs: list[Config], links: Links) -> list[str]:
    def n(c: Config, key: str) -> str:
        v = c.conflict.get(key)
        return "–" if v is None else f"{v:,}"

    rows = []
    for c in configs:
        rej = c.conflict.get("certification_rejects")
        of = (
            f" of {c.of_writes:,} ({pct(rej / c.of_writes)})"
            if rej is not None and c.of_writes
            else ""
        )
        if rej is not None and c.reads_rejected:
            of += f"; and {c.reads_rejected:,} reads"
        measured = sorted({d for rs in c.conflict_runs.values() for d in rs})
        rows.append(
            [
                escape(c.label),
                escape(c.topology),
                escape(n(c, "certification_rejects") + of),
                escape(n(c, "lost_to_lww")),
                escape(n(c, "lost_updates")),
                escape(n(c, "write_skew")),
                escape(n(c, "read_skew")),
                links.many(measured) or "–",
            ]
        )
    headers = [
        "configuration",
        "topology",
        "certification refusals",
        "lost to last-write-wins",
        "lost updates",
        "write skew (G2)",
        "read skew (G-single)",
        "runs",
    ]
    return [
        '<h2 id="conflicts">Conflicts per configuration</h2>',
        table(headers, rows, raw_cols=frozenset(range(len(headers)))),
        '<p class="caption">Certification refusals: writes that ended fail with a deadlock '
        "error (1213) on a peer-to-peer database: the client was told and must retry. Lost to "
        "last-write-wins: acknowledged writes the conflicts checker found silently replaced by "
        "an older one. Lost updates, write and read skew: the list-append checker's cycles. "
        "– = not measured (no run with that checker, or a single-writer database).</p>",
    ]


def _availability(configs: list[Config], links: Links) -> list[str]:
    rows = []
    for c in configs:
        for kind in ["whole run", *c.fault_kinds()]:
            st = c.stretch[kind]
            rows.append(
                [
                    escape(c.label),
                    escape(kind),
                    str(st.windows) if kind != "whole run" else "–",
                    f"{st.covered_s:.1f}",
                    escape(pct(st.share)),
                    f"{st.longest_gap_s:.2f}",
                    f"{st.lost:,}" if c.loss_runs else "–",
                    links.many(c.stretch_runs[kind]),
                ]
            )
    headers = [
        "configuration",
        "fault kind",
        "windows",
        "time (s)",
        "time with surviving acknowledged writes",
        "longest stretch without (s)",
        "acknowledged, then lost",
        "runs",
    ]
    return [
        '<h2 id="availability">Write availability per fault kind</h2>',
        long_table(headers, rows, "rows", show=16, raw_cols=frozenset(range(len(headers)))),
        f'<p class="caption">A fault\'s time runs from the nemesis invoking it to the heal '
        f"completing, cut in {SLICE_NS // 1_000_000_000} s slices; a slice counts when a write "
        "was acknowledged in it and not lost afterwards (writes the set checker found lost are "
        "counted beside, not as available; – = no run checked for lost writes). Kill "
        "(primary) aims at the node taking writes, kill (random node) at any node (it may hit "
        "the primary); on a peer-to-peer database a fault aimed at the primary hits a random "
        "node and is named so. Whole run = first invocation to last completion of the "
        "workload, faults included.</p>",
    ]


def _data_loss(configs: list[Config], links: Links) -> list[str]:
    agg, detail = [], []
    for c in configs:
        faulted = [(d, w) for d, w in c.losses if w.kind != "no fault"]
        if not c.losses:
            continue
        lost = [w.lost for _, w in faulted]
        spans = [w.interval_s for _, w in c.losses if w.interval_s is not None]
        agg.append(
            [
                escape(c.label),
                str(len(faulted)),
                f"{sum(lost):,}",
                f"{sum(lost) / len(lost):.1f}" if lost else "–",
                f"{max(lost):,}" if lost else "–",
                f"{max(spans):.2f}" if spans else "–",
                f"{sum(w.lost for _, w in c.losses if w.kind == 'no fault'):,}",
            ]
        )
        for d, w in c.losses:
            if not w.lost:
                continue
            rel = (
                f"{w.first_ack_s - w.invoked_s:+.2f} … {w.last_ack_s - w.invoked_s:+.2f}"
                if w.invoked_s is not None
                and w.first_ack_s is not None
                and w.last_ack_s is not None
                else "–"
            )
            detail.append(
                [
                    escape(c.label),
                    links.one(d),
                    escape(w.kind),
                    f"{w.invoked_s:.2f} – {w.healed_s:.2f}" if w.invoked_s is not None else "–",
                    f"{w.lost:,}",
                    f"{w.first_ack_s:.2f} – {w.last_ack_s:.2f}",
                    escape(rel),
                    f"{w.interval_s:.2f}" if w.interval_s is not None else "–",
                ]
            )
    out = ['<h2 id="data-loss">Failover data-loss window</h2>']
    if not agg:
        return out + ["<p>No run with a fault window or a lost write.</p>"]
    out.append(
        table(
            [
                "configuration",
                "fault windows",
                "lost acknowledged writes",
                "mean per window",
                "most in one window",
                "longest span of their acks (s)",
                "lost outside faults",
            ],
            agg,
            raw_cols=frozenset(range(7)),
        )
    )
    if detail:
        headers = [
            "configuration",
            "run",
            "fault kind",
            "invoked – healed (s)",
            "lost",
            "acknowledged (s)",
            "relative to invocation (s)",
            "span (s)",
        ]
        out.append(long_table(headers, detail, "windows with losses", raw_cols=frozenset(range(8))))
    out.append(
        '<p class="caption">Lost = acknowledged, then missing from every final read after '
        "healing (set checker), or silently replaced by an older write under last-write-wins "
        "(conflicts checker). Each is charged to the fault window (invocation to heal) it "
        "was acknowledged in; every window counts, also those that lost nothing. The span is "
        "the time between the first and last acknowledgement of the writes lost in it: the "
        "window during which the database said yes to writes it was going to lose.</p>"
    )
    return out


def _scaling(points: list[ScalePoint], links: Links) -> list[str]:
    out = ['<h2 id="scaling">Write scaling, measured</h2>']
    if not points:
        return out + [
            "<p>No `splitbrain scale` run among these folders: run it to measure "
            "acknowledged writes/s with writes sent to 1 node vs every node.</p>"
        ]
    lines = series(points)
    img = plots.scaling_plot(lines)
    out.append(f'<p class="note"><b>Caveat:</b> {escape(CAVEAT)}</p>')
    out.append(
        f'<img class="plot" id="scaling-plot" alt="acknowledged writes per second against '
        f'nodes taking writes" src="data:image/png;base64,{img}">'
    )
    rows = []
    for p in points:
        rows.append(
            [
                escape(p.db),
                str(p.nodes),
                str(p.write_nodes),
                num(p.ok_per_s, "{:,.0f}"),
                f"{p.ok_writes:,}",
                f"{p.refused:,}",
                f"{p.unknown:,}",
                f"{p.refused_reads:,}",
                escape(", ".join(f"{n} {k:,}" for n, k in p.ok_by_node.items()) or "–"),
                links.one(p.run),
            ]
        )
    headers = [
        "database",
        "nodes",
        "nodes taking writes",
        "acknowledged writes/s",
        "acknowledged",
        "writes refused",
        "writes indeterminate",
        "reads refused",
        "acknowledged by node",
        "run",
    ]
    out.append(table(headers, rows, raw_cols=frozenset(range(len(headers)))))
    ratios = [
        f"{db} ({n} nodes): ×{r:.2f}"
        for (db, n), line in lines.items()
        if (r := ratio(line)) is not None
    ]
    out.append(
        '<p class="caption">Same set workload (adds and reads; only adds count as writes), '
        "same clients, no fault; the only difference is routing: each client is pinned to "
        "one of the first k nodes, for its reads too. A primary-replica "
        "database refuses writes on its replicas: those refusals are the measurement, not an "
        "error of the harness. Ratio all nodes / 1 node: "
        + escape("; ".join(ratios) or "–")
        + ".</p>"
    )
    return out


def _details(configs: list[Config], faults: list[str]) -> list[str]:
    out = []
    for topology in sorted({c.topology for c in configs}):
        group = [c for c in configs if c.topology == topology]
        out.append(f"<h2>{escape(topology)}</h2>")
        headers = ["configuration", "runs", "valid / invalid / unknown"]
        headers += [f"writes ok: {p}" for p in [HEALTHY, *faults]]
        headers += [f"reads ok: {p}" for p in [HEALTHY, *faults]]
        headers += ["stale reads", "lost writes", "other anomalies", "p50 ms", "p99 ms", "ok ops/s"]
        rows = []
        for c in group:
            r = row(c, faults)
            rows.append(
                [
                    c.label,
                    len(c.runs),
                    f"{r['valid_runs']} / {r['invalid_runs']} / {r['unknown_runs']}",
                ]
                + [pct(c.share("write", p)) for p in [HEALTHY, *faults]]
                + [pct(c.share("read", p)) for p in [HEALTHY, *faults]]
                + [
                    r["stale_reads"],
                    r["lost_writes"],
                    r["other_anomalies"] or "–",
                    num(r["p50_ms"]),
                    num(r["p99_ms"]),
                    num(r["throughput_ok_per_s"], "{:.0f}"),
                ]
            )
        out.append(table(headers, rows))
    if configs:
        out.append(
            '<p class="caption">Availability by op = share of ok among the ops that completed '
            "while that fault was active (from its invocation; healthy: no fault active); "
            f"– = no such op. {escape(WRITE_DEFINITION)}. Latency quantiles over ok ops; "
            "throughput = ok ops per second of workload (final reads excluded). Runs of one "
            f"configuration are pooled. Named anomaly columns: {', '.join(NAMED)}.</p>"
        )
    return out


def _run_list(configs: list[Config], points: list[ScalePoint], links: Links) -> list[str]:
    items = []
    for c in configs:
        for d in c.runs:
            note = (
                f" (aborted: {c.aborted[d]}; its partial history is counted)"
                if d in c.aborted
                else ""
            )
            items.append(
                f"<li>{links.one(d)} {escape(c.label)}: "
                f'<a href="{escape(links.href(d))}">{escape(str(d))}</a>{escape(note)}</li>'
            )
    for p in points:
        items.append(
            f"<li>{links.one(p.run)} scale: {escape(p.db)}, {p.nodes} nodes, writes to "
            f'{p.write_nodes}: <a href="{escape(links.href(p.run))}">{escape(str(p.run))}</a></li>'
        )
    out = ['<h2 id="runs">Runs</h2>', "<ul>", *items[:MAX_RUN_LIST], "</ul>"]
    if len(items) > MAX_RUN_LIST:
        rest = "<ul>" + "".join(items[MAX_RUN_LIST:]) + "</ul>"
        out.append(collapsed(f"{len(items) - MAX_RUN_LIST} more runs (of {len(items)})", rest))
    return out


def summary(configs: list[Config], points: list[ScalePoint]) -> list[str]:
    """Plain sentences derived from the numbers; each names the figures it rests on."""
    out = []
    n_runs = sum(len(c.runs) for c in configs)
    out.append(
        f"{n_runs} run(s) of {len(configs)} configuration(s) compared"
        + (f", plus {len(points)} write-scaling run(s)." if points else ".")
    )
    for topology in sorted({c.topology for c in configs}):
        group = [c for c in configs if c.topology == topology]
        scored = [(c.faulted(), c) for c in group if c.faulted().share is not None]
        if scored:
            best = max(scored, key=lambda x: x[0].share or 0.0)
            worst = min(scored, key=lambda x: x[0].share or 0.0)
            gone = f"; {worst[0].lost:,} more acknowledged, then lost" if worst[0].lost else ""
            out.append(
                f"{topology}: {worst[1].label} held a surviving acknowledged write in "
                f"{pct(worst[0].share)} of its fault time{gone}"
                + (
                    f"; {best[1].label} in {pct(best[0].share)}."
                    if best[1] is not worst[1]
                    else "."
                )
            )
        most = max(c.max_write_nodes for c in group)
        if most:
            out.append(
                f"{topology}: at most {most} node(s) acknowledged writes in the same healthy second."
            )
        lost = sum(w.lost for c in group for _, w in c.losses)
        windows = sum(1 for c in group for _, w in c.losses if w.kind != "no fault")
        if windows:
            out.append(
                f"{topology}: {lost:,} acknowledged write(s) lost over {windows} fault window(s)."
            )
        rej = sum(c.conflict.get("certification_rejects") or 0 for c in group)
        lww = sum(c.conflict.get("lost_to_lww") or 0 for c in group)
        if rej or lww:
            out.append(
                f"{topology}: {rej:,} write(s) refused by certification, {lww:,} lost to "
                "last-write-wins."
            )
    for (db, n), line in series(points).items():
        r = ratio(line)
        if r is not None:
            out.append(
                f"Write scaling ({db}, {n} nodes): {line[0][1]:,.0f} acknowledged writes/s "
                f"through {line[0][0]} node(s), {line[-1][1]:,.0f}/s through {line[-1][0]} "
                f"(×{r:.2f}; one machine: protocol cost, not hardware scaling)."
            )
    bad = [c for c in configs if c.anomalies]
    if bad:
        out.append(
            "Anomalies observed: "
            + "; ".join(
                f"{c.label} ({', '.join(f'{t} {n}' for t, n in sorted(c.anomalies.items()))})"
                for c in bad
            )
            + "."
        )
    clean = [c for c in configs if not c.anomalies]
    if clean:
        out.append(
            "No anomaly observed in: "
            + "; ".join(f"{c.label} ({len(c.runs)} run(s))" for c in clean)
            + "."
        )
    if configs:
        outage = max(configs, key=lambda c: c.outage_s)
        if outage.outage_s > 0:
            out.append(
                f"Longest stretch without an acknowledged write: {outage.outage_s:.1f} s "
                f"({outage.label})."
            )
    lat = [(c.quantile(0.99), c) for c in configs if c.quantile(0.99) is not None]
    if len(lat) >= 2:
        lo, hi = min(lat, key=lambda x: x[0] or 0), max(lat, key=lambda x: x[0] or 0)
        out.append(
            f"p99 latency ranged from {lo[0]:.1f} ms ({lo[1].label}) to {hi[0]:.1f} ms ({hi[1].label})."
        )
    return out
