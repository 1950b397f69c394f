"""Recording overhead: the harness's workers (history, watchdog, classification) against a
bare psycopg loop doing the same statements, 10 threads each, on the same real cluster.

    python bench/bench_recording.py [--seconds 10] [--concurrency 10] [--subnet 198.18.0.0/24]

Targets: >= 1,000 recorded ops/s with 10 workers; overhead (1 - recorded/bare) under 15%.
Needs root and PostgreSQL 15. The two loops alternate in ABBA order so that a drift of the machine's speed (the table
grows) does not favour either; the figures are the medians.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from harness.db.postgres import Postgres  # noqa: E402
from harness.history import HistoryWriter  # noqa: E402
from harness.providers import local  # noqa: E402
from harness.spec import TestSpec  # noqa: E402
from harness.worker import Watchdog, Worker  # noqa: E402
from workloads.set import SetWorkload  # noqa: E402


def harness_rate(spec: TestSpec, db: Postgres, cluster, seconds: float, out: Path) -> float:
    wl = SetWorkload(spec, random.Random(1))
    stop = threading.Event()
    wd = Watchdog(stop)
    with HistoryWriter(out) as h:
        workers = [
            Worker(i, spec.concurrency, wl, db, cluster, h, stop, wd, spec.op_timeout)
            for i in range(spec.concurrency)
        ]
        wd.start()
        for w in workers:
            w.start()
        t0 = time.monotonic()
        time.sleep(seconds)
        n0 = h.counts["ok"] + h.counts["fail"] + h.counts["info"]
        stop.set()
        elapsed = time.monotonic() - t0
        for w in workers:
            w.join()
        wd.join()
    return n0 / elapsed


def bare_rate(spec: TestSpec, db: Postgres, cluster, seconds: float, offset: int) -> float:
    """The same ops from the same generator, run as the same statements (one transaction
    each), with nothing recorded. Keys and values are shifted so rounds do not collide."""
    conninfo = db.conninfo(cluster, "n1")
    wl = SetWorkload(spec, random.Random(2))
    done = [0] * spec.concurrency
    stop = threading.Event()

    def loop(i: int) -> None:
        conn = psycopg.connect(conninfo)
        conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        while not stop.is_set():
            f, (k, v) = wl.next_op(i)
            with conn.cursor() as cur:
                if f == "read":
                    cur.execute("SELECT v FROM sets WHERE k = %s ORDER BY v", (k + offset,))
                    [r[0] for r in cur.fetchall()]
                else:
                    cur.execute("INSERT INTO sets (k, v) VALUES (%s, %s)", (k + offset, v + offset))
            conn.commit()
            done[i] += 1
        conn.close()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(spec.concurrency)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    time.sleep(seconds)
    n = sum(done)
    elapsed = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join()
    return n / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--subnet", default="198.18.0.0/24")
    args = ap.parse_args()
    spec = TestSpec(subnet=args.subnet, concurrency=args.concurrency, nemesis=())
    db = Postgres(spec)
    local.preflight(db)
    cluster = local.create(spec, secrets.token_hex(3))
    recorded, bare = [], []
    try:
        db.setup(cluster)
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                # ABBA order: the table grows, so whichever runs second in a round is slower
                runs = [
                    lambda r=r: bare.append(
                        bare_rate(spec, db, cluster, args.seconds, 100_000_000 * (r + 1))
                    ),
                    lambda r=r: recorded.append(
                        harness_rate(spec, db, cluster, args.seconds, Path(tmp) / f"h{r}.jsonl")
                    ),
                ]
                for step in runs if r % 2 == 0 else runs[::-1]:
                    step()
    finally:
        with tempfile.TemporaryDirectory() as logs:
            cluster.collect_logs(Path(logs))
        cluster.teardown()
    rec, raw = statistics.median(recorded), statistics.median(bare)
    print(f"postgres async, {args.concurrency} threads, {args.rounds} x {args.seconds:g} s each")
    print(
        f"  bare psycopg loop : {raw:8.0f} ops/s   (rounds: {', '.join(f'{x:.0f}' for x in bare)})"
    )
    print(
        f"  harness, recorded : {rec:8.0f} ops/s   (rounds: {', '.join(f'{x:.0f}' for x in recorded)})"
    )
    print(
        f"  ratio recorded/bare: {rec / raw:.3f}   overhead: {100 * (1 - rec / raw):.1f}%  (target < 15%)"
    )
    print(f"  recorded >= 1,000 ops/s: {'yes' if rec >= 1000 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
