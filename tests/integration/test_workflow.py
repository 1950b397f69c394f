"""The nightly workflow, proven here rather than linted: every job's `run:` steps executed in
order inside privileged containers of a Debian 12 image under the local Docker engine
(tests/workflow_runner.py), on a two-case suite of real PostgreSQL runs. The list job's
output makes the matrix; each case job installs only what its case needs and runs it; the
report job gathers both cells' results into one comparison page and one JUnit report.

The `uses:` steps cannot run here (no GitHub): checkout is the mounted copy of this tree,
upload- and download-artifact are copies through a local artifacts folder, and
action-junit-report is checked by the JUnit files it would publish. The image is
splitbrain/debian:bookworm (Debian 12 from Debian's packages, debootstrap minbase), the
stand-in for debian:bookworm, which no registry gives here."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.workflow_runner import WorkflowRun

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
SUITE = "tests/data/workflow/suite.yaml"

pytestmark = [pytest.mark.workflow]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from harness.errors import EnvironmentProblem
    from harness.providers.compose_engine import connect

    try:
        c = connect(timeout=3)
    except EnvironmentProblem as e:
        if os.environ.get("SPLITBRAIN_REQUIRE_COMPOSE") == "1":
            pytest.fail(f"SPLITBRAIN_REQUIRE_COMPOSE=1 but {e}")
        pytest.skip(str(e))
    yield c
    # every job container goes, also when a job failed or the test was interrupted
    for leftover in c.containers.list(
        all=True, filters={"label": "splitbrain.owner=workflow-test"}
    ):
        leftover.remove(force=True)


HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
INSIDE_CA = "/etc/splitbrain-host-ca.crt"


def _this_machine() -> tuple[dict[str, str], dict[str, str]]:
    """What the job containers take from this machine: its pip and apt downloads (so the
    jobs do not repeat them), and, where its network re-signs TLS with a CA of its own (this
    sandbox's egress does), that CA for pip: a GitHub runner needs neither."""
    mounts: dict[str, str] = {}
    for host in ("/root/.cache/pip", "/var/cache/apt/archives"):
        if Path(host).is_dir():
            mounts[host] = host
    env: dict[str, str] = {}
    if os.environ.get("PIP_CERT") and HOST_CA.is_file():
        mounts[str(HOST_CA)] = INSIDE_CA
        env = {"PIP_CERT": INSIDE_CA, "REQUESTS_CA_BUNDLE": INSIDE_CA, "SSL_CERT_FILE": INSIDE_CA}
    return mounts, env


def _base(client: Any) -> str:
    from harness import images

    return images.base_image(client, echo=print)


def test_the_nightly_workflow_runs_end_to_end_on_a_two_case_suite(client, tmp_path) -> None:
    base = _base(client)
    mounts, env = _this_machine()
    run = WorkflowRun(WORKFLOW, ROOT, tmp_path, client, {"debian:bookworm": base},
                      {"suite": SUITE}, mounts, machine_env=env)  # fmt: skip
    jobs = run.run()
    steps = [s for j in jobs.values() for s in j.steps]
    failed = [(s.job, s.name, s.output[-1500:]) for s in steps if s.outcome == "failure"]
    assert failed == [], failed

    # the list job's output made the matrix
    cases = json.loads(jobs["list"].outputs["cases"])
    assert [c["case"] for c in cases] == ["pg-async-failover", "pg-no-fault"]
    assert jobs["case"].result == "success" and jobs["report"].result == "success"
    ran = {s.job for s in steps if s.name == "Run the case" and s.kind == "run"}
    assert ran == {"case (pg-async-failover)", "case (pg-no-fault)"}

    # each cell installed only what its case needs, through the one install path
    install = [s for s in steps if s.name == "Install what this case needs"]
    assert len(install) == 2 and all("postgresql-15" in s.output or "apt-get install" in s.output
                                     or s.outcome == "success" for s in install)  # fmt: skip

    # the report job: one comparison page and one JUnit report, with the expected verdicts
    page = run.artifacts / "compare" / "compare.html"
    assert page.is_file() and "primary-replica" in page.read_text().lower()
    merged = list(run.work.glob("jobs/report-*/results/suites/workflow-proof/merged/summary.json"))
    assert len(merged) == 1
    summary = json.loads(merged[0].read_text())
    assert summary["passed"] is True and summary["counts"] == {"pass": 2, "fail": 0, "error": 0}
    by_name = {c["name"]: c for c in summary["cases"]}
    assert "lost-write" in by_name["pg-async-failover"]["anomalies"]
    assert by_name["pg-no-fault"]["valid"] is True
    junit = merged[0].with_name("junit.xml").read_text()
    assert len(re.findall(r"<testcase\b", junit)) >= 4 and "<failure" not in junit
    published = next(s for s in steps if s.name == "Publish the JUnit report")
    assert published.kind == "stood-in" and "1 JUnit files" in published.output
    fail_step = next(s for s in steps if s.name.startswith("Fail when any case missed"))
    assert fail_step.outcome == "skipped"

    # what could not run here is said, not hidden
    stood_in = sorted({s.name for s in steps if s.kind == "stood-in"})
    print("stood in for (uses: actions):", stood_in)
    assert "actions/checkout@v4.2.2" in stood_in
