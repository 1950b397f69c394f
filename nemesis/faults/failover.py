"""failover: database-aware; the definition isolates or kills its primary and promotes a
replica (Database.failover), then lets the old primary rejoin (Database.end_failover)."""

from __future__ import annotations

import random
from typing import Any

from harness.errors import SpecError
from harness.options import Option
from nemesis import observe
from nemesis.faults import Fault, Target

ELECTION_S = 30.0  # how long a database that elects its own primary may take to do it
FAILOVER_HOW = Option(
    "failover_how",
    str,
    "either",
    "failover: isolate or kill the old primary, or either (seeded)",
    choices=("isolate", "kill", "either"),
)


class Failover(Fault):
    name = "failover"
    help = "isolate or kill the primary and promote a replica"
    colour = "#ffcc80"
    needs = frozenset({"partition", "kill"})
    options = (FAILOVER_HOW,)

    def validate(self, db: Any, capabilities: frozenset[str]) -> None:
        super().validate(db, capabilities)
        if db.topology != "primary-replica":
            raise SpecError(
                f"--nemesis failover does not apply to {db.name} (peer-to-peer: there is no "
                "primary to fail over)"
            )

    def plan(self, rng: random.Random) -> dict[str, Any]:
        how = self.opt(FAILOVER_HOW)
        return {"how": rng.choice(["isolate", "kill"]) if how == "either" else how}

    def begin(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        return {"how": params["how"], **target.db.failover(target.cluster, params["how"])}

    def observe(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> Any:
        """The old primary is cut off (isolate) or gone (kill), and the promoted replica is
        the primary (a database that elects its own, as MongoDB does, within ELECTION_S)."""
        cluster, old, new = target.cluster, state.get("old_primary"), state.get("new_primary")
        if not old:
            raise observe.NotObserved(f"no old primary in {state}")
        if not new:
            new = observe.elected(target.db, cluster, old, ELECTION_S)
        seen: dict[str, Any] = {}
        if state["how"] == "isolate":
            others = {n for n in cluster.nodes if n != old}
            cut = {old: others, **{n: {old} for n in others}}
            seen["separation"] = observe.separation(cluster, target.db, cut, cluster.lossy())
        else:
            seen["old_primary"] = observe.gone(cluster, old)
        primary = target.db.primary(cluster)
        if primary != new:
            raise observe.NotObserved(f"the primary is {primary}, not the promoted {new}")
        seen["primary"] = primary
        return seen

    def watch(
        self, target: Target, params: dict[str, Any], state: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return target.db.failover_events(target.cluster, state)

    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        return target.db.end_failover(target.cluster, state) or {}
