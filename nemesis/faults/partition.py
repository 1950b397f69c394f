"""partition: the network splits along a grudge drawn from the --partition shapes."""

from __future__ import annotations

import random
from typing import Any

from nemesis import grudges, observe
from nemesis.faults import Fault, Target


class Partition(Fault):
    name = "partition"
    help = "drop every packet between the sides of a grudge (--partition shapes)"
    colour = "#90caf9"
    needs = frozenset({"partition"})

    def plan(self, rng: random.Random) -> dict[str, Any]:
        return {"shape": rng.choice(list(self.spec.partition)), "seed": rng.randrange(2**31)}

    def begin(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        g = grudges.for_shape(target, params["shape"], random.Random(params["seed"]))
        target.cluster.partition(g)
        return {"shape": params["shape"], "grudge": grudges.as_json(g), "cuts": grudges.describe(g)}

    def observe(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> Any:
        cluster = target.cluster
        g = grudges.from_json(state["grudge"])
        return observe.separation(cluster, target.db, g, lossy=cluster.lossy())

    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        target.cluster.heal()
        return {"healed": True}
