"""The native EDN reader (splitbrain_native.read_ops, used by harness.edn._read_edn for every
EDN history: registers, and the transactions of list-append when the native check cannot
decide) against the Python reader: on every EDN history the project has, and on
byte mutations of one, it gives either the Python reader's ops exactly (field by field, of the
same types) or a give-up (a reason), never a crash, and it gives up wherever Python refuses
the file. No speed is asserted (bench/bench_linearizable.py --parse-only has the figures).

Skipped when the module lacks read_ops, unless SPLITBRAIN_REQUIRE_NATIVE=1 (then it fails),
like test_native_equivalence.py."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import edn
from harness.edn import dumps, dumps_value, write_edn_history
from harness.errors import HistoryError
from harness.history import Op, load, no_gc, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from bench_elle import inject  # noqa: E402
from bench_elle import simulate as simulate_txns  # noqa: E402
from bench_linearizable import simulate  # noqa: E402

from tests.native_gate import require_native  # noqa: E402

require_native(
    edn._native_reader() is not None or os.environ.get("SPLITBRAIN_NATIVE") == "0",
    "splitbrain_native.read_ops is not importable: build the native core with "
    "`pip install ./native`",
    "the native core (with read_ops) is not built (pip install ./native)",
)
if os.environ.get("SPLITBRAIN_NATIVE") == "0":
    pytest.skip("SPLITBRAIN_NATIVE=0: the native reader is off", allow_module_level=True)


def _typed(v: Any) -> Any:
    """A value with the type of every part spelled out (1 == True == 1.0 elsewhere)."""
    if isinstance(v, list):
        return ("list", [_typed(x) for x in v])
    if isinstance(v, tuple):
        return ("tuple", [_typed(x) for x in v])
    if isinstance(v, dict):
        return ("dict", [(_typed(k), _typed(x)) for k, x in v.items()])
    return (type(v).__name__, repr(v))


def _fields(op: Op) -> Any:
    return _typed(
        [op.index, op.time, op.process, op.type, op.f, op.value, op.node, op.error, op.extra]
    )


def _python(path: Path) -> list[Op] | HistoryError:
    try:
        with no_gc():
            return edn._read_edn(path, None, native=False)[0]
    except HistoryError as e:
        return e


def compare(path: Path) -> str | None:
    """None when the native reader read the file (and agreed with Python), else its reason.
    Fails the test on any difference."""
    with no_gc():
        got = edn._read_native(path)
    reason = edn.last_native_reason
    py = _python(path)
    if got is None:
        assert reason, "a give-up without a reason"
        return reason
    ops, line_of = got
    assert not isinstance(py, HistoryError), f"native read what Python refuses: {py}"
    assert len(ops) == len(py)
    for i, (a, b) in enumerate(zip(ops, py, strict=True)):
        assert type(a) is Op
        assert _fields(a) == _fields(b), f"op {i}"
        assert a.to_dict() == b.to_dict() and a.extra == b.extra
        assert line_of(i) >= 1
    return None


def _write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_bytes(text.encode())
    return p


# -- the project's EDN histories ---------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "data").rglob("*.edn")), ids=str)
def test_fixtures(path: Path) -> None:
    compare(path)


def _shared() -> Path:
    return Path(os.environ.get("SPLITBRAIN_SHARED", ROOT.parent / "shared"))


@pytest.mark.parametrize("kind", ["knossos", "elle"])
def test_reference_histories(kind: str) -> None:
    where = _shared() / "reference-histories" / kind
    files = sorted(where.rglob("*.edn"))
    if not files:
        pytest.skip(f"no reference histories at {where} (set SPLITBRAIN_SHARED to shared/)")
    read = [p for p in files if compare(p) is None]
    if kind == "knossos":  # all but the multi-register transactions
        assert len(read) >= len(files) - 2, f"{len(read)} of {len(files)} read natively"


@pytest.mark.parametrize("form", ["lines", "vector", "list"])
@pytest.mark.parametrize(
    "kw", [{}, {"info_rate": 0.2}, {"active_keys": 3, "processes": 5}], ids=["plain", "info", "hot"]
)
def test_simulated_histories(tmp_path: Path, form: str, kw: dict[str, Any]) -> None:
    hist = simulate(n_ops=1500, seed=3, **kw)
    assert any(op.type == "info" for op in hist) and any(op.type == "fail" for op in hist)
    text = dumps(hist)
    if form == "vector":
        text = "[" + text + "]\n"
    elif form == "list":
        text = "(" + text.replace("\n", "\n ") + ")"
    p = _write(tmp_path, "h.edn", text)
    assert compare(p) is None, edn.last_native_reason
    jl = tmp_path / "h.jsonl"
    write_jsonl(hist, jl)
    assert [_fields(o) for o in load(p)] == [_fields(o) for o in load(jl)]


@pytest.mark.parametrize("injected", [False, True], ids=["valid", "injected"])
def test_simulated_list_append_histories(tmp_path: Path, injected: bool) -> None:
    hist = simulate_txns(3000, seed=4)
    if injected:
        hist = inject(hist, seed=4, rate=0.05)[0]
    p = tmp_path / "h.edn"
    write_edn_history(hist, p)
    assert compare(p) is None, edn.last_native_reason
    assert [_fields(o) for o in load(p)] == [_fields(o) for o in hist]


def _sharing(ops: list[Op]) -> list[tuple[int, int, int, int]]:
    """Which micro-op objects are one object (by first position), op by op: the memory
    Python's reader saves by sharing equal micro-ops (harness.history._intern_heads)."""
    first: dict[int, tuple[int, int]] = {}
    out = []
    for i, op in enumerate(ops):
        for j, m in enumerate(op.value if isinstance(op.value, list) else []):
            at = first.setdefault(id(m), (i, j))
            if at != (i, j):
                out.append((i, j, *at))
    return out


def test_txn_micro_ops_shared_as_python_shares_them(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    write_edn_history(simulate_txns(2000, seed=6), p)
    with no_gc():
        got = edn._read_native(p)
        assert got is not None, edn.last_native_reason
        py = edn._read_edn(p, None, native=False)[0]
        shared = _sharing(got[0])
        assert shared == _sharing(py)
    assert len(shared) > 1000  # reads of a key and a completion's appends are shared


def test_writer_output_with_every_field(tmp_path: Path) -> None:
    ops = [
        Op(0, 5, 0, "invoke", "write", 3),
        Op(1, 9, 0, "info", "write", 3, node="n1", error='timed out: "x"\n'),
        Op(2, 10, "nemesis", "invoke", "kill", ["n1", "n2"]),
        Op(3, 11, "nemesis", "info", "kill", {"n1": "killed"}, extra={"clock": 1, "why": [1]}),
        Op(4, 12, -7, "invoke", "cas", [1, None]),
        Op(5, 13, -7, "fail", "cas", [1, None], error="no"),
        Op(6, 14, 9, "invoke", "read", None),
        Op(7, 15, 9, "ok", "read", True),
    ]
    p = tmp_path / "w.edn"
    write_edn_history(ops, p)
    assert compare(p) is None, edn.last_native_reason
    assert [_fields(o) for o in load(p)] == [_fields(o) for o in ops]


# -- shapes: read exactly, or given up on -------------------------------------------------------

READ = {
    "no index or time": "{:type :invoke, :f :read, :value nil, :process 0}\n"
    "{:type :ok, :f :read, :value 3, :process 0}\n",
    "jepsen order": "{:type :invoke, :f :write, :value 1, :process 0, :time 7, :index 0}",
    "map value": "{:index 0 :type :info :process :nemesis :f :start :value {:n1 [1 2], 3 nil}}",
    "error forms": "{:type :fail :f :cas :value [1 2] :process 1 :error :conn-lost}\n"
    "{:type :fail :f :cas :value [1 2] :process 1 :error [:temporarily-unavailable nil]}\n"
    '{:type :info :f :cas :value [1 2] :process 1 :error {:a "x\\"y", :b true}}\n'
    "{:type :info :f :cas :value 1 :process 2 :node 3 :error 42}",
    "extra keys": '{:type :ok :f :read :value 1 :process 0 :foo 1 "bar" [1 "s"] :node "n1"}',
    "f nil or missing": "{:type :ok :f nil :value 1 :process 0}\n{:type :ok :value 2 :process 0}",
    "time -1": "{:index 0 :time -1 :type :ok :f :read :value 1 :process 0}",
    "integers": "{:type :ok :f :read :value [007 +5 5N -0 9223372036854775807] :process 0}\n"
    "{:type :ok :f :read :value -9223372036854775808 :process -9223372036854775807}",
    "comments and commas": "; a history\n{:type :ok, :f :read, :value 1, :process 0} ; done\n,,",
    "string escapes": '{:type :ok :f :read :value "a\\nb\\t\\"c\\\\" :process "p1"}',
    "unicode in strings": '{:type :ok :f :read :value "héllo ✓ 𝄞" :process 0}',
    "crlf": "{:type :invoke :f :read :value nil :process 0}\r\n{:type :ok :f :read :value 1 :process 0}\r\n",
    "list values": "{:type :ok :f :read :value (1 (2 3) []) :process 0}",
    "vector form": "[{:type :invoke :f :read :process 0}\n {:type :ok :f :read :process 0 :value 1}]",
    "empty txn-like value with f": "{:type :ok :f :read :value [] :process 0}",
    "keyword-ish": "{:type :ok :f :foo/bar :value [:a:b ::c :x.y* :<=>] :process :n-1}",
    "txn": "{:type :ok :f :txn :value [[:r 1 nil]] :process 0}",
    "txn pair": "{:type :invoke :f :txn :value [[:r 1 nil] [:append 300 7] [:r 300 nil]] :process 2}"
    "\n{:type :ok :f :txn :value [[:r 1 [1 2]] [:append 300 7] [:r 300 [7]]] :process 2}",
    "txn odd micro-ops": '{:type :invoke :f :txn :value [[:r "k" nil] [:w 1] [:append 1 true]'
    ' [:r 1 nil 5] [:append 1 "s"]] :process "p"}\n'
    '{:type :info :f :txn :value [[:r "k" nil] [:w 1] [:append 1 true] [:r 1 nil 5]'
    ' [:append 1 "s"] [:append 2 3]] :process "p"}',
    "txn without process": "{:type :invoke :f :txn :value [[:append 999 1]]}\n"
    "{:type :ok :f :txn :value [[:append 999 1]]}",
    "txn nil or empty": "{:type :invoke :f :txn :value nil :process 0}\n"
    "{:type :fail :f :txn :value [] :process 0}",
    "txn not micro-ops": "{:type :invoke :f :txn :value [1 [2] []] :process 0}",
}

GIVE_UP = {
    "micro-ops under another f": "{:type :ok :f :read :value [[:r 1 nil]] :process 0}",
    "elle omitted f": "{:type :ok :value [[:append 1 2]] :process 0}",
    "omitted f, empty value": "{:type :ok :value [] :process 0}",
    "big int": "{:type :ok :f :read :value 12345678901234567890 :process 0}",
    "float": "{:type :ok :f :read :value 1.5 :process 0}",
    "symbol null": "{:type :ok :f :read :value null :process 0}",
    "unicode escape": '{:type :ok :f :read :value "\\u0041" :process 0}',
    "duplicate key": "{:type :ok :f :read :value 1 :value 2 :process 0}",
    "keyword and string key": '{:type :ok :f :read :value 1 "value" 2 :process 0}',
    "set": "{:type :ok :f :read :value #{1 2} :process 0}",
    "tag": '{:type :ok :f :read :value #inst "2020-01-01" :process 0}',
    "discard": "{:type :ok :f :read :value #_ 1 2 :process 0}",
    "char": "{:type :ok :f :read :value \\a :process 0}",
    "bad type": "{:type :maybe :f :read :value 1 :process 0}",
    "string index": '{:index "0" :type :ok :f :read :value 1 :process 0}',
    "bool process": "{:type :ok :f :read :value 1 :process true}",
    "process past 64 bits": "{:type :ok :f :read :value 1 :process -9223372036854775808}",
    "not a map": "{:type :ok :f :read :value 1 :process 0}\n[1 2]",
    "truncated": "{:type :ok :f :read :value 1 :process 0}\n{:type :ok :f :re",
    "empty": "\n",
    "lone cr": "{:type :ok :f :read :value 1 :process 0}\r{:type :ok :f :read :process 0}",
    "vector key": "{:type :ok :f :read :value {[1] 2} :process 0}",
    "odd map": "{:type :ok :f :read :value 1 :process}",
}


@pytest.mark.parametrize("name", sorted(READ))
def test_shapes_read(tmp_path: Path, name: str) -> None:
    assert compare(_write(tmp_path, "h.edn", READ[name])) is None, edn.last_native_reason


@pytest.mark.parametrize("name", sorted(GIVE_UP))
def test_shapes_given_up(tmp_path: Path, name: str) -> None:
    assert compare(_write(tmp_path, "h.edn", GIVE_UP[name])) is not None


def test_deep_nesting_given_up(tmp_path: Path) -> None:
    for depth in (60, 99, 150):
        v = "[" * depth + "]" * depth
        text = f"{{:type :ok :f :read :value {v} :process 0}}"
        assert compare(_write(tmp_path, f"d{depth}.edn", text)) is not None


def test_top_level_set_is_a_history_error(tmp_path: Path) -> None:
    # found by the fuzz below: the Python reader flattened it with no line for its ops and
    # failed with an IndexError
    for text in ("#{{:type :ok :f :read :value 1 :process 0} 2}", "#foo [{:type :ok}]"):
        p = _write(tmp_path, "s.edn", text)
        assert compare(p) is not None
        with pytest.raises(HistoryError, match="top-level form"):
            load(p)


def test_invalid_utf8_given_up(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    p.write_bytes(b'{:type :ok :f :read :value "\xff" :process 0}')
    assert compare(p) is not None


# -- load: the native reader is used, can be turned off, errors stay Python's ------------------


def test_load_uses_native_and_env_turns_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = _write(tmp_path, "h.edn", READ["no index or time"])
    edn.last_native_reason = "unset"
    native_ops = load(p, validate=True)
    assert edn.last_native_reason is None
    monkeypatch.setenv("SPLITBRAIN_NATIVE", "0")
    python_ops = load(p, validate=True)
    assert edn.last_native_reason == "the native core has no read_ops"
    assert [_fields(o) for o in native_ops] == [_fields(o) for o in python_ops]


def test_validation_errors_are_pythons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = [
        "; header\n\n{:type :ok :f :read :value 1 :process 0}\n",  # completion, no invocation
        "{:type :invoke :f :read :process 0}\n\n{:type :invoke :f :read :process 0}",
        "[{:index 3 :type :invoke :f :read :process 0}\n {:index 2 :type :ok :f :read :process 0}]",
    ]
    for j, text in enumerate(bad):
        p = _write(tmp_path, f"b{j}.edn", text)
        monkeypatch.delenv("SPLITBRAIN_NATIVE", raising=False)
        assert compare(p) is None
        with pytest.raises(HistoryError) as native_err:
            load(p, validate=True)
        monkeypatch.setenv("SPLITBRAIN_NATIVE", "0")
        with pytest.raises(HistoryError) as python_err:
            load(p, validate=True)
        assert str(native_err.value) == str(python_err.value)


# -- fuzz ----------------------------------------------------------------------------------------

SEED_TEXT = "".join(READ[k] + "\n" for k in ("no index or time", "error forms", "extra keys"))
SEED_TEXT += dumps(simulate(n_ops=6, seed=5, info_rate=0.3))
SEED_TEXT += READ["txn pair"] + "\n" + dumps(simulate_txns(4, seed=5))
ALPHABET = b' \n\r,:{}[]()"\\;#_-+0123456789.NMaefilnrtux\xc3\xa9\xff\x00'


def test_byte_mutation_fuzz(tmp_path: Path) -> None:
    rng = random.Random(14)
    base = SEED_TEXT.encode()
    p = tmp_path / "f.edn"
    read = gave_up = 0
    for _ in range(1500):
        b = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(b))
            kind = rng.random()
            c = ALPHABET[rng.randrange(len(ALPHABET))]
            if kind < 0.4:
                b[at] = c
            elif kind < 0.7:
                b.insert(at, c)
            else:
                del b[at]
        p.write_bytes(bytes(b))
        if compare(p) is None:
            read += 1
        else:
            gave_up += 1
    assert read > 100 and gave_up > 100, (read, gave_up)


# -- Jepsen's log lines (harness/jepsen_log.py; splitbrain_native.read_log_ops) ---------------

PORCUPINE = Path(
    os.environ.get(
        "PORCUPINE_DATA",
        "/root/go/pkg/mod/github.com/anishathalye/porcupine@v1.3.1/test_data",
    )
)


@pytest.fixture(autouse=False)
def log_reader() -> None:
    """These tests need read_log_ops (an older build of the core has only read_ops)."""
    from harness import native

    require_native(
        hasattr(native.module(), "read_log_ops"),
        "splitbrain_native has no read_log_ops: rebuild the native core",
        "the native core is an older build without read_log_ops (pip install ./native)",
    )


def compare_log(path: Path) -> bool:
    """True when the native log reader read the file, giving the Python reader's ops and
    lines exactly; False when it gave up. Fails the test on any difference, or on a native
    read of a file Python refuses."""
    from harness import jepsen_log

    got = jepsen_log._read_native(path)
    try:
        py: list[Op] | HistoryError
        py, py_line = jepsen_log.read(path, native=False)
    except HistoryError as e:
        py = e
    if got is None:
        return False
    assert not isinstance(py, HistoryError), f"native read what Python refuses: {py}"
    ops, line_of = got
    assert [_fields(o) for o in ops] == [_fields(o) for o in py]
    assert all(type(o) is Op for o in ops)
    assert [line_of(i) for i in range(len(ops))] == [py_line(i) for i in range(len(py))]
    return True


def _log(ops: list[Op], sep: str = "\t") -> str:
    return "".join(
        f"INFO  jepsen.util - {o.process}{sep}:{o.type}{sep}:{o.f}{sep}{dumps_value(o.value)}\n"
        for o in ops
    )


def test_porcupine_etcd_logs_read_natively(log_reader: None) -> None:
    files = sorted((PORCUPINE / "jepsen").glob("etcd_*.log"))
    if not files:
        pytest.skip(f"Porcupine's test data is not installed ({PORCUPINE}; set PORCUPINE_DATA)")
    assert all(compare_log(p) for p in files if p.stat().st_size > 0)


@pytest.mark.parametrize("sep", ["\t", " ", " \t  "])
def test_simulated_logs_read_natively(log_reader: None, tmp_path: Path, sep: str) -> None:
    p = tmp_path / "h.log"
    ops = simulate(n_ops=400, keys=1, seed=9, info_rate=0.2)
    p.write_text(_log([Op(o.index, -1, o.process, o.type, o.f, o.value[1]) for o in ops], sep))
    assert compare_log(p)


LOG_LINES_READ = {
    "other lines skipped": "2015-01-01 INFO  jepsen.core - Run\nINFO  jepsen.util - 1\t:invoke",
    "timed out": "INFO  jepsen.util - 3\t:fail\t:read\t:timed-out",
    "wide pair": "INFO  jepsen.util - 3\t:invoke\t:cas\t[1   2]",
    "negative and zeros": "INFO  jepsen.util - 007\t:invoke\t:write\t-05",
    "no value": "INFO  jepsen.util - 3\t:invoke\t:read",
    "trailing blanks": "INFO  jepsen.util - 3\t:invoke\t:read\tnil \t ",
    "a nemesis": "INFO  jepsen.util - :nemesis\t:info\t:start-partition\tnil",
    "indented line skipped": "  INFO  jepsen.util - 3\t:invoke\t:read\tnil",
    "not jepsen.util": "INFO  jepsen.utility - 3\t:invoke\t:read\tnil",
    "dashed names": "INFO  jepsen.util - 3\t:invoke\t:compare-and-set\t[1 2]",
}
LOG_LINES_GIVEN_UP = {
    "a float": "INFO  jepsen.util - 3\t:ok\t:read\t1.5",
    "a string": 'INFO  jepsen.util - 3\t:ok\t:read\t"a"',
    "a map": "INFO  jepsen.util - 3\t:ok\t:read\t{:a 1}",
    "a bad type": "INFO  jepsen.util - 3\t:done\t:read\tnil",
    "a pair with a blank inside": "INFO  jepsen.util - 3\t:invoke\t:cas\t[ 1 2]",
    "three numbers": "INFO  jepsen.util - 3\t:invoke\t:cas\t[1 2 3]",
    "a big process": "INFO  jepsen.util - 1234567890123456789\t:invoke\t:read\tnil",
    "a big value": "INFO  jepsen.util - 3\t:invoke\t:write\t1234567890123456789",
    "a carriage return": "INFO  jepsen.util - 3\t:invoke\t:read\tnil\r",
    "a form feed": "INFO  jepsen.util - 3\t:invoke\t:read\tnil\x0c",
    "non-ASCII": "INFO  jepsen.util - 3\t:invoke\t:write\t:é",
}


@pytest.mark.parametrize("name", sorted(LOG_LINES_READ))
def test_log_shapes_read(log_reader: None, tmp_path: Path, name: str) -> None:
    p = _write(tmp_path, "h.log", LOG_LINES_READ[name] + "\n")
    assert compare_log(p)


@pytest.mark.parametrize("name", sorted(LOG_LINES_GIVEN_UP))
def test_log_shapes_given_up(log_reader: None, tmp_path: Path, name: str) -> None:
    p = _write(tmp_path, "h.log", LOG_LINES_GIVEN_UP[name] + "\n")
    assert not compare_log(p)


LOG_ALPHABET = b' \t\n\r:[]-0123456789nilokfaiuvejps."\xc3\xa9'


def test_log_byte_mutation_fuzz(log_reader: None, tmp_path: Path) -> None:
    rng = random.Random(25)
    ops = simulate(n_ops=8, keys=1, seed=5, info_rate=0.3)
    base = _log([Op(o.index, -1, o.process, o.type, o.f, o.value[1]) for o in ops]).encode()
    p = tmp_path / "f.log"
    read = gave_up = 0
    for _ in range(1500):
        b = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(b))
            kind = rng.random()
            c = LOG_ALPHABET[rng.randrange(len(LOG_ALPHABET))]
            if kind < 0.4:
                b[at] = c
            elif kind < 0.7:
                b.insert(at, c)
            else:
                del b[at]
        p.write_bytes(bytes(b))
        if compare_log(p):
            read += 1
        else:
            gave_up += 1
    assert read > 100 and gave_up > 100, (read, gave_up)
