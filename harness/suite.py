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
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import SpecError
from harness.report.junit import Case, anomaly_summary, write_suite_junit
from harness.report.results import anomaly_types
from harness.spec import TestSpec

RunFn = Callable[[TestSpec, Path], Path]
Echo = Callable[[str], None]
DbCheck = Callable[[TestSpec], None]

SPEC_FIELDS = {f.name: f for f in dataclasses.fields(TestSpec)}
CASE_KEYS = {"name", "expect", "allow_unknown", "matrix"}
TOP_KEYS = {"name", "description", "defaults", "cases"}
_FLAG_FIELD = {"time": "time_limit"}  # TestSpec errors name CLI flags; suites name fields


class SuiteError(SpecError):
    """A suite file problem, in one line naming the file, the case and the field."""


@dataclass(frozen=True)
class Expect:
    anomalies: frozenset[str] = frozenset()  # must appear; empty (and no `may`) = valid
    may: frozenset[str] = frozenset()  # may appear or not without being a surprise

    @property
    def allowed(self) -> frozenset[str]:
        return self.anomalies | self.may

    def __str__(self) -> str:
        must = ", ".join(sorted(self.anomalies)) if self.anomalies else "valid"
        return must + (f" (may: {', '.join(sorted(self.may))})" if self.may else "")


@dataclass(frozen=True)
class SuiteCase:
    name: str
    spec: TestSpec
    expect: Expect
    allow_unknown: bool = False


@dataclass
class CaseResult:
    case: SuiteCase
    outcome: str  # pass | fail | error
    run_dir: Path | None = None
    valid: Any = None
    found: dict[str, int] = field(default_factory=dict)
    surprises: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def observed(self) -> str:
        if self.outcome == "error" and self.run_dir is None:
            return "error"
        if self.found:
            return ", ".join(f"{t} x{n}" for t, n in sorted(self.found.items()))
        return {True: "valid", False: "invalid", "unknown": "unknown"}.get(
            self.valid, str(self.valid)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.case.name,
            "spec": self.case.spec.to_dict(),
            "expect": sorted(self.case.expect.anomalies) or "valid",
            "allow_unknown": self.case.allow_unknown,
            "outcome": self.outcome,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "valid": self.valid,
            "anomalies": self.found,
            "surprises": self.surprises,
            "duration_s": round(self.duration_s, 2),
        }


@dataclass
class Suite:
    name: str
    path: Path
    cases: list[SuiteCase]
    description: str = ""


@dataclass
class SuiteResult:
    suite: Suite
    dir: Path
    results: list[CaseResult]

    @property
    def passed(self) -> bool:
        return all(r.outcome == "pass" for r in self.results)

    def counts(self) -> dict[str, int]:
        return {k: sum(r.outcome == k for r in self.results) for k in ("pass", "fail", "error")}


# ---------------------------------------------------------------- loading and validation


def load_suite(path: Path, seed: int | None = None, db_check: DbCheck | None = None) -> Suite:
    """Parse and validate every case before anything runs; errors are one SuiteError line."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise SuiteError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SuiteError(f"{path}:{where} not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(doc, dict):
        raise SuiteError(f"{path}: a suite is a mapping with 'cases' (and optional name, defaults)")
    _no_unknown(doc, TOP_KEYS, f"{path}: top level")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SuiteError(f"{path}: defaults must be a mapping")
    _no_unknown(
        defaults,
        (set(SPEC_FIELDS) - {"name"}) | {"allow_unknown", "matrix", "expect"},
        f"{path}: defaults",
    )
    raw_cases = doc.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise SuiteError(f"{path}: 'cases' must be a non-empty list")
    name = str(doc.get("name") or path.stem)
    cases: list[SuiteCase] = []
    seen: set[str] = set()
    for n, raw in enumerate(raw_cases, start=1):
        where = f"{path}: case {n}"
        if not isinstance(raw, dict):
            raise SuiteError(f"{where}: must be a mapping of spec fields plus expect")
        if raw.get("name"):
            where = f"{path}: case {raw['name']!r}"
        for case in _expand(raw, defaults, where, seed):
            if case.name in seen:
                raise SuiteError(
                    f"{where}: name {case.name!r} is used twice (give cases distinct names)"
                )
            seen.add(case.name)
            if db_check is not None:
                try:
                    db_check(case.spec)
                except SpecError as e:
                    raise SuiteError(f"{where}: {_field_message(str(e))}") from None
            cases.append(case)
    return Suite(name, path, cases, str(doc.get("description") or ""))


def _no_unknown(d: dict[str, Any], known: set[str], where: str) -> None:
    for key in d:
        if key not in known:
            raise SuiteError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")


def _expand(
    raw: dict[str, Any], defaults: dict[str, Any], where: str, seed: int | None
) -> list[SuiteCase]:
    _no_unknown(raw, (set(SPEC_FIELDS) - {"name"}) | CASE_KEYS, where)
    merged = {k: v for k, v in defaults.items() if k not in ("matrix",)}
    merged.update({k: v for k, v in raw.items() if k not in ("matrix", "options")})
    merged["options"] = {**(defaults.get("options") or {}), **(raw.get("options") or {})}
    if "expect" not in merged:
        raise SuiteError(
            f"{where}: expect: missing (write `expect: valid` or `expect: {{anomalies: [...]}}`)"
        )
    expect = _expect(merged.pop("expect"), where)
    allow_unknown = merged.pop("allow_unknown", False)
    if not isinstance(allow_unknown, bool):
        raise SuiteError(f"{where}: allow_unknown: must be true or false, got {allow_unknown!r}")
    base_name = str(merged.pop("name", "") or "")
    matrix = {
        **_matrix(defaults.get("matrix"), f"{where}: defaults.matrix"),
        **_matrix(raw.get("matrix"), f"{where}: matrix"),
    }
    if seed is not None:
        matrix.pop("seed", None)
        merged["seed"] = seed
    axes = list(matrix)
    out = []
    for combo in itertools.product(*(matrix[a] for a in axes)) if axes else [()]:
        values = dict(merged)
        values["options"] = dict(merged["options"])
        for axis, v in zip(axes, combo, strict=True):
            if axis.startswith("options."):
                values["options"][axis[len("options.") :]] = v
            else:
                values[axis] = v
        varying = [
            (a.removeprefix("options."), v)
            for a, v in zip(axes, combo, strict=True)
            if len(matrix[a]) > 1
        ]
        spec = _spec(
            values, where + (f" ({', '.join(f'{a}={v}' for a, v in varying)})" if varying else "")
        )
        name = base_name or spec.name
        name += "".join(f"-{a}{_flat(v)}" for a, v in varying)
        name = re.sub(r"[^A-Za-z0-9_+.-]", "_", name)
        out.append(SuiteCase(name, spec.replace(name=name), expect, allow_unknown))
    return out


def _flat(v: Any) -> str:
    return "+".join(map(str, v)) if isinstance(v, list | tuple) else str(v)


def _matrix(m: Any, where: str) -> dict[str, list[Any]]:
    if m is None:
        return {}
    if not isinstance(m, dict):
        raise SuiteError(f"{where}: must map a spec field to a list of values")
    for axis, values in m.items():
        if axis not in SPEC_FIELDS and not str(axis).startswith("options."):
            raise SuiteError(f"{where}: unknown axis {axis!r} (a spec field or options.<knob>)")
        if axis == "name":
            raise SuiteError(f"{where}: name cannot be a matrix axis")
        if not isinstance(values, list) or not values:
            raise SuiteError(f"{where}: {axis}: must be a non-empty list of values")
    return dict(m)


def _expect(v: Any, where: str) -> Expect:
    if v == "valid":
        return Expect()
    if isinstance(v, dict) and v and set(v) <= {"anomalies", "may"}:
        must, may = v.get("anomalies", []), v.get("may", [])
        if all(
            isinstance(t, list) and all(isinstance(x, str) for x in t) for t in (must, may)
        ) and (must or may):
            return Expect(frozenset(must), frozenset(may))
    raise SuiteError(
        f"{where}: expect: must be `valid` or `{{anomalies: [type, ...], may: [type, ...]}}`, got {v!r}"
    )


def _spec(values: dict[str, Any], where: str) -> TestSpec:
    for key, v in values.items():
        problem = _type_problem(key, v)
        if problem:
            raise SuiteError(f"{where}: {key}: {problem}")
    try:
        return TestSpec.from_dict(values)
    except SpecError as e:
        raise SuiteError(f"{where}: {_field_message(str(e))}") from None


def _type_problem(key: str, v: Any) -> str | None:
    default = SPEC_FIELDS[key].default
    if default is dataclasses.MISSING:  # options: a factory
        return None if isinstance(v, dict) else f"must be a mapping, got {v!r}"
    if isinstance(default, bool) or isinstance(v, bool):
        return None if type(v) is type(default) else f"must be {type(default).__name__}, got {v!r}"
    if isinstance(default, float):
        return None if isinstance(v, int | float) else f"must be a number, got {v!r}"
    if isinstance(default, int):
        return None if isinstance(v, int) else f"must be an integer, got {v!r}"
    if isinstance(default, tuple):
        ok = (
            v is None
            or isinstance(v, str)
            or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        )
        return None if ok else f"must be a list of names, got {v!r}"
    if isinstance(default, str):
        return None if isinstance(v, str) else f"must be a string, got {v!r}"
    return None


def _field_message(msg: str) -> str:
    """'--read-from 'x' is not one of...' -> 'read_from: 'x' is not one of...'"""
    m = re.match(r"--([a-z-]+) ?(.*)", msg)
    if not m:
        return msg
    flag = m.group(1)
    return f"{_FLAG_FIELD.get(flag, flag.replace('-', '_'))}: {m.group(2)}"


def database_check(spec: TestSpec) -> None:
    """Everything a run refuses before it starts: the database's mode, workload and faults,
    declared options and their values, and whether the schedule fits every fault."""
    from harness.plan import check_spec

    check_spec(spec)


# ---------------------------------------------------------------- judging a run


def judge(case: SuiteCase, doc: dict[str, Any]) -> tuple[str, list[str], dict[str, int]]:
    """(outcome, surprises, anomaly counts) of one run's verdict.json against the case."""
    run = doc.get("run") or {}
    found = anomaly_types(doc)
    surprises = []
    if run.get("aborted"):
        return "error", [f"run aborted: {run['aborted']}"], found
    unexpected = sorted(set(found) - case.expect.allowed)
    missing = sorted(case.expect.anomalies - set(found))
    if unexpected:
        surprises.append("unexpected " + ", ".join(f"{t} x{found[t]}" for t in unexpected))
    if missing:
        surprises.append("expected but not found: " + ", ".join(missing))
    faults = run.get("faults")
    if faults is not None:  # older runs did not record which faults took effect
        done = set(faults.get("done") or [])
        never = [f for f in case.spec.nemesis if f not in done]
        if never:
            surprises.append("requested fault(s) never took effect: " + ", ".join(never))
    for reason in run.get("unknown_because") or []:
        surprises.append(reason)
    valid = doc.get("valid")
    if valid == "unknown" and not case.allow_unknown:
        unknown = [n for n, v in (doc.get("checkers") or {}).items() if v.get("valid") == "unknown"]
        surprises.append(f"unknown verdict ({', '.join(unknown) or 'no checker result'})")
    if valid is False and not found and not case.expect.allowed:
        surprises.append("invalid, without a listed anomaly")
    return ("fail" if surprises else "pass"), surprises, found


def junit_cases(suite: str, r: CaseResult) -> list[Case]:
    """Per run: a case per checker (failure = anomaly types the suite did not expect), and
    an `expectation` case (failure = an expected anomaly type that no checker found)."""
    cls = f"splitbrain.{suite}.{r.case.name}"
    if r.run_dir is None or (r.doc.get("run") or {}).get("aborted"):
        return [Case(cls, "run", "error", "; ".join(r.surprises) or "run error", time=r.duration_s)]
    cases = []
    for name, v in (r.doc.get("checkers") or {}).items():
        c = Case(cls, name, time=r.duration_s)
        types = {a["type"] for a in v.get("anomalies", []) or []} | set(v.get("counts") or {})
        unexpected = sorted(types - r.case.expect.allowed)
        if v.get("valid") == "unknown":
            notes = "; ".join(map(str, v.get("notes", []) or [])) or "no reason given"
            c.outcome = "skipped" if r.case.allow_unknown else "error"
            c.message = f"unknown ({notes})" + (
                " (allowed by allow_unknown)" if r.case.allow_unknown else ""
            )
        elif unexpected or (v.get("valid") is False and not types and not r.case.expect.allowed):
            c.outcome = "failure"
            summary, c.text = anomaly_summary(v)
            c.message = f"not expected by the suite: {', '.join(unexpected) or summary}"
        cases.append(c)
    missing = sorted(r.case.expect.anomalies - set(r.found))
    exp = Case(cls, "expectation", time=0.0)
    if missing:
        exp.outcome, exp.message = "failure", f"expected but not found: {', '.join(missing)}"
    cases.append(exp)
    return cases


# ---------------------------------------------------------------- running


def run_suite(
    path: Path,
    results_root: Path,
    run_fn: RunFn,
    echo: Echo = print,
    *,
    seed: int | None = None,
    db_check: DbCheck | None = database_check,
) -> SuiteResult:
    """Validate every case, then run them one after another, printing a row per case."""
    suite = load_suite(path, seed=seed, db_check=db_check)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
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
