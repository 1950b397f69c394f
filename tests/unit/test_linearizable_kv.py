"""The kv model (get/put/append on strings, per key) and its decision from the order of
writes the gets reveal (harness/checkers/linearizable/unique.py): valid and invalid twins,
a property test against an exhaustive oracle, Porcupine's files where they are installed,
bad input as one line, and the export/import round trip."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from harness.checkers import linearizable, models
from harness.checkers.linearizable import calls, search, unique
from harness.checking import check_file
from harness.edn import read_edn_history, write_edn_history
from harness.errors import HistoryError
from harness.history import Op, write_jsonl

PORCUPINE = Path(
    os.environ.get(
        "PORCUPINE_DATA",
        "/root/go/pkg/mod/github.com/anishathalye/porcupine@v1.3.1/test_data",
    )
)


def hist(*steps: tuple[Any, ...]) -> list[Op]:
    """Ops from (process, type, f, key, value) tuples; time = 1 s per step."""
    return [
        Op(i, i * 10**9, p, t, f, v, extra={"key": k}) for i, (p, t, f, k, v) in enumerate(steps)
    ]


def seq(*ops: tuple[str, str, str | None]) -> list[Op]:
    """One process doing (f, key, value) ops one after the other (gets: their result)."""
    out: list[tuple[Any, ...]] = []
    for f, k, v in ops:
        out.append((0, "invoke", f, k, None if f == "get" else v))
        out.append((0, "ok", f, k, v))
    return hist(*out)


def kv(history: list[Op], **opts: Any) -> Any:
    return linearizable.check(history, model="kv", **opts)


# -- twins ------------------------------------------------------------------------------------


def test_only_a_put_resets_a_key() -> None:
    ok = seq(("append", "a", "x"), ("put", "a", "p"), ("append", "a", "y"), ("get", "a", "py"))
    v = kv(ok)
    assert v.valid is True and v.stats["keys_by_write_order"] == 1
    # an append does not reset: after x then y the key holds "xy", never "y"
    bad = seq(("append", "a", "x"), ("append", "a", "y"), ("get", "a", "y"))
    v = kv(bad)
    assert v.valid is False
    (a,) = v.anomalies
    assert a.data["key"] == "a" and a.data["op"] == 4 and a.data["prefix_end"] == 5
    assert a.data["method"] == "unique-values"
    assert '"y"' in a.explanation


def test_an_append_read_twice() -> None:
    # one append of "x" cannot show in a value twice...
    bad = seq(("append", "k", "x"), ("get", "k", "xx"))
    assert kv(bad).valid is False
    # ...two appends of the same value can (a way of telling them apart is tried each way)
    ok = seq(("append", "k", "x"), ("append", "k", "x"), ("get", "k", "xx"))
    v = kv(ok)
    assert v.valid is True and v.stats["keys_by_write_order"] == 1
    # and the same get read twice, by two processes, is fine
    twice = hist(
        (0, "invoke", "append", "k", "x"),
        (0, "ok", "append", "k", "x"),
        (1, "invoke", "get", "k", None),
        (2, "invoke", "get", "k", None),
        (1, "ok", "get", "k", "x"),
        (2, "ok", "get", "k", "x"),
    )
    assert kv(twice).valid is True


def test_concurrent_appends_ordered_by_what_gets_saw() -> None:
    # two appends overlap; gets fix their order as b then a; a later get agreeing is valid
    base = [
        (0, "invoke", "append", "k", "a"),
        (1, "invoke", "append", "k", "b"),
        (2, "invoke", "get", "k", None),
        (2, "ok", "get", "k", "b"),
        (0, "ok", "append", "k", "a"),
        (1, "ok", "append", "k", "b"),
        (2, "invoke", "get", "k", None),
    ]
    assert kv(hist(*base, (2, "ok", "get", "k", "ba"))).valid is True
    # the twin: the later get says a came first, after a get already saw b alone
    v = kv(hist(*base, (2, "ok", "get", "k", "ab")))
    assert v.valid is False
    (a,) = v.anomalies
    assert a.data["reason"] in ("two-next", "two-before", "backward", "cycle")


def test_a_stale_get_after_a_completed_put() -> None:
    ok = seq(("put", "k", "1"), ("get", "k", "1"), ("put", "k", "2"), ("get", "k", "2"))
    assert kv(ok).valid is True
    bad = seq(("put", "k", "1"), ("put", "k", "2"), ("get", "k", "1"))
    v = kv(bad)
    assert v.valid is False
    assert set(v.anomalies[0].ops) >= {2, 3, 4, 5}  # the second put and the get that missed it


def test_keys_are_independent() -> None:
    h = seq(("append", "a", "x"), ("append", "b", "y"), ("get", "a", "x"), ("get", "b", "q"))
    v = kv(h)
    assert v.valid is False
    assert [a.data["key"] for a in v.anomalies] == ["b"]
    assert v.stats["keys"] == 2


def test_indeterminate_writes_may_or_may_not_have_happened() -> None:
    base = [(0, "invoke", "append", "k", "x"), (0, "info", "append", "k", "x")]
    seen = hist(*base, (1, "invoke", "get", "k", None), (1, "ok", "get", "k", "x"))
    unseen = hist(*base, (1, "invoke", "get", "k", None), (1, "ok", "get", "k", ""))
    assert kv(seen).valid is True and kv(unseen).valid is True
    # it cannot have happened after a get that returned after it was invoked showed ""... and
    # then be missing from a later one that saw it: "x" then "" is not linearizable
    flip = hist(
        *base,
        (1, "invoke", "get", "k", None),
        (1, "ok", "get", "k", "x"),
        (1, "invoke", "get", "k", None),
        (1, "ok", "get", "k", ""),
    )
    assert kv(flip).valid is False


def test_independent_tuples_are_keys_too() -> None:
    h = [
        Op(0, 0, 0, "invoke", "append", ["k", "x"]),
        Op(1, 1, 0, "ok", "append", ["k", "x"]),
        Op(2, 2, 0, "invoke", "get", ["k", None]),
        Op(3, 3, 0, "ok", "get", ["k", "x"]),
    ]
    assert kv(h).valid is True
    h[3] = Op(3, 3, 0, "ok", "get", ["k", "y"])
    assert kv(h).valid is False


def test_ambiguous_values_fall_back_to_the_search() -> None:
    # "ab" is a put and the appends "a" + "b": a get of "ab" can be read two ways
    h = seq(("put", "k", "ab"), ("append", "k", "a"), ("append", "k", "b"), ("get", "k", "aba"))
    v = kv(h)
    assert v.valid is False  # "ab" + "a" then "b" missing: no order gives "aba" after b
    h2 = seq(("put", "k", "x"), ("put", "k", "x"), ("get", "k", "x"))
    v2 = kv(h2)  # a put repeated: the method does not apply, the search decides
    assert v2.valid is True and v2.stats["keys_by_search"] == 1


# -- a property test against an exhaustive oracle ----------------------------------------------


def _oracle(ops: list[calls.Call], initial: str = "") -> bool:
    """Linearizable? By trying every order (ok ops must appear, indeterminate ones may)."""
    m = models.KV(initial)
    n = len(ops)

    def go(done: frozenset[int], state: str) -> bool:
        if all(i in done or ops[i].ret == calls.INF for i in range(n)):
            return True
        for i in range(n):
            if i in done:
                continue
            # i may go next only if no op left out returned before i was invoked
            if any(j not in done and j != i and ops[j].ret < ops[i].call for j in range(n)):
                continue
            new = m.step(state, ops[i].f, ops[i].input, ops[i].output)
            if new is not None and go(done | {i}, new):
                return True
        return False

    return go(frozenset(), initial)


def _random_history(rng: random.Random) -> list[Op]:
    """A few processes doing gets/puts/appends on one or two keys, against a real register
    that sometimes lies (a get returning an older value or a made-up one), with a few
    indeterminate writes and some values written twice."""
    keys = ["a", "b"][: rng.choice((1, 1, 2))]
    state = {k: "" for k in keys}
    history_states: dict[str, list[str]] = {k: [""] for k in keys}
    running: dict[int, tuple[str, str, str | None, bool]] = {}
    out: list[Op] = []
    values = ["x", "y", "z", "w", "v", "u", "x"]  # "x" twice: the same value written twice
    procs = rng.randint(1, 3)
    next_p = procs
    live = list(range(procs))
    n_ops = rng.randint(2, 7)
    started = 0
    while started < n_ops or running:
        if started < n_ops and (not running or rng.random() < 0.5):
            idle = [p for p in live if p not in running]
            if idle:
                p = rng.choice(idle)
                k = rng.choice(keys)
                f = rng.choice(("get", "get", "put", "append", "append"))
                v = None if f == "get" else rng.choice(values)
                out.append(Op(len(out), len(out), p, "invoke", f, v, extra={"key": k}))
                running[p] = (f, k, v, False)
                started += 1
                continue
        p = rng.choice(list(running))
        f, k, v, applied = running[p]
        if not applied and f != "get" and rng.random() < 0.7:
            state[k] = v if f == "put" else state[k] + v  # type: ignore[operator]
            history_states[k].append(state[k])
            running[p] = (f, k, v, True)
            continue
        del running[p]
        if f == "get":
            r = state[k]
            if rng.random() < 0.25:
                r = rng.choice(history_states[k] + ["q", state[k] + "x"])
            out.append(Op(len(out), len(out), p, "ok", f, r, extra={"key": k}))
        elif rng.random() < 0.15:
            out.append(Op(len(out), len(out), p, "info", f, v, extra={"key": k}))
            live.remove(p)
            live.append(next_p)
            next_p += 1
        else:
            if not applied:
                state[k] = v if f == "put" else state[k] + v  # type: ignore[operator]
                history_states[k].append(state[k])
            out.append(Op(len(out), len(out), p, "ok", f, v, extra={"key": k}))
    return out


def test_decisions_agree_with_an_exhaustive_oracle() -> None:
    rng = random.Random(20261206)
    decided = valid = 0
    for _ in range(600):
        h = _random_history(rng)
        prep = calls.prepare(h, models.KV(), None)
        for ops in prep.by_key.values():
            truth = _oracle(ops)
            d = unique.decide_key(ops, "")
            if d is not None:
                decided += 1
                valid += truth
                assert d.valid is truth, h
            got = search.search(ops, models.KV(), search.Budget(None, 10**6, 1024)).status
            assert got is truth, h
        v = kv(h)
        truths = [_oracle(ops) for ops in prep.by_key.values()]
        assert v.valid is (all(truths) if prep.by_key else "unknown") or (
            not prep.by_key and v.valid == "unknown"
        )
    # the method decided most keys, and both answers occurred often
    assert decided > 500 and 100 < valid < decided - 100


def test_evidence_alone_is_not_linearizable_and_fails_at_the_op() -> None:
    rng = random.Random(7)
    checked = 0
    for _ in range(300):
        h = _random_history(rng)
        prep = calls.prepare(h, models.KV(), None)
        for ops in prep.by_key.values():
            d = unique.decide_key(ops, "")
            if d is None or d.valid:
                continue
            proof = unique.prove(ops, "")
            t = ops[proof.x].ret
            sub = [
                o
                if o.ret <= t
                else calls.Call(o.call, calls.INF, o.f, o.input, o.output, o.inv, None)
                for o in (ops[i] for i in proof.keep)
            ]
            assert _oracle(sub) is False
            # the history just before x returned is linearizable: x is the op no order places
            before = [
                o
                if o.ret < t
                else calls.Call(o.call, calls.INF, o.f, o.input, o.output, o.inv, None)
                for o in ops
                if o.call < t and (o.ret < t or o.f != "get")
            ]
            assert _oracle(before) is True
            checked += 1
    assert checked > 20


# -- Porcupine's kv files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,valid",
    [
        ("c01-ok", True),
        ("c01-bad", False),
        ("c10-ok", True),
        ("c10-bad", False),
        ("c50-ok", True),
        ("c50-bad", False),
    ],
)
def test_porcupine_kv_files(name: str, valid: bool) -> None:
    path = PORCUPINE / "kv" / f"{name}.txt"
    if not path.exists():
        pytest.skip(f"Porcupine's test data is not installed ({path}; set PORCUPINE_DATA)")
    doc = check_file(path, "linearizable", {"model": "kv", "time_limit": 60})
    assert isinstance(doc, dict)
    v = doc["checkers"]["linearizable"]
    assert doc["valid"] is valid
    assert v["stats"]["unknown_keys"] == []  # every key decided
    if not valid:
        assert all(a["data"]["op"] is not None for a in v["anomalies"])


# -- input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line,problem",
    [
        ("{:process 0, :type :invoke, :f :get, :value nil}", "get has no key"),
        ('{:process 0, :type :invoke, :f :put, :key "a", :value 3}', "must be a string"),
        ('{:process 0, :type :invoke, :f :cas, :key "a", :value "x"}', "no operation 'cas'"),
        ("{:process 0, :type :invoke, :f :get, :key nil, :value nil}", "its key is nil"),
    ],
)
def test_bad_ops_are_one_line_naming_the_line(tmp_path: Path, line: str, problem: str) -> None:
    ok = '{:process 1, :type :invoke, :f :put, :key "a", :value "x"}\n'
    ok += '{:process 1, :type :ok, :f :put, :key "a", :value "x"}\n'
    comp = line.replace(":invoke", ":ok").replace(":value nil", ':value "x"')
    path = tmp_path / "h.edn"
    path.write_text(ok + line + "\n" + comp + "\n")
    doc = check_file(path, "linearizable", {"model": "kv"})
    assert isinstance(doc, str) and "\n" not in doc
    assert "line 3" in doc and problem in doc


def test_a_get_returning_a_non_string_is_refused() -> None:
    h = seq(("put", "k", "x"))
    h += [
        Op(2, 2, 0, "invoke", "get", None, extra={"key": "k"}),
        Op(3, 3, 0, "ok", "get", 5, extra={"key": "k"}),
    ]
    with pytest.raises(HistoryError, match="op 3: get returned 5, not a string"):
        kv(h)


def test_export_and_import_keep_the_verdict(tmp_path: Path) -> None:
    h = seq(("append", "a", "x"), ("append", "a", "y"), ("get", "a", "y"))
    write_edn_history(h, tmp_path / "h.edn")
    back = read_edn_history(tmp_path / "h.edn")
    assert [op.extra for op in back] == [op.extra for op in h]
    assert kv(back).valid is False
    write_jsonl(h, tmp_path / "h.jsonl")
    lines = (tmp_path / "h.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["key"] == "a"
    doc = check_file(tmp_path / "h.jsonl", "linearizable", {"model": "kv"})
    assert isinstance(doc, dict) and doc["valid"] is False


def test_a_search_out_of_budget_names_the_ops_it_could_not_order() -> None:
    # a repeated put makes the method inapplicable; rounds of overlapping appends whose order
    # no get shows, and a tiny states budget, stop the search part of the way
    steps: list[tuple[Any, ...]] = [(0, "invoke", "put", "k", "p"), (0, "ok", "put", "k", "p")]
    steps += [(0, "invoke", "put", "k", "p"), (0, "ok", "put", "k", "p")]
    for r in range(4):
        steps += [(p, "invoke", "append", "k", f"r{r}p{p}") for p in range(1, 5)]
        steps += [(p, "ok", "append", "k", f"r{r}p{p}") for p in range(1, 5)]
    steps += [(9, "invoke", "get", "k", None), (9, "ok", "get", "k", "p?")]
    v = kv(hist(*steps), max_states=40)
    assert v.valid == "unknown" and v.stats["unknown_keys"] == ["k"]
    (note,) = [n for n in v.notes if "ran out" in n]
    assert "it could not order the ops invoked at indices" in note


def test_mutated_kv_histories_get_a_verdict_or_one_line(tmp_path: Path) -> None:
    """Fuzzing what parses: kv histories with fields of the wrong kind, lost keys, other fs,
    dropped and swapped lines, in both formats: a verdict or one line, never a traceback."""
    rng = random.Random(25)
    odd: list[Any] = [None, 3, -1, 2.5, [], ["k"], {"a": 1}, "", True, "x" * 50]
    outcomes = {"verdict": 0, "error": 0}
    for n in range(300):
        h = _random_history(rng)
        dicts = [op.to_dict() for op in h]
        for _ in range(rng.randint(1, 3)):
            d = rng.choice(dicts)
            what = rng.randrange(6)
            if what == 0:
                d["value"] = rng.choice(odd)
            elif what == 1:
                d.pop("key", None)
            elif what == 2:
                d["key"] = rng.choice(odd)
            elif what == 3:
                d["f"] = rng.choice(["read", "write", "cas", "txn", "get", "append"])
            elif what == 4 and len(dicts) > 1:
                dicts.remove(d)
            else:
                i = rng.randrange(len(dicts))
                dicts[i], dicts[-1] = dicts[-1], dicts[i]
        path = tmp_path / f"h{n}.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in dicts))
        doc = check_file(path, "linearizable", {"model": "kv", "time_limit": 1})
        if isinstance(doc, str):
            assert "\n" not in doc and "Traceback" not in doc
            outcomes["error"] += 1
        else:
            assert doc["valid"] in (True, False, "unknown")
            outcomes["verdict"] += 1
    assert outcomes["verdict"] > 30 and outcomes["error"] > 30
