"""Benchmark of history parsing (issue 14). Prints figures and ratios; asserts nothing.

For each size (default 100,000 and 1,000,000 list-append transactions, from bench_elle's seeded
simulation of a strict-serializable database), the history is written as JSONL and as Jepsen
EDN (one op map per line), then, each in a fresh process so that peak RSS is its own:

- parse: harness.history.load (+ validate), txn/s and peak RSS;
- check: the list-append checker alone on the parsed history, and the ratio parse / check
  (the target: parsing costs no more than checking);
- end to end: `python -m harness.cli check --checker list-append FILE.edn`, txn/s and peak
  RSS (target: >= 100,000 txn/s on 2 cores, < 2 GB at 1M).

Wall and CPU seconds are both printed: on a shared machine the CPU figure is the steadier.
With --repeat N each measure runs N times (fresh processes) and the best time is shown.

Where the time goes (issue 14, 2 cores shared with other work, CPU seconds per 100k txns of
EDN): interpreter + imports 0.7 (scipy.sparse.csgraph alone 0.35-0.5); EDN to JSON text 1.05
(keyword quoting by regex 0.45: a numpy version measured 0.37, not worth it); orjson 0.33; ops
and micro-op lists 0.6; the check 1.2 (scan 0.55). Python objects for 200k ops, 600k micro-ops
and their reads cost ~0.5 s per 100k on their own, so >= 100k txn/s end to end needs a reader
that makes none (native, into columns) and a checker deciding on the columns.

Run: python bench/bench_parse.py [--txns 100000,1000000] [--seed S] [--keep DIR] [--no-e2e]
     [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

_MEASURE = r"""
import json, resource, sys, time
from harness.history import load, validate
path, what = sys.argv[1], sys.argv[2]
t0, c0 = time.perf_counter(), time.process_time()
ops = load(path)
t1, c1 = time.perf_counter(), time.process_time()
validate(ops)
t2, c2 = time.perf_counter(), time.process_time()
out = {"ops": len(ops), "parse_s": t1 - t0, "validate_s": t2 - t1}
out.update(parse_cpu=c1 - c0, validate_cpu=c2 - c1)
if what == "check":
    from harness.checkers.elle import check
    v = check(ops, models=("strict-serializable",))
    out["check_s"] = time.perf_counter() - t2
    out["check_cpu"] = time.process_time() - c2
    out["valid"] = v.valid
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _child(args: list[str]) -> tuple[float, float, float, str]:
    """Run a child process: (wall seconds, its CPU seconds, its peak RSS in MB, stdout)."""
    t = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, *args], capture_output=True, text=True, cwd=ROOT
    )
    wall = time.perf_counter() - t
    if p.returncode not in (0, 1, 2):
        raise SystemExit(f"{args}: exit {p.returncode}: {p.stderr.strip()[-500:]}")
    *out, last = p.stdout.rstrip("\n").rsplit("\n", 1)
    rss, cpu = last.split()
    return wall, float(cpu), float(rss), "\n".join(out)


# Runs argv[1:] as a child and prints its stdout, then the child's peak RSS (MB) and CPU
# seconds (user + system: the steadier figure on a machine shared with other work).
_RSS_WRAPPER = r"""
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(p.stdout)
sys.stderr.write(p.stderr)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(u.ru_maxrss / 1024, u.ru_utime + u.ru_stime)
sys.exit(p.returncode)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--txns", default="100000,1000000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--keep", type=Path, default=None, help="keep the generated files here (and reuse them)"
    )
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end CLI check")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each measure (best shown)")
    args = ap.parse_args()

    from bench_elle import simulate

    from harness.edn import write_edn_history
    from harness.history import write_jsonl

    tmp = tempfile.TemporaryDirectory()
    where = args.keep or Path(tmp.name)
    where.mkdir(parents=True, exist_ok=True)
    for n in (int(x) for x in args.txns.split(",")):
        t = time.perf_counter()
        files = {
            "jsonl": where / f"append-{n}-seed{args.seed}.jsonl",
            "edn": where / f"append-{n}-seed{args.seed}.edn",
        }
        if args.keep and all(f.exists() for f in files.values()):
            print(f"{n} txns: reusing {files['edn'].name} and {files['jsonl'].name} in {where}")
        else:
            ops = simulate(n, args.seed)
            write_jsonl(ops, files["jsonl"])
            write_edn_history(ops, files["edn"])
            del ops
            print(f"{n} txns: generated and written in {time.perf_counter() - t:.1f} s")
        for fmt, path in files.items():
            mb = path.stat().st_size / 1e6
            runs = [
                _child([sys.executable, "-c", _MEASURE, str(path), "check"])
                for _ in range(args.repeat)
            ]
            rss = max(x[2] for x in runs)
            results = [json.loads(x[3]) for x in runs]
            r = {k: min(x[k] for x in results) for k in results[0] if k.endswith(("_s", "_cpu"))}
            print(
                f"  {fmt:5} {mb:7.1f} MB: parse {r['parse_s']:6.2f} s = "
                f"{n / r['parse_s']:9,.0f} txn/s (CPU {r['parse_cpu']:.2f} s = "
                f"{n / r['parse_cpu']:,.0f} txn/s); validate {r['validate_s']:5.2f} s; "
                f"check {r['check_s']:6.2f} s = {n / r['check_s']:9,.0f} txn/s (CPU "
                f"{r['check_cpu']:.2f} s); parse/check CPU {r['parse_cpu'] / r['check_cpu']:.2f}; "
                f"peak RSS {rss:,.0f} MB"
            )
        if not args.no_e2e:
            cmd = [sys.executable, "-m", "harness.cli", "check", "--checker", "list-append"]
            cmd += ["--consistency-models", "strict-serializable", str(files["edn"])]
            runs = [_child(cmd) for _ in range(args.repeat)]
            wall, cpu = min(x[0] for x in runs), min(x[1] for x in runs)
            rss, out = max(x[2] for x in runs), runs[0][3]
            print(
                f"  end to end (splitbrain check, EDN, best of {args.repeat}): {wall:.2f} s wall "
                f"= {n / wall:,.0f} txn/s, {cpu:.2f} s CPU = {n / cpu:,.0f} txn/s "
                f"(target >= 100,000); peak RSS {rss:,.0f} MB (target < 2,048); "
                f"{out.strip().split(chr(9))[1] if chr(9) in out else out.strip()}"
            )
    tmp.cleanup()


if __name__ == "__main__":
    main()
