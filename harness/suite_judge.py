"""Judging a run against its case: a case fails only on a surprise."""

from __future__ import annotations

from typing import Any

from harness.report.junit import Case, anomaly_summary
from harness.report.results import anomaly_types
from harness.suite_model import CaseResult, SuiteCase

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
        done = set(faults.get("began") or faults.get("done") or [])
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
