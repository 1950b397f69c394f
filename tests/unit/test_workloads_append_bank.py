"""The append and bank op generators: seeded, deterministic, and within their promises."""

from __future__ import annotations

import random
from collections import Counter

import pytest

import workloads
from harness.errors import SpecError
from harness.spec import TestSpec
from workloads.append import AppendWorkload
from workloads.bank import BankWorkload


def _ops(w: workloads.Workload, n: int) -> list[tuple[str, object]]:
    return [w.next_op(i % 4) for i in range(n)]


def _spec(workload: str, **kw: object) -> TestSpec:
    return TestSpec(workload=workload, **kw)  # type: ignore[arg-type]


def test_append_is_deterministic_per_seed() -> None:
    a = _ops(AppendWorkload(_spec("append"), random.Random(7)), 500)
    b = _ops(AppendWorkload(_spec("append"), random.Random(7)), 500)
    c = _ops(AppendWorkload(_spec("append"), random.Random(8)), 500)
    assert a == b and a != c


def test_append_ops_shape_and_unique_values() -> None:
    w = AppendWorkload(_spec("append", options={"keys": 3, "max_txn_length": 4}), random.Random(1))
    seen: Counter = Counter()
    lengths = set()
    for f, txn in _ops(w, 3000):
        assert f == "txn"
        lengths.add(len(txn))
        for mf, k, v in txn:
            if mf == "r":
                assert v is None
            else:
                assert mf == "append"
                seen[(k, v)] += 1
    assert lengths == {1, 2, 3, 4}
    assert max(seen.values()) == 1  # each value appended once per key
    per_key = Counter(k for k, _ in seen)
    assert max(per_key.values()) == 32  # keys retire after max_writes_per_key
    assert sorted(v for k, v in seen if k == 0) == list(range(1, 33))  # a counter per key
    assert len(w.active) == 3 and w.active != [0, 1, 2]


def test_append_hot_set_stays_small() -> None:
    w = AppendWorkload(_spec("append"), random.Random(3))
    for _ in range(20):
        before = set(w.active)
        _, txn = w.next_op(0)
        assert {k for _, k, _ in txn} <= before
        assert len(w.active) == 8


def test_append_checker_options_follow_isolation() -> None:
    rng = random.Random(0)
    ser = AppendWorkload(_spec("append"), rng)
    assert ser.checker_options() == {"models": ("serializable",)}
    rr = AppendWorkload(_spec("append", isolation="repeatable-read"), rng)
    assert rr.checker_options() == {"models": ("snapshot-isolation",)}
    rc = AppendWorkload(_spec("append", isolation="read-committed"), rng)
    assert rc.checker_options() == {"models": ("read-committed",)}
    strict = AppendWorkload(_spec("append", options={"models": "strict-serializable"}), rng)
    assert strict.checker_options() == {"models": ("strict-serializable",)}
    assert ser.checkers == ("list-append",)


def test_append_final_read_covers_every_written_key() -> None:
    w = AppendWorkload(_spec("append", options={"keys": 2}), random.Random(5))
    written = {k for _, txn in _ops(w, 200) for f, k, _ in txn if f == "append"}
    ((f, txn),) = w.final_ops()
    assert f == "txn" and {k for _, k, _ in txn} == written
    assert all(m == "r" and v is None for m, _, v in txn)


def test_bank_is_deterministic_and_well_formed() -> None:
    spec = _spec("bank", options={"accounts": 4, "max_transfer": 3})
    a = _ops(BankWorkload(spec, random.Random(11)), 1000)
    assert a == _ops(BankWorkload(spec, random.Random(11)), 1000)
    fs = Counter(f for f, _ in a)
    assert set(fs) == {"read", "transfer"} and 350 < fs["read"] < 650
    pairs_seen = set()
    for f, v in a:
        if f == "read":
            assert v is None
            continue
        assert isinstance(v, dict) and v["from"] != v["to"]
        assert {v["from"], v["to"]} <= {0, 1, 2, 3} and 1 <= v["amount"] <= 3
        pairs_seen.add((v["from"], v["to"]))
    assert len(pairs_seen) == 12  # every ordered pair of distinct accounts occurs


def test_bank_checker_options_and_initial_state() -> None:
    w = BankWorkload(_spec("bank", options={"initial_balance": 50}), random.Random(0))
    assert w.checker_options() == {"accounts": [0, 1, 2, 3, 4], "total": 250, "negative_ok": False}
    assert w.initial_balances() == {0: 50, 1: 50, 2: 50, 3: 50, 4: 50}
    assert w.read_only == frozenset({"read"}) and w.checkers == ("bank",)
    assert w.final_ops() == [("read", None)]


def test_registry_builds_both() -> None:
    assert isinstance(workloads.get(_spec("append"), random.Random(0)), AppendWorkload)
    assert isinstance(workloads.get(_spec("bank"), random.Random(0)), BankWorkload)


def test_bad_options_are_user_errors() -> None:
    with pytest.raises(SpecError):
        BankWorkload(_spec("bank", options={"accounts": 1}), random.Random(0))
    with pytest.raises(SpecError):
        AppendWorkload(_spec("append", options={"keys": 0}), random.Random(0))


def _record(ops: list[tuple[str, object]], apply) -> list:  # type: ignore[no-untyped-def]
    """A history of ops run one at a time by `apply(f, value) -> (type, value)`."""
    from harness.history import Op

    h: list[Op] = []
    for i, (f, value) in enumerate(ops):
        h.append(Op(len(h), len(h), i % 3, "invoke", f, value))
        typ, out = apply(f, value)
        h.append(Op(len(h), len(h), i % 3, typ, f, out))
    return h


def test_append_generator_through_a_serial_store_is_strict_serializable() -> None:
    from harness.checkers import check

    w = AppendWorkload(_spec("append"), random.Random(2))
    store: dict[int, list[int]] = {}

    def apply(f: str, txn: list) -> tuple[str, list]:
        out = []
        for mf, k, v in txn:
            if mf == "append":
                store.setdefault(k, []).append(v)
                out.append([mf, k, v])
            else:
                out.append([mf, k, list(store.get(k, []))])
        return "ok", out

    h = _record(_ops(w, 400) + w.final_ops(), apply)
    v = check("list-append", h, models=("strict-serializable",))
    assert v.valid is True and v.stats["txns"] == 401
    # the same ops against a store whose reads lag one append behind: caught
    lagging = _record(_ops(AppendWorkload(_spec("append"), random.Random(2)), 400), _lag({}))
    assert check("list-append", lagging, models=("strict-serializable",)).valid is False


def _lag(store: dict) -> object:
    def apply(f: str, txn: list) -> tuple[str, list]:
        out = []
        for mf, k, v in txn:
            if mf == "append":
                store.setdefault(k, []).append(v)
                out.append([mf, k, v])
            else:
                out.append([mf, k, list(store.get(k, []))[:-1]])
        return "ok", out

    return apply


def test_bank_generator_through_a_store_conserves_money_unless_torn() -> None:
    from harness.checkers import check

    def run(torn: bool) -> object:
        w = BankWorkload(_spec("bank"), random.Random(4))
        bal = w.initial_balances()
        pending: list = []

        def apply(f: str, v: dict | None) -> tuple[str, object]:
            if f == "read":
                seen = {str(a): b for a, b in bal.items()}
                for a, n in pending:  # a torn store shows a debit before its credit
                    seen[str(a)] -= n
                pending.clear()
                return "ok", seen
            assert v is not None
            if bal[v["from"]] < v["amount"]:
                return "fail", v
            bal[v["from"]] -= v["amount"]
            bal[v["to"]] += v["amount"]
            if torn:
                pending.append((v["to"], v["amount"]))
            return "ok", v

        return check("bank", _record(_ops(w, 300), apply), **w.checker_options())

    assert run(torn=False).valid is True  # type: ignore[attr-defined]
    bad = run(torn=True)
    assert bad.valid is False and "wrong-total" in bad.counts  # type: ignore[attr-defined]
