"""How long a 3-node PostgreSQL cluster takes to come up and go away on the local provider,
and how long a failover (isolate, promote, repoint) and the old primary's rejoin take.

    python bench/bench_cluster.py [--runs 3] [--subnet 198.18.1.0/24] [--mode async]

Targets: up < 10 s, teardown < 5 s. Needs root and PostgreSQL 15.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.db.postgres import Postgres  # noqa: E402
from harness.providers import local  # noqa: E402
from harness.spec import TestSpec  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--subnet", default="198.18.1.0/24")
    ap.add_argument("--mode", default="async", choices=("async", "sync"))
    ap.add_argument("--nodes", type=int, default=3)
    args = ap.parse_args()
    spec = TestSpec(subnet=args.subnet, mode=args.mode, nodes=args.nodes)
    db = Postgres(spec)
    local.preflight(db.required_binaries())
    figures: dict[str, list[float]] = {
        k: [] for k in ("network", "up", "failover", "rejoin", "teardown")
    }
    for _ in range(args.runs):
        t0 = time.monotonic()
        c = local.create(spec, secrets.token_hex(3))
        try:
            figures["network"].append(time.monotonic() - t0)
            db.setup(c)
            figures["up"].append(time.monotonic() - t0)
            t = time.monotonic()
            st = db.failover(c, "isolate")
            figures["failover"].append(time.monotonic() - t)
            t = time.monotonic()
            db.end_failover(c, st)
            figures["rejoin"].append(time.monotonic() - t)
        finally:
            t = time.monotonic()
            with tempfile.TemporaryDirectory() as logs:
                c.collect_logs(Path(logs))
            c.teardown()
            figures["teardown"].append(time.monotonic() - t)
    print(
        f"postgres {args.mode}, {args.nodes} nodes, local provider, {args.runs} runs (median / max, s)"
    )
    targets = {"up": 10.0, "teardown": 5.0}
    for k, xs in figures.items():
        if not xs:
            continue
        line = f"  {k:<9} {statistics.median(xs):6.2f} / {max(xs):6.2f}"
        if k in targets:
            line += f"   target < {targets[k]:g}: {'ok' if max(xs) < targets[k] else 'MISSED'}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
