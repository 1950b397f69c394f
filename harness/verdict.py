"""Verdicts: what a checker concludes, with the minimal evidence for each anomaly."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Validity = bool | Literal["unknown"]


@dataclass
class Anomaly:
    type: str  # e.g. "lost-write", "stale-read", "G2-item"
    ops: list[int]  # indices of the ops that prove it
    explanation: str  # one or two sentences a database engineer understands
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    checker: str
    valid: Validity
    anomalies: list[Anomaly] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)  # checker-specific figures
    notes: list[str] = field(default_factory=list)  # e.g. "time budget ran out after ..."

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(a.type for a in self.anomalies))

    def to_dict(self) -> dict[str, Any]:
        """dataclasses.asdict(self) and the counts: a deep copy of plain data, made directly
        (asdict's generic walk cost as much as a small check)."""
        d = {
            "checker": self.checker,
            "valid": self.valid,
            "anomalies": [
                {
                    "type": a.type,
                    "ops": _copy(a.ops),
                    "explanation": a.explanation,
                    "data": _copy(a.data),
                }
                if type(a) is Anomaly
                else asdict(a)
                for a in self.anomalies
            ],
            "stats": _copy(self.stats),
            "notes": _copy(self.notes),
        }
        d["counts"] = self.counts
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        return cls(
            checker=d["checker"],
            valid=d["valid"],
            anomalies=[Anomaly(**a) for a in d.get("anomalies", [])],
            stats=d.get("stats", {}),
            notes=d.get("notes", []),
        )


_ATOMS = frozenset((str, int, float, bool, type(None)))


def _copy(v: Any) -> Any:
    """What asdict makes of a field's value: plain JSON-like data copied directly; anything
    else (a dataclass, a namedtuple, a subclass, a set) by asdict's own rules."""
    t = type(v)
    if t in _ATOMS:
        return v
    if t is list:
        return [_copy(x) for x in v]
    if t is dict:
        return {_copy(k): _copy(x) for k, x in v.items()}
    if t is tuple:
        return tuple(_copy(x) for x in v)
    return asdict(_Box(v))["v"]


@dataclass
class _Box:
    v: Any


def worst(values: list[Validity]) -> Validity:
    """false beats unknown beats true."""
    if any(v is False for v in values):
        return False
    if any(v == "unknown" for v in values):
        return "unknown"
    return True


def compose(verdicts: list[Verdict]) -> dict[str, Any]:
    return {
        "valid": worst([v.valid for v in verdicts]),
        "checkers": {v.checker: v.to_dict() for v in verdicts},
    }


VERDICT_WORD = {True: "valid", False: "INVALID", "unknown": "unknown"}  # as a person reads it


def exit_code(valid: Validity) -> int:
    """0 valid, 1 anomalies found, 2 unknown."""
    return 0 if valid is True else 1 if valid is False else 2
