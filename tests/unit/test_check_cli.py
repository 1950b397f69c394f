"""`splitbrain check` on bad and odd inputs (issue 11): a verdict or one line, never valid for
a non-history, never a traceback; a folder goes on past a bad file; --json prints only JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.checking import check_file
from harness.cli import main
from harness.history import Op, write_jsonl
from harness.spec import TestSpec
from tests.builder import H

DATA = Path(__file__).resolve().parents[1] / "data"


def _check(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["check", *args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exc_info
    assert "Traceback" not in r.stdout + r.stderr
    return r.exit_code, r.stdout, r.stderr


def _file(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


REGISTER = (
    '{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}\n'
    '{"index":1,"time":1,"process":0,"type":"ok","f":"write","value":1}\n'
    '{"index":2,"time":2,"process":1,"type":"invoke","f":"read","value":null}\n'
    '{"index":3,"time":3,"process":1,"type":"ok","f":"read","value":1}\n'
)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ('{"index":0,"time":0,"process":0,"type":"ok","f":"read","value":1}\n', "invocation"),
        (
            '{"index":0,"time":1,"process":0,"type":"ok","f":"write","value":1}\n'
            '{"index":1,"time":2,"process":0,"type":"invoke","f":"write","value":1}\n',
            "invocation",
        ),
        (
            '{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}\n'
            '{"index":1,"time":1,"process":0,"type":"invoke","f":"write","value":2}\n',
            "outstanding",
        ),
        (
            '{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}\n'
            '{"index":1,"time":1,"process":0,"type":"ok","f":"read","value":1}\n',
            "f",
        ),
    ],
)
@pytest.mark.parametrize("checker", [None, "linearizable", "set"])
def test_non_histories_are_errors_not_valid(
    tmp_path: Path, text: str, what: str, checker: str | None
) -> None:
    p = _file(tmp_path, "h.jsonl", text)
    code, out, err = _check(*(["--checker", checker] if checker else []), str(p))
    assert code == 3, (out, err)
    assert "valid" not in out
    assert len(err.strip().splitlines()) == 1 and str(p) in err and what in err


def test_a_folder_goes_on_past_a_bad_file_and_exits_with_the_worst(tmp_path: Path) -> None:
    _file(tmp_path, "a.edn", "{:type :ok :process 0 :f :read :value [[[")
    _file(tmp_path, "b.edn", "[1 2 3]")
    good = tmp_path / "run"
    good.mkdir()
    _file(good, "history.jsonl", REGISTER)
    code, out, err = _check("--model", "cas-register", str(tmp_path))
    assert code == 3
    assert f"{good / 'history.jsonl'}\tvalid" in out
    bad = [x for x in (out + err).splitlines() if "\terror\t" in x]
    assert len(bad) == 2 and all(x.count("\t") == 2 for x in bad)


def test_json_mode_prints_only_json_objects(tmp_path: Path) -> None:
    for d in ("x", "y", "z"):
        (tmp_path / d).mkdir()
    _file(tmp_path / "z", "history.jsonl", "[1]\n")  # not an op: an error
    _file(tmp_path / "x", "history.jsonl", REGISTER)
    _file(tmp_path, "cut.edn", "")  # empty: an error
    _file(tmp_path / "y", "history.jsonl", REGISTER + '{"index":4,"time":4,"pro')
    code, out, err = _check("--json", "--checker", "linearizable", str(tmp_path))
    docs = [json.loads(line) for line in out.splitlines()]  # every stdout line is JSON
    assert all(isinstance(d, dict) for d in docs)
    errors = [d for d in docs if "error" in d]
    verdicts = [d for d in docs if "valid" in d]
    assert len(docs) == 4 and len(errors) == 2 and len(verdicts) == 2 and code == 3
    assert all(set(d) == {"path", "error"} for d in errors)
    cut_doc = next(d for d in verdicts if d["path"].endswith("y/history.jsonl"))
    assert any("truncated last line 5" in n for n in cut_doc["notes"])


def test_truncated_last_line_note_is_one_line_in_text_mode(tmp_path: Path) -> None:
    p = _file(tmp_path, "h.jsonl", REGISTER + '{"index":4,"ti')
    code, out, err = _check("--checker", "linearizable", str(p))
    assert code == 0, (out, err)
    assert "UserWarning" not in err and "warn" not in err
    notes = [x for x in (out + err).splitlines() if "truncated last line 5" in x]
    assert len(notes) == 1


def test_unknown_model_and_bad_opt_are_one_line(tmp_path: Path) -> None:
    p = _file(tmp_path, "h.jsonl", REGISTER)
    for args in (
        ["--model", "no-such-model"],
        ["--checker", "linearizable", "--opt", "max_states=lots"],
        ["--checker", "linearizable", "--opt", "bogus=1"],
        ["--checker", "list-append", "--consistency-models", "wishful"],
        ["--checker", "list-append", "--opt", "time_limit=-3"],
        ["--checker", "no-such-checker"],
    ):
        code, out, err = _check(*args, str(p))
        assert code == 3, (args, out, err)
        assert len(err.strip().splitlines()) == 1, (args, err)


def test_another_workloads_history_is_a_verdict_or_an_error(tmp_path: Path) -> None:
    # a list-append history judged by every other checker: no traceback, never "valid" by crash
    p = DATA / "elle" / "G0.jsonl"
    for checker in ("set", "linearizable", "bank", "counter", "conflicts"):
        code, out, err = _check("--checker", checker, str(p))
        assert code in (0, 1, 2, 3), (checker, out, err)


def test_no_spec_list_append_defaults_to_strict_serializable(tmp_path: Path) -> None:
    code, out, err = _check(str(DATA / "elle" / "G0.jsonl"))
    assert code == 1, (out, err)
    assert "strict-serializable" in out + err
    doc = check_file(DATA / "elle" / "G0-valid.jsonl")
    assert isinstance(doc, dict) and doc["valid"] is True
    assert doc["checkers"]["list-append"]["stats"]["models"] == ["strict-serializable"]


def test_no_spec_register_history_defaults_to_cas_register(tmp_path: Path) -> None:
    p = _file(tmp_path, "h.jsonl", REGISTER)
    doc = check_file(p)
    assert isinstance(doc, dict), doc
    assert doc["valid"] is True and doc["checkers"]["linearizable"]["stats"]["model"] == (
        "cas-register"
    )


def test_no_spec_other_history_asks_for_a_checker(tmp_path: Path) -> None:
    ops = H().call(0, 1, 0, "add", 1).call(2, 3, 1, "read", None, [1]).ops
    write_jsonl(ops, tmp_path / "h.jsonl")
    doc = check_file(tmp_path / "h.jsonl")
    assert isinstance(doc, str) and "--checker" in doc and "\n" not in doc


def test_spec_beside_the_history_chooses_the_checkers(tmp_path: Path) -> None:
    TestSpec(workload="register", nemesis=()).save(tmp_path / "spec.json")
    keyed = H().call(0, 1, 0, "write", [7, 1]).call(2, 3, 1, "read", [7, None], [7, 1]).ops
    write_jsonl(keyed, tmp_path / "history.jsonl")
    doc = check_file(tmp_path)
    assert isinstance(doc, dict) and list(doc["checkers"]) == ["linearizable"]
    assert doc["valid"] is True and doc["checkers"]["linearizable"]["stats"]["independent"]
    # the spec's register workload checks [key value] ops: a bare register history is refused
    _file(tmp_path, "history.jsonl", REGISTER)
    doc = check_file(tmp_path / "history.jsonl")
    assert isinstance(doc, str) and "independent" in doc


def test_a_crashing_checker_is_unknown_not_valid(tmp_path: Path) -> None:
    # bank on a register history: values are not what bank expects
    ops = [Op(0, 0, 0, "invoke", "read", None), Op(1, 1, 0, "ok", "read", [[1, 2], 3])]
    write_jsonl(ops, tmp_path / "h.jsonl")
    for checker in ("bank", "set", "counter", "conflicts", "list-append", "linearizable"):
        doc = check_file(tmp_path / "h.jsonl", checker)
        assert isinstance(doc, str) or doc["valid"] in (False, "unknown", True)
        if isinstance(doc, dict) and doc["valid"] is True:
            # a valid verdict must come from the checker itself, not from a swallowed crash
            assert not any("crashed" in n for v in doc["checkers"].values() for n in v["notes"])


def test_export_refuses_a_bad_file_with_one_line(tmp_path: Path) -> None:
    p = _file(tmp_path, "h.jsonl", "[1]\n")
    r = CliRunner().invoke(main, ["export", str(p)])
    assert r.exit_code == 3 and len(r.stderr.strip().splitlines()) == 1


def test_export_says_when_it_dropped_a_truncated_last_line(tmp_path: Path) -> None:
    p = _file(tmp_path, "h.jsonl", REGISTER + '{"index":4,"ti')
    r = CliRunner().invoke(main, ["export", str(p)])
    assert r.exit_code == 0 and "4 ops" in r.stdout
    assert r.stderr.count("truncated last line 5") == 1 and len(r.stderr.splitlines()) == 1


def test_no_spec_transactions_of_reads_and_writes_are_a_multi_register(tmp_path: Path) -> None:
    # Knossos's multi-register: txn ops, but not list-append ones (list-append would ignore
    # them all and call the history valid)
    ops = (
        H()
        .call(0, 1, 0, "txn", [["write", "x", 1]])
        .call(2, 3, 1, "txn", [["read", "x", None]], [["read", "x", 2]])
        .ops
    )
    write_jsonl(ops, tmp_path / "h.jsonl")
    doc = check_file(tmp_path / "h.jsonl")
    assert isinstance(doc, dict) and doc["valid"] is False, doc
    assert doc["checkers"]["linearizable"]["stats"]["model"] == "multi-register"
    ops[0].value = ops[1].value = [["incr", "x", 1]]
    write_jsonl(ops, tmp_path / "h.jsonl")
    doc = check_file(tmp_path / "h.jsonl")
    assert isinstance(doc, str) and "--checker" in doc


def test_a_checker_that_judged_nothing_is_not_valid() -> None:
    doc = check_file(DATA / "linearizable" / "cas-ok.jsonl", "list-append")
    assert isinstance(doc, dict) and doc["valid"] == "unknown"
    notes = " ".join(doc["checkers"]["list-append"]["notes"])
    assert "judged no op" in notes or "nothing to judge" in notes


def test_every_registered_model_is_accepted_and_listed() -> None:
    """The model registry is the one list: --model takes each, --help names each."""
    from harness.checkers.models import MODELS
    from harness.checking import validate_options

    for name in MODELS:
        assert validate_options("linearizable", {"model": name})["model"] == name
    code, out, _ = _check("--help")
    assert code == 0 and all(name in out for name in MODELS)
    code, _, err = _check("--model", "nope", str(DATA / "linearizable" / "stale-read.jsonl"))
    assert code == 3 and "kv" in err


def test_check_imports_only_what_it_needs(tmp_path: Path) -> None:
    """`splitbrain check` of a register history (a Jepsen log, as the etcd set is) starts in a
    fresh interpreter without the run's machinery (spec, nemesis, runner, providers, drivers,
    reports, data libraries) and without what only other formats or models need."""
    import subprocess
    import sys

    log = tmp_path / "h.log"
    log.write_text(
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n"
        "INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t1\n"
    )
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(' '.join(sorted(sys.modules)), file=sys.stderr))\n"
        "from harness.cli import main\n"
        f"main(['check', '--model', 'cas-register', {str(log)!r}])\n"
    )
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    loaded = set(r.stderr.split())
    assert "harness.checkers.linearizable" in loaded  # it did check
    unwanted = {
        "harness.spec",
        "harness.runner",
        "harness.providers",
        "harness.report",
        "nemesis",
        "workloads",
        "orjson",
        "harness.checkers.linearizable.unique",
        "harness.checkers.elle",
        "pandas",
        "numpy",
        "matplotlib",
        "scipy",
        "psycopg",
        "psycopg2",
        "pymysql",
        "cassandra",
        "pymongo",
        "docker",
        "yaml",
        "requests",
    }
    assert not loaded & unwanted, sorted(loaded & unwanted)
