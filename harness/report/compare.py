"""Compare runs across systems and configurations: write availability under each fault kind,
conflicts, acknowledged writes lost per fault window, anomalies, latency, throughput, and the
write-scaling experiment, grouped primary-replica vs peer-to-peer, with a trade-off table
filled from the measured numbers (nothing here knows which database "should" win).

collect() is a pure function of the run folders; compare_html renders; this module writes."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import SplitbrainError
from harness.report.measures import (
    CONFLICT_KEYS,
    LossWindow,
    Stretch,
    availability_by_kind,
    conflicts,
    loss_windows,
    unlisted_lost,
    write_throughput,
)
from harness.report.results import (
    HEALTHY,
    anomaly_types,
    completions,
    fault_kinds,
    fault_mask,
    knobs,
    load_run,
)
from harness.report.scaling import SCALE_FILE

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
    anomaly_runs: list[Path] = field(default_factory=list)
    latencies: list[np.ndarray] = field(default_factory=list)  # ns, ok ops
    ok_ops: int = 0
    span_s: float = 0.0
    write_nodes: Counter = field(default_factory=Counter)
    nodes_seen: set = field(default_factory=set)
    max_write_nodes: int = 0  # most nodes that acknowledged writes in one healthy second
    outage_s: float = 0.0  # longest time without an acknowledged write
    # time-based write availability per fault kind ("whole run" = the workload phase)
    stretch: dict[str, Stretch] = field(default_factory=dict)
    stretch_runs: dict[str, list[Path]] = field(default_factory=dict)
    # conflicts: key -> count summed over the runs that measured it (None: none did)
    conflict: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(CONFLICT_KEYS))
    conflict_runs: dict[str, list[Path]] = field(default_factory=dict)
    of_writes: int = 0  # writes the certification refusals are out of
    reads_rejected: int = 0  # reads refused the same way (counted apart)
    losses: list[tuple[Path, LossWindow]] = field(default_factory=list)
    unlisted_lost: int = 0  # counted by a checker, not itemised: charged to no window
    writes: Counter = field(default_factory=Counter)  # ok/fail/info of workload writes
    setup_s: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.db} {self.mode} / {self.workload}" + (
            f" / {self.knobs}" if self.knobs else ""
        )

    @property
    def has_primary(self) -> bool:
        return self.topology == "primary-replica"

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

    def fault_kinds(self) -> list[str]:
        return sorted(k for k in self.stretch if k != "whole run")


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


def is_scale_run(run_dir: Path) -> bool:
    """Runs of `splitbrain scale` are pinned to chosen nodes: measured apart, never pooled."""
    return (Path(run_dir) / SCALE_FILE).is_file()


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
        if isinstance(run.get("setup_s"), int | float):
            cfg.setup_s.append(float(run["setup_s"]))
        found = anomaly_types(data.verdict)
        cfg.anomalies.update(found)
        if found:
            cfg.anomaly_runs.append(d)
        df = completions(data.history)
        _add_ops(cfg, df, data.windows)
        for kind, st in availability_by_kind(df, data.windows, cfg.has_primary).items():
            cfg.stretch.setdefault(kind, Stretch()).add(st)
            cfg.stretch_runs.setdefault(kind, []).append(d)
        for k, n in conflicts(data.history, data.verdict, cfg.topology).items():
            if k == "of_writes":
                cfg.of_writes += n or 0
            elif k == "reads_rejected":
                cfg.reads_rejected += n or 0
            elif n is not None:
                cfg.conflict[k] = (cfg.conflict.get(k) or 0) + n
                cfg.conflict_runs.setdefault(k, []).append(d)
        cfg.unlisted_lost += unlisted_lost(data.history, data.verdict)
        cfg.losses += [
            (d, w) for w in loss_windows(data.history, data.verdict, data.windows, cfg.has_primary)
        ]
        t = write_throughput(df)
        cfg.writes.update(ok=t.ok_writes, fail=t.refused_writes, info=t.unknown_writes)
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
    from harness.report.compare_html import render
    from harness.report.scaling import scale_points

    runs = find_runs(paths)
    if not runs:
        raise SplitbrainError(
            f"no run folder (with verdict.json) under {', '.join(map(str, paths))}"
        )
    configs = collect([d for d in runs if not is_scale_run(d)])
    points = scale_points([d for d in runs if is_scale_run(d)])
    faults = sorted({p for c in configs for (_, p) in c.total if p != HEALTHY})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out_dir / "compare.csv", out_dir / "compare.html"
    _write_csv(csv_path, configs, faults, points)
    html_path.write_text(render(configs, faults, points, out_dir))
    return html_path, csv_path


def row(c: Config, faults: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
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
            out[f"{kind}_avail_{period}"] = c.share(kind, period)
            out[f"{kind}_n_{period}"] = c.total[(kind, period)]
    out["stale_reads"] = c.anomalies.get("stale-read", 0)
    out["lost_writes"] = c.anomalies.get("lost-write", 0)
    out["other_anomalies"] = "; ".join(
        f"{t}={n}" for t, n in sorted(c.anomalies.items()) if t not in NAMED
    )
    out["p50_ms"], out["p99_ms"] = c.quantile(0.5), c.quantile(0.99)
    out["throughput_ok_per_s"] = c.throughput
    out["write_nodes"] = "; ".join(f"{n}={k}" for n, k in sorted(c.write_nodes.items()))
    out["max_write_nodes_per_s"] = c.max_write_nodes
    out["longest_write_outage_s"] = round(c.outage_s, 3)
    out["write_time_share"] = "; ".join(
        f"{k}={st.share:.4f}" for k, st in sorted(c.stretch.items()) if st.share is not None
    )
    out["longest_write_gap_s_by_fault"] = "; ".join(
        f"{k}={st.longest_gap_s:.3f}" for k, st in sorted(c.stretch.items())
    )
    for k in CONFLICT_KEYS:
        out[k] = c.conflict.get(k)
    measured = c.conflict["certification_rejects"] is not None
    out["certification_of_writes"] = c.of_writes if measured else None
    out["certification_reads_rejected"] = c.reads_rejected if measured else None
    faulted = [w for _, w in c.losses if w.kind != "no fault"]
    out["fault_windows"] = len(faulted)
    out["lost_acked_writes_in_fault_windows"] = sum(w.lost for w in faulted)
    out["lost_acked_writes_outside_faults"] = sum(
        w.lost for _, w in c.losses if w.kind == "no fault"
    )
    out["lost_acked_writes_not_itemised"] = c.unlisted_lost
    out["max_lost_per_window"] = max((w.lost for w in faulted), default=0)
    spans = [w.interval_s for _, w in c.losses if w.interval_s is not None]
    out["max_lost_ack_interval_s"] = round(max(spans), 3) if spans else None
    return out


def _write_csv(path: Path, configs: list[Config], faults: list[str], points: list[Any]) -> None:
    rows = [row(c, faults) for c in configs]
    rows += [
        {
            "topology": p.topology,
            "db": p.db,
            "workload": "set (scale)",
            "knobs": f"nodes={p.nodes}, write_nodes={p.write_nodes}",
            "runs": 1,
            "scale_ok_writes_per_s": p.ok_per_s,
            "scale_refused_writes": p.refused,
            "scale_unknown_writes": p.unknown,
            "scale_refused_reads": p.refused_reads,
        }
        for p in points
    ]
    fields: dict[str, None] = {}
    for r in rows:
        fields.update(dict.fromkeys(r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(fields), restval="")
        w.writeheader()
        for r in rows:
            w.writerow(
                {
                    k: (round(v, 4) if isinstance(v, float) else ("" if v is None else v))
                    for k, v in r.items()
                }
            )
