"""Shrink on a real 3-node PostgreSQL cluster in namespaces (issue 27's target): the
README's main job shape (async replication; partition, kill and an isolating failover,
45 s) shows lost writes; `shrink` must hand back a single fault in at most 20 s of workload
that still loses writes at its threshold, and its one printed command must show them again.

Slow (about 15-25 runs of a real cluster, 13 min here): marked `long`, so the test command
(and CI) leave it out; `python -m pytest -m long` runs it. Run it alone on the machine."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness.cli_run import run as run_cmd
from harness.cli_spec import spec_from
from harness.hunting.candidates import Limits, steps_of
from harness.hunting.hunt import HuntConfig, hunt
from harness.hunting.shrink import ShrinkConfig, shrink
from harness.hunting.stats import Acceptance, Budget
from harness.hunting.targets import Target
from harness.plan import check_spec
from harness.runner import run
from harness.spec import TestSpec
from tests.integration.runs import needs_root

pytestmark = [
    pytest.mark.integration,
    pytest.mark.long,  # 13 min (773 s on 2026-12-06): `python -m pytest -m long`
    needs_root,
    pytest.mark.timeout(3600),
]

MAIN_JOB = TestSpec(
    db="postgres", mode="async", workload="set", nemesis=("partition", "kill", "failover"),
    time_limit=45, concurrency=10, seed=7, fault_interval=6, op_timeout=3, recovery_timeout=60,
    options={"failover_how": "isolate"},
)  # fmt: skip
LOST = Target(("lost-write",))


def run_fn(spec: TestSpec, root: Path) -> object:
    return run(spec, root, echo=lambda s: None, progress=False)


def test_the_main_jobs_lost_writes_shrink_to_one_fault_in_20_s(tmp_path: Path) -> None:
    found = hunt(MAIN_JOB, tmp_path, run_fn, HuntConfig(LOST, Budget(max_runs=3)), echo=print)
    assert found.first is not None and found.first.dir, found.text()

    acceptance = Acceptance.at(3, 0.34)  # kept at 2 of 3
    config = ShrinkConfig(
        acceptance, Budget(max_runs=30, max_seconds=45 * 60), confirm=3,
        limits=Limits(2.0, 1.0, 2.0, 2.0, 5.0), validate=check_spec,
    )  # fmt: skip
    r = shrink(Path(found.first.dir), tmp_path, run_fn, config, echo=print)
    print(r.text())
    assert not r.interrupted
    steps = steps_of(r.final)
    assert len(steps) == 1, r.final.schedule
    assert r.final.time_limit <= 20
    assert r.rate.n == 3 and r.rate.k >= acceptance.need, r.rate  # lost writes at the threshold
    for s in r.kept:
        assert sum(t.hit for t in s.tries) >= acceptance.need, s.what

    # the printed line, read back by run's own flags, is the shrunk spec; one re-run shows it
    words = shlex.split(r.command)
    assert words[:2] == ["splitbrain", "run"]
    again = spec_from(run_cmd.make_context("run", words[2:]).params)
    assert again.schedule == r.final.schedule and again.time_limit == r.final.time_limit
    rerun = run(again, tmp_path / "again", echo=lambda s: None, progress=False)
    assert LOST.hit(rerun.doc), rerun.doc["checkers"]["set"]["counts"]
