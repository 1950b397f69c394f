"""PyMySQL clients for MariaDB primary-replica, one per workload (the SQL family's ops over
the MariaDB dialect Galera uses), connecting as PostgreSQL's clients do through libpq:

- writes go to the first node, in an order rotated by process, that takes writes
  (`@@read_only` off: libpq's target_session_attrs=read-write); during a split brain that
  may be the isolated old primary;
- transactions without writes follow spec.read_from: primary (the write connection),
  replica (the first read-only node, libpq's `standby`), any (the first that answers), over
  the nodes in postgres_clients.read_order (readers spread evenly over the replicas).

A node is chosen when a connection opens and kept while it works; a statement a read-only
node refuses (1290) drops the connection, so the next op looks again. A client built for one
node (final reads) uses that node for everything. Each op is one explicit transaction at the
spec's isolation; errors are classified as Galera's (galera_clients.classify): nothing is
wsrep-specific in that table but 1047, which MariaDB without Galera never sends.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol, TypeVar

import pymysql
from pymysql.constants import CLIENT as CLIENT_FLAGS

from harness.cluster import Cluster
from harness.db.galera_clients import ISOLATION, MARIADB, PyMySQLClient, _one_line, error_code
from harness.db.postgres_clients import read_order
from harness.db.sqlclient import client_classes
from harness.spec import TestSpec
from workloads import Fail

CLIENT = ("splitbrain", "splitbrain")  # the workload's login: no READ ONLY ADMIN


class MariaDB(Protocol):
    """What the clients use of the definition (harness.db.mariadb.MariaDB): its spec and how
    it connects to a node as a given login."""

    spec: TestSpec

    def connect(
        self,
        cluster: Cluster,
        node: str,
        timeout: float = 3,
        login: tuple[str, str] = ...,
        **kw: Any,
    ) -> Any: ...


T = TypeVar("T")
READ_ONLY_REFUSED = 1290  # ER_OPTION_PREVENTS_STATEMENT: --read-only


def wanted(role: str, read_from: str) -> str:
    """What a connection for role must reach: read-write | read-only | any."""
    if role == "write" or read_from == "primary":
        return "read-write"
    return "read-only" if read_from == "replica" else "any"


class MariaClient(PyMySQLClient):
    def __init__(
        self, db: MariaDB, cluster: Cluster, process: int, node: str | None = None
    ) -> None:
        super().__init__()  # self.conns: "write" | "read" -> connection
        self.db = db
        self.spec = db.spec
        self.cluster = cluster
        self.process = process
        self.fixed = node
        nodes = list(cluster.nodes)
        k = process % len(nodes)
        self.order = {
            "read-write": nodes[k:] + nodes[:k],
            "read-only": read_order(nodes, self.spec.seed, process),
            "any": read_order(nodes, self.spec.seed, process),
        }
        self._node_of: dict[int, str] = {}
        self.node: str | None = node

    def _key(self, role: str) -> str:
        return "write" if wanted(role, self.spec.read_from) == "read-write" else "read"

    def _open(self, node: str) -> Any:
        t = self.spec.op_timeout
        conn = self.db.connect(
            self.cluster,
            node,
            timeout=t,
            login=CLIENT,
            database="splitbrain",
            autocommit=False,
            client_flag=CLIENT_FLAGS.FOUND_ROWS,  # UPDATE counts rows matched (cas v -> v)
        )
        with conn.cursor() as cur:
            cur.execute("SET SESSION innodb_lock_wait_timeout = %s", (max(1, int(t / 2)),))
            cur.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {ISOLATION[self.spec.isolation]}")
        return conn

    def _connect(self, role: str) -> Any:
        key = self._key(role)
        conn = self.conns.get(key)
        if conn is not None and conn.open:
            return conn
        need = wanted(role, self.spec.read_from)
        candidates = [self.fixed] if self.fixed else self.order[need]
        errors = []
        for node in candidates:
            try:
                conn = self._open(node)
                if not self.fixed and need != "any":
                    with conn.cursor() as cur:
                        cur.execute("SELECT @@read_only")
                        row = cur.fetchone()
                    conn.commit()
                    if bool(int(row[0])) != (need == "read-only"):
                        conn.close()
                        errors.append(f"{node}: not {need}")
                        continue
            except (pymysql.Error, OSError) as e:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                errors.append(f"{node}: {_one_line(e)}")
                conn = None
                continue
            self.conns[key] = conn
            self._node_of[id(conn)] = node
            return conn
        self.node = None
        raise Fail(f"connect ({need}): " + "; ".join(errors))

    def _conn_for(self, role: str) -> Any:
        conn = self._connect(role)
        self.node = self._node_of.get(id(conn))
        return conn

    def _after_error(self, conn: Any, exc: BaseException) -> None:
        if error_code(exc) == READ_ONLY_REFUSED:
            self._drop(conn)  # no longer the primary: look again at the next op


MariaClient.dialect = MARIADB
CLIENTS = client_classes(MariaClient)


def make_client(db: MariaDB, cluster: Cluster, process: int, node: str | None = None) -> Any:
    return CLIENTS[db.spec.workload](db, cluster, process, node)  # type: ignore[call-arg]
