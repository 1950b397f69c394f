"""Suites: a YAML matrix of test cases, each with the verdict it is expected to reach.

A case fails only on a surprise: an anomaly type it did not expect, an expected one missing,
an unknown verdict (unless `allow_unknown: true`), or a run that did not complete. So a suite
documents what each database does under each fault ("postgres async loses writes on
failover") and goes red when that changes either way.

    name: quick
    defaults: {provider: local, time_limit: 30, matrix: {seed: [1, 2]}}
    cases:
      - name: pg-async-failover
        db: postgres
        mode: async
        nemesis: [failover]
        expect: {anomalies: [lost-write]}
        matrix: {options.synchronous_commit: ["on", "local"]}   # optional, any spec field
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.report.junit import write_suite_junit
from harness.spec import TestSpec
from harness.suite_judge import judge, junit_cases
from harness.suite_load import DbCheck, database_check, groups, load_suite, select
from harness.suite_model import CaseResult, Expect, Suite, SuiteCase, SuiteError, SuiteResult

__all__ = [
    "CaseResult", "Expect", "Suite", "SuiteCase", "SuiteError", "SuiteResult",
    "database_check", "judge", "junit_cases", "load_suite", "run_suite",
]  # fmt: skip

RunFn = Callable[[TestSpec, Path], Path]
Echo = Callable[[str], None]


# ---------------------------------------------------------------- running


def run_suite(
    path: Path,
    results_root: Path,
    run_fn: RunFn,
    echo: Echo = print,
    *,
    seed: int | None = None,
    db_check: DbCheck | None = database_check,
    cases: list[str] | None = None,
) -> SuiteResult:
    """Validate every case, then run them (or the named ones: `cases`, harness.suite_load.
    select) one after another, printing a row per case."""
    suite = load_suite(path, seed=seed, db_check=db_check)
    if cases:
        suite = dataclasses.replace(suite, cases=select(suite, cases))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if cases:  # cases run apart are gathered into one folder later: their names keep them apart
        stamp += "-" + re.sub(r"[^A-Za-z0-9_+.-]", "_", "+".join(cases))[:80]
    out = Path(results_root) / "suites" / suite.name / stamp
    n = 1
    while out.exists():
        n += 1
        out = out.with_name(f"{stamp}-{n}")
    out.mkdir(parents=True)
    result = SuiteResult(suite, out, [])
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    width = max(len(c.name) for c in suite.cases)
    echo(f"suite {suite.name}: {len(suite.cases)} cases -> {out}")
    echo(_row("#", "case", "expected", "observed", "result", "time", width))
    for i, case in enumerate(suite.cases, start=1):
        r = _run_case(case, results_root, run_fn)
        result.results.append(r)
        echo(
            _row(
                f"{i}/{len(suite.cases)}",
                case.name,
                str(case.expect),
                r.observed,
                r.outcome.upper(),
                f"{r.duration_s:.0f}s",
                width,
            )
        )
        for s in r.surprises:
            echo(f"{'':>7}  surprise: {s}")
        _write_outputs(result, started)  # after every case: a crash mid-suite keeps the rest
    c = result.counts()
    echo(
        f"suite {suite.name}: {'PASSED' if result.passed else 'FAILED'} "
        f"({c['pass']} pass, {c['fail']} fail, {c['error']} error) -> {out}"
    )
    return result


def listing(path: Path, as_json: bool) -> str:
    """The suite's cases as its file names them: one line each, or a JSON array of
    {case, runs, db, provider, minutes} (a CI matrix: one job per case)."""
    suite = load_suite(path)
    rows: list[dict[str, Any]] = []
    for g in groups(suite):
        runs = [c for c in suite.cases if (c.group or c.name) == g]
        s = runs[0].spec
        # the runs, with set-up, recovery and teardown (about 2 minutes each) around them
        minutes = sum(r.spec.time_limit for r in runs) / 60 + 2 * len(runs)
        rows.append({"case": g, "runs": len(runs), "db": s.db, "provider": s.provider,
                     "minutes": round(minutes)})  # fmt: skip
    if as_json:
        return json.dumps(rows)
    width = max(len(r["case"]) for r in rows)
    return "\n".join(
        f"{r['case']:<{width}}  {r['runs']} run(s)  {r['db']} on {r['provider']}, "
        f"~{r['minutes']} min"
        for r in rows
    )


def merged(path: Path, root: Path, echo: Echo = print) -> SuiteResult:
    """The gathered results of a suite run apart (harness.suite_merge), one row per run."""
    from harness.suite_merge import merge

    result = merge(path, root)
    width = max(len(r.case.name) for r in result.results)
    echo(_row("#", "case", "expected", "observed", "result", "time", width))
    for i, r in enumerate(result.results, start=1):
        echo(_row(str(i), r.case.name, str(r.case.expect), r.observed, r.outcome.upper(),
                  f"{r.duration_s:.0f}s", width))  # fmt: skip
        for s in r.surprises:
            echo(f"{'':>7}  surprise: {s}")
    c = result.counts()
    echo(
        f"suite {result.suite.name}: {'PASSED' if result.passed else 'FAILED'} "
        f"({c['pass']} pass, {c['fail']} fail, {c['error']} error) -> {result.dir}"
    )
    return result


def _run_case(case: SuiteCase, results_root: Path, run_fn: RunFn) -> CaseResult:
    t = time.monotonic()
    try:
        run_dir = Path(run_fn(case.spec, Path(results_root)))
    except Exception as e:  # one broken case must not stop the suite; it is reported as error
        return CaseResult(
            case, "error", surprises=[f"{type(e).__name__}: {e}"], duration_s=time.monotonic() - t
        )
    elapsed = time.monotonic() - t
    try:
        doc = json.loads((run_dir / "verdict.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        return CaseResult(
            case, "error", run_dir, surprises=[f"no readable verdict.json: {e}"], duration_s=elapsed
        )
    outcome, surprises, found = judge(case, doc)
    return CaseResult(case, outcome, run_dir, doc.get("valid"), found, surprises, elapsed, doc)


def _row(num: str, name: str, expect: str, observed: str, result: str, dur: str, width: int) -> str:
    return (
        f"{num:>7}  {name:<{width}}  {expect[:28]:<28}  {observed[:34]:<34}  {result:<6} {dur:>6}"
    )


def _write_outputs(result: SuiteResult, started: str) -> None:
    suite, out = result.suite, result.dir
    doc = {
        "suite": suite.name,
        "file": str(suite.path),
        "description": suite.description,
        "started": started,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cases_planned": len(suite.cases),
        "passed": result.passed and len(result.results) == len(suite.cases),
        "counts": result.counts(),
        "cases": [r.to_dict() for r in result.results],
    }
    (out / "summary.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    width = max(len(c.name) for c in suite.cases)
    lines = [
        f"suite {suite.name} ({suite.path}), started {started}",
        _row("#", "case", "expected", "observed", "result", "time", width),
    ]
    for i, r in enumerate(result.results, start=1):
        lines.append(
            _row(
                str(i),
                r.case.name,
                str(r.case.expect),
                r.observed,
                r.outcome.upper(),
                f"{r.duration_s:.0f}s",
                width,
            )
        )
        lines += [f"{'':>7}  surprise: {s}" for s in r.surprises]
        if r.run_dir:
            lines.append(f"{'':>7}  {r.run_dir}")
    c = result.counts()
    lines.append(
        f"{'PASSED' if doc['passed'] else 'FAILED'}: {c['pass']} pass, {c['fail']} fail, "
        f"{c['error']} error of {len(suite.cases)}"
    )
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    cases = [c for r in result.results for c in junit_cases(suite.name, r)]
    write_suite_junit(out / "junit.xml", f"splitbrain.{suite.name}", cases)
