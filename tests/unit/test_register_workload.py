from __future__ import annotations

import random
from collections import Counter

from harness.spec import TestSpec
from workloads import get
from workloads.register import RegisterWorkload


def _ops(n: int, seed: int = 1, **options: object) -> list[tuple[str, object]]:
    w = get(TestSpec(workload="register", options=dict(options)), random.Random(seed))
    assert isinstance(w, RegisterWorkload)
    return [w.next_op(i % 10) for i in range(n)]


def test_seeded_and_deterministic() -> None:
    assert _ops(500, seed=3) == _ops(500, seed=3)
    assert _ops(500, seed=3) != _ops(500, seed=4)


def test_op_shapes_and_value_range() -> None:
    fs = Counter()
    for f, v in _ops(2000):
        fs[f] += 1
        k, x = v
        assert isinstance(k, int)
        if f == "read":
            assert x is None
        elif f == "write":
            assert x in range(5)
        else:
            assert f == "cas" and len(x) == 2 and all(y in range(5) for y in x)
    assert set(fs) == {"read", "write", "cas"}


def test_bounded_ops_per_key_and_few_active_keys() -> None:
    ops = _ops(5000, ops_per_key=40, active_keys=3)
    per_key = Counter(v[0] for _, v in ops)
    assert max(per_key.values()) <= 40
    assert len(per_key) >= 5000 // 40
    # keys come in order and at most 3 are in use at any time
    first, last = {}, {}
    for i, (_, v) in enumerate(ops):
        first.setdefault(v[0], i)
        last[v[0]] = i
    for i in range(0, 5000, 97):
        live = [k for k in per_key if first[k] <= i <= last[k]]
        assert len(live) <= 3


def test_checker_wiring() -> None:
    w = get(TestSpec(workload="register"), random.Random(0))
    assert w.checkers == ("linearizable",)
    assert w.read_only == frozenset({"read"})
    assert w.checker_options() == {"model": "cas-register", "independent": True}
