"""Benchmark of the kv model's linearizability check (issue 25): prints histories/s and keys
decided for 1, 10 and 50 clients, valid and not, on the project's own generated histories.

    python bench/bench_kv.py                      # generated histories
    python bench/bench_kv.py --porcupine DIR      # also Porcupine's test_data (kv/, jepsen/)

Each history: `clients` processes doing get/put/append on 10 keys (4,000 events by default),
against a real linearizable store (each op takes effect at a random point inside its call),
every written value unique as Jepsen's generators write them; the invalid twin has 1% of its
gets served from a stale copy. Target: every key decided, valid or not, well under a second
on one core for 50 clients. Each figure is the least of --repeat runs. Speed is printed, never
asserted; verdicts are checked (a fast wrong answer is no figure).
With --porcupine: Porcupine's kv files (c01/c10/c50, ok and bad) and its 102 etcd histories
(cas-register, read from Jepsen's log lines), timed in this process, parse included.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.checkers.linearizable import check  # noqa: E402
from harness.history import Op, load  # noqa: E402


def simulate(
    clients: int, events: int = 4000, keys: int = 10, stale: float = 0.0, seed: int = 1
) -> list[Op]:
    rng = random.Random(seed)
    state = {k: "" for k in range(keys)}
    past: dict[int, list[str]] = {k: [""] for k in range(keys)}
    running: dict[int, list] = {}
    out: list[Op] = []
    n = 0
    while len(out) < events or running:
        idle = [p for p in range(clients) if p not in running]
        if len(out) < events and idle and (not running or rng.random() < 0.5):
            p = rng.choice(idle)
            k = rng.randrange(keys)
            r = rng.random()
            f = "get" if r < 0.5 else ("put" if r < 0.55 else "append")
            v = None
            if f != "get":
                n += 1
                v = f"x {p} {n} y"
            out.append(Op(len(out), len(out) * 1000, p, "invoke", f, v, extra={"key": k}))
            running[p] = [f, k, v, False, None]
            continue
        p = rng.choice(list(running))
        f, k, v, done, seen = running[p]
        if not done and rng.random() < 0.6:
            if f == "get":
                seen = state[k]
                if stale and rng.random() < stale:
                    seen = rng.choice(past[k])
            else:
                state[k] = v if f == "put" else state[k] + v
                past[k].append(state[k])
            running[p] = [f, k, v, True, seen]
            continue
        if not done:
            continue
        del running[p]
        out.append(
            Op(len(out), len(out) * 1000, p, "ok", f, seen if f == "get" else v, extra={"key": k})
        )
    return out


def timed(fn, repeat: int):  # type: ignore[no-untyped-def]
    best, res = float("inf"), None
    for _ in range(repeat):
        t = time.process_time()
        res = fn()
        best = min(best, time.process_time() - t)
    return best, res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--porcupine", type=Path, default=None, help="Porcupine's test_data folder")
    a = ap.parse_args()
    print(f"{'history':<22} {'events':>7} {'CPU s':>7} {'hist/s':>8} {'keys decided':>13} verdict")
    for clients in (1, 10, 50):
        for stale in (0.0, 0.01):
            h = simulate(clients, a.events, stale=stale, seed=clients)
            s, v = timed(lambda h=h: check(h, model="kv"), a.repeat)
            keys = v.stats["keys"]
            decided = keys - len(v.stats["unknown_keys"])
            want = True if stale == 0 else v.valid  # the stale twin: any stale get is caught
            assert v.valid is want and (stale == 0 or v.valid is not True), v.valid
            name = f"{clients} clients {'valid' if stale == 0 else 'stale 1%'}"
            print(
                f"{name:<22} {len(h):>7} {s:>7.3f} {1 / s:>8.1f} {decided:>6}/{keys:<6} "
                f"{v.valid} ({v.stats['keys_by_write_order']} by write order)"
            )
    if a.porcupine is None:
        return
    print("\nPorcupine's files (parse + check, CPU s, least of --repeat)")
    for name in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"):
        path = a.porcupine / "kv" / f"{name}.txt"
        s, v = timed(lambda p=path: check(load(p, validate=True), model="kv"), a.repeat)
        assert v.valid is name.endswith("ok"), (name, v.valid)
        keys = v.stats["keys"]
        print(f"{name:<22} {s:>7.3f} s  keys decided {keys - len(v.stats['unknown_keys'])}/{keys}")
    files = sorted((a.porcupine / "jepsen").glob("etcd_*.log"))
    files = [f for f in files if f.stat().st_size > 0]

    def etcd() -> int:
        return sum(
            check(load(f, validate=True), model="cas-register").valid is False for f in files
        )

    s, bad = timed(etcd, a.repeat)
    print(f"{len(files)} etcd histories: {s:.3f} s, {bad} not linearizable")


if __name__ == "__main__":
    main()
