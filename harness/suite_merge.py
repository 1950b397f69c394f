"""One suite run spread over many machines, gathered again: `splitbrain suite FILE --merge
RESULTS`. Each machine ran some of the suite's cases (`--case NAME`) and left their results
folder; gathered into RESULTS, every suites/<name>/*/summary.json is read, each planned run
is matched with its outcome, and one summary and one JUnit file are written for the whole
suite. A planned run that no machine reported (its machine crashed, or never started) is an
error, never a pass: the merged suite passes only when every planned run passed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from harness.report.junit import write_suite_junit
from harness.suite_judge import junit_cases
from harness.suite_load import load_suite
from harness.suite_model import CaseResult, Suite, SuiteResult


def _run_dir(recorded: str | None, root: Path) -> Path | None:
    """A run folder as recorded on its machine, found again under the gathered root (the
    machine's results root was `results/...`, relative, or an absolute path)."""
    if not recorded:
        return None
    p = Path(recorded)
    if (root / p).is_dir():
        return root / p
    for k in range(1, len(p.parts)):  # drop the machine's own results-root prefix
        cand = root.joinpath(*p.parts[k:])
        if cand.is_dir():
            return cand
    return p if p.is_dir() else None


def reported(suite: Suite, root: Path) -> dict[str, dict[str, Any]]:
    """Run name -> its case dict from every summary.json of this suite under root (the last
    one written wins when a run was repeated)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for f in sorted(root.rglob(f"suites/{suite.name}/*/summary.json")):
        try:
            doc = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        for c in doc.get("cases") or []:
            stamp = str(doc.get("finished") or "")
            if c.get("name") and (c["name"] not in out or out[c["name"]][0] <= stamp):
                out[c["name"]] = (stamp, c)
    return {k: v for k, (_, v) in out.items()}


def merge(path: Path, root: Path) -> SuiteResult:
    suite = load_suite(path)
    got = reported(suite, root)
    out = root / "suites" / suite.name / "merged"
    out.mkdir(parents=True, exist_ok=True)
    result = SuiteResult(suite, out, [])
    for case in suite.cases:
        c = got.get(case.name)
        if c is None:
            result.results.append(CaseResult(case, "error", surprises=["no result: its cell never reported"]))
            continue
        run_dir = _run_dir(c.get("run_dir"), root)
        outcome, surprises = str(c.get("outcome") or "error"), list(c.get("surprises") or [])
        doc: dict[str, Any] = {}
        if run_dir is not None and (run_dir / "verdict.json").is_file():
            doc = json.loads((run_dir / "verdict.json").read_text())
        elif c.get("run_dir"):  # reported, but its evidence was not gathered: not a pass
            outcome = "error"
            surprises.append(f"its run folder {c['run_dir']} is not among the gathered results")
            run_dir = None
        result.results.append(
            CaseResult(case, outcome, run_dir, c.get("valid"), dict(c.get("anomalies") or {}),
                       surprises, float(c.get("duration_s") or 0.0), doc)  # fmt: skip
        )
    doc_out = {
        "suite": suite.name,
        "file": str(suite.path),
        "merged": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cases_planned": len(suite.cases),
        "passed": result.passed,
        "counts": result.counts(),
        "cases": [r.to_dict() for r in result.results],
    }
    (out / "summary.json").write_text(json.dumps(doc_out, indent=1, default=str) + "\n")
    cases = [jc for r in result.results for jc in junit_cases(suite.name, r)]
    write_suite_junit(out / "junit.xml", f"splitbrain.{suite.name}", cases)
    return result
