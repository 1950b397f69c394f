"""Benchmark of the linearizability checker: prints figures and ratios, asserts only that
verdicts are right (a fast wrong answer is no figure).

    python bench/bench_linearizable.py            # all cases
    python bench/bench_linearizable.py --ops 20000 --profile

Cases: every Knossos reference history (target: < 1 s each, < 10 s together), a synthetic
keyed cas-register history from a seeded simulation of a real linearizable register with
concurrency (target: 100,000 ops in < 10 s and < 2 GB), the same with few hot keys, and a
nonlinearizable variant (one stale read injected) that must be caught.

Evidence: per class of history (valid; invalid keyed, invalid hot keys: a register whose
reads are sometimes served by a lagging replica, so that most keys fail; the Knossos bad
files), the time spent deciding and the time spent shrinking the evidence of the failed keys,
and their ratio (target: evidence <= 0.5 x decision). Each figure is the least of --repeat
runs (other work on the machine only ever adds time). Every anomaly's evidence is checked to
fail on its own, at the same op.

Parsing (--parse-only runs just this): CPU seconds of harness.history.load against those of
the check, for the synthetic 100k history written as JSONL, as EDN one op per line and as
one EDN vector, and for the Knossos files together; EDN with the native reader
(splitbrain_native.read_ops) and with the Python one (SPLITBRAIN_NATIVE=0). Target: parse
<= check (issue 14). Each figure is the least of --repeat runs.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import edn  # noqa: E402
from harness.checkers.linearizable import check, evidence  # noqa: E402
from harness.edn import read_edn_history, write_edn_history  # noqa: E402
from harness.history import Op, load, write_jsonl  # noqa: E402

REFERENCE = ROOT.parent / "shared" / "reference-histories" / "knossos"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def simulate(
    n_ops: int = 100_000,
    keys: int = 100,
    processes: int = 10,
    info_rate: float = 0.01,
    active_keys: int | None = None,
    seed: int = 1,
    stale_rate: float = 0.0,
    lag: int = 0,
) -> list[Op]:
    """A history of a real linearizable cas-register per key, in Jepsen's independent form.

    Each op is invoked, then takes effect atomically at a random later step, then completes,
    with workers interleaved at random. About `info_rate` of the ops end `info`: half crash
    before taking effect (and may still take effect later, or never), half after. A worker
    whose op ends info continues as a new process, as in Jepsen. With `active_keys`, keys
    rotate so only that many are in use at once (more concurrency per key). With
    `stale_rate`, that share of reads is served by a replica `lag` ns behind (a stale read,
    as from a lagging replica): the history is then not linearizable on many keys."""
    rng = random.Random(seed)
    reg: dict[int, int | None] = {}
    log: dict[int, list[tuple[int, int | None]]] = {}  # key -> (time, value) of each change
    hist: list[Op] = []
    t = 0

    def emit(process: int, typ: str, f: str, value: Any) -> None:
        hist.append(Op(len(hist), t, process, typ, f, value))

    # worker: [process, phase, f, key, value, result]; phase 0 idle, 1 invoked, 2 applied
    workers: list[list[Any]] = [[p, 0, "", 0, None, None] for p in range(processes)]
    next_pid = processes
    zombies: list[tuple[str, int, Any]] = []  # crashed before taking effect
    invoked = busy = 0

    def apply(f: str, k: int, v: Any) -> tuple[str, Any]:
        cur = reg.get(k)
        if f == "read":
            if stale_rate and rng.random() < stale_rate:
                cur = next((x for at, x in reversed(log.get(k, [])) if at <= t - lag), None)
            return "ok", cur
        if f == "write":
            reg[k] = v
            log.setdefault(k, []).append((t, v))
            return "ok", v
        if cur == v[0]:
            reg[k] = v[1]
            log.setdefault(k, []).append((t, v[1]))
            return "ok", v
        return "fail", v

    while invoked < n_ops or busy:
        t += rng.randint(1_000, 200_000)
        if zombies and rng.random() < 0.002:
            z = zombies.pop(rng.randrange(len(zombies)))
            if rng.random() < 0.5:
                apply(*z)
        w = workers[rng.randrange(processes)]
        pid, phase, f, k, v, _ = w
        if phase == 0:
            if invoked >= n_ops:
                continue
            if active_keys:
                k = min(invoked * keys // n_ops + rng.randrange(active_keys), keys - 1)
            else:
                k = rng.randrange(keys)
            r = rng.random()
            if r < 0.4:
                f, v = "read", None
            elif r < 0.7:
                f, v = "write", rng.randrange(5)
            else:
                f, v = "cas", [rng.randrange(5), rng.randrange(5)]
            w[1:5] = [1, f, k, v]
            emit(pid, "invoke", f, [k, v])
            invoked += 1
            busy += 1
        elif phase == 1:
            if rng.random() < info_rate / 2:
                emit(pid, "info", f, [k, v])
                zombies.append((f, k, v))
                w[0], w[1] = next_pid, 0
                next_pid += 1
                busy -= 1
            else:
                w[1], w[5] = 2, apply(f, k, v)
        else:
            if rng.random() < info_rate / 2:
                emit(pid, "info", f, [k, v])
                w[0] = next_pid
                next_pid += 1
            else:
                typ, out = w[5]  # type: ignore[misc]
                emit(pid, typ, f, [k, out])
            w[1] = 0
            busy -= 1
    return hist


def inject_stale_read(hist: list[Op], seed: int = 7) -> tuple[list[Op], int, Any] | None:
    """Copy of `hist` where one ok read returns the value of an older write W although a later
    write W2 (invoked after W completed) completed before the read began, and every other op
    that could write W's value completed before W2 began: certainly not linearizable."""
    rng = random.Random(seed)
    inv_of: dict[Any, Op] = {}
    done: list[tuple[Op, Op]] = []  # (invoke, ok completion) in completion order
    info: list[Op] = []
    for op in hist:
        if op.type == "invoke":
            inv_of[op.process] = op
        elif op.process in inv_of:
            i = inv_of.pop(op.process)
            if op.type == "ok":
                done.append((i, op))
            elif op.type == "info":
                info.append(i)
    info.extend(inv_of.values())

    def writes(inv: Op) -> Any:
        f, (_, v) = inv.f, inv.value
        return v if f == "write" else v[1] if f == "cas" else None

    reads = [(i, c) for i, c in done if i.f == "read"]
    rng.shuffle(reads)
    for r_inv, r_ok in reads[:2000]:
        k = r_inv.value[0]
        wr = [
            (i, c) for i, c in done if i.value[0] == k and i.f != "read" and c.index < r_inv.index
        ]
        for w2_i, _ in reversed(wr):
            b = writes(w2_i)
            cands = [(i, c) for i, c in wr if c.index < w2_i.index and writes(i) != b]
            if not cands:
                continue
            w_i, _ = cands[-1]
            a = writes(w_i)
            others = [
                (i, c)
                for i, c in done
                if i.value[0] == k and i is not w_i and writes(i) == a and i.index < r_ok.index
            ]
            if any(c.index > w2_i.index for _, c in others):
                continue
            if any(i.value[0] == k and writes(i) == a for i in info):
                continue  # an indeterminate write of `a` could explain the read
            out = list(hist)
            out[r_ok.index] = Op(r_ok.index, r_ok.time, r_ok.process, "ok", "read", [k, a])
            return out, k, a
    return None


def timed(history: list[Op], **opts: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    v = check(history, **opts)
    return v, time.perf_counter() - t


def bench_reference() -> None:
    if not REFERENCE.is_dir():
        print(f"reference histories not found at {REFERENCE}: skipped")
        return
    rows = []
    for path in sorted(REFERENCE.rglob("*.edn")):
        model = "multi-register" if "multi-register" in path.parts else "cas-register"
        hist = read_edn_history(path)
        v, dt = timed(hist, model=model)
        expected: bool | str = "good" in path.parts
        if all(op.process == "nemesis" for op in hist):
            expected = "unknown"  # no client op: nothing shows it linearizable (issue 11)
        assert v.valid == expected, f"{path}: expected {expected}, got {v.valid}"
        rows.append((dt, v.stats["ops"], v.stats["states"], path.relative_to(REFERENCE)))
    total = sum(r[0] for r in rows)
    ops = sum(r[1] for r in rows)
    print(f"knossos reference: {len(rows)} histories, all verdicts as expected")
    print(
        f"  total {total:.3f} s (target < 10 s, ratio {total / 10:.4f}); {ops / total:,.0f} ops/s"
    )
    print("  slowest:")
    for dt, n, states, p in sorted(rows, reverse=True)[:5]:
        print(
            f"    {dt * 1000:8.2f} ms  {n:5d} ops  {states:6d} states  {n / dt:10,.0f} ops/s  {p}"
        )
    worst = max(r[0] for r in rows)
    print(f"  worst {worst:.3f} s (target < 1 s, ratio {worst:.4f})")


def bench_synthetic(n_ops: int, profile: bool) -> None:
    for label, kw in (("100 keys uniform", {}), ("100 keys, 5 hot at a time", {"active_keys": 5})):
        t = time.perf_counter()
        hist = simulate(n_ops=n_ops, **kw)
        gen = time.perf_counter() - t
        if profile:
            prof = cProfile.Profile()
            prof.enable()
        v, dt = timed(hist, model="cas-register", independent=True)
        if profile:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(8)
        assert v.valid is True, (
            f"{label}: a simulated linearizable history judged {v.valid}: {v.notes}"
        )
        s = v.stats
        print(
            f"synthetic {label}: {n_ops:,} ops ({len(hist):,} history entries, generated in {gen:.1f} s)\n"
            f"  checked in {dt:.2f} s (target < 10 s, ratio {dt / 10:.3f}); {s['ops'] / dt:,.0f} ops/s;"
            f" {s['keys']} keys, {s['indeterminate']} indeterminate, {s['states']:,} states;"
            f" peak RSS {peak_rss_mb():,.0f} MB (target < 2048)"
        )
        bad = inject_stale_read(hist)
        if bad is None:
            print("  (no stale read could be injected)")
            continue
        bad_hist, key, val = bad
        vb, dtb = timed(bad_hist, model="cas-register", independent=True)
        caught = vb.valid is False and [a.data["key"] for a in vb.anomalies] == [key]
        print(
            f"  nonlinearizable variant (stale read of {val} on key {key}): valid={vb.valid} in {dtb:.2f} s, caught={caught}"
        )
        if vb.anomalies:
            print(f"    {vb.anomalies[0].explanation}")
        assert caught, "injected stale read not caught"


def _fails_alone(history: list[Op], a: Any, model: str, independent: bool) -> bool:
    listed = set(a.ops)
    v = check([op for op in history if op.index in listed], model=model, independent=independent)
    return v.valid is False and [b.data["op"] for b in v.anomalies] == [a.data["op"]]


def evidence_classes(n_ops: int) -> dict[str, list[tuple[str, list[Op], str, bool | None]]]:
    """class -> [(label, history, model, independent)]"""
    uniform = simulate(n_ops=n_ops)
    hot = simulate(n_ops=n_ops, active_keys=5)
    classes: dict[str, list[tuple[str, list[Op], str, bool | None]]] = {
        "valid": [("uniform", uniform, "cas-register", True), ("hot", hot, "cas-register", True)],
        "invalid keyed": [
            (
                "replica reads, 2% 50 ms stale",
                simulate(n_ops=n_ops, stale_rate=0.02, lag=50_000_000),
                "cas-register",
                True,
            )
        ],
        "invalid hot keys": [
            (
                "5 hot, replica reads, 2% 20 ms stale",
                simulate(n_ops=n_ops, active_keys=5, stale_rate=0.02, lag=20_000_000),
                "cas-register",
                True,
            ),
            (
                "5 hot, replica reads, 0.5% 5 ms stale",
                simulate(n_ops=n_ops, active_keys=5, stale_rate=0.005, lag=5_000_000, seed=2),
                "cas-register",
                True,
            ),
        ],
        "knossos bad": [],
    }
    for label, h, cls in (("uniform", uniform, "invalid keyed"), ("hot", hot, "invalid hot keys")):
        bad = inject_stale_read(h)
        if bad is not None:
            classes[cls].append((f"{label}, one stale read", bad[0], "cas-register", True))
    if REFERENCE.is_dir():
        for path in sorted(REFERENCE.rglob("*.edn")):
            if "bad" in path.parts:
                model = "multi-register" if "multi-register" in path.parts else "cas-register"
                classes["knossos bad"].append((path.name, read_edn_history(path), model, None))
    return classes


def cpu_timed_check(history: list[Op], **opts: Any) -> tuple[Any, float, float]:
    """(verdict, decision s, evidence s) in CPU time of this process, which other work on the
    machine does not inflate as it does wall-clock time."""
    spent = [0.0]
    prove = evidence.prove

    def timed_prove(*a: Any, **k: Any) -> Any:
        t = time.process_time()
        try:
            return prove(*a, **k)
        finally:
            spent[0] += time.process_time() - t

    evidence.prove = timed_prove  # type: ignore[assignment]
    try:
        t = time.process_time()
        v = check(history, **opts)
        total = time.process_time() - t
    finally:
        evidence.prove = prove  # type: ignore[assignment]
    return v, total - spent[0], spent[0]


def bench_evidence(n_ops: int, repeat: int) -> None:
    print(
        f"decision vs evidence (CPU time, least of {repeat} runs; "
        "target evidence <= 0.5 x decision):"
    )
    for cls, cases in evidence_classes(n_ops).items():
        dec_total = ev_total = 0.0
        worst: tuple[float, str, float, float] | None = None
        anomalies = minimal = listed = 0
        for label, h, model, independent in cases:
            dec = ev = math.inf
            opts: dict[str, Any] = {"model": model}
            if independent is not None:
                opts["independent"] = independent
            for _ in range(repeat):
                v, d, e = cpu_timed_check(h, **opts)
                dec, ev = min(dec, d), min(ev, e)
            assert (v.valid is True) == (cls == "valid"), f"{cls} {label}: valid={v.valid}"
            for a in v.anomalies:
                assert _fails_alone(h, a, model, v.stats["independent"]), (label, a)
            anomalies += len(v.anomalies)
            minimal += sum(a.data["evidence_minimal"] for a in v.anomalies)
            listed += sum(len(a.ops) for a in v.anomalies)
            dec_total += dec
            ev_total += ev
            if worst is None or ev / max(dec, 1e-9) > worst[0]:
                worst = (ev / max(dec, 1e-9), label, dec, ev)
        ratio = ev_total / max(dec_total, 1e-9)
        print(
            f"  {cls}: {len(cases)} histories, decision {dec_total * 1000:,.1f} ms, evidence "
            f"{ev_total * 1000:,.1f} ms, ratio {ratio:.3f} (target <= 0.5); {anomalies} anomalies,"
            f" {minimal} with minimal evidence, {listed / max(anomalies, 1):.1f} op entries each"
        )
        if worst is not None and anomalies:
            print(
                f"    worst: {worst[1]}: decision {worst[2] * 1000:,.2f} ms, evidence "
                f"{worst[3] * 1000:,.2f} ms, ratio {worst[0]:.3f}"
            )


def _cpu(fn: Any, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


_GAVE_UP: set[str] = set()


def _parse_cpu(path: Path, native: bool, repeat: int) -> float:
    old = os.environ.get("SPLITBRAIN_NATIVE")
    os.environ["SPLITBRAIN_NATIVE"] = "1" if native else "0"
    try:
        dt = _cpu(lambda: load(path), repeat)
        why = edn.last_native_reason
        if native and why is not None and path.suffix == ".edn" and path.name not in _GAVE_UP:
            _GAVE_UP.add(path.name)
            print(f"    (native reader gave up on {path.name}: {edn.last_native_reason})")
        return dt
    finally:
        if old is None:
            del os.environ["SPLITBRAIN_NATIVE"]
        else:
            os.environ["SPLITBRAIN_NATIVE"] = old


def _parse_row(label: str, parse: float, check_s: float) -> None:
    print(
        f"  {label:<28} parse {parse:6.3f} s  check {check_s:6.3f} s  parse/check"
        f" {parse / check_s:5.2f} (target <= 1: {'met' if parse <= check_s else 'NOT met'})"
    )


def bench_parse(n_ops: int, repeat: int) -> None:
    has_native = edn._native_reader() is not None
    if not has_native:
        print("parse vs check: the native reader is not built (pip install ./native)")
    hist = simulate(n_ops=n_ops)
    opts = {"model": "cas-register", "independent": True}
    chk = _cpu(lambda: check(hist, **opts), repeat)
    print(
        f"parse vs check, CPU s (least of {repeat}); synthetic {n_ops:,} ops ({len(hist):,} entries)"
    )
    with tempfile.TemporaryDirectory() as d:
        jl, lines, vec = Path(d, "h.jsonl"), Path(d, "h.edn"), Path(d, "v.edn")
        write_jsonl(hist, jl)
        write_edn_history(hist, lines)
        vec.write_text("[" + lines.read_text() + "]\n")
        _parse_row("JSONL", _parse_cpu(jl, True, repeat), chk)
        for label, path in (("EDN lines", lines), ("EDN vector", vec)):
            if has_native:
                assert load(path) == load(jl), "native EDN ops differ from the JSONL ones"
                _parse_row(label + ", native", _parse_cpu(path, True, repeat), chk)
            _parse_row(label + ", Python", _parse_cpu(path, False, repeat), chk)
    if not REFERENCE.is_dir():
        print(f"  knossos: not found at {REFERENCE}: skipped")
        return
    files = sorted(REFERENCE.rglob("*.edn"))
    hists = [
        (read_edn_history(p), "multi-register" if "multi-register" in p.parts else "cas-register")
        for p in files
    ]
    chk = _cpu(lambda: [check(h, model=m) for h, m in hists], repeat)
    n = sum(len(h) for h, _ in hists)
    print(f"  knossos: {len(files)} files, {n:,} entries")
    for native in (True, False) if has_native else (False,):
        parse = _cpu(lambda nat=native: [_parse_cpu(p, nat, 1) for p in files], repeat)
        _parse_row("knossos, " + ("native" if native else "Python"), parse, chk)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--profile", action="store_true", help="cProfile the synthetic checks")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--evidence-only", action="store_true", help="only decision vs evidence")
    ap.add_argument("--repeat", type=int, default=3, help="runs per history for the evidence")
    ap.add_argument("--parse-only", action="store_true", help="only parse vs check")
    args = ap.parse_args()
    if args.parse_only:
        bench_parse(args.ops, args.repeat)
        return
    if not args.evidence_only:
        if not args.skip_reference:
            bench_reference()
        bench_synthetic(args.ops, args.profile)
        bench_parse(args.ops, args.repeat)
    bench_evidence(args.ops, args.repeat)
    print(f"peak RSS of the whole run: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
