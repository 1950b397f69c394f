"""compare.html's first screen over hand-made runs whose figures are known in advance: the
columns (database and mode as run, from the databases' declared facts), each trade-off
cell, each picture, and the names of fault kinds; each with a twin where a wrong
implementation would give another answer."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.history import Op, write_jsonl
from harness.report import charts
from harness.report.compare import compare
from harness.report.configs import Config, measure
from harness.report.results import as_run, fault_kind, window_label
from harness.report.run_report import write_report
from harness.report.scaling import scale_points
from harness.report.tradeoffs import (
    columns,
    conflict_cell,
    consistency,
    data_loss,
    must_handle,
    single_point,
    who_writes,
    write_scaling,
)
from harness.spec import TestSpec
from tests.builder import H
from tests.compare_runs import mariadb_registered


def spec(db: str, mode: str, **kw: Any) -> dict[str, Any]:
    """spec.json's fields; the database need not be one this version knows."""
    return TestSpec(db="postgres", mode="async", **kw).to_dict() | {"db": db, "mode": mode}


def save(
    root: Path,
    name: str,
    s: dict[str, Any],
    ops: list[Op],
    checkers: dict[str, Any],
    topology: str,
    scale: tuple[int, int] | None = None,
) -> Path:
    d = root / name / "20261206-000000"
    d.mkdir(parents=True)
    (d / "spec.json").write_text(json.dumps(s))
    write_jsonl(ops, d / "history.jsonl")
    valid = all(v.get("valid") is True for v in checkers.values())
    run = {"db": s["db"], "mode": s["mode"], "topology": topology, "workload": s["workload"]}
    (d / "verdict.json").write_text(json.dumps({"valid": valid, "checkers": checkers, "run": run}))
    if scale:
        (d / "scale.json").write_text(json.dumps({"nodes": scale[0], "write_nodes": scale[1]}))
    return d


def failover_history(durable: bool) -> tuple[list[Op], dict[str, Any]]:
    """Writes on n1, then a failover (isolate) invoked at 1.0 s, in effect at 1.2 s, healed
    at 4.0 s. Process 0 stays on the isolated old primary: its writes at 1.3, 1.8 and 2.3 s
    are acknowledged and lost (async) or never answered (durable: info). Process 1 is
    refused at 1.5 s, then acknowledged by the promoted n2 at 3.1 and 3.6 s."""
    h = H()
    for i in range(4):
        h.call(0.25 * i, 0.25 * i + 0.01, 0, "add", i, node="n1")
    h.invoke(1.0, "nemesis", "start-failover", {"how": "isolate"})
    h.info(1.2, "nemesis", "start-failover", {"how": "isolate", "new_primary": "n2"})
    for v, t in ((10, 1.3), (11, 1.8), (12, 2.3)):
        h.call(t - 0.05, t, 0, "add", v, typ="info" if durable else "ok", node="n1")
    h.call(1.45, 1.5, 1, "add", 20, typ="fail", node="n2")
    h.call(3.05, 3.1, 1, "add", 21, node="n2")
    h.call(3.55, 3.6, 1, "add", 22, node="n2")
    h.invoke(4.0, "nemesis", "stop-failover").info(4.0, "nemesis", "stop-failover")
    h.call(4.45, 4.5, 1, "add", 23, node="n2")
    kept = [0, 1, 2, 3, 21, 22, 23]
    h.call(6.0, 6.05, 9, "final-read", None, kept, node="n2")
    ops = h.ops
    final = ops[-1].index
    lost = [
        {
            "type": "lost-write",
            "ops": [op.index, final],
            "explanation": "",
            "data": {"value": op.value},
        }
        for op in ops
        if op.f == "add" and op.type == "ok" and op.value in (10, 11, 12)
    ]
    return ops, {
        "set": {
            "valid": not lost,
            "anomalies": lost,
            "counts": {"lost-write": len(lost)} if lost else {},
        }
    }


def peer_history(pv: dict[str, Any], fault: str = "partition") -> list[Op]:
    """Three nodes take writes in the same second; a fault 1.0-2.0 s during which writes
    keep being acknowledged by n1 and n2; a final read."""
    h = H()
    for i, node in enumerate(("n1", "n2", "n3")):
        h.call(0.1 * i, 0.1 * i + 0.05, i, "add", i, node=node)
    h.invoke(1.0, "nemesis", f"start-{fault}", pv).info(
        1.0, "nemesis", f"start-{fault}", {"node": "n3"}
    )
    h.call(1.1, 1.2, 0, "add", 10, node="n1")
    h.call(1.6, 1.7, 1, "add", 11, node="n2")
    h.invoke(2.0, "nemesis", f"stop-{fault}").info(2.0, "nemesis", f"stop-{fault}")
    h.call(3.0, 3.05, 9, "final-read", None, [0, 1, 2, 10, 11], node="n1")
    return h.ops


CLEAN_SET = {"set": {"valid": True, "anomalies": []}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "results"


def one(d: Path) -> Config:
    (c,) = columns([measure(d)])
    return c


def pg_failover(root: Path, mode: str) -> Config:
    """The column of one PostgreSQL failover run: async loses the old primary's writes,
    sync leaves them indeterminate."""
    ops, checkers = failover_history(durable=mode == "sync")
    s = spec("postgres", mode, nemesis=("failover",))
    return one(save(root, mode, s, ops, checkers, "primary-replica"))


# ---------------------------------------------------------------- columns and names


def test_a_column_is_named_by_what_the_runs_used_not_by_the_mode_flag(root: Path) -> None:
    ops = peer_history({"shape": "isolate-one", "seed": 1})
    one_one = spec(
        "cassandra", "quorum", nemesis=("partition",), options={"write_cl": "ONE", "read_cl": "ONE"}
    )
    quorum = spec("cassandra", "quorum", nemesis=("partition",))
    cols = columns(
        [
            measure(save(root, "one", one_one, ops, CLEAN_SET, "peer-to-peer")),
            measure(save(root, "quorum", quorum, ops, CLEAN_SET, "peer-to-peer")),
        ]
    )
    assert [c.title for c in cols] == ["Cassandra QUORUM", "Cassandra ONE"]
    assert cols[1].settings == {"read_cl": {"ONE": None}, "write_cl": {"ONE": None}}
    # twin: one option left at the mode's level is a mixed column, named so
    mixed = as_run(spec("cassandra", "quorum", options={"write_cl": "ONE"}))
    assert (mixed.mode, mixed.settings[:2]) == (
        "write ONE, read QUORUM",
        (("read_cl", "QUORUM"), ("write_cl", "ONE")),
    )
    # the run report says the same
    page = write_report(save(root, "r", one_one, ops, CLEAN_SET, "peer-to-peer")).read_text()
    assert "peer-to-peer / ONE (--mode quorum)" in page


def test_summary_txt_names_the_mode_as_run(tmp_path: Path) -> None:
    from harness.run_summary import summary

    doc = {
        "run": {
            "topology": "peer-to-peer",
            "ops": dict.fromkeys(("ok", "fail", "info"), 0),
            "duration_s": 1,
        },
        "checkers": {},
    }
    ones = TestSpec(db="cassandra", mode="quorum", options={"write_cl": "ONE", "read_cl": "ONE"})
    assert "mode ONE (--mode quorum)," in summary(ones, doc, tmp_path)
    assert "mode QUORUM," in summary(TestSpec(db="cassandra", mode="quorum"), doc, tmp_path)


def test_a_new_database_gets_its_column_from_its_declared_facts(root: Path) -> None:
    ops, checkers = failover_history(durable=True)
    runs = [
        save(
            root,
            "semi",
            spec("mariadb", "semi-sync", isolation="repeatable-read"),
            ops,
            checkers,
            "primary-replica",
        ),
        save(root, "pg", spec("postgres", "sync"), ops, checkers, "primary-replica"),
        save(
            root,
            "ga",
            spec("galera", "multi-primary"),
            peer_history({"shape": "halves"}),
            CLEAN_SET,
            "peer-to-peer",
        ),
    ]
    with mariadb_registered():  # as harness/db/mariadb.py declares itself
        cols = columns([measure(d) for d in runs])
        assert [(c.topology, c.title) for c in cols] == [
            ("primary-replica", "PostgreSQL sync"),
            ("primary-replica", "MariaDB semi-sync"),
            ("peer-to-peer", "Galera"),
        ]
        assert cols[1].settings == {
            "isolation": {"repeatable-read": None},
            "read_from": {"primary": None},
        }
    # twin: a database this version does not know still gets a column, from its files
    other = save(
        root,
        "other",
        spec("mysql", "semi-sync", isolation="repeatable-read"),
        ops,
        checkers,
        "primary-replica",
    )
    (unknown,) = columns([measure(other)])
    assert (unknown.topology, unknown.title) == ("primary-replica", "mysql semi-sync")


def test_fault_kinds_are_named_as_they_apply_to_the_database(root: Path) -> None:
    w = {"fault": "partition", "params": {"shape": "isolate-primary"}, "value": {"grudge": {}}}
    assert fault_kind(w, has_primary=True) == "partition (isolate-primary)"
    assert fault_kind(w, has_primary=False) == "partition (isolate-one)"  # no primary there
    pause = {"fault": "pause", "params": {"target": "primary"}, "value": {"node": "n2"}}
    assert window_label(pause, has_primary=True) == "pause (primary) on n2"
    assert window_label(pause, has_primary=False) == "pause (random node) on n2"
    # the run report and the comparison name a Galera run's window alike
    d = save(
        root,
        "ga",
        spec("galera", "multi-primary"),
        peer_history({"shape": "isolate-primary"}),
        CLEAN_SET,
        "peer-to-peer",
    )
    assert "partition (isolate-one)" in write_report(d).read_text()
    assert "isolate-primary" not in " ".join(one(d).stretch)


# ---------------------------------------------------------------- cells


def test_single_point_of_failure_counts_only_writes_that_survived(root: Path) -> None:
    c = pg_failover(root, "async")
    cell = single_point(c)
    # 1.0-4.0 s: only the slice [3, 4) holds a surviving write (3.1, 3.6); the old primary's
    # three acknowledgements were lost, and are said beside
    assert (cell.word, cell.tone) == ("yes", "bad")
    assert (
        cell.text == "failover (isolate): writes in 33.3% of its time, 2.1 s gap; 3 acked then lost"
    )
    assert cell.runs == c.runs
    # twin: the same history with those writes kept (sync) is as available, and loses none
    sync = pg_failover(root, "sync")
    assert single_point(sync).text == "failover (isolate): writes in 33.3% of its time, 2.1 s gap"


def test_data_loss_per_fault_and_never_a_zero_nobody_measured(root: Path) -> None:
    c = pg_failover(root, "async")
    cell = data_loss(c)
    assert (cell.word, cell.text, cell.tone) == ("3 lost", "in 1 failover (isolate)", "bad")
    assert "acknowledged over up to 1.0 s" in cell.detail  # 1.3 s to 2.3 s
    sync = pg_failover(root, "sync")
    assert (data_loss(sync).word, data_loss(sync).text) == ("0 lost", "in 1 fault window")
    # twin: no checker looked for lost writes (a register run): not measured, not "0 lost"
    ops, _ = failover_history(durable=True)
    reg = {"linearizable": {"valid": True, "anomalies": []}}
    s = spec("postgres", "sync", workload="register", nemesis=("failover",))
    c = one(save(root, "reg", s, ops, reg, "primary-replica"))
    assert (
        data_loss(c).text == "not measured (no run checked for lost writes)"
        and not data_loss(c).word
    )


def test_who_takes_writes_consistency_conflicts_and_what_to_handle(root: Path) -> None:
    pg = pg_failover(root, "async")
    assert (who_writes(pg).word, who_writes(pg).text) == ("one", "node of 2 at a time")
    assert (consistency(pg).text, consistency(pg).tone) == ("lost-write 3; 1 of 1 runs", "bad")
    assert conflict_cell(pg).text == "not measured (single writer, no conflicts or list-append run)"
    # 11 writes: 1 refused, none indeterminate
    assert must_handle(pg).text == "9.1% of writes refused (retry), 0% indeterminate (reconcile)"

    peer = peer_history({"shape": "halves"})
    ga = one(save(root, "ga", spec("galera", "multi-primary"), peer, CLEAN_SET, "peer-to-peer"))
    assert (who_writes(ga).word, who_writes(ga).text) == ("every", "node (3 of 3 at once)")
    assert (consistency(ga).word, consistency(ga).text) == ("none", "found in 1 run")
    # Galera certifies: 0 refusals is a measurement
    assert (conflict_cell(ga).word, conflict_cell(ga).text) == (
        "none",
        "(certification refusals measured)",
    )
    # twin: Cassandra never certifies (last-write-wins): a refusal count would be a measure
    # that cannot fail, even though the runner writes a conflicts block for every peer
    ca = one(save(root, "ca", spec("cassandra", "quorum"), peer, CLEAN_SET, "peer-to-peer"))
    assert conflict_cell(ca).text == "not measured (no conflicts or list-append run)"


def test_write_scaling_takes_scale_runs_of_the_same_database_and_mode(root: Path) -> None:
    def scale_run(db: str, mode: str, k: int, writes: int, refused: int = 0) -> Path:
        h = H()
        for i in range(writes):
            h.call(i / writes, i / writes + 0.001, 0, "add", i, node="n1")
        for i in range(refused):
            h.call(i / refused, i / refused + 0.001, 1, "add", -i, typ="fail", node="n2")
        topo = "primary-replica" if db == "postgres" else "peer-to-peer"
        return save(root, f"{db}-{mode}-{k}", spec(db, mode, nemesis=()), h.ops, {}, topo, (3, k))

    points = scale_points(
        [
            scale_run("postgres", "async", 1, 100),
            scale_run("postgres", "async", 3, 50, refused=50),
            scale_run("cassandra", "quorum", 1, 80),
        ]
    )
    cell = write_scaling(pg_failover(root, "async"), points)
    # 100 writes over 0.99 s through 1 node; 50 over 0.98 s through 3, half of them refused
    assert cell.text == "101/s via 1 node, 51/s via 3 (50.0% refused)"
    assert len(cell.runs) == 2
    # twin: Cassandra ONE is not the QUORUM the scale run used: not measured
    one_one = spec("cassandra", "quorum", options={"write_cl": "ONE", "read_cl": "ONE"})
    ca = one(
        save(root, "ca", one_one, peer_history({"shape": "halves"}), CLEAN_SET, "peer-to-peer")
    )
    assert write_scaling(ca, points).text == "not measured (no scale run)"


# ---------------------------------------------------------------- pictures


def marks(p: charts.Panel) -> list[tuple[int, str, float]]:
    return [(m.row, m.series, m.value) for m in p.marks]


@pytest.fixture
def pair(root: Path) -> list[Config]:
    """Column 0: PostgreSQL async under failover (3 lost); column 1: Galera under a halves
    partition with a G2-item cycle from a list-append run and no lost-write check."""
    ops, checkers = failover_history(durable=False)
    pg = save(
        root,
        "pg",
        spec("postgres", "async", nemesis=("failover",)),
        ops,
        checkers,
        "primary-replica",
    )
    la = {"list-append": {"valid": False, "anomalies": [], "counts": {"G2-item": 2, "G-single": 1}}}
    ga = save(
        root,
        "ga",
        spec("galera", "multi-primary", workload="append"),
        peer_history({"shape": "halves"}),
        la,
        "peer-to-peer",
    )
    return columns([measure(pg), measure(ga)])


def test_figure_availability_per_fault_kind(pair: list[Config]) -> None:
    p = charts.availability(pair)
    # Galera's halves partition 1.0-2.0 s holds writes at 1.2 and 1.7 s: all of its time
    assert marks(p) == [
        (0, "failover (isolate)", pytest.approx(1 / 3)),
        (1, "partition (halves)", 1.0),
    ]
    assert "3 more acknowledged, then lost" in p.marks[0].tip


def test_figure_losses_per_fault_window(pair: list[Config]) -> None:
    p = charts.losses(pair)
    assert marks(p) == [(0, "failover (isolate)", 3.0)]
    # twin: Galera's run had no lost-write check: no mark at 0, a reason instead
    assert p.missing == {1: "not measured (no lost-write check)"}


def test_figure_anomalies_per_consistency_model(pair: list[Config]) -> None:
    p = charts.anomalies(pair)
    # postgres: the set checker judged durability (3 lost) and linearizability (0)
    assert [(m.series, m.value) for m in p.marks if m.row == 0] == [
        ("durability", 3.0),
        ("linearizability", 0.0),
    ]
    # galera: write skew breaks serializability, read skew snapshot isolation; the models
    # list-append judges are measured (read committed: 0), those of the set checker are not
    assert [(m.series, m.value) for m in p.marks if m.row == 1] == [
        ("read committed", 0.0),
        ("snapshot isolation", 1.0),
        ("serializability", 2.0),
    ]


def test_figure_writes_per_second_one_node_vs_all(pair: list[Config], root: Path) -> None:
    h1, h3 = H(), H()
    for i in range(10):
        h1.call(i / 10, i / 10 + 0.001, 0, "add", i, node="n1")
        h3.call(i / 5, i / 5 + 0.001, 0, "add", i, node="n2")
    s = spec("postgres", "async", nemesis=())
    pts = scale_points(
        [
            save(root, "s1", s, h1.ops, {}, "primary-replica", (3, 1)),
            save(root, "s3", s, h3.ops, {}, "primary-replica", (3, 3)),
        ]
    )
    p = charts.scaling(pair, pts)
    assert [(m.row, m.series) for m in p.marks] == [(0, "1 node"), (0, "all nodes")]
    assert [round(m.value, 2) for m in p.marks] == [11.1, 5.55]  # 10 over 0.901 s, over 1.801 s
    assert p.joined == [(0, 1)] and p.missing == {1: "not measured (no scale run)"}


def test_small_multiples_are_one_self_contained_svg(pair: list[Config]) -> None:
    panels = [
        charts.availability(pair),
        charts.losses(pair),
        charts.anomalies(pair),
        charts.scaling(pair, []),
    ]
    names = sorted({m.series for p in panels for m in p.marks})
    svg = charts.small_multiples(
        panels, [c.title for c in pair], [c.topology for c in pair], charts.style(names)
    )
    doc = ET.fromstring(svg)  # well-formed
    ns = "{http://www.w3.org/2000/svg}"
    ids = [g.get("id") for g in doc.iter(f"{ns}g") if g.get("class") == "panel"]
    assert ids == ["chart-availability", "chart-losses", "chart-anomalies", "chart-scaling"]
    drawn = [g for g in doc.iter(f"{ns}g") if g.get("class") == "mark"]
    assert len(drawn) == sum(len(p.marks) for p in panels)
    assert all(g.find(f"{ns}title") is not None for g in drawn)  # each figure on hover
    assert not re.search(r"(href|src)=\"(https?:)?//", svg)  # nothing fetched
    many = [f"kind {i}" for i in range(len(charts.PALETTE) * len(charts.SHAPES))]
    assert len(set(charts.style(many).values())) == len(many)  # no two series look alike
    assert set(re.findall(r'(?:fill|stroke)="(#[0-9A-Fa-f]{6})"', svg)) <= {
        *charts.PALETTE,
        "#fff",
        "#ffffff",
    }


def test_the_page_puts_table_pictures_and_column_contents_first(
    pair: list[Config], root: Path, tmp_path: Path
) -> None:
    html = compare([root], tmp_path / "out")[0].read_text()
    first = html.index('id="tradeoff-table"')
    assert (
        first
        < html.index('id="glance-charts"')
        < html.index('id="columns"')
        < html.index('id="summary"')
    )
    # the configurations are listed under the table, each column's anchor resolves
    for a in re.findall(r'href="#([^"]+)"', html):
        assert f'id="{a}"' in html, a


def test_fault_windows_are_counted_in_words() -> None:
    from harness.report.tradeoffs import _windows

    assert _windows([5], "failover (isolate)") == "1 failover (isolate)"
    assert _windows([5, 3], "failover (isolate)") == "2 failovers (isolate)"
    assert _windows([0, 3, 0], "kill (primary)") == "1 of 3 kills (primary)"
    assert _windows([1, 2], "partition") == "2 partitions"
