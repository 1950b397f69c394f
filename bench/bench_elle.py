"""Benchmark of the list-append checker. Prints figures; asserts nothing.

1. A synthetic history of N transactions (default 100,000) from a seeded simulation of a
   strict-serializable database: 10 concurrent processes, each txn applied atomically at its
   completion; 5% abort (fail, not applied), 1% indeterminate (info, applied or not at random);
   8 hot keys, each retired after 32 appends (as Jepsen's generator does, so reads stay short).
   Valid, so no search can stop early: the worst case for the checker.
2. Elle's huge-scc.edn from ../shared/reference-histories, if present.

Run: python bench/bench_elle.py [--txns N] [--seed S] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.checkers.elle import check  # noqa: E402
from harness.history import Op  # noqa: E402


def simulate(
    n: int,
    seed: int,
    concurrency: int = 10,
    keys: int = 8,
    per_key: int = 32,
    snapshot: bool = False,
) -> list[Op]:
    """snapshot=True: reads see the state as of the invocation (a database without
    serializability checks): the history is then full of G-single / G2-item / lost updates."""
    rng = random.Random(seed)
    state: dict[int, list[int]] = {}
    active = list(range(keys))
    next_key = keys
    counter: dict[int, int] = {}
    ops: list[Op] = []
    running: dict[int, tuple[int, list[list[Any]]]] = {}  # slot -> (process, txn)
    snaps: dict[int, dict[int, list[int]]] = {}
    process = list(range(concurrency))
    next_process = concurrency
    t = 0
    invoked = 0

    def emit(p: int, typ: str, value: Any) -> None:
        nonlocal t
        t += rng.randint(10_000, 200_000)
        ops.append(Op(len(ops), t, p, typ, "txn", value))

    while invoked < n or running:
        slot = rng.randrange(concurrency)
        if slot not in running:
            if invoked >= n:
                continue
            txn: list[list[Any]] = []
            for _ in range(rng.randint(1, 5)):
                i = rng.randrange(keys)
                k = active[i]
                if rng.random() < 0.5:
                    txn.append(["r", k, None])
                else:
                    v = counter.get(k, 0) + 1
                    counter[k] = v
                    txn.append(["append", k, v])
                    if v >= per_key:  # retire the key: later txns use a fresh one
                        active[i] = next_key
                        next_key += 1
            running[slot] = (process[slot], txn)
            if snapshot:
                snaps[slot] = {k: list(state.get(k, [])) for _, k, _ in txn}
            emit(process[slot], "invoke", [list(m) for m in txn])
            invoked += 1
            continue
        p, txn = running.pop(slot)
        roll = rng.random()
        if roll < 0.05:
            emit(p, "fail", txn)
            continue
        applied = roll >= 0.06 or rng.random() < 0.5
        done = []
        snap = snaps.pop(slot, None)
        if applied:
            for f, k, v in txn:
                if f == "append":
                    state.setdefault(k, []).append(v)
                    if snap is not None:
                        snap[k].append(v)  # a txn sees its own writes
                    done.append([f, k, v])
                else:
                    src = snap if snap is not None else state
                    done.append([f, k, list(src.get(k, []))])
        if roll < 0.06:
            emit(p, "info", txn)
            process[slot] = next_process  # an indeterminate op retires its process
            next_process += 1
        else:
            emit(p, "ok", done)
    return ops


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--txns", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--time-limit", type=float, default=30.0)
    args = ap.parse_args()

    t0 = time.monotonic()
    h = simulate(args.txns, args.seed)
    print(f"simulated {args.txns} txns ({len(h)} ops) in {time.monotonic() - t0:.1f} s")
    for models in (("serializable",), ("strict-serializable",)):
        prof = cProfile.Profile() if args.profile else None
        t0 = time.monotonic()
        if prof:
            prof.enable()
        v = check(h, models=models)
        if prof:
            prof.disable()
        dt = time.monotonic() - t0
        print(
            f"synthetic {args.txns} txns, models={models[0]}: valid={v.valid} in {dt:.2f} s, "
            f"{args.txns / dt:,.0f} txns/s, edges={v.stats['edges']}, "
            f"peak RSS {peak_rss_mb():,.0f} MB (limits: 30 s, 4096 MB)"
        )
        if prof:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(15)

    # A history full of cycles exercises the search itself (and its time budget).
    h = simulate(args.txns // 10, args.seed, snapshot=True)
    t0 = time.monotonic()
    v = check(h, models=("serializable",), time_limit=args.time_limit)
    dt = time.monotonic() - t0
    print(
        f"snapshot-read simulation, {args.txns // 10} txns: valid={v.valid} in {dt:.2f} s, "
        f"{len(v.anomalies)} anomalies {v.counts}, {v.stats['sccs']} SCCs (largest "
        f"{v.stats['largest_scc']}), complete={v.stats['complete']}"
    )

    ref = Path(ROOT.parent / "shared" / "reference-histories" / "elle" / "huge-scc.edn")
    if ref.exists():
        from harness.edn import read_edn_history

        t0 = time.monotonic()
        h = read_edn_history(ref)
        parse = time.monotonic() - t0
        for models in (("serializable",), ("strict-serializable",)):
            t0 = time.monotonic()
            v = check(h, models=models)
            dt = time.monotonic() - t0
            print(
                f"huge-scc.edn ({v.stats['txns']} txns, parsed in {parse:.2f} s), "
                f"models={models[0]}: valid={v.valid} {v.counts} in {dt:.2f} s "
                f"(limit 60 s), largest SCC {v.stats['largest_scc']}, "
                f"{v.stats['txns'] / dt:,.0f} txns/s"
            )
    else:
        print(f"huge-scc.edn not found at {ref}: skipped")
    print(f"peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
