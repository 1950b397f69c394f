"""power-loss: nodes lose power, one after another (gap ms apart): each node's database is
SIGKILLed and every write it never fsynced is dropped (the local provider's lossyfs layer).
The nodes stay down for the fault's window; at its end the database starts them again (a
Galera cluster that lost every node bootstraps from the most advanced one)."""

from __future__ import annotations

import random
import time
from typing import Any

from harness.errors import SpecError
from harness.options import Option
from harness.powerloss.options import WRITEBACK_S
from nemesis import observe
from nemesis.faults import Fault, Target, pick_node

TARGET = Option(
    "power_loss_target",
    str,
    "either",
    "power-loss: the primary first, a random node first, or either (seeded)",
    choices=("primary", "random", "either"),
)
NODES = Option(
    "power_loss_nodes",
    int,
    1,
    "power-loss: how many nodes lose power, in quick succession",
    minimum=1,
)
GAP_MS = Option(
    "power_loss_gap_ms",
    int,
    200,
    "power-loss: ms between two nodes losing power",
    minimum=0,
    maximum=60_000,
)


class PowerLoss(Fault):
    name = "power-loss"
    help = "kill nodes and drop their writes that were never fsynced, then restart them"
    colour = "#b39ddb"
    needs = frozenset({"power-loss"})
    packages = ("fuse3", "libfuse3-dev", "gcc", "pkg-config")  # lossyfs, built on first use
    options = (TARGET, NODES, GAP_MS, WRITEBACK_S)

    def validate(self, db: Any, capabilities: frozenset[str]) -> None:
        super().validate(db, capabilities)
        if self.opt(NODES) > self.spec.nodes:
            raise SpecError(
                f"--opt power_loss_nodes={self.opt(NODES)}: the cluster has only "
                f"{self.spec.nodes} nodes"
            )

    def plan(self, rng: random.Random) -> dict[str, Any]:
        how = self.opt(TARGET)
        return {
            "target": rng.choice(["primary", "random"]) if how == "either" else how,
            "nodes": self.opt(NODES),
            "gap_ms": self.opt(GAP_MS),
            "seed": rng.randrange(2**31),
        }

    def begin(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        rng = random.Random(params["seed"])
        first = pick_node(target, params["target"], rng)
        rest = sorted(n for n in target.cluster.nodes if n != first)
        rng.shuffle(rest)
        order = [first, *rest][: params["nodes"]]
        dropped: dict[str, dict[str, int]] = {}
        for i, node in enumerate(order):
            if i:
                time.sleep(params["gap_ms"] / 1000)
            dropped[node] = target.cluster.power_loss(node)
        return {"nodes": order, "dropped": dropped}

    def observe(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> Any:
        return {n: observe.gone(target.cluster, n) for n in state["nodes"]}

    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        for node in state["nodes"]:
            target.db.start(target.cluster, node)
        return {"nodes": state["nodes"]}
