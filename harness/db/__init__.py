"""Database definitions: how to bring a cluster of one database up through the node contract
(harness.cluster), find its primary, fail over, and connect clients. One module per database,
registered by name. A definition never imports a provider, names one, or inspects the
cluster's type: what a provider needs from it is the data in `Deployment`."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from harness.cluster import Cluster
from harness.db.probe import Answer, Probe, answer
from harness.errors import ClusterError, SpecError, one_line
from harness.options import Option
from harness.registry import DATABASES, resolve

if TYPE_CHECKING:
    from harness.spec import TestSpec

T = TypeVar("T")
Topology = Literal["primary-replica", "peer-to-peer"]


# Faults every database takes (the provider does them); database-aware ones are listed by
# the definitions that implement their hooks (failover: Database.failover).
GENERIC_FAULTS = ("partition", "packet-loss", "kill", "pause", "power-loss")


@dataclass(frozen=True)
class Deployment:
    """What a provider needs to know to host the database's nodes."""

    user: str  # OS user the database runs as (owns the node directory)
    ports: dict[str, int]  # role -> port the harness's clients reach, e.g. {"client": 5432}
    image: str  # the container image the project builds (compose/<db>/Dockerfile)
    # (path or command, what installs it); "{key}" in a path is the node's setting `key`
    binaries: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (path, what installs it): libraries, jars
    # setting -> its default on this host; an image label or an inventory may override it
    settings: dict[str, str] = field(default_factory=dict)

    def required(
        self, setting: Callable[[str, str], str] | None = None, *, files: bool = True
    ) -> list[tuple[str, str]]:
        """Every binary (and file) a node needs, its settings resolved by `setting(key,
        default)` (a provider's Cluster.setting for one node; the defaults without it)."""
        get = setting or (lambda key, default: default)
        values = {k: get(k, d) for k, d in self.settings.items()}
        wanted = (*self.binaries, *self.files) if files else self.binaries
        return [(p.format_map(values), hint) for p, hint in wanted]


@dataclass(frozen=True)
class AsRun:
    """What a run's settings made of the database, as reports name it: the mode in words and
    the settings that change what a client may see or lose, (name, value) in a fixed order."""

    mode: str
    settings: tuple[tuple[str, str], ...] = ()


class Database(ABC):
    name: str
    topology: Topology
    modes: tuple[str, ...]
    workloads: tuple[str, ...] = ()
    faults: tuple[str, ...] = GENERIC_FAULTS
    options: tuple[Option, ...] = ()
    deployment: Deployment
    # How reports name its runs (read by harness.report, which keeps no table of databases).
    title: ClassVar[str] = ""  # as a reader names it, e.g. "PostgreSQL"; "" = name
    mode_titles: ClassVar[Mapping[str, str]] = {}  # mode -> words; a missing mode: itself
    isolation_applies: ClassVar[bool] = False  # --isolation sets a transaction isolation level
    reads_routed: ClassVar[bool] = False  # --read-from chooses the nodes that serve reads
    consistency_options: ClassVar[tuple[Option, ...]] = ()  # what a client may see or lose
    certifies: ClassVar[bool] = False  # refuses conflicting writes at commit (Galera: 1213)
    # What a machine that hosts its nodes itself (local provider) installs: Debian packages,
    # then prepare_host() (harness.install.needs; `python3 -m harness.quickstart install`).
    packages: ClassVar[tuple[str, ...]] = ()

    @classmethod  # noqa: B027 - most databases need nothing more
    def prepare_host(cls) -> None:
        """Whatever beyond packages a host needs to run the database's nodes (Cassandra:
        its jars from Maven Central and its user); EnvironmentProblem when it cannot."""

    @classmethod
    def routes_reads(cls, options: Mapping[str, Any]) -> bool:
        """Whether --read-from routes reads in a run with these options."""
        return cls.reads_routed

    @classmethod
    def as_run(cls, spec: Mapping[str, Any]) -> AsRun:
        """The mode and consistency settings a run of `spec` (spec.json's fields) really
        used. Consistency options are named when the spec sets them (a default is the
        database's plain behaviour); a database whose options override its mode resolves
        them here (Cassandra's read_cl/write_cl)."""
        options = spec.get("options") or {}
        mode = str(spec.get("mode") or "")
        settings: list[tuple[str, str]] = []
        if cls.isolation_applies and spec.get("isolation"):
            settings.append(("isolation", str(spec["isolation"])))
        if cls.routes_reads(options) and spec.get("read_from"):
            settings.append(("read_from", str(spec["read_from"])))
        settings += [
            (o.name, _word(options[o.name])) for o in cls.consistency_options if o.name in options
        ]
        return AsRun(cls.mode_titles.get(mode, mode), tuple(settings))

    def __init__(self, spec: TestSpec) -> None:
        self.spec = spec

    def opt(self, option: Option) -> Any:
        return option.get(self.spec.options)

    def validate(self) -> None:
        """Raise SpecError naming the flag when the spec asks for what this database lacks."""
        s = self.spec
        if s.mode not in self.modes:
            raise SpecError(
                f"--mode {s.mode!r} is not one of {self.name}'s: {', '.join(self.modes)}"
            )
        if s.workload not in self.workloads:
            raise SpecError(
                f"--workload {s.workload!r} is not supported on {self.name}; "
                f"supported: {', '.join(self.workloads)}"
            )
        for f in s.nemesis:
            if f not in self.faults:
                why = " (peer-to-peer: there is no primary to fail over)" if f == "failover" else ""
                raise SpecError(f"--nemesis {f!r} does not apply to {self.name}{why}")

    @abstractmethod
    def setup(self, cluster: Cluster) -> None:
        """Install/configure/start every node; return when the cluster serves clients."""

    def start(self, cluster: Cluster, node: str) -> None:
        """Bring a killed node back (default: restart the same service)."""
        cluster.start(node)

    def restart_stopped(self, cluster: Cluster, out: dict[str, Any]) -> None:
        """Start every node whose database is not running (a recovery's first step): each
        one started in out["restarted"], what failed in out["errors"]."""
        for n in cluster.nodes:
            if not cluster.is_running(n):
                try:
                    self.start(cluster, n)
                    out.setdefault("restarted", []).append(n)
                except ClusterError as e:
                    out.setdefault("errors", []).append(str(e))

    def primary(self, cluster: Cluster) -> str | None:
        """The node that currently takes writes (None for peer-to-peer, or when unknown)."""
        return None

    def failover(self, cluster: Cluster, how: str) -> dict[str, Any]:
        """Database-aware fault: kill or isolate the primary and promote a replica."""
        raise SpecError(f"--nemesis failover does not apply to {self.name}")

    def depose(self, cluster: Cluster, how: str) -> tuple[str, list[str]]:
        """The first half of every failover: cut the primary off from the other nodes both
        ways (isolate) or kill it. Returns it and the others. The harness still reaches it,
        as clients still connected to an old primary do."""
        if how not in ("isolate", "kill"):
            raise ClusterError(f"failover how={how!r}: expected isolate or kill")
        old = self.primary(cluster)
        if old is None:
            raise ClusterError("failover: no primary found")
        others = [n for n in cluster.nodes if n != old]
        if how == "isolate":
            cluster.partition({old: set(others), **{n: {old} for n in others}})
        else:
            cluster.kill(old)
        return old, others

    def end_failover(self, cluster: Cluster, state: dict[str, Any]) -> dict[str, Any]:
        """Let the old primary come back (as a replica)."""
        return {}

    def failover_events(self, cluster: Cluster, state: dict[str, Any]) -> list[dict[str, Any]]:
        """Polled while a failover is in effect: what changed on the database's side since
        the last call, each {"f": name, ...}, recorded by the nemesis as an event in the
        history (MariaDB: the old primary falling back from semi-sync to async)."""
        return []

    def probe(self, cluster: Cluster, node: str) -> Probe:
        """A connection to the node opened now, asking one trivial request in the database's
        own protocol (harness.db.probe); raises when the node does not let one be opened."""
        raise NotImplementedError(f"{self.name} has no probe")

    def ask_new(self, cluster: Cluster, node: str, timeout: float) -> Answer:
        """How a new connection's request ends within timeout: answered, error or silent."""

        def fresh() -> object:
            p = self.probe(cluster, node)
            try:
                return p.request()
            finally:
                p.close()

        return answer(fresh, timeout)

    def log_tail(self, cluster: Cluster, node: str) -> str:
        """The last meaningful line(s) of the node's log, for one-line errors."""
        return "see the node's log"

    def wait_for(
        self,
        cluster: Cluster,
        node: str,
        attempt: Callable[[], object],
        what: str,
        timeout: float,
        every: float = 0.1,
    ) -> object:
        """attempt() until it gives something true (its exceptions mean: not yet), and
        return it; a ClusterError naming the node, what was awaited and the end of its log
        when its database exits or `timeout` seconds pass. The one wait-until loop of every
        definition's bring-up."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            try:
                got = attempt()
                if got:
                    return got
            except Exception as e:  # noqa: BLE001 - any failure means: not yet
                last = f" ({one_line(e)})"
            if not cluster.is_running(node):
                raise ClusterError(f"{self.name}: {node} exited: {self.log_tail(cluster, node)}")
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{self.name}: {node} not {what} after {timeout:g} s{last}: "
                    f"{self.log_tail(cluster, node)}"
                )
            time.sleep(every)

    def ready(self, cluster: Cluster, node: str, timeout: float = 5.0) -> bool:
        """Whether the node answers a request in its own protocol within timeout (a
        listening socket is not enough: a container's port proxy accepts before it)."""
        return self.ask_new(cluster, node, timeout) == "answered"

    @abstractmethod
    def recover(self, cluster: Cluster, timeout: float) -> dict[str, Any]:
        """After heal: wait (bounded) until the cluster serves and replicas caught up.
        Returns what was observed (primary, lag, nodes up)."""

    @abstractmethod
    def client(self, cluster: Cluster, process: int, node: str | None = None) -> Any:
        """A client for the spec's workload (see workloads/<name>.py for its protocol); with
        node, one that talks to that node only (final reads)."""

    def classify(self, exc: BaseException) -> Literal["fail", "info"]:
        """Was the op certainly not applied (fail) or may it have been (info)?"""
        return "info"


def _word(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def database_class(name: str) -> type[Database]:
    cls: type[Database] = resolve(DATABASES, name, "--db")
    return cls


def get(spec: TestSpec) -> Database:
    db = database_class(spec.db)(spec)
    db.validate()
    return db


def parallel(fn: Callable[[str], T], nodes: list[str]) -> list[T]:
    """fn on every node at once (setup, status): its results in the nodes' order."""
    if len(nodes) <= 1:
        return [fn(n) for n in nodes]
    with ThreadPoolExecutor(max_workers=len(nodes)) as ex:
        return list(ex.map(fn, nodes))
