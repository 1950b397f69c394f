"""Cassandra on the local provider: ring-up time until every node serves at ALL (so QUORUM is
served too; target <= 60 s on 2 cores), the throughput of the set workload's clients with
10 workers at consistency ONE and at QUORUM (ABBA order, same ring), and teardown time.

    flock /work/cluster.lock python bench/bench_cassandra.py [--seconds 10] [--workers 10]
        [--opt c1_only=false]

Needs root, java and the jars (python3 -m harness.install.maven). Removes everything at the
end, also on failure (the provider's teardown kills the JVMs and deletes the namespaces)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness.db as dbs  # noqa: E402
from harness.cluster import Cluster  # noqa: E402
from harness.db.cassandra import Cassandra  # noqa: E402
from harness.db.cassandra_clients import Knobs, SetClient  # noqa: E402
from harness.providers import local  # noqa: E402
from harness.spec import TestSpec  # noqa: E402

TARGET_RING_S = 60.0


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def throughput(cluster: Cluster, knobs: Knobs, workers: int, seconds: float, base: int) -> dict:
    """ok ops/s of `workers` threads, each adding to its own keys (80%) and reading (20%)."""
    counts = {"ok": 0, "error": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work(p: int) -> None:
        c = SetClient(cluster, knobs, cluster.nodes[p % len(cluster.nodes)], p)
        i, ok, err = 0, 0, 0
        try:
            while time.monotonic() < stop:
                k = base + p * 1000 + i // 100
                try:
                    if i % 5 == 4:
                        c.invoke("read", [k, None])
                    else:
                        c.invoke("add", [k, i])
                    ok += 1
                except Exception:  # noqa: BLE001 - counted, not fatal
                    err += 1
                i += 1
        finally:
            c.close()
            with lock:
                counts["ok"] += ok
                counts["error"] += err

    threads = [threading.Thread(target=work, args=(p,)) for p in range(workers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return {"ops_s": counts["ok"] / elapsed, **counts}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--opt", action="append", default=[], help="definition option KEY=VALUE")
    a = ap.parse_args()
    opts = dict(o.split("=", 1) for o in a.opt)
    spec = TestSpec(db="cassandra", workload="set", nemesis=(), concurrency=a.workers, options=opts)
    db = dbs.get(spec)
    assert isinstance(db, Cassandra)
    local.preflight(db)
    print(f"options: {opts or 'defaults'}")
    print(f"load average before: {_load()} (2 cores; other work skews every figure)")
    t = time.monotonic()
    cluster = local.create(spec, secrets.token_hex(3))
    try:
        t_ns = time.monotonic() - t
        db.setup(cluster)
        ring = time.monotonic() - t
        print(f"namespaces: {t_ns:.2f} s; ring up, every node serving at ALL: {ring:.1f} s")
        print(f"  target <= {TARGET_RING_S:.0f} s: ratio {ring / TARGET_RING_S:.2f}")
        print(f"  milestones from the first spawn: {db.timings}")
        base = db.knobs()
        results: dict[str, list[float]] = {"ONE": [], "QUORUM": []}
        for n, cl in enumerate(("ONE", "QUORUM", "QUORUM", "ONE")):
            knobs = dataclasses.replace(base, write_cl=cl, read_cl=cl)
            r = throughput(cluster, knobs, a.workers, a.seconds, base=n * 100_000)
            results[cl].append(r["ops_s"])
            print(f"  {cl:6} round {n + 1}: {r['ops_s']:.0f} ok ops/s ({r['error']} errors)")
        one, quorum = (sum(v) / len(v) for v in (results["ONE"], results["QUORUM"]))
        print(f"ops/s with {a.workers} workers: ONE {one:.0f}, QUORUM {quorum:.0f}", end="")
        print(f" (QUORUM/ONE {quorum / one:.2f})")
        print(f"load average after: {_load()}")
    finally:
        t = time.monotonic()
        cluster.teardown()
        print(f"teardown (JVMs killed, namespaces removed): {time.monotonic() - t:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
