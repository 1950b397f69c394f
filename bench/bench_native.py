"""Benchmark of the native list-append path (issue 14) against the Python path, end to end.
Prints figures and ratios; asserts nothing.

For each size (default 100,000 and 1,000,000 transactions from bench_elle's seeded simulation
of a strict-serializable database), a valid history and an invalid one (bench_elle.inject:
stale and garbage reads in 0.2% of the ok txns) are written as Jepsen EDN, then checked by
`python -m harness.cli check --checker list-append FILE.edn` in fresh processes:

- native: the default when splitbrain_native is installed;
- python: the same command with SPLITBRAIN_NATIVE=0 (the Python path only).

Each line gives wall and CPU seconds (user + system: the steadier figure on a shared machine),
txn/s of each, peak RSS, the engine that gave the verdict, and the ratio python / native. A
valid history is decided by the native core alone ("native"); an invalid one by the Python
stages on the part of it the core chose ("focus": the txns in cycles or with findings, and
what of their keys explains them), with the anomalies the Python path gives. Where the core gives up
("python"), the line says why. Targets (issue 14): >= 100,000 txn/s on 2 cores, < 2 GB at 1M.

Run: python bench/bench_native.py [--txns 100000,1000000] [--seed S] [--keep DIR] [--repeat N]
     [--engines native,python] [--kinds valid,invalid]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_parse import _child  # noqa: E402


def _e2e(path: Path, native: bool, repeat: int) -> tuple[float, float, float, dict]:
    cmd = [sys.executable, "-m", "harness.cli", "check", "--checker", "list-append", "--json"]
    cmd += ["--consistency-models", "strict-serializable", str(path)]
    old = os.environ.get("SPLITBRAIN_NATIVE")
    os.environ["SPLITBRAIN_NATIVE"] = "1" if native else "0"
    try:
        runs = [_child(cmd) for _ in range(repeat)]
    finally:
        if old is None:
            del os.environ["SPLITBRAIN_NATIVE"]
        else:
            os.environ["SPLITBRAIN_NATIVE"] = old
    doc = json.loads(runs[0][3].strip().splitlines()[-1])
    wall, cpu, rss = min(x[0] for x in runs), min(x[1] for x in runs), max(x[2] for x in runs)
    return wall, cpu, rss, doc


def _why(path: Path) -> str:
    from harness.checkers.elle import native

    native.check_list_append(str(path), True, True, False)
    return native.last_reason or "decided"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--txns", default="100000,1000000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="keep (and reuse) the files here")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each measure (best shown)")
    ap.add_argument("--engines", default="native,python", help="paths to measure")
    ap.add_argument("--kinds", default="valid,invalid", help="histories to measure")
    args = ap.parse_args()
    engines = args.engines.split(",")
    kinds = args.kinds.split(",")

    from bench_elle import inject, simulate

    from harness.checkers.elle import native
    from harness.edn import write_edn_history

    if not native.available():
        raise SystemExit("the native core is not installed: pip install ./native")
    tmp = tempfile.TemporaryDirectory()
    where = args.keep or Path(tmp.name)
    where.mkdir(parents=True, exist_ok=True)
    print(f"native core {native.version()}; best of {args.repeat}; CPU = user + system")
    for n in (int(x) for x in args.txns.split(",")):
        files = {
            "valid": where / f"append-{n}-seed{args.seed}.edn",
            "invalid": where / f"append-{n}-seed{args.seed}-injected.edn",
        }
        if not all(f.exists() for f in files.values()):
            t = time.perf_counter()
            ops = simulate(n, args.seed)
            write_edn_history(ops, files["valid"])
            bad, _ = inject(ops, args.seed)
            del ops
            write_edn_history(bad, files["invalid"])
            del bad
            print(f"{n:,} txns: generated in {time.perf_counter() - t:.1f} s")
        for kind, path in files.items():
            if kind not in kinds:
                continue
            mb = path.stat().st_size / 1e6
            res = {eng: _e2e(path, eng == "native", args.repeat) for eng in engines}
            for eng, (wall, cpu, rss, doc) in res.items():
                v = doc["checkers"]["list-append"]
                engine = v["stats"].get("engine", "?")
                print(
                    f"  {n:>9,} {kind:7} ({mb:5.0f} MB EDN) {eng:6}: {wall:6.2f} s wall = "
                    f"{n / wall:9,.0f} txn/s; {cpu:6.2f} s CPU = {n / cpu:9,.0f} txn/s; "
                    f"peak RSS {rss:6,.0f} MB; verdict {doc['valid']} by {engine}"
                )
            if len(res) < 2:
                continue
            (w1, c1, *_), (w2, c2, *_) = res["native"], res["python"]
            line = f"  {'':>9} {kind:7} python / native: {w2 / w1:.2f}x wall, {c2 / c1:.2f}x CPU"
            native_doc = res["native"][3]["checkers"]["list-append"]
            if native_doc["stats"].get("engine") not in ("native", "focus"):
                line += f"; the core gave up ({_why(path)}): Python decided"
            elif (
                native_doc["anomalies"] != res["python"][3]["checkers"]["list-append"]["anomalies"]
            ):
                line += "; ANOMALIES DIFFER from the Python path's"
            print(line)
    tmp.cleanup()


if __name__ == "__main__":
    main()
