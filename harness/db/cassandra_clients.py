"""cassandra-driver clients for the set, register, counter and conflicts workloads, and error
classification.

Each client has its own driver Cluster pinned to ONE coordinator (its node, at the address the
provider publishes) with a white-list policy: peers are discovered by their container
addresses and ignored, so concurrent writers really go through different coordinators.
Retries are off (FallthroughRetryPolicy): each op is attempted once.

Timestamps are client-side (the driver's default for protocol v3+). With option
clock_skew_ms the client's timestamp generator adds a fixed per-process offset, as a client
host with a wrong clock would: last-write-wins then keeps the write with the highest
timestamp, not the newest one.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Any, Literal

import cassandra
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile, NoHostAvailable
from cassandra.cluster import Cluster as DriverCluster
from cassandra.connection import ConnectionException
from cassandra.policies import FallthroughRetryPolicy, WhiteListRoundRobinPolicy
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage
from cassandra.timestamps import MonotonicTimestampGenerator

from harness.cluster import Cluster
from workloads import Client, Fail

KEYSPACE = "splitbrain"
Refused = OverloadedErrorMessage | IsBootstrappingErrorMessage
LEVELS = {
    "one": ConsistencyLevel.ONE,
    "quorum": ConsistencyLevel.QUORUM,
    "all": ConsistencyLevel.ALL,
}
SCHEMA = (
    f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
    "{'class': 'NetworkTopologyStrategy', 'dc1': 3}",
    f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.sets (k int, v int, PRIMARY KEY (k, v))",
    f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.registers (k int PRIMARY KEY, v int)",
    f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.counters (k int PRIMARY KEY, n counter)",
    f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.lww (k int PRIMARY KEY, v int)",
)


@dataclass(frozen=True)
class Knobs:
    consistency: str  # one | quorum | all
    lwt: bool
    clock_skew_ms: float
    seed: int
    timeout_s: float


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


class SkewedTimestamps(MonotonicTimestampGenerator):
    """Client-side timestamps (µs) shifted by a fixed offset, like a client with a wrong clock."""

    def __init__(self, offset_us: int) -> None:
        super().__init__(warn_on_drift=False)
        self.offset_us = offset_us

    def _next_timestamp(self, now: int, last: int) -> int:  # now: µs since the epoch
        return super()._next_timestamp(now + self.offset_us, last)


def clock_offset_ms(knobs: Knobs, process: int) -> float:
    """Deterministic per-process offset in [-skew, +skew] (0 without clock_skew_ms)."""
    if not knobs.clock_skew_ms:
        return 0.0
    return random.Random(f"{knobs.seed}:{process}").uniform(
        -knobs.clock_skew_ms, knobs.clock_skew_ms
    )


def connect(
    cluster: Cluster,
    node: str,
    knobs: Knobs,
    offset_ms: float = 0.0,
    keyspace: str | None = KEYSPACE,
) -> tuple[DriverCluster, Any]:
    host = cluster.host(node)
    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([host]),
        retry_policy=FallthroughRetryPolicy(),
        consistency_level=LEVELS[knobs.consistency],
        serial_consistency_level=ConsistencyLevel.SERIAL,
        request_timeout=knobs.timeout_s,
    )
    dc = DriverCluster(
        contact_points=[host],
        port=cluster.port(node),  # type: ignore[attr-defined]  # compose provider
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=4,
        timestamp_generator=SkewedTimestamps(int(offset_ms * 1000)),
        connect_timeout=knobs.timeout_s,
        control_connection_timeout=knobs.timeout_s,
    )
    try:
        return dc, dc.connect(keyspace)
    except BaseException:
        dc.shutdown()
        raise


class CassandraClient(Client):
    ops: dict[str, str] = {}
    statements: dict[str, str] = {}

    def __init__(self, cluster: Cluster, knobs: Knobs, node: str, process: int) -> None:
        self.cluster, self.knobs, self.node = cluster, knobs, node
        self.clock_offset_ms = clock_offset_ms(knobs, process)
        self._dc: DriverCluster | None = None
        self._session: Any = None
        self._prepared: dict[str, Any] = {}

    def _run(self, name: str, *args: Any, consistency: int | None = None) -> Any:
        if self._session is None:
            try:
                self._dc, self._session = connect(
                    self.cluster, self.node, self.knobs, self.clock_offset_ms
                )
            except NoHostAvailable as e:
                raise Fail(f"cannot connect to {self.node}: {e}") from None  # nothing sent
            self._prepared = {}
        stmt = self._prepared.get(name)
        if stmt is None:
            stmt = self._prepared[name] = self._session.prepare(self.statements[name])
        bound = stmt.bind(args)
        if consistency is not None:
            bound.consistency_level = consistency
        return self._session.execute(bound)

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
        "add": "INSERT INTO sets (k, v) VALUES (?, ?)",
        "read": "SELECT v FROM sets WHERE k = ?",
        "all": "SELECT k, v FROM sets",
    }

    def add(self, value: list[int]) -> None:
        self._run("add", *value)

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        return [k, sorted(r.v for r in self._run("read", k))]

    def final_read(self, value: Any) -> list[list[Any]]:
        out: dict[int, list[int]] = {}
        for r in self._run("all", consistency=ConsistencyLevel.ALL):
            out.setdefault(r.k, []).append(r.v)
        return [[k, sorted(vs)] for k, vs in sorted(out.items())]


class RegisterClient(CassandraClient):
    """Plain: blind writes at the consistency level, no cas. With lwt: every write and cas is a
    Paxos round (IF ...) and reads are at SERIAL."""

    ops = {"read": "read", "write": "write", "cas": "cas"}
    statements = {
        "read": "SELECT v FROM registers WHERE k = ?",
        "write": "UPDATE registers SET v = ? WHERE k = ?",
        "write-lwt": "UPDATE registers SET v = ? WHERE k = ? IF EXISTS",
        "insert-lwt": "INSERT INTO registers (k, v) VALUES (?, ?) IF NOT EXISTS",
        "cas": "UPDATE registers SET v = ? WHERE k = ? IF v = ?",
    }

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        serial = ConsistencyLevel.SERIAL if self.knobs.lwt else None
        row = self._run("read", k, consistency=serial).one()
        return [k, row.v if row else None]

    def write(self, value: list[Any]) -> list[Any]:
        k, v = value
        if not self.knobs.lwt:
            self._run("write", v, k)
        elif (
            not self._run("write-lwt", v, k).was_applied
            and not self._run("insert-lwt", k, v).was_applied
        ):
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
        "add": "UPDATE counters SET n = n + ? WHERE k = 0",
        "read": "SELECT n FROM counters WHERE k = 0",
    }

    def add(self, value: int) -> None:
        self._run("add", int(value))

    def read(self, value: Any) -> int:
        row = self._run("read").one()
        return int(row.n) if row and row.n is not None else 0


class ConflictsClient(CassandraClient):
    ops = {"write": "write", "read": "read", "final-read": "final_read"}
    statements = {
        "write": "UPDATE lww SET v = ? WHERE k = ?",
        "read": "SELECT v FROM lww WHERE k = ?",
        "all": "SELECT k, v FROM lww",
    }

    def write(self, value: list[Any]) -> list[Any]:
        k, v = value
        self._run("write", v, k)
        return value

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        row = self._run("read", k).one()
        return [k, row.v if row else None]

    def final_read(self, value: Any) -> list[list[Any]]:
        rows = self._run("all", consistency=ConsistencyLevel.ALL)
        return sorted([r.k, r.v] for r in rows)
