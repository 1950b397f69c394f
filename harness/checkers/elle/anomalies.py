"""The list-append anomaly taxonomy, as data (Elle's, after Adya).

Each entry says what the anomaly is, which of the five consistency models we report on it rules
out, and the sentence that ends its explanation. The checker never branches on an anomaly's
name to decide validity: it looks the name up here.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import SpecError

# Weakest to strongest. Each model's proscribed anomalies include those of every weaker model
# on its chain, except that snapshot isolation and repeatable read are incomparable (SI allows
# G2-item, write skew; RR allows some predicate anomalies we cannot see with list-append).
MODELS = (
    "read-committed",
    "repeatable-read",
    "snapshot-isolation",
    "serializable",
    "strict-serializable",
)
_ALL = MODELS
_ABOVE_RC = MODELS[1:]
_STRICT = ("strict-serializable",)


@dataclass(frozen=True)
class AnomalyKind:
    name: str
    what: str  # one line: what was observed
    rules_out: tuple[str, ...]  # the models in MODELS that forbid it
    template: str  # the closing words of an explanation


_KINDS = [
    # -- cycles in the dependency graph (ww / wr / rw; Adya's G0, G1c, G-single, G2-item)
    AnomalyKind(
        "G0",
        "a cycle of write-write dependencies (ww only)",
        _ALL,
        "the versions of these keys were installed in contradictory orders — write cycle (G0)",
    ),
    AnomalyKind(
        "G1c",
        "a cycle of write-write and write-read dependencies, at least one wr",
        _ALL,
        "each transaction saw or overwrote the other's write — circular information flow (G1c)",
    ),
    AnomalyKind(
        "G-single",
        "a cycle with exactly one anti-dependency (rw), the rest ww/wr",
        _ABOVE_RC,
        "one transaction missed a write that another it depends on had seen — read skew (G-single)",
    ),
    AnomalyKind(
        "G2-item",
        "a cycle with two or more anti-dependencies (rw)",
        ("repeatable-read", "serializable", "strict-serializable"),
        "each missed the other's write — write skew (G2-item)",
    ),
    # -- the same cycles made possible only by real-time or per-process order
    AnomalyKind(
        "G0-realtime",
        "a ww cycle that needs real-time order",
        _STRICT,
        "write order contradicts real time (G0-realtime)",
    ),
    AnomalyKind(
        "G1c-realtime",
        "a ww/wr cycle that needs real-time order",
        _STRICT,
        "information flowed backwards in real time (G1c-realtime)",
    ),
    AnomalyKind(
        "G-single-realtime",
        "a cycle with one rw edge that needs real-time order",
        _STRICT,
        "a transaction missed a write that completed before it began (G-single-realtime)",
    ),
    AnomalyKind(
        "G2-item-realtime",
        "a cycle with two or more rw edges that needs real-time order",
        _STRICT,
        "reads missed writes that completed before they began — stale reads (G2-item-realtime)",
    ),
    AnomalyKind(
        "G0-process",
        "a ww cycle that needs one process's order",
        _STRICT,
        "write order contradicts the order one client issued them (G0-process)",
    ),
    AnomalyKind(
        "G1c-process",
        "a ww/wr cycle that needs one process's order",
        _STRICT,
        "a client's later transaction was seen before its earlier one (G1c-process)",
    ),
    AnomalyKind(
        "G-single-process",
        "a cycle with one rw edge that needs one process's order",
        _STRICT,
        "a client did not see its own earlier write (G-single-process)",
    ),
    AnomalyKind(
        "G2-item-process",
        "a cycle with two or more rw edges that needs one process's order",
        _STRICT,
        "clients did not see their own earlier writes (G2-item-process)",
    ),
    # -- non-cycle anomalies, found directly in the reads
    AnomalyKind(
        "G1a",
        "a committed read saw a write of an aborted (failed) transaction",
        _ALL,
        "aborted read (G1a)",
    ),
    AnomalyKind(
        "G1b",
        "a read saw a transaction's intermediate (non-final) append to a key",
        _ALL,
        "intermediate read (G1b)",
    ),
    AnomalyKind(
        "dirty-update",
        "a committed append was applied on top of an aborted one",
        _ALL,
        "a committed write built on an aborted one (dirty update)",
    ),
    AnomalyKind(
        "lost-update",
        "two committed transactions read the same version of a key and both appended to it",
        _ABOVE_RC,
        "one of the two read-modify-writes overwrote the other unseen (lost update)",
    ),
    AnomalyKind(
        "incompatible-order",
        "two reads of one key are not prefixes of one another",
        _ALL,
        "the key has no single version history (incompatible order)",
    ),
    AnomalyKind(
        "duplicate",
        "a read holds the same appended value twice",
        _ALL,
        "an append was applied twice (duplicate element)",
    ),
    AnomalyKind(
        "internal",
        "a transaction's read does not reflect its own earlier reads and appends",
        _ALL,
        "the transaction did not see its own writes (internal inconsistency)",
    ),
    AnomalyKind(
        "future-read",
        "a transaction read a value it only appends later in the same transaction",
        _ALL,
        "a read saw the future of its own transaction (future read)",
    ),
]

KINDS: dict[str, AnomalyKind] = {k.name: k for k in _KINDS}


def rules_out(names: list[str] | set[str]) -> list[str]:
    """The models ruled out by any of these anomaly names, weakest first."""
    out: set[str] = set()
    for n in names:
        out.update(KINDS[n].rules_out)
    return [m for m in MODELS if m in out]


def normalize_model(name: str) -> str:
    """Accept a few spellings: 'serializability', 'si', 'strict_serializable'..."""
    n = name.strip().lower().replace("_", "-").replace(" ", "-")
    aliases = {
        "rc": "read-committed",
        "rr": "repeatable-read",
        "si": "snapshot-isolation",
        "serializability": "serializable",
        "strict-serializability": "strict-serializable",
        "strong-serializable": "strict-serializable",
    }
    n = aliases.get(n, n)
    if n not in MODELS:
        raise SpecError(f"unknown consistency model {name!r}; known: {', '.join(MODELS)}")
    return n
