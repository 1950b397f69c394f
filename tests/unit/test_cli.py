"""The CLI in-process (click's CliRunner): one-line errors, exit codes, check over files."""

import json

from click.testing import CliRunner

from harness.cli import main
from harness.history import write_jsonl
from harness.spec import TestSpec
from tests.builder import H


def _run_dir(tmp_path, lost: bool):
    d = tmp_path / ("lost" if lost else "ok")
    d.mkdir()
    TestSpec(nemesis=()).save(d / "spec.json")
    h = H().call(0, 0.1, 0, "add", [0, 1]).call(0.2, 0.3, 1, "add", [0, 2])
    h.call(1, 1.1, 9, "final-read", None, [[0, [1] if lost else [1, 2]]], node="n1")
    write_jsonl(h.ops, d / "history.jsonl")
    return d


def test_bad_flag_value_is_one_line_naming_the_flag():
    r = CliRunner().invoke(main, ["run", "--db", "mysql"])
    assert r.exit_code == 3
    assert r.output.strip().startswith(  # the registry's databases (the tests add doubles)
        "splitbrain: error: --db 'mysql' is not one of: postgres, galera, mariadb, mongodb, cassandra"
    )
    r = CliRunner().invoke(main, ["run", "--read-from", "standby"])
    assert r.exit_code == 3 and "--read-from 'standby'" in r.output and "Traceback" not in r.output


def test_failover_on_a_peer_to_peer_database_is_refused():
    r = CliRunner().invoke(main, ["run", "--db", "galera", "--nemesis", "failover"])
    assert r.exit_code == 3
    assert "failover" in r.output and "no primary" in r.output


def test_check_run_dirs_exit_with_the_worst_verdict(tmp_path):
    ok = _run_dir(tmp_path, False)
    _run_dir(tmp_path, True)
    r = CliRunner().invoke(main, ["check", str(ok)])
    assert r.exit_code == 0 and "\tvalid\t" in r.output
    r = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 2 and any("INVALID" in x and "lost-write 1" in x for x in lines)


def test_check_json(tmp_path):
    _run_dir(tmp_path, True)
    r = CliRunner().invoke(main, ["check", "--json", str(tmp_path)])
    doc = json.loads(r.output.strip())
    assert doc["valid"] is False and doc["checkers"]["set"]["counts"] == {"lost-write": 1}


def test_check_without_spec_asks_for_a_checker(tmp_path):
    d = _run_dir(tmp_path, False)
    (d / "spec.json").unlink()
    r = CliRunner().invoke(main, ["check", str(d / "history.jsonl")])
    assert r.exit_code == 3 and "--checker" in r.output
    r = CliRunner().invoke(main, ["check", "--checker", "set", str(d / "history.jsonl")])
    assert r.exit_code == 0


def test_malformed_history_is_one_line(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text(
        '{"index":0,"time":0,"process":0,"type":"invoke","f":"add","value":[0,1]}\n{oops\n'
        '{"index":2,"time":1,"process":0,"type":"ok","f":"add","value":[0,1]}\n'
    )
    r = CliRunner().invoke(main, ["check", "--checker", "set", str(p)])
    assert r.exit_code == 3
    assert "malformed history line 2" in r.output and "Traceback" not in r.output


def test_check_edn_with_a_model(tmp_path):
    p = tmp_path / "h.edn"
    p.write_text(
        "{:type :invoke, :f :write, :value 1, :process 0}\n"
        "{:type :ok, :f :write, :value 1, :process 0}\n"
        "{:type :invoke, :f :read, :value nil, :process 1}\n"
        "{:type :ok, :f :read, :value 2, :process 1}\n"
    )
    r = CliRunner().invoke(main, ["check", "--model", "cas-register", str(p)])
    assert r.exit_code == 1 and "nonlinearizable" in r.output


def test_unknown_opt_syntax():
    r = CliRunner().invoke(main, ["run", "--opt", "novalue"])
    assert r.exit_code == 3 and "KEY=VALUE" in r.output


def test_export_round_trips_through_edn(tmp_path):
    from harness.history import read_jsonl

    d = _run_dir(tmp_path, False)
    r = CliRunner().invoke(main, ["export", str(d)])
    assert r.exit_code == 0, r.output
    edn = d / "history.edn"
    assert edn.read_text().startswith("{:index 0")
    back = tmp_path / "back.jsonl"
    r = CliRunner().invoke(main, ["export", str(edn), "--to", str(back)])
    assert r.exit_code == 0, r.output
    assert [o.to_dict() for o in read_jsonl(back)] == [
        o.to_dict() for o in read_jsonl(d / "history.jsonl")
    ]


def test_clicks_own_usage_errors_exit_3_in_one_line():
    for argv in (["run", "--bogus"], ["run", "--time", "abc"], ["nope"]):
        r = CliRunner().invoke(main, argv)
        assert r.exit_code == 3, argv
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("splitbrain: error:"), r.output


def test_unknown_and_bad_opts_are_refused_before_anything_starts(tmp_path):
    r = CliRunner().invoke(main, ["run", "--opt", "failover_hwo=kill", "--results", str(tmp_path)])
    assert r.exit_code == 3 and "--opt failover_hwo: unknown option here" in r.output
    r = CliRunner().invoke(
        main, ["run", "--opt", "failover_how=explode", "--results", str(tmp_path)]
    )
    assert r.exit_code == 3 and "failover_how=explode: expected one of" in r.output
    assert list(tmp_path.iterdir()) == []  # no run folder: nothing started


def test_list_options():
    r = CliRunner().invoke(
        main, ["run", "--db", "galera", "--nemesis", "packet-loss", "--list-options"]
    )
    assert r.exit_code == 0
    assert "wsrep_sync_wait=int (default 0)" in r.output and "loss=number (default 0.3)" in r.output


def test_an_unwritable_results_path_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = CliRunner().invoke(main, ["run", "--nemesis", "none", "--results", str(blocker / "sub")])
    assert r.exit_code in (3, 4), r.output  # 4 when not root: preflight speaks first
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
