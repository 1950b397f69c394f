import random

import pytest

from harness.errors import SpecError
from harness.history import Op
from harness.spec import TestSpec
from nemesis import grudges
from nemesis.record import windows
from nemesis.schedule import build

NODES = ["n1", "n2", "n3"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"db": "mysql"}, "--db 'mysql' is not one of"),
        ({"nemesis": ("partition", "flood")}, "--nemesis 'flood' is not one of"),
        ({"read_from": "standby"}, "--read-from 'standby' is not one of"),
        ({"concurrency": 0}, "--concurrency must be between"),
        ({"time_limit": -1}, "--time must be > 0"),
        ({"subnet": "10.0.0.0/33"}, "--subnet"),
        ({"partition": ("diagonal",)}, "--partition 'diagonal'"),
    ],
)
def test_bad_spec_values_name_the_flag(changes, message):
    with pytest.raises(SpecError, match=message):
        TestSpec(**changes)


def test_spec_round_trips_through_json(tmp_path):
    s = TestSpec(mode="sync", nemesis=("failover",), options={"failover_how": "isolate"}, seed=3)
    s.save(tmp_path / "spec.json")
    assert TestSpec.load(tmp_path / "spec.json") == s


def test_unknown_spec_field_is_an_error():
    with pytest.raises(SpecError, match="unknown spec field"):
        TestSpec.from_dict({"db": "postgres", "colour": "blue"})


def test_grudges_cut_both_ways_unless_one_way():
    g = grudges.isolate("n1", NODES)
    assert g == {"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}
    h = grudges.halves(NODES, random.Random(1))
    minority = [n for n, d in h.items() if len(d) == 2]
    assert len(minority) == 1
    assert grudges.one_way("n1", "n2") == {"n2": {"n1"}}
    b = grudges.bridge(["n1", "n2", "n3", "n4", "n5"], random.Random(2))
    bridge_node = [n for n, d in b.items() if not d]
    assert len(bridge_node) == 1
    assert all(len(d) == 2 for n, d in b.items() if n not in bridge_node)


def test_ring_for_five_nodes_leaves_each_a_majority():
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    g = grudges.majorities_ring(nodes)
    assert all(len(nodes) - len(d) == 3 for d in g.values())
    assert len({frozenset(set(nodes) - d) for d in g.values()}) == 5


def test_schedule_is_seeded_alternating_and_ends_healthy():
    spec = TestSpec(nemesis=("partition", "kill", "failover"), time_limit=60, fault_interval=6)
    a, b = build(spec, random.Random(7)), build(spec, random.Random(7))
    assert a == b
    assert [s.at for s in a] == [6, 18, 30, 42]
    assert all(s.at + s.duration <= 60 - 6 for s in a[:-1])
    assert {s.fault for s in a[:3]} == {"partition", "kill", "failover"}
    assert build(spec.replace(nemesis=()), random.Random(7)) == []


def test_fault_windows_from_nemesis_ops():
    ops = [
        Op(0, 0, "nemesis", "invoke", "start-partition", {}),
        Op(1, 100, "nemesis", "info", "start-partition", {"shape": "halves"}),
        Op(2, 150, 0, "invoke", "read", None),
        Op(3, 500, "nemesis", "invoke", "stop-partition", {}),
        Op(4, 600, "nemesis", "info", "stop-partition", {}),
        Op(5, 700, "nemesis", "info", "start-kill", {"node": "n1"}),
        Op(6, 900, 0, "ok", "read", None),
    ]
    w = windows(ops)
    assert [(x["fault"], x["start"], x["end"]) for x in w] == [
        ("partition", 100, 600),
        ("kill", 700, 900),
    ]


def test_a_fault_that_failed_to_start_opens_no_window():
    ops = [
        Op(0, 0, "nemesis", "invoke", "start-kill", {}),
        Op(1, 10, "nemesis", "info", "start-kill", {}, error="ClusterError: n1: no such node"),
        Op(2, 500, 0, "ok", "read", None),
    ]
    assert windows(ops) == []
