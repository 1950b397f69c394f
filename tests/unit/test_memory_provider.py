"""The memory provider (a test double of the node contract): flags, files, faults, life."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster import CAPABILITIES, Unsupported
from harness.errors import ClusterError, EnvironmentProblem
from tests.doubles import memory_provider as memory
from tests.doubles.memory_db import MemoryDB
from tests.doubles.memory_provider import DOWN, PAUSED, RUNNING, MemoryCluster
from tests.memory_helpers import memory_spec


@pytest.fixture(autouse=True)
def _work_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITBRAIN_MEMORY_DIR", str(tmp_path / "root"))


@pytest.fixture
def cluster() -> Iterator[MemoryCluster]:
    c = MemoryCluster("abc123", ("n1", "n2", "n3"))
    yield c
    c.teardown()


def spawned(c: MemoryCluster) -> MemoryCluster:
    for n in c.nodes:
        c.spawn(n, ["svc", n], user="memory", log=c.node_dir(n) / "svc.log")
    return c


def test_where_things_are(cluster: MemoryCluster) -> None:
    assert cluster.nodes == ("n1", "n2", "n3")
    assert cluster.address("n2", 5432) == ("n2.memory", 5432)
    assert len({cluster.address(n, 1) for n in cluster.nodes}) == 3
    assert cluster.peer_address("n3") == "n3"
    d = cluster.node_dir("n1")
    assert Path(d).is_dir() and d != cluster.node_dir("n2")
    with pytest.raises(ClusterError, match="unknown node 'n9'"):
        cluster.node_dir("n9")
    run = json.loads((cluster.workdir / "run.json").read_text())
    assert run["run_id"] == "abc123" and run["nodes"] == ["n1", "n2", "n3"]


def test_capabilities_are_all_but_power_loss(cluster: MemoryCluster) -> None:
    assert cluster.capabilities == frozenset(CAPABILITIES) - {"power-loss"}
    assert cluster.capabilities == memory.CAPABILITIES
    assert [o.name for o in memory.OPTIONS] == ["broken_fault", "ineffective_fault"]
    assert {"clock", "packet-loss"} <= cluster.capabilities and "power-loss" not in cluster.capabilities


def test_files_are_real_files_in_the_node_dir(cluster: MemoryCluster) -> None:
    d = cluster.node_dir("n1")
    assert not cluster.exists("n1", d / "conf")
    assert cluster.read_file("n1", d / "conf") == ""
    cluster.write_file("n1", d / "sub" / "conf", "a\n", user="memory")
    cluster.write_file("n1", d / "sub" / "conf", "b\n", user="memory", append=True)
    assert cluster.read_file("n1", d / "sub" / "conf") == "a\nb\n"
    assert (Path(d) / "sub" / "conf").read_text() == "a\nb\n"
    assert cluster.exists("n1", "sub/conf")  # relative to the node dir
    assert not cluster.exists("n2", "sub/conf")  # nodes do not share a directory


def test_exec_knows_a_few_commands_only(cluster: MemoryCluster) -> None:
    cluster.write_file("n1", "f", "x", user="memory")
    assert cluster.exec("n1", ["cat", "f"]).stdout == "x"
    assert cluster.exec("n1", ["echo", "hi", "there"]).stdout == "hi there\n"
    assert cluster.exec("n1", ["test", "-e", "f"]).returncode == 0
    assert cluster.exec("n1", ["test", "-e", "nope"], check=False).returncode == 1
    with pytest.raises(ClusterError, match="exit status 1"):
        cluster.exec("n1", ["false"])
    cluster.exec("n1", ["mkdir", "-p", "a/b"])
    assert (Path(cluster.node_dir("n1")) / "a" / "b").is_dir()
    with pytest.raises(ClusterError, match="cat nope"):
        cluster.exec("n1", ["cat", "nope"])
    with pytest.raises(Unsupported, match="runs no commands: pg_ctl start"):
        cluster.exec("n1", ["pg_ctl", "start"])


def test_processes_are_flags(cluster: MemoryCluster) -> None:
    assert not cluster.is_running("n1")
    with pytest.raises(ClusterError, match="spawn\\(\\) was never called"):
        cluster.start("n1")
    spawned(cluster)
    assert all(cluster.is_running(n) for n in cluster.nodes)
    with pytest.raises(ClusterError, match="already running"):
        cluster.spawn("n1", ["svc"], user="memory", log=cluster.node_dir("n1") / "svc.log")
    cluster.pause("n1")
    assert cluster.state["n1"] == PAUSED and cluster.is_running("n1")  # paused counts as alive
    cluster.resume("n1")
    assert cluster.state["n1"] == RUNNING
    cluster.signal("n2", signal.SIGSTOP)
    cluster.kill("n2")  # SIGKILL takes a stopped process too
    assert cluster.state["n2"] == DOWN and not cluster.is_running("n2")
    cluster.resume("n2")  # nothing to signal
    assert cluster.state["n2"] == DOWN
    cluster.start("n2")
    cluster.start("n2")  # already running: nothing to do
    assert cluster.state["n2"] == RUNNING
    cluster.signal("n3", signal.SIGTERM)
    assert cluster.state["n3"] == DOWN
    log = cluster.read_file("n2", cluster.node_dir("n2") / "svc.log")
    assert log.splitlines() == [
        "spawned svc n2",
        "SIGSTOP: paused",
        "SIGKILL: down",
        "started",
    ]


def test_network_faults_are_recorded(cluster: MemoryCluster) -> None:
    cluster.partition({"n1": {"n2", "n3"}, "n2": {"n1"}})
    assert cluster.grudge == {"n1": frozenset({"n2", "n3"}), "n2": frozenset({"n1"})}
    assert cluster.cut("n1", "n2") and cluster.cut("n3", "n1")  # one way is enough
    assert not cluster.cut("n2", "n3")
    cluster.partition({"n3": {"n2"}})  # replaces the earlier cuts
    assert not cluster.cut("n1", "n2") and cluster.cut("n2", "n3")
    with pytest.raises(
        ClusterError, match=r"grudge names unknown node\(s\): n7; nodes are n1, n2, n3"
    ):
        cluster.partition({"n1": {"n7"}})
    cluster.lose_packets({"n1": {"n2"}}, 0.25)
    assert cluster.loss_between("n2", "n1") == 0.25 and cluster.loss_between("n1", "n3") == 0
    with pytest.raises(ClusterError, match="probability"):
        cluster.lose_packets({"n1": {"n2"}}, 1.5)
    cluster.heal()
    assert cluster.grudge == {} and cluster.loss is None and not cluster.cut("n2", "n3")
    cluster.set_clock_offset("n2", -3.5)
    assert cluster.clock_offsets == {"n1": 0.0, "n2": -3.5, "n3": 0.0}


def test_broken_primitives_raise_and_change_nothing() -> None:
    c = spawned(MemoryCluster("bbb111", ("n1", "n2"), broken={"kill", "pause", "partition"}))
    try:
        with pytest.raises(ClusterError, match="n1: kill is broken on purpose"):
            c.kill("n1")
        with pytest.raises(ClusterError, match="pause is broken"):
            c.pause("n2")
        with pytest.raises(ClusterError, match="partition is broken"):
            c.partition({"n1": {"n2"}})
        assert c.state == {"n1": RUNNING, "n2": RUNNING} and c.grudge == {}
        c.resume("n1")  # only the injecting primitives are broken: ending a fault works
        c.heal()
        c.signal("n1", signal.SIGTERM)  # not a kill
        assert c.state["n1"] == DOWN
    finally:
        c.teardown()
    with pytest.raises(ClusterError, match="cannot break 'reboot'"):
        MemoryCluster("bbb222", ("n1",), broken={"reboot"})


def test_teardown_is_idempotent_and_removes_everything(cluster: MemoryCluster) -> None:
    spawned(cluster)
    assert cluster in memory.live_clusters()
    cluster.teardown()
    cluster.teardown()
    assert not cluster.workdir.exists()
    assert cluster not in memory.live_clusters()
    assert all(s == DOWN for s in cluster.state.values())
    with pytest.raises(ClusterError, match="torn down"):
        cluster.start("n1")


def test_collect_logs_copies_each_node_log(cluster: MemoryCluster, tmp_path: Path) -> None:
    spawned(cluster)
    cluster.kill("n3")
    cluster.collect_logs(tmp_path / "logs")
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["n1", "n2", "n3"]
    assert (tmp_path / "logs" / "n3" / "svc.log").read_text().endswith("SIGKILL: down\n")


def test_interrupt_main_after_raises_keyboard_interrupt_in_the_main_thread() -> None:
    assert threading.current_thread() is threading.main_thread()
    c = MemoryCluster("ccc111", ("n1",))
    try:
        with pytest.raises(KeyboardInterrupt):
            c.interrupt_main_after(0.05)
            c.interrupt_main_after(0.01)  # armed once: this does nothing
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                time.sleep(0.01)
        assert c.interrupted
    finally:
        c.teardown()


def test_teardown_disarms_the_interrupt() -> None:
    c = MemoryCluster("ccc222", ("n1",))
    c.interrupt_main_after(0.1)
    c.teardown()
    time.sleep(0.3)  # a KeyboardInterrupt here would fail the test
    assert not c.interrupted


def test_create_reads_broken_fault_from_the_spec() -> None:
    s = memory_spec(nodes=4, options={"broken_fault": "kill"})
    c = memory.create(s, "ddd111", MemoryDB(s).deployment)
    try:
        assert c.nodes == ("n1", "n2", "n3", "n4")
        assert c.broken == {"kill"}
        assert str(c.workdir).startswith(str(memory.work_root()))
    finally:
        c.teardown()
    c = memory.create(memory_spec(options={"broken_fault": "partition"}), "ddd222")
    assert c.broken == {"partition", "lose_packets"}
    c.teardown()
    c = memory.create(memory_spec(), "ddd333")
    c.teardown()
    assert c.broken == frozenset()


def test_preflight_takes_the_memory_database_only() -> None:
    memory.preflight(MemoryDB(memory_spec()))

    class Other:
        name = "postgres"

    with pytest.raises(EnvironmentProblem, match="hosts only the in-memory test database"):
        memory.preflight(Other())


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_cleanup_removes_dead_runs_only_unless_forced() -> None:
    root = memory.work_root()
    dead = root / "dead01"
    dead.mkdir(parents=True)
    (dead / "run.json").write_text(json.dumps({"harness_pid": dead_pid()}))
    (root / "junk01").mkdir()  # no run.json: nobody owns it
    live = MemoryCluster("live01", ("n1",))
    try:
        assert memory.find_leftovers() == [f"work dir {dead}", f"work dir {root / 'junk01'}"]
        assert memory.cleanup() == [
            f"removed work dir {dead}",
            f"removed work dir {root / 'junk01'}",
        ]
        assert not dead.exists() and live.workdir.exists()
        assert memory.find_leftovers() == []
        assert memory.find_leftovers(force=True) == [
            "memory cluster live01",
            f"work dir {live.workdir}",
        ]
        assert memory.cleanup(force=True) == ["tore down memory cluster live01"]
        assert live.torn_down and not live.workdir.exists()
    finally:
        live.teardown()
