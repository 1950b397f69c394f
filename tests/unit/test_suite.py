"""Suites: YAML validation, matrix expansion, judging runs against expectations, outputs.
Runs are faked by a run_fn that writes synthetic results folders."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import harness.runner
import harness.suite as suites
from harness.cli_reports import COMMANDS
from harness.errors import SpecError
from harness.spec import TestSpec
from harness.suite import SuiteError, load_suite, run_suite
from tests.synthetic_results import history, save_run, verdict_doc

ROOT = Path(__file__).resolve().parents[2]

SUITE = """
name: t
defaults: {provider: local, time_limit: 10, concurrency: 2, matrix: {seed: [1, 2]}}
cases:
  - {name: lost, db: postgres, mode: async, nemesis: [failover], expect: {anomalies: [lost-write]}}
  - {name: clean, db: postgres, mode: sync, nemesis: [failover], expect: valid}
  - {name: missing, db: postgres, mode: async, nemesis: [failover], expect: {anomalies: [lost-write]}}
  - {name: undecided, db: postgres, nemesis: [], expect: valid}
  - {name: undecided-ok, db: postgres, nemesis: [], expect: valid, allow_unknown: true}
  - {name: broken, db: postgres, nemesis: [kill], expect: valid}
"""

# What the fake database does, by case name (and seed).
BEHAVIOUR: dict[str, Any] = {
    "lost": lambda seed: {"anomalies": {"lost-write": seed}},
    "clean": lambda seed: {"anomalies": {"stale-read": 1} if seed == 2 else {}},
    "missing": lambda seed: {"anomalies": {}},
    "undecided": lambda seed: {"anomalies": {}, "valid": "unknown"},
    "undecided-ok": lambda seed: {"anomalies": {}, "valid": "unknown"},
}


class FakeRunner:
    def __init__(self, events: list[tuple[str, str]] | None = None) -> None:
        self.events = events if events is not None else []
        self.calls: list[TestSpec] = []

    def __call__(self, spec: TestSpec, results_root: Path) -> Path:
        self.calls.append(spec)
        self.events.append(("run", spec.name))
        case = spec.name.rsplit("-seed", 1)[0]
        if case == "broken":
            raise RuntimeError("provider exploded")
        b = BEHAVIOUR[case](spec.seed)
        hist = history(spec.seed, duration=spec.time_limit, processes=2)
        doc = verdict_doc(hist, b["anomalies"], b.get("valid"))
        return save_run(results_root, spec, hist, doc, stamp="20250101-000000")


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_run_suite_judges_each_case_and_writes_outputs(tmp_path: Path) -> None:
    events: list[tuple[str, str]] = []
    fake = FakeRunner(events)
    res = run_suite(
        write(tmp_path, SUITE),
        tmp_path / "results",
        fake,
        lambda s: events.append(("echo", s)),
        db_check=None,
    )
    outcome = {r.case.name: r.outcome for r in res.results}
    assert outcome == {
        "lost-seed1": "pass",
        "lost-seed2": "pass",
        "clean-seed1": "pass",
        "clean-seed2": "fail",
        "missing-seed1": "fail",
        "missing-seed2": "fail",
        "undecided-seed1": "fail",
        "undecided-seed2": "fail",
        "undecided-ok-seed1": "pass",
        "undecided-ok-seed2": "pass",
        "broken-seed1": "error",
        "broken-seed2": "error",
    }
    assert not res.passed
    by = {r.case.name: r for r in res.results}
    assert by["clean-seed2"].surprises == ["unexpected stale-read x1"]
    assert by["missing-seed1"].surprises == ["expected but not found: lost-write"]
    assert by["undecided-seed1"].surprises == ["unknown verdict (set, linearizable)"]
    assert by["broken-seed1"].surprises == ["RuntimeError: provider exploded"]
    assert by["lost-seed2"].found == {"lost-write": 2}

    # A row is printed as each case finishes, before the next one runs.
    kinds = [k for k, _ in events]
    first_row = kinds.index("echo", kinds.index("run"))
    assert kinds[first_row - 1] == "run" and kinds[first_row + 1] in ("run", "echo")
    rows = [s for k, s in events if k == "echo" and "/12 " in s]
    assert len(rows) == 12 and "clean-seed2" in rows[3] and "FAIL" in rows[3]

    # summary.json, summary.txt, junit.xml under results/suites/<name>/<timestamp>/
    assert res.dir.parent == tmp_path / "results" / "suites" / "t"
    summary = json.loads((res.dir / "summary.json").read_text())
    assert summary["passed"] is False and summary["counts"] == {"pass": 5, "fail": 5, "error": 2}
    assert summary["cases"][3]["surprises"] == ["unexpected stale-read x1"]
    assert "FAILED: 5 pass, 5 fail, 2 error of 12" in (res.dir / "summary.txt").read_text()

    root = ET.parse(res.dir / "junit.xml").getroot()
    tcs = {(tc.get("classname").split(".")[-1], tc.get("name")): tc for tc in root.iter("testcase")}
    assert [c.tag for c in tcs[("lost-seed1", "set")]] == []
    assert [c.tag for c in tcs[("lost-seed1", "expectation")]] == []
    assert "stale-read" in tcs[("clean-seed2", "linearizable")].find("failure").get("message")
    assert tcs[("missing-seed1", "expectation")].find("failure").get("message") == (
        "expected but not found: lost-write"
    )
    assert tcs[("undecided-seed1", "set")].find("error") is not None
    assert tcs[("undecided-ok-seed1", "set")].find("skipped") is not None
    assert "provider exploded" in tcs[("broken-seed1", "run")].find("error").get("message")


def test_matrix_of_knobs_and_seed_override(tmp_path: Path) -> None:
    text = """
cases:
  - name: m
    db: postgres
    options: {a: 1}
    expect: valid
    matrix: {seed: [1, 2], options.sync: ["on", "remote_apply"]}
"""
    suite = load_suite(write(tmp_path, text))
    assert suite.name == "t"
    assert [c.name for c in suite.cases] == [
        "m-seed1-syncon",
        "m-seed1-syncremote_apply",
        "m-seed2-syncon",
        "m-seed2-syncremote_apply",
    ]
    assert suite.cases[1].spec.options == {"a": 1, "sync": "remote_apply"}
    assert suite.cases[2].spec.seed == 2 and suite.cases[2].spec.name == "m-seed2-syncon"
    one = load_suite(write(tmp_path, text), seed=9)
    assert [(c.name, c.spec.seed) for c in one.cases] == [
        ("m-syncon", 9),
        ("m-syncremote_apply", 9),
    ]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "{name: a, db: postgres, nemsis: [kill], expect: valid}",
            "case 'a': unknown key 'nemsis'",
        ),
        ("{name: a, db: oracle, expect: valid}", "case 'a': db: 'oracle' is not one of"),
        ("{name: a, db: postgres, expect: invalid}", "case 'a': expect: must be `valid`"),
        ("{name: a, db: postgres}", "case 'a': expect: missing"),
        (
            "{name: a, db: postgres, time_limit: 30s, expect: valid}",
            "case 'a': time_limit: must be a number",
        ),
        (
            "{name: a, db: postgres, nemesis: [explode], expect: valid}",
            "case 'a': nemesis: 'explode' is not one of",
        ),
        (
            "{name: a, db: postgres, read_from: leader, expect: valid}",
            "case 'a': read_from: 'leader'",
        ),
        (
            "{name: a, db: postgres, expect: valid, matrix: {sed: [1]}}",
            "case 'a': matrix: unknown axis 'sed'",
        ),
        (
            "{name: a, db: postgres, expect: valid, matrix: {seed: []}}",
            "case 'a': matrix: seed: must be a non-empty",
        ),
        ("{name: first, db: postgres, expect: valid}", "case 'first': name 'first' is used twice"),
        (
            "{db: postgres, allow_unknown: maybe, expect: valid}",
            "case 2: allow_unknown: must be true or false",
        ),
    ],
)
def test_validation_errors_name_case_and_field_before_running(
    tmp_path: Path, case: str, message: str
) -> None:
    text = f"cases:\n  - {{name: first, db: postgres, expect: valid}}\n  - {case}\n"
    fake = FakeRunner()
    with pytest.raises(SuiteError) as e:
        run_suite(write(tmp_path, text), tmp_path / "results", fake, lambda s: None, db_check=None)
    assert message in str(e.value)
    assert "\n" not in str(e.value) and str(e.value).startswith(str(tmp_path / "t.yaml"))
    assert fake.calls == []  # nothing ran
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cases: [\n", "not valid YAML"),
        ("- a\n", "a suite is a mapping"),
        ("cases: []\n", "'cases' must be a non-empty list"),
        ("cases: [{db: postgres, expect: valid}]\nextra: 1\n", "top level: unknown key 'extra'"),
        (
            "defaults: {colour: red}\ncases: [{db: postgres, expect: valid}]\n",
            "defaults: unknown key 'colour'",
        ),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SuiteError, match=message):
        load_suite(write(tmp_path, text))


def test_database_check_errors_name_the_field(tmp_path: Path) -> None:
    def db_check(spec: TestSpec) -> None:
        if spec.mode == "eventual":
            raise SpecError("--mode 'eventual' is not one of postgres's: async, sync")

    text = "cases:\n  - {name: a, db: postgres, mode: eventual, expect: valid}\n"
    with pytest.raises(SuiteError, match=r"case 'a': mode: 'eventual' is not one of postgres's"):
        load_suite(write(tmp_path, text), db_check=db_check)


def test_shipped_suites_are_valid() -> None:
    quick = load_suite(ROOT / "suites" / "quick.yaml")
    got = {
        c.name: (c.spec.db, c.spec.mode, c.spec.nemesis, c.spec.read_from, str(c.expect))
        for c in quick.cases
    }
    assert got["pg-async-failover"] == (
        "postgres",
        "async",
        ("failover",),
        "primary",
        "lost-write (may: stale-read)",
    )
    assert got["pg-async-replica-reads-partition"] == (
        "postgres",
        "async",
        ("partition",),
        "replica",
        "stale-read",
    )
    assert got["pg-sync-failover"] == (
        "postgres",
        "sync",
        ("failover",),
        "primary",
        "valid (may: stale-read)",
    )
    assert got["pg-no-fault"][2] == () and got["pg-no-fault"][4] == "valid"
    assert all(c.spec.provider == "local" for c in quick.cases)
    assert got["galera-partition-kill"][:3] == ("galera", "multi-primary", ("partition", "kill"))

    nightly = load_suite(ROOT / "suites" / "nightly.yaml")
    by_name = {c.name: c for c in nightly.cases}
    for name in got:  # quick's cases, with three seeds and longer runs
        seeds = sorted(by_name[f"{name}-seed{s}"].spec.seed for s in (1, 2, 3))
        assert seeds == [1, 2, 3]
        assert by_name[f"{name}-seed1"].spec.time_limit > quick.cases[0].spec.time_limit
    compose = {
        c.name.rsplit("-seed", 1)[0]: c for c in nightly.cases if c.spec.provider == "compose"
    }
    assert str(compose["mongo-w1-failover"].expect) == "lost-write"
    assert str(compose["mongo-majority-linearizable"].expect) == "valid"
    assert str(compose["mongo-secondary-reads"].expect) == "stale-read"
    cassandra = {c.name.rsplit("-seed", 1)[0]: c for c in nightly.cases if c.spec.db == "cassandra"}
    assert str(cassandra["cassandra-clock-skew"].expect) == "lost-to-lww"  # the conflicts checker's
    assert str(cassandra["cassandra-lwt"].expect) == "valid"


@pytest.mark.parametrize("name", ["quick", "nightly"])
def test_shipped_suites_pass_the_database_definitions(name: str) -> None:
    """Modes, workloads, faults, providers and knobs as each database definition checks them."""
    try:
        suite = load_suite(ROOT / "suites" / f"{name}.yaml", db_check=suites.database_check)
    except SuiteError as e:
        if "definition is not available" in str(e):
            pytest.skip(str(e))
        raise
    assert len(suite.cases) >= 5


def test_cli_suite_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cmd = next(c for c in COMMANDS if c.name == "suite")
    monkeypatch.setattr(harness.runner, "run_to_dir", FakeRunner())
    monkeypatch.setattr(suites, "database_check", lambda spec: None)
    ok = write(
        tmp_path,
        "cases:\n  - {name: lost, db: postgres, expect: {anomalies: [lost-write]}}\n",
        "ok.yaml",
    )
    res = CliRunner().invoke(cmd, [str(ok), "--results", str(tmp_path / "r"), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert "lost-write x3" in res.output and "PASSED" in res.output
    bad = write(
        tmp_path,
        "cases:\n  - {name: missing, db: postgres, expect: {anomalies: [lost-write]}}\n",
        "bad.yaml",
    )
    res = CliRunner().invoke(cmd, [str(bad), "--results", str(tmp_path / "r")])
    assert res.exit_code == 1 and "expected but not found: lost-write" in res.output
    typo = write(tmp_path, "cases:\n  - {name: x, db: postgress, expect: valid}\n", "typo.yaml")
    res = CliRunner().invoke(cmd, [str(typo)])
    assert res.exit_code == 3 and "case 'x': db: 'postgress'" in res.output


def test_may_types_are_no_surprise_but_not_required() -> None:
    from harness.suite import Expect, SuiteCase, judge

    case = SuiteCase("c", TestSpec(), Expect(frozenset({"lost-write"}), frozenset({"stale-read"})))

    def doc(*types: str) -> dict:
        anomalies = [{"type": t, "ops": [], "explanation": "", "data": {}} for t in types]
        counts = {t: 1 for t in types}
        return {
            "valid": not types,
            "run": {"aborted": None},
            "checkers": {"set": {"valid": not types, "anomalies": anomalies, "counts": counts}},
        }

    assert judge(case, doc("lost-write"))[0] == "pass"
    assert judge(case, doc("lost-write", "stale-read"))[0] == "pass"
    assert judge(case, doc("stale-read"))[0] == "fail"  # the expected lost write is missing
    assert judge(case, doc("lost-write", "divergence"))[0] == "fail"
