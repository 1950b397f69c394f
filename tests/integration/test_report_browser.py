"""report.html and compare.html as a browser shows them: headless Chromium loads each page
from disk (no network), and the DOM and a screenshot are checked for the plots and tables."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.report.compare import compare
from harness.report.run_report import write_report
from harness.spec import TestSpec
from tests.builder import H
from tests.synthetic_results import make_run, save_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(page: Path, profile: Path, *args: str) -> str:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


class Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str]] = []
        self.tables = 0
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.headings: list[str] = []
        self._h = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.ids.add(a.get("id", ""))
        self.tables += tag == "table"
        if tag == "img":
            self.imgs.append(a)
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        self._h = tag == "h2"

    def handle_data(self, data: str) -> None:
        if self._h and data.strip():
            self.headings.append(data.strip())
            self._h = False


def colour_pixels(png: Path, rgb: tuple[int, int, int], tol: int = 12) -> int:
    import matplotlib.image as mpimg

    img = (mpimg.imread(png)[..., :3] * 255).astype(int)
    return int((np.abs(img - np.array(rgb)).max(axis=-1) <= tol).sum())


MAX_HEIGHT_PX = 16_000

# Run in the page once it has loaded: its height, the header words a line break cut in two
# (a break at a hyphen is a break between words), and the decoded width of each plot.
MEASURE = """
window.addEventListener("load", () => {
  const broken = [];
  for (const th of document.querySelectorAll("th")) {
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const re = /[^\\s-]+/g;
      let m;
      while ((m = re.exec(node.data))) {
        const r = document.createRange();
        r.setStart(node, m.index);
        r.setEnd(node, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].map((x) => Math.round(x.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  const pre = document.createElement("pre");
  pre.id = "measure";
  pre.textContent = JSON.stringify({
    height: document.documentElement.scrollHeight,
    broken: broken,
    headers: document.querySelectorAll("th").length,
    tableTop: (document.getElementById("tradeoff-table") || {getBoundingClientRect: () => ({})})
      .getBoundingClientRect().top,
    imgs: [...document.querySelectorAll("img.plot")].map((i) => [i.id, i.naturalWidth]),
  });
  document.body.appendChild(pre);
});
"""


def measure(page: Path, profile: Path) -> dict[str, Any]:
    """Layout figures of `page` as Chromium draws it 1400 px wide (a copy gets the script)."""
    probe = page.with_name(f"measured-{page.name}")
    probe.write_text(page.read_text().replace("</body>", f"<script>{MEASURE}</script></body>"))
    dom = chromium(probe, profile, "--window-size=1400,1000", "--dump-dom")
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    return json.loads(found.group(1))


def scale_run(root: Path, db: str, k: int, writes: int) -> None:
    h = H()
    for i in range(writes):
        h.call(10.0 * i / (writes - 1), 10.0 * i / (writes - 1) + 0.001, 0, "add", i, node="n1")
    spec = TestSpec(db=db, nemesis=(), name=f"scale-{db}-3nodes-writes-to-{k}")
    run_dir = save_run(root, spec, h.ops, {"valid": True, "checkers": {}})
    (run_dir / "scale.json").write_text(json.dumps({"nodes": 3, "write_nodes": k}))
    write_report(run_dir)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    make_run(root, anomalies={"lost-write": 2, "stale-read": 1}, seed=1)
    make_run(root, db="galera", mode="sync", topology="peer-to-peer", seed=2)
    make_run(root / "many", anomalies={"lost-write": 30}, seed=3, duration=60.0)
    for verdict in root.rglob("verdict.json"):
        write_report(verdict.parent)
    scale_run(root, "postgres", 1, 200)
    scale_run(root, "postgres", 3, 80)
    scale_run(root, "galera", 1, 150)
    scale_run(root, "galera", 3, 140)
    return root


def test_run_report_renders_plots_and_tables(results: Path, tmp_path: Path) -> None:
    report = next(results.glob("postgres-*/*/report.html"))
    dom = Dom()
    dom.feed(chromium(report, tmp_path / "profile", "--dump-dom"))
    plots = [i for i in dom.imgs if i.get("class") == "plot"]
    assert [i["id"] for i in plots] == ["latency-plot", "throughput-plot"]
    for img in plots:
        head, data = img["src"].split(",", 1)
        assert head == "data:image/png;base64" and len(data) > 10_000
        assert base64.b64decode(data)[:4] == b"\x89PNG"
    # header facts, quantiles, availability, faults, 3 anomaly op tables, their timelines
    assert dom.tables >= 1 + 1 + 1 + 1 + 3 + 2
    assert {"Latency and throughput", "Anomalies", "Process timelines around the evidence"} <= set(
        dom.headings
    )
    op_links = [h[1:] for h in dom.hrefs if h.startswith("#op-")]
    assert op_links and all(target in dom.ids for target in op_links)

    shot = tmp_path / "report.png"
    chromium(report, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,3000")
    # The throughput bars (solid ok-green inside the inline PNG) and the red INVALID badge
    # are on screen: the images were decoded and drawn, not just present in the DOM.
    assert colour_pixels(shot, (0x2E, 0x7D, 0x32)) > 5_000
    assert colour_pixels(shot, (0xFF, 0xCD, 0xD2)) > 200


def test_run_report_with_many_anomalies_stays_short_and_unbroken(
    results: Path, tmp_path: Path
) -> None:
    report = next((results / "many").glob("postgres-*/*/report.html"))
    assert report.read_text().count('<div class="anomaly"') == 30  # all there, most folded
    m = measure(report, tmp_path / "profile")
    assert m["height"] < MAX_HEIGHT_PX, m["height"]
    assert m["broken"] == [] and m["headers"] > 20
    assert [w > 500 for _, w in m["imgs"]] == [True, True]  # both plots decoded


def test_compare_page_renders_tables(results: Path, tmp_path: Path) -> None:
    html, _ = compare([results], tmp_path / "cmp")
    dom = Dom()
    dom.feed(chromium(html, tmp_path / "profile", "--dump-dom"))
    assert dom.headings == [
        "What each column pools",
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
    assert {"tradeoff-table", "glance-charts", "scaling-plot"} <= dom.ids
    runs = {h for h in dom.hrefs if h.endswith("report.html")}
    assert len(runs) == 3 + 4  # the three fault runs and the four scale runs
    for h in runs:
        assert (tmp_path / "cmp" / h).is_file(), h
    shot = tmp_path / "compare.png"
    chromium(html, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,1400")
    assert colour_pixels(shot, (0xF5, 0xF5, 0xF5)) > 2_000  # the table header rows were drawn


# Run in the comparison page once it has loaded: where the trade-off table and the charts
# end, the cells whose content is wider than their column, how far right they reach, and every
# link (in-page anchors checked here, files by the test).
FIRST_SCREEN = """
window.addEventListener("load", () => {
  const table = document.querySelector("#tradeoff-table table");
  const svg = document.getElementById("glance-charts");
  const panels = [...svg.querySelectorAll("g.panel")].map((g) => [g.id, g.getBoundingClientRect().bottom]);
  const overflowing = [...table.querySelectorAll("th, td")]
    .filter((c) => c.scrollWidth > c.clientWidth + 1)
    .map((c) => c.textContent.slice(0, 60));
  const links = [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href"));
  const dangling = links.filter((h) => h.startsWith("#") && !document.getElementById(h.slice(1)));
  const pre = document.createElement("pre");
  pre.id = "measure";
  pre.textContent = JSON.stringify({
    tableTop: table.getBoundingClientRect().top,
    tableBottom: table.getBoundingClientRect().bottom,
    chartsBottom: svg.getBoundingClientRect().bottom,
    panels: panels,
    columns: table.querySelectorAll("thead th.col").length,
    cells: table.querySelectorAll("tbody td").length,
    overflowing: overflowing,
    right: Math.max(table.getBoundingClientRect().right, svg.getBoundingClientRect().right),
    files: links.filter((h) => !h.startsWith("#")),
    dangling: dangling,
  });
  document.body.appendChild(pre);
});
"""


@pytest.fixture(scope="module")
def quick_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quick suite's 13 configurations, MariaDB async and semi-sync, and scale runs,
    hand-made (tests/compare_runs.py), compared with MariaDB's module declared."""
    from tests.compare_runs import mariadb_registered, write_all

    root = tmp_path_factory.mktemp("quick")
    write_all(root, processes=6, rate=10.0)
    with mariadb_registered():
        html, _ = compare([root], root / "cmp")
    return html


def test_compare_first_screen_answers_the_question(quick_suite: Path, tmp_path: Path) -> None:
    probe = quick_suite.with_name("first-screen.html")
    probe.write_text(
        quick_suite.read_text().replace("</body>", f"<script>{FIRST_SCREEN}</script></body>")
    )
    dom = chromium(probe, tmp_path / "profile", "--window-size=1400,900", "--dump-dom")
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    m = json.loads(found.group(1))
    # one column per database and mode: PostgreSQL async, sync, MariaDB async, semi-sync,
    # Galera, Cassandra QUORUM, ONE; seven rows
    assert (m["columns"], m["cells"]) == (7, 7 * 7)
    assert m["tableTop"] < 150 and m["tableBottom"] <= 900, m
    assert m["chartsBottom"] <= 900, m  # all four pictures, not just one
    assert [p[0] for p in m["panels"]] == [
        "chart-availability",
        "chart-losses",
        "chart-anomalies",
        "chart-scaling",
    ]
    assert m["overflowing"] == [] and m["right"] <= 1400, m
    assert m["dangling"] == []
    for href in m["files"]:
        assert (quick_suite.parent / href).is_file(), href
    # what the screen shows: the charts' Okabe-Ito marks (blue, vermillion) and the table's
    # header grey, inside a 1400 x 900 screenshot
    shot = tmp_path / "first-screen.png"
    chromium(quick_suite, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,900")
    assert colour_pixels(shot, (0x00, 0x72, 0xB2), tol=10) > 60
    assert colour_pixels(shot, (0xD5, 0x5E, 0x00), tol=10) > 60
    assert colour_pixels(shot, (0xF5, 0xF5, 0xF5), tol=2) > 2_000


def test_compare_page_stays_short_and_unbroken(quick_suite: Path, tmp_path: Path) -> None:
    m = measure(quick_suite, tmp_path / "profile")
    assert m["height"] < MAX_HEIGHT_PX and m["broken"] == []
    assert m["imgs"] == [["scaling-plot", m["imgs"][0][1]]] and m["imgs"][0][1] > 500
