"""Deterministic fake results folders (spec.json, history.jsonl, verdict.json, logs/) for the
report, JUnit, suite and comparison tests. No database: the ops are generated from a seed."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from harness.history import Op, write_jsonl
from harness.spec import TestSpec
from harness.verdict import Anomaly, Verdict, compose

S = 1_000_000_000
# Fault windows (start s, end s, fault, value): two faults, healthy in between and after.
FAULTS = [
    (
        5.0,
        10.0,
        "partition",
        {"shape": "isolate-primary", "grudge": {"n1": ["n2", "n3"]}, "nodes": ["n1"]},
    ),
    (15.0, 18.0, "kill", {"nodes": ["n2"]}),
]
CHECKER_OF = {"stale-read": "linearizable"}  # other anomaly types go to the "set" checker


def history(
    seed: int = 1,
    duration: float = 30.0,
    processes: int = 4,
    rate_per_process: float = 20.0,
    topology: str = "primary-replica",
    faults: list[tuple[float, float, str, dict]] | None = None,
) -> list[Op]:
    """Processes doing adds and reads; ops completing inside a fault window fail or go info
    often; a final-read per node at the end; nemesis start/stop ops for each window."""
    rng = random.Random(seed)
    faults = FAULTS if faults is None else faults
    events: list[tuple[int, Any, str, str, Any, str | None, str | None]] = []
    for start, end, fault, value in faults:
        events.append(
            (int(start * S) - 1000, "nemesis", "invoke", f"start-{fault}", value, None, None)
        )
        events.append((int(start * S), "nemesis", "info", f"start-{fault}", value, None, None))
        events.append((int(end * S) - 1000, "nemesis", "invoke", f"stop-{fault}", None, None, None))
        events.append((int(end * S), "nemesis", "info", f"stop-{fault}", None, None, None))
    value = 0
    for p in range(processes):
        proc: int = p
        t = rng.uniform(0, 0.05)
        while t < duration:
            write = rng.random() < 0.6
            node = "n1" if (write and topology == "primary-replica") else f"n{p % 3 + 1}"
            lat = rng.lognormvariate(-5.0, 0.6)  # ~7 ms
            done = t + lat
            in_fault = any(s <= done < e for s, e, _, _ in faults)
            r = rng.random()
            typ = "ok" if not in_fault or r < 0.4 else ("fail" if r < 0.9 else "info")
            if typ == "info":
                done = t + 1.0  # a timeout
            f, v_in = ("add", value) if write else ("read", None)
            v_out = v_in if write else sorted(rng.sample(range(value + 1), min(3, value + 1)))
            value += write
            events.append((int(t * S), proc, "invoke", f, v_in, node, None))
            events.append(
                (
                    int(done * S),
                    proc,
                    typ,
                    f,
                    v_out if typ == "ok" else v_in,
                    node,
                    "timeout"
                    if typ == "info"
                    else ("connection refused" if typ == "fail" else None),
                )
            )
            if typ == "info":
                proc += processes  # Jepsen: an indeterminate op retires the process id
            t = done + rng.uniform(0.0, 1.0 / rate_per_process)
    t_final = duration + 2.0
    for i, node in enumerate(("n1", "n2", "n3")):
        p = 1000 + i
        events.append((int((t_final + i) * S), p, "invoke", "final-read", None, node, None))
        events.append(
            (int((t_final + i + 0.02) * S), p, "ok", "final-read", list(range(value)), node, None)
        )
    events.sort(key=lambda e: e[0])
    return [
        Op(i, t, p, typ, f, v, node, err) for i, (t, p, typ, f, v, node, err) in enumerate(events)
    ]


def verdict_doc(
    hist: list[Op],
    anomalies: dict[str, int],
    valid: Any = None,
    checkers: tuple[str, ...] = ("set", "linearizable"),
) -> dict[str, Any]:
    """Anomalies of the requested types, each proved by an ok add and the final read."""
    adds = [op for op in hist if op.f == "add" and op.type == "ok"]
    final = next((op for op in hist if op.f == "final-read" and op.type == "ok"), None)
    by_checker: dict[str, list[Anomaly]] = {c: [] for c in checkers}
    k = 0
    for typ, n in anomalies.items():
        for _ in range(n):
            add = adds[(len(adds) // 2 + 7 * k) % len(adds)]  # mid-history
            ops = [add.index] + ([final.index] if final else [])
            by_checker.setdefault(CHECKER_OF.get(typ, "set"), []).append(
                Anomaly(
                    typ,
                    ops,
                    f"write of {add.value} acknowledged at {add.seconds:.3f} s by "
                    f"{add.node} is missing from the final read",
                    {"value": add.value},
                )
            )
            k += 1
    verdicts = []
    for name, anoms in by_checker.items():
        v: Any = not anoms
        if valid == "unknown" and not anoms:
            v = "unknown"
        verdicts.append(
            Verdict(
                name,
                v,
                anoms,
                stats={"ops": len(hist)},
                notes=["time budget ran out"] if v == "unknown" else [],
            )
        )
    return compose(verdicts)


def make_run(
    root: Path,
    *,
    db: str = "postgres",
    mode: str = "async",
    topology: str = "primary-replica",
    workload: str = "set",
    nemesis: tuple[str, ...] = ("partition", "kill"),
    seed: int = 1,
    read_from: str = "primary",
    options: dict[str, Any] | None = None,
    anomalies: dict[str, int] | None = None,
    valid: Any = None,
    duration: float = 30.0,
    processes: int = 4,
    rate_per_process: float = 20.0,
    stamp: str = "20250101-000000",
    provider: str = "local",
    faults: list | None = None,
) -> Path:
    spec = TestSpec(
        db=db,
        mode=mode,
        workload=workload,
        nemesis=nemesis,
        seed=seed,
        read_from=read_from,
        options=options or {},
        time_limit=duration,
        provider=provider,
    )
    hist = history(
        seed,
        duration,
        processes,
        rate_per_process,
        topology,
        faults=None if nemesis else ([] if faults is None else faults),
    )
    doc = verdict_doc(hist, anomalies or {}, valid)
    return save_run(root, spec, hist, doc, topology=topology, stamp=stamp, duration_s=duration + 5)


def save_run(
    root: Path,
    spec: TestSpec,
    hist: list[Op],
    doc: dict[str, Any],
    *,
    topology: str = "primary-replica",
    stamp: str = "20250101-000000",
    duration_s: float = 35.0,
    aborted: str | None = None,
) -> Path:
    """Write a results folder as the runner lays it out (spec, history, verdict, logs)."""
    run_dir = Path(root) / spec.name / stamp
    run_dir.mkdir(parents=True)
    spec.save(run_dir / "spec.json")
    write_jsonl(hist, run_dir / "history.jsonl")
    counts = {
        t: sum(1 for op in hist if op.type == t and op.process != "nemesis")
        for t in ("ok", "fail", "info")
    }
    doc = dict(doc)
    doc["run"] = {
        "run_id": f"abc{spec.seed:03d}",
        "test": spec.name,
        "started": "2025-01-01T00:00:00+00:00",
        "duration_s": duration_s,
        "db": spec.db,
        "topology": topology,
        "provider": spec.provider,
        "mode": spec.mode,
        "workload": spec.workload,
        "nemesis": list(spec.nemesis),
        "seed": spec.seed,
        "recovery": {"primary": "n1", "lag_s": 0.2},
        "aborted": aborted,
        "ops": counts,
    }
    (run_dir / "verdict.json").write_text(json.dumps(doc, indent=1))
    (run_dir / "summary.txt").write_text(f"{spec.name}: synthetic\n")
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "n1.log").write_text("LOG: database system is ready\n")
    return run_dir
