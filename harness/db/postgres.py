"""PostgreSQL 15, primary + streaming replicas (async or `ANY 1` synchronous).

n1 is initdb'ed and becomes the first primary; the others are pg_basebackup copies streaming
from it (application_name = node name). Node-specific settings (listen address, socket dir)
are given on the postgres command line, so config files copied by pg_basebackup/pg_rewind
from another node never carry the wrong address. Everything is done through the Cluster
contract (spawn/exec/kill) and libpq connections to cluster.host(node), so the definition does
not depend on the provider.

Failover has no fencing on purpose: the isolated old primary keeps taking writes from the
clients connected to it. That split brain is what the tests observe.

Compose provider (compose/postgres: n1 primary, n2/n3 pg_basebackup replicas, all started by
the containers themselves). Differences, each for a reason:
- Two addresses per node: the harness reaches a node at 127.0.0.1:<published port>
  (address()); the nodes reach each other by service name on 5432 (peer_host()), so
  primary_conninfo and pg_basebackup sources name the service, never 127.0.0.1.
- Logins: compose.yaml's superuser postgres/splitbrain and database splitbrain from the host;
  its replication role replicator/replicator between nodes (password auth, see login()).
- synchronous_standby_names is on the postgres command line (SB_PG_SYNC_STANDBYS, set by the
  provider from --mode), and a command-line setting beats ALTER SYSTEM: setup checks it
  instead of setting it, and failover leaves it alone (every node lists all three).
- postgres is the container's PID 1: stopping it stops the container, and a stopped container
  cannot exec, so pg_rewind (which needs the target stopped, in the container that has its
  data) cannot run. A node rejoins instead by a pg_basebackup from the new primary into a
  side directory next to PGDATA while the old server still runs, two renames, SIGKILL and a
  container start (_rejoin_compose). Until then the old primary is fenced read-only
  (default_transaction_read_only) so that a restarted old primary takes no writes, which the
  local path gets for free by rewinding a node that is down.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal, TypeVar

import psycopg
from psycopg import sql

from harness.cluster import Cluster
from harness.db import Database
from harness.errors import ClusterError, one_line

PORT = 5432
USER = "postgres"  # OS user and superuser, locally and in the postgres image
T = TypeVar("T")

# compose/postgres/compose.yaml and the postgres:15.8-bookworm image it pins
COMPOSE_PGDATA = "/var/lib/postgresql/data/pgdata"  # PGDATA in compose.yaml
COMPOSE_BIN = "/usr/lib/postgresql/15/bin"  # the Debian packages' path, on the image's PATH


@dataclass(frozen=True)
class Login:
    """Who connects to which database (the libpq keywords)."""

    user: str
    dbname: str
    password: str | None = None

    def params(self) -> dict[str, str]:
        out = {"user": self.user, "dbname": self.dbname}
        if self.password is not None:
            out["password"] = self.password
        return out


LOCAL_LOGIN = Login(user=USER, dbname="postgres")  # trust auth inside private namespaces
# compose.yaml: POSTGRES_PASSWORD, POSTGRES_DB (POSTGRES_USER defaults to postgres); from the
# host the image's pg_hba asks for a password (scram-sha-256)
COMPOSE_LOGIN = Login(user=USER, dbname="splitbrain", password="splitbrain")
# init-primary.sh's replication role (REPLICATION_PASSWORD), used between containers
COMPOSE_REPLICATION = ("replicator", "replicator")  # (user, password)

# Settings of CONF that a running server reloads; under compose they are applied with ALTER
# SYSTEM (the rest of CONF is on compose.yaml's command line or fixed by the image).
RELOADABLE = (
    "hot_standby_feedback",
    "wal_sender_timeout",
    "wal_receiver_timeout",
    "wal_receiver_status_interval",
    "wal_retrieve_retry_interval",
    "tcp_keepalives_idle",
    "tcp_keepalives_interval",
    "tcp_keepalives_count",
    "tcp_user_timeout",
    "fsync",
    "deadlock_timeout",
)

# Shared by every node (copied by pg_basebackup). Short timeouts and keepalives so that a
# partition is noticed in seconds rather than the default minutes.
CONF = """
# --- splitbrain ---
wal_level = replica
hot_standby = on
hot_standby_feedback = on
wal_log_hints = on                  # pg_rewind needs it (no data checksums)
max_wal_senders = 16
max_replication_slots = 16
wal_keep_size = '1GB'               # no slots: a cut-off replica or rewind finds its WAL here
wal_sender_timeout = '5s'
wal_receiver_timeout = '5s'
wal_receiver_status_interval = '1s'
wal_retrieve_retry_interval = '1s'
tcp_keepalives_idle = 2
tcp_keepalives_interval = 1
tcp_keepalives_count = 3
tcp_user_timeout = 5000
shared_buffers = '16MB'
max_connections = {max_connections}
fsync = {fsync}
logging_collector = off             # stderr goes to the log file the provider opened
log_line_prefix = '%m [%p] %q%a '
log_min_messages = info
log_checkpoints = off
deadlock_timeout = '50ms'           # default 1 s: one deadlock on a hot key stalls every worker
"""

# A throwaway test cluster inside private network namespaces: trust auth is deliberate.
HBA = """
local all all trust
local replication all trust
host all all {net} trust
host replication all {net} trust
"""

SCHEMA = [
    # set: one row per added element
    "CREATE TABLE sets (k int NOT NULL, v int NOT NULL)",
    "CREATE INDEX sets_k ON sets (k)",
    # register: one row per key
    "CREATE TABLE registers (k int PRIMARY KEY, v int)",
    # append (Elle list-append): one array per key
    "CREATE TABLE lists (k int PRIMARY KEY, v int[] NOT NULL)",
    # bank: fixed accounts, transfers keep the total
    "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)",
]


def lsn(text: str | None) -> int:
    """'16/B374D848' -> int (None -> -1)."""
    if not text:
        return -1
    hi, lo = str(text).split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def conf_settings(text: str) -> dict[str, str]:
    """`key = value  # comment` lines -> {key: value}, quotes removed."""
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            k, v = (x.strip() for x in line.split("=", 1))
            out[k] = v.strip("'")
    return out


class Postgres(Database):
    name = "postgres"
    topology = "primary-replica"
    modes = ("async", "sync")
    providers = ("local", "compose")
    workloads = ("set", "register", "append", "bank")
    faults = ("partition", "kill", "pause", "failover")

    bin = os.environ.get("SPLITBRAIN_PG_BIN", "/usr/lib/postgresql/15/bin")

    # -- paths and commands ---------------------------------------------------------------
    def _b(self, tool: str) -> str:
        return f"{self.bin}/{tool}"

    def required_binaries(self) -> list[tuple[str, str]]:
        hint = "apt-get install postgresql-15 (or set SPLITBRAIN_PG_BIN)"
        tools = ("initdb", "postgres", "pg_ctl", "pg_basebackup", "pg_rewind")
        return [(self._b(t), hint) for t in tools]

    def _tool(self, cluster: Cluster, tool: str) -> str:
        """A PostgreSQL program where the node runs (the image's path under compose)."""
        return f"{COMPOSE_BIN}/{tool}" if self.compose(cluster) else self._b(tool)

    def _data(self, cluster: Cluster, node: str) -> str:
        if self.compose(cluster):
            return COMPOSE_PGDATA
        return str(PurePosixPath(cluster.node_dir(node)) / "data")

    # -- where and as whom ----------------------------------------------------------------
    @staticmethod
    def compose(cluster: Cluster) -> bool:
        """A compose cluster publishes each node on its own host port (ComposeCluster.port)."""
        return callable(getattr(cluster, "port", None))

    def address(self, cluster: Cluster, node: str) -> tuple[str, int]:
        """(host, port) at which the harness and its clients reach the node."""
        if self.compose(cluster):
            return cluster.host(node), int(cluster.port(node))  # type: ignore[attr-defined]
        return cluster.host(node), PORT

    def login(self, cluster: Cluster) -> Login:
        return COMPOSE_LOGIN if self.compose(cluster) else LOCAL_LOGIN

    def peer_host(self, cluster: Cluster, node: str) -> str:
        """How the other nodes reach the node: compose service name, or its address."""
        return node if self.compose(cluster) else cluster.host(node)

    def _argv(self, cluster: Cluster, node: str) -> list[str]:
        return [
            self._b("postgres"),
            "-D",
            self._data(cluster, node),
            "-c",
            f"listen_addresses={cluster.host(node)}",
            "-c",
            f"port={PORT}",
            "-c",
            f"unix_socket_directories={cluster.node_dir(node)}",
            "-c",
            f"cluster_name={node}",
        ]

    def _spawn(self, cluster: Cluster, node: str) -> None:
        log = PurePosixPath(cluster.node_dir(node)) / "postgres.log"
        cluster.spawn(
            node, self._argv(cluster, node), user=USER, log=cluster.node_dir(node) / log.name
        )

    def _sh(self, cluster: Cluster, node: str, script: str, *args: str, **kw: Any) -> str:
        return cluster.exec(node, ["sh", "-c", script, "sh", *args], user=USER, **kw).stdout

    def _write(
        self, cluster: Cluster, node: str, path: str, text: str, append: bool = False
    ) -> None:
        op = ">>" if append else ">"
        cluster.exec(node, ["sh", "-c", f'cat {op} "$1"', "sh", path], user=USER, input=text)

    def _set_conf(
        self,
        cluster: Cluster,
        node: str,
        settings: dict[str, str],
        data: str | None = None,
        drop: tuple[str, ...] = (),
    ) -> None:
        """Set settings in postgresql.auto.conf of a stopped node (what ALTER SYSTEM writes),
        removing the `drop` ones. data: another data directory of the node than its PGDATA."""
        path = f"{data or self._data(cluster, node)}/postgresql.auto.conf"
        old = self._sh(cluster, node, 'cat "$1" 2>/dev/null || true', path)
        gone = set(settings) | set(drop)
        keep = [line for line in old.splitlines() if line.split("=", 1)[0].strip() not in gone]
        quoted = [f"{k} = '{v.replace(chr(39), chr(39) * 2)}'" for k, v in settings.items()]
        self._write(cluster, node, path, "\n".join(keep + quoted) + "\n")

    def conninfo(self, cluster: Cluster, node: str, **extra: Any) -> str:
        """How the harness connects to the node (admin queries)."""
        host, port = self.address(cluster, node)
        return psycopg.conninfo.make_conninfo(
            host=host, port=port, **self.login(cluster).params(), **extra
        )

    def _primary_conninfo(self, cluster: Cluster, primary: str, node: str) -> str:
        """How `node` streams from (or clones) `primary`: from node to node, not from the host."""
        keep = {
            "application_name": node,  # the name in synchronous_standby_names
            "connect_timeout": 2,
            "keepalives": 1,
            "keepalives_idle": 2,
            "keepalives_interval": 1,
            "keepalives_count": 3,
        }
        if self.compose(cluster):
            user, password = COMPOSE_REPLICATION
            return psycopg.conninfo.make_conninfo(
                host=self.peer_host(cluster, primary),
                port=PORT,
                user=user,
                password=password,
                **keep,
            )
        return self.conninfo(cluster, primary, **keep)  # trust auth as postgres, locally

    @contextlib.contextmanager
    def _admin(
        self, cluster: Cluster, node: str, timeout: float = 10
    ) -> Iterator[psycopg.Connection]:
        opts = f"-c statement_timeout={int(timeout * 1000)}"
        with psycopg.connect(
            self.conninfo(
                cluster, node, connect_timeout=2, options=opts, application_name="splitbrain"
            ),
            autocommit=True,
        ) as conn:
            yield conn

    def _query(
        self, cluster: Cluster, node: str, q: str, *args: Any, timeout: float = 10
    ) -> list[tuple]:
        with self._admin(cluster, node, timeout) as conn:
            cur = conn.execute(q, args or None)
            return cur.fetchall() if cur.description else []

    def _alter_system(self, cluster: Cluster, node: str, key: str, value: str) -> None:
        with self._admin(cluster, node) as conn:
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(key), sql.Literal(value))
            )
            conn.execute("SELECT pg_reload_conf()")

    def _log_tail(self, cluster: Cluster, node: str) -> str:
        if self.compose(cluster):
            return "see the container's log (docker logs)"  # postgres logs to stderr there
        log = f"{cluster.node_dir(node)}/postgres.log"
        out = self._sh(cluster, node, 'tail -n 3 "$1" 2>/dev/null || true', log, check=False)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        return lines[-1] if lines else "no log"

    def _wait_ready(self, cluster: Cluster, node: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._query(cluster, node, "SELECT 1", timeout=5)
                return
            except psycopg.Error:
                pass
            if not cluster.is_running(node):
                raise ClusterError(f"postgres on {node} exited: {self._log_tail(cluster, node)}")
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"postgres on {node} not ready after {timeout:g} s: {self._log_tail(cluster, node)}"
                )
            time.sleep(0.05)

    def _sync_names(self, cluster: Cluster, primary: str) -> str:
        if self.spec.mode != "sync":
            return ""
        others = [n for n in cluster.nodes if n != primary]
        return f"ANY 1 ({', '.join(others)})" if others else ""

    def _set_sync_names(self, cluster: Cluster, primary: str) -> None:
        """Sync mode: name the standbys a (new) primary waits for. Not under compose: the
        command line's setting (SB_PG_SYNC_STANDBYS, all three nodes) beats ALTER SYSTEM."""
        if self.spec.mode == "sync" and not self.compose(cluster):
            self._alter_system(
                cluster, primary, "synchronous_standby_names", self._sync_names(cluster, primary)
            )

    # -- setup ----------------------------------------------------------------------------
    def setup(self, cluster: Cluster) -> None:
        if self.compose(cluster):
            self._setup_compose(cluster)
            return
        first, replicas = cluster.nodes[0], list(cluster.nodes[1:])
        data = self._data(cluster, first)
        cluster.exec(
            first,
            [self._b("initdb"), "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync", "--no-instructions"],
            user=USER,
            timeout=120,
        )  # fmt: skip
        conns = max(100, 2 * self.spec.concurrency + 20)
        fsync = self._fsync()
        self._write(
            cluster,
            first,
            f"{data}/postgresql.conf",
            CONF.format(max_connections=conns, fsync=fsync),
            append=True,
        )
        net = str(getattr(cluster, "subnet", "0.0.0.0/0"))
        self._write(cluster, first, f"{data}/pg_hba.conf", HBA.format(net=net))
        self._spawn(cluster, first)
        self._wait_ready(cluster, first)
        self._create_schema(cluster, first)

        def clone(node: str) -> None:
            self._basebackup(cluster, node, first)
            self._spawn(cluster, node)

        _parallel(clone, replicas)
        for node in replicas:
            self._wait_ready(cluster, node)
        self._wait_streaming(cluster, first, replicas, timeout=30)
        if self.spec.mode == "sync":
            self._set_sync_names(cluster, first)
            self._alter_system(cluster, first, "synchronous_commit", "on")

    def _setup_compose(self, cluster: Cluster) -> None:
        """The containers already run a primary (n1) and two replicas: wait for them, tune,
        check the replication mode, create the schema (in the database `splitbrain`)."""
        first, replicas = cluster.nodes[0], list(cluster.nodes[1:])
        for node in cluster.nodes:
            self._wait_ready(cluster, node, timeout=120)
        st = self.status(cluster, first)
        if not st or not st["primary"]:
            raise ClusterError(f"{first} is not a primary; compose/postgres makes n1 the primary")
        conf = conf_settings(CONF.format(max_connections=0, fsync=self._fsync()))
        for node in cluster.nodes:  # ALTER SYSTEM works on a hot standby too
            with self._admin(cluster, node) as conn:
                for key in RELOADABLE:
                    conn.execute(
                        sql.SQL("ALTER SYSTEM SET {} = {}").format(
                            sql.Identifier(key), sql.Literal(conf[key])
                        )
                    )
                conn.execute("SELECT pg_reload_conf()")
        self._wait_streaming(cluster, first, replicas, timeout=120)
        names, conns = self._query(
            cluster,
            first,
            "SELECT current_setting('synchronous_standby_names'),"
            " current_setting('max_connections')::int",
        )[0]
        if (self.spec.mode == "sync") != bool(names.strip()):
            raise ClusterError(
                f"--mode {self.spec.mode}: {first} has synchronous_standby_names={names!r}; it "
                "comes from SB_PG_SYNC_STANDBYS when compose brings the cluster up"
            )
        need = 2 * self.spec.concurrency + 10  # a write and a read connection per worker
        if need > conns:
            raise ClusterError(
                f"--concurrency {self.spec.concurrency} needs about {need} connections; "
                f"compose/postgres allows {conns} (max_connections)"
            )
        self._create_schema(cluster, first)

    def _fsync(self) -> str:
        return "on" if self.spec.option("fsync", True) not in (False, "off", "false", 0) else "off"

    def _create_schema(self, cluster: Cluster, node: str) -> None:
        accounts = int(self.spec.option("accounts", 5))
        balance = int(self.spec.option("initial_balance", 100))
        with self._admin(cluster, node, timeout=30) as conn, conn.transaction():
            for stmt in SCHEMA:
                conn.execute(stmt)
            conn.execute(
                "INSERT INTO accounts SELECT i, %s FROM generate_series(0, %s - 1) i",
                (balance, accounts),
            )

    def _basebackup(
        self, cluster: Cluster, node: str, primary: str, data: str | None = None
    ) -> None:
        """Clone `primary` into the node's PGDATA (or `data`), as a standby of it."""
        data = data or self._data(cluster, node)
        self._sh(cluster, node, 'rm -rf "$1"', data)
        cluster.exec(
            node,
            [self._tool(cluster, "pg_basebackup"), "-d",
             self._primary_conninfo(cluster, primary, node),
             "-D", data, "-R", "-X", "stream", "-c", "fast", "--no-sync"],
            user=USER,
            timeout=300,
        )  # fmt: skip
        self._set_conf(
            cluster,
            node,
            {"primary_conninfo": self._primary_conninfo(cluster, primary, node)},
            data=data,
        )

    def _replication(self, cluster: Cluster, primary: str) -> dict[str, tuple[str, int]]:
        rows = self._query(
            cluster,
            primary,
            "SELECT application_name, state, replay_lsn::text FROM pg_stat_replication",
            timeout=5,
        )
        return {r[0]: (r[1], lsn(r[2])) for r in rows}

    def _wait_streaming(
        self, cluster: Cluster, primary: str, nodes: list[str], timeout: float, upto: int = -1
    ) -> dict[str, tuple[str, int]]:
        deadline = time.monotonic() + timeout
        rep: dict[str, tuple[str, int]] = {}
        while True:
            with contextlib.suppress(psycopg.Error):
                rep = self._replication(cluster, primary)
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

    # -- observation ----------------------------------------------------------------------
    def status(self, cluster: Cluster, node: str, timeout: float = 3) -> dict[str, Any] | None:
        """Role, timeline and LSNs of a node, or None when it does not answer."""
        try:
            with self._admin(cluster, node, timeout) as conn:
                rec = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]  # type: ignore[index]
                if not rec:
                    wal, cur = conn.execute(
                        "SELECT pg_walfile_name(pg_current_wal_lsn()), pg_current_wal_lsn()::text"
                    ).fetchone()  # type: ignore[misc]
                    return {
                        "node": node,
                        "primary": True,
                        "timeline": int(wal[:8], 16),
                        "lsn": lsn(cur),
                    }
                recv, replay, conninfo, tli = conn.execute(
                    "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
                    " current_setting('primary_conninfo'),"
                    " (SELECT received_tli FROM pg_stat_wal_receiver)"
                ).fetchone()  # type: ignore[misc]
                return {
                    "node": node,
                    "primary": False,
                    "receive": lsn(recv),
                    "replay": lsn(replay),
                    "lsn": max(lsn(recv), lsn(replay)),
                    "upstream": _conninfo_host(conninfo),
                    "streaming_tli": tli,
                }
        except psycopg.Error:
            return None

    def statuses(
        self, cluster: Cluster, nodes: list[str] | None = None
    ) -> dict[str, dict[str, Any] | None]:
        nodes = list(cluster.nodes) if nodes is None else nodes
        return dict(zip(nodes, _parallel(lambda n: self.status(cluster, n), nodes), strict=True))

    def primaries(self, cluster: Cluster, nodes: list[str] | None = None) -> list[str]:
        """Every node that claims to be primary, newest timeline (then highest LSN) first.
        More than one means split brain."""
        st = [s for s in self.statuses(cluster, nodes).values() if s and s["primary"]]
        st.sort(key=lambda s: (s["timeline"], s["lsn"]), reverse=True)
        return [s["node"] for s in st]

    def primary(self, cluster: Cluster) -> str | None:
        p = self.primaries(cluster)
        return p[0] if p else None

    # -- faults ---------------------------------------------------------------------------
    def failover(self, cluster: Cluster, how: str) -> dict[str, Any]:
        if how not in ("isolate", "kill"):
            raise ClusterError(f"failover how={how!r}: expected isolate or kill")
        t0 = time.monotonic()
        old = self.primary(cluster)
        if old is None:
            raise ClusterError("failover: no primary found")
        others = [n for n in cluster.nodes if n != old]
        fenced = None
        if how == "isolate":
            cluster.partition({old: set(others), **{n: {old} for n in others}})
        else:
            if self.compose(cluster):
                fenced = self._fence_on_restart(cluster, old)
            cluster.kill(old)
        st = {n: s for n, s in self.statuses(cluster, others).items() if s and not s["primary"]}
        if not st:
            raise ClusterError(f"failover: no reachable replica to promote ({old} was {how}d)")
        # most advanced by WAL received (then replayed; then name for determinism)
        new = max(st, key=lambda n: (st[n]["receive"], st[n]["replay"], n))
        with self._admin(cluster, new, timeout=30) as conn:
            ok = conn.execute("SELECT pg_promote(true, 25)").fetchone()[0]  # type: ignore[index]
        if not ok:
            raise ClusterError(f"failover: {new} did not finish promotion within 25 s")
        repointed = []
        for n in st:
            if n != new:
                with contextlib.suppress(psycopg.Error):
                    self._alter_system(
                        cluster, n, "primary_conninfo", self._primary_conninfo(cluster, new, n)
                    )
                    repointed.append(n)
        self._set_sync_names(cluster, new)
        out = {
            "how": how,
            "old_primary": old,
            "new_primary": new,
            "lsns": {
                n: {"receive": _fmt(s["receive"]), "replay": _fmt(s["replay"])}
                for n, s in st.items()
            },
            "repointed": repointed,
            "duration_s": round(time.monotonic() - t0, 3),
        }
        if fenced is not None:
            out["fenced_on_restart"] = fenced
        return out

    # -- compose: fencing and rejoining without pg_rewind -----------------------------------
    def _fence_on_restart(self, cluster: Cluster, node: str) -> bool:
        """Before the old primary's container is killed: ALTER SYSTEM without a reload, so the
        running server is unchanged until the kill and a restart comes up read-only (libpq's
        target_session_attrs=read-write then skips it). The local provider never restarts an
        old primary as a primary (it is rewound while down); compose must start it to exec."""
        try:
            with self._admin(cluster, node, timeout=2) as conn:
                conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            return True
        except psycopg.Error:
            return False  # it will be fenced (or re-cloned) as soon as it answers again

    def _fence(self, cluster: Cluster, node: str) -> None:
        """A running node takes no more writes: new transactions are read-only, and the
        sessions that may be writing are ended (what a fast shutdown would do)."""
        with self._admin(cluster, node) as conn:
            conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )

    def _unfence(self, cluster: Cluster, node: str) -> None:
        with self._admin(cluster, node) as conn:
            conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
            conn.execute("SELECT pg_reload_conf()")

    def _rejoin_compose(self, cluster: Cluster, node: str, primary: str) -> dict[str, Any]:
        """Make `node` a replica of `primary` inside its container, whose PID 1 is postgres:
        clone the primary into a side directory while the old server runs (fenced), rename it
        into place (the old server keeps its renamed directory: it works relative to its cwd),
        SIGKILL the container and start it; the entrypoint finds an initialised PGDATA with
        standby.signal and starts it as is."""
        data = self._data(cluster, node)
        side, old = f"{data}.rejoin", f"{data}.old"
        if not cluster.is_running(node):
            cluster.start(node)  # read-only if failover fenced it before the kill
        self._wait_ready(cluster, node, timeout=60)
        self._fence(cluster, node)
        self._basebackup(cluster, node, primary, data=side)
        # the clone's postgresql.auto.conf is the primary's: drop a fence it may carry
        self._set_conf(cluster, node, {}, data=side, drop=("default_transaction_read_only",))
        self._sh(cluster, node, 'rm -rf "$2" && mv "$1" "$2" && mv "$3" "$1"', data, old, side)
        self._kill_container(cluster, node)
        cluster.start(node)
        try:
            self._wait_ready(cluster, node, timeout=60)
            upto = lsn(self._query(cluster, primary, "SELECT pg_current_wal_lsn()::text")[0][0])
            self._wait_streaming(cluster, primary, [node], timeout=30, upto=upto)
        except (ClusterError, psycopg.Error) as e:
            raise ClusterError(f"{node} could not rejoin {primary}: {one_line(e)}") from None
        self._sh(cluster, node, 'rm -rf "$1"', old, check=False)
        return {"rejoined": node, "primary": primary, "method": "pg_basebackup (compose)"}

    def _kill_container(self, cluster: Cluster, node: str, timeout: float = 15) -> None:
        """SIGKILL, then wait until the container is down: the engine signals asynchronously,
        and a start of a container that is still running does nothing."""
        cluster.kill(node)
        deadline = time.monotonic() + timeout
        while cluster.is_running(node):
            if time.monotonic() > deadline:
                raise ClusterError(f"{node}: container still running {timeout:g} s after SIGKILL")
            time.sleep(0.1)

    def _start_compose(self, cluster: Cluster, node: str) -> None:
        """Start the container, then fix what it came up as: the container's entrypoint
        decides nothing, and its files are out of reach while it is stopped."""
        cluster.start(node)
        self._wait_ready(cluster, node, timeout=60)
        others = self.primaries(cluster, [n for n in cluster.nodes if n != node])
        st = self.status(cluster, node)
        if st is None:
            raise ClusterError(f"postgres on {node} does not answer after its start")
        if st["primary"]:
            if others:
                self._rejoin_compose(cluster, node, others[0])
            else:
                self._unfence(cluster, node)  # still the primary: undo a failover's fence
        elif others and st["upstream"] != self.peer_host(cluster, others[0]):
            self._alter_system(
                cluster, node, "primary_conninfo", self._primary_conninfo(cluster, others[0], node)
            )

    def end_failover(self, cluster: Cluster, state: dict[str, Any]) -> dict[str, Any]:
        t0 = time.monotonic()
        cluster.heal()
        old, new = state.get("old_primary"), state.get("new_primary")
        if not old or not new:
            return {"healed": True}
        out = self._rejoin(cluster, old, new)
        out["duration_s"] = round(time.monotonic() - t0, 3)
        return out

    def _stop(self, cluster: Cluster, node: str) -> None:
        if cluster.is_running(node):
            with contextlib.suppress(ClusterError):
                cluster.exec(
                    node,
                    [
                        self._b("pg_ctl"),
                        "stop",
                        "-D",
                        self._data(cluster, node),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        "10",
                    ],
                    user=USER,
                    timeout=15,
                )
        cluster.kill(node)  # whatever is left (and lets the provider reap the process)

    def _rejoin(self, cluster: Cluster, node: str, primary: str) -> dict[str, Any]:
        """Make a (former primary) node a replica of `primary`: stop, pg_rewind (fall back to a
        fresh base backup), standby.signal + primary_conninfo, start, wait until it follows."""
        if self.compose(cluster):
            return self._rejoin_compose(cluster, node, primary)
        data = self._data(cluster, node)
        method = ""
        for attempt in ("pg_rewind", "pg_basebackup"):
            self._stop(cluster, node)
            if attempt == "pg_rewind":
                # PG 15's pg_rewind takes the source's timeline from its control file, which a
                # fresh promotion updates only at its next checkpoint: without this it says "no
                # rewind required" and the node cannot follow the new timeline (fixed in PG 16).
                self._query(cluster, primary, "CHECKPOINT", timeout=60)
                source = self.conninfo(cluster, primary, connect_timeout=5)
                r = cluster.exec(
                    node,
                    [self._b("pg_rewind"), "-D", data, f"--source-server={source}", "--no-sync"],
                    user=USER,
                    timeout=300,
                    check=False,
                )
                method = "pg_rewind: " + _last_line(r.stderr or r.stdout)
                if r.returncode != 0:
                    continue
            else:
                self._basebackup(cluster, node, primary)
                method = f"pg_basebackup (after {method})"
            self._write(cluster, node, f"{data}/standby.signal", "")
            conninfo = self._primary_conninfo(cluster, primary, node)
            self._set_conf(
                cluster, node, {"primary_conninfo": conninfo, "synchronous_standby_names": ""}
            )
            cluster.start(node)
            try:
                self._wait_ready(cluster, node)
                # streaming *and* replayed up to the primary's position: a replica that cannot
                # follow the timeline shows as streaming for a moment, then restarts forever
                upto = lsn(self._query(cluster, primary, "SELECT pg_current_wal_lsn()::text")[0][0])
                self._wait_streaming(cluster, primary, [node], timeout=20, upto=upto)
            except (ClusterError, psycopg.Error) as e:
                if attempt == "pg_basebackup":
                    raise ClusterError(
                        f"{node} could not rejoin {primary}: {one_line(e)}"
                    ) from None
                method += f"; then not following: {one_line(e)}"
                continue
            break
        return {"rejoined": node, "primary": primary, "method": method}

    def start(self, cluster: Cluster, node: str) -> None:
        """Bring a killed node back as it was, or as a replica if another node was promoted."""
        if cluster.is_running(node):
            return
        if self.compose(cluster):
            self._start_compose(cluster, node)
            return
        others = self.primaries(cluster, [n for n in cluster.nodes if n != node])
        standby = (
            self._sh(
                cluster,
                node,
                'test -e "$1" && echo yes || echo no',
                f"{self._data(cluster, node)}/standby.signal",
            ).strip()
            == "yes"
        )
        if not standby and others:
            self._rejoin(cluster, node, others[0])
            return
        if standby and others:
            self._set_conf(
                cluster,
                node,
                {"primary_conninfo": self._primary_conninfo(cluster, others[0], node)},
            )
        cluster.start(node)
        self._wait_ready(cluster, node)

    def recover(self, cluster: Cluster, timeout: float) -> dict[str, Any]:
        t0 = time.monotonic()
        deadline = t0 + timeout
        out: dict[str, Any] = {"restarted": [], "rejoined": [], "promoted": None, "repointed": []}
        for n in cluster.nodes:
            if not cluster.is_running(n):
                try:
                    self.start(cluster, n)
                    out["restarted"].append(n)
                except ClusterError as e:
                    out.setdefault("errors", []).append(str(e))
        stuck: dict[str, tuple[float, int]] = {}  # node -> (since, replay LSN seen)
        no_primary_since: float | None = None
        while True:
            now = time.monotonic()
            if now > deadline:
                raise ClusterError(
                    f"postgres did not recover within {timeout:g} s: {out.get('last', 'no status')}"
                )
            st = self.statuses(cluster)
            prims = sorted(
                (s for s in st.values() if s and s["primary"]),
                key=lambda s: (s["timeline"], s["lsn"]),
                reverse=True,
            )
            if not prims:
                out["last"] = "no primary"
                no_primary_since = no_primary_since or now
                reps = {n: s for n, s in st.items() if s}
                if now - no_primary_since > 5 and reps:
                    new = max(reps, key=lambda n: (reps[n]["receive"], reps[n]["replay"], n))
                    self._query(cluster, new, "SELECT pg_promote(true, 25)", timeout=30)
                    self._set_sync_names(cluster, new)
                    out["promoted"] = new
                time.sleep(0.3)
                continue
            primary = prims[0]["node"]
            for s in prims[1:]:  # split brain left over: the newest timeline wins
                out["rejoined"].append(self._rejoin(cluster, s["node"], primary))
            if len(prims) > 1:
                continue
            addr = self.peer_host(cluster, primary)  # what primary_conninfo names
            for n, s in st.items():
                if s and not s["primary"] and s["upstream"] != addr:
                    with contextlib.suppress(psycopg.Error):
                        self._alter_system(
                            cluster,
                            n,
                            "primary_conninfo",
                            self._primary_conninfo(cluster, primary, n),
                        )
                        out["repointed"].append(n)
            replicas = [n for n in cluster.nodes if n != primary]
            try:
                target = lsn(
                    self._query(cluster, primary, "SELECT pg_current_wal_lsn()::text", timeout=5)[
                        0
                    ][0]
                )
                rep = self._replication(cluster, primary)
            except psycopg.Error as e:
                out["last"] = f"primary {primary}: {one_line(e)}"
                time.sleep(0.3)
                continue
            behind = [
                n for n in replicas if rep.get(n, ("", -1))[0] != "streaming" or rep[n][1] < target
            ]
            if not behind:
                out.update(
                    primary=primary,
                    timeline=prims[0]["timeline"],
                    lsn=_fmt(target),
                    replicas={
                        n: {"state": rep[n][0], "replay_lsn": _fmt(rep[n][1])} for n in replicas
                    },
                    duration_s=round(time.monotonic() - t0, 2),
                )
                out.pop("last", None)
                return out
            out["last"] = f"primary {primary}; behind: " + ", ".join(
                f"{n} ({rep.get(n, ('absent', -1))[0]})" for n in behind
            )
            for n in behind:
                # no progress for 10 s with no load: it cannot follow (e.g. it has WAL the
                # primary lacks, or sits on an abandoned timeline): rewind it
                s = st.get(n)
                pos = s["replay"] if s and not s["primary"] else -1
                since, seen = stuck.get(n, (now, -2))
                if pos != seen:
                    stuck[n] = (now, pos)
                elif now - since > 10 and s is not None:
                    stuck.pop(n, None)
                    out["rejoined"].append(self._rejoin(cluster, n, primary))
            time.sleep(0.2)

    # -- clients --------------------------------------------------------------------------
    def client(self, cluster: Cluster, process: int, node: str | None = None) -> Any:
        from harness.db.postgres_clients import make_client

        return make_client(self, cluster, process, node)

    def classify(self, exc: BaseException) -> Literal["fail", "info"]:
        from harness.db.postgres_clients import classify

        return classify(exc)


def _parallel(fn: Callable[[str], T], items: list[str]) -> list[T]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=len(items)) as ex:
        return list(ex.map(fn, items))


def _fmt(x: int) -> str | None:
    return None if x < 0 else f"{x >> 32:X}/{x & 0xFFFFFFFF:X}"


def _conninfo_host(conninfo: str) -> str | None:
    try:
        return psycopg.conninfo.conninfo_to_dict(conninfo).get("host")  # type: ignore[return-value]
    except psycopg.Error:
        return None


def _last_line(s: str) -> str:
    lines = [ln for ln in (s or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
