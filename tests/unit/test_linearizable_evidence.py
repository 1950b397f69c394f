"""The evidence shrinker's soundness rule (Shrinker._blockers) answers with sorted arrays and
bisection; here it is compared with the rule written out plainly, on random sub-histories."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from harness.checkers import models
from harness.checkers.linearizable import calls, evidence, search
from harness.checkers.linearizable.calls import INF, Call
from harness.history import Op

DATA = Path(__file__).resolve().parents[1] / "data" / "linearizable"


def _plain_blockers(sh: evidence.Shrinker, drop: set[int], rest: list[int]) -> set[int]:
    sub, eff = sh.sub, sh.effects
    bad: set[int] = set()
    live = [i for i in rest if eff[i] is not None]
    for w in drop:
        ow = sub[w]
        for kv in eff[w][1]:  # type: ignore[index]
            seps = [
                sub[z].ret
                for z in live
                if any(s[0] == kv[0] for s in eff[z][1])  # type: ignore[index]
                and sub[z].ret != INF
                and sub[z].call > ow.ret
            ]
            sep = min(seps, default=INF)
            needers = [sub[r] for r in live if kv in eff[r][0]]  # type: ignore[index]
            if any(r.ret > ow.call and r.call < sep for r in needers):
                bad.add(w)
    for r_i in live:
        r = sub[r_i]
        for kv in eff[r_i][0]:  # type: ignore[index]
            if kv[1] == sh.initial:
                continue
            writers = [sub[z] for z in live if kv in eff[z][1]]  # type: ignore[index]
            if any(z is not r and z.call < r.ret for z in writers):
                continue
            back = [w for w in drop if kv in eff[w][1] and sub[w].call < r.ret]  # type: ignore[index]
            if back:
                bad.add(max(back, key=lambda w: sub[w].call))
    return bad


def _random_calls(rng: random.Random, model: str) -> list[Call]:
    h: list[Op] = []
    pending: dict[int, tuple[str, Any]] = {}
    v: Any
    for _ in range(rng.randint(4, 30)):
        p = rng.randrange(5)
        if p in pending:
            f, v = pending.pop(p)
            typ = rng.choice(("ok", "ok", "ok", "info"))
            out: Any = v
            if typ == "ok" and f == "read":
                out = rng.randrange(3)
            elif typ == "ok" and f == "txn":
                out = [[m, k, rng.randrange(3) if m == "r" else x] for m, k, x in v]
            h.append(Op(len(h), -1, p, typ, f, out))
        else:
            if model == "multi-register":
                f = "txn"
                v = [
                    [m, rng.choice("ab"), None if m == "r" else rng.randrange(3)]
                    for m in rng.choices(("r", "w"), k=2)
                ]
            else:
                f = rng.choice(("read", "write", "cas"))
                v = (
                    None
                    if f == "read"
                    else rng.randrange(3)
                    if f == "write"
                    else [rng.randrange(3), rng.randrange(3)]
                )
            pending[p] = (f, v)
            h.append(Op(len(h), -1, p, "invoke", f, v))
    prep = calls.prepare(h, models.get(model), False)
    return next(iter(prep.by_key.values()), [])


def test_blockers_agree_with_the_plain_rule() -> None:
    rng = random.Random(7)
    compared = 0
    for model in ("cas-register", "multi-register"):
        m = models.get(model)
        for _ in range(300):
            ops = _random_calls(rng, model)
            done = [i for i, o in enumerate(ops) if o.ret != INF]
            if not done:
                continue
            x = rng.choice(done)
            sh = evidence.Shrinker(ops, x, set(), m, search.Budget(None, 10**6, 100))
            keep = sh.prefix
            drop = {i for i in keep if i != x and rng.random() < 0.5}
            rest = [i for i in keep if i not in drop]
            assert sh._blockers(drop, rest) == _plain_blockers(sh, drop, rest), (ops, x, drop)
            compared += 1
    assert compared > 400


def test_the_work_budget_bounds_the_shrink_and_the_evidence_still_fails_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import harness.checkers.linearizable as lin
    from harness.history import read_jsonl

    h = read_jsonl(DATA / "concurrent-writes-contradicted.jsonl")
    (full,) = lin.check(h, model="register").anomalies
    assert full.data["evidence_minimal"] is True
    monkeypatch.setattr(lin, "_EVIDENCE_SHARE", 0.0)
    monkeypatch.setattr(lin, "_EVIDENCE_FLOOR", 0)
    (cut,) = lin.check(h, model="register").anomalies
    assert cut.data["evidence_minimal"] is False  # no work left after the first guess
    assert cut.data["op"] == full.data["op"] and set(full.ops) <= set(cut.ops)
    listed = set(cut.ops)
    alone = lin.check([op for op in h if op.index in listed], model="register")
    assert alone.valid is False and [a.data["op"] for a in alone.anomalies] == [cut.data["op"]]
    # the budget is counted in search iterations, not seconds: the same evidence every time
    assert [a.ops for a in lin.check(h, model="register").anomalies] == [cut.ops]
