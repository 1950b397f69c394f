"""A suite as data: cases with their expectations, and the results of running them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import SpecError
from harness.spec import TestSpec


class SuiteError(SpecError):
    """A suite file problem, in one line naming the file, the case and the field."""


@dataclass(frozen=True)
class Expect:
    anomalies: frozenset[str] = frozenset()  # must appear; empty (and no `may`) = valid
    may: frozenset[str] = frozenset()  # may appear or not without being a surprise

    @property
    def allowed(self) -> frozenset[str]:
        return self.anomalies | self.may

    def __str__(self) -> str:
        must = ", ".join(sorted(self.anomalies)) if self.anomalies else "valid"
        return must + (f" (may: {', '.join(sorted(self.may))})" if self.may else "")


@dataclass(frozen=True)
class SuiteCase:
    name: str
    spec: TestSpec
    expect: Expect
    allow_unknown: bool = False
    group: str = ""  # the case as the file names it (its matrix makes one run per value)


@dataclass
class CaseResult:
    case: SuiteCase
    outcome: str  # pass | fail | error
    run_dir: Path | None = None
    valid: Any = None
    found: dict[str, int] = field(default_factory=dict)
    surprises: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def observed(self) -> str:
        if self.outcome == "error" and self.run_dir is None:
            return "error"
        if self.found:
            return ", ".join(f"{t} x{n}" for t, n in sorted(self.found.items()))
        return {True: "valid", False: "invalid", "unknown": "unknown"}.get(
            self.valid, str(self.valid)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.case.name,
            "spec": self.case.spec.to_dict(),
            "expect": sorted(self.case.expect.anomalies) or "valid",
            "allow_unknown": self.case.allow_unknown,
            "outcome": self.outcome,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "valid": self.valid,
            "anomalies": self.found,
            "surprises": self.surprises,
            "duration_s": round(self.duration_s, 2),
        }


@dataclass
class Suite:
    name: str
    path: Path
    cases: list[SuiteCase]
    description: str = ""


@dataclass
class SuiteResult:
    suite: Suite
    dir: Path
    results: list[CaseResult]

    @property
    def passed(self) -> bool:
        return all(r.outcome == "pass" for r in self.results)

    def counts(self) -> dict[str, int]:
        return {k: sum(r.outcome == k for r in self.results) for k in ("pass", "fail", "error")}
