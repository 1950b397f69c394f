"""The memory database: a TEST DOUBLE of a primary-replica database, for unit-testing the
harness (runner, nemesis, final reads, checkers, reports) without root. It is never used
where a real database is claimed: results of a run on it say nothing about any database.

It runs only on the memory provider (harness.providers.memory), whose nodes are flags: setup
refuses any other cluster. Each node holds a dict. n1 starts as the primary; writes go to the
primary a client is connected to and are copied at once to every replica that follows it,
is running, and is not cut from it by the cluster's grudge; a replica that missed a write is
stale until it can hear its primary again (then it copies the primary's whole dict, as an
async streaming replica catches up). Packet loss makes each copy fail with its probability.
Clock offsets are recorded by the cluster and have no effect here.

Clients connect lazily, once per connection, like libpq's target_session_attrs: writes to the
first node (rotated by process) that is up and a primary; reads follow spec.read_from
(primary: the write connection; replica: the first replica up; any: the first node up). A
client built for one node (final reads) uses that node whatever its role. One lock (the
cluster's condition variable) serialises every op, so without an injected bug the store is
strictly serializable. Harness clients are never cut by a partition, as on the real providers.

Outcomes (classify):
- a node that is down when an op begins: the client reconnects to another node; if none
  qualifies, ConnectionRefusedError: nothing was sent -> fail.
- a write on a node that is a replica (a demoted old primary): workloads.Fail (read-only).
- an op waiting on a paused node blocks until the node resumes; if the node dies meanwhile
  (ConnectionResetError) or the watchdog calls abort() (ConnectionAbortedError) the op raises
  -> info. The op was in fact not applied, but a real client could not know that.

Failover promotes the first running replica, isolating or killing the old primary without
fencing it: clients still connected to an isolated old primary keep writing there (split
brain). end_failover heals (or restarts) the old primary and makes it a replica of the new
one; its writes that never reached the new primary are lost, as on async PostgreSQL.

Injected bugs (option `bug`): stale-read (a replica serves every read from a snapshot of its
dict taken at its first read, never refreshed), lost-write (every 10th acknowledged write is
not applied), lost-update (append, bank and kv only: a transaction reads, lets go of the lock,
then writes what it computed, so concurrent transactions overwrite each other),
needs-two (once the run has had both a partition and a kill, by any fault, every 10th
acknowledged write is dropped: a bug that only two faults together show, for shrinking), race
(in about one run in three, decided by the seed, every 10th write acknowledged after the
first fault began is dropped: a race whose rate can be measured, for hunting).
Option `broken_fault` makes a cluster primitive raise (a fault that fails to start);
`abort_after` interrupts the run that many seconds after the workload's first client is made:
the memory cluster's timer sends SIGINT to the main thread, as a Ctrl-C would.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

import workloads
from harness.cluster import Cluster
from harness.db import GENERIC_FAULTS, Database, Deployment
from harness.db.probe import Probe
from harness.errors import ClusterError, SpecError
from harness.options import Option
from tests.doubles.memory_provider import DOWN, PAUSED, RUNNING, MemoryCluster
from workloads import Client, Fail

BUG = Option(
    "bug",
    str,
    "none",
    "a bug the memory test double injects: stale-read (replicas serve a snapshot never "
    "refreshed), lost-write (every 10th acknowledged write is dropped), lost-update "
    "(append/bank: read-modify-write without isolation), needs-two (writes dropped only "
    "once a partition and a kill both happened), race (in about one run in three, decided "
    "by the seed, writes dropped once a fault began)",
    choices=("none", "stale-read", "lost-write", "lost-update", "needs-two", "race"),
)
ABORT_AFTER = Option(
    "abort_after",
    float,
    0.0,
    "seconds after the workload starts at which the run is interrupted as by Ctrl-C (0: never)",
    minimum=0,
)
LOST_WRITE_EVERY = 10
RACE_RATE = 1 / 3  # bug race: the share of seeds whose runs show it


def race_shows(seed: int) -> bool:
    """Whether a run with this seed shows bug `race` (given a fault): a draw of its own, so
    the seed decides and a rate over seeds is about RACE_RATE."""
    return random.Random(f"race:{seed}").random() < RACE_RATE


LOST_UPDATE_GAP = 0.002  # seconds between a transaction's read and its write, lock released

# cluster events (memory_provider) that are faults, for bugs needs-two and race
_FAULT_EVENTS = (
    ("partition ", "partition"),
    ("SIGKILL", "kill"),
    ("SIGSTOP: paused", "pause"),
    ("packet loss", "packet-loss"),
)

Data = dict[Any, Any]
Body = Callable[[Mapping[Any, Any]], tuple[Any, Data]]  # data -> (result, writes)


@dataclass
class _Node:
    role: str = "replica"  # "primary" | "replica"
    upstream: str | None = None  # the primary a replica follows
    data: Data = field(default_factory=dict)  # values are immutable: copies are shallow
    in_sync: bool = True  # False once it missed a write of its upstream
    snapshot: Data | None = None  # bug stale-read: what this replica serves forever


class _Store:
    """Every node's dict and role. Callers hold cluster.cond."""

    def __init__(self, cluster: MemoryCluster, bug: str, seed: int) -> None:
        self.cluster = cluster
        self.bug = bug
        self.rng = random.Random(seed)  # packet loss draws
        first = cluster.nodes[0]
        self.primary = first  # the official primary (the one failover promoted last)
        self.nodes = {
            n: _Node("primary", None) if n == first else _Node("replica", first)
            for n in cluster.nodes
        }
        self.acked_writes = 0
        self.dropped_writes = 0
        # bugs needs-two and race: which faults the run has had (read off the cluster's events)
        self.race_on = bug == "race" and race_shows(seed)
        self.seen: set[str] = set()
        self._events_read = len(cluster.events)
        self.armed_writes = 0

    def _reaches(self, a: str, b: str) -> bool:
        c = self.cluster
        if c.state[a] != RUNNING or c.state[b] != RUNNING or c.cut(a, b):
            return False
        p = c.loss_between(a, b)
        return not (p and self.rng.random() < p)

    def catch_up(self) -> list[str]:
        """Stale replicas that hear their primary again copy its whole dict."""
        done = []
        for name, n in self.nodes.items():
            up = n.upstream
            if n.role == "replica" and not n.in_sync and up is not None and self._reaches(up, name):
                n.data = dict(self.nodes[up].data)
                n.in_sync = True
                done.append(name)
        return done

    def _faults_seen(self) -> set[str]:
        """Fault kinds the cluster has had so far: partition, kill, pause, packet-loss."""
        events = self.cluster.events
        for _node, what in events[self._events_read :]:
            for prefix, kind in _FAULT_EVENTS:
                if what.startswith(prefix):
                    self.seen.add(kind)
        self._events_read = len(events)
        return self.seen

    def _drops(self) -> bool:
        """Whether this acknowledged write is dropped by the injected bug."""
        if self.bug == "lost-write":
            return self.acked_writes % LOST_WRITE_EVERY == 0
        if self.bug == "needs-two":
            armed = {"partition", "kill"} <= self._faults_seen()
        elif self.bug == "race":
            armed = self.race_on and bool(self._faults_seen())
        else:
            return False
        if armed:
            self.armed_writes += 1
        return armed and self.armed_writes % LOST_WRITE_EVERY == 0

    def apply(self, node: str, writes: Data) -> None:
        self.acked_writes += 1
        if self._drops():
            self.dropped_writes += 1
            return  # acknowledged, never stored
        self.nodes[node].data.update(writes)
        for name, r in self.nodes.items():
            if r.role != "replica" or r.upstream != node:
                continue
            if r.in_sync and self._reaches(node, name):
                r.data.update(writes)
            else:
                r.in_sync = False

    def view(self, node: str) -> Mapping[Any, Any]:
        n = self.nodes[node]
        if self.bug == "stale-read" and n.role == "replica":
            if n.snapshot is None:
                n.snapshot = dict(n.data)
            return n.snapshot
        return n.data

    def demote(self, node: str, primary: str) -> None:
        n = self.nodes[node]
        n.role, n.upstream, n.in_sync = "replica", primary, False

    def promote(self, node: str) -> None:
        old = self.primary
        self.nodes[node].role, self.nodes[node].upstream = "primary", None
        self.nodes[node].snapshot = None
        self.primary = node
        for n in self.nodes.values():  # the other replicas follow the new primary
            if n.role == "replica" and n.upstream == old:
                n.upstream, n.in_sync = node, False


class MemoryDB(Database):
    name = "memory"
    topology = "primary-replica"
    modes = ("async",)
    workloads = ("set", "register", "kv", "append", "bank")
    faults = (*GENERIC_FAULTS, "failover", "clock")
    options = (BUG, ABORT_AFTER)
    providers = ("memory",)
    title = "memory (test double)"
    reads_routed = True
    deployment = Deployment(
        user="memory", ports={"client": 1}, image="none (in-memory test double)"
    )

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.store: _Store | None = None
        self.cluster: MemoryCluster | None = None

    def validate(self) -> None:
        super().validate()
        if self.opt(BUG) == "lost-update" and self.spec.workload not in ("append", "bank", "kv"):
            raise SpecError(
                f"--opt bug=lost-update needs --workload append, bank or kv, not {self.spec.workload}"
            )

    def _store(self, cluster: Cluster) -> tuple[MemoryCluster, _Store]:
        if self.store is None or self.cluster is not cluster:
            raise ClusterError("the memory database is not set up on this cluster")
        return self.cluster, self.store

    def setup(self, cluster: Cluster) -> None:
        if not isinstance(cluster, MemoryCluster):
            raise ClusterError("the memory database runs on the memory provider only")
        user = self.deployment.user
        for n in cluster.nodes:
            d = cluster.node_dir(n)
            role = "primary" if n == cluster.nodes[0] else "replica"
            cluster.write_file(n, d / "memory.conf", f"role = {role}\n", user=user)
            cluster.spawn(
                n, ["memory-db", "--node", n], user=user, log=PurePosixPath(d) / "memory.log"
            )
        store = _Store(cluster, self.opt(BUG), self.spec.seed)
        if self.spec.workload == "bank":
            wl = workloads.get(self.spec, random.Random(0))
            for node in store.nodes.values():
                node.data = dict(wl.initial_balances())  # type: ignore[attr-defined]
        self.cluster, self.store = cluster, store

    def probe(self, cluster: Cluster, node: str) -> Probe:
        """A request waits while the node is paused, as a real connection's would."""
        c, _ = self._store(cluster)
        gone = threading.Event()

        def request() -> int:
            with c.cond:
                while c.state[node] == PAUSED and not gone.is_set():
                    c.cond.wait(0.1)
                if gone.is_set() or c.state[node] == DOWN:
                    raise ConnectionResetError(f"{node}: connection gone")
            return 1

        with c.cond:
            if c.state[node] == DOWN:
                raise ConnectionRefusedError(f"{node} is down")
        return Probe(request=request, abandon=gone.set, close=gone.set)

    def primary(self, cluster: Cluster) -> str | None:
        c, s = self._store(cluster)
        with c.cond:
            return s.primary if c.state[s.primary] != DOWN else None

    def failover(self, cluster: Cluster, how: str) -> dict[str, Any]:
        c, s = self._store(cluster)
        with c.cond:
            old = s.primary
            candidates = [
                n
                for n in c.nodes
                if n != old and s.nodes[n].role == "replica" and c.state[n] != DOWN
            ]
        if not candidates:
            raise ClusterError(f"failover: no running replica to promote over {old}")
        new = candidates[0]
        if how == "isolate":
            others = frozenset(n for n in c.nodes if n != old)
            c.partition({old: others, **{n: frozenset({old}) for n in others}})
        elif how == "kill":
            c.kill(old)
        else:
            raise SpecError(f"failover: how must be isolate or kill, got {how!r}")
        with c.cond:
            s.promote(new)
            s.catch_up()
        return {"how": how, "old_primary": old, "new_primary": new}

    def end_failover(self, cluster: Cluster, state: dict[str, Any]) -> dict[str, Any]:
        c, s = self._store(cluster)
        old = state["old_primary"]
        if state.get("how") == "kill":
            self.start(c, old)
        else:
            c.heal()
        with c.cond:
            s.demote(old, s.primary)
            s.catch_up()
            return {"rejoined": old, "primary": s.primary, "in_sync": s.nodes[old].in_sync}

    def recover(self, cluster: Cluster, timeout: float) -> dict[str, Any]:
        c, s = self._store(cluster)
        for n in c.nodes:
            if not c.is_running(n):
                self.start(c, n)
        for n in c.nodes:
            c.resume(n)
        with c.cond:
            demoted = [n for n, x in s.nodes.items() if x.role == "primary" and n != s.primary]
            for n in demoted:
                s.demote(n, s.primary)
            for x in s.nodes.values():
                if x.role == "replica" and x.upstream != s.primary:
                    x.upstream, x.in_sync = s.primary, False
            synced = s.catch_up()
            lagging = [n for n, x in s.nodes.items() if x.role == "replica" and not x.in_sync]
            return {
                "primary": s.primary,
                "nodes_up": [n for n in c.nodes if c.state[n] == RUNNING],
                "demoted": demoted,
                "resynced": synced,
                "lagging": lagging,
            }

    def client(self, cluster: Cluster, process: int, node: str | None = None) -> MemoryClient:
        c, s = self._store(cluster)
        after = self.opt(ABORT_AFTER)
        if node is None and after > 0:
            c.interrupt_main_after(after)  # the first workload client starts the clock
        return CLIENTS[self.spec.workload](self, c, s, process, node)

    def classify(self, exc: BaseException) -> Literal["fail", "info"]:
        if isinstance(exc, Fail | ConnectionRefusedError):
            return "fail"
        return "info"


class MemoryClient(Client):
    """One logical connection per role (write, read), chosen at first use."""

    ops: dict[str, str] = {}

    def __init__(
        self, db: MemoryDB, cluster: MemoryCluster, store: _Store, process: int, node: str | None
    ) -> None:
        self.spec = db.spec
        self.cluster = cluster
        self.store = store
        self.process = process
        self.fixed = node
        self.node: str | None = node  # the node of the last op (the history's "node")
        self._conns: dict[str, str] = {}
        self._aborted = False

    def invoke(self, f: str, value: Any) -> Any:
        name = self.ops.get(f)
        if name is None:
            raise Fail(f"unknown op {f!r}")
        return getattr(self, name)(value)

    def abort(self) -> None:
        with self.cluster.cond:
            self._aborted = True
            self.cluster.cond.notify_all()

    def close(self) -> None:
        self._conns.clear()

    # -- connections ------------------------------------------------------------------------
    def _role(self, writes: bool) -> str:
        return "write" if writes or self.spec.read_from == "primary" else "read"

    def _pick(self, role: str) -> str:
        c, s = self.cluster, self.store
        if self.fixed is not None:
            if c.state[self.fixed] == DOWN:
                raise ConnectionRefusedError(f"{self.fixed} is down")
            return self.fixed
        k = self.process % len(c.nodes)
        order = c.nodes[k:] + c.nodes[:k]
        want: tuple[str, ...] = ("primary",) if role == "write" else ("replica",)
        if role == "read" and self.spec.read_from == "any":
            want = ("primary", "replica")
        for n in order:
            if c.state[n] != DOWN and s.nodes[n].role in want:
                return n
        raise ConnectionRefusedError(f"no node up takes {role}s ({', '.join(want)})")

    def _connect(self, role: str) -> str:
        """The connection's node, waiting while it is paused (caller holds cond)."""
        c = self.cluster
        if self._aborted:
            raise ConnectionAbortedError("connection shut down by abort()")
        node = self._conns.get(role)
        if node is None or c.state[node] == DOWN:
            node = self._conns[role] = self._pick(role)
        self.node = node
        while c.state[node] == PAUSED and not self._aborted:
            c.cond.wait(1.0)
        if self._aborted:
            raise ConnectionAbortedError(f"op on {node} aborted (node paused)")
        if c.state[node] == DOWN:
            self._conns.pop(role, None)
            raise ConnectionResetError(f"{node} went down during the op")
        return node

    def _txn(self, writes: bool, body: Body) -> Any:
        role = self._role(writes)
        c, s = self.cluster, self.store
        lost_update = writes and s.bug == "lost-update"
        with c.cond:
            node = self._connect(role)
            s.catch_up()
            if writes and s.nodes[node].role != "primary":
                self._conns.pop(role, None)
                raise Fail(f"{node} is read-only (a replica)")
            if not lost_update:
                result, out = body(s.view(node))
                if out:
                    s.apply(node, out)
                return result
            seen = dict(s.view(node))
        # bug lost-update: compute from what was read with the lock let go, then write blindly
        time.sleep(LOST_UPDATE_GAP)
        result, out = body(seen)
        with c.cond:
            if self._connect(role) != node:
                raise ConnectionResetError(f"{node} went down during the op")
            if out:
                s.apply(node, out)
        return result


class SetClient(MemoryClient):
    ops = {"add": "add", "read": "read", "final-read": "final_read"}

    def add(self, value: list[Any]) -> None:
        k, v = value
        self._txn(True, lambda d: (None, {k: d.get(k, frozenset()) | {v}}))

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        return [k, self._txn(False, lambda d: (sorted(d.get(k, ())), {}))]

    def final_read(self, value: Any) -> list[list[Any]]:
        return self._txn(False, lambda d: ([[k, sorted(vs)] for k, vs in sorted(d.items())], {}))


class RegisterClient(MemoryClient):
    ops = {"read": "read", "write": "write", "cas": "cas"}

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        return [k, self._txn(False, lambda d: (d.get(k), {}))]

    def write(self, value: list[Any]) -> list[Any]:
        k, v = value
        self._txn(True, lambda d: (None, {k: v}))
        return value

    def cas(self, value: list[Any]) -> list[Any]:
        k, (old, new) = value

        def body(d: Mapping[Any, Any]) -> tuple[Any, Data]:
            if k not in d or d[k] != old:
                raise Fail(f"cas: register {k} is not {old}")
            return None, {k: new}

        self._txn(True, body)
        return value


class KVClient(MemoryClient):
    ops = {"get": "get", "put": "put", "append": "append"}

    def get(self, value: list[Any]) -> list[Any]:
        k = value[0]
        return [k, self._txn(False, lambda d: (d.get(k, ""), {}))]

    def put(self, value: list[Any]) -> list[Any]:
        k, v = value
        self._txn(True, lambda d: (None, {k: v}))
        return value

    def append(self, value: list[Any]) -> list[Any]:
        k, v = value
        self._txn(True, lambda d: (None, {k: d.get(k, "") + v}))
        return value


class AppendClient(MemoryClient):
    ops = {"txn": "txn"}

    def txn(self, value: list[list[Any]]) -> list[list[Any]]:
        writes = any(mop[0] == "append" for mop in value)

        def body(d: Mapping[Any, Any]) -> tuple[Any, Data]:
            mine: Data = {}  # this transaction's own appends, visible to its later reads
            out = []
            for f, k, v in value:
                cur = mine.get(k, d.get(k, ()))
                if f == "append":
                    mine[k] = (*cur, v)
                    out.append([f, k, v])
                elif f == "r":
                    out.append([f, k, list(cur)])
                else:
                    raise Fail(f"unknown micro-op {f!r}")
            return out, mine

        return self._txn(writes, body)


class BankClient(MemoryClient):
    ops = {"transfer": "transfer", "read": "read"}

    def transfer(self, value: dict[str, Any]) -> dict[str, Any]:
        src, dst, amount = value["from"], value["to"], value["amount"]

        def body(d: Mapping[Any, Any]) -> tuple[Any, Data]:
            if src not in d or dst not in d:
                raise Fail(f"transfer: no account {src if src not in d else dst}")
            if d[src] < amount:
                raise Fail(f"transfer: account {src} has less than {amount}")
            return None, {src: d[src] - amount, dst: d[dst] + amount}

        self._txn(True, body)
        return value

    def read(self, value: Any) -> dict[int, int]:
        return self._txn(False, lambda d: (dict(sorted(d.items())), {}))


CLIENTS: dict[str, type[MemoryClient]] = {
    "set": SetClient,
    "register": RegisterClient,
    "kv": KVClient,
    "append": AppendClient,
    "bank": BankClient,
}
