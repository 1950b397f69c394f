"""Which consistency model an anomaly shows broken, and which models a run's checkers could
have shown broken: the comparison's picture of anomalies per consistency model.

Transactional anomalies go to the weakest rung of the ladder read committed < snapshot
isolation < serializability < strict serializability that forbids them, looked up in the
list-append checker's taxonomy (Elle's), so write skew (G2-item, allowed by snapshot
isolation) counts against serializability and read skew (G-single) against snapshot
isolation. The other checkers' findings are named here, as data."""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.checkers.elle.anomalies import forbidden_by

DURABILITY = "durability"  # an acknowledged write is kept
LINEARIZABILITY = "linearizability"  # a read sees every write acknowledged before it began
LADDER = (
    ("read-committed", "read committed"),
    ("snapshot-isolation", "snapshot isolation"),
    ("serializable", "serializability"),
    ("strict-serializable", "strict serializability"),
)
MODELS = (DURABILITY, LINEARIZABILITY, *(name for _, name in LADDER))
OTHER = "other"

_NAMED = {
    "lost-write": DURABILITY,  # set: acknowledged, missing after healing
    "lost-to-lww": DURABILITY,  # conflicts: silently replaced by an older write
    "counter-lost-increments": DURABILITY,
    # set: a read saw a write that was then discarded: an aborted read (G1a) in effect
    "read-then-lost": "read committed",
    "stale-read": LINEARIZABILITY,  # set, register: missed a write acknowledged before it
    "nonlinearizable": LINEARIZABILITY,
    "wrong-total": "snapshot isolation",  # bank: a read saw money appear or vanish
}

# checker -> the models its findings speak for (a model no checker of a run judged is not
# measured in it; strict serializability only where real-time order was checked)
JUDGES = {
    "set": (DURABILITY, LINEARIZABILITY),
    "linearizable": (LINEARIZABILITY,),
    "list-append": tuple(name for _, name in LADDER[:3]),
    "bank": ("snapshot isolation",),
    "counter": (DURABILITY,),
    "conflicts": (DURABILITY,),
}


def model_of(anomaly: str) -> str:
    """The consistency model an anomaly type shows broken (OTHER if none of MODELS)."""
    if anomaly in _NAMED:
        return _NAMED[anomaly]
    for elle, name in LADDER:
        if anomaly in forbidden_by(elle):
            return name
    return OTHER


def judged(verdict: dict[str, Any]) -> set[str]:
    """The models this run's checkers decided (a checker whose verdict is unknown did not)."""
    out: set[str] = set()
    for name, v in (verdict.get("checkers") or {}).items():
        if not isinstance(v, dict) or v.get("valid") not in (True, False):
            continue
        out.update(JUDGES.get(name, ()))
        if name == "list-append" and (v.get("stats") or {}).get("realtime"):
            out.add(LADDER[-1][1])
    return out


def by_model(anomalies: dict[str, int]) -> Counter[str]:
    """Anomaly counts by type -> counts by the model each shows broken."""
    out: Counter[str] = Counter()
    for t, n in anomalies.items():
        out[model_of(t)] += n
    return out
