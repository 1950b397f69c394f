"""Evidence drawings as a browser shows them (issue 25): `splitbrain check --html` on a kv
history with a fault window and on an Elle cycle, loaded from disk by headless Chromium (no
network); the rendered DOM must hold the lanes, the op no order places, the linearizable
prefix, the shaded fault with its hover text, and the cycle's transactions and edges.
Like test_report_browser.py: not a cluster test, skipped without chromium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.edn import write_edn_history
from harness.history import Op

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)
DATA = Path(__file__).resolve().parents[1] / "data"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _dom(page: Path, profile: Path) -> str:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
        "--dump-dom",
        page.as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _kv_history() -> list[Op]:
    s = 10**9
    steps = [
        ("nemesis", "invoke", "start-partition", None, None),
        (0, "invoke", "append", "k", "x;"),
        (0, "ok", "append", "k", "x;"),
        ("nemesis", "info", "start-partition", None, None),
        (0, "invoke", "append", "k", "y;"),
        (0, "ok", "append", "k", "y;"),
        (1, "invoke", "get", "k", None),
        (1, "ok", "get", "k", "y;"),
        ("nemesis", "invoke", "stop-partition", None, None),
        ("nemesis", "info", "stop-partition", None, None),
    ]
    out = []
    for i, (p, t, f, k, v) in enumerate(steps):
        extra = {"key": k} if k is not None else {}
        val = {"grudge": {"n1": ["n2"]}} if p == "nemesis" else v
        node = "n2" if p == 1 and t == "ok" else None
        out.append(Op(i, i * s, p, t, f, val, node=node, extra=extra))
    return out


def test_kv_and_cycle_evidence_render(tmp_path: Path) -> None:
    write_edn_history(_kv_history(), tmp_path / "kv.edn")
    page = tmp_path / "check.html"
    res = CliRunner().invoke(
        main, ["check", "--model", "kv", "--html", str(page), str(tmp_path / "kv.edn")]
    )
    assert res.exit_code == 1, res.output
    dom = _dom(page, tmp_path / "profile")
    assert dom.count('<svg class="lanes"') == 1
    assert 'class="op blocked"' in dom  # the get that no order places
    assert "no order of the listed ops places this op" in dom
    assert 'class="prefix"' in dom and "linearizable up to here" in dom
    assert 'class="fault"' in dom and "partition" in dom  # shaded, named on hover
    assert "invoked 6 s" in dom and "completed 7 s" in dom  # call and return on hover
    assert "process 0" in dom and "process 1" in dom

    page2 = tmp_path / "cycle.html"
    res = CliRunner().invoke(
        main,
        [
            "check",
            "--consistency-models",
            "serializable",
            "--html",
            str(page2),
            str(DATA / "elle" / "G-single.jsonl"),
        ],
    )
    assert res.exit_code == 1, res.output
    dom = _dom(page2, tmp_path / "profile")
    assert dom.count('<svg class="cycle"') == 1
    assert dom.count('class="txn"') == 2 and dom.count('class="edge"') == 2
    assert "read-write (anti-dependency)" in dom and "write-read" in dom


def _overflowing_labels(page: Path, tmp_path: Path) -> str:
    """The labels of drawn ops that a browser lays out past their drawing's right edge (a
    script added to a copy of the page measures them and writes them into the DOM)."""
    probe = tmp_path / "probe.html"
    script = (
        "<script>const bad = [];"
        "for (const svg of document.querySelectorAll('svg.lanes')) {"
        " const w = svg.viewBox.baseVal.width;"
        " for (const t of svg.querySelectorAll('g.op > text')) {"
        "  const b = t.getBBox(); if (b.x < 0 || b.x + b.width > w) bad.push(t.textContent); }}"
        "document.body.setAttribute('data-overflow', JSON.stringify(bad));</script>"
    )
    probe.write_text(page.read_text().replace("</body>", script + "</body>"))
    dom = _dom(probe, tmp_path / "profile")
    start = dom.index('data-overflow="') + len('data-overflow="')
    return dom[start : dom.index('"', start)]


def test_the_red_op_label_at_the_right_edge_is_not_clipped(tmp_path: Path) -> None:
    """The op no order places is the last one drawn: its label (here a long value) stays
    inside the drawing, and so does every other op's."""
    s = 10**9
    long = "x 9 0 y x 0 0 y x 8 0 y"
    steps = [
        (0, "invoke", "append", "x 9 0 y "),
        (0, "ok", "append", "x 9 0 y "),
        (1, "invoke", "append", "x 0 0 y "),
        (1, "ok", "append", "x 0 0 y "),
        (2, "invoke", "append", "x 8 0 y"),
        (2, "ok", "append", "x 8 0 y"),
        (3, "invoke", "get", None),
        (3, "ok", "get", long.replace(" x 0 0 y", "")),  # misses an append before it
    ]
    times = [0, 1, 2, 3, 4, 5, 99, 100]  # the get: short, and last
    h = [
        Op(i, times[i] * s, p, t, f, v, extra={"key": "k"}) for i, (p, t, f, v) in enumerate(steps)
    ]
    write_edn_history(h, tmp_path / "kv.edn")
    page = tmp_path / "check.html"
    res = CliRunner().invoke(
        main, ["check", "--model", "kv", "--html", str(page), str(tmp_path / "kv.edn")]
    )
    assert res.exit_code == 1, res.output
    assert 'class="op blocked"' in page.read_text()
    assert _overflowing_labels(page, tmp_path) == "[]"
