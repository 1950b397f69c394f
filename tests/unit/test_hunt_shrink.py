"""The hunt and shrink loops (harness/hunting/hunt.py, shrink.py) with a fake RunFn: fast,
deterministic worlds whose bugs are rules over the spec (a bug that needs two faults
together, a race the seed decides), Ctrl-C between and during runs, runs that fail, and bad
input. tests/unit/test_hunt_memory.py runs them end to end through the runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ClusterError, SpecError
from harness.hunting.candidates import Limits, steps_of, with_steps
from harness.hunting.hunt import HuntConfig, hunt
from harness.hunting.shrink import ShrinkConfig, shrink
from harness.hunting.stats import Acceptance, Budget
from harness.hunting.targets import Target
from harness.plan import check_spec
from harness.spec import TestSpec
from nemesis.schedule import Step
from tests.doubles.memory_db import race_shows

MEM = {"db": "memory", "provider": "memory"}
STEPS = [
    Step(2.0, "partition", 2.0, {"shape": "halves", "seed": 1}),
    Step(6.0, "pause", 2.0, {"target": "random", "seed": 2}),
    Step(10.0, "kill", 2.0, {"target": "primary", "seed": 3}),
    Step(14.0, "packet-loss", 2.0, {"shape": "halves", "seed": 4, "loss": 0.5}),
]


@dataclass
class Result:
    dir: Path
    valid: Any
    doc: dict[str, Any]


Rule = Callable[[TestSpec], bool]


class World:
    """A fake RunFn: a run 'shows' lost writes when rule(spec) holds; it writes a run folder
    (spec.json, verdict.json, a one-line history) as the runner would."""

    def __init__(self, rule: Rule, interrupt_at: int = 0, raise_at: tuple[int, ...] = ()) -> None:
        self.rule, self.interrupt_at, self.raise_at = rule, interrupt_at, raise_at
        self.specs: list[TestSpec] = []

    def __call__(self, spec: TestSpec, root: Path) -> Result:
        self.specs.append(spec)
        n = len(self.specs)
        if n == self.interrupt_at:
            raise KeyboardInterrupt("SIGINT")
        if n in self.raise_at:
            raise ClusterError("the cluster did not come up (on purpose)")
        d = root / spec.name / f"run-{n}"
        d.mkdir(parents=True)
        shown = self.rule(spec)
        spec.save(d / "spec.json")
        anomalies = (
            [{"type": "lost-write", "ops": [0], "explanation": "add of 1 lost"}] if shown else []
        )
        doc = {"valid": not shown, "run": {"aborted": None, "ops": {"ok": 10 * spec.concurrency},
                                           "faults": {"planned": list(spec.nemesis),
                                                      "began": list(spec.nemesis)}},
               "checkers": {"set": {"valid": not shown, "anomalies": anomalies,
                                    "counts": {"lost-write": 1} if shown else {}}}}  # fmt: skip
        (d / "verdict.json").write_text(json.dumps(doc))
        (d / "history.jsonl").write_text('{"index":0,"type":"ok","f":"add","value":[0,1]}\n')
        return Result(d, doc["valid"], doc)


def faults(spec: TestSpec) -> set[str]:
    return {s.fault for s in steps_of(spec)}


def needs_two(spec: TestSpec) -> bool:
    return {"partition", "kill"} <= faults(spec)


def race(spec: TestSpec) -> bool:
    return race_shows(spec.seed) and bool(spec.nemesis)


def original(tmp_path: Path, rule: Rule = needs_two, seed: int = 3) -> Path:
    spec = with_steps(TestSpec(**MEM, nemesis=("partition",), time_limit=20, concurrency=8,
                               rate=100, seed=seed,
                               options={"pause_probe_s": 0.05, "loss": 0.5}), STEPS)  # fmt: skip
    r = World(rule)(spec, tmp_path / "orig")
    assert r.valid is False
    return r.dir


def shrink_config(**kw: Any) -> ShrinkConfig:
    base: dict[str, Any] = {
        "acceptance": Acceptance.at(3, 0.34), "budget": Budget(max_runs=200),
        "limits": Limits(0.5, 0.25, 0.5, 0.5, 1.0), "validate": check_spec,
    }  # fmt: skip
    return ShrinkConfig(**{**base, **kw})


# ---------------------------------------------------------------- shrink
def test_a_bug_that_needs_two_faults_shrinks_to_those_two(tmp_path: Path) -> None:
    world = World(needs_two)
    r = shrink(original(tmp_path), tmp_path / "res", world, shrink_config(), echo=lambda s: None)
    assert faults(r.final) == {"partition", "kill"} and len(steps_of(r.final)) == 2
    assert r.final.concurrency == 1 and r.final.options.get("active_keys") == 1
    assert r.final.nodes == 2  # a partition needs two sides
    assert steps_of(r.final)[0].at == 0.5 and r.final.time_limit < 20
    assert r.stopped_because == "no smaller candidate reproduces"
    # every kept step reproduced at the threshold; the final rate is the confirmation's
    for s in r.kept:
        assert sum(t.hit for t in s.tries) >= 2, s.what
    assert (r.rate.k, r.rate.n) == (3, 3)
    assert r.original.options == {"pause_probe_s": 0.05, "loss": 0.5}
    assert r.final.options == {"active_keys": 1}  # the dropped faults' knobs went with them
    doc = json.loads((r.dir / "shrink.json").read_text())
    assert doc["final"]["measures"]["faults"] == 2 and doc["original"]["measures"]["faults"] == 4
    assert doc["final"]["command"] == r.command and "--schedule" in r.command
    assert "lost-write: add of 1 lost" in (r.dir / "shrink.txt").read_text()
    # every run stays on disk, under the shrink's folder
    runs = list(r.dir.rglob("verdict.json"))
    assert len(runs) == len(world.specs)


def test_a_race_is_kept_only_at_the_threshold(tmp_path: Path) -> None:
    """The seed decides the race: each candidate is tried from the seed of the spec so far,
    and kept exactly when two of its (up to) three seeds showed it."""
    world = World(race)
    r = shrink(original(tmp_path, race, seed=3), tmp_path / "res", world, shrink_config(),
               echo=lambda s: None)  # fmt: skip
    assert len(steps_of(r.final)) == 1  # one fault is enough for this race
    assert race_shows(r.final.seed)  # the final seed is one that reproduced it
    for s in r.steps:
        hits = sum(t.hit for t in s.tries)
        assert (s.decision == "kept") == (hits >= 2), (s.what, hits, len(s.tries))
        seeds = [t.seed for t in s.tries]
        assert seeds == list(range(seeds[0], seeds[0] + len(seeds)))


def test_a_step_that_shows_once_in_three_is_dropped_at_two_of_three(tmp_path: Path) -> None:
    calls: list[int] = []

    first = original(tmp_path, lambda s: True, seed=3)
    orig = TestSpec.load(first / "spec.json")

    def flaky(spec: TestSpec) -> bool:  # the original always; anything smaller once in three
        calls.append(spec.seed)
        return spec.replace(seed=orig.seed, name=orig.name) == orig or spec.seed % 3 == 0

    r = shrink(first, tmp_path / "res", World(flaky),
               shrink_config(confirm=0), echo=lambda s: None)  # fmt: skip
    assert r.final == orig and r.kept == []
    assert r.steps and all(s.decision in ("dropped", "refused") for s in r.steps)
    assert "no step kept" in r.text()


def test_the_budget_is_obeyed_and_keeps_room_for_the_confirmation(tmp_path: Path) -> None:
    world = World(needs_two)
    r = shrink(original(tmp_path), tmp_path / "res", world,
               shrink_config(budget=Budget(max_runs=12), confirm=3), echo=lambda s: None)  # fmt: skip
    assert len(world.specs) == 12 and len(r.confirm) == 3
    assert r.stopped_because.startswith("run budget spent")


def test_ctrl_c_keeps_the_smallest_found_so_far(tmp_path: Path) -> None:
    world = World(needs_two, interrupt_at=17)  # runs 15 and 16 kept "drop pause"
    r = shrink(original(tmp_path), tmp_path / "res", world, shrink_config(), echo=lambda s: None)
    assert r.interrupted and r.stopped_because == "interrupted" and r.confirm == []
    assert r.kept and len(steps_of(r.final)) < 4
    doc = json.loads((r.dir / "shrink.json").read_text())
    assert doc["interrupted"] is True and doc["final"]["spec"]["schedule"] == r.final.schedule
    assert "interrupted" in (r.dir / "shrink.txt").read_text()


def test_runs_that_fail_count_as_not_reproduced_and_three_in_a_row_stop(tmp_path: Path) -> None:
    world = World(needs_two, raise_at=(1, 2, 3))
    r = shrink(original(tmp_path), tmp_path / "res", world, shrink_config(), echo=lambda s: None)
    assert r.stopped_because.startswith("3 runs in a row failed: the cluster did not come up")
    assert r.kept == []


@pytest.mark.parametrize(
    ("setup", "kinds", "why"),
    [
        ("valid", (), "names no anomaly: nothing to shrink"),
        ("shown", ("G-nonadjacent",), "never report it"),
        ("shown", ("stale-read",), "it shows lost-write, not stale-read"),
        ("empty", (), "not a run folder"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, setup: str, kinds: tuple[str, ...], why: str
) -> None:
    if setup == "empty":
        d = tmp_path / "nothing"
        d.mkdir()
    else:
        d = original(tmp_path, needs_two if setup == "shown" else needs_two)
        if setup == "valid":
            doc = json.loads((d / "verdict.json").read_text())
            doc["checkers"]["set"] = {"valid": True, "anomalies": [], "counts": {}}
            doc["valid"] = True
            (d / "verdict.json").write_text(json.dumps(doc))
    with pytest.raises(SpecError, match=why) as e:
        shrink(d, tmp_path / "res", World(needs_two), shrink_config(kinds=kinds))
    assert "\n" not in str(e.value)
    assert not (tmp_path / "res").exists()  # refused before anything ran or was made


# ---------------------------------------------------------------- hunt
def hunt_spec(**kw: Any) -> TestSpec:
    return TestSpec(**{**MEM, "nemesis": ("kill",), "time_limit": 3, "fault_interval": 1, **kw})


def test_a_race_is_found_at_the_first_seed_that_shows_it(tmp_path: Path) -> None:
    world = World(race)
    r = hunt(hunt_spec(seed=0), tmp_path, world,
             HuntConfig(Target(("lost-write",)), Budget(max_runs=20)), echo=lambda s: None)  # fmt: skip
    first = next(s for s in range(20) if race_shows(s))
    assert r.first is not None and r.first.n == first + 1 and r.first.seed == first
    assert len(world.specs) == first + 1 and r.stopped_because == "found"
    assert [s.seed for s in world.specs] == list(range(first + 1))
    doc = json.loads((r.dir / "hunt.json").read_text())
    assert doc["first_detection"]["runs"] == first + 1 and doc["rate"]["k"] == 1
    assert all(Path(a["dir"]).is_relative_to(r.dir) for a in doc["attempts"])
    assert (r.dir / "attempt-001").is_dir()


def test_the_whole_budget_measures_the_rate(tmp_path: Path) -> None:
    r = hunt(hunt_spec(seed=100), tmp_path, World(race),
             HuntConfig(Target(), Budget(max_runs=30), stop_after=0), echo=lambda s: None)  # fmt: skip
    k = sum(race_shows(s) for s in range(100, 130))
    assert (r.rate.k, r.rate.n) == (k, 30)
    lo, hi = r.rate.interval
    assert lo < k / 30 < hi
    assert r.stopped_because == "run budget spent (30 of 30 runs)"


def test_a_hunt_that_finds_nothing_says_so_with_the_rate_bound(tmp_path: Path) -> None:
    r = hunt(hunt_spec(), tmp_path, World(lambda s: False),
             HuntConfig(Target(("lost-write",)), Budget(max_runs=10)), echo=lambda s: None)  # fmt: skip
    assert r.first is None
    text = r.text()
    assert "not found in 10 completed run(s)" in text
    assert "0 of 10 (rate below 31% at 95% confidence)" in text


def test_steering_finds_what_plain_runs_cannot(tmp_path: Path) -> None:
    """Lost writes only with the primary killed and 20 workers or more: neither is what the
    flags give (kill_target either, 10 workers), but both are left open."""

    def rule(spec: TestSpec) -> bool:
        return spec.option("kill_target") == "primary" and spec.concurrency >= 20

    cfg = HuntConfig(Target(("lost-write",)), Budget(max_runs=30))
    plain = hunt(hunt_spec(), tmp_path / "plain", World(rule), cfg, echo=lambda s: None)
    assert plain.first is None
    cfg = HuntConfig(Target(("lost-write",)), Budget(max_runs=30), steer=True,
                     fixed=frozenset({"time_limit", "fault_interval"}))  # fmt: skip
    steered = hunt(hunt_spec(), tmp_path / "steered", World(rule), cfg, echo=lambda s: None)
    assert steered.first is not None
    assert {d.name for d in steered.varied} == {"opt:kill_target", "concurrency", "opt:active_keys"}
    doc = json.loads((steered.dir / "hunt.json").read_text())
    assert set(doc["varied"]) == {"kill_target", "concurrency", "active_keys"}
    assert "varied (left open by the flags)" in steered.text()


def test_ctrl_c_between_runs_stops_and_keeps_what_was_found(tmp_path: Path) -> None:
    world = World(race, interrupt_at=6)
    r = hunt(hunt_spec(seed=0), tmp_path, world,
             HuntConfig(Target(), Budget(max_runs=20), stop_after=0), echo=lambda s: None)  # fmt: skip
    assert r.interrupted and len(r.attempts) == 6 and r.attempts[-1].interrupted
    assert r.rate.n == 5  # an interrupted run says nothing about the rate
    assert json.loads((r.dir / "hunt.json").read_text())["interrupted"] is True


def test_a_hunt_gives_up_after_three_failed_runs_in_a_row(tmp_path: Path) -> None:
    r = hunt(hunt_spec(), tmp_path, World(race, raise_at=(2, 3, 4)),
             HuntConfig(Target(), Budget(max_runs=20), stop_after=0), echo=lambda s: None)  # fmt: skip
    assert r.stopped_because.startswith("3 runs in a row failed")
    assert r.rate.n == 1 and [a.error is not None for a in r.attempts] == [False, True, True, True]


def test_a_spec_error_of_a_run_is_raised_after_the_summary_is_written(tmp_path: Path) -> None:
    def bad(spec: TestSpec, root: Path) -> Result:
        raise SpecError("--opt nope: unknown")

    with pytest.raises(SpecError, match="nope"):
        hunt(
            hunt_spec(),
            tmp_path,
            bad,
            HuntConfig(Target(), Budget(max_runs=3)),
            echo=lambda s: None,
        )
    assert list(tmp_path.rglob("hunt.json"))
