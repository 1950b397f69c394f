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

Run: python bench/bench_parse.py [--txns 100000,1000000] [--seed S] [--keep DIR] [--no-e2e]
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


def _child(args: list[str]) -> tuple[float, float, str]:
    """Run a child process: (wall seconds, its peak RSS in MB, stdout)."""
    t = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, *args], capture_output=True, text=True, cwd=ROOT
    )
    wall = time.perf_counter() - t
    if p.returncode not in (0, 1, 2):
        raise SystemExit(f"{args}: exit {p.returncode}: {p.stderr.strip()[-500:]}")
    *out, rss = p.stdout.rstrip("\n").rsplit("\n", 1)
    return wall, float(rss), "\n".join(out)


# Runs argv[1:] as a child and prints its stdout, then the child's peak RSS (MB) last.
_RSS_WRAPPER = r"""
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(p.stdout)
sys.stderr.write(p.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
sys.exit(p.returncode)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--txns", default="100000,1000000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated files here")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end CLI check")
    args = ap.parse_args()

    from bench_elle import simulate

    from harness.edn import write_edn_history
    from harness.history import write_jsonl

    tmp = tempfile.TemporaryDirectory()
    where = args.keep or Path(tmp.name)
    where.mkdir(parents=True, exist_ok=True)
    for n in (int(x) for x in args.txns.split(",")):
        t = time.perf_counter()
        ops = simulate(n, args.seed)
        files = {"jsonl": where / f"append-{n}.jsonl", "edn": where / f"append-{n}.edn"}
        write_jsonl(ops, files["jsonl"])
        write_edn_history(ops, files["edn"])
        del ops
        print(f"{n} txns: generated and written in {time.perf_counter() - t:.1f} s")
        for fmt, path in files.items():
            mb = path.stat().st_size / 1e6
            _, rss, out = _child([sys.executable, "-c", _MEASURE, str(path), "check"])
            r = json.loads(out)
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
            wall, rss, out = _child(
                [*cmd, "--consistency-models", "strict-serializable", str(files["edn"])]
            )
            print(
                f"  end to end (splitbrain check, EDN): {wall:.2f} s = {n / wall:,.0f} txn/s "
                f"(target >= 100,000); peak RSS {rss:,.0f} MB (target < 2,048); "
                f"{out.strip().split(chr(9))[1] if chr(9) in out else out.strip()}"
            )
    tmp.cleanup()


if __name__ == "__main__":
    main()
