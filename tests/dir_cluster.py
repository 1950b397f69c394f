"""A Cluster over plain directories of this machine, for unit tests of the node contract's
defaults and of database code that needs no server: exec runs here (as whoever runs the tests),
every node is on loopback, node n's directory is root/n."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from harness.cluster import Cluster, Command, Grudge, Service


class DirCluster(Cluster):
    def __init__(
        self,
        root: Path,
        nodes: Sequence[str] = ("n1",),
        *,
        port: int | None = None,
        running: bool = False,
    ) -> None:
        """port: where address() points whatever port is asked (a test's closed port);
        running: what is_running() says."""
        self.run_id, self.nodes, self.root = "000000", tuple(nodes), root
        self.port, self.running = port, running
        for n in self.nodes:
            (root / n).mkdir(exist_ok=True)

    def address(self, node: str, port: int) -> tuple[str, int]:
        return "127.0.0.1", port if self.port is None else self.port

    def peer_address(self, node: str) -> str:
        return "127.0.0.1"

    def node_dir(self, node: str) -> PurePosixPath:
        return PurePosixPath(self.root / node)

    def run_command(self, node: str, cmd: Command) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd.argv, input=cmd.input, text=True, capture_output=True)

    def launch(self, node: str, service: Service) -> None:
        raise NotImplementedError

    def start(self, node: str) -> None:
        raise NotImplementedError

    def is_running(self, node: str) -> bool:
        return self.running

    def signal(self, node: str, sig: signal.Signals) -> None:
        raise NotImplementedError

    def partition(self, grudge: Grudge) -> None:
        raise NotImplementedError

    def heal(self) -> None:
        pass

    def teardown(self) -> None:
        pass
