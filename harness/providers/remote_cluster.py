"""The node contract written once over a Remote per node (harness.remote).

Process control (harness.remote.service), the firewall (harness.remote.firewall), files,
logs, clock offsets and the observations that say a fault took effect are the same on a
namespace, a container and a real host; a provider subclasses RemoteCluster and keeps only
what is its own: creating and removing nodes, addressing, credentials (`remote(node)`,
`node_dir`, `address`, `peer_address`, `drop_address`, `teardown`).
"""

from __future__ import annotations

import logging
import shlex
import signal
import subprocess
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TypeVar

from harness import clock
from harness.cluster import Cluster, Command, Service
from harness.errors import ClusterError, EnvironmentProblem, one_line
from harness.providers.drop_rules import DropRules
from harness.remote import Remote, RemoteTimeout, firewall, probe, service, shown

T = TypeVar("T")
LOG_LIMIT = 50_000_000  # bytes of one log file copied into the results


def parallel(fn: Callable[[str], T], nodes: Sequence[str]) -> dict[str, T | BaseException]:
    """fn on every node at once; each result, or the exception it raised."""
    out: dict[str, T | BaseException] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as ex:
        futs = {n: ex.submit(fn, n) for n in nodes}
        for n, f in futs.items():
            try:
                out[n] = f.result()
            except BaseException as e:  # noqa: BLE001 - collected and reported per node
                out[n] = e
    return out


def first_error(results: Mapping[str, object]) -> BaseException | None:
    errs = [r for r in results.values() if isinstance(r, BaseException)]
    env = [e for e in errs if isinstance(e, EnvironmentProblem)]
    return (env or errs or [None])[0]


def raise_first(results: Mapping[str, object]) -> None:
    err = first_error(results)
    if err is not None:
        raise err


class RemoteCluster(DropRules, Cluster):
    chain: str  # the run's iptables chain (harness.remote.firewall.chain_name)

    def __init__(self) -> None:
        self._services: dict[str, Service] = {}
        self._sids: dict[str, int] = {}  # the services' session ids
        self._lock = threading.RLock()
        self._init_drops()

    # -- what a provider gives ----------------------------------------------------------
    @abstractmethod
    def remote(self, node: str) -> Remote:
        """The node's Remote (KeyError-free: unknown nodes are a ClusterError)."""

    @abstractmethod
    def drop_address(self, node: str) -> str:
        """The source address the node's packets carry as its peers see them (the address
        a firewall rule on a peer names to cut it off)."""

    def before(self, node: str, user: str | None = None) -> None:  # noqa: B027 - optional hook
        """Called before anything runs on the node or touches its files, with the user it
        runs as (local: power loss settles, the node dir goes to the database's user)."""

    def where(self, node: str) -> str:
        return self.remote(node).label

    def check_node(self, node: str) -> str:
        if node not in self.nodes:
            raise ClusterError(f"unknown node {node!r}; nodes are {', '.join(self.nodes)}")
        return node

    # -- commands -------------------------------------------------------------------------
    def run_command(self, node: str, cmd: Command) -> subprocess.CompletedProcess[str]:
        self.before(self.check_node(node), cmd.user)
        try:
            r = self.remote(node).run(cmd.argv, user=cmd.user, input=cmd.input,
                                      timeout=cmd.timeout, env=cmd.env,
                                      cwd=str(self.node_dir(node)))  # fmt: skip
        except RemoteTimeout:
            msg = f"{node}: `{shown(cmd.argv)}` did not finish within {cmd.timeout:g} s"
            raise ClusterError(self.said(msg)) from None
        return subprocess.CompletedProcess(cmd.argv, r.rc, r.out, r.err)

    # -- the database's processes ----------------------------------------------------------
    def launch(self, node: str, svc: Service) -> None:
        self.before(self.check_node(node), svc.user)
        with self._lock:
            if self.is_running(node):
                raise ClusterError(f"{node}: service already running")
            # under libfaketime in clock runs
            self._services[node] = replace(svc, argv=self.clocked_argv(node, svc.argv))
            self._launch(node)

    def _launch(self, node: str) -> None:
        svc = self._services[node]
        remote = self.remote(node)
        sid = remote.spawn(
            svc.argv, user=svc.user, log=str(svc.log), cwd=str(self.node_dir(node)), env=svc.env
        )
        self._sids[node] = sid
        self.spawned(node, sid)
        time.sleep(0.05)  # a binary that cannot start at all exits at once: say so here
        if not service.alive(remote, sid):
            tail = (remote.get(str(svc.log), limit=2000) or b"").decode(errors="replace")
            last = tail.strip().splitlines()[-1:] or [""]
            raise ClusterError(f"{node}: `{shown(svc.argv)}` exited at once: {last[0]}".rstrip(": "))

    def spawned(self, node: str, sid: int) -> None:  # noqa: B027 - optional hook
        """A service started (ssh records its session for cleanup after a crash)."""

    def start(self, node: str) -> None:
        self.before(self.check_node(node))
        with self._lock:
            if node not in self._services:
                raise ClusterError(f"{node}: nothing to start (spawn() was never called)")
            if not self.is_running(node):
                self._launch(node)

    def _sid(self, node: str) -> int | None:
        return self._sids.get(self.check_node(node))

    def is_running(self, node: str) -> bool:
        sid = self._sid(node)
        return sid is not None and service.alive(self.remote(node), sid)

    def processes(self, node: str) -> dict[int, str]:
        sid = self._sid(node)
        return {} if sid is None else service.members(self.remote(node), sid)

    def signal(self, node: str, sig: signal.Signals) -> None:
        if sig == signal.SIGKILL:
            self.kill(node)
            return
        sid = self._sid(node)
        if sid is not None:
            service.send(self.remote(node), sid, sig)

    def kill(self, node: str) -> None:
        sid = self._sid(node)
        if sid is not None:
            service.kill(self.remote(node), sid)

    def pause(self, node: str) -> None:
        sid = self._sid(node)
        if sid is None:
            raise ClusterError(f"{node}: no database process to pause")
        running = service.pause(self.remote(node), sid)
        if running:
            raise ClusterError(
                f"{node}: processes {', '.join(map(str, sorted(running)))} did not stop"
            )

    # -- files ----------------------------------------------------------------------------
    def write_file(
        self, node: str, path: PurePosixPath | str, text: str, *, user: str, append: bool = False
    ) -> None:
        self.before(self.check_node(node), user)
        data = text.encode()
        if append:
            data = (self.remote(node).get(str(path)) or b"") + data
        self.remote(node).put(str(path), data, user=user)

    def read_file(self, node: str, path: PurePosixPath | str, *, user: str | None = None) -> str:
        self.before(self.check_node(node))
        return (self.remote(node).get(str(path)) or b"").decode(errors="replace")

    def exists(self, node: str, path: PurePosixPath | str, *, user: str | None = None) -> bool:
        self.before(self.check_node(node))
        return self.remote(node).run(["test", "-e", str(path)], user=user).rc == 0

    def collect_logs(self, dest: Path) -> None:
        """Each node's logs (the *.log files in its dir and its logs/, and the service's
        log) to dest/<node>/. Not every *.log below the node dir: a database's data files
        may end in .log too (Cassandra's commit log)."""

        def one(node: str) -> None:
            remote = self.remote(node)
            d = shlex.quote(str(self.node_dir(node)))
            listing = remote.run(
                ["sh", "-c", f"find {d} {d}/logs -maxdepth 1 -name '*.log' -type f 2>/dev/null; true"]
            ).out
            files = set(listing.split())
            if node in self._services:
                files.add(str(self._services[node].log))
            for f in sorted(files):
                data = remote.get(f, limit=LOG_LIMIT)
                if data is not None:
                    target = Path(dest) / node
                    target.mkdir(parents=True, exist_ok=True)
                    (target / PurePosixPath(f).name).write_bytes(data)

        for n, res in parallel(one, self.nodes).items():
            if isinstance(res, BaseException):  # best effort: never mask the run's result
                self.no_logs(n, res)

    def no_logs(self, node: str, error: BaseException) -> None:
        logging.getLogger("splitbrain.cluster").warning("no logs from %s: %s", node, one_line(error))

    # -- network faults -------------------------------------------------------------------
    def install_firewall(self) -> None:
        raise_first(parallel(lambda n: firewall.install(self.remote(n), self.chain), self.nodes))

    def _apply(self) -> None:
        lossy, p = self._loss

        def one(node: str) -> None:
            firewall.set_drops(
                self.remote(node),
                self.chain,
                (self.drop_address(m) for m in self._cuts.get(node, ())),
                {self.drop_address(m): p for m in lossy.get(node, ())},
            )

        raise_first(parallel(one, self.nodes))

    def drop_counts(self, node: str) -> dict[str, int]:
        """Packets dropped so far per source address by this run's chain on the node."""
        return firewall.counters(self.remote(self.check_node(node)), self.chain)

    def firewall_rules(self, node: str) -> dict[str, float]:
        return firewall.rules(self.remote(self.check_node(node)), self.chain)

    def reach(self, src: str, dst: str, port: int) -> probe.Reach:
        return probe.reach(self.remote(self.check_node(src)), self.peer_address(dst), port)

    # -- clock ------------------------------------------------------------------------------
    def clock_reading(self, node: str) -> float:
        """The node's clock as its database sees it, minus the node's real clock (seconds):
        `date` under the same libfaketime and offset file, beside a plain `date`."""
        if self.clock_lib is None:
            return 0.0
        lib = self.setting(node, "libfaketime", self.clock_lib)
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in clock.faked_env(lib, self.clock_file(node)).items())
        r = self.exec(node, ["sh", "-c", f"date +%s.%N; env {env} date +%s.%N; date +%s.%N"],
                      user=self.clock_user)  # fmt: skip
        before, faked, after = (float(x) for x in r.stdout.split()[:3])
        return faked - (before + after) / 2
