"""The run, as data flowing through: spec -> plan -> cluster -> workers + nemesis -> history
-> verdicts.

Everything that can be refused is refused before a cluster starts (harness.plan). After the
time limit: heal everything, let the cluster recover, run a final read phase, tear down, then
check and report. A run that crashes or is interrupted half way still leaves its history on
disk, and the cluster is torn down in every case (normal end, exception, SIGINT, SIGTERM).

A verdict is a promise: a requested fault that never took effect, or a checker that crashed,
makes the run `unknown`, never valid."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import signals
from harness.checking import judge, workload_runs
from harness.cluster import Cluster
from harness.db import Database
from harness.errors import HistoryError, SpecError, SplitbrainError, one_line
from harness.history import HistoryWriter, load
from harness.plan import Plan, prepare
from harness.progress import Progress
from harness.run_summary import summary
from harness.spec import TestSpec
from harness.verdict import Validity, compose, worst
from harness.worker import Watchdog, Worker
from nemesis.runner import Nemesis
from workloads import Workload

Echo = Callable[[str], None]


@dataclass
class RunResult:
    dir: Path
    valid: Validity
    doc: dict[str, Any]  # verdict.json


def resolve_provider(spec: TestSpec, echo: Echo) -> TestSpec:
    """--provider auto: compose when a Docker engine answers, else local."""
    if spec.provider != "auto":
        return spec
    from harness.providers.compose_engine import engine_answers

    name = "compose" if engine_answers() else "local"
    echo(f"provider: auto picked {name}")
    return spec.replace(provider=name, name=spec.name)


def new_run_dir(results_root: Path, name: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(results_root) / name
    d = base / stamp
    n = 1
    while d.exists():
        n += 1
        d = base / f"{stamp}-{n}"
    try:
        d.mkdir(parents=True)
        probe = d / ".writable"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise SpecError(f"--results {results_root}: cannot write {d}: {e.strerror or e}") from None
    return d


def run(
    spec: TestSpec,
    results_root: Path = Path("results"),
    echo: Echo = print,
    progress: bool = True,
    on_plan: Callable[[Plan], None] | None = None,
) -> RunResult:
    """on_plan: called with the validated plan before anything starts (experiments that
    route clients differently, e.g. harness.scale)."""
    spec = resolve_provider(spec, echo)
    plan = prepare(spec)
    if on_plan is not None:
        on_plan(plan)
    spec, db, prov = plan.spec, plan.db, plan.provider
    prov.preflight(db)
    run_dir = new_run_dir(results_root, spec.name)
    for line in prov.cleanup():  # only runs whose harness process is gone
        echo(f"removed leftover of a crashed run: {line}")

    run_id = secrets.token_hex(3)
    spec.save(run_dir / "spec.json")
    (run_dir / "schedule.json").write_text(
        json.dumps([s.to_dict() for s in plan.schedule], indent=2)
    )
    echo(f"run {run_id}: {spec.name} -> {run_dir}")

    history = HistoryWriter(run_dir / "history.jsonl")
    info: dict[str, Any] = {
        "run_id": run_id,
        "test": spec.name,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "db": spec.db,
        "topology": db.topology,
        "provider": spec.provider,
        "mode": spec.mode,
        "workload": spec.workload,
        "nemesis": list(spec.nemesis),
        "seed": spec.seed,
        "aborted": None,
        "errors": [],
    }
    t_start = time.monotonic()
    cluster: Cluster | None = None
    error: BaseException | None = None
    with signals.handled() as interrupts:
        try:
            t = time.monotonic()
            cluster = prov.create(spec, run_id, db.deployment)
            echo(f"cluster: {len(cluster.nodes)} nodes ({spec.provider}), setting up {spec.db} ...")
            db.setup(cluster)
            info["setup_s"] = round(time.monotonic() - t, 2)
            echo(
                f"cluster up in {info['setup_s']} s; running {spec.workload} "
                f"for {spec.time_limit:.0f} s"
            )
            _workload_phase(plan, cluster, history, info, echo, progress)
        except KeyboardInterrupt as e:
            info["aborted"] = f"interrupted ({str(e) or 'SIGINT'})"
            echo("interrupted: tearing the cluster down; the history so far is kept")
        except BaseException as e:
            info["aborted"] = f"{type(e).__name__}: {one_line(e)}"
            error = e
        finally:
            with interrupts.shield():
                if cluster is not None:
                    t = time.monotonic()
                    with contextlib.suppress(Exception):
                        cluster.collect_logs(run_dir / "logs")
                    try:
                        cluster.teardown()
                    except Exception as e:  # reported, and the run is not valid
                        info["errors"].append(f"teardown: {one_line(e)}")
                        info.setdefault("unknown_because", []).append(
                            f"teardown failed: {one_line(e)} (run `splitbrain cleanup`)"
                        )
                    info["teardown_s"] = round(time.monotonic() - t, 2)
                history.close()
    if interrupts.fired and not info["aborted"]:
        info["aborted"] = f"interrupted ({interrupts.fired}) during teardown"
    info["duration_s"] = round(time.monotonic() - t_start, 2)
    info["ops"] = {k: history.counts[k] for k in ("ok", "fail", "info")}

    if info["aborted"]:
        aborted: dict[str, Any] = {"valid": "unknown", "checkers": {}, "run": info}
        _write_json(run_dir / "verdict.json", aborted)
        (run_dir / "summary.txt").write_text(
            f"{spec.name}: aborted: {info['aborted']}\n{run_dir}\n"
        )
        _write_reports(run_dir, echo)
        if isinstance(error, SplitbrainError):
            raise error
        if error is not None and not isinstance(error, Exception):
            raise error
        if error is not None:
            raise SplitbrainError(
                f"run aborted: {info['aborted']} (history kept in {run_dir})"
            ) from error
        return RunResult(run_dir, "unknown", aborted)

    notes: list[str] = []
    try:
        history_ops = load(run_dir / "history.jsonl", notes=notes, validate=True)
    except HistoryError as e:  # e.g. no client op at all: nothing to judge, never valid
        info.setdefault("unknown_because", []).append(f"the run's history is not one: {e}")
        history_ops = load(run_dir / "history.jsonl")
    info["errors"] += notes
    verdicts = judge(
        history_ops, workload_runs(plan.workload), run_dir / "history.jsonl", refused="unknown"
    )
    doc: dict[str, Any] = {**compose(verdicts), "run": info}
    if info.get("unknown_because"):
        doc["valid"] = worst([doc["valid"], "unknown"])
    if db.topology == "peer-to-peer":
        from harness.checkers.conflicts_p2p import account

        doc["conflicts"] = account(history_ops, doc["checkers"])
    _write_json(run_dir / "verdict.json", doc)
    (run_dir / "summary.txt").write_text(summary(spec, doc, run_dir))
    _write_reports(run_dir, echo)
    return RunResult(run_dir, doc["valid"], doc)


def run_to_dir(spec: TestSpec, results_root: Path) -> Path:
    """For suites: run and return the run's folder (verdict.json says the rest)."""
    return run(spec, results_root, echo=print, progress=False).dir


def _workload_phase(
    plan: Plan,
    cluster: Cluster,
    history: HistoryWriter,
    info: dict[str, Any],
    echo: Echo,
    show_progress: bool,
) -> None:
    spec, db, workload = plan.spec, plan.db, plan.workload
    stop = threading.Event()
    watchdog = Watchdog(stop)
    workers = [
        Worker(
            i,
            spec.concurrency,
            workload,
            db,
            cluster,
            history,
            stop,
            watchdog,
            spec.op_timeout,
            spec.rate,
        )
        for i in range(spec.concurrency)
    ]
    t0 = time.monotonic()
    nemesis = Nemesis(spec, plan.schedule, cluster, db, history, t0, stop, plan.faults)
    progress = Progress(
        spec.name, spec.time_limit, history.counts, lambda: list(nemesis.active), stop
    )
    watchdog.start()
    for w in workers:
        w.start()
    nemesis.start()
    if show_progress:
        progress.start()
    try:
        stop.wait(spec.time_limit)
    finally:
        stop.set()
        nemesis.join(timeout=spec.recovery_timeout)  # it ends the fault in progress
        for w in workers:
            w.join(timeout=spec.op_timeout + 2)
        watchdog.join(timeout=spec.op_timeout + 2)
        info["errors"] += nemesis.errors + [
            f"worker {w.slot}: {w.error}" for w in workers if w.error
        ]
        stuck = [w.slot for w in workers if w.is_alive()]
        if stuck:
            info["errors"].append(f"workers {stuck} did not return from their last op")
    info["faults"] = {
        "planned": [s.fault for s in plan.schedule],
        "began": list(nemesis.began),
        "done": list(nemesis.done),
        "failed": list(nemesis.failed),
    }
    if nemesis.events:
        info["nemesis_events"] = list(nemesis.events)
    info["unknown_because"] = [
        f"fault {f['fault']} planned at {f['at']:g} s never took effect: {f['error']}"
        for f in nemesis.failed
    ] + [f"fault {f} was requested but never happened" for f in _never(spec, nemesis)]
    echo(
        f"workload done: ok {history.counts['ok']}, fail {history.counts['fail']}, "
        f"info {history.counts['info']}; healing and waiting for recovery"
    )
    cluster.heal()
    for node in cluster.nodes:
        with contextlib.suppress(Exception):
            cluster.resume(node)
    try:
        info["recovery"] = db.recover(cluster, spec.recovery_timeout)
    except SplitbrainError as e:
        info["recovery"] = {"error": str(e)}
        info["errors"].append(f"recovery: {e}")
        # a cluster that never came back cannot vouch for anything read from it
        info["unknown_because"].append(f"the cluster did not recover: {one_line(e)}")
        echo(f"warning: {e}")
    _final_phase(spec, db, cluster, workload, history, workers)


def _never(spec: TestSpec, nemesis: Nemesis) -> list[str]:
    """Requested faults of which no occurrence began (failed starts are reported apart)."""
    failed = {f["fault"] for f in nemesis.failed}
    return [f for f in spec.nemesis if f not in nemesis.began and f not in failed]


def _final_phase(
    spec: TestSpec,
    db: Database,
    cluster: Cluster,
    workload: Workload,
    history: HistoryWriter,
    workers: list[Worker],
) -> None:
    """Read everything back from every node, with a few retries per node."""
    ops = workload.final_ops()
    if not ops:
        return
    stop = threading.Event()
    wd = Watchdog(stop)
    wd.start()
    process = max((w.process for w in workers), default=0) + 1
    try:
        for node in cluster.nodes:
            reader = Worker(process, 1, workload, db, cluster, history, stop, wd, spec.op_timeout)
            for f, value in ops:
                for _attempt in range(5):
                    client = db.client(cluster, reader.process, node=node)
                    try:
                        typ = reader.invoke(client, f, value)
                    finally:
                        client.close()
                    if typ == "ok":
                        break
                    time.sleep(1.0)
            process += 1
    finally:
        stop.set()
        wd.join(timeout=spec.op_timeout + 2)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def _write_reports(run_dir: Path, echo: Echo) -> None:
    from harness.report.junit import write_run_junit
    from harness.report.run_report import write_report

    for name, fn in (("report.html", write_report), ("junit.xml", write_run_junit)):
        try:
            fn(run_dir)
        except Exception as e:  # the verdict is already on disk; a report bug must not hide it
            echo(f"warning: could not write {name}: {type(e).__name__}: {e}")
