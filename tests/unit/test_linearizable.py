from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from harness.checkers import get as get_checker
from harness.checkers import models
from harness.checkers.linearizable import check
from harness.edn import read_edn_history
from harness.errors import HistoryError
from harness.history import Op, read_jsonl

DATA = Path(__file__).resolve().parents[1] / "data" / "linearizable"

# file -> (model, expected valid, keys with an anomaly). The histories are explained where
# they are generated: each is a handful of ops, readable in the .jsonl.
TABLE: dict[str, tuple[str, bool, list[Any]]] = {
    "info-applied": ("cas-register", True, []),
    "info-not-applied": ("cas-register", True, []),
    "info-applied-late": ("cas-register", True, []),
    "info-applied-twice": ("cas-register", False, [None]),
    "info-read-dropped": ("cas-register", True, []),
    "failed-cas": ("cas-register", True, []),
    "failed-cas-read-as-applied": ("cas-register", False, [None]),
    "cas-ok": ("cas-register", True, []),
    "cas-ok-impossible": ("cas-register", False, [None]),
    "concurrent-writes-one-order": ("register", True, []),
    "concurrent-writes-contradicted": ("register", False, [None]),
    "read-concurrent-with-write": ("register", True, []),
    "stale-read": ("register", False, [None]),
    "read-initial-after-write": ("register", False, [None]),
    "nemesis-ignored": ("register", True, []),
    "keyed-one-bad-key": ("cas-register", False, [2]),
    "keyed-good": ("cas-register", True, []),
    "multi-good": ("multi-register", True, []),
    "multi-torn-read": ("multi-register", False, [None]),
}


def test_table_covers_every_data_file() -> None:
    assert sorted(p.stem for p in DATA.glob("*.jsonl")) == sorted(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_hand_made_histories(name: str) -> None:
    model, valid, bad_keys = TABLE[name]
    v = check(read_jsonl(DATA / f"{name}.jsonl"), model=model)
    assert v.valid is valid, (v.anomalies, v.notes)
    assert [a.data["key"] for a in v.anomalies] == bad_keys
    assert all(a.type == "nonlinearizable" for a in v.anomalies)
    assert v.checker == "linearizable"


def test_registered() -> None:
    assert get_checker("linearizable") is check


def test_stale_read_evidence() -> None:
    h = read_jsonl(DATA / "stale-read.jsonl")
    (a,) = check(h, model="register").anomalies
    # the read (ops 4, 5) and the write that overwrote 1 (ops 2, 3), and the write of 1
    assert a.ops == [4, 5, 2, 3, 0, 1]
    assert a.data["possible_states"] == ["2"]
    assert a.data["prefix_end"] == 5
    assert a.explanation == (
        "read returned 1 at 6.00 s, but the register could only hold 2 then "
        "(set by write of 2 completed at 4.00 s); no order puts a write of 1 between them "
        "(the latest is write of 1 completed at 2.00 s)."
    )


def test_keyed_evidence_names_key() -> None:
    v = check(read_jsonl(DATA / "keyed-one-bad-key.jsonl"))
    assert v.stats["keys"] == 2 and v.stats["independent"] is True
    (a,) = v.anomalies
    assert a.explanation.startswith(
        "read of key 2 returned 3 at 10.00 s, but the register could only hold 4"
    )
    assert a.ops[:2] == [8, 9]


def test_missing_write_is_named() -> None:
    h = [
        Op(0, -1, 0, "invoke", "read", None),
        Op(1, -1, 0, "ok", "read", 3),
    ]
    (a,) = check(h).anomalies
    assert a.explanation == (
        "read returned 3 at op 1, but the register could only hold nil then (the initial value), "
        "and no write of 3 exists."
    )


def test_initial_value_option() -> None:
    h = [Op(0, -1, 0, "invoke", "read", None), Op(1, -1, 0, "ok", "read", 0)]
    assert check(h, model="register").valid is False
    assert check(h, model="register", initial=0).valid is True


def test_independent_detection_is_explicit_when_ambiguous() -> None:
    # pairs everywhere but no read [k nil]: could be a plain register holding pairs
    h = [
        Op(0, -1, 0, "invoke", "write", [1, 2]),
        Op(1, -1, 0, "ok", "write", [1, 2]),
    ]
    v = check(h, model="register")
    assert v.stats["independent"] is False and v.notes
    assert check(h, model="register", independent=True).stats["keys"] == 1


def test_unknown_f_is_a_history_error() -> None:
    h = [Op(0, -1, 0, "invoke", "add", 1), Op(1, -1, 0, "ok", "add", 1)]
    with pytest.raises(HistoryError, match="op 0: model cas-register has no operation 'add'"):
        check(h)


# -- budgets ------------------------------------------------------------------------------


def _hard_history(n: int = 8) -> list[Op]:
    """n concurrent writes, then reads that only their reverse order explains... except the
    last read, which no order explains: the search must explore many orders to say so."""
    h: list[Op] = []
    for p in range(n):
        h.append(Op(len(h), -1, p, "invoke", "write", p))
    for p in range(n):
        h.append(Op(len(h), -1, p, "ok", "write", p))
    h.append(Op(len(h), -1, n, "invoke", "read", None))
    h.append(Op(len(h), -1, n, "ok", "read", 99))
    return h


def test_states_budget_gives_unknown() -> None:
    h = _hard_history()
    assert check(h, model="register").valid is False  # with enough budget
    v = check(h, model="register", max_states=10)
    assert v.valid == "unknown"
    assert v.anomalies == []
    assert "states budget (10) ran out on the history" in v.notes[0]


def test_time_budget_gives_unknown() -> None:
    v = check(_hard_history(), model="register", time_limit=1e-9)
    assert v.valid == "unknown" and "time budget ran out" in v.notes[0]


# -- the reference histories (../shared) --------------------------------------------------


def test_knossos_reference_verdicts(reference: Path) -> None:
    files = sorted((reference / "knossos").rglob("*.edn"))
    assert len(files) == 121
    wrong = []
    for path in files:
        model = "multi-register" if "multi-register" in path.parts else "cas-register"
        v = check(read_edn_history(path), model=model, time_limit=10)
        expected = "good" in path.parts
        if v.valid is not expected:
            wrong.append((path.name, v.valid))
        if not expected:
            assert len(v.anomalies) == 1 and v.anomalies[0].ops, path
    assert wrong == []


def test_knossos_bad_analysis_evidence(reference: Path) -> None:
    h = read_edn_history(reference / "knossos/cas-register/bad/bad-analysis.edn")
    (a,) = check(h).anomalies
    # the spurious read of 2 (ops 13, 14); 0 was written last, 1 may be from a crashed write
    assert a.data["op"] == 13 and a.data["prefix_end"] == 14
    assert sorted(a.data["possible_states"]) == ["0", "1"]
    assert "no order puts a write of 2 between them" in a.explanation


# -- agreement with a brute-force search on random small histories ------------------------


def _brute_force(history: list[Op], model: models.Model) -> bool:
    """Try every subset of indeterminate ops and every order consistent with real time."""
    pending: dict[Any, tuple[int, Op]] = {}
    calls: list[tuple[int, float, str, Any, Any]] = []
    for pos, op in enumerate(history):
        if op.process == "nemesis":
            continue
        if op.type == "invoke":
            if op.process in pending:
                i, inv = pending.pop(op.process)
                calls.append((i, float("inf"), inv.f, inv.value, None))
            pending[op.process] = (pos, op)
            continue
        i, inv = pending.pop(op.process)
        if op.type == "ok":
            calls.append((i, pos, inv.f, inv.value, op.value))
        elif op.type == "info":
            calls.append((i, float("inf"), inv.f, inv.value, None))
    for i, inv in pending.values():
        calls.append((i, float("inf"), inv.f, inv.value, None))
    ops = []
    for call, ret, f, iv, cv in calls:
        prep = model.prepare(f, iv, cv, ret != float("inf"))
        if prep is not None:
            ops.append((call, ret, f, prep[0], prep[1]))
    definite = [o for o in ops if o[1] != float("inf")]
    maybe = [o for o in ops if o[1] == float("inf")]
    for k in range(len(maybe) + 1):
        for chosen in itertools.combinations(maybe, k):
            for order in itertools.permutations(definite + list(chosen)):
                # real time: a before b if a returned before b was invoked
                if any(
                    order[j][1] < order[i][0]
                    for i in range(len(order))
                    for j in range(i + 1, len(order))
                ):
                    continue
                s = model.init()
                for _, _, f, inp, out in order:
                    s = model.step(s, f, inp, out)
                    if s is None:
                        break
                else:
                    return True
    return False


def _random_history(rng: random.Random, model: str) -> list[Op]:
    h: list[Op] = []
    pending: dict[int, tuple[str, Any]] = {}
    n_ops = rng.randint(1, 6)
    started = 0
    procs = list(range(3))
    while started < n_ops or pending:
        p = rng.choice(procs)
        if p not in pending:
            if started >= n_ops:
                continue
            started += 1
            r = rng.random()
            if model == "multi-register":
                mops = [(rng.choice(("read", "write")), rng.choice("xy")) for _ in range(2)]
                f, v = "txn", [[m, k, rng.randrange(2) if m == "write" else None] for m, k in mops]
            elif r < 0.4:
                f, v = "read", None
            elif r < 0.75 or model == "register":
                f, v = "write", rng.randrange(3)
            else:
                f, v = "cas", [rng.randrange(3), rng.randrange(3)]
            pending[p] = (f, v)
            h.append(Op(len(h), -1, p, "invoke", f, v))
        else:
            f, v = pending.pop(p)
            typ = rng.choices(("ok", "info", "fail", None), (6, 2, 1, 1))[0]
            if typ is None:  # never completes; the process retires
                procs[procs.index(p)] = max(procs) + 1
                continue
            if f == "read" and typ == "ok":
                v = rng.choice((None, 0, 1, 2))
            elif f == "txn" and typ == "ok":
                v = [[m, k, rng.randrange(2) if m == "read" else x] for m, k, x in v]
            h.append(Op(len(h), -1, p, typ, f, v))
            if typ == "info":
                procs[procs.index(p)] = max(procs) + 1
    return h


@pytest.mark.parametrize("model", ["register", "cas-register", "multi-register"])
def test_agrees_with_brute_force(model: str) -> None:
    rng = random.Random(20240611 + len(model))
    m = models.get(model)
    seen = {True: 0, False: 0}
    for _ in range(400):
        h = _random_history(rng, model)
        expected = _brute_force(h, m)
        v = check(h, model=model)
        assert v.valid is expected, h
        seen[expected] += 1
    # the random histories exercise both outcomes
    assert seen[True] > 40 and seen[False] > 40, seen
