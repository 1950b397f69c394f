"""PostgreSQL nodes through the node contract: paths, the server's command line, config
files, and the admin queries that tell a node's role and replication state."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from harness.cluster import Cluster
from harness.db import Database, parallel
from harness.db.pg_config import DEFAULT_BIN, LOGIN, OS_USER, PORT, auto_conf, lsn
from harness.db.probe import Probe, shutdown
from harness.errors import ClusterError

T = TypeVar("T")
PASSFILE = "pgpass"  # in the node dir (0700, the database user's)


class PgAdmin(Database):
    bin = os.environ.get("SPLITBRAIN_PG_BIN", DEFAULT_BIN)

    # -- where things are ------------------------------------------------------------------
    def tool(self, cluster: Cluster, node: str, name: str) -> str:
        """A PostgreSQL program on the node (hosts and images may say where they keep them)."""
        return f"{cluster.setting(node, 'postgres_bin', self.bin)}/{name}"

    def data_dir(self, cluster: Cluster, node: str) -> str:
        return str(PurePosixPath(cluster.node_dir(node)) / "data")

    def address(self, cluster: Cluster, node: str) -> tuple[str, int]:
        """(host, port) at which the harness and its clients reach the node."""
        return cluster.address(node, PORT)

    def conninfo(self, cluster: Cluster, node: str, **extra: Any) -> str:
        """How the harness connects to the node (admin queries)."""
        host, port = self.address(cluster, node)
        return psycopg.conninfo.make_conninfo(host=host, port=port, **{**LOGIN.params(), **extra})

    def passfile(self, cluster: Cluster, node: str) -> str:
        """The node's libpq password file: node-to-node conninfo names it rather than holding
        the password, which would then be on the command line of pg_basebackup and pg_rewind
        (visible in `ps` on the host) and in postgresql.auto.conf."""
        return str(PurePosixPath(cluster.node_dir(node)) / PASSFILE)

    def write_passfile(self, cluster: Cluster, node: str) -> None:
        """0600 and owned by the database user (libpq ignores a file others can read); the
        password goes over stdin, never into an argv."""
        cluster.exec(
            node,
            [
                "sh",
                "-c",
                'umask 077 && cat > "$1" && chmod 600 "$1"',
                "sh",
                self.passfile(cluster, node),
            ],
            user=OS_USER,
            input=pgpass_line(LOGIN.user, LOGIN.password),
        )

    def peer_conninfo(self, cluster: Cluster, primary: str, node: str) -> str:
        """How `node` streams from (or clones, or rewinds from) `primary`: node to node, the
        password read from the node's passfile (write_passfile first)."""
        return psycopg.conninfo.make_conninfo(
            host=cluster.peer_address(primary),
            port=PORT,
            user=LOGIN.user,
            dbname=LOGIN.dbname,
            passfile=self.passfile(cluster, node),
            application_name=node,  # the name in synchronous_standby_names
            connect_timeout=2,
            keepalives=1,
            keepalives_idle=2,
            keepalives_interval=1,
            keepalives_count=3,
        )

    # -- processes and files ---------------------------------------------------------------
    def server_argv(self, cluster: Cluster, node: str) -> list[str]:
        # node-specific settings on the command line: config files copied by pg_basebackup or
        # pg_rewind from another node then never carry the wrong address
        return [
            self.tool(cluster, node, "postgres"),
            "-D",
            self.data_dir(cluster, node),
            "-c",
            f"listen_addresses={cluster.listen_address(node)}",
            "-c",
            f"port={PORT}",
            "-c",
            f"unix_socket_directories={cluster.node_dir(node)}",
            "-c",
            f"cluster_name={node}",
        ]

    def spawn_server(self, cluster: Cluster, node: str) -> None:
        log = PurePosixPath(cluster.node_dir(node)) / "postgres.log"
        cluster.spawn(node, self.server_argv(cluster, node), user=OS_USER, log=log)

    def run_tool(self, cluster: Cluster, node: str, argv: list[str], **kw: Any) -> Any:
        return cluster.exec(node, argv, user=OS_USER, **kw)

    def remove_dir(self, cluster: Cluster, node: str, path: str) -> None:
        cluster.exec(node, ["rm", "-rf", path], user=OS_USER)

    def set_conf(
        self, cluster: Cluster, node: str, settings: dict[str, str], drop: tuple[str, ...] = ()
    ) -> None:
        """Set settings in postgresql.auto.conf of a stopped node (what ALTER SYSTEM writes)."""
        path = f"{self.data_dir(cluster, node)}/postgresql.auto.conf"
        old = cluster.read_file(node, path, user=OS_USER)
        cluster.write_file(node, path, auto_conf(old, settings, drop), user=OS_USER)

    def log_tail(self, cluster: Cluster, node: str) -> str:
        text = cluster.read_file(node, f"{cluster.node_dir(node)}/postgres.log", user=OS_USER)
        lines = [ln for ln in text[-4000:].splitlines() if ln.strip()]
        return lines[-1] if lines else "no log"

    # -- admin SQL --------------------------------------------------------------------------
    @contextlib.contextmanager
    def admin(
        self, cluster: Cluster, node: str, timeout: float = 10, dbname: str = LOGIN.dbname
    ) -> Iterator[psycopg.Connection]:
        opts = f"-c statement_timeout={int(timeout * 1000)}"
        with psycopg.connect(
            self.conninfo(
                cluster,
                node,
                dbname=dbname,
                connect_timeout=2,
                options=opts,
                application_name="splitbrain",
            ),
            autocommit=True,
        ) as conn:
            yield conn

    def probe(self, cluster: Cluster, node: str) -> Probe:
        conn = psycopg.connect(
            self.conninfo(cluster, node, connect_timeout=3, application_name="splitbrain-probe"),
            autocommit=True,
        )
        return Probe(
            request=lambda: conn.execute("SELECT 1").fetchone(),
            abandon=shutdown(lambda: None if conn.closed else conn.pgconn.socket),
            close=conn.close,
        )

    def query(
        self,
        cluster: Cluster,
        node: str,
        q: str,
        *args: Any,
        timeout: float = 10,
        dbname: str = LOGIN.dbname,
    ) -> list[tuple[Any, ...]]:
        with self.admin(cluster, node, timeout, dbname) as conn:
            cur = conn.execute(q, args or None)
            return cur.fetchall() if cur.description else []

    def alter_system(self, cluster: Cluster, node: str, key: str, value: str) -> None:
        with self.admin(cluster, node) as conn:
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(key), sql.Literal(value))
            )
            conn.execute("SELECT pg_reload_conf()")

    def current_lsn(self, cluster: Cluster, node: str, timeout: float = 10) -> int:
        return lsn(
            self.query(cluster, node, "SELECT pg_current_wal_lsn()::text", timeout=timeout)[0][0]
        )

    def wait_ready(
        self, cluster: Cluster, node: str, timeout: float = 30, dbname: str = LOGIN.dbname
    ) -> None:
        def attempt() -> bool:
            self.query(cluster, node, "SELECT 1", timeout=5, dbname=dbname)
            return True

        self.wait_for(cluster, node, attempt, "ready", timeout, every=0.05)

    def status(self, cluster: Cluster, node: str, timeout: float = 3) -> dict[str, Any] | None:
        """Role, timeline and LSNs of a node, or None when it does not answer."""
        try:
            with self.admin(cluster, node, timeout) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is None:
                    return None
                if not row[0]:
                    wal, cur = conn.execute(
                        "SELECT pg_walfile_name(pg_current_wal_lsn()), pg_current_wal_lsn()::text"
                    ).fetchone() or (None, None)
                    return {
                        "node": node,
                        "primary": True,
                        "timeline": int(wal[:8], 16) if wal else 0,
                        "lsn": lsn(cur),
                    }
                recv, replay, conninfo, tli = conn.execute(
                    "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
                    " current_setting('primary_conninfo'),"
                    " (SELECT received_tli FROM pg_stat_wal_receiver)"
                ).fetchone() or (None, None, "", None)
                return {
                    "node": node,
                    "primary": False,
                    "receive": lsn(recv),
                    "replay": lsn(replay),
                    "lsn": max(lsn(recv), lsn(replay)),
                    "upstream": conninfo_host(conninfo),
                    "streaming_tli": tli,
                }
        except psycopg.Error:
            return None

    def statuses(
        self, cluster: Cluster, nodes: list[str] | None = None
    ) -> dict[str, dict[str, Any] | None]:
        nodes = list(cluster.nodes) if nodes is None else nodes
        return dict(zip(nodes, parallel(lambda n: self.status(cluster, n), nodes), strict=True))

    def primaries(self, cluster: Cluster, nodes: list[str] | None = None) -> list[str]:
        """Every node that claims to be primary, newest timeline (then highest LSN) first.
        More than one means split brain."""
        st = [s for s in self.statuses(cluster, nodes).values() if s and s["primary"]]
        st.sort(key=lambda s: (s["timeline"], s["lsn"]), reverse=True)
        return [s["node"] for s in st]

    def primary(self, cluster: Cluster) -> str | None:
        p = self.primaries(cluster)
        return p[0] if p else None

    def replication(self, cluster: Cluster, primary: str) -> dict[str, tuple[str, int]]:
        rows = self.query(
            cluster,
            primary,
            "SELECT application_name, state, replay_lsn::text FROM pg_stat_replication",
            timeout=5,
        )
        return {r[0]: (r[1], lsn(r[2])) for r in rows}

    def wait_streaming(
        self, cluster: Cluster, primary: str, nodes: list[str], timeout: float, upto: int = -1
    ) -> dict[str, tuple[str, int]]:
        deadline = time.monotonic() + timeout
        rep: dict[str, tuple[str, int]] = {}
        while True:
            with contextlib.suppress(psycopg.Error):
                rep = self.replication(cluster, primary)
                if all(rep.get(n, ("", -1))[0] == "streaming" and rep[n][1] >= upto for n in nodes):
                    return rep
            if time.monotonic() > deadline:
                lagging = [
                    n for n in nodes if rep.get(n, ("", -1))[0] != "streaming" or rep[n][1] < upto
                ]
                raise ClusterError(
                    f"replicas {', '.join(lagging)} not streaming from {primary} after {timeout:g} s"
                )
            time.sleep(0.1)


def pgpass_line(user: str, password: str) -> str:
    """A ~/.pgpass line for `user` on every host, port and database (: and \\ escaped)."""

    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace(":", "\\:")

    return f"*:*:*:{esc(user)}:{esc(password)}\n"


def conninfo_host(conninfo: str) -> str | None:
    try:
        host = psycopg.conninfo.conninfo_to_dict(conninfo).get("host")
    except psycopg.Error:
        return None
    return None if host is None else str(host)


def last_line(s: str) -> str:
    lines = [ln for ln in (s or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
