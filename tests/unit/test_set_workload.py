import random
from collections import Counter

from harness.spec import TestSpec
from workloads.set import SetWorkload


def _ops(n: int, seed: int = 1, **options):
    wl = SetWorkload(TestSpec(options=options), random.Random(seed))
    return [wl.next_op(0) for _ in range(n)]


def test_seeded_and_deterministic():
    assert _ops(500) == _ops(500)
    assert _ops(500, seed=1) != _ops(500, seed=2)


def test_values_unique_and_keys_bounded():
    ops = _ops(20_000, adds_per_key=50, active_keys=10, read_ratio=0.3)
    adds = [v for f, v in ops if f == "add"]
    assert len({v for _, v in adds}) == len(adds)
    per_key = Counter(k for k, _ in adds)
    assert max(per_key.values()) == 50
    reads = [v for f, v in ops if f == "read"]
    assert 0.25 < len(reads) / len(ops) < 0.35
    assert all(v[1] is None for v in reads)


def test_reads_target_live_keys():
    ops = _ops(5_000, adds_per_key=20, active_keys=5, read_ratio=0.5)
    written = set()
    for f, (k, _v) in ops:
        if f == "read":
            assert k < max(written, default=0) + 6  # never a key far beyond those written
        else:
            written.add(k)
