from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from harness.checkers import get as get_checker
from harness.checkers import linearizable, models
from harness.checkers.linearizable import check
from harness.edn import read_edn_history
from harness.errors import HistoryError
from harness.history import Op, read_jsonl
from harness.verdict import Anomaly

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
        "read returned 1 at 6.00 s (invoked at 5.00 s), but given the listed ops the register "
        "could only hold 2 then (set by write of 2 invoked at 3.00 s, completed at 4.00 s); "
        "no order puts a write of 1 between them "
        "(the latest is write of 1 invoked at 1.00 s, completed at 2.00 s)."
    )


def test_keyed_evidence_names_key() -> None:
    v = check(read_jsonl(DATA / "keyed-one-bad-key.jsonl"))
    assert v.stats["keys"] == 2 and v.stats["independent"] is True
    (a,) = v.anomalies
    assert a.explanation.startswith(
        "read of key 2 returned 3 at 10.00 s (invoked at 9.00 s), but given the listed ops "
        "the register could only hold 4"
    )
    assert a.ops[:2] == [8, 9]


def test_missing_write_is_named() -> None:
    h = [
        Op(0, -1, 0, "invoke", "read", None),
        Op(1, -1, 0, "ok", "read", 3),
    ]
    (a,) = check(h).anomalies
    assert a.explanation == (
        "read returned 3 at op 1 (invoked at op 0), but given the listed ops the register could "
        "only hold nil then (the initial value), and no write of 3 exists."
    )


def test_overwritten_initial_value_is_named() -> None:
    (a,) = check(read_jsonl(DATA / "read-initial-after-write.jsonl"), model="register").anomalies
    assert a.explanation.endswith(", and nil is the initial value, already overwritten.")


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


# -- evidence: the listed ops alone must be a contradiction -------------------------------


def _listed(history: list[Op], a: Anomaly) -> list[Op]:
    """The anomaly's listed ops (invocations and completions), in history order."""
    listed = set(a.ops)
    return [op for op in history if op.index in listed]


def _fails_alone(history: list[Op], a: Anomaly, model: str, independent: bool) -> bool:
    """Checked on their own, the listed ops are not linearizable, and fail at the same op."""
    v = check(_listed(history, a), model=model, independent=independent)
    return v.valid is False and [b.data["op"] for b in v.anomalies] == [a.data["op"]]


@pytest.mark.parametrize("name", sorted(n for n, (_, valid, _) in TABLE.items() if not valid))
def test_evidence_of_invalid_histories_fails_alone(name: str) -> None:
    model, _, bad_keys = TABLE[name]
    h = read_jsonl(DATA / f"{name}.jsonl")
    v = check(h, model=model)
    assert [a.data["key"] for a in v.anomalies] == bad_keys
    for a in v.anomalies:
        assert a.data["evidence_minimal"] is True
        assert _fails_alone(h, a, model, v.stats["independent"]), a


def _calls(*calls: tuple[int, float, float, str, Any, Any], key: Any = None) -> list[Op]:
    """A history from (process, invoked at s, completed ok at s, f, invoke value, ok value);
    with `key`, in the independent form [key value]."""
    events = []
    for p, t0, t1, f, iv, ov in calls:
        events += [(t0, p, "invoke", f, iv), (t1, p, "ok", f, ov)]
    events.sort(key=lambda e: e[0])
    return [
        Op(i, int(t * 1e9), p, typ, f, v if key is None else [key, v])
        for i, (t, p, typ, f, v) in enumerate(events)
    ]


def test_cas_contradicted_by_an_earlier_read() -> None:
    # Modelled on a real run (Postgres, reads from a replica under a partition). Every order
    # fails at the cas 0->2, but only because the read of 1, invoked after the write of 0 had
    # completed, puts the write of 1 after the write of 0. The evidence used to be the cas and
    # the two writes, which can be ordered (write 1, write 0, cas): the read must be listed.
    h = _calls(
        (0, 1, 4, "write", 1, 1),  # ops 0, 2
        (1, 3, 6, "write", 0, 0),  # ops 1, 4
        (2, 5, 9, "cas", [0, 2], [0, 2]),  # ops 3, 7
        (3, 7, 8, "read", None, 1),  # ops 5, 6
        key=53,
    )
    (a,) = check(h).anomalies
    assert a.data["key"] == 53 and a.data["op"] == 3 and a.data["prefix_end"] == 7
    assert a.ops == [3, 7, 0, 2, 1, 4, 5, 6]
    assert _fails_alone(h, a, "cas-register", True)
    # the read is needed: without it the other three ops can be ordered
    assert check([op for op in h if op.process != 3], independent=True).valid is True
    assert a.explanation == (
        "cas of key 53 from 0 to 2 succeeded at 9.00 s (invoked at 5.00 s), but given the listed "
        "ops the register could only hold 1 then (set by write of 1 invoked at 1.00 s, completed "
        "at 4.00 s); no order puts a write of 0 between them (the latest is write of 0 invoked "
        "at 3.00 s, completed at 6.00 s). The other ops that force this: read returned 1 invoked "
        "at 7.00 s, completed at 8.00 s."
    )


def test_read_contradicted_by_an_earlier_read() -> None:
    # The read of nil fails, although the write of 1 is still running when it returns: the
    # earlier read of 1 shows the write had already taken effect.
    h = _calls(
        (0, 1, 6, "write", 1, 1),
        (1, 2, 3, "read", None, 1),
        (2, 4, 5, "read", None, None),
    )
    (a,) = check(h, model="register").anomalies
    assert h[a.data["op"]].process == 2
    assert {h[i].process for i in a.ops} == {0, 1, 2}
    assert _fails_alone(h, a, "register", False)
    assert check([op for op in h if op.process != 1], model="register").valid is True
    assert "The other ops that force this: read returned 1 invoked at 2.00 s" in a.explanation


def test_evidence_keeps_the_write_a_read_could_have_seen() -> None:
    # The read of 1, invoked after the write of 4 completed, is explained by the concurrent
    # write of 1 (process 1), which it puts after the write of 4: then the cas 4->0 fails. Leaving that write out would still give
    # a contradiction, a false one: the read would look stale ("1 was overwritten by 4").
    h = _calls(
        (0, 0, 1, "write", 1, 1),
        (0, 2, 5, "write", 4, 4),
        (1, 3, 7, "write", 1, 1),
        (2, 6, 6.5, "read", None, 1),
        (3, 8, 9, "cas", [4, 0], [4, 0]),
    )
    (a,) = check(h).anomalies
    cas = next(op.index for op in h if op.f == "cas")
    assert a.data["op"] == cas
    assert {h[i].process for i in a.ops} == {0, 1, 2, 3}
    assert _fails_alone(h, a, "cas-register", False)
    without = check([op for op in h if op.process != 1]).anomalies
    assert [b.data["op"] for b in without] != [cas]  # the false, stale-read story


def test_evidence_shrink_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # with no time to shrink, the evidence is the prefix no order can place: big, still valid
    monkeypatch.setattr(linearizable, "_EVIDENCE_TIME", 0.0)
    h = read_jsonl(DATA / "concurrent-writes-contradicted.jsonl")
    (a,) = check(h, model="register").anomalies
    assert a.data["evidence_minimal"] is False
    assert _fails_alone(h, a, "register", False)


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
        h = read_edn_history(path)
        v = check(h, model=model, time_limit=10)
        expected: bool | str = "good" in path.parts
        if all(op.process == "nemesis" for op in h):
            # Knossos calls a history of nemesis ops alone linearizable; here a history with
            # no op of the checker's kind is "unknown", saying why (issue 11)
            expected = "unknown"
            assert v.notes == ["no client op (read/write/cas) in the history: nothing to check"]
        if v.valid != expected or isinstance(v.valid, bool) != isinstance(expected, bool):
            wrong.append((path.name, v.valid))
        if not expected:
            assert len(v.anomalies) == 1 and v.anomalies[0].ops, path
    assert wrong == []


def test_knossos_bad_analysis_evidence(reference: Path) -> None:
    h = read_edn_history(reference / "knossos/cas-register/bad/bad-analysis.edn")
    (a,) = check(h).anomalies
    # the spurious read of 2 (ops 13, 14) after 0 was written; 1 may also be there, from a
    # crashed write, but no listed op needs 1 so the evidence leaves that write out
    assert a.data["op"] == 13 and a.data["prefix_end"] == 14
    assert a.data["possible_states"] == ["0"]
    assert "no order puts a write of 2 between them" in a.explanation
    assert _fails_alone(h, a, "cas-register", independent=False)


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
    v: Any
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
        if not expected:  # the evidence alone cannot be ordered either, by brute force too
            (a,) = v.anomalies
            assert not _brute_force(_listed(h, a), m), (h, a)
            assert _fails_alone(h, a, model, False), (h, a)
    # the random histories exercise both outcomes
    assert seen[True] > 40 and seen[False] > 40, seen


# -- wrong shapes and options (issue 11) ----------------------------------------------------


def _pair(f: str, iv: Any, cv: Any) -> list[Op]:
    return [Op(0, 0, 0, "invoke", f, iv), Op(1, 10, 0, "ok", f, cv)]


@pytest.mark.parametrize(
    "history,options,message",
    [
        (_pair("write", {"k": 1}, {"k": 1}), {"independent": True}, "op 0: independent value"),
        (_pair("write", [1, 2], [2, 2]), {"independent": True}, "op 1: completes key 2 but op 0"),
        (_pair("cas", 3, 3), {}, r"op 0: cas value must be \[old new\], got 3"),
        (_pair("txn", [["r", 1]], [["r", 1]]), {"model": "multi-register"}, "micro-op must be"),
        (_pair("txn", {"r": 1}, None), {"model": "multi-register"}, "txn value must be a list"),
        (_pair("add", 1, 1), {}, "op 0: model cas-register has no operation 'add'"),
    ],
)
def test_wrong_shapes_are_history_errors(
    history: list[Op], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(HistoryError, match=message):
        check(history, **options)


def test_values_nested_too_deeply_are_history_errors() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(HistoryError, match="op 0: value nested more than 100 deep"):
        check(_pair("write", deep, deep))
    with pytest.raises(HistoryError, match="op 0: key: value nested more than 100 deep"):
        check(_pair("write", [deep, 1], [deep, 1]), independent=True)


def test_odd_values_are_values_all_the_same() -> None:
    # Infinity, huge numbers, maps and list keys are values a register can hold
    inf, huge = float("inf"), 10**5000
    h = _pair("write", inf, inf) + [
        Op(2, 20, 1, "invoke", "read", None),
        Op(3, 30, 1, "ok", "read", huge),
    ]
    (a,) = check(h, model="register").anomalies
    assert a.explanation.startswith("read returned <16610-bit integer> at ")
    assert a.explanation.endswith("and no write of <16610-bit integer> exists.")
    assert check(h[:2] + [h[2], Op(3, 30, 1, "ok", "read", inf)], model="register").valid
    keyed = _pair("write", [[1, "a"], {"x": 1}], [[1, "a"], {"x": 1}])
    keyed += [Op(2, 20, 1, "invoke", "read", [[1, "a"], None])]
    keyed += [Op(3, 30, 1, "ok", "read", [[1, "a"], {"x": 1}])]
    assert check(keyed).valid is True and check(keyed).stats["keys"] == 1


def test_a_history_without_client_ops_is_unknown() -> None:
    nemesis = [Op(0, 0, "nemesis", "info", "kill", None)]
    for h in ([], nemesis):
        v = check(h)
        assert v.valid == "unknown"
        assert v.notes == ["no client op (read/write/cas) in the history: nothing to check"]
    # a history whose ops all failed is another matter: nothing happened, which is linearizable
    failed = [Op(0, 0, 0, "invoke", "write", 1), Op(1, 1, 0, "fail", "write", 1)]
    assert check(failed).valid is True


@pytest.mark.parametrize(
    "options,message",
    [
        ({"model": "queue"}, "linearizable option model=queue: expected one of: register, "),
        ({"time_limit": "soon"}, "linearizable option time_limit=soon: expected a number"),
        ({"max_states": 2.5}, "linearizable option max_states=2.5: expected an integer"),
        ({"initial": float("inf")}, "linearizable option initial=inf: expected a JSON value"),
        ({"models": "serializable"}, "linearizable option models: unknown option here"),
    ],
)
def test_bad_options_are_spec_errors(options: dict[str, Any], message: str) -> None:
    from harness.errors import SpecError

    with pytest.raises(SpecError, match=message):
        check([], **options)
