"""The native linearizability search (native/src/linear.rs, search.Native) against the Python
search (search.python_search): the same Result, field by field (status, configurations,
iterations, the op no order places, the states met there in the order met and who set them,
the ops it could not order) on every key of every register and kv history we have, on the
subsets the evidence shrink searches, and under every budget that is counted (states,
iterations); and through `splitbrain check`, the same verdict document with and without the
core. Where it does not read a value as Python compares it, it gives up (encode is None).
No speed is asserted.

Skipped when the module is not built, unless SPLITBRAIN_REQUIRE_NATIVE=1 (CI builds it), so
that CI cannot lose these tests silently. Porcupine's files are used when installed
(PORCUPINE_DATA, as in test_linearizable_kv.py), the Knossos ones when ../shared is there."""

from __future__ import annotations

import dataclasses
import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import checking, native
from harness.checkers import models
from harness.checkers.linearizable import calls, evidence, search
from harness.checkers.linearizable.calls import INF, Call
from harness.errors import HistoryError
from harness.history import Op, load, write_jsonl
from tests.native_gate import require_native

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from bench_kv import simulate as simulate_kv  # noqa: E402
from bench_linearizable import simulate as simulate_register  # noqa: E402

_core = native.module()
require_native(
    _core is not None and hasattr(_core, "LinKey"),
    "the native core (splitbrain_native) with LinKey is not importable: build it with "
    "`pip install ./native`",
    "the native core is not built (pip install ./native, or quickstart install with cargo)",
)

DATA = ROOT / "tests" / "data" / "linearizable"
SHARED = Path(os.environ.get("SPLITBRAIN_SHARED", ROOT.parent / "shared"))
KNOSSOS = SHARED / "reference-histories" / "knossos" / "cas-register"
PORCUPINE = Path(
    os.environ.get(
        "PORCUPINE_DATA",
        "/root/go/pkg/mod/github.com/anishathalye/porcupine@v1.3.1/test_data",
    )
)
MODEL_OF = {  # tests/data/linearizable: the model each hand-made history is checked against
    "concurrent-writes-one-order": "register",
    "concurrent-writes-contradicted": "register",
    "read-concurrent-with-write": "register",
    "stale-read": "register",
    "read-initial-after-write": "register",
    "nemesis-ignored": "register",
}
VOLATILE = ("elapsed", "evidence_s")


def _files() -> list[tuple[Path, str]]:
    out = [
        (p, MODEL_OF.get(p.stem, "cas-register"))
        for p in sorted(DATA.glob("*.jsonl"))
        if not p.stem.startswith("multi")
    ]
    # every other history of the project: not register histories mostly (the same one-line
    # refusal either way), or Python's search (multi-register)
    out += [
        (p, "cas-register")
        for p in sorted((ROOT / "tests" / "data").rglob("*"))
        if p.suffix in (".edn", ".jsonl") and p.parent != DATA
    ]
    out += [(p, "multi-register") for p in sorted(DATA.glob("multi*.jsonl"))]
    out += [(p, "cas-register") for p in sorted(KNOSSOS.rglob("*.edn"))]
    out += [
        (p, "cas-register")
        for p in sorted((PORCUPINE / "jepsen").glob("etcd_*.log"))
        if p.stat().st_size > 0
    ]
    out += [(p, "kv") for p in sorted((PORCUPINE / "kv").glob("*.txt"))]
    return out


def _generated(tmp: Path) -> list[tuple[Path, str]]:
    """The project's own histories: simulated cas-registers (valid, with stale reads, with
    hot keys) and kv stores (valid and with stale gets), written as JSONL."""
    hs: list[tuple[str, list[Op], str]] = [
        ("reg", simulate_register(3000, keys=10, processes=6, seed=3), "cas-register"),
        (
            "reg-stale",
            simulate_register(3000, keys=10, processes=6, seed=4, stale_rate=0.2, lag=10**6),
            "cas-register",
        ),
        (
            "reg-hot",
            simulate_register(2000, keys=20, processes=8, active_keys=2, seed=5, info_rate=0.05),
            "cas-register",
        ),
        ("kv", simulate_kv(10, events=1500, seed=6), "kv"),
        ("kv-stale", simulate_kv(10, events=1500, stale=0.05, seed=7), "kv"),
    ]
    out = []
    for name, h, model in hs:
        p = tmp / f"{name}.jsonl"
        write_jsonl(h, p)
        out.append((p, model))
    return out


def _fields(r: search.Result) -> dict[str, Any]:
    d = dataclasses.asdict(r)
    # the states met at the blocking point: in the order met, with their values' types
    d["blocked_states"] = [(repr(s), o) for s, o in r.blocked_states.items()]
    return d


def _same_result(ops: list[Call], m: models.Model, budget: search.Budget) -> search.Result:
    nk = search.Native.encode(ops, m)
    assert nk is not None, "the native search gave up on values it should read"
    fast = nk.search(budget)
    slow = search.python_search(ops, m, budget)
    assert _fields(fast) == _fields(slow)
    return slow


def _keys(path: Path, model: str) -> list[list[Call]]:
    m = models.get(model)
    if not isinstance(m, models.Register | models.KV):
        return []  # searched in Python: only the documents are compared
    try:
        return list(calls.prepare(load(path, validate=True), m, None).by_key.values())
    except HistoryError:  # not a history, or not one of this model: the documents say so
        return []


def _check_keys(path: Path, model: str) -> int:
    """Every key: the whole search, tight budgets of states and iterations, and the subsets
    of the prefix the evidence shrink would search (drops of random chunks, late returns
    made indeterminate). The number of failed keys."""
    m = models.get(model)
    rng = random.Random(str(path))
    failed = 0
    for ops in _keys(path, model):
        # iterations capped: some kv keys of Porcupine's c50-bad take Python minutes
        res = _same_result(ops, m, search.Budget(None, 2_000_000, 1024, 300_000))
        for states in (1, 7, 100):
            _same_result(ops, m, search.Budget(None, states, 1024))
        for steps in (0, 2048, 5000):
            _same_result(ops, m, search.Budget(None, 2_000_000, 1024, steps))
        if res.status is not False:
            continue
        failed += 1
        _same_shrink(ops, res, m)
        sh = evidence.Shrinker(ops, res.blocked_op, set(), m, search.Budget(None, 10**6, 1024))
        assert sh.native is not None
        for _ in range(6):
            rest = [i for i in sh.prefix if rng.random() < 0.7] or sh.prefix
            budget = search.Budget(None, 10**6, 1024, rng.choice([INF, 3000]))
            fast = sh.native.search(budget, [sh.at[i] for i in rest])
            slow = search.python_search([sh.sub[i] for i in rest], m, budget)
            assert _fields(fast) == _fields(slow)
    return failed


def _same_shrink(ops: list[Call], res: search.Result, m: models.Model) -> None:
    """The native shrink and the Python one keep the same ops, give the same result and
    leave the same work and cost, under the budgets the checker gives (unlimited for keys of
    fewer than 120 ops, a share of the decision's work that is no whole number, a little)."""
    if isinstance(m, models.KV) and len(ops) >= 120:
        return  # its first, unlimited attempt can take Python minutes (Porcupine's c50-bad)
    x = res.blocked_op
    latest = evidence.latest_write(ops, x, m)
    pinned = {latest} if latest >= 0 else set()
    likely = {x, *pinned, *res.blocked_states.values()}
    unlimited = (INF,) if len(ops) < 120 else ()  # some kv keys shrink for minutes in Python
    for work in (*unlimited, 0.37 * res.steps + 1000.5, 50.0):
        runs = []
        for native_run in (True, False):
            budget = search.Budget(None, 2_000_000, 1024)
            sh = evidence.Shrinker(ops, x, pinned, m, budget, work, res.steps)
            assert sh.native_effects is not None
            keep, r, done = sh._run_native(likely) if native_run else sh._run_python(likely)
            runs.append((keep, None if r is None else _fields(r), done, sh.work, sh.cost))
        assert runs[0] == runs[1]


def _doc(path: Path, model: str, monkeypatch: pytest.MonkeyPatch, on: bool) -> Any:
    with monkeypatch.context() as mp:
        mp.setenv("SPLITBRAIN_NATIVE", "1" if on else "0")
        doc = checking.check_file(path, "linearizable", {"model": model})
    if isinstance(doc, str):  # not a history: the same line either way
        return doc
    for v in doc["checkers"].values():
        for k in VOLATILE:
            v["stats"].pop(k, None)
    return doc


def _assert_same_document(path: Path, model: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    fast = _doc(path, model, monkeypatch, True)
    slow = _doc(path, model, monkeypatch, False)
    assert fast == slow
    return fast


FILES = _files()


@pytest.mark.parametrize("path,model", FILES, ids=[f"{p.parent.name}/{p.name}" for p, _ in FILES])
def test_same_results_and_documents(
    path: Path, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_keys(path, model)
    _assert_same_document(path, model, monkeypatch)


def test_the_external_files_are_there_or_said_missing() -> None:
    """Not a silent skip: when Knossos's or Porcupine's files are absent, say so."""
    missing = [str(d) for d in (KNOSSOS, PORCUPINE / "jepsen") if not d.is_dir()]
    if missing:
        pytest.skip("not installed here, so not compared: " + ", ".join(missing))
    assert len([p for p, _ in FILES if p.suffix == ".log"]) == 102


def test_generated_histories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failed = 0
    for path, model in _generated(tmp_path):
        failed += _check_keys(path, model)
        doc = _assert_same_document(path, model, monkeypatch)
        want = not path.stem.endswith("stale")
        assert doc["valid"] is want, path.stem
    assert failed > 0  # the stale twins exercise the evidence shrink


@pytest.mark.parametrize("model", ["register", "cas-register", "kv"])
def test_simulated_histories_same_verdicts(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many small simulated histories (one register or several keys, crashed clients, stale
    reads or not): the checker's whole verdict, with and without the core."""
    from harness.checkers.linearizable import check

    rng = random.Random(model)
    bad = 0
    for n in range(40):
        if model == "kv":
            h = simulate_kv(
                rng.choice([2, 5, 10]),
                events=rng.choice([40, 120]),
                keys=rng.choice([1, 3]),
                stale=rng.choice([0.0, 0.2]),
                seed=n,
            )
        else:
            h = simulate_register(
                rng.choice([30, 80]),
                keys=rng.choice([1, 3]),
                processes=rng.choice([3, 6]),
                info_rate=rng.choice([0.0, 0.1, 0.3]),
                seed=n,
                stale_rate=rng.choice([0.0, 0.3]),
                lag=10**6,
            )
            if model == "register":
                h = [o for o in h if o.f != "cas"]
        docs = []
        for on in ("1", "0"):
            with monkeypatch.context() as mp:
                mp.setenv("SPLITBRAIN_NATIVE", on)
                v = check(h, model=model).to_dict()
            for k in VOLATILE:
                v["stats"].pop(k)
            docs.append(v)
        assert docs[0] == docs[1], n
        bad += docs[0]["valid"] is False
    assert 0 < bad < 40


def _random_register_calls(rng: random.Random, n: int, kv: bool) -> list[Call]:
    """Random (mostly not linearizable) calls: overlapping, some indeterminate, few values so
    that states repeat and the memo, the symmetry and the subsumption all matter."""
    out: list[Call] = []
    pos = 0
    for _ in range(n):
        start = pos + rng.randrange(3)
        length = rng.randrange(1, 8)
        pos = start + 1
        ret: float = start + length if rng.random() > 0.15 else INF
        r = rng.random()
        v = rng.choice(["", "a", "b", "ab"]) if kv else rng.choice([None, 1, 2, 3])
        if kv:
            if r < 0.5 and ret != INF:
                f, inp, outp = "get", None, v
            else:
                f, inp, outp = ("put" if r < 0.7 else "append"), rng.choice(["a", "b"]), None
        elif r < 0.4 and ret != INF:
            f, inp, outp = "read", None, v
        elif r < 0.7:
            f, inp, outp = "write", rng.choice([1, 2, 3]), None
        else:
            f, inp, outp = "cas", (rng.choice([None, 1, 2]), rng.choice([1, 2, 3])), None
        inv = Op(start, start, 0, "invoke", f, None)
        out.append(Call(start, ret, f, inp, outp, inv, None))
    # positions as a history has them: all distinct (a call's and a return's)
    taken: set[float] = set()
    for c in out:
        while c.call in taken:
            c.call += 1000
        taken.add(c.call)
        if c.ret != INF:
            c.ret = max(c.ret, c.call + 1)
            while c.ret in taken:
                c.ret += 1
            taken.add(c.ret)
    out.sort(key=lambda c: c.call)
    return out


@pytest.mark.parametrize("model", ["register", "cas-register", "kv"])
def test_random_small_histories(model: str) -> None:
    rng = random.Random(model)
    m = models.get(model)
    statuses = set()
    for _ in range(300):
        ops = _random_register_calls(rng, rng.randrange(1, 14), model == "kv")
        if model == "register":
            ops = [o for o in ops if o.f != "cas"]
        if not ops:
            continue
        res = _same_result(ops, m, search.Budget(None, 10**6, 1024))
        statuses.add(res.status)
        _same_result(ops, m, search.Budget(None, 5, 1024))
        if res.status is False:
            _same_shrink(ops, res, m)
    assert {True, False} <= statuses


def test_a_time_budget_that_runs_out_is_unknown_never_valid() -> None:
    """14 overlapping writes and a read of a value none wrote: the search must try the
    writes' orders, and a deadline already past stops it after its first check."""
    w = [
        Call(i, 100 + i, "write", i, None, Op(i, i, i, "invoke", "write", i), None)
        for i in range(14)
    ]
    read = Call(200, 201, "read", None, 99, Op(200, 200, 99, "invoke", "read", None), None)
    m = models.get("cas-register")
    budget = search.Budget(1e-9, 10**6, 1024)
    budget.deadline = 0.0  # expired
    nk = search.Native.encode([*w, read], m)
    assert nk is not None
    res = nk.search(budget)
    assert res.status == "budget-time" and res.steps == 2048
    assert search.python_search([*w, read], m, budget).status == "budget-time"


def test_a_panic_in_the_core_leaves_the_search_and_shrink_to_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = [Call(0, 1, "write", 1, None, Op(0, 0, 0, "invoke", "write", 1), None)]
    r = [Call(2, 3, "read", None, 2, Op(2, 2, 1, "invoke", "read", None), None)]
    m = models.get("cas-register")
    want = search.python_search(w + r, m, search.Budget(None, 100, 10))

    def panic(*a: Any, **k: Any) -> Any:
        raise RuntimeError("native panic in search")

    monkeypatch.setattr(search.Native, "search", panic)
    got = search.search(w + r, m, search.Budget(None, 100, 10))
    assert _fields(got) == _fields(want) and got.status is False
    budget = search.Budget(None, 100, 10)
    keep, res, done = evidence.Shrinker(w + r, 1, set(), m, budget)._run_python({1})
    monkeypatch.setattr(evidence.Shrinker, "_run_native", panic)
    sh = evidence.Shrinker(w + r, 1, set(), m, budget)
    got_keep, got_res, got_done = sh.run({1})
    assert (got_keep, got_done) == (keep, done) == ([1], True)
    assert res is not None and got_res is not None and _fields(got_res) == _fields(res)


@pytest.mark.parametrize(
    "values",
    [
        [1, True],  # equal, shown differently
        [1, 1.0],
        [0.5, 0.5],  # floats: not read
        [frozenset({1}), frozenset({1})],
    ],
)
def test_gives_up_on_values_it_does_not_read(values: list[Any]) -> None:
    m = models.get("cas-register")
    a, b = values
    ops = [
        Call(0, 1, "write", a, None, Op(0, 0, 0, "invoke", "write", a), None),
        Call(2, 3, "read", None, b, Op(2, 2, 0, "invoke", "read", None), None),
    ]
    assert search.Native.encode(ops, m) is None
    assert search.search(ops, m, search.Budget(None, 100, 10)).status is True  # Python's


def test_other_models_are_searched_in_python() -> None:
    m = models.get("multi-register")
    txn = (("w", "x", 1),)
    ops = [Call(0, 1, "txn", txn, None, Op(0, 0, 0, "invoke", "txn", None), None)]
    assert search.Native.encode(ops, m) is None


def test_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITBRAIN_NATIVE", "0")
    m = models.get("register")
    ops = [Call(0, 1, "write", 1, None, Op(0, 0, 0, "invoke", "write", 1), None)]
    assert search.Native.encode(ops, m) is None
