"""packet-loss: a random fraction of the packets between the sides of a grudge is dropped
(iptables' statistic match; no netem needed)."""

from __future__ import annotations

import random
from typing import Any

from harness.options import Option
from nemesis import grudges, observe
from nemesis.faults import Fault, Target

LOSS = Option(
    "loss", float, 0.3, "packet-loss: fraction of packets dropped", minimum=0.001, maximum=1
)


class PacketLoss(Fault):
    name = "packet-loss"
    help = "drop a fraction (--opt loss) of the packets between the sides of a grudge"
    colour = "#80cbc4"
    needs = frozenset({"packet-loss"})
    options = (LOSS,)

    def plan(self, rng: random.Random) -> dict[str, Any]:
        return {
            "shape": rng.choice(list(self.spec.partition)),
            "seed": rng.randrange(2**31),
            "loss": self.opt(LOSS),
        }

    def begin(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        g = grudges.for_shape(target, params["shape"], random.Random(params["seed"]))
        target.cluster.lose_packets(g, params["loss"])
        return {
            "shape": params["shape"],
            "loss": params["loss"],
            "grudge": grudges.as_json(g),
            "cuts": grudges.describe(g),
        }

    def observe(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> Any:
        cluster = target.cluster
        return observe.rules(cluster, {n: cluster.wanted_rules(n) for n in cluster.nodes})

    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        target.cluster.heal()
        return {"healed": True}
