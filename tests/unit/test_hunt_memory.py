"""hunt and shrink end to end through the runner on the memory test doubles, as a user runs
them (the CLI in-process): a race found and its rate measured, a bug that needs two faults
shrunk to those two with a printed command that reproduces it, Ctrl-C mid-run, bad input,
and results that `splitbrain compare` reads. What is under test is the harness."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from harness.cli import main
from harness.cli_spec import spec_from
from harness.hunting.candidates import steps_of
from harness.options import validate
from harness.plan import owners
from harness.report.compare import compare, find_runs
from harness.runner import run
from harness.spec import TestSpec
from tests.doubles import memory_provider as memory
from tests.doubles.memory_db import race_shows

FLAGS = ["--db", "memory", "--provider", "memory", "--workload", "set", "--concurrency", "4",
         "--rate", "300", "--op-timeout", "2", "--recovery-timeout", "10",
         "--fault-interval", "0.3"]  # fmt: skip


@pytest.fixture(autouse=True)
def _work_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITBRAIN_MEMORY_DIR", str(tmp_path / "memory-nodes"))


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_hunt_finds_a_race_measures_its_rate_and_compare_reads_it(tmp_path: Path) -> None:
    res = tmp_path / "results"
    r = cli("hunt", *FLAGS, "--nemesis", "kill", "--time", "1.2", "--seed", "0",
            "--opt", "bug=race", "--max-runs", "6", "--stop-after", "0", "--results", str(res))  # fmt: skip
    assert r.exit_code == 1, r.output
    (hunt_dir,) = list((res / "hunts").glob("*/*"))
    doc = json.loads((hunt_dir / "hunt.json").read_text())
    shows = [race_shows(s) for s in range(6)]
    assert [a["found"] for a in doc["attempts"]] == shows
    assert doc["rate"]["k"] == sum(shows) and doc["rate"]["n"] == 6
    assert doc["first_detection"]["runs"] == shows.index(True) + 1
    for a in doc["attempts"]:
        assert (
            Path(a["dir"]).is_relative_to(hunt_dir) and (Path(a["dir"]) / "verdict.json").is_file()
        )
    assert "detection rate:" in r.output and "first detection: run" in r.output
    assert memory.live_clusters() == []
    assert len(find_runs([res])) == 6  # every attempt is a run `compare` sees
    html, _ = compare([res], tmp_path / "cmp")
    assert html.is_file()


def test_shrink_keeps_the_two_faults_a_bug_needs_and_its_command_reproduces(tmp_path: Path) -> None:
    res = tmp_path / "results"
    spec = spec_from({**_flags(FLAGS), "nemesis": "partition,pause,kill", "time_limit": 1.4,
                      "fault_interval": 0.2, "seed": 1,
                      "opts": ("bug=needs-two", "pause_probe_s=0.05")})  # fmt: skip
    orig = run(spec, res, echo=lambda s: None, progress=False)
    assert orig.valid is False, orig.doc["checkers"]["set"]["counts"]
    # the faults are cut first: about 9 runs get to two; a few more, then one confirmation
    r = cli("shrink", str(orig.dir), "--tries", "2", "--min-rate", "0.5", "--confirm", "1",
            "--min-seconds", "0.2", "--max-runs", "12", "--results", str(res))  # fmt: skip
    assert r.exit_code == 1, r.output
    (shrink_dir,) = list((res / "shrinks").glob("*/*"))
    doc = json.loads((shrink_dir / "shrink.json").read_text())
    final = TestSpec.from_dict(doc["final"]["spec"])
    assert {s.fault for s in steps_of(final)} == {"partition", "kill"}
    assert doc["final"]["measures"]["faults"] == 2 and doc["original"]["measures"]["faults"] == 3
    assert doc["final"]["rate"]["k"] == 1 and doc["final"]["rate"]["n"] == 1
    assert doc["stopped_because"] == "run budget spent (11 of 12 runs)"
    assert "pause_probe_s" not in final.options  # went with the pause
    # the printed line is run's own flags for exactly this spec ...
    line = doc["final"]["command"]
    assert line in r.output and "its evidence:" in r.output
    words = shlex.split(line)[2:]
    from harness.cli_run import run as run_cmd

    again = spec_from(run_cmd.make_context("run", list(words)).params)
    assert _typed(again) == _typed(final)
    # ... and running it shows the anomaly again
    rerun = cli("run", *words, "--results", str(tmp_path / "again"), "--no-progress")
    assert rerun.exit_code == 1, rerun.output
    assert "lost-write" in rerun.output
    assert memory.live_clusters() == []


def test_ctrl_c_during_a_run_stops_the_hunt_keeps_everything_and_exits_2(tmp_path: Path) -> None:
    res = tmp_path / "results"
    r = cli("hunt", *FLAGS, "--nemesis", "kill", "--time", "20", "--opt", "abort_after=0.5",
            "--max-runs", "5", "--results", str(res))  # fmt: skip
    assert r.exit_code == 2, r.output
    (hunt_dir,) = list((res / "hunts").glob("*/*"))
    doc = json.loads((hunt_dir / "hunt.json").read_text())
    assert doc["interrupted"] is True and len(doc["attempts"]) == 1
    assert doc["attempts"][0]["interrupted"] and doc["rate"]["n"] == 0
    assert (Path(doc["attempts"][0]["dir"]) / "history.jsonl").is_file()
    assert "interrupted" in r.output
    assert memory.live_clusters() == []  # the run tore its cluster down


def test_hunt_takes_a_suite_case_and_looks_for_what_it_expects(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\ndefaults: {db: memory, provider: memory, workload: set, concurrency: 4,"
        " rate: 300, op_timeout: 2, recovery_timeout: 10, fault_interval: 0.3, time_limit: 1.2}\n"
        "cases:\n  - name: racy\n    nemesis: [kill]\n    seed: 3\n    options: {bug: race}\n"
        "    expect: {anomalies: [lost-write]}\n"
    )
    res = tmp_path / "results"
    r = cli(
        "hunt", "--suite", str(suite), "--case", "racy", "--max-runs", "3", "--results", str(res)
    )
    assert r.exit_code == 1, r.output
    assert "for lost-write" in r.output and "first detection: run 1 (seed 3)" in r.output
    r = cli("hunt", "--suite", str(suite), "--case", "racy", "--concurrency", "3")
    assert r.exit_code == 3 and "either spec flags or --suite/--case" in r.output


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (
            ["hunt", *FLAGS, "--nemesis", "kill", "--time", "1.2", "--max-runs", "0"],
            "--max-runs must be >= 1",
        ),
        (
            ["hunt", *FLAGS, "--nemesis", "kill", "--time", "3", "--max-time", "2"],
            "shorter than one run",
        ),
        (
            ["hunt", *FLAGS, "--nemesis", "kill", "--time", "3", "--max-time", "0"],
            "must be more than zero",
        ),
        (["hunt", *FLAGS, "--anomaly", "G-single", "--nemesis", "none"], "never report it"),
        (["hunt", *FLAGS, "--suite", "x.yaml"], "does not exist"),
        (["hunt", *FLAGS, "--case", "x"], "--suite and --case go together"),
        (["hunt", *FLAGS, "--nemesis", "kill", "--time", "0.5"], "leaves no room for kill"),
        (["shrink", "."], "not a run folder"),
    ],  # fmt: skip
)
def test_bad_input_is_one_line_and_exit_3(args: list[str], why: str, tmp_path: Path) -> None:
    r = cli(*args, "--results", str(tmp_path / "res"))
    assert r.exit_code == 3, r.output
    assert why in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "res").exists()


def test_shrink_refuses_a_run_without_an_anomaly(tmp_path: Path) -> None:
    spec = spec_from({**_flags(FLAGS), "nemesis": "none", "time_limit": 0.5, "opts": ()})
    ok = run(spec, tmp_path / "results", echo=lambda s: None, progress=False)
    assert ok.valid is True
    r = cli("shrink", str(ok.dir), "--results", str(tmp_path / "res"))
    assert r.exit_code == 3 and "names no anomaly: nothing to shrink" in r.output


def _flags(flags: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in zip(flags[::2], flags[1::2], strict=True):
        name = k[2:].replace("-", "_")
        out[name] = float(v) if name in ("rate", "op_timeout", "recovery_timeout",
                                         "fault_interval") else int(v) if name == "concurrency" else v  # fmt: skip
    return out


def _typed(spec: TestSpec) -> TestSpec:
    return spec.replace(options=validate(spec.options, owners(spec)), name=spec.name)
