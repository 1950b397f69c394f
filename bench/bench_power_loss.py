"""What the power-loss layer (lossyfs) costs. Prints figures and ratios:

1. raw I/O through the layer versus the plain directory beside it: 8 KiB writes each followed
   by fdatasync (a WAL's pattern), and buffered 128 KiB writes (no fsync);
2. ops/s of the set workload on a 3-node PostgreSQL 15 cluster (local provider, no faults,
   same seed and duration) with the layer mounted under every node and without it.

    sudo python bench/bench_power_loss.py [--seconds 15] [--skip-postgres]

Needs root, FUSE (fuse3, libfuse3-dev, gcc) and, for part 2, PostgreSQL 15. Run it under
`flock /work/cluster.lock` on a shared machine. Everything it mounts is unmounted at the end."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from harness.powerloss.layer import Layer
from harness.providers import local
from harness.runner import run
from harness.spec import TestSpec


def _fsync_writes(d: Path, n: int) -> float:
    """8 KiB appends, each made durable: per second."""
    fd = os.open(d / "wal", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"w" * 8192
    t0 = time.perf_counter()
    for _ in range(n):
        os.write(fd, block)
        os.fdatasync(fd)
    dt = time.perf_counter() - t0
    os.close(fd)
    return n / dt


def _buffered_mb_s(d: Path, mib: int) -> float:
    chunk = b"b" * (128 * 1024)
    t0 = time.perf_counter()
    with open(d / "bulk", "wb") as f:
        for _ in range(mib * 8):
            f.write(chunk)
    return mib / (time.perf_counter() - t0)


def raw(n: int, mib: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="sb-plbench-", dir="/var/tmp"))
    plain = base / "plain"
    plain.mkdir()
    layer = Layer(base / "mnt", base / "backing", base / "c.sock", base / "d.log")
    layer.mount()
    try:
        for what, fn, arg, unit in (
            ("8 KiB write + fdatasync", _fsync_writes, n, "/s"),
            ("buffered 128 KiB writes", _buffered_mb_s, mib, " MiB/s"),
        ):
            a, b = fn(plain, arg), fn(layer.mountpoint, arg)
            print(f"{what:26} plain {a:10.0f}{unit}  layer {b:10.0f}{unit}  ratio {b / a:.2f}")
    finally:
        layer.unmount()
        shutil.rmtree(base, ignore_errors=True)


class _WithLayer(local.LocalCluster):
    """The local cluster with the layer mounted although the run injects no fault."""

    def __init__(self, *a, **kw) -> None:
        kw["power_loss"] = True
        super().__init__(*a, **kw)


def postgres(seconds: float, results: Path) -> None:
    spec = TestSpec(
        db="postgres", workload="set", nemesis=(), time_limit=seconds, seed=5, concurrency=10
    )
    figures = {}
    for label in ("plain", "layer"):
        original = local.LocalCluster
        if label == "layer":
            local.LocalCluster = _WithLayer  # type: ignore[misc]
        try:
            r = run(spec, results / label, echo=lambda s: None, progress=False)
        finally:
            local.LocalCluster = original  # type: ignore[misc]
        doc = json.loads((r.dir / "verdict.json").read_text())
        figures[label] = doc["run"]["ops"]["ok"] / seconds
        print(f"postgres set, {seconds:g} s, {label:5}: {figures[label]:8.0f} ok ops/s "
              f"(verdict {doc['valid']})")  # fmt: skip
    print(f"postgres set ops/s ratio layer/plain: {figures['layer'] / figures['plain']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--fsyncs", type=int, default=2000)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    raw(args.fsyncs, args.mib)
    if not args.skip_postgres:
        with tempfile.TemporaryDirectory(prefix="sb-plbench-") as d:
            postgres(args.seconds, Path(d))


if __name__ == "__main__":
    main()
