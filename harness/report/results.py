"""Load a run folder and derive the per-op table every report shares (pure, pandas)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.db import AsRun, Database, database_class
from harness.errors import HistoryError
from harness.history import NEMESIS, Op, load, pairs
from harness.registry import DATABASES
from nemesis.record import windows as fault_windows

READ_FS = frozenset(("read", "final-read"))
# Said in the reports, so a reader knows what the availability columns count.
WRITE_DEFINITION = (
    "read = f read or final-read, or a txn whose micro-ops are all reads (r); "
    "write = every other client op (add, write, cas, transfer, txn with an append or w)"
)
HEALTHY = "healthy"


@dataclass
class RunData:
    dir: Path
    spec: dict[str, Any]
    verdict: dict[str, Any]
    history: list[Op]
    windows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run(self) -> dict[str, Any]:
        return self.verdict.get("run", {}) or {}

    @property
    def checkers(self) -> dict[str, Any]:
        return self.verdict.get("checkers", {}) or {}

    @property
    def name(self) -> str:
        return str(self.run.get("test") or self.spec.get("name") or self.dir.parent.name)

    @property
    def topology(self) -> str:
        cls = database(self.run.get("db", self.spec.get("db")))
        return str(self.run.get("topology") or (cls.topology if cls else "unknown"))

    @property
    def has_primary(self) -> bool:
        return self.topology == "primary-replica"

    def label(self, w: dict[str, Any]) -> str:
        """A fault window as this run's reports name it (see window_label)."""
        return window_label(w, self.has_primary)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise HistoryError(f"cannot read {path}: {e}") from None
    return doc if isinstance(doc, dict) else {}


def load_run(run_dir: Path) -> RunData:
    run_dir = Path(run_dir)
    hist_path = run_dir / "history.jsonl"
    history = load(hist_path) if hist_path.exists() else []
    data = RunData(
        dir=run_dir,
        spec=_read_json(run_dir / "spec.json"),
        verdict=_read_json(run_dir / "verdict.json"),
        history=history,
        windows=windows_from_invocation(history),
    )
    for w in data.windows:  # named once, as it applies to this database
        w["label"] = data.label(w)
    return data


def windows_from_invocation(history: list[Op]) -> list[dict[str, Any]]:
    """Fault windows that open when the nemesis *invoked* the fault, not when it completed.

    A partition can take seconds to install, and during those seconds the isolated primary
    may already be taking the writes that get lost: the reports count and shade from the
    invocation. Each window keeps `effective` (the completion: when the fault took effect),
    `params` (the invocation's value, e.g. kill target=primary) and `value` (the result)."""
    wins = fault_windows(history)
    by_index = {op.index: op for op in history}
    last_invoke: dict[str, Op] = {}
    invoke_of: dict[int, Op] = {}
    for op in history:
        if op.process != NEMESIS:
            continue
        if op.type == "invoke":
            last_invoke[op.f] = op
        elif op.f in last_invoke:
            invoke_of[op.index] = last_invoke.pop(op.f)
    for w in wins:
        done = by_index.get(w["start_index"])
        inv = invoke_of.get(w["start_index"])
        w["effective"] = w["start"]
        if inv is not None and done is not None and inv.time <= done.time:
            w["start"] = inv.time
            w["params"] = inv.value
    return wins


def fault_kind(w: dict[str, Any], has_primary: bool = True) -> str:
    """The fault and what it was aimed at, as every report names it: kill (primary) vs
    kill (random node), partition (isolate-primary), failover (kill)...

    On a database without a primary (peer-to-peer) a fault aimed at the primary hits a
    random node (nemesis.faults.pick_node, nemesis.grudges.for_shape), and is named so:
    kill (random node), partition (isolate-one)."""
    p, v = w.get("params"), w.get("value")
    params: dict[str, Any] = p if isinstance(p, dict) else {}
    value: dict[str, Any] = v if isinstance(v, dict) else {}
    fault = str(w["fault"])
    if params.get("target") in ("primary", "random"):
        primary = params["target"] == "primary" and has_primary
        return f"{fault} ({'primary' if primary else 'random node'})"
    detail = params.get("how") or value.get("how") or params.get("shape") or value.get("shape")
    if detail == "isolate-primary" and not has_primary:
        detail = "isolate-one"
    return f"{fault} ({detail})" if detail else fault


def is_read(f: str, value: Any) -> bool:
    if f in READ_FS:
        return True
    if f == "txn" and isinstance(value, list) and value:
        return all(isinstance(m, list | tuple) and m and m[0] == "r" for m in value)
    return False


COLUMNS = [
    "index",
    "inv_index",
    "process",
    "node",
    "f",
    "type",
    "invoke_time",
    "time",
    "latency",
    "kind",
    "value",
]


def completions(history: list[Op]) -> pd.DataFrame:
    """One row per completed client op: times in ns, latency in ns, kind read/write.

    Invocations that never completed are left out (they have no latency or outcome)."""
    rows = []
    for inv, c in pairs(history):
        if c is None:
            continue
        rows.append(
            (
                c.index,
                inv.index,
                c.process,
                c.node or inv.node,
                inv.f,
                c.type,
                inv.time,
                c.time,
                c.time - inv.time,
                "read" if is_read(inv.f, inv.value) else "write",
                c.value if c.value is not None else inv.value,
            )
        )
    df = pd.DataFrame(rows, columns=COLUMNS)
    if df.empty:
        return df.astype({"invoke_time": "int64", "time": "int64", "latency": "int64"})
    df["process"] = df["process"].astype(str)
    return df


def fault_mask(
    df: pd.DataFrame, wins: list[dict[str, Any]], fault: str | None = None
) -> np.ndarray:
    """True for ops that completed while a window (of that fault, or any) was active."""
    t = df["time"].to_numpy()
    mask = np.zeros(len(df), dtype=bool)
    for w in wins:
        if fault is None or w["fault"] == fault:
            mask |= (t >= w["start"]) & (t < w["end"])
    return mask


def fault_kinds(wins: list[dict[str, Any]]) -> list[str]:
    return sorted({w["fault"] for w in wins})


def availability(df: pd.DataFrame, wins: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows: healthy and each fault kind; columns ok/total/share for reads and writes.

    An op counts under a fault when it completed while that fault was active; overlapping
    faults count it under each. Healthy = no fault active at completion."""
    periods: list[tuple[str, np.ndarray]] = [(HEALTHY, ~fault_mask(df, wins))]
    periods += [(f, fault_mask(df, wins, f)) for f in fault_kinds(wins)]
    out = []
    ok = (df["type"] == "ok").to_numpy() if len(df) else np.zeros(0, dtype=bool)
    for name, mask in periods:
        row: dict[str, Any] = {"period": name}
        for kind in ("read", "write"):
            sel = mask & (df["kind"] == kind).to_numpy() if len(df) else mask
            total = int(sel.sum())
            n_ok = int((sel & ok).sum())
            row[f"{kind}_ok"] = n_ok
            row[f"{kind}_total"] = total
            row[f"{kind}_share"] = n_ok / total if total else None
        out.append(row)
    return pd.DataFrame(out)


def quantiles(df: pd.DataFrame) -> pd.DataFrame:
    """Latency quantiles in ms per f and outcome type."""
    if df.empty:
        return pd.DataFrame(columns=["f", "type", "count", "p50", "p90", "p99", "max"])
    ms = df.assign(ms=df["latency"] / 1e6)
    g = ms.groupby(["f", "type"])["ms"]
    q = g.quantile([0.5, 0.9, 0.99]).unstack()
    q.columns = ["p50", "p90", "p99"]
    res = pd.concat([g.size().rename("count"), q, g.max().rename("max")], axis=1).reset_index()
    return res


def anomaly_types(verdict: dict[str, Any]) -> dict[str, int]:
    """Anomaly counts by type over all checkers of a verdict.json."""
    counts: dict[str, int] = {}
    for v in (verdict.get("checkers") or {}).values():
        c = v.get("counts") or {}
        if not c:  # counts is derived; fall back to the anomaly list
            for a in v.get("anomalies", []):
                c[a["type"]] = c.get(a["type"], 0) + 1
        for k, n in c.items():
            counts[k] = counts.get(k, 0) + int(n)
    return counts


def window_label(w: dict[str, Any], has_primary: bool = True) -> str:
    """One window as the run report names it: its fault kind, and the node(s) a fault
    aimed at nodes hit ("kill (primary) on n1"); a partition's cut is in the fault table."""
    kind = fault_kind(w, has_primary)
    v = w.get("value")
    value: dict[str, Any] = v if isinstance(v, dict) else {}
    if value.get("shape") or value.get("grudge"):
        return kind
    nodes = value.get("nodes")
    hit = value.get("node") or (",".join(map(str, nodes)) if isinstance(nodes, list) else "")
    return f"{kind} on {hit}" if hit else kind


def database(name: Any) -> type[Database] | None:
    """The definition of a database by name; None for one this version does not know (its
    runs are still reported, from what their files say)."""
    return database_class(str(name)) if name in DATABASES else None


def title(db: str) -> str:
    """How a reader names the database (its declared title)."""
    cls = database(db)
    return (cls.title if cls is not None else "") or db


def mode_word(db: str, mode: str) -> str:
    """A --mode as the reports name it (the database's declared mode_titles)."""
    cls = database(db)
    return cls.mode_titles.get(mode, mode) if cls is not None else mode


def mode_label(spec: dict[str, Any]) -> str:
    """The mode as the run's settings made it, with the --mode given where they made it
    something else: "ONE (--mode quorum)" for Cassandra with read_cl and write_cl ONE. Every
    report (summary.txt, report.html, compare.html) names a run's mode with this."""
    given = str(spec.get("mode") or "")
    used = as_run(spec).mode
    if not used:
        return given
    return used if used == mode_word(str(spec.get("db")), given) else f"{used} (--mode {given})"


def certifies(db: str) -> bool:
    """Whether the database refuses conflicting writes at commit (declared; unknown: no)."""
    cls = database(db)
    return cls is not None and cls.certifies


def routes_reads(spec: dict[str, Any]) -> bool:
    """Whether the run's read_from chose the nodes reads went to (declared per database; a
    database this version does not know: assume so, and show it)."""
    cls = database(spec.get("db"))
    return cls is None or cls.routes_reads(spec.get("options") or {})


def as_run(spec: dict[str, Any]) -> AsRun:
    """The mode and consistency settings the run really used, from its database's declared
    facts; for a database this version does not know, the mode and what the spec gave."""
    cls = database(spec.get("db"))
    if cls is not None:
        return cls.as_run(spec)
    given = [(k, str(spec[k])) for k in ("isolation", "read_from") if spec.get(k)]
    return AsRun(str(spec.get("mode") or ""), tuple(given))


def knobs(spec: dict[str, Any]) -> str:
    """The settings that mean something for that database: read_from where it routes reads,
    isolation where it sets one, and every option the spec gives."""
    cls = database(spec.get("db"))
    options = spec.get("options") or {}
    parts = (
        [f"read_from={spec['read_from']}"] if routes_reads(spec) and spec.get("read_from") else []
    )
    if (cls is None or cls.isolation_applies) and spec.get("isolation"):
        parts.append(f"isolation={spec['isolation']}")
    parts += [f"{k}={v}" for k, v in sorted(options.items())]
    return ", ".join(parts)
