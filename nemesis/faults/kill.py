"""kill: SIGKILL a node's database processes (or several nodes' in quick succession,
`kill_nodes` `kill_gap_ms` apart, as power-loss does); at the end the database brings them
back (a Galera cluster that lost every node bootstraps from the most advanced one)."""

from __future__ import annotations

import random
import time
from typing import Any

from harness.errors import ClusterError, SpecError
from harness.options import Option
from nemesis import observe
from nemesis.faults import Fault, Target, pick_node

KILL_TARGET = Option(
    "kill_target",
    str,
    "either",
    "kill: the primary, a random node, or either (seeded); with kill_nodes > 1, the first",
    choices=("primary", "random", "either"),
)
KILL_NODES = Option(
    "kill_nodes",
    int,
    1,
    "kill: how many nodes are killed, in quick succession (the others picked at random, seeded)",
    minimum=1,
)
KILL_GAP_MS = Option(
    "kill_gap_ms",
    int,
    200,
    "kill: ms between two nodes being killed (kill_nodes > 1)",
    minimum=0,
    maximum=60_000,
)


class Kill(Fault):
    name = "kill"
    help = "SIGKILL a node's database processes (or several nodes'), then restart them"
    colour = "#ef9a9a"
    needs = frozenset({"kill"})
    options = (KILL_TARGET, KILL_NODES, KILL_GAP_MS)

    def validate(self, db: Any, capabilities: frozenset[str]) -> None:
        super().validate(db, capabilities)
        if self.opt(KILL_NODES) > self.spec.nodes:
            raise SpecError(
                f"--opt kill_nodes={self.opt(KILL_NODES)}: the cluster has only "
                f"{self.spec.nodes} nodes"
            )

    def plan(self, rng: random.Random) -> dict[str, Any]:
        how = self.opt(KILL_TARGET)
        params = {
            "target": rng.choice(["primary", "random"]) if how == "either" else how,
            "seed": rng.randrange(2**31),
        }
        if self.opt(KILL_NODES) > 1:  # a single kill's plan stays as schedules had it
            params.update(nodes=self.opt(KILL_NODES), gap_ms=self.opt(KILL_GAP_MS))
        return params

    def begin(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        rng = random.Random(params["seed"])
        first = pick_node(target, params["target"], rng)
        count = int(params.get("nodes", 1))
        if count == 1:
            self._kill(target, first)
            return {"node": first}
        rest = sorted(n for n in target.cluster.nodes if n != first)
        rng.shuffle(rest)
        order = [first, *rest][:count]
        at: dict[str, float] = {}
        t0 = time.monotonic()
        for i, node in enumerate(order):
            if i:
                time.sleep(params["gap_ms"] / 1000)
            self._kill(target, node)
            at[node] = round(time.monotonic() - t0, 3)  # when its last process was gone
        return {"nodes": order, "killed_at_s": at}

    @staticmethod
    def _kill(target: Target, node: str) -> None:
        target.cluster.kill(node)
        if target.cluster.is_running(node):
            raise ClusterError(f"kill: {node} is still running after SIGKILL")

    @staticmethod
    def _nodes(state: dict[str, Any]) -> list[str]:
        return list(state["nodes"]) if "nodes" in state else [state["node"]]

    def observe(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> Any:
        if "nodes" not in state:
            return observe.gone(target.cluster, state["node"])
        return {n: observe.gone(target.cluster, n) for n in state["nodes"]}

    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        nodes = self._nodes(state)
        for node in nodes:
            target.db.start(target.cluster, node)
        return {"node": nodes[0]} if "nodes" not in state else {"nodes": nodes}
