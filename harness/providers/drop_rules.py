"""Partitions and packet loss kept as one state per run, for providers that enforce them as
per-node drop rules (local: iptables in each namespace; ssh: a run-owned chain on each host).

The state is the whole truth: every change rewrites each node's rules from it (_apply), so a
partition replaces the previous one, packet loss adds to it, and heal clears both."""

from __future__ import annotations

from harness.cluster import Grudge, check_loss_probability, normalize_grudge


class DropRules:
    nodes: tuple[str, ...]

    def drop_address(self, node: str) -> str:
        raise NotImplementedError

    def _init_drops(self) -> None:
        self._cuts: dict[str, frozenset[str]] = {}  # node -> peers whose packets it drops
        self._loss: tuple[dict[str, frozenset[str]], float] = ({}, 0.0)

    def _apply(self) -> None:
        """Make every node's rules say what _cuts and _loss say."""
        raise NotImplementedError

    def partition(self, grudge: Grudge) -> None:
        self._cuts = normalize_grudge(grudge, self.nodes)
        self._apply()

    def lose_packets(self, grudge: Grudge, probability: float) -> None:
        self._loss = (normalize_grudge(grudge, self.nodes), check_loss_probability(probability))
        self._apply()

    def lossy(self) -> dict[str, frozenset[str]]:
        """The packet-loss grudge in force (empty when none)."""
        return dict(self._loss[0])

    def wanted_rules(self, node: str) -> dict[str, float]:
        """What the node must drop now: source address -> probability (a cut is 1.0)."""
        grudge, p = self._loss
        out = {self.drop_address(m): p for m in grudge.get(node, ())}
        out.update({self.drop_address(m): 1.0 for m in self._cuts.get(node, ())})
        return out

    def heal(self) -> None:
        self._cuts, self._loss = {}, ({}, 0.0)
        self._apply()
