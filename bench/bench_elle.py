"""Benchmark of the list-append checker. Prints figures; asserts nothing.

1. For each size (default 100,000 and 1,000,000 transactions, each in a fresh process so that
   its peak RSS is its own): a history from a seeded simulation of a strict-serializable
   database: 10 concurrent processes, each txn applied atomically at its completion; 5% abort
   (fail, not applied), 1% indeterminate (info, applied or not at random); 8 hot keys, each
   retired after 32 appends (as Jepsen's generator does, so reads stay short). Valid, so no
   search can stop early: the worst case for the checker. It is written as JSONL and parsed
   back with harness.history.load (parse time reported on its own), then checked as parsed
   ops (serializable, strict-serializable), then checked again with anomalies injected into
   the reads of 0.2% of the ok transactions. Target: >= 100,000 txns/s for the check, < 2 GB for 1M.
2. A snapshot-read simulation full of cycles (the search itself), and Elle's huge-scc.edn from
   ../shared/reference-histories, if present.

Run: python bench/bench_elle.py [--txns N [N ...]] [--seed S] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.checkers.elle import check  # noqa: E402
from harness.history import Op, load, write_jsonl  # noqa: E402


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


def inject(ops: list[Op], seed: int, rate: float = 0.002) -> tuple[list[Op], int]:
    """A copy of a valid history with anomalies injected into the reads of a fraction of the
    ok transactions:
    a read that misses its last value (a stale read: G-single / G2-item / long forks among
    the cycles it closes) and, rarely, a value nobody appended (a garbage read)."""
    rng = random.Random(seed)
    out = []
    n = 0
    for op in ops:
        if op.type == "ok" and op.f == "txn" and rng.random() < rate:
            value = []
            for f, k, v in op.value:
                if f == "r" and v:
                    v = v[:-1] if rng.random() < 0.9 else v + [-1]
                    n += 1
                value.append([f, k, v])
            op = Op(op.index, op.time, op.process, op.type, op.f, value)
        out.append(op)
    return out, n


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def timed_check(h: list[Op], profile: bool = False, **options: Any) -> tuple[Any, float, float]:
    """(verdict, wall seconds, CPU seconds): CPU time is what the check costs on a busy
    machine shared with other work; wall time is what a user waits."""
    prof = cProfile.Profile() if profile else None
    w0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    v = check(h, **options)
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    return v, time.perf_counter() - w0, time.process_time() - c0


def one_size(n: int, seed: int, profile: bool, time_limit: float) -> None:
    """Figures for one history size, in this (fresh) process so that peak RSS is its own."""
    t0 = time.monotonic()
    h = simulate(n, seed)
    print(f"[{n:,} txns] simulated ({len(h):,} ops) in {time.monotonic() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        write_jsonl(h, path)
        size = path.stat().st_size / 2**20
        del h
        base = rss_mb()
        t0 = time.monotonic()
        h = load(path)
        parse = time.monotonic() - t0
    held = rss_mb() - base
    print(
        f"[{n:,} txns] parse (harness.history.load, JSONL {size:,.0f} MB): {parse:.2f} s, "
        f"{n / parse:,.0f} txns/s; the parsed history holds {held:,.0f} MB"
    )
    warm = simulate(200, seed)
    _, wall, cpu = timed_check(warm, False, models=("serializable",))
    print(f"[{n:,} txns] first call on 200 txns (imports scipy): {wall:.2f} s wall, not counted")
    before = rss_mb()
    for models in (("serializable",), ("strict-serializable",)):
        v, wall, cpu = timed_check(h, profile, models=models, time_limit=time_limit)
        print(
            f"[{n:,} txns] valid history, models={models[0]}: valid={v.valid} in {wall:.2f} s "
            f"wall / {cpu:.2f} s CPU: {n / wall:,.0f} txns/s wall, {n / cpu:,.0f} txns/s CPU "
            f"(target >= 100,000); edges {v.stats.get('edges')}"
        )
    bad, injected = inject(h, seed)
    del h
    v, wall, cpu = timed_check(bad, False, models=("serializable",), time_limit=time_limit)
    print(
        f"[{n:,} txns] {injected} injected bad reads, models=serializable: valid={v.valid} in "
        f"{wall:.2f} s wall / {cpu:.2f} s CPU ({n / cpu:,.0f} txns/s CPU); "
        f"{len(v.anomalies)} anomalies {dict(sorted(v.counts.items()))}; "
        f"{v.stats.get('sccs')} SCCs (largest {v.stats.get('largest_scc')}), "
        f"complete={v.stats.get('complete')}"
    )
    print(
        f"[{n:,} txns] peak RSS {peak_rss_mb():,.0f} MB (history {held:,.0f} MB; the check "
        f"added up to {peak_rss_mb() - before:,.0f} MB over the loaded history; "
        "limit 2048 MB for 1M)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--txns", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: one size, this process
    args = ap.parse_args()
    if args.one:
        one_size(args.one, args.seed, args.profile, args.time_limit)
        return
    for n in args.txns:
        cmd = [sys.executable, __file__, "--one", str(n), "--seed", str(args.seed)]
        cmd += ["--time-limit", str(args.time_limit)] + (["--profile"] if args.profile else [])
        subprocess.run(cmd, check=True)

    # A history full of cycles exercises the search itself (and its time budget).
    h = simulate(10_000, args.seed, snapshot=True)
    v, wall, cpu = timed_check(h, models=("serializable",), time_limit=args.time_limit)
    print(
        f"snapshot-read simulation, 10,000 txns: valid={v.valid} in {wall:.2f} s wall / "
        f"{cpu:.2f} s CPU, {len(v.anomalies)} anomalies {dict(sorted(v.counts.items()))}, "
        f"{v.stats.get('sccs')} SCCs (largest {v.stats.get('largest_scc')}), "
        f"complete={v.stats.get('complete')}"
    )

    ref = Path(ROOT.parent / "shared" / "reference-histories" / "elle" / "huge-scc.edn")
    if ref.exists():
        from harness.edn import read_edn_history

        t0 = time.monotonic()
        h = read_edn_history(ref)
        parse = time.monotonic() - t0
        for models in (("serializable",), ("strict-serializable",)):
            v, wall, cpu = timed_check(h, models=models)
            print(
                f"huge-scc.edn ({v.stats['txns']} txns, parsed in {parse:.2f} s), "
                f"models={models[0]}: valid={v.valid} {v.counts} in {wall:.2f} s wall / "
                f"{cpu:.2f} s CPU, largest SCC {v.stats['largest_scc']}"
            )
    else:
        print(f"huge-scc.edn not found at {ref}: skipped")


if __name__ == "__main__":
    main()
