"""The list-append checker's completeness (issues 14 and 11): long forks (G-nonadjacent),
garbage reads, reads that reverse a transaction's own appends, evidence kept on keys without
a single version order, Elle's model taxonomy, the default model, and declared options."""

from __future__ import annotations

import random

import pytest

from harness.checkers.elle import OPTIONS, check
from harness.checkers.elle.anomalies import KINDS, MODELS, forbidden_by, rules_out
from harness.errors import SpecError
from harness.history import Op, read_jsonl
from tests.conftest import DATA

ELLE = DATA / "elle"
SER = ("serializable",)
SI = ("snapshot-isolation",)
RR = ("repeatable-read",)
RC = ("read-committed",)
RA = ("read-atomic",)

# file, models, the anomaly types it must show (exactly), valid under those models
CASES = [
    ("G-nonadjacent", SER, {"G-nonadjacent"}, False),
    ("G-nonadjacent", SI, {"G-nonadjacent"}, False),  # a long fork is not snapshot isolation
    ("G-nonadjacent", RR, {"G-nonadjacent"}, False),
    ("G-nonadjacent", RC, {"G-nonadjacent"}, True),
    ("G-nonadjacent", RA, {"G-nonadjacent"}, True),
    ("garbage-versions", SER, {"garbage-versions"}, False),
    ("garbage-versions", ("read-uncommitted",), {"garbage-versions"}, False),
    ("reversed-appends", SER, {"incompatible-order"}, False),
    ("incompatible-G1c", SER, {"incompatible-order", "G1c"}, False),
    ("duplicate-G1c", SER, {"duplicate", "G1c"}, False),
    # issue 11: a non-repeatable read is Elle's `internal`, which read committed allows
    ("nonrepeatable-read", RC, {"internal"}, True),
    ("nonrepeatable-read", ("read-uncommitted",), {"internal"}, True),
    ("nonrepeatable-read", RR, {"internal"}, True),  # Elle: PL-2.99 proscribes G1, G2-item
    ("nonrepeatable-read", RA, {"internal"}, False),
    ("nonrepeatable-read", SI, {"internal"}, False),
    ("nonrepeatable-read", SER, {"internal"}, False),
    ("internal", RC, {"internal"}, True),
]


def _load(name: str) -> list[Op]:
    return read_jsonl(ELLE / f"{name}.jsonl")


@pytest.mark.parametrize("name,models,types,valid", CASES, ids=[f"{c[0]}-{c[1][0]}" for c in CASES])
def test_anomaly_table(name: str, models: tuple, types: set[str], valid: bool) -> None:
    v = check(_load(name), models=models)
    assert set(v.counts) == types, [a.explanation for a in v.anomalies]
    assert v.valid is valid
    assert v.stats["complete"] is True
    for a in v.anomalies:
        assert a.ops and a.explanation
        assert a.data["models_ruled_out"] == list(KINDS[a.type].rules_out)


@pytest.mark.parametrize("name", sorted({c[0] for c in CASES} - {"internal"}))
def test_valid_twin(name: str) -> None:
    v = check(_load(f"{name}-valid"), models=("strict-serializable",), process=True)
    assert v.anomalies == [], [a.explanation for a in v.anomalies]
    assert v.valid is True
    assert v.stats["consistent_with"] == list(MODELS)


def _edges_chain(a) -> None:  # type: ignore[no-untyped-def]
    """A cycle's evidence closes: each step starts where the previous one ended."""
    steps = a.data["cycle"]
    for s, nxt in zip(steps, steps[1:] + steps[:1], strict=True):
        assert s["to"] == nxt["op"]


def test_long_fork_names_the_fork() -> None:
    v = check(_load("G-nonadjacent"), models=SI)
    (a,) = v.anomalies
    _edges_chain(a)
    edges = [s["edge"] for s in a.data["cycle"]]
    assert edges.count("rw") == 2
    assert all(not (x == y == "rw") for x, y in zip(edges, edges[1:] + edges[:1], strict=True))
    # which transactions forked, on which keys
    forks = a.data["forks"]
    assert sorted(f["key"] for f in forks) == ["x", "y"]
    assert {f["reader"] for f in forks} == {5, 7}  # the two readers' completions
    assert "did not see the append of 1" in a.explanation
    assert a.explanation.endswith("long fork (G-nonadjacent)")
    assert "snapshot-isolation" in v.stats["models_ruled_out"]
    assert "read-committed" in v.stats["consistent_with"]


def test_non_repeatable_read_explanation_names_the_earlier_read() -> None:
    (a,) = check(_load("nonrepeatable-read"), models=RC).anomalies
    assert "earlier read of x in the same transaction returned []" in a.explanation
    assert "own" not in a.explanation  # T1 wrote nothing
    assert a.data["earlier_read"] == [] and a.data["own_appends"] == []


def test_missed_own_write_explanation_names_the_write() -> None:
    (a,) = check(_load("internal"), models=SER).anomalies
    assert "its own earlier append of [1]" in a.explanation
    assert a.data["own_appends"] == [1]


def test_garbage_reads_name_the_values() -> None:
    v = check(_load("garbage-versions"), models=SER)
    by_key = {a.data["key"]: a for a in v.anomalies}
    assert "no transaction ever appended to that key" in by_key["x"].explanation
    assert by_key["y"].data["values"] == [9]
    assert "no transaction appended 9" in by_key["y"].explanation


def test_reversed_appends_name_the_transaction_and_read() -> None:
    (a,) = check(_load("reversed-appends"), models=SER).anomalies
    assert a.ops == [3, 7]
    assert "appended 2 then 3 to key x in one transaction" in a.explanation
    assert "3 before 2" in a.explanation


def test_untrusted_key_edges_are_explained() -> None:
    v = check(_load("incompatible-G1c"), models=SER)
    (g1c,) = [a for a in v.anomalies if a.type == "G1c"]
    _edges_chain(g1c)
    assert {s["key"] for s in g1c.data["cycle"]} == {"x", "y"}
    assert any("single version order" in n for n in v.notes)


def test_untrusted_key_counted_once() -> None:
    """A key without a single version order is one key in the stats, not one as a loose key
    and another as a read key with an empty order (which also added its wr edges twice)."""
    h = _load("incompatible-G1c")
    v = check(h, models=SER)
    keys = {m[1] for op in h if isinstance(op.value, list) for m in op.value}
    assert v.stats["keys"] == len(keys)


# -- the taxonomy -----------------------------------------------------------------------------


def test_taxonomy_matches_elle() -> None:
    assert rules_out({"internal"}) == [
        "read-atomic",
        "snapshot-isolation",
        "serializable",
        "strict-serializable",
    ]
    assert rules_out({"G-nonadjacent"}) == [
        "repeatable-read",
        "snapshot-isolation",
        "serializable",
        "strict-serializable",
    ]
    assert rules_out({"G0"}) == list(MODELS)
    assert rules_out({"G1a"}) == list(MODELS[1:])
    assert rules_out({"garbage-versions"}) == list(MODELS)
    assert rules_out({"lost-update"}) == [
        "repeatable-read",
        "snapshot-isolation",
        "serializable",
        "strict-serializable",
    ]
    assert rules_out({"G-nonadjacent-realtime"}) == ["strict-serializable"]
    assert "G2-item" not in forbidden_by("snapshot-isolation")  # write skew
    assert "internal" not in forbidden_by("read-committed")
    # every reported kind is forbidden by strict serializability, the strongest model
    assert set(KINDS) <= forbidden_by("strict-serializable")
    # a stronger model forbids at least what a weaker one does
    for weaker, stronger in [
        ("read-uncommitted", "read-committed"),
        ("read-committed", "read-atomic"),
        ("read-committed", "repeatable-read"),
        ("read-atomic", "snapshot-isolation"),
        ("repeatable-read", "serializable"),
        ("snapshot-isolation", "serializable"),
        ("serializable", "strict-serializable"),
    ]:
        assert forbidden_by(weaker) <= forbidden_by(stronger)


# -- default model and options ----------------------------------------------------------------


def test_default_model_is_strict_serializable_and_says_so() -> None:
    v = check(_load("stale-read"))
    assert v.stats["models"] == ["strict-serializable"]
    assert v.stats["realtime"] is True
    assert v.valid is False and "G-single-realtime" in v.counts
    assert any("strict-serializable" in n and "Elle's default" in n for n in v.notes)
    given = check(_load("stale-read"), models=SER)
    assert given.valid is True and given.stats["models"] == ["serializable"]
    assert not any("Elle's default" in n for n in given.notes)


def test_options_are_declared_and_validated() -> None:
    names = {o.name for o in OPTIONS}
    assert {"models", "realtime", "process", "time_limit"} <= names
    (models,) = [o for o in OPTIONS if o.name == "models"]
    assert models.choices is not None and set(MODELS) <= set(models.choices)
    with pytest.raises(SpecError, match="frobnicate"):
        check(_load("G0"), frobnicate=1)
    with pytest.raises(SpecError, match="'linearizable'"):
        check(_load("G0"), models=("serializable", "linearizable"))
    with pytest.raises(SpecError, match="time_limit"):
        check(_load("G0"), time_limit="soon")
    # the spellings a run or the CLI passes
    assert check(_load("G0"), models="serializable,si").stats["models"] == [
        "serializable",
        "snapshot-isolation",
    ]
    assert check(_load("G0"), models=["rc"]).stats["models"] == ["read-committed"]


# -- input shapes -----------------------------------------------------------------------------


def _txn_history(value: object, f: str = "txn") -> list[Op]:
    ok = [["append", "x", 1]]
    return [
        Op(0, 0, 0, "invoke", "txn", ok),
        Op(1, 1, 0, "ok", "txn", ok),
        Op(2, 2, 1, "invoke", f, value),
        Op(3, 3, 1, "ok", f, value),
    ]


BAD = [
    ([["r", [1, 2], None]], "op 3: micro-op 0: key [1, 2] is not a scalar"),
    ([["append", {"a": 1}, 1]], "op 3: micro-op 0: key {'a': 1} is not a scalar"),
    ([["append", "x", [1]]], "op 3: append to key 'x' of a non-scalar value: [1]"),
    ([["append", "x", None]], "op 3: append to key 'x' of a non-scalar value: None"),
    ([["r", 3, 7]], "op 3: read of key 3 is not a list: 7"),
    ([["r", 3, [1, [2]]]], "op 3: read of key 3 holds a non-scalar element: [2]"),
    ([["r", 3]], "op 3: micro-op 0 is not an [f k v] triple: ['r', 3]"),
    ([7], "op 3: micro-op 0 is not an [f k v] triple: 7"),
    ([["w", 3, 1]], "op 3: micro-op 0 has function 'w'"),
    (7, "op 3: txn value is not a list of micro-ops: 7"),
    ({"x": 1}, "op 3: txn value is not a list of micro-ops"),
]


@pytest.mark.parametrize("value,message", BAD, ids=[m for _, m in BAD])
def test_wrong_shapes_are_one_line_history_errors(value: object, message: str) -> None:
    from harness.errors import HistoryError

    with pytest.raises(HistoryError) as e:
        check(_txn_history(value), models=SER)
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


def test_another_workloads_history_is_unknown_not_an_error() -> None:
    ops = [
        Op(0, 0, 0, "invoke", "write", 3),
        Op(1, 1, 0, "ok", "write", 3),
        Op(2, 2, 1, "invoke", "read", None),
        Op(3, 3, 1, "ok", "read", 3),
    ]
    v = check(ops, models=SER)
    assert v.valid == "unknown"
    assert any("no list-append transactions" in n for n in v.notes)
    assert check([], models=SER).valid == "unknown"


def test_random_corruptions_raise_only_history_errors() -> None:
    """Whatever garbage a value holds, the checker answers or names the op: never a
    TypeError/KeyError/RecursionError."""
    from harness.errors import HistoryError

    junk: list[object] = [None, 7, "s", [1], {"a": 1}, [[1]], (), 1.5, True, [None]]
    good = _load("G-nonadjacent") + _load("lost-update")
    rng = random.Random(7)
    for _ in range(400):
        ops = [Op(o.index, o.time, o.process, o.type, o.f, _copy(o.value)) for o in good]
        op = rng.choice(ops)
        if isinstance(op.value, list) and op.value and rng.random() < 0.8:
            m = rng.choice(op.value)
            m[rng.randrange(3)] = rng.choice(junk)
        else:
            op.value = rng.choice(junk)
        try:
            check(ops, models=SER)
        except HistoryError as e:
            assert str(e).startswith(f"op {op.index}: ") or str(e).startswith("op ")


def _copy(v: object) -> object:
    return [list(m) if isinstance(m, list) else m for m in v] if isinstance(v, list) else v


# -- no false alarms: a simulated snapshot-isolation database ---------------------------------


def _snapshot_isolation(n: int, seed: int) -> list[Op]:
    """Reads see the snapshot at the txn's start; first committer wins on each key it
    appends to. Real snapshot isolation: write skew, never a long fork or lost update."""
    rng = random.Random(seed)
    state: dict[int, list[int]] = {}
    version: dict[int, int] = {}  # key -> commit counter of its last append
    commits = 0
    ops: list[Op] = []
    running: dict[int, tuple[int, dict[int, list[int]], list[list]]] = {}
    counter = 0
    for step in range(n * 2):
        p = rng.randrange(4)
        if p not in running:
            txn: list[list] = []
            for _ in range(rng.randint(1, 3)):
                k = rng.randrange(3)
                if rng.random() < 0.5:
                    txn.append(["r", k, None])
                else:
                    counter += 1
                    txn.append(["append", k, counter])
            snap = {k: list(v) for k, v in state.items()}
            running[p] = (commits, snap, txn)
            ops.append(Op(len(ops), step, p, "invoke", "txn", [list(m) for m in txn]))
            continue
        start, snap, txn = running.pop(p)
        keys = {k for f, k, _ in txn if f == "append"}
        if any(version.get(k, -1) >= start for k in keys):
            ops.append(Op(len(ops), step, p, "fail", "txn", txn))
            continue
        done = []
        for f, k, v in txn:
            if f == "append":
                snap.setdefault(k, []).append(v)
                done.append([f, k, v])
            else:
                done.append([f, k, list(snap.get(k, []))])
        commits += 1
        for f, k, v in txn:
            if f == "append":
                state.setdefault(k, []).append(v)
                version[k] = commits
        ops.append(Op(len(ops), step, p, "ok", "txn", done))
    return ops


def test_snapshot_isolation_histories_are_never_called_long_forks() -> None:
    saw_write_skew = False
    for seed in range(6):
        h = _snapshot_isolation(300, seed)
        v = check(h, models=SI)
        assert v.valid is True, [a.explanation for a in v.anomalies][:2]
        assert v.stats["complete"] is True
        saw_write_skew |= "G2-item" in v.counts
        for a in v.anomalies:
            if "cycle" in a.data:
                _edges_chain(a)
    assert saw_write_skew  # the simulation does exercise the search


def test_unhashable_process_and_none_options() -> None:
    from harness.errors import HistoryError

    bad = [Op(0, 0, [1], "invoke", "txn", []), Op(1, 1, [1], "ok", "txn", [])]  # type: ignore[arg-type]
    with pytest.raises(HistoryError, match=r"^op 0: process is not a scalar: \[1\]$"):
        check(bad, models=SER)
    # None means "not given", as callers have always passed it
    v = check(_load("stale-read"), models=None, realtime=None)
    assert v.stats["models"] == ["strict-serializable"] and v.stats["realtime"] is True


def test_verdict_does_not_depend_on_hash_seed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Same history, same verdict, same evidence in the same order, whatever str hashing."""
    import json
    import subprocess
    import sys

    from harness.history import write_jsonl
    from tests.conftest import ROOT

    ops: list[Op] = []
    for o in _snapshot_isolation(200, 3) + _load("G-nonadjacent") + _load("garbage-versions"):
        value = [[f, f"k{k}", v] for f, k, v in o.value] if isinstance(o.value, list) else o.value
        ops.append(Op(len(ops), o.time, o.process, o.type, o.f, value))
    garbage = [["r", f"g{i}", [1]] for i in range(12)]  # one anomaly per key, in key order
    ops += [
        Op(len(ops), 0, 99, "invoke", "txn", [[f, k, None] for f, k, _ in garbage]),
        Op(len(ops) + 1, 1, 99, "ok", "txn", garbage),
    ]
    path = tmp_path / "h.jsonl"
    write_jsonl(ops, path)
    code = (
        "import json, sys; from harness.history import read_jsonl; "
        "from harness.checkers.elle import check; "
        f"v = check(read_jsonl({str(path)!r}), models=('serializable',)).to_dict(); "
        "[v['stats'].pop(k) for k in ('elapsed', 'txns_per_second')]; "
        "print(json.dumps(v, sort_keys=True, default=str))"
    )
    outs = []
    for seed in ("1", "2", "3"):
        env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
        r = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(r.stdout))
    assert outs[0]["anomalies"], "the history must show anomalies for this to mean anything"
    assert outs[0] == outs[1] == outs[2]
