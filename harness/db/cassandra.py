"""Apache Cassandra 5.0: a ring of peers (no primary), keyspace `splitbrain` with replication
factor 3 (option replication_factor), written against the node contract only.

Each node is one JVM (configuration is static per JVM) running CassandraDaemon from the jars
of `cassandra_home`/lib (harness.install.maven puts them in a cache folder; an image or an
inventory sets `cassandra_home`, e.g. /opt/cassandra in the official image). Setup writes
cassandra.yaml, cassandra-rackdc.properties and logback.xml into the node directory, starts
the seed first and waits for each node's native port before the next, then creates the schema
and waits until every node answers at consistency ALL.

Modes name the consistency level of reads and writes (quorum | one | all); the options
write_cl / read_cl set either one on its own. Knobs are the declared `options` below.
There is no primary, hence no failover fault.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, Literal

from harness.cluster import Cluster
from harness.db import AsRun, Database, Deployment
from harness.db.probe import Probe, shutdown
from harness.errors import ClusterError, EnvironmentProblem, SpecError, one_line
from harness.install.maven import CASSANDRA_VERSION, JAVA_HINT, cassandra_home
from harness.options import Option
from harness.spec import TestSpec

LEVELS = ("ONE", "TWO", "QUORUM", "ALL", "LOCAL_QUORUM")
MODE_LEVEL = {"quorum": "QUORUM", "one": "ONE", "all": "ALL"}
CLUSTER_NAME = "splitbrain"
DATACENTER, RACK = "dc1", "rack1"  # GossipingPropertyFileSnitch; the keyspace names dc1
CLIENT_PORT, STORAGE_PORT = 9042, 7000
INSTALL_HINT = "python3 -m harness.install.maven (or python3 -m harness.quickstart install)"

WRITE_CL = Option(
    "write_cl", str, None, "consistency level of writes (none: the --mode's level)", LEVELS
)
READ_CL = Option(
    "read_cl", str, None, "consistency level of reads (none: the --mode's level)", LEVELS
)
SERIAL_CL = Option(
    "serial_cl",
    str,
    "SERIAL",
    "consistency of the Paxos phase of LWTs and of LWT-mode reads",
    ("SERIAL", "LOCAL_SERIAL"),
)
REPLICATION = Option(
    "replication_factor", int, 3, "replicas of each row (NetworkTopologyStrategy, dc1)", None, 1, 9
)
LWT = Option(
    "lwt", bool, False, "register: writes and cas are lightweight transactions, reads serial"
)
CLOCK_SKEW = Option(
    "clock_skew_ms",
    float,
    0.0,
    "each worker's write timestamps (USING TIMESTAMP) are off by a fixed offset in +-skew ms",
    None,
    0,
)
TIMESTAMPS = Option(
    "timestamps",
    str,
    "auto",
    "who stamps plain writes for last-write-wins: client (USING TIMESTAMP from the worker's "
    "clock), server (the coordinator's clock), auto (server with --nemesis clock, else client)",
    ("auto", "client", "server"),
)
HEAP = Option("heap", str, "768M", "JVM heap per node (-Xms/-Xmx), e.g. 512M or 1G")
C1_ONLY = Option(
    "c1_only",
    bool,
    True,
    "JIT with C1 only (-XX:TieredStopAtLevel=1): measured ~35% faster ring start on 2 cores",
)
START_TIMEOUT = Option(
    "start_timeout", float, 120.0, "seconds a node may take to open its native port", None, 10
)

# Cassandra's conf/jvm17-server.options: what its code reaches into on Java 17.
JAVA17_FLAGS = (
    "-Djdk.attach.allowAttachSelf=true",
    *(
        f"--add-exports={m}=ALL-UNNAMED"
        for m in (
            "java.base/jdk.internal.misc",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "java.base/java.lang.ref",
            "jdk.unsupported/sun.misc",
            "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach",
        )
    ),
    *(
        f"--add-opens={m}=ALL-UNNAMED"
        for m in (
            *(
                f"java.base/{p}"
                for p in (
                    "java.lang.module",
                    "jdk.internal.loader",
                    "jdk.internal.ref",
                    "jdk.internal.reflect",
                    "jdk.internal.math",
                    "jdk.internal.module",
                    "jdk.internal.util.jar",
                    "sun.nio.ch",
                    "java.io",
                    "java.lang.reflect",
                    "java.lang",
                    "java.util",
                )
            ),
            "jdk.management/com.sun.management.internal",
            "jdk.compiler/com.sun.tools.javac",
        )
    ),
    "-Dio.netty.tryReflectionSetAccessible=true",
)

# A brand-new ring: no gossip settling, short ring delay, no saved ring state (ccm does this).
FRESH_RING_FLAGS = (
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=1000",
    "-Dcassandra.load_ring_state=false",
    "-Dcassandra.superuser_setup_delay_ms=0",
)


def initial_tokens(n: int) -> list[int]:
    """One Murmur3 token per node, evenly spaced: a balanced ring without vnodes."""
    return [i * (2**64 // n) - 2**63 for i in range(n)]


def cassandra_yaml(
    address: str, seeds: list[str], node_dir: PurePosixPath, token: int, bind: str | None = None
) -> str:
    """bind: the address to listen on when not `address` (the one peers and clients use);
    a wildcard lets Cassandra take its host name's address and announce `address`."""
    d = node_dir
    bind = bind or address
    if bind in ("0.0.0.0", "::"):
        listen = (
            f"broadcast_address: {address}\nrpc_address: {bind}\nbroadcast_rpc_address: {address}"
        )
    elif bind != address:
        listen = f"listen_address: {bind}\nbroadcast_address: {address}\nrpc_address: {bind}"
        listen += f"\nbroadcast_rpc_address: {address}"
    else:
        listen = f"listen_address: {address}\nrpc_address: {address}"
    return f"""\
cluster_name: {CLUSTER_NAME}
num_tokens: 1
initial_token: {token}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: GossipingPropertyFileSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{",".join(seeds)}"
{listen}
storage_port: {STORAGE_PORT}
native_transport_port: {CLIENT_PORT}
start_native_transport: true
auto_bootstrap: false
data_file_directories: [{d / "data"}]
commitlog_directory: {d / "commitlog"}
saved_caches_directory: {d / "saved_caches"}
hints_directory: {d / "hints"}
cdc_raw_directory: {d / "cdc_raw"}
commitlog_sync: periodic
commitlog_sync_period: 10000ms
# Small segments: their files end in .log and land among a run's collected logs.
commitlog_segment_size: 2MiB
auto_snapshot: false
concurrent_compactors: 1
hinted_handoff_enabled: true
disk_failure_policy: stop
storage_compatibility_mode: NONE
# Replica timeouts below the client's op timeout (5 s): the coordinator's verdict (timeout,
# unavailable) reaches the client before the driver gives up on its own.
read_request_timeout: 2000ms
range_request_timeout: 4000ms
write_request_timeout: 2000ms
counter_write_request_timeout: 2000ms
cas_contention_timeout: 1000ms
"""


# "INFO  [main] 2026-12-01 21:17:27,742 Keyspace.java:379 - " before each logged message
LOG_PREFIX = re.compile(r"^[A-Z]+\s+\[[^\]]*\]\s+\S+ \S+ \S+ - ")

RACKDC = f"dc={DATACENTER}\nrack={RACK}\n"

# Everything to stdout: the provider's spawn log is the node's log.
LOGBACK = """\
<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


def jvm_argv(
    java: str, home: str, node_dir: PurePosixPath, heap: str, jamm: str, c1_only: bool = True
) -> list[str]:
    conf = node_dir / "conf"
    return [
        java,
        *(["-XX:TieredStopAtLevel=1"] if c1_only else []),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-Xss256k",
        "-ea",
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.net.preferIPv4Stack=true",
        f"-javaagent:{jamm}",
        *JAVA17_FLAGS,
        *FRESH_RING_FLAGS,
        f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
        f"-Dcassandra-rackdc.properties=file://{conf / 'cassandra-rackdc.properties'}",
        f"-Dlogback.configurationFile=file://{conf / 'logback.xml'}",
        f"-Dcassandra.logdir={node_dir / 'logs'}",
        f"-Dcassandra.storagedir={node_dir}",
        "-Dcassandra-foreground=yes",
        "-cp",
        f"{home}/lib/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]


# CQL native protocol v4: an OPTIONS request (stream 0), answered by a SUPPORTED frame. It is
# served before any STARTUP, by the node's native transport only once it listens for real.
OPTIONS_FRAME = bytes([0x04, 0, 0, 0, 0x05, 0, 0, 0, 0])
SUPPORTED = 0x06


def options_probe(addr: tuple[str, int]) -> Probe:
    sock = socket.create_connection(addr, timeout=3)
    sock.settimeout(None)  # a silent request is abandoned by harness.db.probe

    def request() -> int:
        sock.sendall(OPTIONS_FRAME)
        header = b""
        while len(header) < 9:
            chunk = sock.recv(9 - len(header))
            if not chunk:
                raise ConnectionError("closed by the node")
            header += chunk
        if header[4] != SUPPORTED:
            raise ConnectionError(f"unexpected CQL opcode {header[4]:#x}")
        length = int.from_bytes(header[5:9], "big")
        while length > 0:
            chunk = sock.recv(min(length, 65536))
            if not chunk:
                raise ConnectionError("closed by the node")
            length -= len(chunk)
        return SUPPORTED

    return Probe(request=request, abandon=shutdown(sock.fileno), close=sock.close)


class Cassandra(Database):
    name = "cassandra"
    topology = "peer-to-peer"
    modes = ("quorum", "one", "all")  # the first is the CLI default
    packages = ("openjdk-17-jre-headless", "maven")
    workloads = ("set", "register", "counter", "conflicts")
    faults = ("partition", "packet-loss", "kill", "pause", "clock")
    options = (
        WRITE_CL,
        READ_CL,
        SERIAL_CL,
        REPLICATION,
        LWT,
        CLOCK_SKEW,
        TIMESTAMPS,
        HEAP,
        C1_ONLY,
        START_TIMEOUT,
    )
    title = "Cassandra"
    mode_titles = MODE_LEVEL
    consistency_options = (LWT, SERIAL_CL, TIMESTAMPS)
    deployment = Deployment(
        user="cassandra",
        ports={"client": CLIENT_PORT},  # what the harness reaches; peers use storage_port
        image=f"splitbrain/cassandra:{CASSANDRA_VERSION}",  # the same release as the local jars
        binaries=(("{java}", JAVA_HINT),),
        files=(("{cassandra_home}/lib", INSTALL_HINT),),
        settings={"cassandra_home": str(cassandra_home()), "java": "java"},
    )

    @classmethod
    def as_run(cls, spec: Mapping[str, Any]) -> AsRun:
        """The levels the run's reads and writes used: write_cl/read_cl override the mode's
        level, so a run of mode quorum with both set to ONE is a ONE run."""
        options = spec.get("options") or {}
        level = cls.mode_titles.get(str(spec.get("mode")), str(spec.get("mode")).upper())
        write, read = WRITE_CL.get(options) or level, READ_CL.get(options) or level
        base = super().as_run(spec)
        mode = write if write == read else f"write {write}, read {read}"
        return AsRun(mode, (("read_cl", read), ("write_cl", write), *base.settings))

    @classmethod
    def prepare_host(cls) -> None:
        """The jars (cached, reused) and the system user the nodes run as."""
        from harness.install import maven

        maven.resolve()
        if not maven.ensure_user():
            raise EnvironmentProblem(f"cannot create the system user {maven.USER!r}")

    def __init__(self, spec: TestSpec) -> None:
        super().__init__(spec)
        self.timings: dict[str, float] = {}  # setup's milestones, seconds from the first spawn

    def validate(self) -> None:
        super().validate()
        self.knobs()
        if not re.fullmatch(r"[1-9][0-9]*[MG]", str(self.opt(HEAP))):
            raise SpecError(f"--opt heap={self.opt(HEAP)}: expected a size like 512M or 1G")
        rf, n = self.opt(REPLICATION), self.spec.nodes
        if rf > n:
            raise SpecError(f"--opt replication_factor={rf}: more than the {n} nodes")
        if self.server_timestamps() and self.opt(CLOCK_SKEW):
            raise SpecError(
                "--opt clock_skew_ms skews client timestamps: it needs timestamps=client "
                "(with --nemesis clock, timestamps default to the servers')"
            )
        if self.opt(LWT) and self.spec.workload != "register":
            raise SpecError(
                f"--opt lwt=true applies to --workload register, not {self.spec.workload}"
            )

    def knobs(self) -> Any:
        from harness.db.cassandra_clients import Knobs

        level = MODE_LEVEL[self.spec.mode]
        return Knobs(
            write_cl=self.opt(WRITE_CL) or level,
            read_cl=self.opt(READ_CL) or level,
            serial_cl=self.opt(SERIAL_CL),
            lwt=self.opt(LWT),
            clock_skew_ms=self.opt(CLOCK_SKEW),
            server_timestamps=self.server_timestamps(),
            seed=self.spec.seed,
            timeout_s=float(self.spec.op_timeout),
        )

    def server_timestamps(self) -> bool:
        """Whether coordinators stamp writes (so that server clock faults decide LWW)."""
        how = self.opt(TIMESTAMPS)
        return how == "server" or (how == "auto" and "clock" in self.spec.nemesis)

    # -- bring-up -------------------------------------------------------------------------
    def _home(self, cluster: Cluster, node: str) -> str:
        return cluster.setting(node, "cassandra_home", str(cassandra_home()))

    def _configure(self, cluster: Cluster, node: str, seeds: list[str], token: int) -> list[str]:
        """Write the node's config files; return the argv of its JVM."""
        user = self.deployment.user
        d = cluster.node_dir(node)
        home = self._home(cluster, node)
        java = cluster.setting(node, "java", "java")
        probe = cluster.exec(
            node,
            ["sh", "-c", 'command -v "$1" && ls "$2"/lib/jamm-*.jar', "sh", java, home],
            user=user,
            check=False,
        )
        found = probe.stdout.split()
        if probe.returncode != 0 or len(found) < 2:
            what = f"{java} ({JAVA_HINT})" if not found else f"jars in {home}/lib ({INSTALL_HINT})"
            raise EnvironmentProblem(f"cassandra: {node} has no {what}")
        dirs = [str(d / s) for s in ("conf", "data", "commitlog", "saved_caches", "hints", "logs")]
        cluster.exec(node, ["mkdir", "-p", *dirs], user=user)
        conf = d / "conf"
        addr, bind = cluster.peer_address(node), cluster.listen_address(node)
        yaml = cassandra_yaml(addr, seeds, d, token, bind)
        cluster.write_file(node, conf / "cassandra.yaml", yaml, user=user)
        cluster.write_file(node, conf / "cassandra-rackdc.properties", RACKDC, user=user)
        cluster.write_file(node, conf / "logback.xml", LOGBACK, user=user)
        return jvm_argv(found[0], home, d, self.opt(HEAP), found[-1], self.opt(C1_ONLY))

    def setup(self, cluster: Cluster) -> None:
        from harness.db.cassandra_clients import create_schema

        nodes = list(cluster.nodes)
        seeds = [cluster.peer_address(nodes[0])]
        argvs = {
            n: self._configure(cluster, n, seeds, t)
            for n, t in zip(nodes, initial_tokens(len(nodes)), strict=True)
        }
        t0 = time.monotonic()
        for n in nodes:  # one at a time: two nodes joining at once can race on gossip
            cluster.spawn(n, argvs[n], user=self.deployment.user, log=self._log(cluster, n))
            self._wait_native(cluster, n, self.opt(START_TIMEOUT))
            self.timings[f"{n}_native_s"] = round(time.monotonic() - t0, 2)
        create_schema(cluster, nodes[0], self.knobs(), self.opt(REPLICATION))
        self.timings["schema_s"] = round(time.monotonic() - t0, 2)
        self._wait_all(cluster, time.monotonic() + self.opt(START_TIMEOUT))
        self.timings["all_s"] = round(time.monotonic() - t0, 2)

    def _log(self, cluster: Cluster, node: str) -> PurePosixPath:
        return PurePosixPath(cluster.node_dir(node)) / "logs" / "cassandra.log"

    def probe(self, cluster: Cluster, node: str) -> Probe:
        return options_probe(cluster.address(node, CLIENT_PORT))

    def _wait_native(self, cluster: Cluster, node: str, timeout: float) -> None:
        what = f"answering on port {CLIENT_PORT}"
        self.wait_for(cluster, node, lambda: self.ready(cluster, node, 3), what, timeout, 0.5)

    def log_tail(self, cluster: Cluster, node: str, n: int = 3) -> str:
        """The node log's last meaningful lines, joined into one (errors are one line)."""
        text = cluster.read_file(node, self._log(cluster, node))
        lines = [
            LOG_PREFIX.sub("", ln.strip())[:200]
            for ln in text.splitlines()
            if ln.strip() and not ln.startswith("\t")  # not a stack frame
        ]
        return " | ".join(lines[-n:]) or "(empty log)"

    def _wait_all(self, cluster: Cluster, deadline: float) -> None:
        """Until every node, as coordinator, answers a read at ALL: all replicas up and
        reachable from each of them."""
        from harness.db.cassandra_clients import probe_all

        pending, last = list(cluster.nodes), ""
        while pending:
            node = pending[0]
            try:
                probe_all(cluster, node, self.knobs())
                pending.pop(0)
                continue
            except Exception as e:  # noqa: BLE001 - any failure means: not yet
                last = f"{node}: {type(e).__name__}: {one_line(e)}"
            if time.monotonic() > deadline:
                raise ClusterError(f"cassandra: not every node serves at ALL in time: {last}")
            time.sleep(1)

    # -- faults and recovery --------------------------------------------------------------
    def recover(self, cluster: Cluster, timeout: float) -> dict[str, Any]:
        t0 = time.monotonic()
        restarted = [n for n in cluster.nodes if not cluster.is_running(n)]
        for n in restarted:
            self.start(cluster, n)
        self._wait_all(cluster, t0 + timeout)
        return {"restarted": restarted, "duration_s": round(time.monotonic() - t0, 3)}

    def client(self, cluster: Cluster, process: int, node: str | None = None) -> Any:
        from harness.db import cassandra_clients as cc

        kinds = {
            "set": cc.SetClient,
            "register": cc.RegisterClient,
            "counter": cc.CounterClient,
            "conflicts": cc.ConflictsClient,
        }
        node = node or cluster.nodes[process % len(cluster.nodes)]
        return kinds[self.spec.workload](cluster, self.knobs(), node, process)

    def classify(self, exc: BaseException) -> Literal["fail", "info"]:
        from harness.db.cassandra_clients import classify

        return classify(exc)
