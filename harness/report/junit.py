"""JUnit XML: one test case per checker of a run, and per run and checker for a suite, so CI
systems show which database/configuration/checker broke."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["passed", "failure", "error", "skipped"]
MAX_DETAIL = 10  # anomalies spelled out in a failure's text; verdict.json has them all


@dataclass
class Case:
    classname: str
    name: str
    outcome: Outcome = "passed"
    message: str = ""
    text: str = ""
    time: float = 0.0


def anomaly_summary(checker: dict[str, Any]) -> tuple[str, str]:
    """('lost-write x3, stale-read x1', one line per anomaly with its explanation)."""
    anomalies = checker.get("anomalies", []) or []
    counts: dict[str, int] = dict(checker.get("counts") or {})
    if not counts:
        for a in anomalies:
            counts[a["type"]] = counts.get(a["type"], 0) + 1
    message = (
        ", ".join(f"{t} x{n}" for t, n in sorted(counts.items())) or "invalid (no anomaly listed)"
    )
    lines = [
        f"{a['type']}: {a.get('explanation', '')} (ops {a.get('ops', [])})"
        for a in anomalies[:MAX_DETAIL]
    ]
    if len(anomalies) > MAX_DETAIL:
        lines.append(f"... {len(anomalies) - MAX_DETAIL} more in verdict.json")
    return message, "\n".join(lines)


def checker_case(classname: str, name: str, checker: dict[str, Any], time: float = 0.0) -> Case:
    """valid -> passed, invalid -> failure with the anomaly summary, unknown -> error: a
    checker that could not decide is not a pass and must not look like one in CI."""
    valid = checker.get("valid")
    case = Case(classname, name, time=time)
    if valid is True:
        return case
    if valid is False:
        case.outcome = "failure"
        case.message, case.text = anomaly_summary(checker)
        return case
    case.outcome = "error"
    notes = "; ".join(map(str, checker.get("notes", []) or [])) or "no reason given"
    case.message = f"unknown: the checker could not decide ({notes})"
    return case


def run_cases(doc: dict[str, Any], classname: str) -> list[Case]:
    run = doc.get("run") or {}
    time = float(run.get("duration_s") or 0.0)
    cases = [
        checker_case(classname, name, v, time) for name, v in (doc.get("checkers") or {}).items()
    ]
    if run.get("aborted") or not cases:
        reason = run.get("aborted") or "verdict.json has no checker result"
        cases.append(Case(classname, "run", "error", f"run aborted: {reason}", time=time))
    return cases


def to_xml(suites: Sequence[tuple[str, Sequence[Case]]]) -> str:
    root = ET.Element("testsuites")
    for suite_name, cases in suites:
        el = ET.SubElement(
            root,
            "testsuite",
            name=suite_name,
            tests=str(len(cases)),
            failures=str(sum(c.outcome == "failure" for c in cases)),
            errors=str(sum(c.outcome == "error" for c in cases)),
            skipped=str(sum(c.outcome == "skipped" for c in cases)),
            time=f"{sum(c.time for c in cases):.3f}",
        )
        for c in cases:
            tc = ET.SubElement(
                el, "testcase", classname=c.classname, name=c.name, time=f"{c.time:.3f}"
            )
            if c.outcome != "passed":
                child = ET.SubElement(tc, c.outcome, message=c.message, type=c.outcome)
                child.text = c.text or None
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_run_junit(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    doc = json.loads((run_dir / "verdict.json").read_text())
    test = str((doc.get("run") or {}).get("test") or run_dir.parent.name)
    out = run_dir / "junit.xml"
    out.write_text(to_xml([(test, run_cases(doc, f"splitbrain.{test}"))]))
    return out


def write_suite_junit(path: Path, suite_name: str, cases: Sequence[Case]) -> Path:
    path = Path(path)
    path.write_text(to_xml([(suite_name, cases)]))
    return path
