"""clock: shift nodes' server clocks (libfaketime, harness.clock), then set them back to 0.

Modes (option clock_mode; mixed picks one per occurrence, seeded):
- bump: one node's clock jumps by +-clock_offset_ms for the fault's duration.
- strobe: one node's clock flips between +clock_offset_ms and -clock_offset_ms every
  clock_strobe_ms, from a thread, for the fault's duration.
The end of every occurrence is the reset: each node it shifted goes back to 0, so clocks are
off exactly inside fault windows and true after the last one.

Recorded (begin's and end's return values are the nemesis ops' values): the node, the
change, and `offsets`, every node's offset in seconds as read back from the cluster after
the change. A strobe's flips are not separate ops: begin records the two offsets and the
period, end how many flips were made and the offsets after the reset.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from harness.cluster import Cluster
from harness.options import Option
from nemesis import observe
from nemesis.faults import Fault, Target

MODE = Option(
    "clock_mode",
    str,
    "bump",
    "clock: bump (one node jumps), strobe (one node flips back and forth), or mixed (seeded)",
    choices=("bump", "strobe", "mixed"),
)
OFFSET_MS = Option(
    "clock_offset_ms", float, 2000.0, "clock: how far a node's clock is shifted (ms)", None, 1
)
DIRECTION = Option(
    "clock_direction",
    str,
    "either",
    "clock: a bump moves the clock ahead (+), behind (-), or either (seeded)",
    choices=("+", "-", "either"),
)
# libfaketime re-reads the offset at most once a second (harness.clock): faster is aliased.
STROBE_MS = Option(
    "clock_strobe_ms", float, 2000.0, "clock: strobe period between two flips (ms)", None, 1000
)


def offsets(cluster: Cluster) -> dict[str, float]:
    """Every node's offset as the cluster reports it (what the database will see)."""
    return {n: cluster.clock_offset(n) for n in cluster.nodes}


class _Strobe(threading.Thread):
    def __init__(self, cluster: Cluster, node: str, values: tuple[float, float], period: float):
        super().__init__(name=f"clock-strobe-{node}", daemon=True)
        self.cluster, self.node, self.values, self.period = cluster, node, values, period
        self.flips = 0
        self.error: str | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.period):
            try:
                self.cluster.set_clock_offset(self.node, self.values[(self.flips + 1) % 2])
            except Exception as e:  # noqa: BLE001 - reported by end()
                self.error = f"{type(e).__name__}: {e}"
                return
            self.flips += 1


class Clock(Fault):
    name = "clock"
    help = "shift a node's server clock (libfaketime): bump or strobe, then reset to 0"
    colour = "#ffcc80"
    needs = frozenset({"clock"})
    packages = ("faketime",)
    options = (MODE, OFFSET_MS, DIRECTION, STROBE_MS)

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self._strobes: dict[str, _Strobe] = {}

    def plan(self, rng: random.Random) -> dict[str, Any]:
        mode = self.opt(MODE)
        if mode == "mixed":
            mode = rng.choice(["bump", "strobe"])
        direction = self.opt(DIRECTION)
        if direction == "either":
            direction = rng.choice(["+", "-"])
        sign = 1 if direction == "+" else -1
        params: dict[str, Any] = {"mode": mode, "seed": rng.randrange(2**31)}
        params["offset_s"] = sign * self.opt(OFFSET_MS) / 1000
        if mode == "strobe":
            params["period_s"] = self.opt(STROBE_MS) / 1000
        return params

    def begin(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        cluster = target.cluster
        node = random.Random(params["seed"]).choice(list(cluster.nodes))
        off = float(params["offset_s"])
        cluster.set_clock_offset(node, off)
        out: dict[str, Any] = {"mode": params["mode"], "node": node, "offset_s": off}
        if params["mode"] == "strobe":
            s = _Strobe(cluster, node, (off, -off), float(params["period_s"]))
            self._strobes[node] = s
            s.start()
            out |= {"flips_between": [off, -off], "period_s": params["period_s"]}
        out["offsets"] = offsets(cluster)
        return out

    def observe(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> Any:
        if state["mode"] == "strobe":  # a flip may land while reading: either value will do
            try:
                return observe.clock(target.cluster, state["node"], state["offset_s"])
            except observe.NotObserved:
                return observe.clock(target.cluster, state["node"], -state["offset_s"])
        return observe.clock(target.cluster, state["node"], state["offset_s"])

    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        node = state["node"]
        out: dict[str, Any] = {"node": node}
        s = self._strobes.pop(node, None)
        if s is not None:
            s.halt.set()
            s.join(timeout=30)
            out["flips"] = s.flips
            if s.error:
                out["strobe_error"] = s.error
        target.cluster.set_clock_offset(node, 0.0)
        out["offsets"] = offsets(target.cluster)
        return out
