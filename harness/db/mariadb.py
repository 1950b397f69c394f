"""MariaDB 10.11, one primary and replicas with GTID replication (MySQL-style primary-replica):
asynchronous, or MariaDB's built-in semi-synchronous replication (`semi-sync`).

Every node is initialised with mariadb-install-db and runs with the binary log on
(log_slave_updates, gtid_strict_mode), so any replica can be promoted. n1 is the first
primary: the schema is created there and reaches the replicas through replication
(CHANGE MASTER ... MASTER_USE_GTID=slave_pos). Every node starts `read_only` (my.cnf), so a
restarted node never takes client writes until the harness says it is the primary; clients log
in as a user without READ ONLY ADMIN, which read_only then refuses.

Semi-sync: every node has the master and the slave side enabled (a promoted replica waits
for acks too). A commit waits for one replica's ack at `semi_sync_wait_point` (AFTER_SYNC:
after the binlog write, before the InnoDB commit, so no other client can see it; AFTER_COMMIT,
MariaDB 10.11's default: after the InnoDB commit, so others can read it before any replica
has it) for at most `semi_sync_timeout_ms`; then the primary silently falls back to
asynchronous replication (status Rpl_semi_sync_master_status OFF). The failover fault watches
that status on the old primary and records the fallback in the history (failover_events).

Failover (as PostgreSQL's, nemesis/faults/failover.py): isolate or kill the primary, stop the
replicas' IO threads, promote the one that received the most (Gtid_IO_Pos), after it applied
its relay log, repoint the others, and rejoin the old primary as a replica. MariaDB has no
pg_rewind: the old primary may hold transactions nobody else has, so it is re-cloned from the
new primary (mariadb-dump with its GTID position), as an operator would; whatever it alone
held is discarded, which is what a lost write is.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import pymysql

from harness.cluster import Cluster
from harness.db import GENERIC_FAULTS, Deployment, parallel
from harness.db.mariadb_clients import CLIENT
from harness.db.mariadb_server import (
    ADMIN,
    CNF_HEAD,
    DATABASE,
    MARIADBD,
    OS_USER,
    PORT,
    MariaDBServer,
    server_binaries,
)
from harness.errors import ClusterError, one_line
from harness.options import Option

REPL = ("repl", "splitbrain")  # what replicas log in as
_HINT = "apt-get install mariadb-server"
T = TypeVar("T")

SEMI_SYNC_WAIT_POINT = Option(
    "semi_sync_wait_point",
    str,
    "AFTER_COMMIT",
    "semi-sync: where a commit waits for a replica's ack: AFTER_SYNC (before the InnoDB "
    "commit: invisible until acked) or AFTER_COMMIT (visible first; MariaDB 10.11's default)",
    choices=("AFTER_SYNC", "AFTER_COMMIT"),
)
SEMI_SYNC_TIMEOUT_MS = Option(
    "semi_sync_timeout_ms",
    int,
    10_000,
    "semi-sync: rpl_semi_sync_master_timeout, ms a commit waits for an ack before the primary "
    "falls back to asynchronous replication",
    minimum=1,
    maximum=3_600_000,
)
INNODB_FLUSH = Option(
    "innodb_flush_log_at_trx_commit",
    int,
    1,
    "InnoDB redo log at commit: 1 flushed (MariaDB's default), 2 written, 0 neither "
    "(flushed once a second)",
    choices=(0, 1, 2),
)

MY_CNF = (
    CNF_HEAD
    + """\
# its own: three mariadb-install-db at once in one /tmp trip over each other's temporary tables
tmpdir = {dir}/tmp
port = {port}
bind-address = {bind}
skip-name-resolve
server_id = {server_id}
log_bin = mariadb-bin
log_slave_updates = ON
binlog_format = ROW
gtid_strict_mode = ON
# a restarted node takes no client writes until the harness makes it the primary
read_only = ON
# replicas notice a silent primary in seconds (heartbeats every 0.5 s), not the default
# minute; and STOP SLAVE, which waits for a blocked read of a cut-off primary, returns soon
slave_net_timeout = 2
default_storage_engine = InnoDB
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
innodb_flush_log_at_trx_commit = {flush}
max_connections = {max_connections}
{semi_sync}"""
)

SEMI_SYNC_CNF = """\
rpl_semi_sync_master_enabled = ON
rpl_semi_sync_slave_enabled = ON
rpl_semi_sync_master_timeout = {timeout}
rpl_semi_sync_master_wait_point = {wait_point}
"""

SEMI_SYNC_VARS = (
    "Rpl_semi_sync_master_status",
    "Rpl_semi_sync_master_clients",
    "Rpl_semi_sync_master_no_tx",
    "Rpl_semi_sync_master_yes_tx",
    "Rpl_semi_sync_master_wait_sessions",
)
GTID = re.compile(r"(\d+)-(\d+)-(\d+)")


def gtid_seq(pos: str | None, domain: int = 0) -> int:
    """The sequence number of a GTID position's domain ('0-1-42,1-2-3' -> 42; none -> -1)."""
    for d, _server, seq in GTID.findall(pos or ""):
        if int(d) == domain:
            return int(seq)
    return -1


class MariaDB(MariaDBServer):
    name = "mariadb"
    topology = "primary-replica"
    modes = ("async", "semi-sync")
    workloads = ("set", "register", "kv", "append", "bank")
    faults = (*GENERIC_FAULTS, "failover")
    options = (SEMI_SYNC_WAIT_POINT, SEMI_SYNC_TIMEOUT_MS, INNODB_FLUSH)
    title = "MariaDB"
    mode_titles = {"async": "async", "semi-sync": "semi-sync"}
    isolation_applies = True
    reads_routed = True
    consistency_options = (SEMI_SYNC_WAIT_POINT, SEMI_SYNC_TIMEOUT_MS, INNODB_FLUSH)
    packages = ("mariadb-server",)
    deployment = Deployment(
        user=OS_USER,
        ports={"client": PORT},
        image="splitbrain/mariadb:10.11",
        binaries=(
            *server_binaries(_HINT),
            ("mariadb-dump", _HINT),
        ),
        settings={"mariadbd": MARIADBD},
    )

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.current: str | None = None  # the node the harness last made the primary
        self.ever_primary: set[str] = set()  # may hold writes no one else has
        self._watchers: dict[str, FallbackWatch] = {}  # old primary -> its semi-sync watch

    @property
    def semi_sync(self) -> bool:
        return self.spec.mode == "semi-sync"

    # -- paths, config, processes ---------------------------------------------------------
    def _write_cnf(self, cluster: Cluster, node: str) -> None:
        semi = (
            SEMI_SYNC_CNF.format(
                timeout=self.opt(SEMI_SYNC_TIMEOUT_MS), wait_point=self.opt(SEMI_SYNC_WAIT_POINT)
            )
            if self.semi_sync
            else ""
        )
        text = MY_CNF.format(
            node=node,
            run_id=cluster.run_id,
            dir=self._dir(cluster, node),
            data=self._data(cluster, node),
            port=PORT,
            bind=cluster.listen_address(node),
            server_id=cluster.nodes.index(node) + 1,
            flush=self.opt(INNODB_FLUSH),
            max_connections=max(100, 4 * self.spec.concurrency + 20),
            semi_sync=semi,
        )
        cluster.write_file(node, self._cnf(cluster, node), text, user=OS_USER)
        # the admin login for mariadb-dump on this node (a file, never an argv)
        cluster.exec(
            node,
            ["sh", "-c", 'umask 077 && cat > "$1"', "sh", f"{self._dir(cluster, node)}/client.cnf"],
            user=OS_USER,
            input=f"[client]\nuser={ADMIN[0]}\npassword={ADMIN[1]}\n",
        )

    def _init_node(self, cluster: Cluster, node: str) -> None:
        """A fresh data directory, the server started read-only, the logins created without
        writing the binary log (each node has them; only the schema and data replicate)."""
        d = self._dir(cluster, node)
        cluster.exec(node, ["rm", "-rf", f"{d}/data"], user=OS_USER)
        cluster.exec(node, ["mkdir", "-p", f"{d}/data", f"{d}/tmp"], user=OS_USER)
        self._write_cnf(cluster, node)
        self._install_db(cluster, node)
        self._spawn(cluster, node)
        self._wait_socket(cluster, node, timeout=60)
        self._socket_sql(
            cluster,
            node,
            "SET sql_log_bin = 0;"
            + self._admin_sql()
            + f"CREATE USER '{CLIENT[0]}'@'%' IDENTIFIED BY '{CLIENT[1]}';"
            f"GRANT ALL ON {DATABASE}.* TO '{CLIENT[0]}'@'%';"
            f"CREATE USER '{REPL[0]}'@'%' IDENTIFIED BY '{REPL[1]}';"
            f"GRANT REPLICATION SLAVE, REPLICATION SLAVE ADMIN ON *.* TO '{REPL[0]}'@'%';"
            "RESET MASTER;",
        )

    def sql(self, cluster: Cluster, node: str, *stmts: str, timeout: float = 10) -> list[Any]:
        """Run statements as the admin; the last one's rows (dicts)."""
        conn = self.connect(cluster, node, timeout, cursorclass=pymysql.cursors.DictCursor)
        try:
            rows: list[Any] = []
            with conn.cursor() as cur:
                for s in stmts:
                    cur.execute(s)
                    rows = list(cur.fetchall()) if cur.description else []
            return rows
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def status(self, cluster: Cluster, node: str, timeout: float = 3) -> dict[str, Any] | None:
        """Role and replication state of a node, or None when it does not answer."""
        try:
            conn = self.connect(cluster, node, timeout, cursorclass=pymysql.cursors.DictCursor)
        except pymysql.Error:
            return None
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT @@read_only AS ro, @@gtid_binlog_pos AS binlog,"
                    " @@gtid_slave_pos AS slave, @@gtid_current_pos AS current"
                )
                row = cur.fetchone()
                cur.execute("SHOW SLAVE STATUS")
                rep = cur.fetchone()
                cur.execute("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_%'")
                semi = {r["Variable_name"]: r["Value"] for r in cur.fetchall()}
        except pymysql.Error:
            return None
        finally:
            with contextlib.suppress(Exception):
                conn.close()
        out = {
            "node": node,
            "read_only": bool(int(row["ro"])),
            "binlog": row["binlog"],
            "slave_pos": row["slave"],
            "current": row["current"],
            "replicating": rep is not None,
            "semi_sync": {k: semi.get(k) for k in SEMI_SYNC_VARS if k in semi},
        }
        if rep is not None:
            out.update(
                master=rep.get("Master_Host"),
                io=rep.get("Slave_IO_Running"),
                sql=rep.get("Slave_SQL_Running"),
                io_pos=rep.get("Gtid_IO_Pos"),
                error=rep.get("Last_IO_Error") or rep.get("Last_SQL_Error") or "",
            )
        return out

    def statuses(
        self, cluster: Cluster, nodes: list[str] | None = None
    ) -> dict[str, dict[str, Any] | None]:
        nodes = list(cluster.nodes) if nodes is None else nodes
        return dict(zip(nodes, parallel(lambda n: self.status(cluster, n), nodes), strict=True))

    def primary(self, cluster: Cluster) -> str | None:
        """The node the harness made the primary, when it answers as one (read-write, not
        replicating); else any node that does. During a split brain the isolated old primary
        still takes writes from the clients connected to it: the promoted one is named."""
        order = [self.current] if self.current else []
        order += [n for n in cluster.nodes if n not in order]
        for n in order:
            st = self.status(cluster, n)
            if st and not st["read_only"] and not st["replicating"]:
                return n
        return None

    # -- setup ----------------------------------------------------------------------------
    def setup(self, cluster: Cluster) -> None:
        first, replicas = cluster.nodes[0], list(cluster.nodes[1:])
        parallel(lambda n: self._init_node(cluster, n), list(cluster.nodes))
        # replicas first: with semi-sync on and no replica connected, each schema commit
        # would wait rpl_semi_sync_master_timeout for an ack
        for n in replicas:
            self._follow(cluster, n, first)
        if self.semi_sync and replicas:
            self._wait_semi_sync(cluster, first, len(replicas), timeout=30)
        self._socket_sql(cluster, first, self._schema_sql())
        self._make_primary(cluster, first)
        self.wait_caught_up(cluster, first, replicas, timeout=60)

    def _follow(self, cluster: Cluster, node: str, primary: str, gtid: str | None = None) -> None:
        """Make node a replica of primary from its own GTID position (or `gtid`)."""
        stmts = ["SET GLOBAL read_only = ON", "STOP SLAVE"]
        if gtid is not None:
            stmts.append(f"SET GLOBAL gtid_slave_pos = '{gtid}'")
        stmts += [
            f"CHANGE MASTER TO MASTER_HOST = '{cluster.peer_address(primary)}',"
            f" MASTER_PORT = {PORT}, MASTER_USER = '{REPL[0]}', MASTER_PASSWORD = '{REPL[1]}',"
            " MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1,"
            " MASTER_HEARTBEAT_PERIOD = 0.5",
            "START SLAVE",
        ]
        self._socket_sql(cluster, node, ";".join(stmts) + ";")

    def _make_primary(self, cluster: Cluster, node: str) -> None:
        self._socket_sql(cluster, node, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF;")
        self.current = node
        self.ever_primary.add(node)

    def _wait_semi_sync(self, cluster: Cluster, primary: str, clients: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(cluster, primary)
            semi = st["semi_sync"] if st else {}
            if (
                semi.get("Rpl_semi_sync_master_status") == "ON"
                and int(semi.get("Rpl_semi_sync_master_clients") or 0) >= clients
            ):
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"mariadb {primary}: semi-sync not on with {clients} replicas after "
                    f"{timeout:g} s ({semi})"
                )
            time.sleep(0.1)

    def caught_up(self, cluster: Cluster, node: str, target: str) -> bool:
        """Whether node applied every transaction up to the GTID position `target`."""
        if not target:
            return True
        rows = self.sql(cluster, node, f"SELECT MASTER_GTID_WAIT('{target}', 0) AS w", timeout=5)
        return bool(rows) and rows[0]["w"] == 0

    def wait_caught_up(
        self, cluster: Cluster, primary: str, nodes: list[str], timeout: float
    ) -> str:
        deadline = time.monotonic() + timeout
        target = ""
        while True:
            behind = nodes
            with contextlib.suppress(pymysql.Error):
                target = str(self.sql(cluster, primary, "SELECT @@gtid_binlog_pos AS p")[0]["p"])
                behind = [n for n in nodes if not self.caught_up(cluster, n, target)]
                if not behind:
                    return target
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"replicas {', '.join(behind)} did not reach {primary}'s {target or '?'} "
                    f"in {timeout:g} s"
                )
            time.sleep(0.1)

    # -- failover ---------------------------------------------------------------------------
    def failover(self, cluster: Cluster, how: str) -> dict[str, Any]:
        if how not in ("isolate", "kill"):
            raise ClusterError(f"failover how={how!r}: expected isolate or kill")
        t0 = time.monotonic()
        old = self.primary(cluster)
        if old is None:
            raise ClusterError("failover: no primary found")
        before = self.status(cluster, old) or {}
        others = [n for n in cluster.nodes if n != old]
        if how == "isolate":
            cluster.partition({old: set(others), **{n: {old} for n in others}})
            if self.semi_sync:  # from the cut on: when does it stop waiting for acks?
                self._watchers[old] = FallbackWatch(lambda: self.status(cluster, old, timeout=1))
        else:
            cluster.kill(old)
        # What each replica received stops growing: the most advanced is promoted
        stopped = time.monotonic()

        def stop_io(n: str) -> None:
            with contextlib.suppress(pymysql.Error):
                self.sql(cluster, n, "STOP SLAVE IO_THREAD", timeout=15)

        parallel(stop_io, others)
        stopped = time.monotonic() - stopped
        st = {n: s for n, s in self.statuses(cluster, others).items() if s and s["replicating"]}
        if not st:
            raise ClusterError(f"failover: no reachable replica to promote ({old} was {how}d)")
        received = {n: gtid_seq(s.get("io_pos")) for n, s in st.items()}
        new = max(st, key=lambda n: (received[n], gtid_seq(st[n]["slave_pos"]), n))
        # apply what it received before taking writes
        pos = st[new].get("io_pos") or ""
        if pos:
            w = self.sql(cluster, new, f"SELECT MASTER_GTID_WAIT('{pos}', 25) AS w", timeout=30)
            if not w or w[0]["w"] != 0:
                raise ClusterError(f"failover: {new} did not apply its relay log within 25 s")
        self._make_primary(cluster, new)
        repointed = []
        for n in st:
            if n != new:
                with contextlib.suppress(pymysql.Error, ClusterError):
                    self._follow(cluster, n, new)
                    repointed.append(n)
        return {
            "how": how,
            "old_primary": old,
            "new_primary": new,
            "received": {n: st[n].get("io_pos") for n in st},
            "old_binlog": before.get("binlog"),
            "old_semi_sync": before.get("semi_sync") if self.semi_sync else None,
            "repointed": repointed,
            "io_threads_stopped_s": round(stopped, 3),
            "duration_s": round(time.monotonic() - t0, 3),
        }

    def failover_events(self, cluster: Cluster, state: dict[str, Any]) -> list[dict[str, Any]]:
        """While the old primary is cut off: the moment it gave up waiting for a replica's
        ack and turned semi-sync off (fell back to asynchronous replication), once."""
        w = self._watchers.get(str(state.get("old_primary")))
        event = w.report() if w is not None else None
        return [event] if event is not None else []

    def _end_watch(self, old: str) -> dict[str, Any] | None:
        """Stop watching the old primary; what it saw (the fallback, or that none came)."""
        w = self._watchers.pop(old, None)
        if w is None:
            return None
        w.stop()
        return w.summary()

    def end_failover(self, cluster: Cluster, state: dict[str, Any]) -> dict[str, Any]:
        t0 = time.monotonic()
        watched = self._end_watch(str(state.get("old_primary")))
        cluster.heal()
        old, new = state.get("old_primary"), state.get("new_primary")
        if not old or not new:
            return {"healed": True}
        out = self.rejoin(cluster, old, new)
        if watched is not None:
            out["semi_sync_while_cut_off"] = watched
        out["duration_s"] = round(time.monotonic() - t0, 3)
        return out

    def rejoin(self, cluster: Cluster, node: str, primary: str) -> dict[str, Any]:
        """Re-clone node from primary (its own data may hold transactions no other node has)
        and make it a replica from the dump's GTID position."""
        cluster.kill(node)
        self._init_node(cluster, node)
        dump = shlex.join(
            [
                "mariadb-dump",
                f"--defaults-extra-file={self._dir(cluster, node)}/client.cnf",
                f"--host={cluster.peer_address(primary)}",
                f"--port={PORT}",
                "--single-transaction",
                "--gtid",
                "--master-data=2",  # the position as a comment: set below, stopped slave
                "--databases",
                DATABASE,
            ]
        )
        sock = f"{self._dir(cluster, node)}/mariadbd.sock"
        path = f"{self._dir(cluster, node)}/clone.sql"
        cluster.exec(node, ["sh", "-c", f"{dump} > {shlex.quote(path)}"], user=OS_USER, timeout=300)
        text = cluster.read_file(node, path, user=OS_USER)
        m = re.search(r"gtid_slave_pos\s*=\s*'([^']*)'", text)
        if m is None:
            raise ClusterError(f"{node} could not rejoin {primary}: no GTID position in the dump")
        cluster.exec(
            node,
            ["sh", "-c", f"{{ echo 'SET sql_log_bin = 0;'; cat {shlex.quote(path)}; }} | "
             f"mariadb --socket={shlex.quote(sock)} -uroot"],
            user="root",
            timeout=300,
        )  # fmt: skip
        self._follow(cluster, node, primary, gtid=m.group(1))
        self.ever_primary.discard(node)
        self.wait_caught_up(cluster, primary, [node], timeout=30)
        return {"rejoined": node, "primary": primary, "method": "re-cloned (mariadb-dump)",
                "gtid": m.group(1)}  # fmt: skip

    # -- kill / restart -------------------------------------------------------------------
    def start(self, cluster: Cluster, node: str) -> None:
        """Bring a killed node back: the primary as the primary; a replica as a replica of
        the current primary; an old primary that another replaced, re-cloned."""
        if cluster.is_running(node):
            return
        if node != self.current and node in self.ever_primary and self.current is not None:
            self.rejoin(cluster, node, self.current)
            return
        cluster.start(node)
        self._wait_socket(cluster, node, timeout=120)
        if node == self.current:
            self._socket_sql(cluster, node, "SET GLOBAL read_only = OFF;")
            return
        st = self.status(cluster, node)
        if self.current and st and st.get("master") != cluster.peer_address(self.current):
            self._follow(cluster, node, self.current)

    def recover(self, cluster: Cluster, timeout: float) -> dict[str, Any]:
        t0 = time.monotonic()
        deadline = t0 + timeout
        out: dict[str, Any] = {"restarted": [], "rejoined": [], "repointed": []}
        self.restart_stopped(cluster, out)
        primary = self.current or cluster.nodes[0]
        stuck: dict[str, float] = {}
        while True:
            now = time.monotonic()
            if now > deadline:
                raise ClusterError(
                    f"mariadb did not recover within {timeout:g} s: {out.get('last', 'no status')}"
                )
            st = self.statuses(cluster)
            p = st.get(primary)
            if p is None:
                out["last"] = f"primary {primary} does not answer"
                time.sleep(0.3)
                continue
            if p["read_only"]:
                self._make_primary(cluster, primary)
            try:
                target = str(self.sql(cluster, primary, "SELECT @@gtid_binlog_pos AS p")[0]["p"])
            except pymysql.Error as e:
                out["last"] = f"primary {primary}: {one_line(e)}"
                time.sleep(0.3)
                continue
            behind = []
            for n, s in st.items():
                if n == primary:
                    continue
                if s is None:
                    behind.append(f"{n} (not answering)")
                    continue
                diverged = not s["read_only"] or (s.get("error") and s.get("io") != "Yes")
                if s.get("master") != cluster.peer_address(primary) and not diverged:
                    with contextlib.suppress(pymysql.Error, ClusterError):
                        self._follow(cluster, n, primary)
                        out["repointed"].append(n)
                    behind.append(f"{n} (repointed)")
                    continue
                if diverged or n in self.ever_primary:
                    since = stuck.setdefault(n, now)
                    # a read-write leftover of a split brain, or a replica whose primary
                    # refuses it (a GTID it lacks): re-clone; an error may be transient first
                    if not s["read_only"] or n in self.ever_primary or now - since > 5:
                        out["rejoined"].append(self.rejoin(cluster, n, primary))
                        stuck.pop(n, None)
                    behind.append(f"{n} ({s.get('error') or 'diverged'})")
                    continue
                with contextlib.suppress(pymysql.Error):
                    if self.caught_up(cluster, n, target):
                        continue
                behind.append(f"{n} (at {s.get('slave_pos')}, primary at {target})")
            if not behind:
                out.update(primary=primary, gtid=target, duration_s=round(now - t0, 2))
                out.pop("last", None)
                return out
            out["last"] = f"primary {primary}; behind: {', '.join(behind)}"
            time.sleep(0.2)

    # -- clients --------------------------------------------------------------------------
    def client(self, cluster: Cluster, process: int, node: str | None = None) -> Any:
        from harness.db.mariadb_clients import make_client

        return make_client(self, cluster, process, node)

    def classify(self, exc: BaseException) -> Literal["fail", "info"]:
        from harness.db.galera_clients import classify

        return classify(exc)


class FallbackWatch:
    """Polls a cut-off primary's semi-sync status every 0.1 s from the cut on, and keeps the
    first moment it reads OFF (time.monotonic) with the status then."""

    def __init__(self, status: Callable[[], dict[str, Any] | None]) -> None:
        self._status = status
        self._stop = threading.Event()
        self.at: float | None = None
        self.seen: dict[str, Any] | None = None
        self.polls = 0
        self._reported = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="semi-sync-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            st = self._status()
            self.polls += 1
            if semi_sync_state(st) == "off":
                with self._lock:
                    self.at, self.seen = time.monotonic(), dict(st["semi_sync"])  # type: ignore[index]
                return

    def report(self) -> dict[str, Any] | None:
        """The fallback as an event (once): at_monotonic is when it was first read."""
        with self._lock:
            if self.at is None or self._reported:
                return None
            self._reported = True
            return {"f": "semi-sync-fallback", "at_monotonic": self.at, "status": self.seen}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            if self.at is None:
                return {"fell_back": False, "polls": self.polls}
            return {"fell_back": True, "status": self.seen}


def semi_sync_state(status: Mapping[str, Any] | None) -> str:
    """'on', 'off' or 'unknown' from a status()'s semi-sync variables."""
    v = ((status or {}).get("semi_sync") or {}).get("Rpl_semi_sync_master_status")
    return {"ON": "on", "OFF": "off"}.get(str(v), "unknown")
