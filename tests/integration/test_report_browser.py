"""report.html and compare.html as a browser shows them: headless Chromium loads each page
from disk (no network), and the DOM and a screenshot are checked for the plots and tables."""

from __future__ import annotations

import base64
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from harness.report.compare import compare
from harness.report.run_report import write_report
from tests.synthetic_results import make_run

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


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    make_run(root, anomalies={"lost-write": 2, "stale-read": 1}, seed=1)
    make_run(root, db="galera", mode="sync", topology="peer-to-peer", seed=2)
    for verdict in root.rglob("verdict.json"):
        write_report(verdict.parent)
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


def test_compare_page_renders_tables(results: Path, tmp_path: Path) -> None:
    html, _ = compare([results], tmp_path / "cmp")
    dom = Dom()
    dom.feed(chromium(html, tmp_path / "profile", "--dump-dom"))
    assert dom.headings == [
        "Summary",
        "peer-to-peer",
        "primary-replica",
        "Trade-offs, as measured",
        "Runs",
    ]
    assert dom.tables == 3
    assert sum(h.endswith("report.html") for h in dom.hrefs) == 2
    shot = tmp_path / "compare.png"
    chromium(html, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,1400")
    assert colour_pixels(shot, (0xF5, 0xF5, 0xF5)) > 2_000  # the table header rows were drawn
