"""The run, as data flowing through: spec -> cluster -> workers + nemesis -> history -> verdicts.

After the time limit: heal everything, let the cluster recover, run a final read phase, tear
down, then check and report. A run that crashes or is interrupted half way still leaves its
history on disk, and the cluster is torn down in every case (normal end, exception, SIGINT,
SIGTERM)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness.db as dbs
import workloads
from harness import checkers
from harness.cluster import Cluster
from harness.errors import SplitbrainError
from harness.history import HistoryWriter, load
from harness.progress import Progress
from harness.spec import TestSpec
from harness.verdict import Validity, Verdict, compose
from harness.worker import Watchdog, Worker
from nemesis import schedule as schedules
from nemesis.runner import Nemesis

Echo = Callable[[str], None]


@dataclass
class RunResult:
    dir: Path
    valid: Validity
    doc: dict[str, Any]  # verdict.json


def _quiet(_: str) -> None:
    pass


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so both reach the same teardown path."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def to_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    old = signal.signal(signal.SIGTERM, to_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def _uninterruptible() -> Iterator[None]:
    """Teardown must not be cut short by a second Ctrl-C: that is what leaves half a cluster."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def resolve_provider(spec: TestSpec, echo: Echo) -> TestSpec:
    if spec.provider != "auto":
        return spec
    from harness.providers.compose import pick_provider

    name = pick_provider(spec)
    echo(f"provider: auto picked {name}")
    return spec.replace(provider=name, name=spec.name)


def _provider_module(name: str) -> Any:
    if name == "local":
        import harness.providers.local as mod
    else:
        import harness.providers.compose as mod
    return mod


def new_run_dir(results_root: Path, name: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(results_root) / name
    d = base / stamp
    n = 1
    while d.exists():
        n += 1
        d = base / f"{stamp}-{n}"
    d.mkdir(parents=True)
    return d


def run(
    spec: TestSpec, results_root: Path = Path("results"), echo: Echo = print, progress: bool = True
) -> RunResult:
    spec = resolve_provider(spec, echo)
    db = dbs.get(spec)
    if spec.provider not in db.providers:
        raise SplitbrainError(
            f"--provider {spec.provider}: {spec.db} runs on {', '.join(db.providers)} only"
        )
    rng = random.Random(spec.seed)
    workload = workloads.get(spec, rng)
    prov = _provider_module(spec.provider)
    if spec.provider == "local":
        prov.preflight(db.required_binaries())
    removed = prov.cleanup()  # only runs whose harness process is gone
    for line in removed:
        echo(f"removed leftover of a crashed run: {line}")

    run_id = secrets.token_hex(3)
    run_dir = new_run_dir(results_root, spec.name)
    spec.save(run_dir / "spec.json")
    plan = schedules.build(spec, random.Random(spec.seed + 1))
    if spec.nemesis and not plan:
        echo(
            f"warning: --time {spec.time_limit:g} leaves no room for a fault: each needs a healthy "
            f"--fault-interval ({spec.fault_interval:g} s) before and after it, so this run injects "
            f"none (use --time >= {3 * spec.fault_interval:g} or a shorter --fault-interval)"
        )
    (run_dir / "schedule.json").write_text(json.dumps([s.to_dict() for s in plan], indent=2))
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
    with _interruptible():
        try:
            t = time.monotonic()
            cluster = prov.create(spec, run_id)
            echo(f"cluster: {len(cluster.nodes)} nodes ({spec.provider}), setting up {spec.db} ...")
            db.setup(cluster)
            info["setup_s"] = round(time.monotonic() - t, 2)
            echo(
                f"cluster up in {info['setup_s']} s; running {spec.workload} for {spec.time_limit:.0f} s"
            )
            _workload_phase(spec, db, cluster, workload, history, plan, info, echo, progress)
        except KeyboardInterrupt as e:
            info["aborted"] = f"interrupted ({e or 'SIGINT'})"
            echo("interrupted: tearing the cluster down; the history so far is kept")
        except BaseException as e:
            info["aborted"] = f"{type(e).__name__}: {e}"
            error = e
        finally:
            with _uninterruptible():
                if cluster is not None:
                    t = time.monotonic()
                    with contextlib.suppress(Exception):
                        cluster.collect_logs(run_dir / "logs")
                    cluster.teardown()
                    info["teardown_s"] = round(time.monotonic() - t, 2)
                history.close()
    info["duration_s"] = round(time.monotonic() - t_start, 2)
    info["ops"] = {k: history.counts[k] for k in ("ok", "fail", "info")}

    if info["aborted"]:
        doc = {"valid": "unknown", "checkers": {}, "run": info}
        _write_json(run_dir / "verdict.json", doc)
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
        return RunResult(run_dir, "unknown", doc)

    history_ops = load(run_dir / "history.jsonl")
    verdicts = check_history(history_ops, spec)
    doc = {**compose(verdicts), "run": info}
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
    spec: TestSpec,
    db: dbs.Database,
    cluster: Cluster,
    workload: Any,
    history: HistoryWriter,
    plan: list[schedules.Step],
    info: dict[str, Any],
    echo: Echo,
    show_progress: bool,
) -> None:
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
    nemesis = Nemesis(plan, cluster, db, history, t0, stop)
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
        echo(f"warning: {e}")
    _final_phase(spec, db, cluster, workload, history, workers, watchdog)


def _final_phase(
    spec: TestSpec,
    db: dbs.Database,
    cluster: Cluster,
    workload: Any,
    history: HistoryWriter,
    workers: list[Worker],
    watchdog: Watchdog,
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


def check_history(
    history: list, spec: TestSpec | None, checker: str | None = None, **options: Any
) -> list[Verdict]:
    """Run the spec's checkers (or the one named) over a history."""
    if checker is not None:
        names: tuple[str, ...] = (checker,)
        opts = dict(options)
    else:
        if spec is None:
            raise SplitbrainError(
                "no spec.json beside this history: choose a checker with --checker"
            )
        wl = workloads.get(spec, random.Random(spec.seed))
        names = wl.checkers
        opts = {**wl.checker_options(), **options}
    return [checkers.check(name, history, **opts) for name in names]


def summary(spec: TestSpec, doc: dict[str, Any], run_dir: Path) -> str:
    run = doc["run"]
    lines = [
        f"{spec.name}  ({spec.db} {run['topology']}, mode {spec.mode}, provider {spec.provider}, seed {spec.seed})",
        f"ops: ok {run['ops']['ok']}, fail {run['ops']['fail']}, info {run['ops']['info']} "
        f"in {run['duration_s']} s (setup {run.get('setup_s', '?')} s)",
    ]
    for name, v in doc["checkers"].items():
        verdict = {True: "VALID", False: "INVALID", "unknown": "UNKNOWN"}[v["valid"]]
        counts = ", ".join(f"{k} {n}" for k, n in sorted(v["counts"].items())) or "no anomalies"
        lines.append(f"{name}: {verdict} ({counts})")
        for a in v["anomalies"][:3]:
            lines.append(f"  - {a['type']}: {a['explanation']}")
        if len(v["anomalies"]) > 3:
            lines.append(f"  ... {len(v['anomalies']) - 3} more in verdict.json")
        for note in v.get("notes", []):
            lines.append(f"  note: {note}")
    c = doc.get("conflicts")
    if c:
        rej = c["certification_rejects"]
        lines.append(
            f"conflicts (peer-to-peer): {rej['count']} of {rej['of_writes']} writes refused by "
            f"certification; lost updates {c['lost_updates']['count']}, G-single "
            f"{c['g_single']['count']}, G2 {c['g2']['count']}, lost acknowledged writes "
            f"{c['lost_acknowledged_writes']['count']}"
        )
    for e in run.get("errors", []):
        lines.append(f"warning: {e}")
    lines.append(f"results: {run_dir}")
    return "\n".join(lines) + "\n"


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def _write_reports(run_dir: Path, echo: Echo) -> None:
    try:
        from harness.report.junit import write_run_junit
        from harness.report.run_report import write_report
    except ImportError:
        return
    for name, fn in (("report.html", write_report), ("junit.xml", write_run_junit)):
        try:
            fn(run_dir)
        except Exception as e:  # the verdict is already on disk; a report bug must not hide it
            echo(f"warning: could not write {name}: {type(e).__name__}: {e}")
