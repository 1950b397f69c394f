"""The pure pieces of hunt and shrink (harness/hunting): rates and their intervals, the
k-of-n acceptance rule, budgets, targets, the steering's dimensions and score, the shrink's
candidates, and the one-line command that reproduces a spec."""

from __future__ import annotations

import random
import shlex
from typing import Any

import pytest

from harness.cli_spec import command_line, spec_from
from harness.errors import SpecError
from harness.hunting import steer
from harness.hunting.candidates import Limits, candidates, steps_of, with_steps
from harness.hunting.stats import (
    Acceptance,
    Budget,
    Rate,
    clopper_pearson,
    hunt_done,
    parse_duration,
    wilson,
)
from harness.hunting.targets import Target, target_for
from harness.options import validate
from harness.plan import owners
from harness.spec import TestSpec
from nemesis.schedule import Step, format_steps


# ---------------------------------------------------------------- rates
@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [  # the beta quantiles (scipy.stats.beta.ppf), as R's binom.test
        (0, 10, 0.0, 0.3084971),
        (5, 10, 0.1870860, 0.8129140),
        (1, 3, 0.0084038, 0.9057007),
        (3, 40, 0.0157422, 0.2038647),
        (10, 10, 0.6915029, 1.0),
    ],
)
def test_clopper_pearson_matches_the_exact_interval(k: int, n: int, lo: float, hi: float) -> None:
    a, b = clopper_pearson(k, n)
    assert a == pytest.approx(lo, abs=1e-6) and b == pytest.approx(hi, abs=1e-6)


def test_wilson_matches_known_values_and_no_runs_say_nothing() -> None:
    a, b = wilson(5, 10)
    assert a == pytest.approx(0.2365931, abs=1e-6) and b == pytest.approx(0.7634069, abs=1e-6)
    assert wilson(0, 0) == (0.0, 1.0) == clopper_pearson(0, 0)
    with pytest.raises(ValueError):
        clopper_pearson(4, 3)


def test_a_rate_of_nothing_found_says_its_upper_bound() -> None:
    assert str(Rate(0, 10)) == "0 of 10 (rate below 31% at 95% confidence)"
    assert str(Rate(3, 4)) == "3 of 4 = 75% (95% CI 19%-99%)"
    d = Rate(1, 3).to_dict()
    assert d["k"] == 1 and d["n"] == 3 and d["ci95"] == [0.0084, 0.9057]


# ---------------------------------------------------------------- acceptance and budgets
@pytest.mark.parametrize(
    ("tries", "rate", "need"), [(3, 0.34, 2), (3, 0.3, 1), (3, 1.0, 3), (5, 0.5, 3), (1, 0.01, 1)]
)
def test_the_threshold_is_the_least_k_of_n_at_the_rate(tries: int, rate: float, need: int) -> None:
    assert Acceptance.at(tries, rate).need == need


def test_a_candidate_is_decided_as_soon_as_it_can_be() -> None:
    a = Acceptance(3, 2)
    assert a.decide(0, 0) == "more"
    assert a.decide(2, 2) == "accept"  # two hits: the third try is not needed
    assert a.decide(0, 2) == "reject"  # one try left cannot make two
    assert a.decide(1, 2) == "more"
    assert a.decide(1, 3) == "reject"
    with pytest.raises(SpecError, match="--tries must be >= 1"):
        Acceptance.at(0, 0.5)
    with pytest.raises(SpecError, match="--min-rate must be in"):
        Acceptance.at(3, 0)


def test_a_budget_starts_no_run_that_would_overrun_it() -> None:
    now = [0.0]
    b = Budget(max_runs=3, max_seconds=100, clock=lambda: now[0])
    assert b.why_not(30) is None
    now[0] = 40
    b.spent(40)
    assert b.why_not(30) is None  # 40 + 40 (the longest run so far) <= 100
    now[0] = 70
    b.spent(30)
    assert "time budget spent" in (b.why_not(30) or "")
    b2 = Budget(max_runs=2, clock=lambda: 0.0)
    b2.spent(1)
    assert b2.why_not(1) is None and "run budget spent (1 of 2" in (
        b2.why_not(1, reserve_runs=1) or ""
    )
    for bad in ({"max_runs": 0}, {"max_seconds": 0.0}):
        with pytest.raises(SpecError, match="must be"):
            Budget(**bad)  # type: ignore[arg-type]


def test_a_hunt_stops_at_its_nth_detection_or_after_failed_runs() -> None:
    assert hunt_done(0, 1, 0, 3) == "" and hunt_done(1, 1, 0, 3) == "found"
    assert hunt_done(1, 2, 0, 3) == "" and hunt_done(2, 2, 0, 3) == "found 2 times"
    assert hunt_done(50, 0, 0, 3) == ""  # 0: the whole budget, for the rate
    assert hunt_done(0, 1, 3, 3) == "3 runs in a row failed"


def test_durations_read_as_seconds() -> None:
    assert [parse_duration(x) for x in ("90", "90s", "1.5m", "2h")] == [90, 90, 90, 7200]
    for bad in ("0", "-1m", "soon", ""):
        with pytest.raises(SpecError, match="--max-time"):
            parse_duration(bad)


# ---------------------------------------------------------------- targets
def doc(counts: dict[str, int], aborted: str | None = None, **run: Any) -> dict[str, Any]:
    return {"valid": not counts, "checkers": {"c": {"counts": counts}},
            "run": {"aborted": aborted, **run}}  # fmt: skip


def test_a_target_is_met_by_its_kind_or_a_special_case_of_it() -> None:
    assert Target(("lost-write",)).hit(doc({"lost-write": 2, "stale-read": 1}))
    assert not Target(("lost-write",)).hit(doc({"stale-read": 1}))
    assert Target(("G1",)).matched(doc({"G1a": 1, "G2-item": 2})) == {"G1a": 1}
    assert Target().hit(doc({"stale-read": 1})) and not Target().hit(doc({}))
    assert not Target().hit(doc({"lost-write": 1}, aborted="interrupted (SIGINT)"))
    assert str(Target()) == "any anomaly" and str(Target(("a", "b"))) == "a or b"


def test_a_kind_the_workload_never_reports_is_refused_in_one_line() -> None:
    spec = TestSpec(db="memory", provider="memory", workload="set")
    assert target_for(spec, ("lost-write", "lost-write")).kinds == ("lost-write",)
    with pytest.raises(SpecError, match=r"'G-nonadjacent': the set workload's checkers \(set\) "
                       r"never report it; they report: divergence, "):  # fmt: skip
        target_for(spec, ("G-nonadjacent",))
    append = TestSpec(db="memory", provider="memory", workload="append")
    assert target_for(append, ("G-nonadjacent", "G1")).kinds == ("G-nonadjacent", "G1")


# ---------------------------------------------------------------- steering
MEM = {"db": "memory", "provider": "memory"}


def test_only_what_the_flags_leave_open_is_varied() -> None:
    spec = TestSpec(**MEM, nemesis=("partition", "kill"), time_limit=40, fault_interval=4,
                    options={"failover_how": "isolate"})  # fmt: skip
    names = [d.name for d in steer.open_dimensions(spec, frozenset())]
    assert names == ["fault_interval", "partition", "opt:kill_target", "concurrency",
                     "opt:active_keys"]  # fmt: skip
    fixed = steer.open_dimensions(
        spec.replace(options={"kill_target": "primary", "active_keys": 3}),
        frozenset({"fault_interval", "concurrency", "partition"}),
    )
    assert fixed == []
    fi = next(d for d in steer.open_dimensions(spec, frozenset()) if d.name == "fault_interval")
    assert fi.values == (2.0, 3.0, 4.0, 6.0, 8.0)  # each fits both faults in --time 40


def test_a_variation_sets_fields_and_options_and_keeps_the_name() -> None:
    spec = TestSpec(**MEM, nemesis=("kill",), time_limit=30)
    v = (("concurrency", 20), ("opt:kill_target", "primary"), ("partition", ("halves",)))
    s = steer.apply(spec, v)
    assert (s.concurrency, s.options["kill_target"], s.partition) == (20, "primary", ("halves",))
    assert s.name == spec.name
    assert steer.describe(v) == "concurrency=20, kill_target=primary, partition=halves"
    assert steer.describe(()) == "as given"


def test_the_score_ranks_runs_that_came_closer() -> None:
    spec = TestSpec(**MEM, nemesis=("kill",))
    t = Target(("lost-write",))
    calm = doc({}, faults={"planned": ["kill"], "began": []}, ops={"ok": 100})
    shaken = doc({}, faults={"planned": ["kill"], "began": ["kill"]},
                 ops={"ok": 80, "info": 10, "fail": 10})  # fmt: skip
    related = doc({"stale-read": 5}, faults={"planned": ["kill"], "began": ["kill"]},
                  ops={"ok": 80, "info": 10, "fail": 10})  # fmt: skip
    found = doc({"lost-write": 1})
    scores = [steer.score(d, t, spec) for d in (calm, shaken, related, found)]
    assert scores == sorted(scores) and len(set(scores)) == 4 and scores[-1] == 10
    assert steer.score(doc({}, aborted="interrupted"), t, spec) == 0


def test_steering_favours_the_closer_variations_and_stays_with_a_find() -> None:
    """A world where runs come closer as concurrency grows and show the anomaly only at 40:
    the steering gets there; once found it stays there (its rate is what comes next)."""
    dims = [steer.Dimension("concurrency", (5, 10, 20, 40)), steer.Dimension("opt:x", ("a", "b"))]
    s = steer.Steering(dims, random.Random(1))
    assert s.next() == ()  # the first run is the spec as given
    s.record((), 0.0, False)
    found_at = None
    for i in range(40):
        v = s.next()
        c = dict(v).get("concurrency", 10)
        hit = c == 40
        s.record(v, 10.0 if hit else c / 10, hit)
        if hit:
            found_at = i
            break
    assert found_at is not None and found_at < 15
    assert dict(s.next())["concurrency"] == 40 and dict(s.next())["concurrency"] == 40


def test_without_open_dimensions_every_run_is_the_spec_as_given() -> None:
    s = steer.Steering([], random.Random(0))
    s.record((), 1.0, False)
    assert s.next() == ()


# ---------------------------------------------------------------- shrink candidates
FOUR = [
    Step(2.0, "partition", 2.0, {"shape": "halves", "seed": 1}),
    Step(6.0, "pause", 2.0, {"target": "random", "seed": 2}),
    Step(10.0, "kill", 2.0, {"target": "primary", "seed": 3}),
    Step(14.0, "packet-loss", 2.0, {"shape": "halves", "seed": 4, "loss": 0.5}),
]


def four(**kw: Any) -> TestSpec:
    base = TestSpec(**MEM, nemesis=("partition",), time_limit=20, concurrency=8, rate=100,
                    options={"pause_probe_s": 0.05, "loss": 0.5, "active_keys": 8})  # fmt: skip
    return with_steps(base, FOUR).replace(**kw, name="")


def test_faults_first_each_alone_then_halves_then_each_dropped() -> None:
    whats = [c.what for c in candidates(four()) if c.family == "faults"]
    assert whats == [
        "keep only partition@2 (of 4 faults)", "keep only pause@6 (of 4 faults)",
        "keep only kill@10 (of 4 faults)", "keep only packet-loss@14 (of 4 faults)",
        "drop the first half (4 -> 2 faults)", "drop the second half (4 -> 2 faults)",
        "drop partition@2 (4 -> 3 faults)", "drop pause@6 (4 -> 3 faults)",
        "drop kill@10 (4 -> 3 faults)", "drop packet-loss@14 (4 -> 3 faults)",
    ]  # fmt: skip
    alone = next(c.spec for c in candidates(four()) if c.what.startswith("keep only kill"))
    assert alone.nemesis == ("kill",) and alone.schedule == format_steps([FOUR[2]])
    # the knobs of the faults dropped go with them: the run would refuse them
    assert alone.options == {"active_keys": 8}
    validate(alone.options, owners(alone))
    assert alone.name == "memory-async-set-kill"  # a derived name follows the faults left


def test_every_candidate_is_a_valid_spec_and_smaller_in_one_way() -> None:
    spec = four()
    fams = []
    for c in candidates(spec, ops_per_s=500):
        fams.append(c.family)
        validate(c.spec.options, owners(c.spec))
        st = steps_of(c.spec)
        smaller = (
            len(st) < len(FOUR) or c.spec.time_limit < spec.time_limit
            or sum(s.duration for s in st) < sum(s.duration for s in FOUR)
            or c.spec.concurrency < spec.concurrency or c.spec.rate < spec.rate
            or c.spec.nodes < spec.nodes
            or c.spec.options.get("active_keys", 8) < 8
        )  # fmt: skip
        assert smaller, c.what
    assert list(dict.fromkeys(fams)) == ["faults", "timing", "workers", "keys", "ops", "nodes"]


def test_timing_moves_faults_sooner_shortens_windows_and_the_tail() -> None:
    spec = with_steps(TestSpec(**MEM, nemesis=("kill",), time_limit=30),
                      [Step(8.0, "kill", 8.0, {"target": "primary", "seed": 3})])  # fmt: skip
    timing = {c.what: c.spec for c in candidates(spec, limits=Limits()) if c.family == "timing"}
    assert list(timing) == [
        "faults sooner (at 8 -> 2 s)", "faults sooner (at 8 -> 4 s)",
        "shorter fault windows (8 -> 2 s)", "shorter fault windows (8 -> 4 s)",
        "time 30 -> 18 s (2 s after the last fault)", "time 30 -> 23 s (7 s after the last fault)",
    ]  # fmt: skip
    s = timing["faults sooner (at 8 -> 2 s)"]
    assert steps_of(s)[0].at == 2 and s.time_limit == 24  # the 14 s tail kept
    w = timing["shorter fault windows (8 -> 2 s)"]
    assert steps_of(w)[0].duration == 2 and w.time_limit == 24


def test_numbers_go_to_their_floors_first_and_nodes_keep_two_for_a_partition() -> None:
    spec = with_steps(TestSpec(**MEM, nemesis=("partition",), time_limit=8, nodes=2),
                      [Step(2.0, "partition", 2.0, {"shape": "halves", "seed": 1})])  # fmt: skip
    whats = [c.what for c in candidates(spec, ops_per_s=300)]
    assert "workers 10 -> 1" in whats and "workers 10 -> 5" in whats and "workers 10 -> 7" in whats
    assert "keys (active_keys) 40 -> 1" in whats and "keys (active_keys) 40 -> 20" in whats
    assert "rate unlimited (~300 ops/s) -> 150 ops/s" in whats
    assert not [w for w in whats if w.startswith("nodes")]  # a partition needs two sides
    no_fault = next(c.spec for c in candidates(spec) if c.what.startswith("no fault"))
    assert no_fault.nemesis == () and no_fault.schedule == ""
    assert "nodes 2 -> 1" in [c.what for c in candidates(no_fault)]


# ---------------------------------------------------------------- the one-line command
def parse(line: str) -> TestSpec:
    from harness.cli_run import run

    words = shlex.split(line)
    assert words[:2] == ["splitbrain", "run"]
    ctx = run.make_context("run", words[2:])
    return spec_from(ctx.params)


def typed(spec: TestSpec) -> TestSpec:
    return spec.replace(options=validate(spec.options, owners(spec)), name=spec.name)


@pytest.mark.parametrize(
    "spec",
    [
        TestSpec(),
        TestSpec(
            db="galera",
            workload="append",
            nemesis=(),
            isolation="repeatable-read",
            time_limit=12.5,
            concurrency=40,
            options={"keys": 4, "max_txn_length": 4},
        ),
        TestSpec(
            db="postgres",
            mode="sync",
            read_from="any",
            name="my-test",
            seed=99,
            options={"failover_how": "isolate"},
            nemesis=("failover",),
            rate=33.333333,
        ),
        TestSpec(
            db="cassandra",
            workload="conflicts",
            nemesis=("clock",),
            partition=("halves",),
            options={"timestamps": "server", "clock_offset_ms": 1500},
        ),
        four(seed=7, nodes=2, time_limit=17.25),
        with_steps(
            TestSpec(**MEM, nemesis=("pause",), time_limit=9),
            [Step(0.5, "pause", 1.25, {"target": "1", "seed": 2})],
        ),
    ],  # fmt: skip
)
def test_the_printed_command_reproduces_the_spec_exactly(spec: TestSpec) -> None:
    line = command_line(spec)
    assert "\n" not in line
    assert typed(parse(line)) == typed(spec)


def test_a_default_spec_is_the_bare_command() -> None:
    assert command_line(TestSpec()) == "splitbrain run"
    assert command_line(TestSpec(db="galera")) == "splitbrain run --db galera"
