"""Server clock faults on a real 3-node Cassandra 5.0 ring (libfaketime preloaded into each
JVM), and the last-write-wins known answers with skewed clocks.

Needs root, java, the jars and libfaketime. Run by hand under the lock:
    flock /work/cluster.lock python -m pytest -q -m integration \
        tests/integration/test_cassandra_clock.py
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from cassandra import ConsistencyLevel, ReadTimeout, WriteTimeout
from cassandra.query import SimpleStatement

from harness import clock
from harness.db import cassandra_clients as cc
from harness.db.cassandra import Cassandra
from harness.plan import prepare
from harness.providers import local
from harness.spec import TestSpec
from tests.conftest import _our_leftover_namespaces
from tests.integration.runs import needs_cassandra, needs_root
from tests.integration.test_cassandra import BASE, _no_jvms_left, _run

pytestmark = [
    pytest.mark.integration,
    needs_root,
    needs_cassandra,
    pytest.mark.skipif(not os.path.exists(clock.LIBFAKETIME), reason=clock.INSTALL_HINT),
]


def _server_minus_here(session: Any) -> float:
    """Seconds by which the coordinator's clock is ahead of this host's, with the round
    trip's midpoint as this host's time. current_timestamp() is the coordinator's
    currentTimeMillis as it is; now() would not do: Cassandra keeps time UUIDs (and write
    timestamps) monotonic, so a clock set back shows only as a stall."""
    q = SimpleStatement("SELECT toUnixTimestamp(current_timestamp()) AS t FROM system.local")
    t0 = time.time()
    row = session.execute(q).one()
    t1 = time.time()
    return float(row.t) / 1000 - (t0 + t1) / 2


def _writetime(session: Any, v: int) -> float:
    """Write v through the session's coordinator, stamped by it; its writetime in seconds.

    At consistency ONE, which the coordinator (a replica of every key: RF 3 on 3 nodes)
    answers itself. At QUORUM the node 30 s ahead needs another replica's answer, and
    Cassandra drops messages it thinks expired by the sender's timestamp (internode_timeout,
    on by default): seen in CI, 3 of 3 QUORUM writes through it timed out with 1 of 2
    responses, and the nodes' logs count MUTATION_REQ drops with a "cross-node latency" of the
    offset (20.9 s for a 20 s bump). That is the cluster's availability under skew, which the
    run tests measure; this test is about the coordinator's clock. A timeout is still tried
    again (3 times at most): a write that timed out may have been applied, stamped by the
    same clock."""
    one = ConsistencyLevel.ONE
    write = SimpleStatement(f"UPDATE lww SET v = {v} WHERE k = 4242", consistency_level=one)
    read = SimpleStatement(
        "SELECT v, writetime(v) AS w FROM lww WHERE k = 4242", consistency_level=one
    )
    for attempt in range(3):
        try:
            session.execute(write)
            # the replica that answers a read at ONE may not have the write yet: read until
            # it does (every replica holds v with the coordinator's stamp)
            deadline = time.monotonic() + 5
            while True:
                (row,) = session.execute(read)
                if row.v == v:
                    return float(row.w) / 1e6
                if time.monotonic() > deadline:
                    raise AssertionError(f"v={v} acknowledged at ONE, not read back in 5 s")
                time.sleep(0.05)
        except (WriteTimeout, ReadTimeout) as e:
            print(f"write/read of v={v} timed out (attempt {attempt + 1}): {e}")
    raise AssertionError(f"v={v}: every write/read through the coordinator timed out")


def _wait_offset(session: Any, want: float, tolerance: float = 0.3, within: float = 5) -> float:
    deadline = time.monotonic() + within
    while True:
        seen = _server_minus_here(session)
        if abs(seen - want) <= tolerance or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_a_server_clock_offset_takes_effect_inside_the_node_and_resets(tmp_path: Path) -> None:
    spec = prepare(TestSpec(**{**BASE, "nemesis": ("clock",), "time_limit": 30})).spec
    db = Cassandra(spec)
    cluster = local.create(spec, secrets.token_hex(3), db.deployment)
    drivers: list[Any] = []
    try:
        db.setup(cluster)
        knobs = db.knobs()
        assert knobs.server_timestamps
        s = {}
        for node in ("n1", "n2"):
            dc, s[node] = cc.connect(cluster, node, knobs)
            drivers.append(dc)
            assert abs(_server_minus_here(s[node])) < 0.3, node
        assert s["n2"].use_client_timestamp is False  # the coordinator stamps writes
        _writetime(s["n2"], 0)  # the table's first write, with every clock still true
        cluster.set_clock_offset("n2", -5.0)
        assert cluster.clock_offset("n2") == -5.0
        assert abs(_wait_offset(s["n2"], -5.0) + 5.0) < 0.3
        cluster.set_clock_offset("n2", 30.0)
        assert abs(_wait_offset(s["n2"], 30.0) - 30.0) < 0.3
        assert abs(_server_minus_here(s["n1"])) < 0.3  # n1's clock is untouched
        # a write the coordinator stamps carries its (faked) clock: writetime() shows it
        ahead = _writetime(s["n2"], 1)
        assert abs(ahead - time.time() - 30.0) < 1.0
        cluster.set_clock_offset("n2", 0.0)
        assert abs(_wait_offset(s["n2"], 0.0)) < 0.3
        # ...and the coordinator never stamps lower than it did: after the reset its writes
        # still carry the +30 s clock (last timestamp + 1 us) until real time catches up.
        later = _writetime(s["n2"], 2)
        assert ahead < later < ahead + 0.5, (ahead, later)
    finally:
        for dc in drivers:
            dc.shutdown()
        cluster.teardown()
    _no_jvms_left()
    assert _our_leftover_namespaces() == []


def test_skewed_client_clocks_lose_acknowledged_writes_to_lww(tmp_path: Path) -> None:
    doc, history = _run(
        tmp_path, workload="conflicts", time_limit=15, options={"clock_skew_ms": 500}
    )
    c = doc["checkers"]["conflicts"]
    assert doc["valid"] is False, c
    assert [a for a in c["anomalies"] if a["type"] == "lost-to-lww"], c["stats"]
    _no_jvms_left()


def _last_writes(history: list[Any], doc: dict[str, Any]) -> str:
    """What decided the final values, for a run that found no loss: per key the last
    acknowledged write (value, coordinator, s into the run) and the value read at the end."""
    setup = float(doc["run"]["setup_s"])
    last: dict[Any, tuple[Any, Any, float]] = {}
    for o in history:
        if o.f == "write" and o.type == "ok":
            last[o.value[0]] = (o.value[1], o.node, round(o.time / 1e9 - setup, 2))
    finals = [o.value for o in history if o.f == "final-read" and o.type == "ok"]
    return f"last acknowledged writes {last}; final reads {finals}"


# The seeds of the attempts (the seed picks the node that is bumped and the clients' ops).
BUMP_SEEDS = (1, 2)
BUMP_KEYS = 40  # hot keys: each one another chance for a newer write to be lost


def test_a_server_clock_bump_loses_acknowledged_writes_to_lww(tmp_path: Path) -> None:
    # The checker judges the final values, which the run's last writes decide. One node's
    # clock 20 s ahead during [10, 20) s: its timestamps stay ahead after the reset (Cassandra
    # never stamps lower than it did) until after the workload ends at 30 s, so on every key
    # the bumped node's last write wins, and the writes other coordinators acknowledge after
    # it are silently lost. A bump behind, or one shorter than the healthy tail, leaves the
    # final values to the last writes (seen: valid).
    # A loss shows only on a key whose last acknowledged write another coordinator made: with
    # the workload's 5 keys that was a race the bumped node often won on every key (seen: 13
    # losses in one run, none in a CI run; seeds 1/2/3 here: 9/0/8; the bumped n2 of seed 2
    # made 57% of the last 5 s's writes and was last on all 5 keys). With 40 keys each key's last
    # writer is its own draw: seeds 2 and 4 lost 35 and 85. A second seeded attempt stays;
    # each miss prints what decided the final values.
    misses = []
    for seed in BUMP_SEEDS:
        doc, history = _run(
            tmp_path / f"seed-{seed}",
            workload="conflicts",
            nemesis=("clock",),
            time_limit=30,
            fault_interval=10,
            seed=seed,
            options={"clock_offset_ms": 20000, "clock_direction": "+", "keys": BUMP_KEYS},
        )
        c = doc["checkers"]["conflicts"]
        starts = [o for o in history if o.process == "nemesis" and o.f == "start-clock"]
        stops = [o for o in history if o.process == "nemesis" and o.f == "stop-clock"]
        began = [o.value for o in starts if o.type == "info"]
        assert len(began) == 1 and began[0]["offsets"][began[0]["node"]] == 20.0, began
        assert all(v == 0.0 for v in stops[-1].value["offsets"].values()), stops
        if doc["valid"] is False:
            lost = [a for a in c["anomalies"] if a["type"] == "lost-to-lww"]
            assert lost, c["stats"]
            break
        assert doc["valid"] is True, c  # never unknown: the fault took effect
        misses.append(f"seed {seed} (bumped {began[0]['node']}): {_last_writes(history, doc)}")
        print(f"no loss: {misses[-1]}")
    else:
        raise AssertionError(f"no attempt lost an acknowledged write: {misses}")
    _no_jvms_left()
