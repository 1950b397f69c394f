from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.edn import (
    EdnError,
    dumps,
    loads,
    loads_all,
    parse_history,
    read_edn_history,
    write_edn_history,
)
from harness.errors import HistoryError
from harness.history import Op, load, read_jsonl, write_jsonl

DATA = Path(__file__).resolve().parents[1] / "data"
EDN = DATA / "edn"


# -- the reader ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("nil", None),
        ("true", True),
        ("false", False),
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("12345678901234567890N", 12345678901234567890),
        ("1.5", 1.5),
        ("-2.5e3", -2500.0),
        ("1.5M", 1.5),
        ("##Inf", math.inf),
        (":invoke", "invoke"),
        (":jepsen.history/op", "jepsen.history/op"),
        ("a-symbol", "a-symbol"),
        ('"plain"', "plain"),
        (r'"q\"uote \\ back\nnew\ttab \u00e9"', 'q"uote \\ back\nnew\ttab é'),
        ('"multi\nline"', "multi\nline"),
        (r"\a", "a"),
        (r"\newline", "\n"),
        (r"\u0041", "A"),
        ("[1 2 [3]]", [1, 2, [3]]),
        ("(1, 2,,, 3)", [1, 2, 3]),
        ("#{3 1 2}", [1, 2, 3]),
        ("{:a 1, :b {:c nil}}", {"a": 1, "b": {"c": None}}),
        ("{[1 2] :k}", {(1, 2): "k"}),
        ('#inst "2024-01-02T03:04:05.000-00:00"', "2024-01-02T03:04:05.000-00:00"),
        ('#uuid "6e1f2c1a-1c4f-4c4e-9a4e-0c8e2b7b8a9d"', "6e1f2c1a-1c4f-4c4e-9a4e-0c8e2b7b8a9d"),
        ("#my/tag {:x 1}", {"x": 1}),
        ("[1 #_ 2 3]", [1, 3]),
        ("[1 #_ #_ 2 3 4]", [1, 4]),
        ("[1 ; comment ]\n 2]", [1, 2]),
    ],
)
def test_reader_values(text: str, value: object) -> None:
    assert loads(text) == value


def test_set_that_does_not_sort_keeps_its_order() -> None:
    assert loads("#{:b 1}") == ["b", 1]


def test_reader_sequence_of_forms() -> None:
    assert loads_all("{:a 1}\n{:a 2} ; trailing\n[3]") == [{"a": 1}, {"a": 2}, [3]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1 2", "never closed"),
        ("[1 2}", "closed by"),
        ("{:a}", "odd number"),
        ('"open', "unterminated string"),
        ("1.2.3", "malformed number"),
        ("]", "unexpected"),
        (r'"bad \q escape"', "escape"),
    ],
)
def test_reader_errors(text: str, message: str) -> None:
    with pytest.raises(EdnError, match=message):
        loads(text)


# -- histories from the hand-made files ----------------------------------------------------


def test_syntax_file_maps_to_ops() -> None:
    ops = read_edn_history(EDN / "syntax.edn")
    assert [o.index for o in ops] == list(range(12))
    assert ops[0] == Op(0, 10, 0, "invoke", "write", 1)
    assert ops[2].process == "nemesis" and ops[2].value == ["n1", "n2", "n3"]
    assert ops[3].value == {"n1": ["n2"], "n2": ["n1"]}
    assert ops[5].value == [["append", 3, -7], ["r", 3, [1, 2, -7]]] and ops[5].node == "n1"
    assert ops[6].value == [1.5, -2500.0]
    # a structured Jepsen error keeps its text, as Op.error is a string
    assert ops[6].error == '["not-found" "no \\"row\\"\\n\\tat \\\\ é"]'
    assert ops[7].value == [True, False, None] and ops[7].error == "timeout"
    assert ops[8].value == "2024-01-02T03:04:05.000-00:00"
    assert ops[8].extra == {"id": "6e1f2c1a-1c4f-4c4e-9a4e-0c8e2b7b8a9d"}
    assert ops[9].value == [1, 2] and ops[9].extra == {"x/y": 12345678901234567890}
    assert ops[10].value == ["a", "\n", "A", math.inf, 1.5, 3, 0]
    assert ops[11].value == {(1, 2): "vector-key", "s": 1, 3: []}


def test_vector_form_without_index_or_time() -> None:
    ops = read_edn_history(EDN / "vector-form.edn")
    assert [(o.index, o.time, o.process, o.type, o.f, o.value) for o in ops] == [
        (0, -1, 0, "invoke", "write", 1),
        (1, -1, 0, "ok", "write", 1),
        (2, -1, 1, "invoke", "read", None),
        (3, -1, 1, "ok", "read", 1),
    ]


def test_elle_ops_without_f_or_process() -> None:
    ops = read_edn_history(EDN / "elle-no-f.edn")
    assert [(o.f, o.process) for o in ops] == [("txn", None), ("txn", None)]
    assert ops[1].value == [["append", 1, 1], ["r", 2, [3]]]


def test_load_dispatches_on_extension(tmp_path: Path) -> None:
    ops = read_edn_history(EDN / "vector-form.edn")
    assert load(EDN / "vector-form.edn") == ops
    jsonl = tmp_path / "h.jsonl"
    write_jsonl(ops, jsonl)
    assert read_jsonl(jsonl) == ops


@pytest.mark.parametrize("name", ["syntax.edn", "vector-form.edn", "elle-no-f.edn"])
def test_round_trip_hand_made(name: str, tmp_path: Path) -> None:
    ops = read_edn_history(EDN / name)
    out = tmp_path / "out.edn"
    write_edn_history(ops, out)
    assert read_edn_history(out) == ops


def test_writer_format() -> None:
    ops = [
        Op(0, 5, 3, "invoke", "txn", [["append", 1, 2], ["r", 1, None]]),
        Op(1, 9, "nemesis", "info", "start-partition", {"n1": ["n2"]}, error='said "no"'),
        Op(2, -1, 4, "ok", "read", ["x", 1], node="n1", extra={"debug": True}),
    ]
    assert dumps(ops).splitlines() == [
        "{:index 0, :time 5, :type :invoke, :process 3, :f :txn, :value [[:append 1 2] [:r 1 nil]]}",
        '{:index 1, :time 9, :type :info, :process :nemesis, :f :start-partition, :value {"n1" ["n2"]}, :error "said \\"no\\""}',
        '{:index 2, :type :ok, :process 4, :f :read, :value ["x" 1], :node "n1", :debug true}',
    ]
    assert parse_history(dumps(ops)) == ops


def test_round_trip_of_jsonl_style_values() -> None:
    # values a splitbrain history can hold: strings that look like keywords or numbers
    ops = [
        Op(0, 1, 0, "invoke", "write", ["nil", ":k", "1", "", "a b", None, [], {}]),
        Op(1, 2, "nemesis", "info", "kill", {"n1": {"nested": [1.25, -3]}}),
        Op(2, 3, 1, "ok", "weird f!", 10**30, extra={"1": 2, "with space": "x"}),
    ]
    assert parse_history(dumps(ops)) == ops


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("{:type :invoke :process 0 :f :read}\n{:type :bogus :process 0 :f :read}\n", 2, ":type"),
        ("[{:type :invoke :process 0 :f :read}\n 42]\n", 2, "must be a map"),
        (
            "{:type :invoke :process 0 :f :read}\n\n{:type :ok :process 0 :f :read :value [1 2}\n",
            3,
            "malformed EDN",
        ),
        ("{:type :ok :process 0 :f :read :index :x}\n", 1, ":index"),
    ],
)
def test_malformed_history_names_file_and_line(
    tmp_path: Path, text: str, line: int, what: str
) -> None:
    path = tmp_path / "bad.edn"
    path.write_text(text)
    with pytest.raises(HistoryError) as e:
        read_edn_history(path)
    msg = str(e.value)
    assert str(path) in msg and f"line {line}" in msg and what in msg
    assert "\n" not in msg


# -- the reference histories (../shared) ----------------------------------------------------


def test_every_reference_history_imports_and_round_trips(reference: Path, tmp_path: Path) -> None:
    files = sorted(reference.rglob("*.edn"))
    assert len(files) >= 120
    for path in files:
        ops = read_edn_history(path)
        assert ops, path
        assert all(o.type in ("invoke", "ok", "fail", "info") for o in ops), path
        out = tmp_path / path.name
        write_edn_history(ops, out)
        assert read_edn_history(out) == ops, path


def test_reference_shapes(reference: Path) -> None:
    bad = read_edn_history(reference / "knossos/cas-register/bad/immediate-failure.edn")
    assert [(o.process, o.type, o.f, o.value) for o in bad] == [
        (1, "invoke", "read", None),
        (101, "invoke", "write", 3),
        (101, "fail", "write", 3),
        (1, "ok", "read", 3),
    ]
    multi = read_edn_history(reference / "knossos/multi-register/good/multi-register.edn")
    assert multi[0].value == [["read", "x", None]] and multi[0].time == 7686455705
    si = read_edn_history(reference / "elle/si-without-g-single.edn")
    assert [o.index for o in si[:4]] == [10, 11, 20, 21]  # :index is taken as given


def test_huge_history_parses(reference: Path) -> None:
    # its speed is measured in bench/bench_linearizable.py, not asserted here
    ops = read_edn_history(reference / "elle/huge-scc.edn")
    assert len(ops) == 20602


# -- issue 11: any bytes give ops or one HistoryError ----------------------------------------

_GOOD = "{:index 0 :time 0 :type :invoke :process 0 :f :read}\n"


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("{:index 1 :time 1/0 :type :ok :process 0 :f :read}", "divides by zero"),
        ("{:index 1 :time 1 :type :ok :process 0 :f :read :value 1/0}", "divides by zero"),
        ("{:index 1 :time 1e400 :type :ok :process 0 :f :read}", "time"),
        ("{:index 1 :time ##Inf :type :ok :process 0 :f :read}", "time"),
        ("{:index 1 :time ##NaN :type :ok :process 0 :f :read}", "time"),
        ("{:index 1e400 :time 1 :type :ok :process 0 :f :read}", "index"),
        ("{:index 1 :time 1 :type :ok :process 1e400 :f :read}", "process"),
        ("{:index 1 :time 1 :type :ok :process ##Inf :f :read}", "process"),
        (f"{{:index 1 :time {2**70} :type :ok :process 0 :f :read}}", "time"),
        ("{:index 1 :time 1 :type [:ok] :process 0 :f :read}", "type"),
        ("{:index 1 :time 1 :type {:a 1} :process 0 :f :read}", "type"),
        ("{:index 1 :time 1 :type :ok :process [0] :f :read}", "process"),
        ("{:index 1 :time 1 :type :ok :process {:p 0} :f :read}", "process"),
        ("{:index 1 :time 1 :type :ok :process 0 :f [:read]}", "f"),
        ("{:index 1 :time 1 :type :ok :process 0 :f {:a 1}}", "f"),
        (
            "{:index 1 :time 1 :type :ok :process 0 :f :read :value %s}"
            % ("[" * 5000 + "]" * 5000),
            "deep",
        ),
        (
            "{:index 1 :time 1 :type :ok :process 0 :f :read :value %s}" % ("[" * 200 + "]" * 200),
            "deep",
        ),
        ("{:index 1 :time 1 :type :ok :process 0 :f :read :value 1%s}" % ("0" * 5000), "number"),
        ("{:index 1 :time 1 :type :ok :process 0 :f :read :value %s/1}" % ("9" * 400), "ratio"),
        ("{[1 [2]] 3}", "type"),
    ],
)
def test_bad_op_fields_are_one_line_errors(tmp_path: Path, line: str, what: str) -> None:
    path = tmp_path / "bad.edn"
    path.write_text(_GOOD + line + "\n")
    with pytest.raises(HistoryError) as e:
        read_edn_history(path)
    msg = str(e.value)
    assert str(path) in msg and "line 2" in msg and what in msg and "\n" not in msg


def test_truncated_last_edn_line_is_dropped_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "cut.edn"
    path.write_text(_GOOD + "{:index 1 :time 1 :type :ok :process 0 :f :read}\n{:index 2 :ti")
    notes: list[str] = []
    ops = load(path, notes=notes)
    assert len(ops) == 2 and len(notes) == 1 and "truncated last line 3" in notes[0]


def test_fast_path_gives_the_slow_parsers_ops(reference: Path) -> None:
    from harness.edn import _parse_history_slow

    for path in sorted(reference.rglob("*.edn")) + sorted(EDN.glob("*.edn")):
        text = path.read_text()
        assert parse_history(text) == _parse_history_slow(text), path


def test_fast_path_matches_the_slow_one_on_tricky_lines() -> None:
    from harness.edn import _parse_history_slow

    text = (
        "{:index 0, :time 1, :type :invoke, :process 0, :f :txn, :value [[:append 1 2] [:r 1 nil]]}\n"
        '{:index 1 :time 2 :type :ok :process 0 :f :txn :value [[:append 1 2] [:r 1 [2]]] :node "n1"}\n'
        '{:index 2 :time 3 :type :invoke :process 1 :f :w :value "nil"}\n'
        '{:index 3 :time 4 :type :ok :process 1 :f :w :value "a b, :c [d]" :x 1.5}\n'
        '{:index 4 :time 5 :type :invoke :process :nemesis :f :start :value {"n1" #{"n2"}}}\n'
        "{:index 5 :time 6 :type :info :process :nemesis :f :start :value 12345678901234567890123}\n"
        "{:index 6 :time 7 :type :invoke :process 2 :f :w :value [true false nil -3 1e5]}\n"
        "{:index 7 :time 8 :type :info :process 2 :f :w :value sym} ; comment\n"
        "{:index 8 :time 9 :type :invoke :process 3 :f :w :value +3}\n"
        "{:index 9, :time 10, :type :info, :process 3, :f :w, :value 007}\n"
        "{:index 10 :type :invoke :process 4 :f :w :value 1.5M}\n"
        '{:index 11 :type :ok :process 4 :f :w :value "\\u00e9"}\n'
        "{:index 12 :type :invoke :process 5 :f :w :value :a/b}\n"
    )
    assert parse_history(text) == _parse_history_slow(text)


def test_chunked_parse_frees_lines_and_still_names_the_bad_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines already read are blanked as the parse moves on: an error in a later chunk (here a
    form spanning lines, then a bad op) is still found by the general reader on the whole
    text, at its true line; a slow form between fast chunks keeps its place and line."""
    import harness.edn as edn

    monkeypatch.setattr(edn, "_CHUNK", 3)
    good = [
        f"{{:index {2 * i}, :time {i}, :type :invoke, :process 0, :f :txn, :value [[:r 1 nil]]}}\n"
        f"{{:index {2 * i + 1}, :time {i}, :type :ok, :process 0, :f :txn, :value [[:r 1 []]]}}\n"
        for i in range(5)
    ]
    spanning = "{:index 10 :time 9 :type :invoke\n :process 0 :f :txn :value [[:r 1 nil]]}\n"
    path = tmp_path / "h.edn"
    path.write_text("".join(good) + spanning)
    ops, line_of = edn._read_edn(path, None)
    assert [op.index for op in ops] == list(range(11))
    assert [line_of(i) for i in range(11)] == list(range(1, 11)) + [11]
    assert ops == edn._parse_history_slow(path.read_text())
    # a map whose value, on a line of its own, looks like an op: the fast path gives up, and
    # the general reader reads the whole text again, from the file (not the blanked lines)
    nested = "{:index 11 :time 9 :type :ok :process 0 :f :txn :value\n{:a 1}\n}\n"
    path.write_text("".join(good) + spanning + nested)
    ops, _ = edn._read_edn(path, None)
    assert [op.index for op in ops] == list(range(12)) and ops[-1].value == {"a": 1}
    path.write_text("".join(good) + spanning + "{:index 11 :type :ok :process 0 :time :x}\n")
    with pytest.raises(HistoryError, match="line 13.*:time"):
        edn._read_edn(path, None)


def test_ops_without_index_are_numbered_across_fast_and_slow_lines(tmp_path: Path) -> None:
    # line 2 holds a set (#{...}): the general reader takes it while its neighbours go the
    # fast way; an op without :index is numbered by its place in the whole history, not in
    # its chunk (it was [0, 0, 2, 3], which validation refused as out of order)
    p = tmp_path / "h.edn"
    p.write_text(
        "{:type :invoke, :f :txn, :value [[:append 1 1]], :process 0, :time 1}\n"
        "{:type :ok, :f :txn, :value [[:append 1 1]], :process 0, :time 2, :tags #{1}}\n"
        "{:type :invoke, :f :txn, :value [[:r 1 nil]], :process 0, :time 3}\n"
        "{:type :ok, :f :txn, :value [[:r 1 [1]]], :process 0, :time 4}\n"
    )
    ops = load(p, validate=True)
    assert [op.index for op in ops] == [0, 1, 2, 3]
    assert ops[1].extra == {"tags": [1]}
