import json
import threading
import warnings
from pathlib import Path

import pytest

from harness.errors import HistoryError
from harness.history import HistoryWriter, Op, complete, load, pairs, read_jsonl


def test_writer_appends_lines_whose_index_is_the_line_number(tmp_path):
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as h:

        def work(p):
            for i in range(200):
                h.append(p, "invoke", "add", [0, i])
                h.append(p, "ok", "add", [0, i])

        ts = [threading.Thread(target=work, args=(p,)) for p in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    ops = read_jsonl(path)
    assert [op.index for op in ops] == list(range(1600))
    assert h.counts == {"invoke": 800, "ok": 800, "fail": 0, "info": 0}
    assert all(
        json.loads(line)["index"] == n for n, line in enumerate(path.read_text().splitlines())
    )


def test_truncated_last_line_is_dropped_with_a_note(tmp_path):
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as h:
        h.append(0, "invoke", "add", [0, 1])
        h.append(0, "ok", "add", [0, 1])
    path.write_bytes(path.read_bytes() + b'{"index":2,"time":5,"proc')
    notes: list[str] = []
    ops = read_jsonl(path, notes)
    assert len(ops) == 2
    assert "truncated last line 3" in notes[0]


def test_malformed_line_in_the_middle_names_the_line(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text(
        '{"index":0,"time":0,"process":0,"type":"invoke","f":"read"}\nnot json\n'
        '{"index":2,"time":0,"process":0,"type":"ok","f":"read"}\n'
    )
    with pytest.raises(HistoryError, match="malformed history line 2"):
        read_jsonl(path)


def test_bad_type_is_rejected(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"index":0,"time":0,"process":0,"type":"done","f":"read"}\n')
    with pytest.raises(HistoryError, match="line 1"):
        read_jsonl(path)


def test_pairs_and_dataframe():
    ops = [
        Op(0, 10, 0, "invoke", "add", [0, 1]),
        Op(1, 15, 1, "invoke", "read", [0, None]),
        Op(2, 20, "nemesis", "info", "start-kill", {"node": "n1"}),
        Op(3, 30, 0, "ok", "add", [0, 1]),
        Op(4, 40, 2, "invoke", "add", [0, 2]),
    ]
    ps = list(pairs(ops))
    assert [(i.index, c.index if c else None) for i, c in ps] == [(0, 3), (1, None), (4, None)]
    assert complete(ops) == {0: ops[3]}


def test_load_dispatches_on_format(tmp_path):
    path = tmp_path / "h"
    path.write_text('{"index":0,"time":0,"process":0,"type":"invoke","f":"read"}\n')
    assert load(path)[0].f == "read"
    d = tmp_path / "run"
    d.mkdir()
    (d / "history.jsonl").write_text(path.read_text())
    assert len(load(d)) == 1


# -- issue 11: parsers refuse bad input with one line, validation refuses non-histories -------

from harness.history import validate  # noqa: E402

_INV = '{"index":%d,"time":%d,"process":%s,"type":"invoke","f":"%s","value":null}'
_OK = '{"index":%d,"time":%d,"process":%s,"type":"ok","f":"%s","value":1}'


def _write(tmp_path, *lines, end="\n"):
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(lines) + end)
    return p


def _one_line_error(path, fn=read_jsonl):
    with pytest.raises(HistoryError) as e:
        fn(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_truncated_last_line_is_a_note_not_a_python_warning(tmp_path):
    p = _write(
        tmp_path, _INV % (0, 0, 0, "read"), _OK % (1, 1, 0, "read"), '{"index":2,"ti', end=""
    )
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warnings-module output fails the test
        ops = load(p, notes=notes)
    assert len(ops) == 2
    assert len(notes) == 1 and "truncated last line 3" in notes[0] and "\n" not in notes[0]


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("[1, 2, 3]", "not a JSON object"),
        ('"just a string"', "not a JSON object"),
        ("null", "not a JSON object"),
        ('{"index":1,"time":Infinity,"process":0,"type":"ok","f":"read"}', "line 2"),
        ('{"index":1,"time":1e400,"process":0,"type":"ok","f":"read"}', "time"),
        ('{"index":1e400,"time":1,"process":0,"type":"ok","f":"read"}', "index"),
        ('{"index":1,"time":1,"process":1e400,"type":"ok","f":"read"}', "process"),
        ('{"index":1,"time":1,"process":0,"type":["ok"],"f":"read"}', "type"),
        ('{"index":1,"time":1,"process":0,"type":{"a":1},"f":"read"}', "type"),
        ('{"index":1,"time":1,"process":[0],"type":"ok","f":"read"}', "process"),
        ('{"index":1,"time":1,"process":{"p":0},"type":"ok","f":"read"}', "process"),
        ('{"index":1,"time":1,"process":true,"type":"ok","f":"read"}', "process"),
        ('{"index":1,"time":1,"process":0,"type":"ok","f":["read"]}', "f"),
        ('{"index":1,"time":1,"process":0,"type":"ok","f":7}', "f"),
        ('{"index":"1","time":1,"process":0,"type":"ok","f":"read"}', "index"),
        ('{"index":1,"time":"1","process":0,"type":"ok","f":"read"}', "time"),
        ('{"index":1,"time":-5,"process":0,"type":"ok","f":"read"}', "time"),
        (f'{{"index":1,"time":{2**70},"process":0,"type":"ok","f":"read"}}', "time"),
        ('{"index":1,"time":1,"process":0,"type":"ok","f":"read","node":[1]}', "node"),
        (
            '{"index":1,"time":1,"process":0,"type":"ok","f":"read","value":%s}'
            % ("[" * 5000 + "]" * 5000),
            "deep",
        ),
        (
            '{"index":1,"time":1,"process":0,"type":"ok","f":"read","value":%s}'
            % ("[" * 200 + "]" * 200),
            "deep",
        ),
    ],
)
def test_jsonl_bad_fields_are_one_line_errors(tmp_path, line, what):
    p = _write(tmp_path, _INV % (0, 0, 0, "read"), line, _OK % (2, 2, 5, "read"))
    msg = _one_line_error(p)
    assert "line 2" in msg and what in msg


def test_jsonl_keeps_big_integers_exact(tmp_path):
    big = 2**80 + 1
    p = _write(
        tmp_path, f'{{"index":0,"time":0,"process":0,"type":"invoke","f":"w","value":{big}}}'
    )
    assert read_jsonl(p)[0].value == big


def test_jsonl_moderate_nesting_is_fine(tmp_path):
    v = "[" * 50 + "]" * 50
    p = _write(tmp_path, f'{{"index":0,"time":0,"process":0,"type":"invoke","f":"w","value":{v}}}')
    assert read_jsonl(p)[0].value is not None


def _ops(*specs):
    """(process, type, f[, time]) -> ops with consecutive indices."""
    out = []
    for i, s in enumerate(specs):
        p, typ, f = s[:3]
        t = s[3] if len(s) > 3 else i * 10
        out.append(Op(i, t, p, typ, f, None))
    return out


def test_a_well_formed_history_validates():
    validate(
        _ops(
            (0, "invoke", "read"),
            ("nemesis", "invoke", "start-kill"),
            (1, "invoke", "write"),
            ("nemesis", "info", "start-kill"),
            (0, "ok", "read"),
            (1, "info", "write"),
            (0, "invoke", "write"),
            ("nemesis", "info", "jepsen-style-event"),  # Jepsen's one-op nemesis records
            (0, "fail", "write"),
            (2, "invoke", "read"),  # never completed: fine
        )
    )


@pytest.mark.parametrize(
    ("ops", "position", "what"),
    [
        ([], None, "empty"),
        (_ops((0, "ok", "read"), (1, "ok", "read")), 0, "without an invocation"),
        (_ops((0, "ok", "read"), (0, "invoke", "read")), 0, "without an invocation"),
        (_ops((0, "invoke", "read"), (0, "invoke", "read")), 1, "outstanding"),
        (_ops((0, "invoke", "read"), (0, "ok", "write")), 1, "f"),
        (_ops(("nemesis", "invoke", "kill"), ("nemesis", "invoke", "kill")), 1, "outstanding"),
        (_ops(("nemesis", "invoke", "kill"), ("nemesis", "info", "stop")), 1, "f"),
        (_ops(("nemesis", "ok", "kill")), 0, "without an invocation"),
        (_ops(("nemesis", "info", "start"), ("nemesis", "info", "stop")), None, "no invocations"),
        (_ops((0, "invoke", "read", 50), (0, "ok", "read", 40)), 1, "before its invocation"),
    ],
)
def test_non_histories_are_refused_naming_the_op(ops, position, what):
    lines = {i: 100 + i for i in range(len(ops))}
    with pytest.raises(HistoryError) as e:
        validate(ops, name="h.jsonl", line_of=lines.__getitem__)
    msg = str(e.value)
    assert what in msg and "\n" not in msg and msg.startswith("h.jsonl")
    if position is not None:
        assert f"line {100 + position}" in msg


def test_indices_must_increase():
    ops = _ops((0, "invoke", "read"), (0, "ok", "read"))
    ops[1].index = 0
    with pytest.raises(HistoryError, match="index"):
        validate(ops)


def test_load_validates_and_names_the_file_line(tmp_path):
    p = _write(tmp_path, _INV % (0, 0, 0, "read"), "", _OK % (1, 1, 1, "read"))
    with pytest.raises(HistoryError) as e:
        load(p, validate=True)
    assert f"{p}: line 3" in str(e.value) and "without an invocation" in str(e.value)
    assert len(load(p)) == 2  # parsing alone does not judge the structure


def test_reading_shares_equal_micro_ops_only(tmp_path: Path) -> None:
    """An ok txn's appends are its invocation's lists, invocations' reads of a key are one
    list, key ints are one object; a micro-op equal only across types (1 vs 1.0) is not
    shared, and every value reads back as written."""
    rows = [
        (0, "invoke", [["append", 1000, 1], ["r", 1000, None], ["append", 5, 1]]),
        (0, "ok", [["append", 1000, 1], ["r", 1000, [1]], ["append", 5, 1.0]]),
        (1, "invoke", [["r", 1000, None]]),
        (1, "fail", [["r", 1000, None]]),
    ]
    path = tmp_path / "h.jsonl"
    path.write_text(
        "".join(
            json.dumps({"index": i, "time": i, "process": p, "type": t, "f": "txn", "value": v})
            + "\n"
            for i, (p, t, v) in enumerate(rows)
        )
    )
    ops = load(path)
    assert [op.value for op in ops] == [v for _, _, v in rows]
    assert type(ops[1].value[2][2]) is float
    inv, ok, inv2, fail = (op.value for op in ops)
    assert ok[0] is inv[0] and ok[2] is not inv[2] and ok[1] is not inv[1]
    assert inv2[0] is inv[1] and fail[0] is inv2[0]
    assert ok[1][1] is inv[0][1]  # one int object for key 1000
