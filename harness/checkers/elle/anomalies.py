"""The list-append anomaly taxonomy, as data, after Elle's `elle.consistency-model`.

Three tables, as in Elle:
- IMPLIES_MODEL: a model implies the weaker models it is stronger than;
- PROSCRIBED: the anomalies each model forbids directly;
- IMPLIES_ANOMALY: an anomaly is a special case of another (a G0 cycle is also a G1c, a G1c
  also a G-single, ...), so a model forbidding the general one forbids the special one too.
A model forbids what it proscribes directly, what the models it implies proscribe, and every
anomaly that is a special case of those. The checker never branches on an anomaly's name to
decide validity: it looks the name up here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from harness.errors import SpecError

# Weakest first (the order of lists in verdicts). Repeatable read and snapshot isolation are
# incomparable: SI allows write skew (G2-item), Adya's repeatable read allows a transaction's
# reads of one key to disagree (Elle's `internal`) and long forks are forbidden by both.
MODELS = (
    "read-uncommitted",
    "read-committed",
    "read-atomic",
    "repeatable-read",
    "snapshot-isolation",
    "serializable",
    "strict-serializable",
)
DEFAULT_MODELS = ("strict-serializable",)  # Elle's default

IMPLIES_MODEL: dict[str, tuple[str, ...]] = {
    "read-committed": ("read-uncommitted",),
    "read-atomic": ("read-committed",),  # Cerone et al.
    "repeatable-read": ("read-committed",),  # Adya PL-2.99, via cursor stability
    "snapshot-isolation": ("read-atomic",),  # via prefix / parallel SI / causal
    "serializable": ("repeatable-read", "snapshot-isolation"),
    "strict-serializable": ("serializable",),
}

PROSCRIBED: dict[str, tuple[str, ...]] = {
    # A key whose reads no single list of appended values explains is wrong at any level.
    "read-uncommitted": ("G0", "incompatible-order", "duplicate", "garbage-versions"),
    "read-committed": ("G1",),
    "read-atomic": ("internal", "G1a"),
    "repeatable-read": ("G1", "G2-item", "lost-update"),
    "snapshot-isolation": ("internal", "G1", "G-nonadjacent", "lost-update"),
    "serializable": ("internal", "G1", "G2", "lost-update"),
    "strict-serializable": ("G2-realtime",),
}

IMPLIES_ANOMALY: dict[str, tuple[str, ...]] = {
    "G1a": ("G1",),
    "G1b": ("G1",),
    "G1c": ("G1", "G-single", "G1c-process"),
    "dirty-update": ("G1a",),
    "future-read": ("internal",),
    "G0": ("G1c", "G0-process"),
    "G-single": ("G-nonadjacent", "G-single-process"),
    "G-nonadjacent": ("G2-item", "G-nonadjacent-process"),
    "G2-item": ("G2", "G2-item-process"),
    "G2": ("G2-process",),
    # A process's transactions are also ordered in real time.
    "G0-process": ("G1c-process", "G0-realtime"),
    "G1c-process": ("G-single-process", "G1c-realtime"),
    "G-single-process": ("G-nonadjacent-process", "G-single-realtime"),
    "G-nonadjacent-process": ("G2-item-process", "G-nonadjacent-realtime"),
    "G2-item-process": ("G2-process", "G2-item-realtime"),
    "G2-process": ("G2-realtime",),
    "G0-realtime": ("G1c-realtime",),
    "G1c-realtime": ("G-single-realtime",),
    "G-single-realtime": ("G-nonadjacent-realtime",),
    "G-nonadjacent-realtime": ("G2-item-realtime",),
    "G2-item-realtime": ("G2-realtime",),
}


@dataclass(frozen=True)
class AnomalyKind:
    name: str
    what: str  # one line: what was observed
    template: str  # the closing words of an explanation

    @property
    def rules_out(self) -> tuple[str, ...]:
        """The models in MODELS that forbid it, weakest first."""
        return tuple(m for m in MODELS if self.name in forbidden_by(m))


_KINDS = [
    # -- cycles in the dependency graph (ww / wr / rw; Adya's G0, G1c, G-single, G2-item)
    AnomalyKind(
        "G0",
        "a cycle of write-write dependencies (ww only)",
        "the versions of these keys were installed in contradictory orders — write cycle (G0)",
    ),
    AnomalyKind(
        "G1c",
        "a cycle of write-write and write-read dependencies, at least one wr",
        "each transaction saw or overwrote the other's write — circular information flow (G1c)",
    ),
    AnomalyKind(
        "G-single",
        "a cycle with exactly one anti-dependency (rw), the rest ww/wr",
        "one transaction missed a write that another it depends on had seen — read skew (G-single)",
    ),
    AnomalyKind(
        "G-nonadjacent",
        "a cycle with two or more anti-dependencies (rw), no two of them consecutive",
        "the transactions saw each other's writes in incompatible orders, a fork that no single "
        "snapshot order explains — long fork (G-nonadjacent)",
    ),
    AnomalyKind(
        "G2-item",
        "a cycle with two or more anti-dependencies (rw), some two of them consecutive",
        "each missed the other's write — write skew (G2-item)",
    ),
    # -- the same cycles made possible only by real-time or per-process order
    AnomalyKind(
        "G0-realtime",
        "a ww cycle that needs real-time order",
        "write order contradicts real time (G0-realtime)",
    ),
    AnomalyKind(
        "G1c-realtime",
        "a ww/wr cycle that needs real-time order",
        "information flowed backwards in real time (G1c-realtime)",
    ),
    AnomalyKind(
        "G-single-realtime",
        "a cycle with one rw edge that needs real-time order",
        "a transaction missed a write that completed before it began (G-single-realtime)",
    ),
    AnomalyKind(
        "G-nonadjacent-realtime",
        "a cycle with non-consecutive rw edges that needs real-time order",
        "reads missed writes that completed before they began, in a forked order "
        "(G-nonadjacent-realtime)",
    ),
    AnomalyKind(
        "G2-item-realtime",
        "a cycle with two or more rw edges that needs real-time order",
        "reads missed writes that completed before they began — stale reads (G2-item-realtime)",
    ),
    AnomalyKind(
        "G0-process",
        "a ww cycle that needs one process's order",
        "write order contradicts the order one client issued them (G0-process)",
    ),
    AnomalyKind(
        "G1c-process",
        "a ww/wr cycle that needs one process's order",
        "a client's later transaction was seen before its earlier one (G1c-process)",
    ),
    AnomalyKind(
        "G-single-process",
        "a cycle with one rw edge that needs one process's order",
        "a client did not see its own earlier write (G-single-process)",
    ),
    AnomalyKind(
        "G-nonadjacent-process",
        "a cycle with non-consecutive rw edges that needs one process's order",
        "clients did not see their own earlier writes, in a forked order (G-nonadjacent-process)",
    ),
    AnomalyKind(
        "G2-item-process",
        "a cycle with two or more rw edges that needs one process's order",
        "clients did not see their own earlier writes (G2-item-process)",
    ),
    # -- non-cycle anomalies, found directly in the reads
    AnomalyKind(
        "G1a",
        "a committed read saw a write of an aborted (failed) transaction",
        "aborted read (G1a)",
    ),
    AnomalyKind(
        "G1b",
        "a read saw a transaction's intermediate (non-final) append to a key",
        "intermediate read (G1b)",
    ),
    AnomalyKind(
        "dirty-update",
        "a committed append was applied on top of an aborted one",
        "a committed write built on an aborted one (dirty update)",
    ),
    AnomalyKind(
        "lost-update",
        "two committed transactions read the same version of a key and both appended to it",
        "one of the two read-modify-writes overwrote the other unseen (lost update)",
    ),
    AnomalyKind(
        "incompatible-order",
        "two reads of one key, or a read and one transaction's own appends, order values "
        "differently",
        "the key has no single version history (incompatible order)",
    ),
    AnomalyKind(
        "duplicate",
        "a read holds the same appended value twice",
        "an append was applied twice (duplicate element)",
    ),
    AnomalyKind(
        "garbage-versions",
        "a read holds a value that no transaction appended to that key",
        "the database returned a value nobody wrote (garbage read)",
    ),
    AnomalyKind(
        "internal",
        "a read disagrees with the same transaction's earlier read or append of that key",
        "the transaction's view of the key changed under it (internal inconsistency)",
    ),
    AnomalyKind(
        "future-read",
        "a transaction read a value it only appends later in the same transaction",
        "a read saw the future of its own transaction (future read)",
    ),
]

KINDS: dict[str, AnomalyKind] = {k.name: k for k in _KINDS}
# Classes that no single finding is reported as, only named in PROSCRIBED / IMPLIES_ANOMALY.
CLASSES = ("G1", "G2", "G2-process", "G2-realtime")
# What a hunt may look for: every reported kind, and the classes (a G1 target is met by G1a).
ANOMALIES = (*KINDS, *CLASSES)


def _special_cases() -> dict[str, set[str]]:
    """anomaly -> every anomaly that is a special case of it (itself included)."""
    names = set(IMPLIES_ANOMALY) | {b for bs in IMPLIES_ANOMALY.values() for b in bs}
    names |= set(KINDS)
    below: dict[str, set[str]] = {n: {n} for n in names}
    changed = True
    while changed:  # a fixpoint over a dozen names: simple beats clever
        changed = False
        for a, bs in IMPLIES_ANOMALY.items():
            for b in bs:
                if not below[a] <= below[b]:
                    below[b] |= below[a]
                    changed = True
    return below


_BELOW = _special_cases()


def special_cases(name: str) -> frozenset[str]:
    """The anomaly names that are this one or a special case of it (G1: G1a, G1b, G1c...)."""
    return frozenset(_BELOW.get(name, {name}))


@cache
def forbidden_by(model: str) -> frozenset[str]:
    """Every anomaly name the model forbids."""
    out: set[str] = set()
    for a in PROSCRIBED.get(model, ()):
        out |= _BELOW[a]
    for weaker in IMPLIES_MODEL.get(model, ()):
        out |= forbidden_by(weaker)
    return frozenset(out)


def rules_out(names: list[str] | set[str]) -> list[str]:
    """The models ruled out by any of these anomaly names, weakest first."""
    return [m for m in MODELS if not forbidden_by(m).isdisjoint(names)]


ALIASES = {
    "ru": "read-uncommitted",
    "rc": "read-committed",
    "ra": "read-atomic",
    "rr": "repeatable-read",
    "si": "snapshot-isolation",
    "serializability": "serializable",
    "strict-serializability": "strict-serializable",
    "strong-serializable": "strict-serializable",
}


def normalize_model(name: str) -> str:
    """Accept a few spellings: 'serializability', 'si', 'strict_serializable'..."""
    n = name.strip().lower().replace("_", "-").replace(" ", "-")
    n = ALIASES.get(n, n)
    if n not in MODELS:
        raise SpecError(f"unknown consistency model {name!r}; known: {', '.join(MODELS)}")
    return n
