"""The node contract: what a provider gives a database definition (Jepsen's control/remote).

A database definition is written once against this class and never asks which provider it
runs on: no `isinstance`, no `getattr(cluster, ...)`, no provider names. Where deployments
genuinely differ, a provider declares a *capability* (CAPABILITIES) and the definition or a
fault module asks `cluster.can(...)`. Facts a provider needs from a database (its image, OS
user, ports, binaries) are data on the definition (harness.db.Database).

A *grudge* maps a node to the set of nodes whose packets it drops (Jepsen's model).
"""

from __future__ import annotations

import shlex
import signal
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from harness.errors import ClusterError

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


class Unsupported(ClusterError):
    """The provider cannot do this (a capability it does not declare)."""


class Cluster(ABC):
    run_id: str
    nodes: tuple[str, ...]
    capabilities: frozenset[str] = frozenset({"partition", "kill", "pause"})

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

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
    @abstractmethod
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
        ClusterError naming the node, the command and its last line of output."""

    @abstractmethod
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
        node). The provider remembers argv so that start(node) brings it back after a kill."""

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
    def set_clock_offset(self, node: str, seconds: float) -> None:
        """Shift the node's clock as its database sees it (0 resets it)."""
        raise Unsupported(f"{type(self).__name__} cannot shift a node's clock")

    # -- life -------------------------------------------------------------------------------
    @abstractmethod
    def teardown(self) -> None:
        """Kill everything, remove everything; idempotent, safe on a half-built cluster."""

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()
