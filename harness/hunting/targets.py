"""What a hunt looks for and a shrink keeps: anomaly kinds in a run's verdict.json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness import checkers
from harness.errors import SpecError
from harness.report.results import anomaly_types
from harness.spec import TestSpec


@dataclass(frozen=True)
class Target:
    """Anomaly kinds, any of which counts (a kind is also met by its special cases in the
    list-append taxonomy: G1 by G1a); no kind = any anomaly at all."""

    kinds: tuple[str, ...] = ()

    def matched(self, doc: dict[str, Any]) -> dict[str, int]:
        """The anomaly counts of a verdict.json that meet the target."""
        found = anomaly_types(doc)
        if not self.kinds:
            return found
        return {t: n for t, n in found.items() if any(checkers.meets(t, k) for k in self.kinds)}

    def hit(self, doc: dict[str, Any]) -> bool:
        """The run showed it: an anomaly the checkers listed (whatever else went wrong in the
        run: evidence in the history stands). An aborted run shows nothing."""
        if (doc.get("run") or {}).get("aborted"):
            return False
        return any(n > 0 for n in self.matched(doc).values())

    def __str__(self) -> str:
        return " or ".join(self.kinds) if self.kinds else "any anomaly"


def checkers_of(spec: TestSpec) -> tuple[str, ...]:
    import workloads

    return tuple(workloads.workload_class(spec.workload).checkers)


def known_kinds(spec: TestSpec) -> dict[str, str]:
    """kind -> the checker of this spec's workload that reports it."""
    out: dict[str, str] = {}
    for name in checkers_of(spec):
        for kind in checkers.anomalies_of(name):
            out.setdefault(kind, name)
    return out


def target_for(spec: TestSpec, kinds: tuple[str, ...]) -> Target:
    """The Target of --anomaly KIND,...; a kind this workload's checkers never report is a
    one-line SpecError naming the ones they do."""
    known = known_kinds(spec)
    for k in kinds:
        if k not in known:
            raise SpecError(
                f"--anomaly {k!r}: the {spec.workload} workload's checkers "
                f"({', '.join(checkers_of(spec))}) never report it; they report: "
                f"{', '.join(sorted(known))}"
            )
    return Target(tuple(dict.fromkeys(kinds)))


def related(doc: dict[str, Any], target: Target, spec: TestSpec) -> int:
    """Anomalies of a kind related to the target but not meeting it: reported by the same
    checker (a stale read when hunting lost writes; a G-single when hunting G-nonadjacent).
    What steering counts as 'came closer'."""
    found = anomaly_types(doc)
    if not target.kinds:
        return 0
    known = known_kinds(spec)
    families = {known[k] for k in target.kinds if k in known}
    met = target.matched(doc)
    return sum(n for t, n in found.items() if t not in met and known.get(t) in families)
