"""Known answers on a real 3-node Cassandra 5.0 ring (one JVM per node, in network namespaces),
each a seeded run through harness.runner.run, and the failure path of a ring that cannot form.

Needs root, java and the jars (python3 -m harness.install.maven). Run by hand under the lock:
    flock /work/cluster.lock python -m pytest -q -m integration tests/integration/test_cassandra.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ClusterError
from harness.history import Op
from harness.providers import local
from harness.runner import run
from harness.spec import TestSpec
from tests.conftest import _our_leftover_namespaces
from tests.integration.runs import needs_cassandra, needs_root, run_spec

pytestmark = [
    pytest.mark.integration,
    needs_root,
    needs_cassandra,
]

SUBNET = os.environ.get("SPLITBRAIN_TEST_SUBNET", "198.18.0.0/24")
BASE: dict[str, Any] = dict(
    db="cassandra",
    workload="set",
    subnet=SUBNET,
    nemesis=(),
    concurrency=10,
    seed=1,
    time_limit=20,
    fault_interval=10,
    op_timeout=5,
    recovery_timeout=90,
)


def _run(tmp_path: Path, **changes: Any) -> tuple[dict, list[Op]]:
    doc, history, _ = run_spec(tmp_path, {**BASE, **changes}, recovered=True)
    return doc, history


def _no_jvms_left() -> None:
    ps = subprocess.run(["pgrep", "-u", "cassandra", "-f", "CassandraDaemon"], capture_output=True)
    assert ps.returncode == 1, f"JVMs left behind: {ps.stdout!r}"


def test_quorum_writes_and_reads_without_faults_are_valid(tmp_path: Path) -> None:
    doc, history = _run(tmp_path, mode="quorum")
    s = doc["checkers"]["set"]
    assert doc["valid"] is True, s
    assert s["stats"]["lost"] == 0 and s["stats"]["stale_reads"] == 0
    oks = [o for o in history if o.type == "ok" and o.f == "add"]
    assert len(oks) > 500  # the ring really served writes
    # Each worker's coordinator is recorded on its completions: all three nodes coordinated.
    assert {o.node for o in oks} == {"n1", "n2", "n3"}
    _no_jvms_left()


def test_one_one_with_a_node_isolated_reads_stale(tmp_path: Path) -> None:
    doc, history = _run(
        tmp_path,
        mode="one",
        nemesis=("partition",),
        partition=("isolate-one",),
        time_limit=30,
        fault_interval=10,
    )
    s = doc["checkers"]["set"]
    assert doc["valid"] is False, s
    assert s["stats"]["stale_reads"] > 0, s["stats"]
    _no_jvms_left()


def test_a_ring_that_cannot_start_is_a_cluster_error_naming_the_log(tmp_path: Path) -> None:
    # 16 MB of heap cannot hold Cassandra: the seed dies during start.
    spec = TestSpec(**{**BASE, "options": {"heap": "16M"}})
    with pytest.raises(ClusterError) as e:
        run(spec, tmp_path, echo=lambda s: None, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "cassandra: n1" in msg, msg
    _no_jvms_left()
    assert _our_leftover_namespaces() == []


def test_lwt_register_without_faults_is_linearizable(tmp_path: Path) -> None:
    doc, history = _run(
        tmp_path, workload="register", time_limit=15, concurrency=6, options={"lwt": True}
    )
    lin = doc["checkers"]["linearizable"]
    assert doc["valid"] is True, lin
    cas_ok = [o for o in history if o.type == "ok" and o.f == "cas"]
    assert cas_ok, "no cas succeeded: the LWT path was not exercised"
    _no_jvms_left()


CRASHING_HARNESS = """
import secrets, sys, time
from harness.db.cassandra import Cassandra, initial_tokens
from harness.providers import local
from harness.spec import TestSpec
spec = TestSpec(db="cassandra", nemesis=(), subnet=sys.argv[1])
db = Cassandra(spec)
run_id = secrets.token_hex(3)
cluster = local.create(spec, run_id, db.deployment)
argv = db._configure(cluster, "n1", [cluster.peer_address("n1")], initial_tokens(3)[0])
cluster.spawn("n1", argv, user=db.deployment.user, log=db._log(cluster, "n1"))
print(run_id, flush=True)
time.sleep(600)
"""


def test_cleanup_finds_and_kills_the_jvms_of_a_crashed_run() -> None:
    harness = subprocess.Popen(
        [sys.executable, "-c", CRASHING_HARNESS, SUBNET],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    run_id = ""
    try:
        assert harness.stdout is not None
        run_id = harness.stdout.readline().strip()
        assert len(run_id) == 6, run_id
        time.sleep(3)  # the JVM is up (starting)
        ps = subprocess.run(
            ["pgrep", "-u", "cassandra", "-f", "CassandraDaemon"], capture_output=True
        )
        assert ps.returncode == 0, "the crashing harness started no JVM"
    finally:
        harness.kill()  # SIGKILL: no teardown, as in a crash
        harness.wait()
    leftovers = local.find_leftovers()
    ns = f"sb-{run_id}-n1"
    assert any(line.startswith(f"namespace {ns} (") for line in leftovers), leftovers
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "cleanup"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert re.search(rf"removed namespace {ns} \(killed \d+ processes, all gone\)", r.stdout), (
        r.stdout
    )
    _no_jvms_left()
    assert not [line for line in local.find_leftovers() if run_id in line]


def test_lwt_register_under_partitions_and_kills_stays_linearizable(tmp_path: Path) -> None:
    # Measured over seeds 1-3 (docs/cassandra.md): linearizable every time, with 103-125 cas
    # applied and 47-50 indeterminate ops per run. A violation here is a finding: re-run
    # other seeds and read the ops before believing it.
    doc, history = _run(
        tmp_path,
        workload="register",
        nemesis=("partition", "kill"),
        partition=("isolate-one", "halves"),
        time_limit=30,
        fault_interval=6,
        concurrency=6,
        options={"lwt": True},
    )
    lin = doc["checkers"]["linearizable"]
    assert sorted(doc["run"]["faults"]["began"]) == ["kill", "partition"], doc["run"]["faults"]
    assert not doc["run"].get("unknown_because"), doc["run"]
    assert lin["valid"] is True, lin
    assert lin["stats"]["indeterminate"] > 0  # the faults did leave ops in doubt
    assert [o for o in history if o.type == "ok" and o.f == "cas"], "no cas was applied"
    _no_jvms_left()
