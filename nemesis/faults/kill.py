"""kill: SIGKILL a node's database processes; at the end the database brings it back."""

from __future__ import annotations

import random
from typing import Any

from harness.errors import ClusterError
from harness.options import Option
from nemesis import observe
from nemesis.faults import Fault, Target, pick_node

KILL_TARGET = Option(
    "kill_target",
    str,
    "either",
    "kill: the primary, a random node, or either (seeded)",
    choices=("primary", "random", "either"),
)


class Kill(Fault):
    name = "kill"
    help = "SIGKILL a node's database processes, then restart them"
    colour = "#ef9a9a"
    needs = frozenset({"kill"})
    options = (KILL_TARGET,)

    def plan(self, rng: random.Random) -> dict[str, Any]:
        how = self.opt(KILL_TARGET)
        return {
            "target": rng.choice(["primary", "random"]) if how == "either" else how,
            "seed": rng.randrange(2**31),
        }

    def begin(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        node = pick_node(target, params["target"], random.Random(params["seed"]))
        target.cluster.kill(node)
        if target.cluster.is_running(node):
            raise ClusterError(f"kill: {node} is still running after SIGKILL")
        return {"node": node}

    def observe(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> Any:
        return observe.gone(target.cluster, state["node"])

    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        target.db.start(target.cluster, state["node"])
        return {"node": state["node"]}
