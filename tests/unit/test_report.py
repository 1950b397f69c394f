"""The HTML run report, from synthetic results folders (no database)."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli_reports import COMMANDS
from harness.history import load
from harness.report import plots
from harness.report.results import availability, completions, is_read
from harness.report.run_report import write_report
from harness.spec import TestSpec
from harness.verdict import Anomaly, Verdict, compose
from nemesis.record import windows
from tests.builder import H
from tests.synthetic_results import make_run, save_run


class Page(HTMLParser):
    """Collects what the assertions look at: images, tables, ids, links, text."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str]] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._classes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a)
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        if "class" in a:
            self._classes.append(a["class"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def table_with(self, header: str) -> list[list[str]]:
        return next(t for t in self.tables if t and header in t[0])


def parse(path: Path) -> Page:
    p = Page()
    p.feed(path.read_text())
    return p


def small_history() -> list:
    """Known counts: healthy writes 1/2 ok, reads 2/2; partition writes 1/2, reads 0/1."""
    pv = {"shape": "isolate-primary", "grudge": {"n1": ["n2", "n3"]}, "nodes": ["n1"]}
    h = H()
    h.call(0.0, 0.01, 0, "add", 1, node="n1")
    h.call(0.1, 0.11, 1, "read", None, [1], node="n2")
    h.invoke(1.0, "nemesis", "start-partition", pv).info(1.0, "nemesis", "start-partition", pv)
    h.call(1.1, 1.2, 0, "add", 2, node="n1")
    h.call(1.3, 1.4, 0, "add", 3, typ="fail", node="n1")
    h.call(1.5, 2.6, 1, "read", None, typ="info", node="n2")
    h.invoke(3.0, "nemesis", "stop-partition").info(3.0, "nemesis", "stop-partition")
    h.call(3.1, 3.2, 2, "txn", [["r", "x", None]], [["r", "x", [1]]], node="n3")
    h.call(3.3, 3.4, 2, "txn", [["append", "x", 2], ["r", "x", None]], typ="fail", node="n3")
    h.call(4.0, 4.02, 3, "final-read", None, [1, 2], node="n1")
    return h.ops


def small_run(root: Path) -> Path:
    ops = small_history()
    add2 = next(op for op in ops if op.f == "add" and op.value == 2 and op.type == "ok")
    final = next(op for op in ops if op.f == "final-read" and op.type == "ok")
    doc = compose(
        [
            Verdict(
                "set",
                False,
                [
                    Anomaly(
                        "lost-write",
                        [add2.index, final.index],
                        "write of 2 acknowledged at 1.2 s by n1 is missing",
                    )
                ],
            ),
            Verdict("linearizable", "unknown", notes=["search budget ran out after 10 s"]),
        ]
    )
    spec = TestSpec(db="postgres", mode="async", nemesis=("partition",), seed=7)
    return save_run(root, spec, ops, doc)


def test_read_write_classification() -> None:
    assert is_read("read", None) and is_read("final-read", None)
    assert is_read("txn", [["r", "x", None], ["r", "y", None]])
    assert not is_read("txn", [["append", "x", 1], ["r", "x", None]])
    assert (
        not is_read("add", 1)
        and not is_read("transfer", {"from": 1})
        and not is_read("cas", [1, 2])
    )


def test_availability_counts_by_completion_period() -> None:
    ops = small_history()
    av = availability(completions(ops), windows(ops)).set_index("period")
    assert list(av.index) == ["healthy", "partition"]
    assert (av.loc["healthy", "write_ok"], av.loc["healthy", "write_total"]) == (1, 2)
    assert (av.loc["healthy", "read_ok"], av.loc["healthy", "read_total"]) == (
        3,
        3,
    )  # incl. final read
    assert (av.loc["partition", "write_ok"], av.loc["partition", "write_total"]) == (1, 2)
    assert (av.loc["partition", "read_ok"], av.loc["partition", "read_total"]) == (0, 1)


def test_report_header_plots_tables_and_evidence(tmp_path: Path) -> None:
    run_dir = small_run(tmp_path)
    page = parse(write_report(run_dir))
    text = " ".join(page.text)

    facts = {r[0]: r[1] for t in page.tables for r in t if len(r) == 2}
    assert facts["database"] == "postgres"
    assert facts["topology / mode"] == "primary-replica / async"
    assert facts["provider"] == "local" and facts["workload"] == "set"
    assert facts["nemesis"] == "partition" and facts["seed"] == "7"
    assert "overall: INVALID" in text and "set: INVALID" in text and "linearizable: unknown" in text
    assert "search budget ran out" in text

    # Two inline PNG plots that decode to PNG images.
    plots_ = [i for i in page.imgs if i.get("class") == "plot"]
    assert len(plots_) == 2
    for img in plots_:
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"

    q = page.table_with("p99")
    assert q[0] == ["f", "type", "count", "p50", "p90", "p99", "max"]
    rows = {(r[0], r[1]): r for r in q[1:]}
    assert rows[("add", "ok")][2] == "2" and rows[("add", "fail")][2] == "1"
    assert rows[("read", "info")][3] == "1100.0"  # 1.5 s -> 2.6 s

    av = {r[0]: r for r in page.table_with("writes ok/completed")[1:]}
    assert av["healthy"][4] == "1/2" and av["healthy"][3] == "50.0%"
    assert av["partition"][2] == "0/1" and av["partition"][4] == "1/2"

    # The anomaly, its op table, and links that resolve to per-process timelines.
    assert "write of 2 acknowledged at 1.2 s by n1 is missing" in text
    op_links = [h for h in page.links if h.startswith("#op-")]
    assert len(op_links) == 2
    for href in op_links:
        assert href[1:] in page.ids
    ops = load(run_dir / "history.jsonl")
    add2 = next(op for op in ops if op.f == "add" and op.value == 2 and op.type == "ok")
    evidence = page.table_with("completed (s)")
    assert [f"{add2.index - 1}→{add2.index}", "0", "n1", "1.100", "1.200", "add", "2", "ok"] == (
        evidence[1]
    )
    assert "partition (isolate-primary) 1.000–3.000 s" in text


def test_timeline_shows_ten_ops_each_side(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, anomalies={"lost-write": 1}, seed=3)
    doc = json.loads((run_dir / "verdict.json").read_text())
    op_idx = doc["checkers"]["set"]["anomalies"][0]["ops"][0]  # the add's completion
    ops = load(run_dir / "history.jsonl")
    op = next(o for o in ops if o.index == op_idx)
    mine = [o.index for o in ops if o.process == op.process and o.type == "invoke"]
    inv = max(i for i in mine if i <= op_idx)
    html = write_report(run_dir).read_text()
    # one timeline per op, keyed by its invocation, folded behind a summary
    assert html.count(f'id="op-{inv}"') == 1 and f'id="op-{op_idx}"' not in html
    section = html.split(f'id="op-{inv}"', 1)[1].split("</details>", 1)[0]
    assert f"op {inv}→{op_idx} (add, ok) on process {op.process}: 21 ops around it" in section
    body = section.split("<tbody>", 1)[1]
    rows = re.findall(r"<tr( class=\"hl\")?>", body)
    assert len(rows) == 21  # the op, 10 before, 10 after (it is mid-history on a busy process)
    assert [i for i, r in enumerate(rows) if r] == [10]
    # The rows are that process's ops, in order, around the op.
    pos = mine.index(inv)
    first_cells = re.findall(r"<tr(?: class=\"hl\")?><td class=\"num\">(\d+)</td>", body)
    assert [int(c) for c in first_cells] == mine[pos - 10 : pos + 11]


def test_no_fault_and_aborted_run(tmp_path: Path) -> None:
    spec = TestSpec(db="postgres", nemesis=(), seed=2)
    h = H().call(0, 0.01, 0, "add", 1, node="n1")
    run_dir = save_run(
        tmp_path,
        spec,
        h.ops,
        {"valid": "unknown", "checkers": {}},
        aborted="ClusterError: n2 never came up",
    )
    text = " ".join(parse(write_report(run_dir)).text)
    assert "no fault was injected" in text
    assert "ClusterError: n2 never came up" in text
    assert "No checker verdict" in text


def test_downsampling_keeps_rare_points_and_says_so(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, seed=5, processes=20, rate_per_process=400, duration=40)
    df = completions(load(run_dir / "history.jsonl"))
    assert len(df) > plots.MAX_POINTS
    kept, note = plots.sample(df)
    assert len(kept) == plots.MAX_POINTS
    assert (kept["type"] != "ok").sum() == (df["type"] != "ok").sum()
    assert f"{len(df):,}" in note
    html = write_report(run_dir).read_text()
    assert "Downsampled:" in html


def test_cli_report_regenerates_files(tmp_path: Path) -> None:
    run_dir = small_run(tmp_path)
    cmd = next(c for c in COMMANDS if c.name == "report")
    res = CliRunner().invoke(cmd, [str(run_dir)])
    assert res.exit_code == 0, res.output
    assert (run_dir / "report.html").stat().st_size > 1000
    assert "<testsuite" in (run_dir / "junit.xml").read_text()
    res = CliRunner().invoke(cmd, [str(tmp_path)])
    assert res.exit_code == 3 and "no verdict.json" in res.output


@pytest.mark.parametrize("value", [None, list(range(100_000))])
def test_long_values_are_cut(tmp_path: Path, value: object) -> None:
    spec = TestSpec(db="postgres", nemesis=(), seed=1)
    h = H().call(0, 0.01, 0, "final-read", None, value, node="n1")
    doc = compose([Verdict("set", False, [Anomaly("lost-write", [1], "x")])])
    html = write_report(save_run(tmp_path, spec, h.ops, doc)).read_text()
    assert len(html) < 200_000


def test_header_counts_client_ops_as_plotted_and_nemesis_ops_apart(tmp_path: Path) -> None:
    run_dir = small_run(tmp_path)
    page = parse(write_report(run_dir))
    facts = {r[0]: r[1] for t in page.tables for r in t if len(r) == 2}
    df = completions(load(run_dir / "history.jsonl"))
    by = df["type"].value_counts()
    # the plots draw one point per completed client op: the header counts the same ops
    assert (
        facts["client ops (plotted)"]
        == (f"ok {by['ok']}, fail {by['fail']}, info {by['info']}")
        == "ok 5, fail 2, info 1"
    )
    assert facts["nemesis ops"] == "2 fault starts and stops (not plotted)"
    # recovery as text, not JSON
    assert facts["recovery"] == "primary: n1; lag_s: 0.2"


def test_read_from_shown_only_where_it_routes_reads(tmp_path: Path) -> None:
    def header(spec: TestSpec, name: str) -> dict[str, str]:
        h = H().call(0, 0.01, 0, "add", 1, node="n1")
        run_dir = save_run(tmp_path / name, spec, h.ops, {"valid": True, "checkers": {}})
        page = parse(write_report(run_dir))
        return {r[0]: r[1] for t in page.tables for r in t if len(r) == 2}

    assert header(TestSpec(db="postgres", nemesis=()), "pg")["read from"] == "primary"
    assert "read from" not in header(TestSpec(db="galera", nemesis=()), "ga")
    one = TestSpec(db="galera", nemesis=(), read_from="replica", options={"write_to": "one"})
    assert header(one, "ga1")["read from"] == "replica"
    assert "read from" not in header(TestSpec(db="cassandra", nemesis=()), "ca")


def slow_partition_history() -> list:
    """The partition is invoked at 1.0 s and takes effect at 1.5 s; an add acknowledged at
    1.2 s (between the two) is the one the isolated primary loses."""
    pv = {"shape": "isolate-primary", "seed": 3}
    done = {"shape": "isolate-primary", "grudge": {"n1": ["n2", "n3"]}, "cuts": "n1 | n2 n3"}
    h = H()
    h.call(0.5, 0.9, 0, "add", 1, node="n1")
    h.invoke(1.0, "nemesis", "start-partition", pv)
    h.call(1.1, 1.2, 0, "add", 2, node="n1")
    h.info(1.5, "nemesis", "start-partition", done)
    h.invoke(3.0, "nemesis", "stop-partition").info(3.1, "nemesis", "stop-partition")
    h.call(4.0, 4.02, 3, "final-read", None, [1], node="n1")
    return h.ops


def test_fault_windows_open_at_the_invocation_and_say_when_they_took_effect(
    tmp_path: Path,
) -> None:
    from harness.report.results import windows_from_invocation

    ops = slow_partition_history()
    (w,) = windows_from_invocation(ops)
    assert (w["start"], w["effective"], w["end"]) == (1_000_000_000, 1_500_000_000, 3_100_000_000)
    av = availability(completions(ops), [w]).set_index("period")
    assert (av.loc["partition", "write_ok"], av.loc["healthy", "write_ok"]) == (1, 1)
    # twin: windows from the completion would have counted the 1.2 s add as healthy
    av_late = availability(completions(ops), windows(ops)).set_index("period")
    assert (av_late.loc["partition", "write_total"], av_late.loc["healthy", "write_ok"]) == (0, 2)

    spec = TestSpec(db="postgres", nemesis=("partition",), seed=1)
    page = parse(write_report(save_run(tmp_path, spec, ops, {"valid": True, "checkers": {}})))
    table_ = page.table_with("took effect (s)")
    assert table_[1][:5] == ["partition (isolate-primary)", "1.000", "1.500", "3.100", "2.100"]
    assert table_[1][5] == "shape: isolate-primary; seed: 3"
    assert table_[1][6].startswith("shape: isolate-primary; grudge: (n1: n2, n3); cuts:")
    assert not any("{" in cell for row in table_ for cell in row)


def test_lost_write_evidence_is_one_row_and_one_timeline(tmp_path: Path) -> None:
    ops = slow_partition_history()
    inv, done = (op for op in ops if op.f == "add" and op.value == 2)
    final = next(op for op in ops if op.f == "final-read" and op.type == "ok")
    # the set checker lists the invocation, the completion and the final read
    a = Anomaly("lost-write", [inv.index, done.index, final.index], "add of 2 lost")
    spec = TestSpec(db="postgres", nemesis=("partition",), seed=1)
    run_dir = save_run(tmp_path, spec, ops, compose([Verdict("set", False, [a])]))
    html = write_report(run_dir).read_text()
    page = parse(run_dir / "report.html")
    evidence = page.table_with("completed (s)")
    assert [r[0] for r in evidence[1:]] == [
        f"{inv.index}→{done.index}",
        f"{final.index - 1}→{final.index}",
    ]
    assert html.count('<details class="timeline"') == 2
    assert html.count(f'id="op-{inv.index}"') == 1 and f'id="op-{done.index}"' not in html


def test_long_anomaly_lists_are_collapsed_behind_a_count(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, anomalies={"lost-write": 30}, seed=4)
    html = write_report(run_dir).read_text()
    shown = html.split("<details><summary>25 more set anomalies (of 30)</summary>", 1)
    assert len(shown) == 2
    assert shown[0].count('<div class="anomaly"') == 5
    assert shown[1].split("</details>", 1)[0].count('<div class="anomaly"') == 25
    # every timeline is folded: one per distinct op (30 adds and the final read they share)
    assert html.count('<details class="timeline"') == 31 and '<h3 id="op-' not in html


def test_what_the_nemesis_saw_is_listed_with_when_it_happened(tmp_path: Path) -> None:
    ops = small_history()
    h = H()
    h.ops = ops
    event = {"status": {"Rpl_semi_sync_master_status": "OFF"}, "at_ns": 2_500_000_000}
    h.info(4.1, "nemesis", "semi-sync-fallback", event)
    doc = compose([Verdict("set", True)])
    spec = TestSpec(db="postgres", mode="async", nemesis=("partition",), seed=7)
    page = parse(write_report(save_run(tmp_path, spec, h.ops, doc)))
    rows = page.table_with("happened (s)")
    assert rows[1][:3] == ["semi-sync-fallback", "2.500", "4.100"]
    assert "Rpl_semi_sync_master_status: OFF" in rows[1][3]
    facts = {r[0]: r[1] for t in page.tables for r in t if len(r) == 2}
    assert facts["nemesis ops"] == "2 fault starts and stops (not plotted)"  # not the event
