"""A 3-node Cassandra ring by hand, without the harness's provider: network namespaces
cx-n1..cx-n3 on a bridge cxbr0 (198.18.0.1/24, nodes .11-.13), one JVM per node as the
`cassandra` user, the config files of harness.db.cassandra. Measures the time until a QUORUM
write and read succeed, and the teardown time; removes everything after, also on failure.

    flock /work/cluster.lock python bench/cassandra_ring_by_hand.py [--heap 768M] [--parallel]
        [--jvm=-XX:TieredStopAtLevel=1]      # raw JVMs (default JIT unless --jvm adds flags)
    flock /work/cluster.lock python bench/cassandra_ring_by_hand.py --definition
        # Cassandra.setup() through a minimal node-contract cluster, a kill, recover()

Names are cx-* (not sb-*): the harness's cleanup removes sb- namespaces it does not know.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.cluster import Cluster, Grudge  # noqa: E402
from harness.db.cassandra import (  # noqa: E402
    CLIENT_PORT,
    LOGBACK,
    RACKDC,
    cassandra_yaml,
    initial_tokens,
    jvm_argv,
    port_open,
)
from harness.errors import ClusterError  # noqa: E402
from harness.install.maven import ensure_user, resolve  # noqa: E402

BRIDGE = "cxbr0"
NODES = {f"n{i}": f"198.18.0.{10 + i}" for i in (1, 2, 3)}
WORK = Path("/tmp/cx-ring")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def build() -> None:
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", "198.18.0.1/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for n, addr in NODES.items():
        ns = f"cx-{n}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"cx{n}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", f"cx{n}", "master", BRIDGE, "up")
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")


def teardown(procs: dict[str, subprocess.Popen[bytes]]) -> float:
    t = time.monotonic()
    for p in procs.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    for p in procs.values():
        p.wait()
    for n in NODES:
        sh("ip", "netns", "del", f"cx-{n}", check=False)
    sh("ip", "link", "del", BRIDGE, check=False)
    shutil.rmtree(WORK, ignore_errors=True)
    return time.monotonic() - t


def start(n: str, argv: list[str], uid: int, gid: int) -> subprocess.Popen[bytes]:
    d = WORK / n
    log = open(d / "logs" / "cassandra.log", "wb")  # noqa: SIM115 - the child keeps it
    cmd = ["ip", "netns", "exec", f"cx-{n}", "setpriv", f"--reuid={uid}", f"--regid={gid}"]
    cmd += ["--init-groups", "--", *argv]
    return subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(d)},
    )


def wait_port(n: str, p: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not port_open((NODES[n], CLIENT_PORT)):
        if p.poll() is not None or time.monotonic() > deadline:
            tail = (WORK / n / "logs" / "cassandra.log").read_text(errors="replace")
            raise SystemExit(f"{n} did not open {CLIENT_PORT}: ...{tail[-2000:]}")
        time.sleep(0.25)


def quorum_probe(deadline: float) -> float:
    from cassandra import ConsistencyLevel
    from cassandra.cluster import Cluster
    from cassandra.query import SimpleStatement

    c = Cluster([NODES["n1"]], protocol_version=5, connect_timeout=5)
    s = c.connect()
    s.execute(
        "CREATE KEYSPACE IF NOT EXISTS probe WITH replication = "
        "{'class': 'NetworkTopologyStrategy', 'dc1': 3}"
    )
    s.execute("CREATE TABLE IF NOT EXISTS probe.t (k int PRIMARY KEY, v int)")
    q = ConsistencyLevel.QUORUM
    last = ""
    while time.monotonic() < deadline:
        try:
            s.execute(
                SimpleStatement("INSERT INTO probe.t (k, v) VALUES (1, 1)", consistency_level=q)
            )
            r = s.execute(SimpleStatement("SELECT v FROM probe.t WHERE k = 1", consistency_level=q))
            assert r.one().v == 1
            c.shutdown()
            return time.monotonic()
        except Exception as e:  # noqa: BLE001
            last = repr(e)
            time.sleep(0.5)
    c.shutdown()
    raise SystemExit(f"no QUORUM service: {last}")


class CxCluster(Cluster):
    """The node contract over the cx-* namespaces, enough to run the Cassandra definition's
    setup, clients and recovery before the harness's local provider speaks the contract."""

    run_id = "cx"
    nodes = tuple(NODES)

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.argv: dict[str, tuple[list[str], str, PurePosixPath]] = {}

    def address(self, node: str, port: int) -> tuple[str, int]:
        return NODES[node], port

    def peer_address(self, node: str) -> str:
        return NODES[node]

    def node_dir(self, node: str) -> PurePosixPath:
        return PurePosixPath(WORK / node)

    def _cmd(self, node: str, argv: Sequence[str], user: str | None) -> list[str]:
        cmd = ["ip", "netns", "exec", f"cx-{node}"]
        if user and user != "root":
            pw = pwd.getpwnam(user)
            d = WORK / node
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
            cmd += ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups"]
            cmd += ["--"]
        return cmd + list(argv)

    def exec(  # untyped: a by-hand stand-in
        self, node, argv, *, user=None, timeout=60, check=True, input=None, env=None
    ):
        r = subprocess.run(
            self._cmd(node, argv, user),
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            env={"PATH": "/usr/bin:/bin", **(env or {})},
        )
        if check and r.returncode != 0:
            raise ClusterError(f"{node}: {argv[0]} exit {r.returncode}: {r.stderr.strip()[-200:]}")
        return r

    def spawn(self, node, argv, *, user, log, env=None):
        self.argv[node] = (list(argv), user, log)
        self.start(node)

    def start(self, node: str) -> None:
        argv, user, log = self.argv[node]
        out = open(log, "ab")  # noqa: SIM115 - the child keeps it
        self.procs[node] = subprocess.Popen(
            self._cmd(node, argv, user),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={"PATH": "/usr/bin:/bin", "HOME": str(WORK / node)},
        )

    def is_running(self, node: str) -> bool:
        p = self.procs.get(node)
        return p is not None and p.poll() is None

    def signal(self, node: str, sig: signal.Signals) -> None:
        p = self.procs.get(node)
        if p is not None and p.poll() is None:
            os.killpg(p.pid, sig)
            if sig == signal.SIGKILL:
                p.wait()

    def partition(self, grudge: Grudge) -> None:
        raise NotImplementedError("no partitions in the by-hand ring")

    def heal(self) -> None:
        pass

    def teardown(self) -> None:
        teardown(self.procs)


def via_definition() -> int:
    """Cassandra.setup() through CxCluster, a few QUORUM ops, kill + recover, teardown."""
    from harness.db.cassandra import Cassandra
    from harness.spec import TestSpec

    db = Cassandra(TestSpec(db="cassandra", workload="set", nemesis=()))
    db.validate()
    c = CxCluster()
    try:
        build()
        t0 = time.monotonic()
        db.setup(c)
        print(f"definition setup (ring serving at ALL): {time.monotonic() - t0:.1f} s", flush=True)
        print(f"milestones: {db.timings}; load {os.getloadavg()}", flush=True)
        clients = [db.client(c, p) for p in range(3)]
        for i, cl in enumerate(clients):
            cl.invoke("add", [0, i])
        got = clients[1].invoke("read", [0, None])
        print(f"set read at QUORUM through {clients[1].node}: {got}", flush=True)
        c.kill("n3")
        clients[0].invoke("add", [0, 10])
        print(f"QUORUM add with n3 killed: ok; read {clients[0].invoke('read', [0, None])}")
        t1 = time.monotonic()
        print(f"recover: {db.recover(c, 120)} ({time.monotonic() - t1:.1f} s)", flush=True)
        for cl in clients:
            cl.close()
        return 0
    finally:
        for n in NODES:
            f = WORK / n / "logs" / "cassandra.log"
            if f.exists():
                shutil.copy(f, f"/tmp/cx-{n}.log")
        print(f"teardown: {teardown(c.procs):.2f} s", flush=True)
        left = sh("ip", "netns", "list").stdout
        assert "cx-" not in left, left


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--heap", default="768M")
    ap.add_argument("--parallel", action="store_true", help="start n2 and n3 together")
    ap.add_argument("--definition", action="store_true", help="through Cassandra.setup()")
    ap.add_argument(
        "--jvm", default="", help="extra JVM flags, raw mode only (--jvm=-XX:TieredStopAtLevel=1)"
    )
    a = ap.parse_args()
    if a.definition:
        return via_definition()
    home = resolve().parent
    if not ensure_user():
        raise SystemExit("no user cassandra and cannot create it (run as root)")
    pw = pwd.getpwnam("cassandra")
    jamm = str(next((home / "lib").glob("jamm-*.jar")))
    java = shutil.which("java") or "java"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        build()
        seeds = [NODES["n1"]]
        argvs = {}
        for (n, addr), tok in zip(NODES.items(), initial_tokens(3), strict=True):
            d = WORK / n
            for sub in ("conf", "data", "commitlog", "saved_caches", "hints", "logs"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            (d / "conf" / "cassandra.yaml").write_text(
                cassandra_yaml(addr, seeds, PurePosixPath(d), tok)
            )
            (d / "conf" / "cassandra-rackdc.properties").write_text(RACKDC)
            (d / "conf" / "logback.xml").write_text(LOGBACK)
            subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(WORK)], check=True)
            argvs[n] = jvm_argv(java, str(home), PurePosixPath(d), a.heap, jamm, c1_only=False)
            argvs[n][1:1] = a.jvm.split()
        os.chmod(WORK, 0o755)
        print(f"extra JVM flags: {a.jvm or 'none'}; load {os.getloadavg()[0]:.1f}", flush=True)
        t0 = time.monotonic()
        procs["n1"] = start("n1", argvs["n1"], pw.pw_uid, pw.pw_gid)
        wait_port("n1", procs["n1"], 120)
        print(f"n1 native port open: {time.monotonic() - t0:.1f} s", flush=True)
        rest = ["n2", "n3"]
        if a.parallel:
            for n in rest:
                procs[n] = start(n, argvs[n], pw.pw_uid, pw.pw_gid)
            for n in rest:
                wait_port(n, procs[n], 120)
                print(f"{n} native port open: {time.monotonic() - t0:.1f} s", flush=True)
        else:
            for n in rest:
                procs[n] = start(n, argvs[n], pw.pw_uid, pw.pw_gid)
                wait_port(n, procs[n], 120)
                print(f"{n} native port open: {time.monotonic() - t0:.1f} s", flush=True)
        t_q = quorum_probe(time.monotonic() + 60)
        print(f"ring up to QUORUM write+read: {t_q - t0:.1f} s (target <= 60 s)", flush=True)
        rss = sh(
            "ps", "-o", "rss=", "-p", ",".join(str(p.pid) for p in procs.values()), check=False
        )
        print(f"processes: {rss.stdout.split()}", flush=True)
        return 0
    finally:
        for n in NODES:
            f = WORK / n / "logs" / "cassandra.log"
            if f.exists():
                shutil.copy(f, f"/tmp/cx-{n}.log")
        print(f"teardown: {teardown(procs):.2f} s", flush=True)
        left = sh("ip", "netns", "list").stdout
        assert "cx-" not in left, left


if __name__ == "__main__":
    sys.exit(main())
