"""The local provider against the real kernel: namespaces, veths, a bridge, iptables, signals."""

from __future__ import annotations

import ipaddress
import json
import os
import pwd
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.db import Deployment
from harness.errors import ClusterError, EnvironmentProblem
from harness.providers import local, netns
from harness.spec import TestSpec
from tests.conftest import needs_root

pytestmark = [pytest.mark.integration, needs_root()]

SUBNET = os.environ.get("SPLITBRAIN_TEST_SUBNET", "198.18.1.0/24")
SPEC = TestSpec(subnet=SUBNET, nodes=3)
PY = "/usr/bin/python3"  # readable by the unprivileged users the node processes run as

TCP_SERVER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7000))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(b"hi")
    c.close()
"""
TCP_CLIENT = """
import socket, sys
s = socket.create_connection((sys.argv[1], 7000), timeout=1)
assert s.recv(2) == b"hi"
"""
UDP_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7001))
while True:
    data, addr = s.recvfrom(100)
    print(addr[0], data.decode(), flush=True)
"""
UDP_SEND = """
import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[2].encode(), (sys.argv[1], 7001))
"""


def _mine(run_id: str) -> dict[str, list[str]]:
    return {
        "namespaces": [n for n in netns.namespaces() if run_id in n],
        "links": [li for li in netns.links() if run_id in li],
    }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[local.LocalCluster]:
    c = local.create(SPEC, secrets.token_hex(3))
    try:
        yield c
    finally:
        c.collect_logs(tmp_path / "logs")
        c.teardown()


def _tcp(c: local.LocalCluster, src: str, dst: str) -> bool:
    r = c.exec(
        src, [PY, "-c", TCP_CLIENT, c.peer_address(dst)], user="nobody", check=False, timeout=5
    )
    return r.returncode == 0


def _wait_listening(c: local.LocalCluster, src: str, dst: str) -> None:
    deadline = time.monotonic() + 5
    while not _tcp(c, src, dst):
        assert time.monotonic() < deadline, "listener did not come up"
        time.sleep(0.05)


def test_network_up_and_down(tmp_path: Path) -> None:
    rid = secrets.token_hex(3)
    c = local.create(SPEC, rid)  # how fast: bench/bench_cluster.py
    try:
        assert sorted(_mine(rid)["namespaces"]) == [f"sb-{rid}-n{i}" for i in (1, 2, 3)]
        assert f"sb-{rid}" in _mine(rid)["links"]
        base = ipaddress.ip_network(SUBNET).network_address
        assert [c.peer_address(n) for n in c.nodes] == [str(base + 10 + i) for i in (1, 2, 3)]
        assert c.bridge_addr == str(base + 1)
        info = json.loads((c.workdir / "run.json").read_text())
        assert info["harness_pid"] == os.getpid() and info["subnet"] == SUBNET
        # lo is up in every namespace
        out = c.exec("n1", ["ip", "-br", "link", "show", "lo"]).stdout
        assert "UP" in out or "UNKNOWN" in out
    finally:
        c.teardown()
    assert _mine(rid) == {"namespaces": [], "links": []}
    assert json.loads((c.workdir / "run.json").read_text())["torn_down"]
    c.teardown()  # idempotent
    c.collect_logs(tmp_path)  # after a teardown: copies the kept logs, then removes the dir
    assert not c.workdir.exists()


def test_subnet_in_use(cluster: local.LocalCluster) -> None:
    with pytest.raises(EnvironmentProblem, match="--subnet"):
        local.create(SPEC, secrets.token_hex(3))


def test_partition_symmetric_then_heal(cluster: local.LocalCluster) -> None:
    c = cluster
    c.spawn("n2", [PY, "-c", TCP_SERVER], user="nobody", log=c.node_dir("n2") / "srv.log")
    _wait_listening(c, "n1", "n2")
    c.partition({"n1": {"n2"}, "n2": {"n1"}})
    assert not _tcp(c, "n1", "n2")
    assert _tcp(c, "n3", "n2"), "n3 is not in the grudge"
    c.spawn("n1", [PY, "-c", TCP_SERVER], user="nobody", log=c.node_dir("n1") / "srv.log")
    _wait_listening(c, "n3", "n1")
    assert not _tcp(c, "n2", "n1")
    # the harness (bridge address, root namespace) still reaches every node
    import socket

    for n in ("n1", "n2"):
        socket.create_connection((c.peer_address(n), 7000), timeout=1).close()
    c.heal()
    assert _tcp(c, "n1", "n2") and _tcp(c, "n2", "n1")


def test_partition_replaces_earlier_cuts(cluster: local.LocalCluster) -> None:
    c = cluster
    c.spawn("n2", [PY, "-c", TCP_SERVER], user="nobody", log=c.node_dir("n2") / "srv.log")
    _wait_listening(c, "n1", "n2")
    c.partition({"n1": {"n2"}, "n2": {"n1"}})
    c.partition({"n3": {"n2"}, "n2": {"n3"}})
    assert _tcp(c, "n1", "n2") and not _tcp(c, "n3", "n2")


def test_one_way_grudge(cluster: local.LocalCluster) -> None:
    """{n1: {n2}}: n1 drops what comes from n2; n1's datagrams still reach n2."""
    c = cluster
    for n in ("n1", "n2"):
        c.spawn(n, [PY, "-c", UDP_SERVER], user="nobody", log=c.node_dir(n) / "udp.log")
    time.sleep(0.3)
    c.partition({"n1": {"n2"}})
    c.exec("n1", [PY, "-c", UDP_SEND, c.peer_address("n2"), "from-n1"])
    c.exec("n2", [PY, "-c", UDP_SEND, c.peer_address("n1"), "from-n2"])
    time.sleep(0.3)
    assert "from-n1" in c.read_file("n2", c.node_dir("n2") / "udp.log")
    assert "from-n2" not in c.read_file("n1", c.node_dir("n1") / "udp.log")
    c.heal()
    c.exec("n2", [PY, "-c", UDP_SEND, c.peer_address("n1"), "after-heal"])
    time.sleep(0.3)
    assert "after-heal" in c.read_file("n1", c.node_dir("n1") / "udp.log")


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _pid(c: local.LocalCluster, node: str) -> int | None:
    """The node's one database process (these tests spawn a single `sleep`)."""
    procs = c.processes(node)
    assert len(procs) <= 1, procs
    return next(iter(procs), None)


def test_kill_pause_resume_start(cluster: local.LocalCluster) -> None:
    c = cluster
    c.spawn("n1", ["sleep", "1000"], user="postgres", log=c.node_dir("n1") / "sleep.log")
    pid = _pid(c, "n1")
    assert pid and c.is_running("n1")
    assert netns.ns_pids(c.ns["n1"]) == [pid]
    # the pid stays the same through `ip netns exec` and setpriv's exec(); the uid changes
    # only once setpriv has run, so wait for the final program
    want = f"\t{pwd.getpwnam('postgres').pw_uid}\t"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        if "sleep" in status.split("\n")[0]:
            break
        time.sleep(0.02)
    assert want in status.split("Uid:")[1].split("\n")[0] + "\t"
    c.pause("n1")
    assert _state(pid) == "T" and c.is_running("n1")
    c.resume("n1")
    assert _state(pid) in ("S", "R")
    c.kill("n1")
    assert not c.is_running("n1") and netns.ns_pids(c.ns["n1"]) == []
    c.start("n1")
    assert c.is_running("n1") and _pid(c, "n1") != pid
    r = c.exec("n1", ["id", "-un"], user="postgres")
    assert r.stdout.strip() == "postgres"
    with pytest.raises(ClusterError, match="failed"):
        c.exec("n1", ["false"])


def test_teardown_leaves_nothing(tmp_path: Path) -> None:
    rid = secrets.token_hex(3)
    c = local.create(SPEC, rid)
    c.spawn("n1", ["sleep", "1000"], user="postgres", log=c.node_dir("n1") / "sleep.log")
    c.spawn("n2", ["sleep", "1000"], user="postgres", log=c.node_dir("n2") / "sleep.log")
    c.pause("n2")  # a stopped process must die too
    pids = [_pid(c, "n1"), _pid(c, "n2")]
    c.partition({"n1": {"n2"}, "n2": {"n1"}})
    c.collect_logs(tmp_path)
    c.teardown()
    assert (tmp_path / "n1" / "sleep.log").exists()
    assert _mine(rid) == {"namespaces": [], "links": []}
    assert not c.workdir.exists()
    for pid in pids:  # dead; a zombie until init reaps it (services are init's children)
        assert pid is not None and (not Path(f"/proc/{pid}").exists() or _zombie(pid))


def test_half_built_cluster_is_torn_down(monkeypatch: pytest.MonkeyPatch) -> None:
    rid = secrets.token_hex(3)
    from harness.remote import firewall

    real = firewall.install

    def flaky(remote: Any, chain: str) -> None:
        if remote.label == "n2":
            raise ClusterError("simulated failure while building n2")
        real(remote, chain)

    monkeypatch.setattr(firewall, "install", flaky)
    with pytest.raises(ClusterError, match="simulated"):
        local.create(SPEC, rid)
    assert _mine(rid) == {"namespaces": [], "links": []}
    assert not (local.WORK_ROOT / rid).exists()
    local.LocalCluster(rid, ["n1"], SUBNET).teardown()  # never built: nothing to do, no error


def test_cleanup_removes_a_crashed_run() -> None:
    rid = secrets.token_hex(3)
    c = local.create(SPEC, rid)
    c.spawn("n1", ["sleep", "1000"], user="postgres", log=c.node_dir("n1") / "sleep.log")
    pid = _pid(c, "n1")
    assert f"namespace sb-{rid}-n1" not in " ".join(local.find_leftovers())  # alive: not a leftover
    # the harness "crashed": its pid in run.json is dead and nobody tears down
    dead = subprocess.Popen(["true"])
    dead.wait()
    info = json.loads((c.workdir / "run.json").read_text())
    info["harness_pid"] = dead.pid
    (c.workdir / "run.json").write_text(json.dumps(info))
    del c
    found = local.find_leftovers()
    assert any(f"sb-{rid}-n1" in line and "1 processes" in line for line in found)
    removed = local.cleanup()
    assert any(f"namespace sb-{rid}-n1" in line for line in removed)
    assert any(f"work dir {local.WORK_ROOT / rid}" in line for line in removed)
    assert _mine(rid) == {"namespaces": [], "links": []}
    assert not (local.WORK_ROOT / rid).exists()
    assert pid is not None and not Path(f"/proc/{pid}/cmdline").exists() or _zombie(pid)


def _zombie(pid: int | None) -> bool:
    try:
        return pid is not None and _state(pid) == "Z"
    except OSError:
        return True  # reaped meanwhile: gone


class _Needs:
    """The database facts preflight reads (a stand-in: preflight runs no database)."""

    name = "test"

    def __init__(
        self, binaries: list[tuple[str, str]], user: str = "nobody", files=(), nemesis=()
    ) -> None:  # type: ignore[no-untyped-def]
        self.spec = TestSpec(db="memory", provider="memory", nemesis=tuple(nemesis))
        self.deployment = Deployment(
            user=user, ports={}, image="", binaries=tuple(binaries), files=tuple(files)
        )

    def required_binaries(self) -> list[tuple[str, str]]:
        return list(self.deployment.binaries)


def test_preflight_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    local.preflight(_Needs([("sh", "apt-get install dash")]))  # type: ignore[arg-type]
    with pytest.raises(
        EnvironmentProblem, match=r"`/nonexistent/initdb` not found: apt-get install postgresql-15"
    ):
        local.preflight(_Needs([("/nonexistent/initdb", "apt-get install postgresql-15")]))  # type: ignore[arg-type]
    with pytest.raises(
        EnvironmentProblem, match="/nonexistent/lib.so not found: apt-get install x"
    ):
        local.preflight(_Needs([], files=[("/nonexistent/lib.so", "apt-get install x")]))  # type: ignore[arg-type]
    with monkeypatch.context() as m:  # a clock run needs libfaketime
        m.setattr(local.clock, "LIBFAKETIME", "/nonexistent/libfaketime.so.1")
        with pytest.raises(EnvironmentProblem, match="--nemesis clock needs /nonexistent/lib"):
            local.preflight(_Needs([], nemesis=["clock"]))  # type: ignore[arg-type]
    with pytest.raises(EnvironmentProblem, match="user 'no-such-user-sb' does not exist"):
        local.preflight(_Needs([], user="no-such-user-sb"))  # type: ignore[arg-type]
    with monkeypatch.context() as m:
        m.setenv("PATH", "/nonexistent")
        with pytest.raises(EnvironmentProblem, match="install iproute2"):
            local.preflight(_Needs([]))  # type: ignore[arg-type]
    with monkeypatch.context() as m:
        m.setattr(os, "geteuid", lambda: 1000)
        with pytest.raises(
            EnvironmentProblem, match="run as root: the local provider creates network namespaces"
        ):
            local.preflight(_Needs([]))  # type: ignore[arg-type]


UDP_COUNT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7002))
s.settimeout(1.0)
n = 0
try:
    while True:
        s.recvfrom(100)
        n += 1
except TimeoutError:
    pass
print(n, flush=True)
"""
UDP_FLOOD = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"x", (sys.argv[1], 7002))
    if i % 200 == 0:
        time.sleep(0.001)
"""


def test_packet_loss_fault_drops_about_the_fraction_asked(cluster: local.LocalCluster) -> None:
    """The packet-loss fault module on real iptables (statistic match): of 3000 datagrams from
    n1 to n2 at loss=0.3, about 70% arrive (binomial sd ~0.8%; bounds at ~8 sd), and the
    chain's counters account for the rest. After heal, every datagram arrives."""
    from nemesis.faults import Target
    from nemesis.faults.packet_loss import PacketLoss

    c, sent = cluster, 3000
    spec = SPEC.replace(nemesis=("packet-loss",), partition=("one-way",), options={"loss": 0.3})
    fault = PacketLoss(spec)
    params = fault.plan(__import__("random").Random(5))
    assert params["loss"] == 0.3
    # one-way: some node stops hearing another; find which from what begin() returns
    done = fault.begin(Target(c, None), params)  # type: ignore[arg-type]
    ((dst, srcs),) = done["grudge"].items()
    src = srcs[0]

    def received() -> int:
        c.spawn(dst, [PY, "-c", UDP_COUNT], user="nobody", log=c.node_dir(dst) / "count.log")
        time.sleep(0.3)
        c.exec(src, [PY, "-c", UDP_FLOOD, c.peer_address(dst), str(sent)], timeout=30)
        deadline = time.monotonic() + 10
        while c.is_running(dst) and time.monotonic() < deadline:
            time.sleep(0.1)
        out = c.read_file(dst, c.node_dir(dst) / "count.log").split()
        c.exec(dst, ["rm", "-f", str(c.node_dir(dst) / "count.log")])
        return int(out[-1])

    got = received()
    dropped = c.drop_counts(dst).get(c.peer_address(src), 0)
    assert 0.63 < got / sent < 0.77, f"{got} of {sent} arrived at loss 0.3"
    assert got + dropped == sent
    fault.end(Target(c, None), params, done)  # type: ignore[arg-type]
    assert received() == sent
