"""How long a 3-node cluster takes to come up (until it serves: PostgreSQL's replicas
streaming, Galera's nodes synced, Cassandra's ring answering at ALL and so at QUORUM) and to
go away, per database, on the local provider (namespaces) and under compose (containers),
side by side; and, for PostgreSQL, a failover (isolate, promote, repoint) and the old
primary's rejoin.

    python bench/bench_cluster.py [--runs 3] [--db postgres --db galera --db cassandra]
                                  [--provider local --provider compose] [--subnet ...]

Targets on 2 cores (up): PostgreSQL <= 5 s, Galera <= 15 s, Cassandra <= 40 s; teardown
< 5 s. Needs root; under compose, a Docker engine and the images (splitbrain images build).
Prints figures and the compose/local ratio; asserts nothing.
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

from harness import providers  # noqa: E402
from harness.db import database_class  # noqa: E402
from harness.spec import TestSpec  # noqa: E402

TARGET_UP = {"postgres": 5.0, "galera": 15.0, "cassandra": 40.0}
TARGET_DOWN = 5.0


def one(db_name: str, provider: str, subnet: str, failover: bool) -> dict[str, float]:
    spec = TestSpec(db=db_name, mode=database_class(db_name).modes[0], provider=provider,
                    subnet=subnet, nemesis=())  # fmt: skip
    db = database_class(db_name)(spec)
    prov = providers.get(provider)
    prov.preflight(db)
    out: dict[str, float] = {}
    t0 = time.monotonic()
    c = prov.create(spec, secrets.token_hex(3), db.deployment)
    try:
        out["nodes"] = time.monotonic() - t0
        db.setup(c)
        out["up"] = time.monotonic() - t0
        if failover:
            t = time.monotonic()
            st = db.failover(c, "isolate")
            out["failover"] = time.monotonic() - t
            t = time.monotonic()
            db.end_failover(c, st)
            out["rejoin"] = time.monotonic() - t
    finally:
        t = time.monotonic()
        with tempfile.TemporaryDirectory() as logs:
            c.collect_logs(Path(logs))
        c.teardown()
        out["teardown"] = time.monotonic() - t
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", action="append", choices=sorted(TARGET_UP))
    ap.add_argument("--provider", action="append", choices=("local", "compose"))
    ap.add_argument("--subnet", default="198.18.1.0/24")
    ap.add_argument("--no-failover", action="store_true", help="skip PostgreSQL's failover")
    args = ap.parse_args()
    dbs = args.db or ["postgres", "galera", "cassandra"]
    provs = args.provider or ["local", "compose"]
    print(f"cluster up and teardown, 3 nodes, {args.runs} run(s) each: median / max, s")
    medians: dict[tuple[str, str, str], float] = {}
    for db in dbs:
        for prov in provs:
            runs = [one(db, prov, args.subnet, db == "postgres" and not args.no_failover)
                    for _ in range(args.runs)]  # fmt: skip
            for k in runs[0]:
                xs = [r[k] for r in runs]
                medians[(db, prov, k)] = statistics.median(xs)
                line = f"  {db:<9} {prov:<8} {k:<9} {statistics.median(xs):6.2f} / {max(xs):6.2f}"
                target = TARGET_UP[db] if k == "up" else TARGET_DOWN if k == "teardown" else None
                if target is not None:
                    line += f"   target <= {target:g}: {'ok' if max(xs) <= target else 'MISSED'}"
                print(line, flush=True)
    if len(provs) == 2:
        print("compose / local (medians):")
        for db in dbs:
            for k in ("up", "teardown"):
                a, b = medians.get((db, "compose", k)), medians.get((db, "local", k))
                if a is not None and b:
                    print(f"  {db:<9} {k:<9} {a / b:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
