"""Clock faults without a database: harness.clock's mechanics, the node contract's default
offset file, the fault module on the memory test double, and what plans accept or refuse."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from harness import clock
from harness.cluster import Unsupported
from harness.db.cassandra import Cassandra
from harness.errors import SpecError
from harness.plan import prepare
from harness.spec import TestSpec
from nemesis import faults
from nemesis.faults.clock import Clock
from nemesis.schedule import build
from tests.dir_cluster import DirCluster
from tests.doubles.memory_db import MemoryDB
from tests.doubles.memory_provider import MemoryCluster


def test_offset_text_is_libfaketimes_relative_form_and_parses_back() -> None:
    assert clock.offset_text(0.5) == "+0.500000\n"
    assert clock.offset_text(-2) == "-2.000000\n"
    assert clock.offset_text(0) == "+0.000000\n"
    for s in (0.0, 1.25, -0.001, 3600.0):
        assert clock.parse_offset(clock.offset_text(s)) == pytest.approx(s)
    assert clock.parse_offset("") == 0.0  # libfaketime reads an empty file as real time


def test_wrap_preloads_only_the_database_with_a_real_monotonic_clock() -> None:
    argv = clock.wrap(["java", "-cp", "x"], "/lib/ft.so", "/n/faketime-offset")
    assert argv[0] == "env" and argv[-3:] == ["java", "-cp", "x"]
    env = dict(a.split("=", 1) for a in argv[1:-3])
    assert env["LD_PRELOAD"] == "/lib/ft.so"
    assert env["FAKETIME_TIMESTAMP_FILE"] == "/n/faketime-offset"
    # measured: without these a JVM's timed waits return at once, or time reads get slow
    assert env["FAKETIME_DONT_FAKE_MONOTONIC"] == "1"
    assert env["FAKETIME_FORCE_MONOTONIC_FIX"] == "0"
    assert env["FAKETIME_CACHE_DURATION"] == "1"
    assert clock.wanted(("kill", "clock")) and not clock.wanted(("kill",))


def test_the_contracts_offset_file_is_created_at_zero_replaced_and_kept(tmp_path: Path) -> None:
    c = DirCluster(tmp_path, ("n1", "n2"))
    assert c.clocked_argv("n1", ["db"]) == ["db"]  # clocks not faked: argv untouched
    with pytest.raises(Unsupported, match="--nemesis clock"):
        c.set_clock_offset("n1", 1)
    user = os.environ.get("USER", "root")
    c.fake_clocks("/lib/ft.so", user)
    argv = c.clocked_argv("n1", ["db", "--x"])
    f = tmp_path / "n1" / clock.OFFSET_FILE
    assert f"FAKETIME_TIMESTAMP_FILE={f}" in argv and argv[-2:] == ["db", "--x"]
    assert f.read_text() == "+0.000000\n" and c.clock_offset("n1") == 0.0
    c.set_clock_offset("n1", -1.5)
    assert f.read_text() == "-1.500000\n" and c.clock_offset("n1") == -1.5
    assert not (tmp_path / "n1" / (clock.OFFSET_FILE + ".new")).exists()
    c.clocked_argv("n1", ["db"])  # a restart keeps the node's offset
    assert c.clock_offset("n1") == -1.5 and c.clock_offset("n2") == 0.0


def _spec(**kw: Any) -> TestSpec:
    base: dict[str, Any] = dict(
        db="cassandra", provider="local", nemesis=("clock",), time_limit=30, fault_interval=10
    )
    return TestSpec(**{**base, **kw})


def test_plan_is_seeded_and_follows_the_options() -> None:
    spec = _spec(options={"clock_mode": "strobe", "clock_offset_ms": 750, "clock_direction": "-"})
    p = prepare(spec)
    (step,) = p.schedule
    assert step.fault == "clock"
    assert step.params["mode"] == "strobe" and step.params["offset_s"] == -0.75
    assert step.params["period_s"] == 2.0
    assert build(p.spec, random.Random(7)) == build(p.spec, random.Random(7))
    mixed = Clock(prepare(_spec(options={"clock_mode": "mixed"})).spec)
    modes = {mixed.plan(random.Random(i))["mode"] for i in range(20)}
    assert modes == {"bump", "strobe"}


def test_bump_shifts_one_node_records_every_offset_and_end_resets_it() -> None:
    c = MemoryCluster("c10c01")
    try:
        fault = Clock(prepare(_spec()).spec)
        target = faults.Target(c, MemoryDB(TestSpec(db="memory")))
        params = {"mode": "bump", "seed": 3, "offset_s": 2.0}
        state = fault.begin(target, params)
        node = state["node"]
        assert state["offsets"] == {n: (2.0 if n == node else 0.0) for n in c.nodes}
        assert c.clock_offsets[node] == 2.0
        assert fault.begin(target, params)["node"] == node  # the seed picks the node
        done = fault.end(target, params, state)
        assert done["offsets"] == {n: 0.0 for n in c.nodes}
    finally:
        c.teardown()


def test_strobe_flips_between_the_two_offsets_until_its_end() -> None:
    c = MemoryCluster("c10c02")
    try:
        fault = Clock(prepare(_spec()).spec)
        target = faults.Target(c, MemoryDB(TestSpec(db="memory")))
        params = {"mode": "strobe", "seed": 1, "offset_s": 0.5, "period_s": 0.02}
        state = fault.begin(target, params)
        node = state["node"]
        assert state["flips_between"] == [0.5, -0.5]
        time.sleep(0.3)
        done = fault.end(target, params, state)
        assert done["flips"] >= 3 and "strobe_error" not in done
        seen = [w for n, w in c.events if n == node and w.startswith("clock offset")]
        assert {"clock offset +0.5 s", "clock offset -0.5 s"} <= set(seen)
        assert seen[-1] == "clock offset +0 s"  # the reset comes last
        assert done["offsets"] == {n: 0.0 for n in c.nodes}
    finally:
        c.teardown()


def test_a_failing_clock_primitive_raises_from_begin() -> None:
    c = MemoryCluster("c10c03", broken={"clock"})
    try:
        fault = Clock(prepare(_spec()).spec)
        target = faults.Target(c, MemoryDB(TestSpec(db="memory")))
        with pytest.raises(Exception, match="broken on purpose"):
            fault.begin(target, {"mode": "bump", "seed": 1, "offset_s": 1.0})
    finally:
        c.teardown()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"db": "galera"}, "does not apply to galera"),
        ({"options": {"clock_strobe_ms": 100}}, "clock_strobe_ms=100: must be >= 1000"),
        ({"options": {"clock_mode": "scramble"}}, "clock_mode=scramble: expected one of"),
        ({"options": {"clock_skew_ms": 100}}, "clock_skew_ms skews client timestamps"),
    ],
)
def test_clock_plans_refused_before_any_cluster(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        prepare(_spec(**changes))


def test_cassandra_timestamps_are_the_servers_under_clock_faults_only() -> None:
    def knobs(**kw: Any) -> Any:
        return Cassandra(prepare(_spec(**kw)).spec).knobs()

    assert knobs().server_timestamps is True
    assert knobs(nemesis=()).server_timestamps is False
    assert knobs(nemesis=(), options={"timestamps": "server"}).server_timestamps is True
    client = knobs(options={"timestamps": "client", "clock_skew_ms": 10})
    assert client.server_timestamps is False and client.clock_skew_ms == 10


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip"), reason="the local provider's preflight"
)
def test_local_preflight_names_libfaketime_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.errors import EnvironmentProblem
    from harness.providers import local

    p = prepare(_spec())
    monkeypatch.setattr(clock, "LIBFAKETIME", "/nonexistent/libfaketime.so.1")
    with pytest.raises(EnvironmentProblem) as e:
        local.preflight(p.db)
    if "libfaketime" not in str(e.value):
        pytest.skip(f"preflight stopped earlier on this host: {e.value}")
    assert str(e.value) == (
        "--nemesis clock needs /nonexistent/libfaketime.so.1: apt-get install faketime (libfaketime)"
    )
