"""The write-scaling experiment's figures (runs made by `splitbrain scale`, which leave a
scale.json beside spec.json): acknowledged writes/s against the number of nodes taking
writes, per database and cluster size. Pure: a function of the run folders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HistoryError
from harness.report.measures import write_throughput
from harness.report.results import as_run, completions, load_run

SCALE_FILE = "scale.json"  # as harness.scale writes it
CAVEAT = (
    "All nodes share one machine (here: 2 cores), so adding nodes that take writes adds no "
    "hardware: these figures measure what each protocol costs per acknowledged write "
    "(replication, certification, coordination, refusals), not how it scales on separate "
    "machines."
)


@dataclass
class ScalePoint:
    db: str
    topology: str
    nodes: int
    write_nodes: int
    ok_per_s: float | None
    refused: int
    unknown: int
    ok_writes: int
    span_s: float
    ok_by_node: dict[str, int]
    run: Path
    refused_reads: int = 0
    mode: str = ""  # as run (harness.db's as_run): matches the trade-off table's columns


def scale_info(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / SCALE_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise HistoryError(f"cannot read {path}: {e}") from None
    if not isinstance(doc, dict) or not all(
        isinstance(doc.get(k), int) for k in ("nodes", "write_nodes")
    ):
        raise HistoryError(f"{path}: expected {{nodes: int, write_nodes: int, ...}}")
    return doc


def scale_points(run_dirs: list[Path]) -> list[ScalePoint]:
    out = []
    for d in run_dirs:
        info = scale_info(d)
        if info is None:
            continue
        data = load_run(d)
        t = write_throughput(completions(data.history))
        spec = dict(data.spec)
        spec.setdefault("db", data.run.get("db"))
        spec.setdefault("mode", data.run.get("mode"))
        out.append(
            ScalePoint(
                db=str(data.run.get("db", data.spec.get("db", "?"))),
                topology=data.topology,
                nodes=info["nodes"],
                write_nodes=info["write_nodes"],
                ok_per_s=t.ok_per_s,
                refused=t.refused_writes,
                unknown=t.unknown_writes,
                ok_writes=t.ok_writes,
                span_s=t.span_s,
                ok_by_node=t.ok_by_node,
                run=d,
                refused_reads=t.refused_reads,
                mode=as_run(spec).mode,
            )
        )
    return sorted(out, key=lambda p: (p.db, p.nodes, p.write_nodes, str(p.run)))


def series(points: list[ScalePoint]) -> dict[tuple[str, int], list[tuple[int, float]]]:
    """(db, cluster size) -> [(nodes taking writes, mean acknowledged writes/s)], sorted;
    repeated runs of one point are averaged."""
    acc: dict[tuple[str, int], dict[int, list[float]]] = {}
    for p in points:
        if p.ok_per_s is None:
            continue
        acc.setdefault((p.db, p.nodes), {}).setdefault(p.write_nodes, []).append(p.ok_per_s)
    return {
        key: sorted((k, sum(v) / len(v)) for k, v in by_k.items())
        for key, by_k in sorted(acc.items())
    }


def ratio(line: list[tuple[int, float]]) -> float | None:
    """Acknowledged writes/s with the most nodes taking writes over that with the fewest."""
    if len(line) < 2 or line[0][1] <= 0:
        return None
    return line[-1][1] / line[0][1]
