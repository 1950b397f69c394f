"""pause: SIGSTOP a node's database processes (a long GC pause, a frozen VM), then SIGCONT."""

from __future__ import annotations

import random
from typing import Any

from harness.options import Option
from nemesis.faults import Fault, Target, pick_node

PAUSE_TARGET = Option(
    "pause_target",
    str,
    "either",
    "pause: the primary, a random node, or either (seeded)",
    choices=("primary", "random", "either"),
)


class Pause(Fault):
    name = "pause"
    help = "SIGSTOP a node's database processes, then SIGCONT them"
    colour = "#ce93d8"
    needs = frozenset({"pause"})
    options = (PAUSE_TARGET,)

    def plan(self, rng: random.Random) -> dict[str, Any]:
        how = self.opt(PAUSE_TARGET)
        return {
            "target": rng.choice(["primary", "random"]) if how == "either" else how,
            "seed": rng.randrange(2**31),
        }

    def begin(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        node = pick_node(target, params["target"], random.Random(params["seed"]))
        target.cluster.pause(node)
        return {"node": node}

    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        target.cluster.resume(state["node"])
        return {"node": state["node"]}
