"""A suite spread over many machines (the nightly workflow's matrix): its cases listed as a
matrix, one case run per machine (`--case`), and every machine's results gathered again
into one judgement (`--merge`), where a case no machine reported is never a pass."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import harness.runner
import harness.suite as suites
from harness.cli_reports import COMMANDS
from harness.suite import run_suite
from harness.suite_merge import merge
from tests.unit.test_suite import SUITE, FakeRunner, write

CMD = next(c for c in COMMANDS if c.name == "suite")


def test_list_names_each_case_once_with_its_runs(tmp_path: Path) -> None:
    res = CliRunner().invoke(CMD, [str(write(tmp_path, SUITE)), "--list", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["case"] for r in rows] == ["lost", "clean", "missing", "undecided",
                                         "undecided-ok", "broken"]  # fmt: skip
    assert all(r["runs"] == 2 and r["db"] == "postgres" and r["provider"] == "local" for r in rows)
    assert all(r["minutes"] >= 1 for r in rows)
    text = CliRunner().invoke(CMD, [str(write(tmp_path, SUITE)), "--list"]).output
    assert text.splitlines()[0].startswith("lost ") and "2 run(s)" in text


def test_a_case_runs_every_run_of_its_matrix_or_one_by_full_name(tmp_path: Path) -> None:
    fake = FakeRunner()
    res = run_suite(write(tmp_path, SUITE), tmp_path / "r", fake, lambda s: None,
                    db_check=None, cases=["lost"])  # fmt: skip
    assert [r.case.name for r in res.results] == ["lost-seed1", "lost-seed2"] and res.passed
    fake = FakeRunner()
    run_suite(write(tmp_path, SUITE), tmp_path / "r", fake, lambda s: None, db_check=None,
              cases=["clean-seed1"])  # fmt: skip
    assert [s.name for s in fake.calls] == ["clean-seed1"]


def test_an_unknown_case_is_exit_3_naming_the_known_ones(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(harness.runner, "run_to_dir", FakeRunner())
    monkeypatch.setattr(suites, "database_check", lambda spec: None)
    res = CliRunner().invoke(CMD, [str(write(tmp_path, SUITE)), "--case", "lots"])
    assert res.exit_code == 3
    assert "no case 'lots'; cases: lost, clean, missing, undecided, undecided-ok, broken" in res.output


PASSING = """
name: t
defaults: {provider: local, time_limit: 10, concurrency: 2, matrix: {seed: [1, 2]}}
cases:
  - {name: lost, db: postgres, mode: async, nemesis: [failover], expect: {anomalies: [lost-write]}}
  - {name: undecided-ok, db: postgres, nemesis: [], expect: valid, allow_unknown: true}
"""


def _cells(tmp_path: Path, text: str, names: list[str]) -> tuple[Path, Path]:
    """(suite file, gathered root): each case run on a machine of its own, its results
    folder gathered under one root, the machines gone (their paths do not exist here)."""
    suite = write(tmp_path, text)
    gathered = tmp_path / "gathered"
    for i, name in enumerate(names):
        cell = tmp_path / f"cell{i}"
        run_suite(suite, cell / "results", FakeRunner(), lambda s: None, db_check=None,
                  cases=[name])  # fmt: skip
        shutil.copytree(cell / "results", gathered, dirs_exist_ok=True)
        shutil.rmtree(cell)
    return suite, gathered


def test_merged_cells_judge_as_one_suite(tmp_path: Path) -> None:
    suite, gathered = _cells(tmp_path, PASSING, ["lost", "undecided-ok"])
    res = merge(suite, gathered)
    assert res.passed, [(r.case.name, r.outcome, r.surprises) for r in res.results]
    assert [r.case.name for r in res.results] == ["lost-seed1", "lost-seed2", "undecided-ok-seed1",
                                                  "undecided-ok-seed2"]  # fmt: skip
    assert all(r.run_dir is not None and r.run_dir.is_relative_to(gathered) for r in res.results)
    root = ET.parse(res.dir / "junit.xml").getroot()
    assert not [tc for tc in root.iter("testcase") if len(tc) and tc[0].tag != "skipped"]
    assert json.loads((res.dir / "summary.json").read_text())["counts"]["pass"] == 4


def test_a_case_no_cell_reported_or_whose_folder_is_missing_is_an_error(tmp_path: Path) -> None:
    suite, gathered = _cells(tmp_path, SUITE, ["lost"])
    res = merge(suite, gathered)
    by = {r.case.name: r for r in res.results}
    assert by["lost-seed1"].outcome == "pass" and not res.passed
    assert by["clean-seed1"].outcome == "error"
    assert by["clean-seed1"].surprises == ["no result: its cell never reported"]
    for d in gathered.iterdir():  # the evidence of "lost" did not reach the report job
        if d.name.startswith("lost"):
            shutil.rmtree(d)
    res = merge(suite, gathered)
    lost = next(r for r in res.results if r.case.name == "lost-seed1")
    assert lost.outcome == "error" and "not among the gathered results" in lost.surprises[0]


def test_cli_merge_exit_codes(tmp_path: Path) -> None:
    suite, gathered = _cells(tmp_path, SUITE, ["lost"])
    res = CliRunner().invoke(CMD, [str(suite), "--merge", str(gathered)])
    assert res.exit_code == 1 and "never reported" in res.output
    assert (gathered / "suites" / "t" / "merged" / "junit.xml").is_file()


@pytest.mark.parametrize("args", [["--tests"], ["--suite", "suites/quick.yaml"]])
def test_install_needs_come_from_the_components(args: list[str], capsys) -> None:
    from harness.install import needs

    assert needs.main(args) == 0
    got = json.loads(capsys.readouterr().out)
    assert "postgresql-15" in got["apt"] and "mariadb-server" in got["apt"]
    assert got["prepare"] == ["cassandra"]  # its jars and user
    if args == ["--tests"]:
        assert got["engine"] is True and set(got["images"]) == {"postgres", "galera", "mariadb", "cassandra"}
        assert {"docker.io", "chromium", "faketime", "fuse3"} <= set(got["apt"])


def test_a_compose_case_needs_an_engine_and_its_image_not_its_database() -> None:
    from harness.install.needs import for_specs
    from harness.spec import TestSpec

    n = for_specs([TestSpec(db="cassandra", provider="compose", nemesis=("clock",))])
    assert n.engine and n.images == {"cassandra"} and n.prepare == set()
    assert "openjdk-17-jre-headless" not in n.apt and "faketime" in n.apt
