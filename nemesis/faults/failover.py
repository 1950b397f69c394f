"""failover: database-aware; the definition isolates or kills its primary and promotes a
replica (Database.failover), then lets the old primary rejoin (Database.end_failover)."""

from __future__ import annotations

import random
from typing import Any

from harness.errors import SpecError
from harness.options import Option
from nemesis.faults import Fault, Target

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

    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        return target.db.end_failover(target.cluster, state) or {}
