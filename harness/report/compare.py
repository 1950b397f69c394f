"""Compare runs across systems and configurations: availability under each fault, anomalies,
latency, throughput, grouped primary-replica vs peer-to-peer, with a trade-off table and a
summary written from the measured numbers (nothing here knows which database "should" win)."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import SplitbrainError
from harness.report.html import num, page, pct, table
from harness.report.results import (
    HEALTHY,
    WRITE_DEFINITION,
    anomaly_types,
    completions,
    fault_kinds,
    fault_mask,
    load_run,
)

SQL_DBS = ("postgres", "galera")  # isolation is a knob only where there is SQL
NAMED = ("stale-read", "lost-write")  # given their own columns; other types go to "other"


@dataclass
class Config:
    """Every run of one system and configuration, pooled."""

    topology: str
    db: str
    mode: str
    workload: str
    knobs: str
    runs: list[Path] = field(default_factory=list)
    valid: Counter = field(default_factory=Counter)
    aborted: dict[Path, str] = field(default_factory=dict)  # partial histories, still measured
    ok: Counter = field(default_factory=Counter)  # (kind, period) -> ok ops
    total: Counter = field(default_factory=Counter)  # (kind, period) -> completed ops
    anomalies: Counter = field(default_factory=Counter)
    latencies: list[np.ndarray] = field(default_factory=list)  # ns, ok ops
    ok_ops: int = 0
    span_s: float = 0.0
    write_nodes: Counter = field(default_factory=Counter)
    nodes_seen: set = field(default_factory=set)
    max_write_nodes: int = 0  # most nodes that acknowledged writes in one healthy second
    outage_s: float = 0.0  # longest time without an acknowledged write

    @property
    def label(self) -> str:
        return f"{self.db} {self.mode} / {self.workload}" + (
            f" / {self.knobs}" if self.knobs else ""
        )

    def share(self, kind: str, period: str) -> float | None:
        t = self.total[(kind, period)]
        return self.ok[(kind, period)] / t if t else None

    def faulted_share(self, kind: str) -> float | None:
        ok = sum(n for (k, p), n in self.ok.items() if k == kind and p != HEALTHY)
        t = sum(n for (k, p), n in self.total.items() if k == kind and p != HEALTHY)
        return ok / t if t else None

    def quantile(self, q: float) -> float | None:
        lat = np.concatenate(self.latencies) if self.latencies else np.zeros(0)
        return float(np.quantile(lat, q)) / 1e6 if len(lat) else None

    @property
    def throughput(self) -> float | None:
        return self.ok_ops / self.span_s if self.span_s > 0 else None


def find_runs(paths: list[Path]) -> list[Path]:
    found: dict[Path, None] = {}
    for p in map(Path, paths):
        if (p / "verdict.json").is_file():
            found[p.resolve()] = None
        elif p.is_dir():
            for v in sorted(p.rglob("verdict.json")):
                found[v.parent.resolve()] = None
            # a suite folder holds no runs itself: its summary.json says where they went
            for summary in sorted(p.rglob("summary.json")):
                for run_dir in _suite_run_dirs(summary):
                    found[run_dir.resolve()] = None
        else:
            raise SplitbrainError(f"{p}: not a run folder (no verdict.json) nor a folder of runs")
    return list(found)


def _suite_run_dirs(summary: Path) -> list[Path]:
    try:
        cases = json.loads(summary.read_text()).get("cases", [])
    except (OSError, ValueError, AttributeError):
        return []
    dirs = [Path(c["run_dir"]) for c in cases if isinstance(c, dict) and c.get("run_dir")]
    return [d for d in dirs if (d / "verdict.json").is_file()]


def knobs(spec: dict[str, Any]) -> str:
    parts = [f"read_from={spec['read_from']}"] if spec.get("read_from") else []
    if spec.get("db") in SQL_DBS and spec.get("isolation"):
        parts.append(f"isolation={spec['isolation']}")
    parts += [f"{k}={v}" for k, v in sorted((spec.get("options") or {}).items())]
    return ", ".join(parts)


def collect(run_dirs: list[Path]) -> list[Config]:
    configs: dict[tuple[str, ...], Config] = {}
    for d in run_dirs:
        data = load_run(d)
        run, spec = data.run, data.spec
        key = (
            str(run.get("topology", "unknown")),
            str(run.get("db", spec.get("db", "?"))),
            str(run.get("mode", spec.get("mode", "?"))),
            str(run.get("workload", spec.get("workload", "?"))),
            knobs(spec),
        )
        cfg = configs.setdefault(key, Config(*key))
        cfg.runs.append(d)
        cfg.valid[str(data.verdict.get("valid", "unknown"))] += 1
        if run.get("aborted"):
            cfg.aborted[d] = str(run["aborted"])
        cfg.anomalies.update(anomaly_types(data.verdict))
        _add_ops(cfg, completions(data.history), data.windows)
    return sorted(configs.values(), key=lambda c: (c.topology, c.db, c.mode, c.workload, c.knobs))


def _add_ops(cfg: Config, df: Any, wins: list[dict[str, Any]]) -> None:
    if df.empty:
        return
    ok = (df["type"] == "ok").to_numpy()
    periods = [(HEALTHY, ~fault_mask(df, wins))] + [
        (f, fault_mask(df, wins, f)) for f in fault_kinds(wins)
    ]
    for kind in ("read", "write"):
        is_kind = (df["kind"] == kind).to_numpy()
        for period, mask in periods:
            cfg.total[(kind, period)] += int((mask & is_kind).sum())
            cfg.ok[(kind, period)] += int((mask & is_kind & ok).sum())
    cfg.latencies.append(df.loc[ok, "latency"].to_numpy())
    # Throughput and outages over the workload phase only (the final reads come after heal).
    work = df[df["f"] != "final-read"]
    if work.empty:
        return
    t0, t1 = work["invoke_time"].min(), work["time"].max()
    cfg.span_s += (t1 - t0) / 1e9
    cfg.ok_ops += int((work["type"] == "ok").sum())
    cfg.nodes_seen.update(n for n in df["node"].dropna().unique())
    writes = work[(work["type"] == "ok") & (work["kind"] == "write")]
    cfg.write_nodes.update(writes["node"].fillna("?"))
    times = np.concatenate([[t0], np.sort(writes["time"].to_numpy()), [t1]])
    cfg.outage_s = max(cfg.outage_s, float(np.diff(times).max()) / 1e9)
    healthy = writes[~fault_mask(writes, wins)]
    if len(healthy):
        per_sec = healthy.groupby(healthy["time"] // 1_000_000_000)["node"].nunique()
        cfg.max_write_nodes = max(cfg.max_write_nodes, int(per_sec.max()))


# ---------------------------------------------------------------- outputs


def compare(paths: list[Path], out_dir: Path) -> tuple[Path, Path]:
    runs = find_runs(paths)
    if not runs:
        raise SplitbrainError(
            f"no run folder (with verdict.json) under {', '.join(map(str, paths))}"
        )
    configs = collect(runs)
    faults = sorted({p for c in configs for (_, p) in c.total if p != HEALTHY})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out_dir / "compare.csv", out_dir / "compare.html"
    _write_csv(csv_path, configs, faults)
    html_path.write_text(_html(configs, faults, out_dir))
    return html_path, csv_path


def _row(c: Config, faults: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "topology": c.topology,
        "db": c.db,
        "mode": c.mode,
        "workload": c.workload,
        "knobs": c.knobs,
        "runs": len(c.runs),
        "valid_runs": c.valid.get("True", 0),
        "invalid_runs": c.valid.get("False", 0),
        "unknown_runs": c.valid.get("unknown", 0),
        "aborted_runs": len(c.aborted),
    }
    for kind in ("write", "read"):
        for period in [HEALTHY, *faults]:
            row[f"{kind}_avail_{period}"] = c.share(kind, period)
            row[f"{kind}_n_{period}"] = c.total[(kind, period)]
    row["stale_reads"] = c.anomalies.get("stale-read", 0)
    row["lost_writes"] = c.anomalies.get("lost-write", 0)
    row["other_anomalies"] = "; ".join(
        f"{t}={n}" for t, n in sorted(c.anomalies.items()) if t not in NAMED
    )
    row["p50_ms"], row["p99_ms"] = c.quantile(0.5), c.quantile(0.99)
    row["throughput_ok_per_s"] = c.throughput
    row["write_nodes"] = "; ".join(f"{n}={k}" for n, k in sorted(c.write_nodes.items()))
    row["max_write_nodes_per_s"] = c.max_write_nodes
    row["longest_write_outage_s"] = round(c.outage_s, 3)
    return row


def _write_csv(path: Path, configs: list[Config], faults: list[str]) -> None:
    rows = [_row(c, faults) for c in configs]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow(
                {
                    k: (round(v, 4) if isinstance(v, float) else ("" if v is None else v))
                    for k, v in r.items()
                }
            )


def _who_writes(c: Config) -> str:
    total = sum(c.write_nodes.values())
    if not total:
        return "no acknowledged write"
    top = ", ".join(f"{n} {100 * k / total:.0f}%" for n, k in c.write_nodes.most_common(3))
    more = len(c.write_nodes) - 3
    return top + (f" (+{more} nodes)" if more > 0 else "")


def _consistency(c: Config) -> str:
    runs = len(c.runs)
    if c.anomalies:
        return ", ".join(f"{t} {n}" for t, n in sorted(c.anomalies.items())) + f" in {runs} run(s)"
    unknown = c.valid.get("unknown", 0)
    return f"no anomaly found in {runs} run(s)" + (f" ({unknown} undecided)" if unknown else "")


def _spof(c: Config, faults: list[str]) -> str:
    shares = [f"{f} {pct(c.share('write', f))}" for f in faults if c.total[("write", f)]]
    return f"longest write outage {c.outage_s:.1f} s; writes ok under " + (
        ", ".join(shares) if shares else "no fault"
    )


def _html(configs: list[Config], faults: list[str], out_dir: Path) -> str:
    body = ["<h1>splitbrain: comparison</h1>", "<h2>Summary</h2>", "<ul>"]
    body += [f"<li>{escape(s)}</li>" for s in summary(configs)]
    body.append("</ul>")
    for topology in sorted({c.topology for c in configs}):
        group = [c for c in configs if c.topology == topology]
        body.append(f"<h2>{escape(topology)}</h2>")
        headers = ["configuration", "runs", "valid/invalid/unknown"]
        headers += [f"writes ok: {p}" for p in [HEALTHY, *faults]]
        headers += [f"reads ok: {p}" for p in [HEALTHY, *faults]]
        headers += ["stale reads", "lost writes", "other anomalies", "p50 ms", "p99 ms", "ok ops/s"]
        rows = []
        for c in group:
            r = _row(c, faults)
            rows.append(
                [c.label, len(c.runs), f"{r['valid_runs']}/{r['invalid_runs']}/{r['unknown_runs']}"]
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
        body.append(table(headers, rows))
    body.append(
        '<p class="caption">Availability = share of ok among the ops that completed while '
        "that fault was active (healthy: no fault active); – = no such op. "
        f"{escape(WRITE_DEFINITION)}. Latency quantiles over ok ops; throughput = ok ops per "
        "second of workload (final reads excluded). Runs of one configuration are pooled.</p>"
    )
    body.append("<h2>Trade-offs, as measured</h2>")
    rows = [
        [
            c.topology,
            c.label,
            _who_writes(c),
            _consistency(c),
            f"up to {c.max_write_nodes} of {len(c.nodes_seen)} nodes acknowledged writes in one healthy second",
            _spof(c, faults),
        ]
        for c in configs
    ]
    body.append(
        table(
            [
                "topology",
                "configuration",
                "who takes writes (share of ok writes)",
                "consistency observed",
                "write scaling",
                "single point of failure on writes",
            ],
            rows,
        )
    )
    body.append("<h2>Runs</h2><ul>")
    for c in configs:
        for d in c.runs:
            rel = os.path.relpath(d / "report.html", out_dir)
            note = (
                f" (aborted: {c.aborted[d]}; its partial history is counted)"
                if d in c.aborted
                else ""
            )
            body.append(
                f'<li>{escape(c.label)}: <a href="{escape(rel)}">{escape(str(d))}</a>{escape(note)}</li>'
            )
    body.append("</ul>")
    return page("splitbrain comparison", body)


def summary(configs: list[Config]) -> list[str]:
    """Plain sentences derived from the numbers; each names the figures it rests on."""
    out = []
    n_runs = sum(len(c.runs) for c in configs)
    out.append(f"{n_runs} run(s) of {len(configs)} configuration(s) compared.")
    for topology in sorted({c.topology for c in configs}):
        group = [c for c in configs if c.topology == topology]
        scored = [
            (c.faulted_share("write"), c) for c in group if c.faulted_share("write") is not None
        ]
        if len(scored) >= 2:
            best, worst = max(scored, key=lambda x: x[0] or 0), min(scored, key=lambda x: x[0] or 0)
            out.append(
                f"{topology}: {best[1].label} kept the most writes available during faults "
                f"({pct(best[0])} ok), {worst[1].label} the fewest ({pct(worst[0])})."
            )
        elif scored:
            out.append(
                f"{topology}: {scored[0][1].label} acknowledged {pct(scored[0][0])} of writes "
                "during faults."
            )
        most = max(c.max_write_nodes for c in group)
        if most:
            out.append(
                f"{topology}: at most {most} node(s) acknowledged writes in the same healthy second."
            )
    bad = [c for c in configs if c.anomalies]
    clean = [c for c in configs if not c.anomalies]
    if bad:
        out.append(
            "Anomalies observed: "
            + "; ".join(
                f"{c.label} ({', '.join(f'{t} {n}' for t, n in sorted(c.anomalies.items()))})"
                for c in bad
            )
            + "."
        )
    if clean:
        out.append(
            "No anomaly observed in: "
            + "; ".join(f"{c.label} ({len(c.runs)} run(s))" for c in clean)
            + "."
        )
    outage = max(configs, key=lambda c: c.outage_s)
    if outage.outage_s > 0:
        out.append(
            f"Longest stretch without an acknowledged write: {outage.outage_s:.1f} s ({outage.label})."
        )
    lat = [(c.quantile(0.99), c) for c in configs if c.quantile(0.99) is not None]
    if len(lat) >= 2:
        lo, hi = min(lat, key=lambda x: x[0] or 0), max(lat, key=lambda x: x[0] or 0)
        out.append(
            f"p99 latency ranged from {lo[0]:.1f} ms ({lo[1].label}) to {hi[0]:.1f} ms ({hi[1].label})."
        )
    return out
