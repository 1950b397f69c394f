"""harness.runner.run end to end on the memory test doubles (no root, no real database):
a normal run, a bug the checkers must catch, a fault that fails to start, an abort mid-run,
and a checker that raises. What is under test is the harness, not any database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import registry
from harness.errors import ClusterError, EnvironmentProblem
from harness.history import load
from harness.runner import RunResult, run
from harness.spec import TestSpec
from harness.verdict import exit_code
from tests.doubles import memory_provider as memory

REPORTS = ("spec.json", "history.jsonl", "verdict.json", "summary.txt", "report.html", "junit.xml")


@pytest.fixture(autouse=True)
def _work_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITBRAIN_MEMORY_DIR", str(tmp_path / "memory-nodes"))


def spec(**kw: Any) -> TestSpec:
    base: dict[str, Any] = {
        "db": "memory",
        "provider": "memory",
        "mode": "async",
        "workload": "set",
        "nemesis": ("partition", "packet-loss", "kill", "pause"),
        "time_limit": 3,
        "fault_interval": 0.3,  # each of the 4 faults once: (2 * 4 + 1) * 0.3 <= 3
        "concurrency": 4,
        "rate": 300,
        "op_timeout": 2,
        "recovery_timeout": 10,
        "seed": 7,
    }
    # a paused memory node is silent at once: 50 ms of silence is proof enough here
    merged = {**base, **kw}
    if "pause" in merged["nemesis"]:
        merged["options"] = {"pause_probe_s": 0.05, **merged.get("options", {})}
    return TestSpec(**merged)


def go(s: TestSpec, tmp_path: Path) -> tuple[RunResult, list[str]]:
    lines: list[str] = []
    r = run(s, tmp_path / "results", echo=lines.append, progress=False)
    return r, lines


def torn_down(r: RunResult) -> None:
    """The run's memory cluster is gone: not live, and its node directories removed."""
    run_id = r.doc["run"]["run_id"]
    assert [c.run_id for c in memory.live_clusters()] == []
    assert not (memory.work_root() / run_id).exists()


def client_ops(r: RunResult, nemesis: bool = False) -> list[Any]:
    """The clients' ops (the nemesis' with nemesis=True)."""
    return [op for op in load(r.dir / "history.jsonl") if (op.process == "nemesis") == nemesis]


def test_a_normal_run_is_valid_and_writes_every_report(tmp_path: Path) -> None:
    r, lines = go(spec(), tmp_path)
    assert r.valid is True and r.doc["valid"] is True and exit_code(r.valid) == 0
    for name in REPORTS:
        assert (r.dir / name).is_file(), name
    on_disk = json.loads((r.dir / "verdict.json").read_text())
    assert on_disk["valid"] is True and on_disk["checkers"]["set"]["valid"] is True
    assert on_disk["run"]["aborted"] is None and on_disk["run"]["provider"] == "memory"
    ops = client_ops(r)
    assert len([op for op in ops if op.type == "ok" and op.f == "add"]) > 50
    finals = [op for op in ops if op.f == "final-read" and op.type == "ok"]
    assert {op.node for op in finals} == {"n1", "n2", "n3"}
    faults = [op.f for op in load(r.dir / "history.jsonl") if op.process == "nemesis"]
    assert {f for f in faults if f.startswith("start-")} == {
        "start-partition",
        "start-packet-loss",
        "start-kill",
        "start-pause",
    }
    assert r.doc["run"]["faults"]["failed"] == []
    assert (r.dir / "logs" / "n1" / "memory.log").is_file()  # collected before teardown
    assert "VALID" in (r.dir / "summary.txt").read_text()
    assert "<testsuite" in (r.dir / "junit.xml").read_text()
    torn_down(r)


def test_a_lost_write_bug_makes_the_run_invalid(tmp_path: Path) -> None:
    r, _ = go(spec(nemesis=(), options={"bug": "lost-write"}), tmp_path)
    assert r.valid is False and exit_code(r.valid) == 1
    counts = r.doc["checkers"]["set"]["counts"]
    assert counts.get("lost-write", 0) > 0
    assert "INVALID" in (r.dir / "summary.txt").read_text()
    assert 'failures="1"' in (r.dir / "junit.xml").read_text()
    torn_down(r)


def test_a_fault_that_fails_to_start_makes_the_verdict_unknown(tmp_path: Path) -> None:
    r, _ = go(spec(nemesis=("kill",), options={"broken_fault": "kill"}), tmp_path)
    assert r.valid == "unknown" and exit_code(r.valid) == 2
    errors = r.doc["run"]["errors"]
    assert any("start-kill" in e and "kill is broken on purpose" in e for e in errors), errors
    why = r.doc["run"]["unknown_because"]
    assert why and all(w.startswith("fault kill planned at ") for w in why), why
    assert "never took effect" in why[0] and "kill is broken on purpose" in why[0]
    assert "UNKNOWN: fault kill planned at" in (r.dir / "summary.txt").read_text()
    assert r.doc["checkers"]["set"]["valid"] is True  # the history itself was fine
    torn_down(r)


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("pause", "n1: processes [1000] are not stopped"),
        ("partition", "reached"),
    ],
)
def test_a_fault_that_never_takes_effect_makes_the_verdict_unknown(
    tmp_path: Path, fault: str, why: str
) -> None:
    """The primitive returns as if done but changes nothing (the old compose pause of
    PostgreSQL): its observation fails, the fault is undone and the run is unknown."""
    r, _ = go(spec(nemesis=(fault,), options={"ineffective_fault": fault}), tmp_path)
    assert r.valid == "unknown" and exit_code(r.valid) == 2
    said = r.doc["run"]["unknown_because"]
    assert said and f"{fault} did not take effect" in said[0] and why in said[0], said
    starts = [op for op in client_ops(r, nemesis=True) if op.f == f"start-{fault}" and op.type == "info"]
    assert starts and all(op.error and "NotObserved" in op.error for op in starts)
    assert r.doc["checkers"]["set"]["valid"] is True  # the history itself was fine
    torn_down(r)


def test_an_observed_fault_records_what_was_seen(tmp_path: Path) -> None:
    r, _ = go(spec(nemesis=("pause", "partition")), tmp_path)
    assert r.valid is True
    starts = {op.f: op.value for op in client_ops(r, nemesis=True) if op.type == "info"
              and op.f.startswith("start-")}  # fmt: skip
    assert starts["start-pause"]["observed"]["stopped"] == 1
    assert starts["start-pause"]["observed"]["new_connection"] == "silent"
    assert "silent" in starts["start-partition"]["observed"].values()


def test_an_abort_mid_run_keeps_the_history_and_tears_down(tmp_path: Path) -> None:
    r, lines = go(spec(time_limit=30, options={"abort_after": 1.0}), tmp_path)
    assert r.valid == "unknown"
    assert r.doc["run"]["aborted"] == "interrupted (SIGINT)"  # as a Ctrl-C
    on_disk = json.loads((r.dir / "verdict.json").read_text())
    assert on_disk["valid"] == "unknown" and on_disk["run"]["aborted"]
    ops = client_ops(r)
    assert len([op for op in ops if op.type == "ok"]) > 10  # the workload had started
    assert not [op for op in ops if op.f == "final-read"]  # it never reached the final reads
    assert "aborted" in (r.dir / "summary.txt").read_text()
    assert any("interrupted" in line for line in lines)
    torn_down(r)


def test_a_checker_that_raises_makes_the_verdict_unknown_with_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.CHECKERS, "set", "tests.unit.test_runner_memory:exploding")
    r, _ = go(spec(nemesis=()), tmp_path)
    assert r.valid == "unknown"
    on_disk = (r.dir / "verdict.json").read_text()
    assert "checker exploded on purpose" in on_disk
    assert (r.dir / "history.jsonl").stat().st_size > 0
    torn_down(r)


def test_the_memory_provider_refuses_a_real_database_before_anything_starts(
    tmp_path: Path,
) -> None:
    with pytest.raises(EnvironmentProblem, match="hosts only the in-memory test database"):
        run(spec(db="postgres", mode="async", nemesis=()), tmp_path / "results", echo=print)
    assert not (tmp_path / "results").exists()  # refused before the run's folder is made
    assert memory.live_clusters() == []


def test_a_teardown_that_fails_makes_the_run_not_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = memory.MemoryCluster.teardown

    def failing(self: memory.MemoryCluster) -> None:
        real(self)
        raise ClusterError("teardown failed on purpose")

    monkeypatch.setattr(memory.MemoryCluster, "teardown", failing)
    r, _ = go(spec(nemesis=(), time_limit=1), tmp_path)
    assert any("teardown failed on purpose" in e for e in r.doc["run"]["errors"])
    assert r.valid == "unknown"


def exploding(history: list[Any], **_: Any) -> Any:
    raise RuntimeError("checker exploded on purpose")
