"""`splitbrain scale`: the same write workload with writes sent to 1 node and to every node.

Each point is one ordinary run (spec.json, history.jsonl, verdict.json, report.html) through
harness.runner, so every figure on the scaling plot links back to a history. The only
difference between the points is routing: every workload client is built pinned to one
node, `targets[process % k]`, through the node contract's `db.client(cluster, process,
node)` (the same call the runner's final reads use). With k = 1 every write enters through
n1; with k = N through every node. Nothing is special-cased per database: a Postgres
replica refuses the writes pinned to it (read-only transaction), and that refusal IS the
measurement for a primary-replica database.

The routing sits in scale.json beside spec.json (the spec's own options are validated
against each database's declared knobs, and routing is not a database knob).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import SpecError
from harness.report.scaling import SCALE_FILE
from harness.spec import TestSpec


@dataclasses.dataclass(frozen=True)
class Point:
    db: str
    nodes: int
    write_nodes: int  # how many nodes the workload's clients are pinned to


def points(dbs: list[str], node_counts: list[int]) -> list[Point]:
    """1 node and all nodes for each cluster size (a 1-node cluster is a single point)."""
    out = []
    for db in dbs:
        for n in node_counts:
            for k in sorted({1, n}):
                out.append(Point(db, n, k))
    return out


def spec_for(p: Point, time_limit: float, concurrency: int, seed: int, provider: str) -> TestSpec:
    if p.nodes < 1:
        raise SpecError(f"scale: --nodes must be >= 1, got {p.nodes}")
    return TestSpec(
        db=p.db,
        provider=provider,
        workload="set",
        nemesis=(),
        time_limit=time_limit,
        concurrency=concurrency,
        seed=seed,
        nodes=p.nodes,
        name=f"scale-{p.db}-{p.nodes}nodes-writes-to-{p.write_nodes}",
    )


def _pin(db: Any, write_nodes: int) -> None:
    """Shadow db.client on this instance: workload clients (node None) go to targets[p % k]."""
    unpinned = db.client

    def client(cluster: Any, process: int, node: str | None = None) -> Any:
        if node is None:
            targets = list(cluster.nodes)[:write_nodes]
            node = targets[process % len(targets)]
        return unpinned(cluster, process, node=node)

    db.client = client


def run_point(
    p: Point,
    results: Path,
    time_limit: float,
    concurrency: int,
    seed: int,
    provider: str,
    echo: Callable[[str], None],
) -> Path:
    from harness import runner

    spec = spec_for(p, time_limit, concurrency, seed, provider)
    res = runner.run(
        spec, results, echo=echo, progress=False, on_plan=lambda plan: _pin(plan.db, p.write_nodes)
    )
    (res.dir / SCALE_FILE).write_text(
        json.dumps(
            {
                "nodes": p.nodes,
                "write_nodes": p.write_nodes,
                "routing": "each workload client pinned to node targets[process % write_nodes],"
                " targets = the first write_nodes nodes",
            },
            indent=2,
        )
    )
    return res.dir
