"""PostgreSQL 15, primary + streaming replicas (async or `ANY 1` synchronous).

n1 is initdb'ed and becomes the first primary; the others are pg_basebackup copies streaming
from it (application_name = node name). Everything goes through the node contract
(harness.cluster): the same definition runs on namespaces, containers and real hosts.
Config text lives in pg_config, admin SQL in pg_admin, failover and rejoining in pg_failover.
"""

from __future__ import annotations

from typing import Any, Literal

from harness.cluster import Cluster
from harness.db import GENERIC_FAULTS, Deployment, parallel
from harness.db.pg_config import CONF, HBA, LOGIN, OS_USER, PORT, TRACE_CONF
from harness.db.pg_failover import PgReplication
from harness.options import Option

FSYNC = Option("fsync", bool, True, "fsync WAL and data files (off: a power loss may lose them)")
SYNCHRONOUS_COMMIT = Option(
    "synchronous_commit",
    str,
    "on",
    "when a commit is acknowledged (off: before its WAL is flushed)",
    choices=("on", "off", "local", "remote_write", "remote_apply"),
)
TRACE = Option(
    "trace_transactions",
    bool,
    False,
    "log every statement with its time, backend, xid and parameters, and keep commit "
    "timestamps (to check an anomaly from the server's side; slows the server)",
)
_HINT = "apt-get install postgresql-15 (or set SPLITBRAIN_PG_BIN)"


class Postgres(PgReplication):
    name = "postgres"
    topology = "primary-replica"
    modes = ("async", "sync")
    workloads = ("set", "register", "kv", "append", "bank")
    faults = (*GENERIC_FAULTS, "failover")
    options = (FSYNC, SYNCHRONOUS_COMMIT, TRACE)
    title = "PostgreSQL"
    packages = ("postgresql-15",)
    isolation_applies = True
    reads_routed = True
    consistency_options = (SYNCHRONOUS_COMMIT, FSYNC)
    deployment = Deployment(
        user=OS_USER,
        ports={"client": PORT},
        image="splitbrain/postgres:15",
        binaries=tuple(
            (f"{{postgres_bin}}/{t}", _HINT)
            for t in ("initdb", "postgres", "pg_ctl", "pg_basebackup", "pg_rewind")
        ),
        settings={"postgres_bin": PgReplication.bin},
    )

    def setup(self, cluster: Cluster) -> None:
        first, replicas = cluster.nodes[0], list(cluster.nodes[1:])
        data = self.data_dir(cluster, first)
        pwfile = f"{cluster.node_dir(first)}/pwfile"
        # 0600 from the start, and gone once initdb has read it
        cluster.exec(
            first,
            ["sh", "-c", 'umask 077 && cat > "$1"', "sh", pwfile],
            user=OS_USER,
            input=LOGIN.password + "\n",
        )
        self.run_tool(
            cluster,
            first,
            [self.tool(cluster, first, "initdb"), "-D", data, "-U", OS_USER,
             f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            timeout=120,
        )  # fmt: skip
        cluster.exec(first, ["rm", "-f", pwfile], user=OS_USER)
        conf = CONF.format(
            max_connections=max(100, 2 * self.spec.concurrency + 20),
            fsync="on" if self.opt(FSYNC) else "off",
            synchronous_commit=self.opt(SYNCHRONOUS_COMMIT),
        )
        if self.opt(TRACE):
            conf += TRACE_CONF
        cluster.write_file(first, f"{data}/postgresql.conf", conf, user=OS_USER, append=True)
        hba = HBA.format(net=cluster.peer_network())
        cluster.write_file(first, f"{data}/pg_hba.conf", hba, user=OS_USER)
        self.spawn_server(cluster, first)
        self.wait_ready(cluster, first, dbname="postgres")
        with self.admin(cluster, first, dbname="postgres") as conn:
            conn.execute(f"CREATE DATABASE {LOGIN.dbname}")
        self._create_schema(cluster, first)

        def clone(node: str) -> None:
            self.basebackup(cluster, node, first)
            self.spawn_server(cluster, node)

        parallel(clone, replicas)
        for node in replicas:
            self.wait_ready(cluster, node)
        self.wait_streaming(cluster, first, replicas, timeout=30)
        self.set_sync_names(cluster, first)

    def _create_schema(self, cluster: Cluster, node: str) -> None:
        """The run's workload's tables, as its client family says (Jepsen's setup!)."""
        from harness.db.postgres_clients import PG
        from harness.db.sqlclient import run_setup_statements

        with self.admin(cluster, node, timeout=30) as conn, conn.transaction():
            for stmt in run_setup_statements(PG, self.spec):
                conn.execute(stmt)

    # -- clients --------------------------------------------------------------------------
    def client(self, cluster: Cluster, process: int, node: str | None = None) -> Any:
        from harness.db.postgres_clients import make_client

        return make_client(self, cluster, process, node)

    def classify(self, exc: BaseException) -> Literal["fail", "info"]:
        from harness.db.postgres_clients import classify

        return classify(exc)
