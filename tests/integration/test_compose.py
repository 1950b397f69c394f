"""Known answers under the compose provider, on a real Docker engine, with the images the
project builds (`splitbrain images build`): the same assertions as on the local provider.
One known answer per database here (MariaDB's failover too) (with kill and pause on each); the rest under compose
(PostgreSQL sync failover, Cassandra QUORUM without faults) are suites/nightly.yaml cases.

CI runs these (marked `compose`); the engine is started by `python3 -m harness.quickstart
test` when none answers. Without an engine they skip, unless SPLITBRAIN_REQUIRE_COMPOSE=1
(CI sets it), when a missing engine is a failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from harness.history import Op
from tests.integration.evidence import completed_while_paused, pause_windows
from tests.integration.runs import run_spec

ROOT = Path(__file__).resolve().parents[2]


def _engine() -> Any:
    from harness.errors import EnvironmentProblem
    from harness.providers.compose_engine import connect

    try:
        return connect(timeout=3)
    except EnvironmentProblem as e:
        if os.environ.get("SPLITBRAIN_REQUIRE_COMPOSE") == "1":
            pytest.fail(f"SPLITBRAIN_REQUIRE_COMPOSE=1 but {e}")
        pytest.skip(str(e))


pytestmark = [pytest.mark.compose]


@pytest.fixture(scope="module")
def client() -> Any:
    return _engine()


def _image(client: Any, db: str) -> None:
    """The database's image, built if missing (quickstart test builds them beforehand)."""
    from harness import images

    images.build(client, db, echo=lambda s: None)


def _run(tmp_path: Path, **changes: Any) -> tuple[dict, list[Op], Path]:
    base: dict[str, Any] = dict(
        provider="compose", workload="set", concurrency=8, seed=11, time_limit=20,
        fault_interval=6, op_timeout=3, recovery_timeout=90,
    )  # fmt: skip
    return run_spec(tmp_path, {**base, **changes})


def _ours(client: Any) -> list[str]:
    """Containers and networks any splitbrain compose project left."""
    names = [c.name for c in client.containers.list(all=True) if c.name.startswith("sb-")]
    names += [n.name for n in client.networks.list() if n.name.startswith("sb-")]
    return names


def _set(doc: dict) -> dict:
    return doc["checkers"]["set"]


def _faults_observed(doc: dict, history: list[Op], *faults: str) -> None:
    """Every requested fault began, and each start says what was observed."""
    assert not doc["run"].get("unknown_because"), doc["run"]["unknown_because"]
    starts = [o for o in history if o.process == "nemesis" and o.type == "info"
              and o.f.startswith("start-")]  # fmt: skip
    for f in faults:
        mine = [o for o in starts if o.f == f"start-{f}"]
        assert mine and all("observed" in o.value for o in mine), (f, mine)


def test_postgres_async_isolating_failover_loses_acknowledged_writes(client, tmp_path) -> None:
    _image(client, "postgres")
    doc, history, run_dir = _run(
        tmp_path, db="postgres", mode="async", nemesis=("failover",),
        options={"failover_how": "isolate"},
    )  # fmt: skip
    _faults_observed(doc, history, "failover")
    assert doc["valid"] is False
    lost = [a for a in _set(doc)["anomalies"] if a["type"] == "lost-write"]
    assert lost, _set(doc)["counts"]
    by_index = {op.index: op for op in history}
    for a in lost[:20]:  # each lost value was acknowledged by an ok op in the history
        oks = [by_index[i] for i in a["ops"] if by_index[i].type == "ok" and by_index[i].f == "add"]
        assert oks and oks[0].value[1] == a["data"]["value"]
    assert all((run_dir / "logs" / n / "postgres.log").is_file() for n in ("n1", "n2", "n3"))
    assert _ours(client) == []


def test_postgres_kill_and_pause_take_effect_and_a_paused_node_answers_nothing(
    client, tmp_path
) -> None:
    """A paused PostgreSQL node completes no operation inside its pause window: every one of
    its processes stops (its backends too), not only the postmaster."""
    _image(client, "postgres")
    doc, history, _ = _run(
        tmp_path, db="postgres", mode="sync", nemesis=("kill", "pause"), time_limit=30,
        options={"pause_target": "primary", "kill_target": "random"},
    )  # fmt: skip
    _faults_observed(doc, history, "kill", "pause")
    assert pause_windows(history)
    assert completed_while_paused(history) == []
    assert "lost-write" not in _set(doc)["counts"]


def test_mariadb_async_isolating_failover_loses_acknowledged_writes(client, tmp_path) -> None:
    """The same code as on the local provider (tests/integration/test_mariadb.py): the old
    primary, cut off, acknowledges writes the promoted replica never gets; re-cloned, it
    discards them."""
    _image(client, "mariadb")
    doc, history, run_dir = _run(
        tmp_path, db="mariadb", mode="async", nemesis=("failover",), isolation="repeatable-read",
        options={"failover_how": "isolate"},
    )  # fmt: skip
    _faults_observed(doc, history, "failover")
    (start,) = [o for o in history if o.f == "start-failover" and o.type == "info"]
    old = start.value["old_primary"]
    lost = [a for a in _set(doc)["anomalies"] if a["type"] == "lost-write"]
    assert doc["valid"] is False and lost, _set(doc)["counts"]
    by_index = {op.index: op for op in history}
    assert all(by_index[a["ops"][1]].node == old for a in lost)  # acknowledged by the old one
    assert all((run_dir / "logs" / n / "mariadbd.log").is_file() for n in ("n1", "n2", "n3"))
    assert _ours(client) == []


def test_galera_partition_loses_nothing_acknowledged(client, tmp_path) -> None:
    _image(client, "galera")
    doc, history, run_dir = _run(
        tmp_path, db="galera", mode="multi-primary", nemesis=("partition", "kill", "pause"),
        partition=("isolate-one",), concurrency=6, time_limit=35, fault_interval=5,
        options={"pause_target": "random"},
    )  # fmt: skip
    _faults_observed(doc, history, "partition", "kill", "pause")
    assert completed_while_paused(history) == []
    s = _set(doc)
    assert "lost-write" not in s["counts"], s["counts"]
    assert s["stats"]["final_reads"] == 3
    assert (run_dir / "logs" / "n1" / "mariadbd.log").is_file()  # Galera's own error log


def test_cassandra_one_one_with_a_node_isolated_reads_stale_and_kill_pause_take_effect(
    client, tmp_path
) -> None:
    _image(client, "cassandra")
    doc, history, _ = _run(
        tmp_path, db="cassandra", mode="one", nemesis=("partition", "kill", "pause"),
        partition=("isolate-one",), concurrency=10, seed=1, time_limit=42, fault_interval=6,
        op_timeout=5, options={"pause_target": "random"},
    )  # fmt: skip
    _faults_observed(doc, history, "partition", "kill", "pause")
    assert completed_while_paused(history) == []
    s = _set(doc)
    assert doc["valid"] is False, s
    assert s["stats"]["stale_reads"] > 0, s["stats"]
    oks = [o for o in history if o.type == "ok" and o.f == "add"]
    assert len(oks) > 500 and {o.node for o in oks} == {"n1", "n2", "n3"}


def _cli(*args: str, env: dict[str, str] | None = None, **kw: Any) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        **kw,
    )


def test_no_engine_is_one_line_exit_4(tmp_path) -> None:
    r = _cli("run", "--provider", "compose", "--nemesis", "none", "--time", "5", "--results",
             str(tmp_path),
             env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})  # fmt: skip
    assert r.returncode == 4, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in line


def test_a_missing_image_names_the_build_command(client, tmp_path) -> None:
    r = _cli("run", "--db", "postgres", "--provider", "compose", "--nemesis", "none", "--opt",
             "image=splitbrain/postgres:0-never-built", "--time", "5", "--results",
             str(tmp_path))  # fmt: skip
    assert r.returncode == 4, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "image splitbrain/postgres:0-never-built is missing" in line
    assert "splitbrain images build --db postgres" in line
    assert _ours(client) == []


def test_an_interrupted_run_leaves_nothing_and_cleanup_removes_a_crashed_one(
    client, tmp_path
) -> None:
    _image(client, "postgres")
    p = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--provider", "compose", "--time", "60",
         "--nemesis", "none", "--results", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert p.stdout is not None
    for line in p.stdout:  # interrupt once the workload runs
        if "running set" in line:
            break
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=120) == 2
    assert _ours(client) == []

    crash = textwrap.dedent(
        """
        import os, sys
        from harness.db import database_class
        from harness.providers import compose
        from harness.spec import TestSpec
        c = compose.create(TestSpec(provider="compose"), "dead05", database_class("postgres").deployment)
        c.partition({"n1": {"n2"}})
        os._exit(9)
        """
    )
    r = subprocess.run([sys.executable, "-c", crash], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 9, r.stderr
    assert any("sb-dead05" in n for n in _ours(client))
    out = _cli("cleanup")
    assert out.returncode == 0, out.stderr
    assert "sb-dead05" in out.stdout
    deadline = time.monotonic() + 30
    while _ours(client) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _ours(client) == []
