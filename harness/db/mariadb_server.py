"""What every database built on MariaDB's server shares (Galera, MariaDB primary-replica): a
node's files, its mariadbd, the admin's logins over TCP and over the unix socket, the
schema of the run's workload, the probe and the log's last error. Each definition says how
its nodes are configured, started and joined."""

from __future__ import annotations

import contextlib
import re
from pathlib import PurePosixPath
from typing import Any

import pymysql

from harness.cluster import Cluster
from harness.db import Database
from harness.db.probe import Probe, shutdown
from harness.errors import ClusterError

PORT = 3306
OS_USER = "mysql"
# the harness's admin login (every privilege): root@'%' with a password, as compose.yaml says
ADMIN = ("root", "splitbrain")
DATABASE = "splitbrain"
MARIADBD = "/usr/sbin/mariadbd"
# where each node keeps its files (my.cnf goes on from here)
CNF_HEAD = """\
# splitbrain: node {node} of run {run_id}
[mariadbd]
datadir = {data}
socket = {dir}/mariadbd.sock
pid-file = {dir}/mariadbd.pid
log-error = {dir}/mariadbd.log
"""


def server_binaries(hint: str) -> tuple[tuple[str, str], ...]:
    """What every MariaDB node runs (Deployment.binaries), with the install hint to show."""
    return (("{mariadbd}", hint), ("mariadb-install-db", hint), ("mariadb", hint))


class MariaDBServer(Database):
    log_errors = re.compile(r"ERROR")  # the log lines log_tail reports

    # -- paths, processes -----------------------------------------------------------------
    def _dir(self, cluster: Cluster, node: str) -> str:
        return str(PurePosixPath(cluster.node_dir(node)))

    def _data(self, cluster: Cluster, node: str) -> str:
        return f"{self._dir(cluster, node)}/data"

    def _cnf(self, cluster: Cluster, node: str) -> str:
        return f"{self._dir(cluster, node)}/my.cnf"

    def _argv(self, cluster: Cluster, node: str, *extra: str) -> list[str]:
        mariadbd = cluster.setting(node, "mariadbd", MARIADBD)
        return [mariadbd, f"--defaults-file={self._cnf(cluster, node)}", *extra]

    def _spawn_env(self, cluster: Cluster, node: str) -> dict[str, str] | None:
        return None

    def _spawn(self, cluster: Cluster, node: str, *extra: str) -> None:
        log = PurePosixPath(cluster.node_dir(node)) / "mariadbd.out"  # the error log is apart
        argv = self._argv(cluster, node, *extra)
        cluster.spawn(node, argv, user=OS_USER, log=log, env=self._spawn_env(cluster, node))

    def _install_db(self, cluster: Cluster, node: str) -> None:
        cluster.exec(
            node,
            ["mariadb-install-db", f"--defaults-file={self._cnf(cluster, node)}",
             "--skip-test-db", "--auth-root-authentication-method=socket", "--skip-name-resolve"],
            user=OS_USER,
            timeout=120,
        )  # fmt: skip

    def log_tail(self, cluster: Cluster, node: str) -> str:
        with contextlib.suppress(ClusterError, OSError):
            text = cluster.read_file(node, f"{self._dir(cluster, node)}/mariadbd.log")
            bad = [ln for ln in text.splitlines() if self.log_errors.search(ln)]
            return bad[-1].strip() if bad else "no error in the log"
        return "no log"

    # -- the admin's logins ---------------------------------------------------------------
    def _socket_sql(self, cluster: Cluster, node: str, sql: str) -> str:
        """SQL as root@localhost over the node's unix socket (socket authentication); its
        output, tab-separated. The SQL goes over stdin: it may hold a password (CREATE USER),
        which `-e` would put on the host's command line."""
        sock = f"{self._dir(cluster, node)}/mariadbd.sock"
        r = cluster.exec(
            node, ["mariadb", f"--socket={sock}", "-uroot", "-N", "-B"], user="root", input=sql
        )
        return str(r.stdout or "")

    def _wait_socket(self, cluster: Cluster, node: str, timeout: float) -> None:
        def attempt() -> bool:
            self._socket_sql(cluster, node, "SELECT 1")
            return True

        self.wait_for(cluster, node, attempt, "answering on its socket", timeout)

    def _admin_sql(self) -> str:
        """The admin's login, for the TCP connections below."""
        return (
            f"CREATE USER '{ADMIN[0]}'@'%' IDENTIFIED BY '{ADMIN[1]}';"
            f"GRANT ALL ON *.* TO '{ADMIN[0]}'@'%' WITH GRANT OPTION;"
        )

    def _schema_sql(self) -> str:
        """The database and the run's workload's tables, as its client family says (Jepsen's
        setup!)."""
        from harness.db.galera_clients import MARIADB
        from harness.db.sqlclient import run_setup_statements

        stmts = run_setup_statements(MARIADB, self.spec)
        return f"CREATE DATABASE {DATABASE};USE {DATABASE};" + "".join(s + ";" for s in stmts)

    def connect(
        self,
        cluster: Cluster,
        node: str,
        timeout: float = 3,
        login: tuple[str, str] = ADMIN,
        **kw: Any,
    ) -> Any:
        kw.setdefault("autocommit", True)
        host, port = cluster.address(node, PORT)
        return pymysql.connect(
            host=host,
            port=port,
            user=login[0],
            password=login[1],
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            **kw,
        )

    def probe(self, cluster: Cluster, node: str) -> Probe:
        conn = self.connect(cluster, node, timeout=3)

        def request() -> object:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone()

        sock = lambda: None if conn._sock is None else conn._sock.fileno()  # noqa: E731
        return Probe(request=request, abandon=shutdown(sock), close=conn.close)
