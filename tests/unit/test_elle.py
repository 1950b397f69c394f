"""The list-append checker: a table of hand-made minimal histories (one per anomaly, each with a
valid twin in tests/data/elle/), Elle's reference histories, and the graph primitives."""

from __future__ import annotations

import random
from typing import Any

import pytest

from harness.checkers import check as run_checker
from harness.checkers.elle import check
from harness.checkers.elle.anomalies import KINDS, MODELS, rules_out
from harness.checkers.elle.graph import WW, Graph, sccs
from harness.history import Op, read_jsonl
from tests.conftest import DATA

ELLE = DATA / "elle"
SER = {"models": ("serializable",)}
STRICT = {"models": ("strict-serializable",)}

# file, options, the anomaly types it must show (exactly), valid under those options
CASES: list[tuple[str, dict[str, Any], set[str], bool]] = [
    ("G0", SER, {"G0"}, False),
    ("G1a", SER, {"G1a"}, False),
    # seeing 1 but not the same txn's later 2 is also a 2-txn cycle: wr on 1, rw on 2
    ("G1b", SER, {"G1b", "G-single"}, False),
    ("G1c", SER, {"G1c"}, False),
    ("G-single", SER, {"G-single"}, False),
    ("G2-item", SER, {"G2-item"}, False),
    # write skew is allowed by snapshot isolation: reported, but valid for that model
    ("G2-item", {"models": ("snapshot-isolation",)}, {"G2-item"}, True),
    ("G-single", {"models": ("snapshot-isolation",)}, {"G-single"}, False),
    ("G-single", {"models": ("read-committed",)}, {"G-single"}, True),
    # both read x = [] and appended to it; the two appends also form a ww + rw cycle
    ("lost-update", SER, {"lost-update", "G-single"}, False),
    # each read alone proves one order of the two appends: together a write cycle (as Elle)
    ("incompatible-order", SER, {"incompatible-order", "G0"}, False),
    ("duplicate", SER, {"duplicate"}, False),
    ("internal", SER, {"internal"}, False),
    ("future-read", SER, {"future-read"}, False),
    ("dirty-update", SER, {"dirty-update", "G1a"}, False),
    ("stale-read", STRICT, {"G-single-realtime"}, False),
    ("stale-read", SER, set(), True),  # serializable allows reading the past
    (
        "stale-read",
        {"models": ("strict-serializable",), "realtime": False, "process": True},
        {"G-single-process"},
        False,
    ),
    ("info-observed", SER, {"G-single"}, False),
]


def _load(name: str) -> list[Op]:
    return read_jsonl(ELLE / f"{name}.jsonl")


@pytest.mark.parametrize(
    "name,options,types,valid", CASES, ids=[f"{c[0]}-{'-'.join(c[1]['models'])}" for c in CASES]
)
def test_anomaly_table(name: str, options: dict, types: set[str], valid: bool) -> None:
    v = check(_load(name), **options)
    assert set(v.counts) == types, [a.explanation for a in v.anomalies]
    assert v.valid is valid
    assert v.stats["complete"] is True
    for a in v.anomalies:
        assert a.ops and a.explanation
        assert a.data["models_ruled_out"] == list(KINDS[a.type].rules_out)


@pytest.mark.parametrize("name", sorted({c[0] for c in CASES}))
def test_valid_twin(name: str) -> None:
    v = check(_load(f"{name}-valid"), models=("strict-serializable",), process=True)
    assert v.anomalies == [], [a.explanation for a in v.anomalies]
    assert v.valid is True
    assert v.stats["consistent_with"] == list(MODELS)


def test_write_skew_explanation_names_both_missed_writes() -> None:
    v = check(_load("G2-item"), **SER)
    (a,) = v.anomalies
    assert a.ops == [1, 3] or a.ops == [3, 1]
    assert "did not see the append of 1" in a.explanation
    assert a.explanation.count("(rw)") == 2 and a.explanation.endswith("write skew (G2-item)")
    assert [step["edge"] for step in a.data["cycle"]] == ["rw", "rw"]
    assert {step["key"] for step in a.data["cycle"]} == {"x", "y"}
    assert v.stats["models_ruled_out"] == ["repeatable-read", "serializable", "strict-serializable"]
    assert "snapshot-isolation" in v.stats["consistent_with"]


def test_realtime_cycle_is_shortened_to_the_stale_read() -> None:
    v = check(_load("stale-read"), models="strict-serializable")
    (a,) = v.anomalies
    assert [s["edge"] for s in a.data["cycle"]] == ["rw", "realtime"]
    assert "completed at 0.001 s before T1 was invoked at 0.002 s" in a.explanation
    assert v.stats["consistent_with"] == MODELS[:-1] or v.stats["consistent_with"] == list(
        MODELS[:-1]
    )


def test_registry_and_unknown_model() -> None:
    assert run_checker("list-append", _load("G0")).valid is False
    from harness.errors import SpecError

    with pytest.raises(SpecError, match="'linearizable' is not one of"):
        check(_load("G0"), models=("linearizable",))


def test_strict_serializable_undetermined_without_realtime_edges() -> None:
    v = check(_load("stale-read-valid"), models=("serializable",))
    assert "strict-serializable" in v.stats["undetermined"]
    assert "strict-serializable" not in v.stats["consistent_with"]


def test_rules_out_follows_elle() -> None:
    assert rules_out({"G2-item"}) == ["repeatable-read", "serializable", "strict-serializable"]
    assert rules_out({"G-single"}) == [
        "repeatable-read",
        "snapshot-isolation",
        "serializable",
        "strict-serializable",
    ]
    assert rules_out({"G1c"}) == list(MODELS[1:])  # read uncommitted forbids only G0
    assert rules_out({"G2-item-realtime"}) == ["strict-serializable"]


def test_tarjan_is_iterative_and_emits_sinks_first() -> None:
    n = 50_000  # one long ring: a recursive Tarjan would overflow the stack
    g = Graph(n)
    for i in range(n):
        g.add(i, (i + 1) % n, WW)
    assert [len(c) for c in sccs(g, range(n))] == [n]
    chain = Graph(3)
    chain.add(0, 1, WW)
    chain.add(1, 2, WW)
    assert sccs(chain, range(3)) == [[2], [1], [0]]


def test_time_budget_yields_unknown_not_a_hang() -> None:
    # many disjoint write-skew pairs; a zero budget cannot search any of them
    ops: list[Op] = []
    for i in range(200):
        for p, (r, w) in enumerate(((f"a{i}", f"b{i}"), (f"b{i}", f"a{i}"))):
            for typ, val in (("invoke", None), ("ok", [])):
                ops.append(Op(len(ops), len(ops), p, typ, "txn", [["r", r, val], ["append", w, 1]]))
    v = check(ops, models=("snapshot-isolation",), time_limit=0.0)
    assert v.valid == "unknown"
    assert any("budget" in n for n in v.notes)
    assert check(ops, models=("snapshot-isolation",)).counts == {"G2-item": 200}


def test_nemesis_and_non_txn_ops_are_ignored() -> None:
    ops = _load("G2-item-valid")
    extra = [
        Op(len(ops), 5, "nemesis", "info", "start-partition", "halves"),
        Op(len(ops) + 1, 6, 9, "invoke", "read", None),
        Op(len(ops) + 2, 7, 9, "ok", "read", 3),
    ]
    v = check(ops + extra)
    assert v.valid is True and v.stats["txns"] == 2
    assert any("not list-append" in n for n in v.notes)


def test_random_serial_histories_are_valid() -> None:
    """A serial execution is strict-serializable whatever the seed: no false alarms."""
    for seed in range(5):
        rng = random.Random(seed)
        state: dict[int, list[int]] = {}
        ops: list[Op] = []
        for n in range(300):
            txn = []
            for _ in range(rng.randint(1, 4)):
                k = rng.randrange(4)
                if rng.random() < 0.5:
                    txn.append(["r", k, list(state.get(k, []))])
                else:
                    state.setdefault(k, []).append(n * 10 + len(txn))
                    txn.append(["append", k, n * 10 + len(txn)])
            invoke = [["r", k, None] if f == "r" else [f, k, v] for f, k, v in txn]
            ops.append(Op(len(ops), len(ops), n % 3, "invoke", "txn", invoke))
            ops.append(Op(len(ops), len(ops), n % 3, "ok", "txn", txn))
        v = check(ops, models=("strict-serializable",), process=True)
        assert v.valid is True, [a.explanation for a in v.anomalies][:3]


# -- Elle's reference histories (../shared) ---------------------------------------------------


def test_reference_si_without_g_single(reference) -> None:  # type: ignore[no-untyped-def]
    from harness.edn import read_edn_history

    h = read_edn_history(reference / "elle" / "si-without-g-single.edn")
    v = check(h, models=("snapshot-isolation", "repeatable-read"))
    assert v.counts == {"G2-item": 1}
    assert v.valid is False  # not repeatable read
    assert "repeatable-read" in v.stats["models_ruled_out"]
    assert "snapshot-isolation" in v.stats["consistent_with"]
    assert check(h, models="snapshot-isolation").valid is True


def test_reference_huge_scc(reference) -> None:  # type: ignore[no-untyped-def]
    """2.8 MB stress case (its speed is measured in bench/bench_elle.py)."""
    from harness.edn import read_edn_history

    h = read_edn_history(reference / "elle" / "huge-scc.edn")
    v = check(h, models=("strict-serializable",), time_limit=20)
    assert v.valid is False
    # a cycle with two or more rw edges that needs real-time order: the search names it
    # G-nonadjacent-realtime when no two of its rw edges are consecutive
    assert {"G2-item-realtime", "G-nonadjacent-realtime"} & set(v.counts)
    assert v.stats["largest_scc"] > 1000
    # Without real-time order the history has no cycle at all.
    assert check(h, models=("serializable",)).valid is True
