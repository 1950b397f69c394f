"""PostgreSQL 15, primary + streaming replicas (async or `ANY 1` synchronous).

n1 is initdb'ed and becomes the first primary; the others are pg_basebackup copies streaming
from it (application_name = node name). Node-specific settings (listen address, socket dir)
are given on the postgres command line, so config files copied by pg_basebackup/pg_rewind
from another node never carry the wrong address. Everything is done through the Cluster
contract (spawn/exec/kill) and libpq connections to cluster.host(node), so the definition does
not depend on the provider.

Failover has no fencing on purpose: the isolated old primary keeps taking writes from the
clients connected to it. That split brain is what the tests observe.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from typing import Any, Literal, TypeVar

import psycopg
from psycopg import sql

from harness.cluster import Cluster
from harness.db import Database
from harness.errors import ClusterError

PORT = 5432
USER = "postgres"
T = TypeVar("T")

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


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


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

    def _data(self, cluster: Cluster, node: str) -> str:
        return str(PurePosixPath(cluster.node_dir(node)) / "data")

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

    def _set_conf(self, cluster: Cluster, node: str, settings: dict[str, str]) -> None:
        """Set settings in postgresql.auto.conf of a stopped node (what ALTER SYSTEM writes)."""
        path = f"{self._data(cluster, node)}/postgresql.auto.conf"
        old = self._sh(cluster, node, 'cat "$1" 2>/dev/null || true', path)
        keep = [line for line in old.splitlines() if line.split("=", 1)[0].strip() not in settings]
        quoted = [f"{k} = '{v.replace(chr(39), chr(39) * 2)}'" for k, v in settings.items()]
        self._write(cluster, node, path, "\n".join(keep + quoted) + "\n")

    def conninfo(self, cluster: Cluster, node: str, **extra: Any) -> str:
        return psycopg.conninfo.make_conninfo(
            host=cluster.host(node), port=PORT, user=USER, dbname="postgres", **extra
        )

    def _primary_conninfo(self, cluster: Cluster, primary: str, node: str) -> str:
        return self.conninfo(
            cluster,
            primary,
            application_name=node,
            connect_timeout=2,
            keepalives=1,
            keepalives_idle=2,
            keepalives_interval=1,
            keepalives_count=3,
        )

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

    # -- setup ----------------------------------------------------------------------------
    def setup(self, cluster: Cluster) -> None:
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
        fsync = "on" if self.spec.option("fsync", True) not in (False, "off", "false", 0) else "off"
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
            self._alter_system(
                cluster, first, "synchronous_standby_names", self._sync_names(cluster, first)
            )
            self._alter_system(cluster, first, "synchronous_commit", "on")

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

    def _basebackup(self, cluster: Cluster, node: str, primary: str) -> None:
        data = self._data(cluster, node)
        self._sh(cluster, node, 'rm -rf "$1"', data)
        cluster.exec(
            node,
            [self._b("pg_basebackup"), "-d", self._primary_conninfo(cluster, primary, node),
             "-D", data, "-R", "-X", "stream", "-c", "fast", "--no-sync"],
            user=USER,
            timeout=300,
        )  # fmt: skip
        self._set_conf(
            cluster, node, {"primary_conninfo": self._primary_conninfo(cluster, primary, node)}
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
        if how == "isolate":
            cluster.partition({old: set(others), **{n: {old} for n in others}})
        else:
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
        if self.spec.mode == "sync":
            names = ", ".join(n for n in cluster.nodes if n != new)
            self._alter_system(cluster, new, "synchronous_standby_names", f"ANY 1 ({names})")
        return {
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
                        f"{node} could not rejoin {primary}: {_first_line(e)}"
                    ) from None
                method += f"; then not following: {_first_line(e)}"
                continue
            break
        return {"rejoined": node, "primary": primary, "method": method}

    def start(self, cluster: Cluster, node: str) -> None:
        """Bring a killed node back as it was, or as a replica if another node was promoted."""
        if cluster.is_running(node):
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
                    if self.spec.mode == "sync":
                        self._alter_system(
                            cluster,
                            new,
                            "synchronous_standby_names",
                            self._sync_names(cluster, new),
                        )
                    out["promoted"] = new
                time.sleep(0.3)
                continue
            primary = prims[0]["node"]
            for s in prims[1:]:  # split brain left over: the newest timeline wins
                out["rejoined"].append(self._rejoin(cluster, s["node"], primary))
            if len(prims) > 1:
                continue
            addr = cluster.host(primary)
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
                out["last"] = f"primary {primary}: {_first_line(e)}"
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

        return make_client(self.spec, cluster, process, node)

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
