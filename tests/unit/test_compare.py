"""compare.html / compare.csv over hand-made runs whose figures are known in advance."""

from __future__ import annotations

import csv
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli_reports import COMMANDS
from harness.errors import SplitbrainError
from harness.report.compare import compare, find_runs
from harness.spec import TestSpec
from harness.verdict import Anomaly, Verdict, compose
from tests.builder import H


def primary_replica_history() -> H:
    """6 healthy writes on n1 (all ok), 2 during a kill (both fail); reads 2/2 healthy, 1/1 kill."""
    h = H()
    for i in range(4):
        h.call(0.1 * i, 0.1 * i + 0.01, 0, "add", i, node="n1")
    h.call(0.5, 0.52, 1, "read", None, [0, 1], node="n2")
    h.call(0.6, 0.62, 1, "read", None, [0, 1], node="n2")
    h.invoke(1.0, "nemesis", "start-kill", {"nodes": ["n1"]}).info(
        1.0, "nemesis", "start-kill", {"nodes": ["n1"]}
    )
    h.call(1.1, 1.3, 0, "add", 10, typ="fail", node="n1")
    h.call(1.4, 1.6, 0, "add", 11, typ="fail", node="n1")
    h.call(1.5, 1.52, 1, "read", None, [0], node="n2")
    h.invoke(2.0, "nemesis", "stop-kill").info(2.0, "nemesis", "stop-kill")
    h.call(2.5, 2.51, 0, "add", 20, node="n1")
    h.call(2.6, 2.61, 0, "add", 21, node="n1")
    h.call(3.0, 3.02, 9, "final-read", None, [0, 1, 2, 3, 20, 21], node="n1")
    return h


def peer_to_peer_history() -> H:
    """Writes on three nodes in the same second; partition: 2 of 3 writes ok."""
    h = H()
    for i, node in enumerate(("n1", "n2", "n3")):
        h.call(0.1 * i, 0.1 * i + 0.05, i, "add", i, node=node)
    pv = {"shape": "halves"}
    h.invoke(1.0, "nemesis", "start-partition", pv).info(1.0, "nemesis", "start-partition", pv)
    for i, (node, typ) in enumerate((("n1", "ok"), ("n2", "ok"), ("n3", "info"))):
        h.call(1.1 + 0.1 * i, 1.2 + 0.1 * i, i, "add", 10 + i, typ=typ, node=node)
    h.invoke(2.0, "nemesis", "stop-partition").info(2.0, "nemesis", "stop-partition")
    return h


def save(
    root: Path, name: str, spec: TestSpec, h: H, verdicts: list[Verdict], topology: str
) -> Path:
    from tests.synthetic_results import save_run

    return save_run(root / name, spec, h.ops, compose(verdicts), topology=topology)


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    pg = TestSpec(db="postgres", mode="async", nemesis=("kill",), seed=1)
    lost = Verdict("set", False, [Anomaly("lost-write", [3], "write of 3 lost")])
    save(root, "a", pg, primary_replica_history(), [lost], "primary-replica")
    save(root, "b", pg.replace(seed=2), primary_replica_history(), [lost], "primary-replica")
    galera = TestSpec(
        db="galera",
        mode="multi-primary",
        nemesis=("partition",),
        seed=1,
        options={"wsrep_sync_wait": 1},
    )
    g2 = Verdict(
        "list-append", False, [Anomaly("G2-item", [1, 2], "cycle"), Anomaly("G2-item", [3], "c")]
    )
    save(root, "suites/x/1", galera, peer_to_peer_history(), [g2], "peer-to-peer")
    return root


def rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path) as fh:
        return {r["db"]: r for r in csv.DictReader(fh)}


def test_csv_has_the_measured_figures(runs: Path, tmp_path: Path) -> None:
    html, csv_path = compare([runs], tmp_path / "out")
    r = rows(csv_path)
    pg, ga = r["postgres"], r["galera"]
    assert (pg["topology"], pg["runs"], pg["invalid_runs"]) == ("primary-replica", "2", "2")
    assert pg["knobs"] == "read_from=primary, isolation=serializable"
    assert (pg["write_avail_healthy"], pg["write_n_healthy"]) == ("1.0", "12")
    assert (pg["write_avail_kill"], pg["write_n_kill"]) == ("0.0", "4")
    assert (pg["read_avail_healthy"], pg["read_n_healthy"]) == (
        "1.0",
        "6",
    )  # 2 reads + final, x2 runs
    assert pg["read_avail_kill"] == "1.0"
    assert pg["write_avail_partition"] == "" and pg["write_n_partition"] == "0"  # no such fault
    assert (pg["lost_writes"], pg["stale_reads"], pg["other_anomalies"]) == ("2", "0", "")
    assert pg["write_nodes"] == "n1=12" and pg["max_write_nodes_per_s"] == "1"
    assert pg["longest_write_outage_s"] == "2.2"  # ok write at 0.31 s, the next at 2.51 s
    # 9 ok ops per run (6 writes, 3 reads) over 0 -> 2.61 s of workload; the final read excluded
    assert float(pg["throughput_ok_per_s"]) == pytest.approx(9 / 2.61, rel=1e-3)

    assert (ga["topology"], ga["knobs"]) == (
        "peer-to-peer",
        "isolation=serializable, wsrep_sync_wait=1",  # read_from means nothing here
    )
    assert ga["write_avail_partition"] == "0.6667"
    assert ga["other_anomalies"] == "G2-item=2" and ga["max_write_nodes_per_s"] == "3"
    assert ga["write_nodes"] == "n1=2; n2=2; n3=1"


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.h2: list[str] = []
        self._in_h2 = False
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._in_h2 = tag == "h2"
        self.tables += tag == "table"

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        if self._in_h2:
            self.h2.append(data)
            self._in_h2 = False


def test_html_groups_by_topology_and_summarises_from_numbers(runs: Path, tmp_path: Path) -> None:
    html, _ = compare([runs / "a", runs / "b", runs / "suites"], tmp_path / "out")
    t = Text()
    t.feed(html.read_text())
    text = " ".join(t.parts)
    assert t.h2 == [
        "What each column pools",  # under the table and its pictures, which come first
        "How each row is measured",
        "Summary",
        "Conflicts per configuration",
        "Write availability per fault kind",
        "Failover data-loss window",
        "Write scaling, measured",
        "peer-to-peer",
        "primary-replica",
        "Runs",
    ]
    assert "3 run(s) of 2 configuration(s) compared." in text
    # postgres acknowledged nothing during its kill (1.0-2.0 s): no surviving write in it
    assert (
        "primary-replica: PostgreSQL async / set / read_from=primary, isolation=serializable "
        "held a surviving acknowledged write in 0% of its fault time." in text
    )
    assert "peer-to-peer: Galera / set / isolation=serializable, wsrep_sync_wait=1 held a " in text
    assert (
        "primary-replica: at most 1 node(s) acknowledged writes in the same healthy second." in text
    )
    assert "peer-to-peer: at most 3 node(s)" in text
    assert "lost-write 2" in text and "G2-item 2" in text
    assert "Longest stretch without an acknowledged write: 2.2 s (PostgreSQL async" in text
    assert "No `splitbrain scale` run among these folders" in text


def test_find_runs_dedupes_and_errors(runs: Path, tmp_path: Path) -> None:
    found = find_runs([runs, runs / "a"])
    assert len(found) == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SplitbrainError, match="no run folder"):
        compare([empty], tmp_path / "out")
    with pytest.raises(SplitbrainError, match="not a run folder"):
        find_runs(
            [runs / "a" / "postgres-async-set-kill-primary" / "20250101-000000" / "spec.json"]
        )


def test_cli_compare(runs: Path, tmp_path: Path) -> None:
    cmd = next(c for c in COMMANDS if c.name == "compare")
    res = CliRunner().invoke(cmd, [str(runs), "--out", str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cmp" / "compare.csv").read_text().count("\n") == 3  # header + 2 configs


def test_aborted_runs_are_counted_and_named(tmp_path: Path) -> None:
    from tests.synthetic_results import save_run

    spec = TestSpec(db="postgres", mode="sync", nemesis=("kill",), seed=1)
    doc = {"valid": "unknown", "checkers": {}}
    save_run(
        tmp_path / "r", spec, primary_replica_history().ops, doc, aborted="interrupted (SIGINT)"
    )
    html, csv_path = compare([tmp_path / "r"], tmp_path / "out")
    row = rows(csv_path)["postgres"]
    assert (row["aborted_runs"], row["unknown_runs"], row["write_n_kill"]) == ("1", "1", "2")
    assert "aborted: interrupted (SIGINT); its partial history is counted" in html.read_text()


def test_a_suite_folder_leads_to_its_runs(runs: Path, tmp_path: Path) -> None:
    import json

    run_dirs = find_runs([runs / "a", runs / "b"])
    suite_dir = tmp_path / "results" / "suites" / "quick" / "20250101-000000"
    suite_dir.mkdir(parents=True)
    cases: list[dict[str, str | None]] = [
        {"name": f"c{i}", "run_dir": str(d)} for i, d in enumerate(run_dirs)
    ]
    cases.append({"name": "aborted-before-a-run", "run_dir": None})
    (suite_dir / "summary.json").write_text(json.dumps({"suite": "quick", "cases": cases}))
    assert sorted(find_runs([suite_dir])) == sorted(run_dirs)


def test_tradeoff_table_is_filled_and_every_cell_links_to_its_runs(
    runs: Path, tmp_path: Path
) -> None:
    import re

    from harness.report.tradeoffs import ROWS

    out = tmp_path / "out"
    html = compare([runs], out)[0].read_text()
    table_html = html.split('<div id="tradeoff-table">', 1)[1].split("</table>", 1)[0]
    groups = re.findall(r'<th class="group[^"]*"[^>]*>(.*?)</th>', table_html)
    assert groups == ["primary-replica", "peer-to-peer"]  # the seed's side-by-side question
    heads = [
        re.sub(r"<[^>]+>", " ", h).split()
        for h in re.findall(r'<th class="col[^"]*">(.*?)</th>', table_html)
    ]
    assert heads[0][:2] == ["PostgreSQL", "async"] and heads[1][:1] == ["Galera"]
    assert "wsrep_sync_wait 1" in " ".join(heads[1])  # what the runs used, in the label
    body = table_html.split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body)
    assert [re.findall(r'<th scope="row"[^>]*>(.*?)</th>', r)[0] for r in rows] == [
        t for t, _ in ROWS
    ]
    for r in rows:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", r)
        assert len(cells) == 2
        for cell in cells:
            text = re.sub(r"<[^>]+>", "", cell).strip()
            assert text and text != "–"
            hrefs = re.findall(r'href="([^"]+)"', cell)
            assert hrefs or text.startswith("not measured"), cell
            for h in hrefs:
                if h.startswith("#"):
                    assert f'id="{h[1:]}"' in html
                else:
                    assert (out / h).resolve().parent.joinpath("verdict.json").is_file()
    cell = [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in rows
    ]
    spof, conflict = cell[3], cell[4]
    # single point of failure: postgres acknowledged no write in its kill window (1.0-2.0 s)
    assert spof[0].startswith("yes kill: writes in 0% of its time, 1.0 s gap")
    assert spof[1].startswith("no partition (halves): writes in 100% of its time")
    # conflicts: postgres has nothing to certify; galera's refusals were measured (0 of 6),
    # and its G2 cycles
    assert conflict[0].startswith("not measured (single writer,")
    assert conflict[1].startswith("write skew 2")


def test_failover_loss_window_lists_each_lost_write_once(tmp_path: Path) -> None:
    from harness.verdict import Anomaly, Verdict

    h = primary_replica_history()
    ops = h.ops
    # the lost write is add 1 (ok at 0.11 s, before the kill), listed by its invocation,
    # its completion and the final read
    inv, done = (op for op in ops if op.f == "add" and op.value == 1)
    final = ops[-1]
    lost = Anomaly("lost-write", [inv.index, done.index, final.index], "add 1 lost")
    spec = TestSpec(db="postgres", mode="async", nemesis=("kill",), seed=1)
    save(tmp_path / "r", "a", spec, h, [Verdict("set", False, [lost])], "primary-replica")
    _, csv_path = compare([tmp_path / "r"], tmp_path / "out")
    row = rows(csv_path)["postgres"]
    assert (row["fault_windows"], row["lost_acked_writes_in_fault_windows"]) == ("1", "0")
    assert row["lost_acked_writes_outside_faults"] == "1"  # charged once, not per listed op
