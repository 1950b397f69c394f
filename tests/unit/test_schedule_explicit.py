"""An explicit fault schedule (--schedule, TestSpec.schedule): its text round-trips, bad text
is one line, the plan runs exactly its steps, and a spec.json without it is unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import SpecError
from harness.history import load
from harness.plan import prepare
from harness.runner import run
from harness.spec import TestSpec
from nemesis.schedule import Step, format_steps, parse_steps

TEXT = "kill@1+2:target=primary,seed=5;partition@4+1.5:shape=isolate-primary,seed=3"


def mem(**kw: Any) -> TestSpec:
    base: dict[str, Any] = {"db": "memory", "provider": "memory", "nemesis": ("kill", "partition"),
                            "time_limit": 10}  # fmt: skip
    return TestSpec(**{**base, **kw})


@pytest.mark.parametrize(
    "steps",
    [
        [Step(1.0, "kill", 2.0, {"target": "primary", "seed": 5})],
        [Step(0.25, "clock", 0.5, {"mode": "bump", "seed": 1, "offset_s": -0.2})],
        [
            Step(3.0, "packet-loss", 1.0, {"shape": "halves", "seed": 9, "loss": 0.3}),
            Step(4.5, "failover", 2.0, {"how": "isolate"}),
        ],  # fmt: skip
        # text that looks like something else is quoted, and comes back as text
        [Step(0.0, "pause", 1.0, {"target": "1", "seed": 2, "x": "true", "y": "a b,c;d"})],
        [Step(0.0, "pause", 1.0, {"flag": True, "n": 12345678901234, "f": 1e-07})],
    ],
)
def test_the_text_round_trips_values_and_their_types(steps: list[Step]) -> None:
    text = format_steps(steps)
    back = parse_steps(text)
    assert back == steps
    assert [type(v) for s in back for v in s.params.values()] == [
        type(v) for s in steps for v in s.params.values()
    ]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("kill", "a step is FAULT@AT+SECONDS"),
        ("kill@1", "a step is FAULT@AT+SECONDS"),
        ("kill@1+0", "SECONDS > 0"),
        ("kill@x+1", "a step is FAULT@AT+SECONDS"),
        ("kill@1+1:seed", "must look like KEY=VALUE"),
        ("kill@1+1:seed=[1]", "is not a scalar"),
        ("kill@1+1:seed=1x", "not a number, true/false, a word"),
        ("kill@1+3;kill@2+1", "starts before kill@1 ends"),
        (";", "is empty"),
    ],
)
def test_bad_text_is_one_line(text: str, why: str) -> None:
    with pytest.raises(SpecError, match=why.replace("+", r"\+")) as e:
        parse_steps(text)
    assert "\n" not in str(e.value)


def test_the_spec_holds_it_and_the_plan_runs_exactly_its_steps() -> None:
    p = prepare(mem(schedule=TEXT))
    assert p.schedule == parse_steps(TEXT)
    assert p.spec.schedule == TEXT and p.spec.to_dict()["schedule"] == TEXT
    assert TestSpec.from_dict(p.spec.to_dict()) == p.spec


def test_a_spec_without_one_stores_no_schedule_key() -> None:
    """spec.json of a plain run stays what older versions read."""
    assert "schedule" not in TestSpec().to_dict()
    assert TestSpec.from_dict(TestSpec().to_dict()) == TestSpec()


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"nemesis": ("kill",)}, "--nemesis must name exactly those"),
        ({"time_limit": 5}, "ends after --time 5"),
        (
            {
                "schedule": "kill@1+2:target=primary,seed=5;parition@4+1:shape=halves,seed=3",
                "nemesis": ("kill",),
            },
            "--schedule 'parition' is not one of",
        ),  # fmt: skip
    ],
)
def test_the_spec_refuses_a_schedule_that_does_not_fit(kw: dict[str, Any], why: str) -> None:
    with pytest.raises(SpecError, match=why):
        mem(**{"schedule": TEXT, **kw})


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("kill@1+2:target=primary", "parameters must be seed, target, got target"),
        ("kill@1+2:target=primary,seed=5,extra=1", "got extra, seed, target"),
        (
            "kill@1+2:target=primary,seed=5;partition@4+1:shape=sideways,seed=3",
            "shape 'sideways' is not one of",
        ),  # fmt: skip
    ],
)
def test_the_plan_refuses_steps_whose_parameters_the_fault_does_not_plan(
    text: str, why: str
) -> None:
    nemesis = tuple(dict.fromkeys(s.fault for s in parse_steps(text)))
    with pytest.raises(SpecError, match=why):
        prepare(mem(schedule=text, nemesis=nemesis))


def test_a_run_on_the_memory_double_injects_exactly_the_given_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLITBRAIN_MEMORY_DIR", str(tmp_path / "nodes"))
    text = "pause@0.2+0.3:target=random,seed=1;kill@0.8+0.3:target=primary,seed=2"
    spec = mem(nemesis=("pause", "kill"), schedule=text, time_limit=1.5, concurrency=2,
               rate=200, op_timeout=2, recovery_timeout=5, options={"pause_probe_s": 0.05})  # fmt: skip
    r = run(spec, tmp_path / "results", echo=lambda s: None, progress=False)
    assert r.valid is True
    assert json.loads((r.dir / "schedule.json").read_text()) == [
        s.to_dict() for s in parse_steps(text)
    ]
    starts = [(op.f, op.value) for op in load(r.dir / "history.jsonl")
              if op.process == "nemesis" and op.type == "invoke" and op.f.startswith("start-")]  # fmt: skip
    assert starts == [
        ("start-pause", {"target": "random", "seed": 1}),
        ("start-kill", {"target": "primary", "seed": 2}),
    ]
    assert TestSpec.load(r.dir / "spec.json").schedule == text
