"""PyMySQL clients for MariaDB Galera, one per workload.

Routing (a peer-to-peer database has no primary, so spec.read_from is reinterpreted):
- write_to=all (default): every worker talks to ONE node, nodes[process % N], for reads and
  writes, so concurrent writes to the same keys enter the cluster through different nodes and
  meet in certification. read_from is ignored.
- write_to=one: all writes go to n1 (the "write node"); reads go by read_from: primary ->
  n1; replica -> one of the other nodes (by process); any -> any node (by process).
A client built for one node (final reads after healing) uses that node for everything.

Each op is one explicit transaction (autocommit off) at the spec's isolation level, with the
session's wsrep_sync_wait from the spec. A connection is opened lazily; failing to open it, or
any error before COMMIT was sent, raises Fail: a transaction whose COMMIT never reached the
server cannot have committed. Errors during COMMIT are classified by classify().

CLIENT.FOUND_ROWS is set on purpose: UPDATE's row count is then the rows *matched*, not the
rows changed, so a cas from v to v (no change) still succeeds, like on every other database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar

import pymysql
from pymysql.constants import CLIENT

from harness.cluster import Cluster
from harness.db.sqlclient import SqlDialect, SqlWorkloadClient, client_classes
from harness.spec import TestSpec
from workloads import Fail


class Galera(Protocol):
    """What the clients use of the definition (harness.db.galera.Galera): its spec, the
    routing and causal-read knobs, and how it connects to a node."""

    spec: TestSpec

    @property
    def write_to(self) -> str: ...
    @property
    def sync_wait(self) -> int: ...

    def connect(self, cluster: Cluster, node: str, timeout: float = 3, **kw: Any) -> Any: ...


T = TypeVar("T")

ISOLATION = {
    "read-committed": "READ COMMITTED",
    "repeatable-read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}

# Server answers that say the transaction certainly did not commit.
DEFINITE = {
    1213,  # ER_LOCK_DEADLOCK: a local deadlock, a brute-force abort by a replicated writeset,
    #        or, on COMMIT, a certification failure: rolled back cluster-wide
    1047,  # ER_UNKNOWN_COM_ERROR "WSREP has not yet prepared node for application use":
    #        the node is not in the Primary component and refuses the statement
    1205,  # ER_LOCK_WAIT_TIMEOUT: the statement was rolled back (we then roll back the rest)
}
# Server answers after which a COMMIT may or may not have been applied.
INDETERMINATE = {
    1053,  # ER_SERVER_SHUTDOWN
    1180,  # ER_ERROR_DURING_COMMIT
    1181,  # ER_ERROR_DURING_ROLLBACK
    1317,  # ER_QUERY_INTERRUPTED
    1927,  # ER_CONNECTION_KILLED
    4031,  # ER_CLIENT_INTERACTION_TIMEOUT
}
# Client-side errors (>= 2000) raised before anything reached the server.
NOT_SENT = {
    2002,  # CR_CONNECTION_ERROR (socket)
    2003,  # CR_CONN_HOST_ERROR: connection refused / unreachable / connect timeout
    2005,  # CR_UNKNOWN_HOST
}


def error_code(exc: BaseException) -> int | None:
    if isinstance(exc, pymysql.Error) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def classify(exc: BaseException) -> Literal["fail", "info"]:
    """fail: certainly not applied; info: may have been applied (timeouts, connection lost
    mid-op: 2013 lost connection, 2006 gone away, raw socket errors)."""
    if isinstance(exc, Fail):
        return "fail"
    if isinstance(exc, pymysql.err.InterfaceError):
        return "fail"  # used a connection that was already closed: nothing was sent
    code = error_code(exc)
    if code is None:
        return "info"  # socket errors, timeouts, anything we cannot place
    if code in DEFINITE or code in NOT_SENT:
        return "fail"
    if code in INDETERMINATE or code >= 2000:
        return "info"  # 2006 gone away, 2013 lost connection, 2014 out of sync, ...
    # Any other answer from the server rejected the statement (duplicate key, syntax, read
    # only...): the transaction is rolled back, never committed.
    return "fail"


def route(
    galera: Galera, cluster: Cluster, process: int, node: str | None = None
) -> tuple[str, str]:
    """(write node, read node) of a worker; see the module docstring."""
    nodes = list(cluster.nodes)
    if node is not None:
        return node, node
    if galera.write_to == "all":
        n = nodes[process % len(nodes)]
        return n, n
    write = nodes[0]
    read_from = galera.spec.read_from
    if read_from == "primary" or len(nodes) == 1:
        return write, write
    if read_from == "replica":
        others = nodes[1:]
        return write, others[process % len(others)]
    return write, nodes[process % len(nodes)]


class PyMySQLClient(SqlWorkloadClient):
    """One explicit transaction per op over a PyMySQL connection (MariaDB's servers: Galera
    and primary-replica). A subclass picks the connection (_conn_for sets self.node) and may
    act on an error (_after_error)."""

    def _conn_for(self, role: str) -> Any:
        raise NotImplementedError

    def _after_error(self, conn: Any, exc: BaseException) -> None:
        """What an error says about the connection beyond this op (nothing, by default)."""

    def _txn(self, role: str, body: Callable[[Any], T]) -> T:
        conn = self._conn_for(role)
        committing = False
        with self._running(conn):
            try:
                conn.begin()
                with conn.cursor() as cur:
                    out = body(cur)
                committing = True
                conn.commit()
                return out
            except Fail:
                self._rollback(conn)
                raise
            except (pymysql.Error, OSError) as e:
                self._rollback(conn)
                self._after_error(conn, e)
                if not committing:
                    # COMMIT was never sent: whatever the error (even a lost connection), the
                    # server rolls the transaction back. Keep the code in the message
                    # (accounting).
                    raise Fail(f"{type(e).__name__}: {_one_line(e)}") from e
                raise

    def _rollback(self, conn: Any) -> None:
        try:
            if conn.open:
                conn.rollback()
                return
        except Exception:
            pass
        self._drop(conn)

    def _socket_fd(self, conn: Any) -> int | None:
        # abort() shuts this down; never KILL QUERY (see harness.db.sqlclient)
        sock = getattr(conn, "_sock", None)  # None once PyMySQL closed the connection
        return None if sock is None else sock.fileno()


class GaleraClient(PyMySQLClient):
    def __init__(
        self, galera: Galera, cluster: Cluster, process: int, node: str | None = None
    ) -> None:
        super().__init__()  # self.conns: node -> pymysql connection
        self.galera = galera
        self.spec = galera.spec
        self.cluster = cluster
        self.process = process
        self.targets = dict(
            zip(("write", "read"), route(galera, cluster, process, node), strict=True)
        )
        self.node: str | None = self.targets["write"]  # node of the current op (history)

    # -- connections ----------------------------------------------------------------------
    def _connect(self, node: str) -> Any:
        conn = self.conns.get(node)
        if conn is not None and conn.open:
            return conn
        t = self.spec.op_timeout
        lock_wait = max(1, int(t / 2))  # a lock wait ends as a definite 1205 before op_timeout
        try:
            conn = self.galera.connect(
                self.cluster,
                node,
                timeout=t,
                database="splitbrain",
                autocommit=False,
                client_flag=CLIENT.FOUND_ROWS,
            )
            with conn.cursor() as cur:
                cur.execute(
                    "SET SESSION wsrep_sync_wait = %s, SESSION innodb_lock_wait_timeout = %s",
                    (self.galera.sync_wait, lock_wait),
                )
                cur.execute(
                    f"SET SESSION TRANSACTION ISOLATION LEVEL {ISOLATION[self.spec.isolation]}"
                )
        except (pymysql.Error, OSError) as e:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            self.conns.pop(node, None)
            raise Fail(f"connect to {node}: {_one_line(e)}") from e
        self.conns[node] = conn
        return conn

    def _conn_for(self, role: str) -> Any:
        node = self.targets[role]
        self.node = node
        return self._connect(node)


MARIADB = SqlDialect(
    "mariadb",
    {
        "set_add": "INSERT INTO sets (k, v) VALUES (%s, %s)",
        "set_read": "SELECT v FROM sets WHERE k = %s ORDER BY v",
        "set_all": "SELECT k, v FROM sets ORDER BY k, v",
        "register_read": "SELECT v FROM registers WHERE k = %s",
        "register_upsert": "INSERT INTO registers (k, v) VALUES (%s, %s)"
        " ON DUPLICATE KEY UPDATE v = VALUES(v)",
        # rowcount = rows matched (CLIENT.FOUND_ROWS), so cas(v, v) counts as done
        "register_cas": "UPDATE registers SET v = %s WHERE k = %s AND v = %s",
        "kv_get": "SELECT v FROM kv WHERE k = %s",
        "kv_put": "INSERT INTO kv (k, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)",
        # one atomic statement: the row's old value and the new one, joined by the server
        "kv_append": "INSERT INTO kv (k, v) VALUES (%s, %s)"
        " ON DUPLICATE KEY UPDATE v = CONCAT(v, VALUES(v))",
        # a comma-separated list per key, extended with CONCAT
        "list_append": "INSERT INTO lists (k, v) VALUES (%s, %s)"
        " ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', VALUES(v))",
        "list_read": "SELECT v FROM lists WHERE k = %s",
        "bank_debit": "UPDATE accounts SET balance = balance - %s WHERE id = %s AND balance >= %s",
        "bank_credit": "UPDATE accounts SET balance = balance + %s WHERE id = %s",
        "bank_read": "SELECT id, balance FROM accounts ORDER BY id",
    },
    {
        "set": ("CREATE TABLE sets (k INT NOT NULL, v INT NOT NULL, PRIMARY KEY (k, v))",),
        "register": ("CREATE TABLE registers (k INT PRIMARY KEY, v INT)",),
        "kv": ("CREATE TABLE kv (k INT PRIMARY KEY, v LONGTEXT NOT NULL)",),
        "append": ("CREATE TABLE lists (k INT PRIMARY KEY, v TEXT NOT NULL)",),
        "bank": ("CREATE TABLE accounts (id INT PRIMARY KEY, balance INT NOT NULL)",),
    },
    encode_element=str,
    decode_list=lambda raw: [int(x) for x in str(raw).split(",")],
)
GaleraClient.dialect = MARIADB
CLIENTS = client_classes(GaleraClient)


def make_client(galera: Galera, cluster: Cluster, process: int, node: str | None = None) -> Any:
    return CLIENTS[galera.spec.workload](galera, cluster, process, node)  # type: ignore[call-arg]


def _one_line(e: BaseException) -> str:
    if isinstance(e, pymysql.Error) and len(e.args) >= 2:
        s = f"({e.args[0]}) {e.args[1]}"
    else:
        s = str(e).strip() or type(e).__name__
    return s.splitlines()[0]
