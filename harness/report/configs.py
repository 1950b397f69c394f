"""Runs pooled: each run is measured once (measure), then pooled by configuration (every
setting equal) and by column of the trade-off table (database and mode as run). Pure: a
function of the run folders; nothing here knows which database "should" win."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.registry import DATABASES
from harness.report.guarantees import judged
from harness.report.measures import (
    CONFLICT_KEYS,
    LossWindow,
    Stretch,
    availability_by_kind,
    conflicts,
    loss_checked,
    loss_windows,
    lost_acks,
    unlisted_lost,
    write_throughput,
)
from harness.report.results import (
    HEALTHY,
    anomaly_types,
    as_run,
    certifies,
    completions,
    database,
    fault_kinds,
    fault_mask,
    knobs,
    load_run,
    title,
)

NAMED = ("stale-read", "lost-write")  # given their own columns; other types go to "other"


@dataclass
class Config:
    """Runs pooled: one configuration, or one column (database and mode as run)."""

    topology: str
    db: str
    mode: str  # as the runs used it (harness.db's as_run), e.g. Cassandra "ONE"
    workload: str = ""  # "" for a column, which pools workloads
    knobs: str = ""
    runs: list[Path] = field(default_factory=list)
    valid: Counter = field(default_factory=Counter)
    aborted: dict[Path, str] = field(default_factory=dict)  # partial histories, still measured
    ok: Counter = field(default_factory=Counter)  # (kind, period) -> ok ops
    total: Counter = field(default_factory=Counter)  # (kind, period) -> completed ops
    anomalies: Counter = field(default_factory=Counter)
    anomaly_runs: list[Path] = field(default_factory=list)
    judged: set[str] = field(default_factory=set)  # consistency models a checker decided
    latencies: list[np.ndarray] = field(default_factory=list)  # ns, ok ops
    ok_ops: int = 0
    span_s: float = 0.0
    write_nodes: Counter = field(default_factory=Counter)
    nodes_seen: set = field(default_factory=set)
    max_write_nodes: int = 0  # most nodes that acknowledged writes in one healthy second
    outage_s: float = 0.0  # longest time without an acknowledged write
    # time with surviving acknowledged writes per fault kind ("whole run" = the workload phase)
    stretch: dict[str, Stretch] = field(default_factory=dict)
    stretch_runs: dict[str, list[Path]] = field(default_factory=dict)
    # conflicts: key -> count summed over the runs that measured it (None: none did)
    conflict: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(CONFLICT_KEYS))
    conflict_runs: dict[str, list[Path]] = field(default_factory=dict)
    of_writes: int = 0  # writes the certification refusals are out of
    reads_rejected: int = 0  # reads refused the same way (counted apart)
    losses: list[tuple[Path, LossWindow]] = field(default_factory=list)
    loss_runs: list[Path] = field(default_factory=list)  # runs a lost-write check judged
    unlisted_lost: int = 0  # counted by a checker, not itemised: charged to no window
    writes: Counter = field(default_factory=Counter)  # ok/fail/info of workload writes
    setup_s: list[float] = field(default_factory=list)
    spec_modes: dict[str, None] = field(default_factory=dict)  # the --mode values given
    settings: dict[str, dict[str, None]] = field(default_factory=dict)  # name -> values used
    parts: list[Config] = field(default_factory=list)  # what pool() pooled into it

    @property
    def title(self) -> str:
        """Database and mode as a reader names them: "PostgreSQL async", "Cassandra ONE"."""
        return f"{title(self.db)} {self.mode}".strip()

    @property
    def label(self) -> str:
        return f"{self.title} / {self.workload}" + (f" / {self.knobs}" if self.knobs else "")

    @property
    def has_primary(self) -> bool:
        return self.topology == "primary-replica"

    def share(self, kind: str, period: str) -> float | None:
        t = self.total[(kind, period)]
        return self.ok[(kind, period)] / t if t else None

    def faulted(self) -> Stretch:
        """Every fault kind's time together (surviving writes; the lost counted apart)."""
        out = Stretch()
        for kind in self.fault_kinds():
            out.add(self.stretch[kind])
        return out

    def quantile(self, q: float) -> float | None:
        lat = np.concatenate(self.latencies) if self.latencies else np.zeros(0)
        return float(np.quantile(lat, q)) / 1e6 if len(lat) else None

    @property
    def throughput(self) -> float | None:
        return self.ok_ops / self.span_s if self.span_s > 0 else None

    def fault_kinds(self) -> list[str]:
        return sorted(k for k in self.stretch if k != "whole run")

    def absorb(self, o: Config) -> None:
        """Pool another Config's runs into this one (o is left as it was)."""
        self.runs += o.runs
        self.valid.update(o.valid)
        self.aborted.update(o.aborted)
        self.ok.update(o.ok)
        self.total.update(o.total)
        self.anomalies.update(o.anomalies)
        self.anomaly_runs += o.anomaly_runs
        self.judged |= o.judged
        self.latencies += o.latencies
        self.ok_ops += o.ok_ops
        self.span_s += o.span_s
        self.write_nodes.update(o.write_nodes)
        self.nodes_seen |= o.nodes_seen
        self.max_write_nodes = max(self.max_write_nodes, o.max_write_nodes)
        self.outage_s = max(self.outage_s, o.outage_s)
        for kind, st in o.stretch.items():
            self.stretch.setdefault(kind, Stretch()).add(st)
            self.stretch_runs.setdefault(kind, []).extend(o.stretch_runs.get(kind, []))
        for k, n in o.conflict.items():
            if n is not None:
                self.conflict[k] = (self.conflict.get(k) or 0) + n
                self.conflict_runs.setdefault(k, []).extend(o.conflict_runs.get(k, []))
        self.of_writes += o.of_writes
        self.reads_rejected += o.reads_rejected
        self.losses += o.losses
        self.loss_runs += o.loss_runs
        self.unlisted_lost += o.unlisted_lost
        self.writes.update(o.writes)
        self.setup_s += o.setup_s
        self.spec_modes.update(o.spec_modes)
        for name, values in o.settings.items():
            self.settings.setdefault(name, {}).update(values)


def measure(d: Path) -> Config:
    """Every figure the comparison needs from one run folder, as a Config of one run."""
    data = load_run(d)
    run, spec = data.run, dict(data.spec)
    spec.setdefault("db", run.get("db", "?"))
    spec.setdefault("mode", run.get("mode", "?"))
    used = as_run(spec)
    cfg = Config(
        data.topology,
        str(spec["db"]),
        used.mode,
        str(run.get("workload", spec.get("workload", "?"))),
        knobs(spec),
    )
    cfg.spec_modes[str(spec["mode"])] = None
    for name, value in used.settings:
        cfg.settings.setdefault(name, {})[value] = None
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
    cfg.judged = judged(data.verdict)
    df = completions(data.history)
    _add_ops(cfg, df, data.windows)
    lost = [op.index for op, _ in lost_acks(data.history, data.verdict)]
    for kind, st in availability_by_kind(df, data.windows, cfg.has_primary, lost).items():
        cfg.stretch[kind] = st
        cfg.stretch_runs[kind] = [d]
    for k, n in conflicts(data.history, data.verdict, certifies(cfg.db)).items():
        if k == "of_writes":
            cfg.of_writes += n or 0
        elif k == "reads_rejected":
            cfg.reads_rejected += n or 0
        elif n is not None:
            cfg.conflict[k] = n
            cfg.conflict_runs[k] = [d]
    cfg.unlisted_lost = unlisted_lost(data.history, data.verdict)
    windows = loss_windows(data.history, data.verdict, data.windows, cfg.has_primary)
    cfg.losses = [(d, w) for w in windows]
    cfg.loss_runs = [d] if loss_checked(data.verdict) else []
    t = write_throughput(df)
    cfg.writes.update(ok=t.ok_writes, fail=t.refused_writes, info=t.unknown_writes)
    return cfg


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


Key = tuple[str, str, str, str, str]  # Config's first five fields: what runs pooled share


def config_key(c: Config) -> Key:
    return (c.topology, c.db, c.mode, c.workload, c.knobs)


def column_key(c: Config) -> Key:
    """A column of the trade-off table: one database in one mode as run, any workload."""
    return (c.topology, c.db, c.mode, "", "")


def pool(runs: list[Config], key: Callable[[Config], Key]) -> list[Config]:
    """Runs with the same key pooled into one Config each, primary-replica first."""
    out: dict[Key, Config] = {}
    for r in runs:
        k = key(r)
        if k not in out:
            out[k] = Config(*k)
        out[k].absorb(r)
        out[k].parts.append(r)
    return sorted(out.values(), key=_order)


def _order(c: Config) -> tuple[Any, ...]:
    """Primary-replica first (the seed's side-by-side question), then databases in their
    registry's order and modes in the order each declares them."""
    cls = database(c.db)
    dbs = list(DATABASES)
    modes = [m.lower() for m in cls.modes] if cls else []
    mode = modes.index(c.mode.lower()) if c.mode.lower() in modes else len(modes)
    db = dbs.index(c.db) if c.db in dbs else len(dbs)
    return (
        c.topology != "primary-replica",
        c.topology,
        db,
        c.db,
        mode,
        c.mode,
        c.workload,
        c.knobs,
    )


def collect(run_dirs: list[Path]) -> list[Config]:
    """One Config per configuration (every setting equal)."""
    return pool([measure(d) for d in run_dirs], config_key)


def row(c: Config, faults: list[str]) -> dict[str, Any]:
    """compare.csv's row of one configuration."""
    out: dict[str, Any] = {
        "topology": c.topology,
        "db": c.db,
        "mode": c.mode,
        "spec_mode": ", ".join(c.spec_modes),
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
    checked = bool(c.loss_runs)  # else: no run looked for lost writes, and nothing is 0
    out["fault_windows"] = len(faulted) if checked else None
    out["lost_acked_writes_in_fault_windows"] = sum(w.lost for w in faulted) if checked else None
    out["lost_acked_writes_outside_faults"] = (
        sum(w.lost for _, w in c.losses if w.kind == "no fault") if checked else None
    )
    out["lost_acked_writes_not_itemised"] = c.unlisted_lost
    out["max_lost_per_window"] = max((w.lost for w in faulted), default=0) if checked else None
    spans = [w.interval_s for _, w in c.losses if w.interval_s is not None]
    out["max_lost_ack_interval_s"] = round(max(spans), 3) if spans else None
    return out
