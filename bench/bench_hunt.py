"""Hunt and shrink on known answers: runs to the first detection with `hunt` against plain
repeated runs, and the shrunk run against the original. Prints figures (docs/hunt.md has the
table they go in).

    python bench/bench_hunt.py                       # the memory test double (no root)
    sudo python bench/bench_hunt.py --real           # every real answer below (clusters!)
    sudo python bench/bench_hunt.py --real --answer pg-async-failover --reps 3

For each answer, `--reps` times (base seed = --seed + 1000 x rep):
1. plain: the same command run again and again (same flags, same seed: what a nightly job
   does) until it shows the answer, at most --max-runs runs;
2. hunt: fresh seeds (seed, seed+1, ...) until it shows it, at most --max-runs runs;
3. hunt --steer: fresh seeds, varying what the flags leave open;
then `shrink` of the first run hunt found (once per answer), with --tries/--min-rate/
--confirm/--shrink-runs, and a table of the original against the shrunk run.

On the memory double the seed alone decides its race (bug=race), so plain runs either show it
at once or never: that is the double, not a finding. Real answers need root and the databases
(`sudo python3 -m harness.quickstart install`); run them alone on the machine (`flock
/work/cluster.lock` on a shared one). Every run is kept under --results."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.cli_spec import command_line  # noqa: E402
from harness.hunting.candidates import Limits  # noqa: E402
from harness.hunting.hunt import HuntConfig, hunt  # noqa: E402
from harness.hunting.shrink import ShrinkConfig, shrink  # noqa: E402
from harness.hunting.stats import Acceptance, Budget  # noqa: E402
from harness.hunting.targets import Target  # noqa: E402
from harness.spec import TestSpec  # noqa: E402

MEMORY_BASE: dict[str, Any] = {
    "db": "memory", "provider": "memory", "workload": "set", "concurrency": 4, "rate": 300.0,
    "op_timeout": 2.0, "recovery_timeout": 10.0, "fault_interval": 0.3,
}  # fmt: skip
# name -> (spec fields, anomaly kinds, the shrink's timing floor in seconds)
MEMORY: dict[str, tuple[dict[str, Any], tuple[str, ...], float]] = {
    "memory-race": (
        {**MEMORY_BASE, "nemesis": ("partition", "kill", "pause"), "time_limit": 2.1,
         "options": {"bug": "race", "pause_probe_s": 0.05}},
        ("lost-write",), 0.3,
    ),
    "memory-needs-two": (
        {**MEMORY_BASE, "nemesis": ("partition", "pause", "kill", "packet-loss"), "time_limit": 2.7,
         "options": {"bug": "needs-two", "pause_probe_s": 0.05}},
        ("lost-write",), 0.3,
    ),
}  # fmt: skip
REAL: dict[str, tuple[dict[str, Any], tuple[str, ...], float]] = {
    # the README's main job: async replication, an isolated primary replaced by failover
    "pg-async-failover": (
        {"db": "postgres", "mode": "async", "workload": "set",
         "nemesis": ("partition", "kill", "failover"), "time_limit": 45.0, "concurrency": 10,
         "fault_interval": 6.0},
        ("lost-write",), 2.0,
    ),
    # docs/long-fork.md: about 3 runs in 4
    "pg-long-fork": (
        {"db": "postgres", "mode": "async", "workload": "append", "read_from": "any",
         "isolation": "repeatable-read", "nemesis": (), "time_limit": 30.0, "concurrency": 40,
         "options": {"keys": 4, "max_txn_length": 4}},
        ("G-nonadjacent",), 2.0,
    ),
    # docs/clock.md, suites/nightly.yaml cassandra-clock-bump
    "cassandra-clock-bump": (
        {"db": "cassandra", "mode": "quorum", "workload": "conflicts", "nemesis": ("clock",),
         "time_limit": 60.0, "fault_interval": 10.0,
         "options": {"clock_offset_ms": 20000, "clock_direction": "+", "keys": 40}},
        ("lost-to-lww",), 5.0,
    ),
    # suites/nightly.yaml galera-append-repeatable-read
    "galera-append-rr": (
        {"db": "galera", "mode": "multi-primary", "workload": "append",
         "isolation": "repeatable-read", "nemesis": (), "time_limit": 60.0},
        ("lost-update",), 2.0,
    ),
}  # fmt: skip


def plain(spec: TestSpec, target: Target, root: Path, max_runs: int, run_fn: Any) -> int | None:
    """Runs of the same spec until it shows the target (None: not within max_runs)."""
    for i in range(1, max_runs + 1):
        r = run_fn(spec, root / f"run-{i:03d}")
        if target.hit(r.doc):
            return i
    return None


def _mean(xs: list[int | None], cap: int) -> str:
    found = [x for x in xs if x is not None]
    if not found:
        return f"none in {cap} (x{len(xs)})"
    s = f"{statistics.mean(found):.1f}"
    return s + (f" ({len(found)} of {len(xs)} found)" if len(found) < len(xs) else "")


def bench(name: str, fields: dict[str, Any], kinds: tuple[str, ...], floor: float,
          args: argparse.Namespace, run_fn: Any, results: Path) -> None:  # fmt: skip
    base = TestSpec(**{**fields, "seed": args.seed})
    target = Target(kinds)
    print(f"\n== {name}: {command_line(base)}  (looking for {target})", flush=True)
    rows: dict[str, list[int | None]] = {"plain": [], "hunt": [], "hunt --steer": []}
    walls: dict[str, list[float]] = {k: [] for k in rows}
    first_dir: Path | None = None
    for rep in range(args.reps):
        spec = base.replace(seed=args.seed + 1000 * rep, name=base.name)
        t = time.monotonic()
        rows["plain"].append(
            plain(spec, target, results / name / f"plain-{rep}", args.max_runs, run_fn)
        )
        walls["plain"].append(time.monotonic() - t)
        for label, steer_on in (("hunt", False), ("hunt --steer", True)):
            if steer_on and args.no_steer:
                continue
            t = time.monotonic()
            cfg = HuntConfig(target, Budget(max_runs=args.max_runs), 1, steer_on,
                             frozenset(k for k in fields if k != "options"))  # fmt: skip
            r = hunt(spec, results / name, run_fn, cfg, echo=_quiet)
            rows[label].append(r.first.n if r.first else None)
            walls[label].append(time.monotonic() - t)
            if r.first and first_dir is None and r.first.dir:
                first_dir = Path(r.first.dir)
        print(
            f"  rep {rep}: " + ", ".join(f"{k} {v[-1] or '-'}" for k, v in rows.items() if v),
            flush=True,
        )
    print(
        f"  runs to the first detection (mean over {args.reps} reps, at most {args.max_runs} runs each):"
    )
    for k, v in rows.items():
        if v:
            print(
                f"    {k:<14} {_mean(v, args.max_runs):<24} wall {statistics.mean(walls[k]):.0f} s/rep"
            )
    if first_dir is None or args.no_shrink:
        return
    t = time.monotonic()
    cfg2 = ShrinkConfig(
        Acceptance.at(args.tries, args.min_rate), Budget(max_runs=args.shrink_runs), kinds,
        args.confirm, Limits(floor, floor / 2, floor, floor, 2.5 * floor),
    )  # fmt: skip
    s = shrink(first_dir, results / name, run_fn, cfg2, echo=_quiet)
    runs = sum(len(x.tries) for x in s.steps) + len(s.confirm)
    print(f"  shrink ({runs} runs, {time.monotonic() - t:.0f} s; {s.stopped_because}):")
    print("    " + s.text().split("\n\n")[1].replace("\n", "\n    "))
    print(f"    command: {s.command}")


def _quiet(line: str) -> None:
    if os.environ.get("BENCH_VERBOSE"):
        print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--real", action="store_true", help="real databases (root, clusters)")
    ap.add_argument("--answer", action="append", default=[], help="one answer by name (repeatable)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-runs", type=int, default=10, help="per plain loop and per hunt")
    ap.add_argument("--tries", type=int, default=3)
    ap.add_argument("--min-rate", type=float, default=0.34)
    ap.add_argument("--confirm", type=int, default=3)
    ap.add_argument("--shrink-runs", type=int, default=40)
    ap.add_argument("--no-steer", action="store_true")
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--results", type=Path, default=Path("results/bench-hunt"))
    args = ap.parse_args()
    answers = REAL if args.real else MEMORY
    if not args.real:
        from tests.doubles import register

        register()
        if "SPLITBRAIN_MEMORY_DIR" not in os.environ:  # the nodes' folders, removed at the end
            tmp = tempfile.mkdtemp(prefix="sb-bench-hunt-")
            os.environ["SPLITBRAIN_MEMORY_DIR"] = tmp
            atexit.register(shutil.rmtree, tmp, True)
    for a in args.answer:
        if a not in answers:
            sys.exit(f"bench_hunt: no answer {a!r}; known: {', '.join(answers)}")
    from harness.runner import run

    def run_fn(spec: TestSpec, root: Path) -> Any:
        return run(spec, root, echo=_quiet, progress=False)

    print(f"bench_hunt: {'real databases' if args.real else 'the memory test double'}; "
          f"results under {args.results}")  # fmt: skip
    for name in args.answer or list(answers):
        fields, kinds, floor = answers[name]
        bench(name, fields, kinds, floor, args, run_fn, args.results)


if __name__ == "__main__":
    main()
