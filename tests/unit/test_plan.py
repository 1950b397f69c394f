"""Everything a run refuses before a cluster starts (harness.plan): options, faults the
database or provider cannot do, a schedule that cannot fit every fault, bad subnets."""

from __future__ import annotations

import pytest

from harness.errors import SpecError
from harness.plan import describe_options, prepare
from harness.spec import TestSpec
from nemesis import faults
from nemesis.schedule import minimum_time


def test_unknown_option_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(
        SpecError, match=r"--opt failover_hwo: unknown option here; known: .*failover_how"
    ):
        prepare(TestSpec(nemesis=("failover",), time_limit=30, options={"failover_hwo": "kill"}))


def test_bad_fault_option_value_is_refused() -> None:
    with pytest.raises(
        SpecError, match=r"--opt failover_how=explode: expected one of: isolate, kill"
    ):
        prepare(TestSpec(nemesis=("failover",), time_limit=30, options={"failover_how": "explode"}))


def test_options_are_stored_typed() -> None:
    plan = prepare(TestSpec(nemesis=(), options={"adds_per_key": "7", "fsync": "off"}))
    assert plan.spec.options == {"adds_per_key": 7, "fsync": False}
    assert plan.workload.adds_per_key == 7


def test_an_option_of_an_unused_component_is_unknown() -> None:
    # `loss` belongs to the packet-loss fault: without it, the key is not this run's
    with pytest.raises(SpecError, match="--opt loss: unknown option here"):
        prepare(TestSpec(nemesis=("partition",), time_limit=30, options={"loss": 0.2}))
    plan = prepare(TestSpec(nemesis=("packet-loss",), time_limit=30, options={"loss": 0.2}))
    assert plan.schedule[0].params["loss"] == 0.2


def test_a_schedule_without_room_for_every_fault_is_refused() -> None:
    spec = TestSpec(db="galera", mode="multi-primary", nemesis=("partition", "kill"), time_limit=30)
    with pytest.raises(SpecError, match=r"leaves no room for (kill|partition).*--time >= 40"):
        prepare(spec)
    assert minimum_time(spec) == 40
    plan = prepare(spec.replace(time_limit=40))
    assert sorted(s.fault for s in plan.schedule) == ["kill", "partition"]


def test_failover_needs_a_primary() -> None:
    with pytest.raises(SpecError, match="no primary to fail over"):
        prepare(TestSpec(db="galera", mode="multi-primary", nemesis=("failover",)))


def test_a_fault_the_provider_cannot_do_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.providers import local

    monkeypatch.setattr(local, "CAPABILITIES", frozenset({"partition", "kill", "pause"}))
    with pytest.raises(SpecError, match="--nemesis packet-loss: provider local cannot packet-loss"):
        prepare(TestSpec(nemesis=("packet-loss",), time_limit=30))


@pytest.mark.parametrize("subnet", ["0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/15"])
def test_subnets_larger_than_a_16_are_refused_at_once(subnet: str) -> None:
    with pytest.raises(SpecError, match=f"--subnet {subnet} is larger than /16"):
        TestSpec(subnet=subnet)


def test_list_options_names_every_component() -> None:
    lines = describe_options(TestSpec(nemesis=("packet-loss", "kill"), time_limit=30))
    assert "--db postgres:" in lines and "--workload set:" in lines
    assert "--nemesis packet-loss:" in lines and "--nemesis kill:" in lines
    assert any(line.strip().startswith("loss=number (default 0.3)") for line in lines)


def test_every_registered_fault_is_a_complete_module() -> None:
    from harness.registry import FAULTS

    assert faults.names() == tuple(FAULTS)
    for name in faults.names():
        cls = faults.fault_class(name)
        assert cls.name == name and cls.help and cls.colour.startswith("#")
        assert cls.needs, f"{name} needs no capability: then any provider could do it"
