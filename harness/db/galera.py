"""MariaDB 10.11 + Galera 4: a peer-to-peer, multi-primary cluster (every node takes writes).

n1 is initialised with mariadb-install-db and bootstraps the cluster (--wsrep-new-cluster);
the others start with an empty datadir and join one at a time, each receiving a full copy by
rsync SST. Everything a node owns (datadir, socket, pid file, error log, my.cnf) lives in
cluster.node_dir(node); mariadbd runs as the `mysql` user through cluster.spawn, on any
provider (the node contract).

Galera detects a partition with its EVS protocol: the timeouts below are lowered from the
defaults (suspect 5 s, inactive 15 s) so that a cut-off node is suspected after ~1 s and
evicted from the primary component after ~2 s; the minority then goes non-Primary and
refuses reads and writes (error 1047) until it merges back.

A node killed with SIGKILL comes back as Galera's own tooling (galera_recovery) brings it:
`mariadbd --wsrep-recover` reads the last committed position from InnoDB, and the node starts
with --wsrep_start_position=<uuid:seqno> so that a donor can send it the missing writesets
(IST) instead of the whole datadir (SST).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import pymysql

from harness.cluster import Cluster
from harness.db import Deployment, parallel
from harness.db.mariadb_server import (
    CNF_HEAD,
    MARIADBD,
    OS_USER,
    PORT,
    MariaDBServer,
    server_binaries,
)
from harness.errors import ClusterError, SpecError
from harness.options import Option

PROVIDER_LIB = "/usr/lib/galera/libgalera_smm.so"
_HINT = "apt-get install mariadb-server galera-4 rsync"
T = TypeVar("T")

# Failure detection (EVS). Constraints Galera enforces: keepalive <= suspect,
# inactive_check <= suspect <= inactive <= consensus; install_timeout <= inactive.
PROVIDER_OPTIONS = (
    "evs.keepalive_period=PT0.3S; evs.inactive_check_period=PT0.3S; "
    "evs.suspect_timeout=PT1S; evs.inactive_timeout=PT2S; evs.install_timeout=PT2S; "
    "evs.join_retrans_period=PT0.3S; gmcast.peer_timeout=PT2S; pc.announce_timeout=PT1S; "
    "gcache.size=256M"
)

MY_CNF = (
    CNF_HEAD
    + """\
port = {port}
bind-address = {bind}
skip-name-resolve
default_storage_engine = InnoDB
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
# option innodb_flush_log_at_trx_commit (default 2: write the redo log to the OS at commit,
# fsync it once a second: survives a SIGKILL, not a power loss; 0: not even written at
# commit, so a SIGKILL loses up to a second; 1: fsync at every commit)
innodb_flush_log_at_trx_commit = {flush}
max_connections = {max_connections}
binlog_format = ROW
innodb_autoinc_lock_mode = 2
wsrep_on = ON
wsrep_provider = {provider}
wsrep_cluster_name = splitbrain-{run_id}
wsrep_cluster_address = gcomm://{peers}
wsrep_node_address = {addr}
wsrep_node_name = {node}
wsrep_sst_method = rsync
wsrep_sync_wait = {sync_wait}
wsrep_provider_options = "{provider_options}"
"""
)

# wsrep_sst_rsync starts an rsync daemon on the joiner, which looks up the donor's address in
# DNS for every connection; a node's namespace has no reachable DNS server, so each of the
# six transfers stalls ~10 s in the resolver. The SST script writes the daemon's config
# itself, so this wrapper (first in the node's PATH) adds `reverse lookup = no` to it.
RSYNC_WRAPPER = """\
#!/bin/sh
case " $* " in
*" --daemon "*)
    conf=""; prev=""
    for a in "$@"; do
        [ "$prev" = "--config" ] && conf="$a"
        case "$a" in --config=*) conf="${a#--config=}";; esac
        prev="$a"
    done
    [ -n "$conf" ] && sed -i '1i reverse lookup = no' "$conf";;
esac
exec /usr/bin/rsync "$@"
"""

STATUS_VARS = (
    "wsrep_local_state_comment",
    "wsrep_cluster_size",
    "wsrep_cluster_status",
    "wsrep_ready",
    "wsrep_last_committed",
    "wsrep_cluster_conf_id",
    "wsrep_local_state_uuid",
)
RECOVERED = re.compile(r"WSREP: Recovered position:?\s+([0-9a-f-]{36}):(-?\d+)")


SYNC_WAIT = Option(
    "wsrep_sync_wait",
    int,
    0,
    "causality checks before reads (bitmask; 1: reads)",
    minimum=0,
    maximum=15,
)
WRITE_TO = Option(
    "write_to",
    str,
    "all",
    "all: each worker writes through its own node; one: all through n1",
    choices=("all", "one"),
)
INNODB_FLUSH = Option(
    "innodb_flush_log_at_trx_commit",
    int,
    2,
    "InnoDB redo log at commit: 0 written and flushed once a second (MariaDB's recommended "
    "Galera setting), 1 flushed at every commit, 2 written at commit, flushed once a second",
    choices=(0, 1, 2),
)
# The first knob, kept working: fsync=true is innodb_flush_log_at_trx_commit=1 (an explicit
# innodb_flush_log_at_trx_commit wins; both set and disagreeing is refused).
FSYNC = Option("fsync", bool, False, "old name: true = innodb_flush_log_at_trx_commit=1")


class Galera(MariaDBServer):
    log_errors = re.compile(r"ERROR|WSREP.*(fail|abort)")
    name = "galera"
    topology = "peer-to-peer"
    modes = ("multi-primary",)
    packages = ("mariadb-server", "galera-4", "rsync")
    workloads = ("set", "register", "kv", "append", "bank")
    options = (SYNC_WAIT, WRITE_TO, INNODB_FLUSH, FSYNC)
    title = "Galera"
    mode_titles = {"multi-primary": ""}  # its only mode: "Galera" says it
    isolation_applies = True
    consistency_options = (WRITE_TO, SYNC_WAIT, INNODB_FLUSH, FSYNC)
    certifies = True  # a writeset that conflicts fails certification: error 1213
    deployment = Deployment(
        user=OS_USER,
        ports={"client": PORT},
        image="splitbrain/galera:10.11",
        binaries=(
            *server_binaries(_HINT),
            ("rsync", "apt-get install rsync (Galera's rsync SST)"),
            ("wsrep_sst_rsync", _HINT),
        ),
        files=(("{galera_provider}", "apt-get install galera-4"),),
        settings={"mariadbd": MARIADBD, "galera_provider": PROVIDER_LIB},
    )

    @classmethod
    def routes_reads(cls, options: Mapping[str, Any]) -> bool:
        return WRITE_TO.get(options) == "one"  # with write_to=all, read_from is ignored

    def validate(self) -> None:
        super().validate()
        flush_of(self.spec.options)

    @property
    def flush(self) -> int:
        return flush_of(self.spec.options)

    @property
    def sync_wait(self) -> int:
        return int(self.opt(SYNC_WAIT))

    @property
    def write_to(self) -> str:
        return str(self.opt(WRITE_TO))

    # -- paths, config, processes ---------------------------------------------------------
    def _write_cnf(self, cluster: Cluster, node: str) -> None:
        text = MY_CNF.format(
            node=node,
            run_id=cluster.run_id,
            dir=self._dir(cluster, node),
            data=self._data(cluster, node),
            port=PORT,
            bind=cluster.listen_address(node),
            addr=cluster.peer_address(node),
            flush=self.flush,
            max_connections=max(100, 4 * self.spec.concurrency + 20),
            provider=cluster.setting(node, "galera_provider", PROVIDER_LIB),
            peers=",".join(cluster.peer_address(n) for n in cluster.nodes),
            sync_wait=self.sync_wait,
            provider_options=PROVIDER_OPTIONS,
        )
        cluster.write_file(node, self._cnf(cluster, node), text, user=OS_USER)

    def _spawn_env(self, cluster: Cluster, node: str) -> dict[str, str] | None:
        # mariadbd prepends its "bin" dir to the SST script's PATH unless PATH already holds
        # that exact string ("/usr//bin" here): listing it last keeps the wrapper dir first.
        path = f"{self._dir(cluster, node)}/bin:{os.environ.get('PATH', '/usr/sbin:/usr/bin')}"
        return {"PATH": path + ":/usr//bin"}

    # -- connections ----------------------------------------------------------------------
    def status(self, cluster: Cluster, node: str, timeout: float = 2) -> dict[str, str] | None:
        """The node's wsrep status variables, or None when it does not answer."""
        try:
            conn = self.connect(cluster, node, timeout)
        except pymysql.Error:
            return None
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep_%'")
                rows = dict(cur.fetchall())
            return {k: str(rows.get(k, "")) for k in STATUS_VARS}
        except pymysql.Error:
            return None
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def statuses(self, cluster: Cluster) -> dict[str, dict[str, str] | None]:
        nodes = list(cluster.nodes)
        return dict(zip(nodes, parallel(lambda n: self.status(cluster, n), nodes), strict=True))

    def _wait(
        self,
        cluster: Cluster,
        node: str,
        ok: Callable[[dict[str, str]], bool],
        what: str,
        timeout: float,
    ) -> dict[str, str]:
        def attempt() -> dict[str, str] | None:
            st = self.status(cluster, node)
            if st is not None and not ok(st):
                raise ClusterError(st["wsrep_local_state_comment"] or "not yet")
            return st

        st = self.wait_for(cluster, node, attempt, what, timeout)
        assert isinstance(st, dict)
        return st

    # -- setup ----------------------------------------------------------------------------
    def setup(self, cluster: Cluster) -> None:
        first, joiners = cluster.nodes[0], list(cluster.nodes[1:])
        for node in cluster.nodes:
            d = self._dir(cluster, node)
            cluster.exec(node, ["mkdir", "-p", f"{d}/data", f"{d}/bin"], user=OS_USER)
            self._write_cnf(cluster, node)
            cluster.write_file(node, f"{d}/bin/rsync", RSYNC_WRAPPER, user=OS_USER)
            cluster.exec(node, ["chmod", "755", f"{d}/bin/rsync"], user=OS_USER)
        self._install_db(cluster, first)
        self._spawn(cluster, first, "--wsrep-new-cluster")
        self._wait_socket(cluster, first, timeout=60)
        self._socket_sql(cluster, first, self._admin_sql() + self._schema_sql())
        self._wait(cluster, first, _synced(1), "Synced", timeout=30)
        # One joiner at a time: concurrent rsync SSTs from one donor queue up anyway, and a
        # joiner that fails is then easy to name.
        for i, node in enumerate(joiners, start=2):
            self._spawn(cluster, node)
            self._wait(cluster, node, _synced(i), f"Synced in a cluster of {i}", timeout=90)

    # -- kill / restart -------------------------------------------------------------------
    def recovered_position(self, cluster: Cluster, node: str) -> tuple[str, int] | None:
        """`mariadbd --wsrep-recover`: the last committed (uuid, seqno) InnoDB holds."""
        log = f"{self._dir(cluster, node)}/recover.log"
        cluster.exec(node, ["rm", "-f", log], user=OS_USER)
        cluster.exec(
            node,
            self._argv(cluster, node, "--wsrep-recover", f"--log-error={log}"),
            user=OS_USER,
            timeout=120,
            check=False,
        )
        out = cluster.read_file(node, log, user=OS_USER)
        found = RECOVERED.findall(out)
        if not found:
            return None
        uuid, seqno = found[-1]
        return uuid, int(seqno)

    def start(self, cluster: Cluster, node: str) -> None:
        """Bring a killed node back: recover its position, then rejoin (IST when possible);
        when no node is up, bootstrap the most advanced first."""
        if cluster.is_running(node):
            return
        if not any(cluster.is_running(n) for n in cluster.nodes):
            # Every node is down (e.g. all lost power): nobody to join; an operator bootstraps
            # the most advanced one, then the others join it.
            best = self._bootstrap_most_advanced(cluster)
            self._wait(cluster, best, _synced(1), "Synced", timeout=60)
            if best == node:
                return
        pos = self.recovered_position(cluster, node)
        extra = [f"--wsrep_start_position={pos[0]}:{pos[1]}"] if pos else []
        self._spawn(cluster, node, *extra)

    def _bootstrap_most_advanced(self, cluster: Cluster) -> str:
        """Every node is down: start a new primary component from the most advanced one."""
        positions = {n: self.recovered_position(cluster, n) for n in cluster.nodes}
        known = {n: p for n, p in positions.items() if p is not None}
        if not known:
            raise ClusterError("galera: every node is down and none has a recoverable position")
        best = max(known, key=lambda n: (known[n][1], n))
        grastate = f"{self._data(cluster, best)}/grastate.dat"
        cluster.exec(
            best,
            ["sed", "-i", "s/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/", grastate],
            user=OS_USER,
            check=False,
        )
        uuid, seqno = known[best]
        self._spawn(cluster, best, "--wsrep-new-cluster", f"--wsrep_start_position={uuid}:{seqno}")
        return best

    # -- recovery -------------------------------------------------------------------------
    def recover(self, cluster: Cluster, timeout: float) -> dict[str, Any]:
        t0 = time.monotonic()
        deadline = t0 + timeout
        n = len(cluster.nodes)
        out: dict[str, Any] = {"restarted": [], "bootstrapped": None}
        down = [node for node in cluster.nodes if not cluster.is_running(node)]
        if len(down) == n:
            out["bootstrapped"] = self._bootstrap_most_advanced(cluster)
            self._wait(cluster, out["bootstrapped"], _synced(1), "Synced", timeout=60)
            down.remove(out["bootstrapped"])
        for node in down:
            try:
                self.start(cluster, node)
                out["restarted"].append(node)
            except ClusterError as e:
                out.setdefault("errors", []).append(str(e))
        no_primary_since: float | None = None
        told = {node: self._restarts_required(cluster, node) for node in cluster.nodes}
        while True:
            now = time.monotonic()
            st = self.statuses(cluster)
            good = [node for node, s in st.items() if s is not None and _synced(n)(s)]
            joining = [
                node for node, s in st.items()
                if s is not None and s["wsrep_local_state_comment"].startswith("Joining")
            ]  # fmt: skip
            for node in joining:
                # A joiner whose state transfer failed says "node restart required" and
                # waits in Joining forever (seen after every node was SIGKILLed: "IST didn't
                # contain all write sets"); an operator restarts it, and so do we. Only a
                # joiner's log is read: a synced or stopped node has nothing to say here.
                said = self._restarts_required(cluster, node)
                if said > told[node]:
                    told[node] = said
                    cluster.kill(node)
                    self.start(cluster, node)
                    out.setdefault("restarted_on_request", []).append(node)
            if len(good) == n:
                out.update(
                    duration_s=round(now - t0, 2),
                    cluster_size=n,
                    conf_id=int(st[good[0]]["wsrep_cluster_conf_id"]),  # type: ignore[index]
                    last_committed={
                        node: int(s["wsrep_last_committed"])  # type: ignore[index]
                        for node, s in st.items()
                    },
                )
                return out
            last = "; ".join(
                f"{node}: "
                + (
                    f"{s['wsrep_local_state_comment']}/{s['wsrep_cluster_status']}"
                    f" size {s['wsrep_cluster_size']}"
                    if s
                    else ("down" if not cluster.is_running(node) else "not answering")
                )
                for node, s in st.items()
            )
            if now > deadline:
                raise ClusterError(f"galera did not recover within {timeout:g} s: {last}")
            # Nodes up, none Primary for a while (e.g. every node was cut from every other):
            # Galera waits for an operator; bootstrap the component of the most advanced node.
            answering = {node: s for node, s in st.items() if s is not None}
            if answering and not any(
                s["wsrep_cluster_status"] == "Primary" for s in answering.values()
            ):
                no_primary_since = no_primary_since or now
                if now - no_primary_since > 10:
                    best = max(
                        answering, key=lambda k: int(answering[k]["wsrep_last_committed"] or -1)
                    )
                    with contextlib.suppress(pymysql.Error):
                        conn = self.connect(cluster, best)
                        with conn.cursor() as cur:
                            cur.execute("SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'")
                        conn.close()
                        out["bootstrapped"] = best
                    no_primary_since = None
            else:
                no_primary_since = None
            time.sleep(0.2)

    def _restarts_required(self, cluster: Cluster, node: str) -> int:
        """How often the node's log has said that it must be restarted."""
        with contextlib.suppress(ClusterError, OSError):
            text = cluster.read_file(node, f"{self._dir(cluster, node)}/mariadbd.log")
            return text.count("node restart required")
        return 0

    # -- clients --------------------------------------------------------------------------
    def client(self, cluster: Cluster, process: int, node: str | None = None) -> Any:
        from harness.db.galera_clients import make_client

        return make_client(self, cluster, process, node)

    def classify(self, exc: BaseException) -> Literal["fail", "info"]:
        from harness.db.galera_clients import classify

        return classify(exc)


def flush_of(options: Mapping[str, Any]) -> int:
    """innodb_flush_log_at_trx_commit from the options, the old `fsync` knob mapped onto it."""
    if INNODB_FLUSH.name in options:
        flush = int(INNODB_FLUSH.get(options))
        if FSYNC.name in options and bool(FSYNC.get(options)) != (flush == 1):
            raise SpecError(
                f"--opt fsync={str(FSYNC.get(options)).lower()} contradicts "
                f"--opt innodb_flush_log_at_trx_commit={flush} (fsync is its old name: drop it)"
            )
        return flush
    return 1 if FSYNC.get(options) else int(INNODB_FLUSH.default)


def _synced(size: int) -> Callable[[dict[str, str]], bool]:
    def ok(s: dict[str, str]) -> bool:
        return (
            s["wsrep_local_state_comment"] == "Synced"
            and s["wsrep_cluster_status"] == "Primary"
            and s["wsrep_cluster_size"] == str(size)
        )

    return ok
