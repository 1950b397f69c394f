"""`splitbrain shrink RESULTS_DIR`: from a run whose verdict names an anomaly, search for a
smaller run that still shows the same kind, and hand it back as one command line.

The run's schedule is first made explicit (its schedule.json), so faults can be dropped and
retimed one by one (candidates.py). Each candidate is tried up to --tries times, with seeds
s, s+1, ... (s: the seed of the spec so far); it is kept only when it reproduced at the
threshold (stats.Acceptance: k of n), and then its seed becomes the first seed that
reproduced it. Greedy: after each kept step the candidates are asked again from the new spec;
the search ends when none of them reproduces (or the budget ends). The final spec is then run
--confirm more times for its reproduction rate. Every run stays on disk:

    RESULTS/shrinks/<test-name>/<stamp>/{shrink.json, shrink.txt,
        candidate-NNN/try-M/<test-name>/<stamp>/, confirm/try-M/<test-name>/<stamp>/}
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import signals
from harness.cli_spec import command_line
from harness.errors import SpecError
from harness.hunting.candidates import Candidate, Limits, candidates, steps_of, with_steps
from harness.hunting.stats import Acceptance, Budget, Rate
from harness.hunting.targets import Target
from harness.hunting.trial import (
    MAX_ERRORS_IN_A_ROW,
    Echo,
    Outcome,
    RunFn,
    attempt,
    new_dir,
    now,
    write_json,
)
from harness.report.results import anomaly_types
from harness.spec import TestSpec
from nemesis import schedule as schedules
from nemesis.steps import Step

Validate = Callable[[TestSpec], None]


@dataclass
class ShrinkConfig:
    acceptance: Acceptance
    budget: Budget
    kinds: tuple[str, ...] = ()  # --anomaly; default: the original's most frequent kind
    confirm: int = 3  # runs of the final spec for its rate (0: none)
    limits: Limits = field(default_factory=Limits)
    validate: Validate | None = None  # refuses a candidate before it runs (plan.check_spec)


@dataclass
class Try:
    seed: int
    dir: str | None
    hit: bool
    found: dict[str, int]
    seconds: float
    ops: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "dir": self.dir, "reproduced": self.hit, "anomalies": self.found,
                "seconds": round(self.seconds, 2), "ops": self.ops, "error": self.error}  # fmt: skip


@dataclass
class StepRecord:
    n: int
    what: str
    family: str
    decision: str  # kept | dropped | refused (not a valid run) | stopped (budget, Ctrl-C)
    tries: list[Try] = field(default_factory=list)
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        hits = sum(t.hit for t in self.tries)
        return {"candidate": self.n, "what": self.what, "family": self.family,
                "decision": self.decision, "reproduced": f"{hits} of {len(self.tries)}",
                "why": self.why, "tries": [t.to_dict() for t in self.tries]}  # fmt: skip


@dataclass
class ShrinkResult:
    dir: Path
    original_dir: Path
    original: TestSpec
    original_doc: dict[str, Any]
    target: Target
    config: ShrinkConfig
    final: TestSpec
    steps: list[StepRecord] = field(default_factory=list)
    confirm: list[Try] = field(default_factory=list)
    final_tries: list[Try] = field(default_factory=list)  # the tries that kept the final spec
    stopped_because: str = ""
    interrupted: bool = False
    evidence: list[str] = field(default_factory=list)

    @property
    def kept(self) -> list[StepRecord]:
        return [s for s in self.steps if s.decision == "kept"]

    @property
    def rate(self) -> Rate:
        tries = self.confirm or self.final_tries
        done = [t for t in tries if t.error is None]
        return Rate(sum(t.hit for t in done), len(done))

    @property
    def command(self) -> str:
        return command_line(self.final)

    def measures(self, spec: TestSpec, ops: int | None) -> dict[str, Any]:
        import workloads

        keys = workloads.workload_class(spec.workload).keys_knob
        return {
            "faults": len(steps_of(spec)) if spec.schedule else 0,
            "seconds": spec.time_limit,
            "workers": spec.concurrency,
            "keys": keys.get(spec.options) if keys is not None else None,
            "ops": ops,
            "nodes": spec.nodes,
            "rate_limit": spec.rate,
        }

    def final_ops(self) -> int | None:
        hits = [t for t in (*self.confirm, *self.final_tries) if t.hit]
        return hits[0].ops if hits else None

    def to_dict(self) -> dict[str, Any]:
        run = self.original_doc.get("run") or {}
        ops0 = sum(int((run.get("ops") or {}).get(k, 0)) for k in ("ok", "fail", "info"))
        return {
            "kind": "shrink",
            "original": {
                "dir": str(self.original_dir),
                "spec": self.original.to_dict(),
                "anomalies": anomaly_types(self.original_doc),
                "measures": self.measures(self.original, ops0),
            },  # fmt: skip
            "target": str(self.target),
            "kinds": list(self.target.kinds),
            "acceptance": {
                "tries": self.config.acceptance.tries,
                "need": self.config.acceptance.need,
            },  # fmt: skip
            "steps": [s.to_dict() for s in self.steps],
            "final": {
                "spec": self.final.to_dict(),
                "command": self.command,
                "measures": self.measures(self.final, self.final_ops()),
                "rate": self.rate.to_dict(),
                "rate_from": "confirmation runs" if self.confirm else "the tries that kept it",
                "confirm": [t.to_dict() for t in self.confirm],
                "evidence": self.evidence,
            },
            "stopped_because": self.stopped_because,
            "interrupted": self.interrupted,
            "finished": now(),
        }

    def text(self) -> str:
        run = self.original_doc.get("run") or {}
        ops0 = sum(int((run.get("ops") or {}).get(k, 0)) for k in ("ok", "fail", "info"))
        a, b = self.measures(self.original, ops0), self.measures(self.final, self.final_ops())
        lines = [
            f"shrink {self.original.name} keeping {self.target}: {self.dir}",
            f"from {self.original_dir}",
            f"runs: {sum(len(s.tries) for s in self.steps) + len(self.confirm)}; "
            f"stopped: {self.stopped_because}",
            "",
            f"{'':<10}{'original':>12}{'shrunk':>12}",
        ]
        for k in ("faults", "seconds", "workers", "keys", "ops", "nodes"):
            lines.append(f"{k:<10}{_cell(a[k]):>12}{_cell(b[k]):>12}")
        lines.append(f"{'reproduced':<10}{'1 of 1':>12}{self.rate.k:>6} of {self.rate.n:<3}")
        lines.append(f"reproduction rate of the shrunk run: {self.rate}")
        lines.append("")
        lines.append("steps kept:" if self.kept else "no step kept: nothing smaller reproduced")
        for s in self.kept:
            lines.append(f"  {s.n:>3}. {s.what} (reproduced {s.to_dict()['reproduced']})")
        tried = len(self.steps) - len(self.kept)
        if tried:
            lines.append(f"  ({tried} other candidate(s) did not reproduce or were refused)")
        lines.append("")
        lines.append("the shrunk run, one line:")
        lines.append(f"  {self.command}")
        if self.evidence:
            lines.append("")
            lines.append("its evidence:")
            lines += [f"  {e}" for e in self.evidence]
        if self.interrupted:
            lines.append("")
            lines.append("interrupted: the smallest run found so far is above; every run is kept")
        return "\n".join(lines) + "\n"


def _cell(v: Any) -> str:
    return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


# ---------------------------------------------------------------- the original run


def load_original(run_dir: Path, kinds: tuple[str, ...]) -> tuple[TestSpec, dict[str, Any], Target]:
    """The run's spec (its schedule made explicit), verdict and the target kind; a folder that
    is not a run, or whose verdict names no such anomaly, is a one-line SpecError."""
    run_dir = Path(run_dir)
    if not (run_dir / "verdict.json").is_file() or not (run_dir / "spec.json").is_file():
        raise SpecError(f"{run_dir}: not a run folder (no verdict.json and spec.json)")
    try:
        doc = json.loads((run_dir / "verdict.json").read_text())
    except (OSError, ValueError) as e:
        raise SpecError(f"{run_dir}/verdict.json: cannot read: {e}") from None
    spec = TestSpec.load(run_dir / "spec.json")
    found = anomaly_types(doc)
    if not found:
        word = {True: "valid", False: "invalid", "unknown": "unknown"}.get(doc.get("valid"), "?")
        raise SpecError(f"{run_dir}: its verdict ({word}) names no anomaly: nothing to shrink")
    from harness.hunting.targets import target_for

    if kinds:
        target = target_for(spec, kinds)
        if not target.matched(doc):
            raise SpecError(
                f"{run_dir}: it shows {', '.join(sorted(found))}, not {' or '.join(kinds)}"
            )
    else:  # the kind it showed most often
        top = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        target = target_for(spec, (top,)) if top in _known(spec) else Target((top,))
    return explicit(spec, run_dir), doc, target


def _known(spec: TestSpec) -> dict[str, str]:
    from harness.hunting.targets import known_kinds

    return known_kinds(spec)


def explicit(spec: TestSpec, run_dir: Path | None = None) -> TestSpec:
    """The spec with the schedule it ran written out (schedule.json, else as the seed draws it)."""
    if spec.schedule or not spec.nemesis:
        return spec
    steps: list[Step] | None = None
    if run_dir is not None and (run_dir / "schedule.json").is_file():
        try:
            raw = json.loads((run_dir / "schedule.json").read_text())
            steps = [Step(float(s["at"]), s["fault"], float(s["duration"]), dict(s["params"]))
                     for s in raw]  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            steps = None
    if steps is None:
        steps = schedules.build(spec, random.Random(spec.seed + 1))
    return with_steps(spec, steps)


# ---------------------------------------------------------------- the search


def _key(spec: TestSpec) -> str:
    d = spec.to_dict()
    d.pop("seed")
    return json.dumps(d, sort_keys=True, default=str)


def shrink(
    run_dir: Path, results_root: Path, run_fn: RunFn, config: ShrinkConfig, echo: Echo = print
) -> ShrinkResult:
    original, doc, target = load_original(run_dir, config.kinds)
    out = new_dir(results_root, "shrinks", original.name)
    result = ShrinkResult(out, Path(run_dir), original, doc, target, config, original)
    budget, acc = config.budget, config.acceptance
    run = doc.get("run") or {}
    ops0 = sum(int((run.get("ops") or {}).get(k, 0)) for k in ("ok", "fail", "info"))
    rate_seen = ops0 / original.time_limit if ops0 else None
    tried = {_key(original)}
    rejected: set[str] = set()
    counter = 0
    errors = [0]
    echo(f"shrink {original.name} keeping {target} (kept at {acc} tries) -> {out}")

    def trial(
        spec: TestSpec, root: Path, tries: int, need: Acceptance | None
    ) -> tuple[list[Try], str]:
        """Run spec up to `tries` times; '' or why it stopped early (budget, interrupt)."""
        got: list[Try] = []
        for i in range(tries):
            if need is not None and need.decide(sum(t.hit for t in got), len(got)) != "more":
                break
            reserve = config.confirm if need is not None else 0
            why = budget.why_not(spec.time_limit, reserve_runs=reserve)
            if why:
                return got, why
            s = spec.replace(seed=spec.seed + i, name=spec.name)
            o: Outcome = attempt(run_fn, s, root / f"try-{i + 1}", budget.clock)
            budget.spent(o.seconds)
            hit = o.completed and target.hit(o.doc)
            t = Try(s.seed, str(o.dir) if o.dir else None, hit,
                    target.matched(o.doc) if o.doc else {}, o.seconds, o.ops, o.error)  # fmt: skip
            got.append(t)
            shown = ", ".join(f"{k} x{n}" for k, n in sorted(t.found.items()))
            what = ("interrupted" if o.interrupted else f"error: {o.error}" if o.error
                    else f"reproduced ({shown})" if hit else "not reproduced")  # fmt: skip
            echo(f"    try {i + 1} seed {s.seed}: {what} ({o.seconds:.0f} s)")
            if o.interrupted:
                return got, "interrupted"
            errors[0] = errors[0] + 1 if o.error else 0
            if errors[0] >= MAX_ERRORS_IN_A_ROW:
                return got, f"{errors[0]} runs in a row failed: {o.error}"
        return got, ""

    with signals.handled() as interrupts:
        try:
            current = original
            stop = ""
            while not stop:
                progressed = False
                for cand in candidates(current, rate_seen, config.limits):
                    key = _key(cand.spec)
                    if key in tried or cand.what in rejected:
                        continue  # a move that failed once is not tried again elsewhere
                    tried.add(key)
                    counter += 1
                    rec = StepRecord(counter, cand.what, cand.family, "dropped")
                    refused = _refusal(cand, config.validate)
                    if refused:
                        rec.decision, rec.why = "refused", refused
                        rejected.add(cand.what)
                        result.steps.append(rec)
                        continue
                    echo(f"  candidate {counter} ({cand.family}): {cand.what}")
                    rec.tries, stop = trial(
                        cand.spec, out / f"candidate-{counter:03d}", acc.tries, acc
                    )
                    hits = [t for t in rec.tries if t.hit]
                    decision = acc.decide(len(hits), len(rec.tries))
                    result.steps.append(rec)
                    if decision == "accept":
                        rec.decision = "kept"
                        current = cand.spec.replace(seed=hits[0].seed, name=cand.spec.name)
                        result.final, result.final_tries = current, rec.tries
                        done = [t for t in rec.tries if t.hit and t.ops]
                        if done:
                            rate_seen = done[0].ops / current.time_limit
                        echo(f"  kept: {cand.what} ({len(hits)} of {len(rec.tries)})")
                        write_json(out / "shrink.json", result.to_dict())
                        progressed = True
                        break
                    if stop:
                        rec.decision, rec.why = "stopped", stop
                        break
                    rejected.add(cand.what)
                    echo(f"  dropped ({len(hits)} of {len(rec.tries)})")
                    write_json(out / "shrink.json", result.to_dict())
                if not progressed and not stop:
                    stop = "no smaller candidate reproduces"
            result.stopped_because = stop
            if stop != "interrupted" and config.confirm:
                echo(f"  confirming the shrunk run: {config.confirm} runs")
                result.confirm, why = trial(result.final, out / "confirm", config.confirm, None)
                if why == "interrupted":
                    result.stopped_because = "interrupted"
            if result.stopped_because == "interrupted":
                result.interrupted = True
        except KeyboardInterrupt:
            result.interrupted = True
            result.stopped_because = "interrupted"
        finally:
            with interrupts.shield():
                if interrupts.fired:
                    result.interrupted, result.stopped_because = True, "interrupted"
                result.evidence = _evidence(result)
                write_json(out / "shrink.json", result.to_dict())
                (out / "shrink.txt").write_text(result.text())
    return result


def _refusal(cand: Candidate, validate: Validate | None) -> str:
    if validate is None:
        return ""
    try:
        validate(cand.spec)
    except SpecError as e:
        return str(e)
    return ""


def _evidence(result: ShrinkResult, most: int = 8) -> list[str]:
    """The first target anomaly of a run of the final spec that reproduced: its explanation
    and its ops as the history holds them."""
    runs = [t.dir for t in (*result.confirm, *result.final_tries) if t.hit and t.dir]
    if not runs:
        if result.final is not result.original:
            return []
        runs = [str(result.original_dir)]
    d = Path(runs[0])
    try:
        doc = json.loads((d / "verdict.json").read_text())
    except (OSError, ValueError):
        return []
    for v in (doc.get("checkers") or {}).values():
        for a in v.get("anomalies") or []:
            if any(a.get("type") == k for k in result.target.matched(doc)):
                lines = [f"{a['type']}: {a.get('explanation', '')}", f"run: {d}"]
                want = set(a.get("ops") or [])
                shown = 0
                try:
                    with open(d / "history.jsonl") as fh:
                        for line in fh:
                            if shown >= most:
                                break
                            if '"index"' in line and json.loads(line).get("index") in want:
                                lines.append(line.strip())
                                shown += 1
                except (OSError, ValueError):
                    pass
                if len(want) > shown:
                    lines.append(f"... {len(want) - shown} more op(s) in verdict.json")
                return lines
    return []
