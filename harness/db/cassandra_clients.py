"""cassandra-driver clients for the set, register, counter and conflicts workloads, the schema,
the ALL probe, and error classification.

Each client has its own driver Cluster pinned to ONE coordinator (its node, at the address the
provider gives the harness) by a white-list policy, so concurrent workers really go through
different coordinators and the completion's node is the coordinator. Driver retries are off
(FallthroughRetryPolicy) and so is speculative execution: each op is sent once, to one node.
Every statement carries its own consistency level (write_cl for writes, read_cl for reads,
serial_cl for the Paxos phase of LWTs).

Plain writes carry an explicit client timestamp (USING TIMESTAMP): the client's clock plus a
fixed per-worker offset with option clock_skew_ms, as a client host with a wrong clock would.
Last-write-wins then keeps the write with the highest timestamp, not the newest one.
With server timestamps (option timestamps; the default under --nemesis clock) writes carry
none and the driver sends none either (Session.use_client_timestamp = False: the driver
otherwise stamps every request from this host's clock, protocol v3+), so the coordinator
stamps each write from its own, possibly faked, clock.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import cassandra
from cassandra import ConsistencyLevel
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    ExecutionProfile,
    NoHostAvailable,
)
from cassandra.cluster import Cluster as DriverCluster
from cassandra.connection import ConnectionException
from cassandra.policies import (
    FallthroughRetryPolicy,
    NoSpeculativeExecutionPolicy,
    WhiteListRoundRobinPolicy,
)
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage
from cassandra.query import SimpleStatement

from harness.cluster import Cluster
from workloads import Client, Fail

KEYSPACE = "splitbrain"
CLIENT_PORT = 9042
RECONNECT_PAUSE_S = 0.5  # between two connection attempts of one client
DATACENTER = "dc1"
Refused = OverloadedErrorMessage | IsBootstrappingErrorMessage
TABLES = (
    "CREATE TABLE IF NOT EXISTS {ks}.sets (k int, v int, PRIMARY KEY (k, v))",
    "CREATE TABLE IF NOT EXISTS {ks}.registers (k int PRIMARY KEY, v int)",
    "CREATE TABLE IF NOT EXISTS {ks}.counters (k int PRIMARY KEY, n counter)",
    "CREATE TABLE IF NOT EXISTS {ks}.lww (k int PRIMARY KEY, v int)",
)


def level(name: str) -> int:
    """ConsistencyLevel value of a name like QUORUM or LOCAL_SERIAL."""
    value: int = getattr(ConsistencyLevel, name)
    return value


@dataclass(frozen=True)
class Knobs:
    write_cl: str  # ONE | TWO | QUORUM | ALL | LOCAL_QUORUM
    read_cl: str
    serial_cl: str  # SERIAL | LOCAL_SERIAL
    lwt: bool
    clock_skew_ms: float
    seed: int
    timeout_s: float
    server_timestamps: bool = False  # writes stamped by the coordinator, not the client


def schema(replication_factor: int) -> list[str]:
    ks = (
        f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
        f"{{'class': 'NetworkTopologyStrategy', '{DATACENTER}': {replication_factor}}}"
    )
    return [ks, *(t.format(ks=KEYSPACE) for t in TABLES)]


def classify(exc: BaseException) -> Literal["fail", "info"]:
    """fail: certainly not applied; info: may have been applied."""
    if isinstance(exc, Fail):
        return "fail"
    if isinstance(exc, cassandra.Unavailable):
        return "fail"  # the coordinator saw too few replicas alive and did not write
    if isinstance(exc, cassandra.WriteTimeout | cassandra.WriteFailure):
        return "info"  # some replicas may have applied it; LWW or repair may spread it
    if isinstance(exc, cassandra.ReadTimeout | cassandra.ReadFailure):
        return "fail"  # a read (or an LWT's read phase, before any proposal) changes nothing
    if isinstance(exc, cassandra.OperationTimedOut):
        return "info"  # the driver stopped waiting; the coordinator may have gone on
    if isinstance(exc, NoHostAvailable):
        # Normally: no coordinator could even be asked. If a host timed out on it, it was sent.
        inner = (exc.errors or {}).values() if isinstance(exc.errors, dict) else []
        sent = (cassandra.OperationTimedOut, cassandra.WriteTimeout, cassandra.WriteFailure)
        return "info" if any(isinstance(e, sent) for e in inner) else "fail"
    if isinstance(exc, cassandra.RequestValidationException | Refused):
        return "fail"  # invalid, unauthorized, overloaded, bootstrapping: refused up front
    if isinstance(exc, ConnectionException):
        return "info"  # the connection died with the request possibly sent
    return "info"


class ClientClock:
    """Microsecond write timestamps from this host's clock plus a fixed offset, strictly
    increasing per client (two writes of one worker never tie)."""

    def __init__(self, offset_us: int) -> None:
        self.offset_us = offset_us
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1000 + self.offset_us)
            return self._last


def clock_offset_ms(knobs: Knobs, process: int) -> float:
    """Deterministic per-worker offset in [-skew, +skew] (0 without clock_skew_ms)."""
    if not knobs.clock_skew_ms:
        return 0.0
    return random.Random(f"{knobs.seed}:{process}").uniform(
        -knobs.clock_skew_ms, knobs.clock_skew_ms
    )


def connect(
    cluster: Cluster,
    node: str,
    knobs: Knobs,
    keyspace: str | None = KEYSPACE,
) -> tuple[DriverCluster, Any]:
    """A driver session whose only coordinator is `node`."""
    host, port = cluster.address(node, CLIENT_PORT)
    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([host]),
        retry_policy=FallthroughRetryPolicy(),
        speculative_execution_policy=NoSpeculativeExecutionPolicy(),
        consistency_level=level(knobs.read_cl),
        serial_consistency_level=level(knobs.serial_cl),
        request_timeout=knobs.timeout_s,
    )
    dc = DriverCluster(
        contact_points=[host],
        port=port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=5,
        connect_timeout=knobs.timeout_s,
        control_connection_timeout=knobs.timeout_s,
        schema_metadata_enabled=False,  # faster connects; no client reads the metadata
        token_metadata_enabled=False,
    )
    try:
        session = dc.connect(keyspace)
        session.use_client_timestamp = not knobs.server_timestamps
        return dc, session
    except BaseException:
        dc.shutdown()
        raise


def create_schema(cluster: Cluster, node: str, knobs: Knobs, replication_factor: int) -> None:
    """Keyspace and tables through one coordinator (which knows each change it made, so the
    next statement needs no wait), then one wait until every node has the same schema."""
    dc, session = connect(cluster, node, knobs, keyspace=None)
    dc.max_schema_agreement_wait = 0  # no wait after each statement
    try:
        for stmt in schema(replication_factor):
            session.execute(stmt, timeout=60)
        if not dc.control_connection.wait_for_schema_agreement(wait_time=60):
            raise cassandra.OperationTimedOut("no schema agreement within 60 s")
    finally:
        dc.shutdown()


def probe_all(cluster: Cluster, node: str, knobs: Knobs) -> None:
    """A scan at ALL coordinated by node: raises unless every replica answers it."""
    dc, session = connect(cluster, node, knobs)
    try:
        q = SimpleStatement(
            f"SELECT k FROM {KEYSPACE}.registers", consistency_level=ConsistencyLevel.ALL
        )
        session.execute(q, timeout=knobs.timeout_s)
    finally:
        dc.shutdown()


class CassandraClient(Client):
    ops: dict[str, str] = {}
    statements: dict[str, str] = {}
    writes: frozenset[str] = frozenset()  # statement names bound at write_cl

    def __init__(self, cluster: Cluster, knobs: Knobs, node: str, process: int) -> None:
        self.cluster, self.knobs, self.node = cluster, knobs, node
        self.clock_offset_ms = clock_offset_ms(knobs, process)
        self.clock = ClientClock(int(self.clock_offset_ms * 1000))
        self._dc: DriverCluster | None = None
        self._session: Any = None
        self._prepared: dict[str, Any] = {}
        self._refused_at = -RECONNECT_PAUSE_S

    def _run(self, name: str, *args: Any, consistency: int | None = None) -> Any:
        if self._session is None:
            # A down coordinator refuses at once: without a pause the worker would spin,
            # filling the history with thousands of identical fails per second.
            wait = self._refused_at + RECONNECT_PAUSE_S - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                self._dc, self._session = connect(self.cluster, self.node, self.knobs)
            except NoHostAvailable as e:
                self._refused_at = time.monotonic()
                raise Fail(f"cannot connect to {self.node}: {e}") from None  # nothing sent
            self._prepared = {}
        stmt = self._prepared.get(name)
        if stmt is None:
            stmt = self._prepared[name] = self._session.prepare(self.statements[name])
        bound = stmt.bind(args)
        if consistency is None:
            kind = self.knobs.write_cl if name in self.writes else self.knobs.read_cl
            consistency = level(kind)
        bound.consistency_level = consistency
        try:
            return self._session.execute(bound)
        except NoHostAvailable as e:
            if e.errors:
                raise  # a host was tried: classify() decides
            # The driver holds the coordinator for down and sent nothing: connect afresh
            # (after the pause) rather than failing at once again.
            self.abort()
            self._refused_at = time.monotonic()
            raise Fail(f"{self.node} is down for the driver: nothing sent") from None

    def invoke(self, f: str, value: Any) -> Any:
        name = self.ops.get(f)
        if name is None:
            raise Fail(f"unknown op {f!r} for {type(self).__name__}")
        return getattr(self, name)(value)

    def abort(self) -> None:
        dc, self._dc, self._session = self._dc, None, None
        if dc is not None:
            with contextlib.suppress(Exception):
                dc.shutdown()

    def close(self) -> None:
        self.abort()


class SetClient(CassandraClient):
    ops = {"add": "add", "read": "read", "final-read": "final_read"}
    statements = {
        "add": "INSERT INTO sets (k, v) VALUES (?, ?) USING TIMESTAMP ?",
        "add-server": "INSERT INTO sets (k, v) VALUES (?, ?)",
        "read": "SELECT v FROM sets WHERE k = ?",
        "all": "SELECT k, v FROM sets",
    }
    writes = frozenset({"add", "add-server"})

    def add(self, value: list[int]) -> None:
        k, v = value
        if self.knobs.server_timestamps:
            self._run("add-server", k, v)
        else:
            self._run("add", k, v, self.clock())

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        return [k, sorted(r.v for r in self._run("read", k))]

    def final_read(self, value: Any) -> list[list[Any]]:
        out: dict[int, list[int]] = {}
        for r in self._run("all", consistency=ConsistencyLevel.ALL):
            out.setdefault(r.k, []).append(r.v)
        return [[k, sorted(vs)] for k, vs in sorted(out.items())]


class RegisterClient(CassandraClient):
    """Plain: blind writes at write_cl, reads at read_cl, no cas. With lwt: every write and cas
    is a Paxos round (IF ...) at serial_cl, committed at write_cl, and reads are at serial_cl:
    the cas-register model then holds if Cassandra's LWTs are linearizable."""

    ops = {"read": "read", "write": "write", "cas": "cas"}
    statements = {
        "read": "SELECT v FROM registers WHERE k = ?",
        "write": "UPDATE registers USING TIMESTAMP ? SET v = ? WHERE k = ?",
        "write-server": "UPDATE registers SET v = ? WHERE k = ?",
        "write-lwt": "UPDATE registers SET v = ? WHERE k = ? IF EXISTS",
        "insert-lwt": "INSERT INTO registers (k, v) VALUES (?, ?) IF NOT EXISTS",
        "cas": "UPDATE registers SET v = ? WHERE k = ? IF v = ?",
    }
    writes = frozenset({"write", "write-server", "write-lwt", "insert-lwt", "cas"})

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        serial = level(self.knobs.serial_cl) if self.knobs.lwt else None
        row = self._run("read", k, consistency=serial).one()
        return [k, row.v if row else None]

    def write(self, value: list[Any]) -> list[Any]:
        k, v = value
        if not self.knobs.lwt and self.knobs.server_timestamps:
            self._run("write-server", v, k)
        elif not self.knobs.lwt:
            self._run("write", self.clock(), v, k)
        elif (
            not self._run("write-lwt", v, k).was_applied
            and not self._run("insert-lwt", k, v).was_applied
        ):
            # Neither step applied (the row appeared between them): nothing changed.
            raise Fail(f"write: register {k} neither existed nor could be created")
        return value

    def cas(self, value: list[Any]) -> list[Any]:
        k, (old, new) = value
        if not self.knobs.lwt:
            raise Fail("cas needs lightweight transactions (option lwt=true)")  # never sent
        if not self._run("cas", new, k, old).was_applied:
            raise Fail(f"cas: register {k} is not {old}")
        return value


class CounterClient(CassandraClient):
    ops = {"add": "add", "read": "read", "final-read": "read"}
    statements = {
        "add": "UPDATE counters SET n = n + ? WHERE k = 0",  # counters take no USING TIMESTAMP
        "read": "SELECT n FROM counters WHERE k = 0",
    }
    writes = frozenset({"add"})

    def add(self, value: int) -> None:
        self._run("add", int(value))

    def read(self, value: Any) -> int:
        row = self._run("read").one()
        return int(row.n) if row and row.n is not None else 0


class ConflictsClient(CassandraClient):
    ops = {"write": "write", "read": "read", "final-read": "final_read"}
    statements = {
        "write": "UPDATE lww USING TIMESTAMP ? SET v = ? WHERE k = ?",
        "write-server": "UPDATE lww SET v = ? WHERE k = ?",
        "read": "SELECT v FROM lww WHERE k = ?",
        "all": "SELECT k, v FROM lww",
    }
    writes = frozenset({"write", "write-server"})

    def write(self, value: list[Any]) -> list[Any]:
        k, v = value
        if self.knobs.server_timestamps:
            self._run("write-server", v, k)
        else:
            self._run("write", self.clock(), v, k)
        return value

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        row = self._run("read", k).one()
        return [k, row.v if row else None]

    def final_read(self, value: Any) -> list[list[Any]]:
        rows = self._run("all", consistency=ConsistencyLevel.ALL)
        return sorted([r.k, r.v] for r in rows)
