"""`splitbrain scale` end to end on the in-process test double (real runner, real history,
no database server), and the scaling figures over hand-made runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli_reports import COMMANDS
from harness.errors import HistoryError
from harness.report.compare import compare, find_runs
from harness.report.scaling import ratio, scale_points, series
from harness.scale import points
from harness.spec import TestSpec
from tests.builder import H
from tests.synthetic_results import save_run


def test_points_are_one_node_and_all_nodes_per_cluster_size() -> None:
    got = [(p.db, p.nodes, p.write_nodes) for p in points(["galera"], [1, 3, 5])]
    assert got == [
        ("galera", 1, 1),
        ("galera", 3, 1),
        ("galera", 3, 3),
        ("galera", 5, 1),
        ("galera", 5, 5),
    ]


def test_scale_command_pins_writes_and_plots_them(tmp_path: Path) -> None:
    cmd = next(c for c in COMMANDS if c.name == "scale")
    args = ["--db", "memory", "--provider", "memory", "--nodes", "3", "--time", "1"]
    res = CliRunner().invoke(cmd, [*args, "--results", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    runs = find_runs([tmp_path / "r"])
    got = {p.write_nodes: p for p in scale_points(runs)}
    assert sorted(got) == [1, 3]
    one, every = got[1], got[3]
    # writes to 1 node: all through n1, none refused; to 3: the memory double refuses writes
    # on its replicas as Postgres does, and the refusals are counted, not hidden
    assert set(one.ok_by_node) == {"n1"} and one.refused == 0 and one.ok_writes > 0
    assert set(every.ok_by_node) == {"n1"} and every.refused > 0
    for p in (one, every):
        doc = json.loads((p.run / "scale.json").read_text())
        assert (doc["nodes"], doc["write_nodes"]) == (3, p.write_nodes)
    html = (tmp_path / "r" / "compare.html").read_text()
    assert 'id="scaling-plot"' in html and "not hardware scaling" in html.replace("\n", " ")
    with open(tmp_path / "r" / "compare.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["workload"] == "set (scale)"]
    assert sorted(r["knobs"] for r in rows) == ["nodes=3, write_nodes=1", "nodes=3, write_nodes=3"]


def scale_run(root: Path, db: str, nodes: int, k: int, writes: int, seconds: float) -> Path:
    """`writes` acknowledged adds spread over `seconds`, plus one refused add per extra node."""
    h = H()
    for i in range(writes):
        t = seconds * i / max(1, writes - 1)
        h.call(t, t + 0.001, 0, "add", i, node="n1")
    for j in range(k - 1):
        h.call(0.5, 0.501, 1, "add", 1000 + j, typ="fail", node=f"n{j + 2}")
    spec = TestSpec(db=db, nemesis=(), nodes=nodes, name=f"scale-{db}-{nodes}-{k}")
    run_dir = save_run(root, spec, h.ops, {"valid": True, "checkers": {}})
    (run_dir / "scale.json").write_text(json.dumps({"nodes": nodes, "write_nodes": k}))
    return run_dir


def test_scaling_figures_and_ratio(tmp_path: Path) -> None:
    runs = [
        scale_run(tmp_path, "postgres", 3, 1, 101, 10.0),  # 10.1 ack/s over 10.001 s
        scale_run(tmp_path, "postgres", 3, 3, 51, 10.0),
    ]
    pts = scale_points(runs)
    assert [(p.write_nodes, p.refused) for p in pts] == [(1, 0), (3, 2)]
    assert pts[0].ok_per_s == pytest.approx(101 / 10.001)
    line = series(pts)[("postgres", 3)]
    assert [k for k, _ in line] == [1, 3]
    assert ratio(line) == pytest.approx(51 / 101)
    # twin: repeated runs of one point are averaged, not summed
    runs.append(scale_run(tmp_path / "again", "postgres", 3, 1, 51, 10.0))
    again = series(scale_points(runs))[("postgres", 3)]
    assert again[0][1] == pytest.approx((101 + 51) / 2 / 10.001)


def test_scale_runs_feed_the_tradeoff_table_not_the_pooled_configs(tmp_path: Path) -> None:
    from tests.synthetic_results import make_run

    make_run(tmp_path, seed=1)  # postgres with faults
    scale_run(tmp_path, "postgres", 3, 1, 101, 10.0)
    scale_run(tmp_path, "postgres", 3, 3, 51, 10.0)
    html_path, csv_path = compare([tmp_path], tmp_path / "out")
    html = html_path.read_text()
    table = html.split('<div id="tradeoff-table">', 1)[1].split("</table>", 1)[0]
    cell = table.split(">write scaling</th>", 1)[1].split("</tr>", 1)[0]
    # 101 acknowledged over 10 s through 1 node; 51 through 3, with 2 refused by replicas
    assert "10/s via 1 node, 5/s via 3 (3.8% refused)" in cell
    assert cell.count("report.html") == 2  # links to the two scale runs
    with open(csv_path) as fh:
        pooled = [r for r in csv.DictReader(fh) if r["workload"] == "set"]
    assert len(pooled) == 1 and pooled[0]["runs"] == "1"  # the scale runs are not pooled in


def test_a_broken_scale_file_is_a_history_error(tmp_path: Path) -> None:
    run_dir = scale_run(tmp_path, "postgres", 3, 1, 5, 1.0)
    (run_dir / "scale.json").write_text('{"nodes": "three"}')
    with pytest.raises(HistoryError, match="scale.json: expected"):
        scale_points([run_dir])
