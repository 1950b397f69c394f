"""JUnit XML of a run: one test case per checker."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report.junit import Case, to_xml, write_run_junit
from harness.spec import TestSpec
from harness.verdict import Anomaly, Verdict, compose
from tests.builder import H
from tests.synthetic_results import make_run, save_run


def cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return {tc.get("name"): tc for tc in root.iter("testcase")}


def test_one_case_per_checker_with_anomaly_summary(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, anomalies={"lost-write": 2, "stale-read": 1})
    out = write_run_junit(run_dir)
    assert out == run_dir / "junit.xml"
    tcs = cases(out)
    assert set(tcs) == {"set", "linearizable"}
    fail = tcs["set"].find("failure")
    assert fail is not None and fail.get("message") == "lost-write x2"
    assert fail.text.count("lost-write:") == 2 and "missing from the final read" in fail.text
    assert tcs["linearizable"].find("failure").get("message") == "stale-read x1"
    assert tcs["set"].get("classname") == "splitbrain.postgres-async-set-partition+kill"
    suite = ET.parse(out).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "2", "0")


def test_valid_passes_and_unknown_is_an_error(tmp_path: Path) -> None:
    spec = TestSpec(db="postgres", nemesis=(), seed=1)
    h = H().call(0, 0.01, 0, "add", 1, node="n1")
    doc = compose(
        [Verdict("set", True), Verdict("linearizable", "unknown", notes=["budget ran out"])]
    )
    tcs = cases(write_run_junit(save_run(tmp_path, spec, h.ops, doc)))
    assert list(tcs["set"]) == []
    err = tcs["linearizable"].find("error")
    assert err is not None and "budget ran out" in err.get("message")


def test_aborted_run_is_one_error_case(tmp_path: Path) -> None:
    spec = TestSpec(db="postgres", nemesis=(), seed=1)
    run_dir = save_run(
        tmp_path, spec, [], {"valid": "unknown", "checkers": {}}, aborted="interrupted (SIGINT)"
    )
    tcs = cases(write_run_junit(run_dir))
    assert list(tcs) == ["run"]
    assert "interrupted (SIGINT)" in tcs["run"].find("error").get("message")


def test_many_anomalies_are_capped_in_the_text(tmp_path: Path) -> None:
    anomalies = [Anomaly("lost-write", [i], f"write {i} lost") for i in range(25)]
    doc = compose([Verdict("set", False, anomalies)])
    spec = TestSpec(db="postgres", nemesis=(), seed=1)
    run_dir = save_run(tmp_path, spec, H().call(0, 0.01, 0, "add", 1).ops, doc)
    text = cases(write_run_junit(run_dir))["set"].find("failure").text
    assert text.count("\n") == 10 and text.endswith("15 more in verdict.json")


def test_xml_escapes_and_skipped() -> None:
    xml = to_xml([("s", [Case("c", "a<b", "skipped", 'says "x" & <y>')])])
    tc = ET.fromstring(xml.split("\n", 1)[1]).find("testsuite/testcase")
    assert tc.get("name") == "a<b" and tc.find("skipped").get("message") == 'says "x" & <y>'
