"""MongoDB: a three-member replica set rs0 (primary-replica), written against the node
contract only. It runs wherever a provider hosts the mongo image's binaries: here that is
the compose provider (no MongoDB server can be installed on these machines); the local
provider would do as well with `mongod` on the host.

Setup spawns one `mongod --replSet rs0` per node (data, Unix socket and log under the node's
directory), waits until each answers, initiates the set through pymongo with the members'
peer addresses and a short electionTimeoutMillis, and waits for a primary.

Modes are the write concern: `w1` (acknowledged by the primary alone) or `majority`.
Options (harness.options): read_concern, read_preference, write_concern (an alternative
spelling of --mode that must agree with it), election_timeout_ms, wiredtiger_cache_gb.
Known answers (docs/compose.md): w1 with the primary isolated and replaced loses acknowledged
writes (rolled back); majority + linearizable loses none and reads are linearizable;
read_preference=secondary reads stale data.

Failover: kill or isolate the primary; the set elects a new primary by itself;
end_failover restarts or heals the old primary, which rolls back what the majority never
saw and rejoins as a secondary.
"""

from __future__ import annotations

import time
from pathlib import PurePosixPath
from typing import Any, Literal

from harness.cluster import Cluster
from harness.db import GENERIC_FAULTS, Database, Deployment
from harness.db.mongodb_clients import PORT
from harness.db.probe import Probe
from harness.errors import ClusterError, SpecError, one_line
from harness.options import Option

REPLSET = "rs0"
NOT_YET_INITIALIZED = 94
WRITE_CONCERNS: dict[str, int | str] = {"w1": 1, "majority": "majority"}
_FROM_READ_FROM = {"primary": "primary", "replica": "secondary", "any": "any"}

READ_CONCERN = Option(
    "read_concern",
    str,
    "auto",
    "read concern of reads; auto: local with --mode w1, majority with --mode majority",
    choices=("auto", "local", "majority", "linearizable", "snapshot"),
)
READ_PREFERENCE = Option(
    "read_preference",
    str,
    "auto",
    "where reads go; auto follows --read-from (replica: secondary, any: the client's member)",
    choices=("auto", "primary", "secondary"),
)
WRITE_CONCERN = Option(
    "write_concern",
    str,
    "auto",
    "the write concern, another spelling of --mode (w1: 1); must agree with it",
    choices=("auto", "1", "majority"),
)
ELECTION_TIMEOUT = Option(
    "election_timeout_ms",
    int,
    2000,
    "the set's electionTimeoutMillis: how soon a lost primary is replaced",
    minimum=500,
    maximum=60_000,
)
CACHE_GB = Option(
    "wiredtiger_cache_gb",
    float,
    0.25,
    "WiredTiger cache of each member, GB (three members share the machine)",
    minimum=0.25,
    maximum=64,
)


class MongoDB(Database):
    name = "mongodb"
    topology = "primary-replica"
    modes = ("majority", "w1")  # the first is the default
    workloads = ("set", "register", "append")
    faults = (*GENERIC_FAULTS, "failover")
    options = (READ_CONCERN, READ_PREFERENCE, WRITE_CONCERN, ELECTION_TIMEOUT, CACHE_GB)
    title = "MongoDB"
    mode_titles = {"w1": "w:1", "majority": "w:majority"}
    reads_routed = True
    consistency_options = (READ_CONCERN, READ_PREFERENCE)
    deployment = Deployment(
        user="mongodb",
        ports={"client": PORT},
        image="splitbrain/mongodb:7.0",
        binaries=(("{mongod}", "the MongoDB server (mongodb-org-server)"),),
        settings={"mongod": "mongod"},
    )

    def validate(self) -> None:
        super().validate()
        for option in self.options:  # a bad value fails here, before anything starts
            self.opt(option)
        self.knobs()

    def knobs(self) -> Any:
        from harness.db.mongodb_clients import Knobs

        s = self.spec
        w = WRITE_CONCERNS[s.mode]
        given = self.opt(WRITE_CONCERN)
        if given != "auto" and given != str(w):
            raise SpecError(
                f"--opt write_concern={given} disagrees with --mode {s.mode} (write concern {w})"
            )
        rc = self.opt(READ_CONCERN)
        if rc == "auto":
            rc = "local" if w == 1 else "majority"
        pref = self.opt(READ_PREFERENCE)
        if pref == "auto":
            pref = _FROM_READ_FROM[s.read_from]
        if rc == "linearizable" and pref != "primary":
            raise SpecError(
                "--opt read_concern=linearizable needs read_preference=primary "
                "(MongoDB serves it only there)"
            )
        if s.workload == "append" and pref != "primary":
            raise SpecError(
                "--workload append runs transactions, which MongoDB serves only on the "
                "primary: use --opt read_preference=primary"
            )
        return Knobs(
            w=w, read_concern=rc, read_preference=pref, timeout_ms=int(s.op_timeout * 1000)
        )

    # -- lifecycle ------------------------------------------------------------------------

    def mongod_argv(self, cluster: Cluster, node: str) -> list[str]:
        d = cluster.node_dir(node)
        return [
            cluster.setting(node, "mongod", "mongod"),
            *("--replSet", REPLSET, "--bind_ip_all", "--port", str(PORT)),
            *("--dbpath", str(d / "data")),
            # the default /tmp socket would be shared by nodes that share a host's /tmp
            *("--unixSocketPrefix", str(d)),
            *("--wiredTigerCacheSizeGB", f"{self.opt(CACHE_GB):g}", "--oplogSize", "256"),
        ]

    def replset_config(self, cluster: Cluster) -> dict[str, Any]:
        return {
            "_id": REPLSET,
            "members": [
                {"_id": i, "host": f"{cluster.peer_address(n)}:{PORT}"}
                for i, n in enumerate(cluster.nodes)
            ],
            "settings": {"electionTimeoutMillis": self.opt(ELECTION_TIMEOUT)},
        }

    def setup(self, cluster: Cluster) -> None:
        """Spawn the members, initiate the set (once), wait for a primary, make the
        collections."""
        from harness.db.mongodb_clients import connect

        user = self.deployment.user
        for node in cluster.nodes:
            d = cluster.node_dir(node)
            cluster.exec(node, ["mkdir", "-p", str(d / "data")], user=user)
            cluster.spawn(node, self.mongod_argv(cluster, node), user=user, log=log_path(d))
        timeout = max(60.0, self.spec.recovery_timeout)
        for node in cluster.nodes:
            self._wait_answers(cluster, node, timeout)
        self._initiate(cluster, cluster.nodes[0])
        primary = self._wait_primary(cluster, timeout)
        c = connect(cluster, primary, 10_000, w="majority")
        try:
            db = c["splitbrain"]
            existing = set(db.list_collection_names())
            for name in ("set", "registers", "lists"):
                if name not in existing:
                    db.create_collection(name)
            db["set"].create_index("k")
        finally:
            c.close()

    def _wait_answers(self, cluster: Cluster, node: str, timeout: float) -> None:
        from harness.db.mongodb_clients import connect

        def attempt() -> bool:
            c = connect(cluster, node, 1000)
            try:
                c.admin.command("ping")
                return True
            finally:
                c.close()

        self.wait_for(cluster, node, attempt, "answering", timeout, every=0.5)

    def log_tail(self, cluster: Cluster, node: str) -> str:
        tail = cluster.read_file(node, log_path(cluster.node_dir(node))).strip()
        return tail.splitlines()[-1] if tail else "no output"

    def _initiate(self, cluster: Cluster, node: str) -> None:
        """replSetInitiate unless the set already is (a second setup must not reconfigure)."""
        from pymongo.errors import OperationFailure

        from harness.db.mongodb_clients import connect

        c = connect(cluster, node, 10_000)
        try:
            try:
                c.admin.command("replSetGetStatus")
                return
            except OperationFailure as e:
                if e.code != NOT_YET_INITIALIZED:
                    why = one_line(e)
                    raise ClusterError(f"mongodb: replSetGetStatus on {node}: {why}") from None
            try:
                c.admin.command("replSetInitiate", self.replset_config(cluster))
            except OperationFailure as e:
                raise ClusterError(f"mongodb: replSetInitiate on {node}: {one_line(e)}") from None
        finally:
            c.close()

    def _wait_primary(self, cluster: Cluster, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            p = self.primary(cluster)
            if p is not None:
                return p
            if time.monotonic() > deadline:
                raise ClusterError(f"mongodb: no primary elected within {timeout:g} s")
            time.sleep(0.5)

    def primary(self, cluster: Cluster) -> str | None:
        from harness.db.mongodb_clients import hello_all, pick_primary

        return pick_primary(hello_all(cluster))

    def failover(self, cluster: Cluster, how: str) -> dict[str, Any]:
        old, _ = self.depose(cluster, how)
        # No promotion step: the remaining majority elects a new primary by itself (the
        # failover's observation waits for it).
        return {"how": how, "old_primary": old}

    def end_failover(self, cluster: Cluster, state: dict[str, Any]) -> dict[str, Any]:
        old = state.get("old_primary")
        if state.get("how") == "kill" and old and not cluster.is_running(old):
            cluster.start(old)
        else:
            cluster.heal()
        return {"rejoining": old, "primary": self.primary(cluster)}

    def recover(self, cluster: Cluster, timeout: float) -> dict[str, Any]:
        """Start dead members, then wait until one primary, every member PRIMARY/SECONDARY
        and every secondary's applied optime equal to the primary's."""
        from harness.db.mongodb_clients import connect

        t0 = time.monotonic()
        restarted = [n for n in cluster.nodes if not cluster.is_running(n)]
        for n in restarted:
            cluster.start(n)
        by_member = member_nodes(cluster)
        last = "no status"
        while time.monotonic() - t0 < timeout:
            p = self.primary(cluster)
            if p is None:
                last = "no primary"
            else:
                c = connect(cluster, p, 3000)
                try:
                    st = c.admin.command("replSetGetStatus")
                except Exception as e:  # noqa: BLE001 - any failure means: not yet
                    last = f"replSetGetStatus on {p}: {one_line(e)}"
                else:
                    members = {by_member.get(m["name"], m["name"]): m for m in st["members"]}
                    states = {n: m["stateStr"] for n, m in members.items()}
                    op = {n: m.get("optime", {}).get("ts") for n, m in members.items()}
                    if (
                        all(s in ("PRIMARY", "SECONDARY") for s in states.values())
                        and len(set(op.values())) == 1
                    ):
                        return {
                            "primary": p,
                            "states": states,
                            "restarted": restarted,
                            "duration_s": round(time.monotonic() - t0, 3),
                        }
                    last = f"states {states}"
                finally:
                    c.close()
            time.sleep(0.5)
        raise ClusterError(f"mongodb did not recover within {timeout:g} s: {last}")

    # -- clients --------------------------------------------------------------------------

    def probe(self, cluster: Cluster, node: str) -> Probe:
        from harness.db.mongodb_clients import connect

        conn = connect(cluster, node, timeout_ms=3000)
        conn.admin.command("ping")  # connects now, as the other probes do
        return Probe(
            request=lambda: conn.admin.command("ping"),
            abandon=conn.close,  # closes the pool's sockets: a blocked command returns
            close=conn.close,
        )

    def client(self, cluster: Cluster, process: int, node: str | None = None) -> Any:
        from harness.db import mongodb_clients as mc

        kinds = {"set": mc.SetClient, "register": mc.RegisterClient, "append": mc.AppendClient}
        node = node or cluster.nodes[process % len(cluster.nodes)]
        return kinds[self.spec.workload](cluster, self.knobs(), node)

    def classify(self, exc: BaseException) -> Literal["fail", "info"]:
        from harness.db.mongodb_clients import classify

        return classify(exc)


def log_path(node_dir: PurePosixPath) -> PurePosixPath:
    return node_dir / "mongod.log"


def member_nodes(cluster: Cluster) -> dict[str, str]:
    """Replica set member name ("<peer address>:27017") -> node."""
    return {f"{cluster.peer_address(n)}:{PORT}": n for n in cluster.nodes}
