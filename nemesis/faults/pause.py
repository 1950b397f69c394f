"""pause: SIGSTOP a node's database processes (a long GC pause, a frozen VM), then SIGCONT."""

from __future__ import annotations

import contextlib
import random
from typing import Any

from harness.options import Option
from nemesis import observe
from nemesis.faults import Fault, Target, pick_node

PROBE_S = Option(
    "pause_probe_s",
    float,
    1.0,
    "pause: seconds a request to the paused node must go unanswered for the pause to count",
    minimum=0.05,
    maximum=30,
)
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
    options = (PAUSE_TARGET, PROBE_S)

    def plan(self, rng: random.Random) -> dict[str, Any]:
        how = self.opt(PAUSE_TARGET)
        return {
            "target": rng.choice(["primary", "random"]) if how == "either" else how,
            "seed": rng.randrange(2**31),
        }

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self._opened: dict[str, Any] = {}  # node -> a connection opened before its pause

    def begin(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        node = pick_node(target, params["target"], random.Random(params["seed"]))
        self._opened.pop(node, None)
        # a connection that answers now, to ask again once the node is paused; a node that
        # does not serve now (restarting after a kill, say) is paused all the same
        with contextlib.suppress(Exception):
            opened = target.db.probe(target.cluster, node)
            if opened.ask(self.opt(PROBE_S) + 2) == "answered":
                self._opened[node] = opened
            else:
                opened.close()
        target.cluster.pause(node)
        return {"node": node, "serving": node in self._opened}

    def observe(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> Any:
        node = state["node"]
        opened = self._opened.get(node)
        return observe.stopped(target.cluster, target.db, node, opened, self.opt(PROBE_S))

    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        target.cluster.resume(state["node"])
        opened = self._opened.pop(state["node"], None)
        if opened is not None:
            with contextlib.suppress(Exception):
                opened.close()
        return {"node": state["node"]}
