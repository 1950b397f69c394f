import json
import threading
import warnings

import pytest

from harness.errors import HistoryError
from harness.history import HistoryWriter, Op, complete, load, pairs, read_jsonl, to_dataframe


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


def test_truncated_last_line_is_dropped_with_a_warning(tmp_path):
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as h:
        h.append(0, "invoke", "add", [0, 1])
        h.append(0, "ok", "add", [0, 1])
    path.write_bytes(path.read_bytes() + b'{"index":2,"time":5,"proc')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ops = read_jsonl(path)
    assert len(ops) == 2
    assert "truncated last line 3" in str(w[0].message)


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
    df = to_dataframe(ops)
    assert df.loc[3, "latency"] == 20 and df.loc[3, "invoke_time"] == 10


def test_load_dispatches_on_format(tmp_path):
    path = tmp_path / "h"
    path.write_text('{"index":0,"time":0,"process":0,"type":"invoke","f":"read"}\n')
    assert load(path)[0].f == "read"
    d = tmp_path / "run"
    d.mkdir()
    (d / "history.jsonl").write_text(path.read_text())
    assert len(load(d)) == 1
