"""The node contract: what a provider gives a database definition (Jepsen's control/remote).

A database definition is written once against this class and never asks which provider it
runs on: no `isinstance`, no `getattr(cluster, ...)`, no provider names. Where deployments
genuinely differ, a provider declares a *capability* (CAPABILITIES) and a fault names the
ones it needs (Fault.needs, checked by the run's plan before anything starts). Facts a provider needs from a database (its image, OS
user, ports, binaries) are data on the definition (harness.db.Database).

A *grudge* maps a node to the set of nodes whose packets it drops (Jepsen's model).
"""

from __future__ import annotations

import shlex
import signal
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from harness import clock
from harness.errors import ClusterError, EnvironmentProblem
from harness.remote import shown

Grudge = Mapping[str, frozenset[str] | set[str]]

# What a provider may or may not be able to do; fault modules name what they need.
CAPABILITIES = {
    "partition": "drop packets between nodes (grudges)",
    "packet-loss": "drop a fraction of packets between nodes (iptables statistic)",
    "kill": "SIGKILL the database's processes and start them again",
    "pause": "SIGSTOP / SIGCONT the database's processes",
    "clock": "shift a node's clock as seen by the database (libfaketime)",
    "power-loss": "drop a node's writes that were never fsynced (FUSE layer)",
}


def failure_line(output: str, returncode: int) -> str:
    """The line of a failed command's output that says why: the last one naming an error
    (tools such as pg_basebackup end with a clean-up line after the error; apt marks its
    errors "E:"), else the last."""
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    if not lines:
        return f"exit status {returncode}"
    marked = [
        ln
        for ln in lines
        if ln.startswith("E: ") or any(w in ln.lower() for w in ("error", "fatal", "panic"))
    ]
    return (marked or lines)[-1].strip()


@dataclass(frozen=True)
class Command:
    """A command for a node: argv (no shell) as user, its input and environment, and how
    long it may take (Cluster.exec)."""

    argv: list[str]
    user: str | None = None
    timeout: float = 60
    input: str | None = None
    env: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Service:
    """A node's database service as spawn() was asked to start it."""

    argv: list[str]
    user: str
    log: PurePosixPath
    env: dict[str, str]


class Unsupported(ClusterError):
    """The provider cannot do this (a capability it does not declare)."""


def normalize_grudge(grudge: Grudge, nodes: Sequence[str]) -> dict[str, frozenset[str]]:
    """The grudge as frozensets without self-cuts; a node it names that the cluster lacks is
    a ClusterError (a typo must not become a partition that cuts nothing)."""
    known = set(nodes)
    for n, others in grudge.items():
        unknown = ({n} | set(others)) - known
        if unknown:
            raise ClusterError(
                f"grudge names unknown node(s): {', '.join(sorted(unknown))}; "
                f"nodes are {', '.join(nodes)}"
            )
    return {n: frozenset(m for m in others if m != n) for n, others in grudge.items()}


def check_loss_probability(probability: float) -> float:
    if not 0 < probability <= 1:
        raise ClusterError(f"packet loss probability must be in (0, 1], got {probability:g}")
    return probability


class Cluster(ABC):
    run_id: str
    nodes: tuple[str, ...]
    capabilities: frozenset[str] = frozenset({"partition", "kill", "pause"})

    # -- where things are ---------------------------------------------------------------
    @abstractmethod
    def address(self, node: str, port: int) -> tuple[str, int]:
        """(host, port) at which the harness and its clients reach `port` of the node."""

    @abstractmethod
    def peer_address(self, node: str) -> str:
        """The address (or name) by which the other nodes reach the node, on its own ports."""

    def listen_address(self, node: str) -> str:
        """The address the node's database binds to (its peer address unless the provider
        knows better, e.g. a container's wildcard)."""
        return self.peer_address(node)

    def peer_network(self) -> str:
        """A CIDR covering the peers' and the harness' addresses as a node sees them."""
        return "0.0.0.0/0"

    @abstractmethod
    def node_dir(self, node: str) -> PurePosixPath:
        """A directory on the node, private to it, for data, config and logs; the database's
        user owns it."""

    def setting(self, node: str, key: str, default: str) -> str:
        """A per-node override of a database fact (where its binaries are, say): inventories
        and images may set them. The database passes its own default."""
        return default

    # -- processes ----------------------------------------------------------------------
    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        user: str | None = None,
        timeout: float = 60,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on the node and wait for it; with check, a non-zero exit raises
        ClusterError naming the node, the command and its last line of output (a program
        missing there: EnvironmentProblem)."""
        p = self.run_command(node, Command(list(argv), user, timeout, input, env))
        if check and p.returncode != 0:
            why = self.said(failure_line(p.stderr or p.stdout, p.returncode))
            if p.returncode in (126, 127):  # not found / not executable
                raise EnvironmentProblem(
                    f"{self.where(node)}: cannot run {argv[0]}: {why} (install it there, or "
                    "point the provider's settings at it)"
                )
            raise ClusterError(self.said(f"{node}: `{shown(argv)}` failed: {why}"))
        return p

    @abstractmethod
    def run_command(self, node: str, cmd: Command) -> subprocess.CompletedProcess[str]:
        """exec's part that is the provider's: run cmd on the node and wait for it (an
        overrun is a ClusterError; a non-zero exit is exec's to judge)."""

    def said(self, message: str) -> str:
        """A message as the user may read it (ssh: a conninfo's password hidden)."""
        return message

    def where(self, node: str) -> str:
        """The node as messages about its machine name it ("n1 (db1.example.com)")."""
        return node

    def spawn(
        self,
        node: str,
        argv: Sequence[str],
        *,
        user: str,
        log: PurePosixPath,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Start the node's database service in the background, output to `log` (on the
        node). The provider remembers it so that start(node) brings it back after a kill."""
        self.launch(node, Service(list(argv), user, PurePosixPath(log), dict(env or {})))

    @abstractmethod
    def launch(self, node: str, service: Service) -> None:
        """spawn's part that is the provider's: start the service (a ClusterError when the
        node's runs already) and remember it for start()."""

    @abstractmethod
    def start(self, node: str) -> None:
        """Start the node's service again with the argv of the last spawn()."""

    @abstractmethod
    def is_running(self, node: str) -> bool:
        """Whether the node's service is alive (paused counts as alive)."""

    @abstractmethod
    def signal(self, node: str, sig: signal.Signals) -> None:
        """Send sig to every process of the node's database."""

    def kill(self, node: str) -> None:
        """SIGKILL every process of the node's database; return once they are gone."""
        self.signal(node, signal.SIGKILL)

    def pause(self, node: str) -> None:
        self.signal(node, signal.SIGSTOP)

    def resume(self, node: str) -> None:
        self.signal(node, signal.SIGCONT)

    # -- observations: what says a fault took effect ------------------------------------
    def processes(self, node: str) -> dict[int, str]:
        """The node's database processes now: pid -> state letter ("T": stopped)."""
        raise Unsupported(f"{type(self).__name__} cannot list a node's processes")

    def reach(self, src: str, dst: str, port: int) -> Literal["open", "refused", "silent"]:
        """How a TCP connect from src to dst's port ends: "silent" is no answer at all."""
        raise Unsupported(f"{type(self).__name__} cannot probe between nodes")

    def firewall_rules(self, node: str) -> dict[str, float]:
        """What the node's kernel drops now: source address -> probability (1.0: all)."""
        raise Unsupported(f"{type(self).__name__} cannot list its drop rules")

    def lossy(self) -> dict[str, frozenset[str]]:
        """The packet-loss grudge in force (empty when none)."""
        return {}

    def wanted_rules(self, node: str) -> dict[str, float]:
        """What the node must drop now, as the cluster was asked: source -> probability."""
        raise Unsupported(f"{type(self).__name__} keeps no drop rules")

    def drop_address(self, node: str) -> str:
        """The source address of the node's packets as its peers' rules name it."""
        return self.peer_address(node)

    def clock_reading(self, node: str) -> float:
        """The node's clock as its database sees it minus its real clock, in seconds."""
        raise Unsupported(f"{type(self).__name__} cannot read a node's clock")

    # -- files ----------------------------------------------------------------------------
    def write_file(
        self, node: str, path: PurePosixPath | str, text: str, *, user: str, append: bool = False
    ) -> None:
        op = ">>" if append else ">"
        self.exec(node, ["sh", "-c", f'cat {op} "$1"', "sh", str(path)], user=user, input=text)

    def read_file(self, node: str, path: PurePosixPath | str, *, user: str | None = None) -> str:
        """The file's text, or "" when it does not exist."""
        q = shlex.quote(str(path))
        return self.exec(node, ["sh", "-c", f"cat {q} 2>/dev/null || true"], user=user).stdout

    def exists(self, node: str, path: PurePosixPath | str, *, user: str | None = None) -> bool:
        r = self.exec(node, ["test", "-e", str(path)], user=user, check=False)
        return r.returncode == 0

    def collect_logs(self, dest: Path) -> None:  # noqa: B027 - optional
        """Copy the nodes' logs into dest/<node>/ (results folder)."""

    # -- network faults -------------------------------------------------------------------
    @abstractmethod
    def partition(self, grudge: Grudge) -> None:
        """Each node drops packets from the nodes its grudge names (replaces earlier cuts)."""

    def lose_packets(self, grudge: Grudge, probability: float) -> None:
        """Like partition, but each packet is dropped with the given probability."""
        raise Unsupported(f"{type(self).__name__} cannot drop a fraction of packets")

    @abstractmethod
    def heal(self) -> None:
        """Remove every cut and packet loss this cluster made."""

    # -- clock ------------------------------------------------------------------------------
    # A run whose nemesis includes `clock` gets clocks faked through libfaketime (harness.clock):
    # the provider's create() calls fake_clocks(), and its spawn() starts argv as
    # clocked_argv() gives it. Other runs pay nothing for it.
    clock_lib: str | None = None  # libfaketime's path once this run's clocks are faked
    clock_user: str = "root"  # who writes the offset files (the database's user)

    def fake_clocks(self, lib: str, user: str) -> None:
        """From now on databases are spawned under libfaketime (an inventory may override
        the library's path per node: setting `libfaketime`)."""
        self.clock_lib, self.clock_user = lib, user

    def clock_file(self, node: str) -> PurePosixPath:
        return PurePosixPath(self.node_dir(node)) / clock.OFFSET_FILE

    def clocked_argv(self, node: str, argv: Sequence[str]) -> list[str]:
        """argv as spawn() must run it. With faked clocks: under libfaketime, its offset file
        created at 0 unless it exists (a database restarted after a kill keeps its node's
        clock, as a real host's would)."""
        if self.clock_lib is None:
            return list(argv)
        f = self.clock_file(node)
        if not self.exists(node, f, user=self.clock_user):
            self.write_file(node, f, clock.offset_text(0), user=self.clock_user)
        return clock.wrap(argv, self.setting(node, "libfaketime", self.clock_lib), f)

    def set_clock_offset(self, node: str, seconds: float) -> None:
        """Shift the node's clock as its database sees it (0 resets it); the database reads
        the change within about a second. The file is replaced, never seen half written."""
        if self.clock_lib is None:
            raise Unsupported(
                f"{type(self).__name__}: clocks are faked only in runs with --nemesis clock"
            )
        f = self.clock_file(node)
        tmp = f.with_name(f.name + ".new")
        self.write_file(node, tmp, clock.offset_text(seconds), user=self.clock_user)
        self.exec(node, ["mv", "-f", str(tmp), str(f)], user=self.clock_user)

    def clock_offset(self, node: str) -> float:
        """The node's clock offset in seconds, as its offset file says (0 when not faked)."""
        if self.clock_lib is None:
            return 0.0
        return clock.parse_offset(self.read_file(node, self.clock_file(node), user=self.clock_user))

    # -- power loss -------------------------------------------------------------------------
    def power_loss(self, node: str) -> dict[str, int]:
        """SIGKILL every process of the node's database, then drop every write of the node's
        that was never fsynced; returns what was dropped (files, blocks, bytes)."""
        raise Unsupported(f"{type(self).__name__} cannot drop un-fsynced writes (power loss)")

    # -- life -------------------------------------------------------------------------------
    @abstractmethod
    def teardown(self) -> None:
        """Kill everything, remove everything; idempotent, safe on a half-built cluster."""

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()
