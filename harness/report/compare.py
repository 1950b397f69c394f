"""`splitbrain compare`: read run folders, write compare.html (the trade-off table and its
pictures first, the details below) and compare.csv (one row per configuration, one per
write-scaling run). Measuring is configs.py and scaling.py, the page compare_html.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from harness.errors import SplitbrainError
from harness.report.compare_html import render
from harness.report.configs import Config, collect, row
from harness.report.results import HEALTHY
from harness.report.scaling import SCALE_FILE, ScalePoint, scale_points


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


def compare(paths: list[Path], out_dir: Path) -> tuple[Path, Path]:
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


def _write_csv(
    path: Path, configs: list[Config], faults: list[str], points: list[ScalePoint]
) -> None:
    rows = [row(c, faults) for c in configs]
    rows += [
        {
            "topology": p.topology,
            "db": p.db,
            "mode": p.mode,
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
            w.writerow({k: _cell(v) for k, v in r.items()})


def _cell(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else ("" if v is None else v)
