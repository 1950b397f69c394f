"""Benchmark of the kv model's linearizability check (issue 25): prints histories/s and keys
decided for 1, 10 and 50 clients, valid and not, on the project's own generated histories;
and the etcd set as a user checks it.

    python bench/bench_kv.py                      # generated histories
    python bench/bench_kv.py --porcupine DIR      # also Porcupine's test_data (kv/, jepsen/)
    python bench/bench_kv.py --porcupine DIR --porcupine-bin BIN --runs 7
    python bench/bench_kv.py --etcd-only ...      # only the etcd set

The etcd set: `python -m harness.cli check --model cas-register FILE...` on all the files in
one process, as a user calls it (interpreter start-up, imports and output included), with the
native core and on the Python path (SPLITBRAIN_NATIVE=0), whole processes taken in turn
(A B C A B C ...) after one warm-up each, wall and CPU (user + system) seconds, medians, and
the ratios pair by pair (the machine may be shared: only ratios of the same round compare).
Its files are Porcupine's 102 etcd histories (DIR/jepsen/etcd_*.log, the empty one left out)
when --porcupine (or PORCUPINE_DATA) is given, else 100 generated ones of the same shape (a
simulated cas register, ~85 ops each, 15% of ops indeterminate, a third with stale reads),
written as Jepsen's log lines. With --porcupine-bin (or PORCUPINE_BIN): a program run as
`BIN etcd FILE...` that parses and checks each file as Porcupine's own test does
(porcupine_test.go's Jepsen log parser and etcd model, porcupine.CheckEvents); its time and
splitbrain's ratios to it are printed too (target: native <= 0.8x Porcupine). Python runs
with its bytecode cache (PYTHONDONTWRITEBYTECODE is unset for the runs), as an installed
package has it.

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
import os
import random
import statistics
import subprocess
import sys
import tempfile
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


def etcd_like(n_files: int = 100, seed: int = 25) -> list[list[Op]]:
    """Histories of the etcd set's shape: one cas register, 5 clients, ~85 ops each, 15% of
    ops indeterminate, every third file with stale reads (mostly not linearizable)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_linearizable import simulate as simulate_register

    out = []
    for i in range(n_files):
        stale = 0.3 if i % 3 == 2 else 0.0
        h = simulate_register(
            42, keys=1, processes=5, info_rate=0.15, seed=seed + i, stale_rate=stale, lag=10**7
        )
        out.append([Op(o.index, -1, o.process, o.type, o.f, o.value[1]) for o in h])
    return out


def write_log(ops: list[Op], path: Path) -> None:
    """A history as Jepsen's log lines (the etcd files' format)."""
    from harness.edn import dumps_value

    with open(path, "w") as fh:
        for o in ops:
            fh.write(
                f"INFO  jepsen.util - {o.process}\t:{o.type}\t:{o.f}\t{dumps_value(o.value)}\n"
            )


def _timed_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s, exit code, stdout) of one whole process, its CPU from wait4."""
    t = time.perf_counter()
    p = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert p.stdout is not None
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, p.returncode, out


def _verdicts(out: str) -> list[str]:
    """The verdict words of `splitbrain check`'s lines, in file order."""
    return [line.split("\t")[1] for line in out.splitlines() if "\t" in line]


def bench_etcd(porcupine: Path | None, porcupine_bin: Path | None, runs: int) -> None:
    if porcupine is not None:
        files = sorted((porcupine / "jepsen").glob("etcd_*.log"))
        files = [f for f in files if f.stat().st_size > 0]
        what = f"Porcupine's {len(files)} etcd histories"
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench-etcd-"))
        files = []
        for i, h in enumerate(etcd_like()):
            files.append(tmp / f"etcd_{i:03d}.log")
            write_log(h, files[-1])
        what = f"{len(files)} generated etcd-like histories (Jepsen log lines)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    check = [sys.executable, "-m", "harness.cli", "check", "--model", "cas-register"]
    check += [str(f) for f in files]
    cmds: dict[str, tuple[list[str], dict[str, str]]] = {
        "native": (check, {**env, "SPLITBRAIN_NATIVE": "1"}),
        "python": (check, {**env, "SPLITBRAIN_NATIVE": "0"}),
    }
    if porcupine_bin is not None:
        cmds["porcupine"] = ([str(porcupine_bin), "etcd", *map(str, files)], env)
    from harness import native

    if native.module() is None or not hasattr(native.module(), "LinKey"):
        print("note: the native core (with LinKey) is not importable: 'native' runs Python")
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
    verdicts: dict[str, list[str]] = {}
    for n in range(runs + 1):  # the first round warms up (page cache, bytecode cache)
        for name, (cmd, e) in cmds.items():
            wall, cpu, code, out = _timed_process(cmd, e)
            if name != "porcupine":
                got = _verdicts(out)
                assert len(got) == len(files) and code in (0, 1), (name, code, out[-500:])
                assert verdicts.setdefault(name, got) == got, f"{name}: verdicts changed"
            if n:
                times[name].append((wall, cpu))
    assert verdicts["native"] == verdicts["python"], "native and Python verdicts differ"
    invalid = verdicts["native"].count("INVALID")
    print(f"\n{what}, one `splitbrain check` process each, {runs} rounds (medians):")
    print(f"  {invalid} of {len(files)} not linearizable (the same on both paths)")
    for name, ts in times.items():
        wall = statistics.median(w for w, _ in ts)
        cpu = statistics.median(c for _, c in ts)
        print(f"  {name:<10} wall {wall:.3f} s  CPU {cpu:.3f} s")
    pairs = [("python", "native")]
    if "porcupine" in times:
        pairs = [("native", "porcupine"), ("python", "porcupine"), *pairs]
    for a, b in pairs:
        wr = statistics.median(x[0] / y[0] for x, y in zip(times[a], times[b], strict=True))
        cr = statistics.median(x[1] / y[1] for x, y in zip(times[a], times[b], strict=True))
        target = "  (target <= 0.8)" if (a, b) == ("native", "porcupine") else ""
        print(f"  {a}/{b}: wall {wr:.2f}x, CPU {cr:.2f}x (median of pair ratios){target}")


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
    ap.add_argument(
        "--porcupine",
        type=Path,
        default=os.environ.get("PORCUPINE_DATA"),
        help="Porcupine's test_data folder (default: $PORCUPINE_DATA)",
    )
    ap.add_argument(
        "--porcupine-bin",
        type=Path,
        default=os.environ.get("PORCUPINE_BIN"),
        help="a program run as `BIN etcd FILE...` checking each with Porcupine (default: "
        "$PORCUPINE_BIN)",
    )
    ap.add_argument("--runs", type=int, default=5, help="rounds of the etcd set (after a warm-up)")
    ap.add_argument("--etcd-only", action="store_true", help="only the etcd set")
    a = ap.parse_args()
    if a.porcupine is not None:
        a.porcupine = Path(a.porcupine)
    if not a.etcd_only:
        bench_generated(a)
    bench_etcd(a.porcupine, a.porcupine_bin, a.runs)
    if a.porcupine is not None and not a.etcd_only:
        bench_porcupine_files(a)


def bench_generated(a: argparse.Namespace) -> None:
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


def bench_porcupine_files(a: argparse.Namespace) -> None:
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
