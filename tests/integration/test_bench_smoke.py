"""Every benchmark runs, at its smallest sizes, so that none can rot (three of them once
ended in a traceback for months): each must exit 0 and print figures. Nothing about the
figures is asserted: speed targets live in the benchmarks' own output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
NUMBER = re.compile(r"\d+\.\d+|\d{2,}")

# script -> smallest arguments. Cluster benchmarks use their own subnets (no overlap).
SMALL: dict[str, list[str]] = {
    "bench_elle.py": ["--txns", "2000"],
    "bench_parse.py": ["--txns", "2000", "--no-e2e"],
    "bench_native.py": ["--txns", "2000"],
    "bench_linearizable.py": ["--ops", "20000", "--skip-reference", "--repeat", "1"],
    "bench_cluster.py": ["--runs", "1", "--db", "postgres", "--no-failover"],
    "bench_recording.py": ["--seconds", "1", "--rounds", "1", "--concurrency", "2"],
    "bench_galera.py": ["--rounds", "1"],
    "bench_cassandra.py": ["--seconds", "2", "--workers", "2"],
    "bench_power_loss.py": ["--seconds", "3", "--fsyncs", "50", "--mib", "4"],
    "bench_images.py": [],
    # below 1,000 events the 1%-stale twin may draw no stale get, and the bench refuses that
    "bench_kv.py": ["--events", "1000", "--repeat", "1", "--runs", "1"],
    "bench_hunt.py": ["--reps", "1", "--max-runs", "3", "--shrink-runs", "4"],
}
NEEDS_ROOT = {"bench_cluster.py", "bench_recording.py", "bench_galera.py", "bench_cassandra.py",
              "bench_power_loss.py"}  # fmt: skip


def test_every_benchmark_has_a_smoke_run() -> None:
    assert sorted(SMALL) == sorted(p.name for p in BENCH.glob("bench_*.py"))


@pytest.mark.integration
@pytest.mark.parametrize("script", sorted(SMALL))
def test_benchmark_runs_at_its_smallest(script: str) -> None:
    if script in NEEDS_ROOT and os.geteuid() != 0:
        pytest.skip("needs root (real clusters)")
    r = subprocess.run(
        [sys.executable, str(BENCH / script), *SMALL[script]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert NUMBER.search(r.stdout), r.stdout[-2000:]  # it printed figures
