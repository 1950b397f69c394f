"""The Cluster contract: nodes plus the fault primitives every nemesis needs.

Nothing outside harness/providers/ knows whether a node is a network namespace or a container.
A *grudge* maps a node to the set of nodes whose packets it drops (Jepsen's model).
"""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

Grudge = Mapping[str, frozenset[str] | set[str]]


class Cluster(ABC):
    run_id: str
    nodes: tuple[str, ...]

    @abstractmethod
    def host(self, node: str) -> str:
        """Address at which the harness (clients) reaches the node."""

    @abstractmethod
    def node_dir(self, node: str) -> Path:
        """A directory private to the node, for data, config and logs (local provider: on the
        shared filesystem; compose: a path inside the container)."""

    @abstractmethod
    def spawn(
        self,
        node: str,
        argv: Sequence[str],
        *,
        user: str,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Start the node's database service. The provider remembers argv so that start(node)
        can bring it back after a kill."""

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
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on the node (inside its namespace / container) and wait for it."""

    @abstractmethod
    def kill(self, node: str) -> None:
        """SIGKILL every process of the node's database."""

    @abstractmethod
    def start(self, node: str) -> None:
        """Start the node's service again with the argv of the last spawn()."""

    @abstractmethod
    def pause(self, node: str) -> None:
        """SIGSTOP every process of the node."""

    @abstractmethod
    def resume(self, node: str) -> None:
        """SIGCONT every process of the node."""

    @abstractmethod
    def is_running(self, node: str) -> bool:
        """Whether the node's service process is alive (paused counts as alive)."""

    @abstractmethod
    def partition(self, grudge: Grudge) -> None:
        """Each node drops packets from the nodes its grudge names (replaces earlier cuts)."""

    @abstractmethod
    def heal(self) -> None:
        """Remove every cut this cluster made."""

    @abstractmethod
    def teardown(self) -> None:
        """Kill everything, remove everything; idempotent, safe on a half-built cluster."""

    def collect_logs(self, dest: Path) -> None:  # noqa: B027 - optional for providers
        """Copy node logs into dest (results folder)."""

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()
