"""psycopg 3 clients for PostgreSQL, one per workload, connecting as real applications do.

Writes use a libpq multi-host connection string over every node (rotated by process so
workers spread) with target_session_attrs=read-write: libpq picks the first node that takes
writes, which during a split brain may be the isolated old primary. Reads (a transaction
without writes: every op the workload marks read-only, and list-append transactions of reads
only) follow spec.read_from (primary: read-write; replica: standby; any: any) over the nodes
in a seeded order per process (read_order), so that reads spread over the replicas whichever
node is the primary. A client built for one node (final reads after healing) connects to that
node only, whatever its role.

Isolation: every transaction runs at spec.isolation, except on a hot standby at serializable:
PostgreSQL refuses that there ("cannot use serializable mode in a hot standby"), so a standby
runs it at REPEATABLE READ (snapshot isolation), as Jepsen's runs against RDS replicas did.
Such a run can promise only snapshot isolation, and the list-append workload checks it against
that (workloads.append.models_for).

Autocommit is off: each op is one explicit transaction, committed or rolled back. A connection
is (re)opened lazily; a failure to connect raises Fail (nothing was sent).

Where a node is reached comes from the node contract (Postgres.address -> cluster.address),
as whom from pg_config.LOGIN. The history's node of an op is found from the (host, port)
libpq actually connected to.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, TypeVar

import psycopg
from psycopg import IsolationLevel

from harness.cluster import Cluster
from harness.db.pg_config import LOGIN
from harness.db.sqlclient import SqlDialect, SqlWorkloadClient, client_classes
from harness.errors import one_line
from harness.spec import TestSpec
from workloads import Fail


class Postgres(Protocol):
    """What the clients use of the definition (harness.db.postgres.Postgres)."""

    spec: TestSpec

    def address(self, cluster: Cluster, node: str) -> tuple[str, int]: ...


T = TypeVar("T")

ISOLATION = {
    "read-committed": IsolationLevel.READ_COMMITTED,
    "repeatable-read": IsolationLevel.REPEATABLE_READ,
    "serializable": IsolationLevel.SERIALIZABLE,
}
ATTRS = {"primary": "read-write", "replica": "standby", "any": "any"}

# SQLSTATE classes that say "the connection or the server went away": the op may or may not
# have been applied (a COMMIT may have been executed before the answer was lost).
INDETERMINATE_CLASSES = ("08", "57", "58", "XX")
# 57014 query_canceled: a cancelled wait for synchronous replication still commits locally.


def classify(exc: BaseException) -> Literal["fail", "info"]:
    """fail: certainly not applied; info: may have been applied."""
    if isinstance(exc, Fail):
        return "fail"
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            # psycopg's own errors without a server answer: connection lost mid-op, socket shut
            # down by abort(), timeouts. Only errors raised before anything was sent are safe.
            if isinstance(
                exc, psycopg.InterfaceError | psycopg.ProgrammingError | psycopg.DataError
            ):
                return "fail"  # refused by psycopg itself, before sending anything
            return "info"
        if state.startswith(INDETERMINATE_CLASSES):
            return "info"
        # A server error answering a statement: the transaction is aborted and was not
        # committed (40001 serialization, 40P01 deadlock, 25006 read-only, 23505 unique, ...).
        return "fail"
    return "info"


def read_order(nodes: Sequence[str], seed: int, process: int) -> list[str]:
    """The order in which a process's read connection tries the nodes. libpq takes the first
    that fits target_session_attrs, so the orders are dealt to spread readers evenly over the
    replicas whichever node is the primary: process p tries node p mod n of a seeded shuffle
    first, then the others rotated by p // n, so that the processes whose first node is the
    primary go to each replica in turn (a plain rotation, as for writes, would send all of
    them to the node after the primary: twice the share of the others, with 3 nodes)."""
    order = list(nodes)
    random.Random(seed).shuffle(order)
    n = len(order)
    first = order[process % n]
    rest = [x for x in order if x != first]
    k = (process // n) % max(1, n - 1)
    return [first, *rest[k:], *rest[:k]]


def multi_host(addrs: Sequence[tuple[str, int]], attrs: str, base: dict[str, Any]) -> str:
    """A libpq connection string over the hosts, tried in this order."""
    ports = sorted({p for _, p in addrs})
    # libpq pairs a list of ports with the hosts; one port applies to every host
    port_list = str(ports[0]) if len(ports) == 1 else ",".join(str(p) for _, p in addrs)
    return psycopg.conninfo.make_conninfo(
        host=",".join(h for h, _ in addrs), port=port_list, target_session_attrs=attrs, **base
    )


class PgClient(SqlWorkloadClient):
    def __init__(
        self, pg: Postgres, cluster: Cluster, process: int, node: str | None = None
    ) -> None:
        super().__init__()  # self.conns: "write" | "read" -> connection
        self.spec = spec = pg.spec
        self.process = process
        addrs = {n: pg.address(cluster, n) for n in cluster.nodes}
        self.by_addr = {a: n for n, a in addrs.items()}  # (host, port) -> node
        self._node_of: dict[int, Any] = {}  # id(connection) -> node it reached
        self.node: str | None = node  # the node of the current connection (history "node")
        base: dict[str, Any] = {
            **LOGIN.params(),
            "connect_timeout": 2,
            "application_name": f"splitbrain-{process}",
            "keepalives": 1,
            "keepalives_idle": 2,
            "keepalives_interval": 1,
            "keepalives_count": 3,
        }
        if node is not None:
            host, port = addrs[node]
            one = psycopg.conninfo.make_conninfo(host=host, port=port, **base)
            self.dsn = {"write": one, "read": one}
        else:
            k = process % len(cluster.nodes)
            writes = list(cluster.nodes[k:] + cluster.nodes[:k])
            self.dsn = {"write": multi_host([addrs[n] for n in writes], "read-write", base)}
            if spec.read_from == "primary":
                self.dsn["read"] = self.dsn["write"]
            else:
                reads = read_order(cluster.nodes, spec.seed, process)
                self.dsn["read"] = multi_host(
                    [addrs[n] for n in reads], ATTRS[spec.read_from], base
                )

    # -- connections ----------------------------------------------------------------------
    def _connect(self, role: str) -> psycopg.Connection:
        dsn = self.dsn[role]
        key = "write" if dsn == self.dsn["write"] else role  # one connection when they coincide
        conn = self.conns.get(key)
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        try:
            conn = psycopg.connect(dsn, autocommit=False)
        except psycopg.Error as e:
            self.node = None
            raise Fail(f"connect: {one_line(e)}") from e
        level = ISOLATION[self.spec.isolation]
        if (
            level == IsolationLevel.SERIALIZABLE
            and conn.info.parameter_status("in_hot_standby") == "on"
        ):
            level = IsolationLevel.REPEATABLE_READ  # a hot standby refuses serializable
        conn.isolation_level = level
        self.conns[key] = conn
        # which node libpq picked, computed once per connection rather than once per op
        self._node_of[id(conn)] = self.by_addr.get((conn.info.host, conn.info.port), conn.info.host)
        return conn

    def _txn(self, role: str, body: Callable[[Any], T]) -> T:
        conn = self._connect(role)
        self.node = self._node_of.get(id(conn))
        with self._running(conn):
            try:
                with conn.cursor() as cur:
                    out = body(cur)
                conn.commit()
                return out
            except BaseException:
                self._rollback(conn)
                raise

    def _rollback(self, conn: psycopg.Connection) -> None:
        if conn.broken or conn.closed:
            self._drop(conn)
            return
        try:
            conn.rollback()
        except psycopg.Error:
            self._drop(conn)

    def _socket_fd(self, conn: psycopg.Connection) -> int | None:
        # abort() shuts this down; no cancel request: a cancelled COMMIT waiting for a sync
        # standby is still committed locally (see harness.db.sqlclient)
        if conn.closed:
            return None
        try:
            return conn.pgconn.socket
        except psycopg.Error:
            return None


PG = SqlDialect(
    "postgresql",
    {
        "set_add": "INSERT INTO sets (k, v) VALUES (%s, %s)",
        "set_read": "SELECT v FROM sets WHERE k = %s ORDER BY v",
        "set_all": "SELECT k, v FROM sets ORDER BY k, v",
        "register_read": "SELECT v FROM registers WHERE k = %s",
        "register_upsert": "INSERT INTO registers (k, v) VALUES (%s, %s)"
        " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
        "register_cas": "UPDATE registers SET v = %s WHERE k = %s AND v = %s",
        "kv_get": "SELECT v FROM kv WHERE k = %s",
        "kv_put": "INSERT INTO kv (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
        # one atomic statement: the row's old value and the new one, joined by the server
        "kv_append": "INSERT INTO kv (k, v) VALUES (%s, %s)"
        " ON CONFLICT (k) DO UPDATE SET v = kv.v || EXCLUDED.v",
        "list_append": "INSERT INTO lists (k, v) VALUES (%s, ARRAY[%s]::int[])"
        " ON CONFLICT (k) DO UPDATE SET v = lists.v || EXCLUDED.v",
        "list_read": "SELECT v FROM lists WHERE k = %s",
        "bank_debit": "UPDATE accounts SET balance = balance - %s WHERE id = %s AND balance >= %s",
        "bank_credit": "UPDATE accounts SET balance = balance + %s WHERE id = %s",
        "bank_read": "SELECT id, balance FROM accounts ORDER BY id",
    },
    {
        "set": (
            "CREATE TABLE sets (k int NOT NULL, v int NOT NULL)",
            "CREATE INDEX sets_k ON sets (k)",
        ),
        "register": ("CREATE TABLE registers (k int PRIMARY KEY, v int)",),
        "kv": ("CREATE TABLE kv (k int PRIMARY KEY, v text NOT NULL)",),
        "append": ("CREATE TABLE lists (k int PRIMARY KEY, v int[] NOT NULL)",),
        "bank": ("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)",),
    },  # fmt: skip
)
PgClient.dialect = PG
CLIENTS = client_classes(PgClient)


def make_client(pg: Postgres, cluster: Cluster, process: int, node: str | None = None) -> Any:
    return CLIENTS[pg.spec.workload](pg, cluster, process, node)  # type: ignore[call-arg]
