"""The power-loss fault module, its options and its refusals, on the memory test double (which
loses power as it is killed: it keeps no files); the lossyfs layer itself is tested for real in
tests/integration/test_power_loss.py."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.cluster import Cluster, Unsupported
from harness.db import GENERIC_FAULTS
from harness.errors import SpecError
from harness.options import validate
from harness.plan import prepare
from harness.powerloss import leftovers
from harness.spec import TestSpec
from nemesis import faults
from nemesis.faults import Target
from nemesis.faults.power_loss import PowerLoss
from tests.memory_helpers import memory_spec, up

needs_generic = pytest.mark.skipif(
    "power-loss" not in GENERIC_FAULTS,
    reason="needs 'power-loss' in harness.db.GENERIC_FAULTS (requested of the lead)",
)


def test_registered_with_its_capability() -> None:
    cls = faults.fault_class("power-loss")
    assert cls is PowerLoss and cls.needs == frozenset({"power-loss"})
    assert {o.name for o in cls.options} >= {
        "power_loss_target",
        "power_loss_nodes",
        "power_loss_gap_ms",
        "power_loss_writeback_s",
    }


def test_plan_is_seeded_and_carries_the_options() -> None:
    spec = memory_spec(options={"power_loss_nodes": 2, "power_loss_gap_ms": 0})
    f = PowerLoss(spec)
    a, b = f.plan(random.Random(7)), f.plan(random.Random(7))
    assert a == b and a["nodes"] == 2 and a["gap_ms"] == 0
    assert a["target"] in ("primary", "random")
    only = PowerLoss(memory_spec(options={"power_loss_target": "random"}))
    assert only.plan(random.Random(1))["target"] == "random"


def test_bad_option_values_are_one_line_errors() -> None:
    owners = [("--nemesis power-loss", PowerLoss.options)]
    with pytest.raises(SpecError, match="power_loss_target"):
        validate({"power_loss_target": "leader"}, owners)
    with pytest.raises(SpecError, match="power_loss_nodes"):
        validate({"power_loss_nodes": 0}, owners)
    with pytest.raises(SpecError, match="power_loss_writeback_s"):
        validate({"power_loss_writeback_s": -1}, owners)


def test_more_nodes_than_the_cluster_has_is_refused() -> None:
    f = PowerLoss(memory_spec(nodes=3, options={"power_loss_nodes": 4}))
    with pytest.raises(SpecError, match="only 3 nodes"):
        f.validate(None, frozenset({"power-loss"}))


def test_a_provider_without_the_capability_is_refused() -> None:
    f = PowerLoss(memory_spec(provider="compose"))
    with pytest.raises(SpecError, match="provider compose cannot power-loss"):
        f.validate(None, frozenset({"kill", "partition"}))


@needs_generic
@pytest.mark.parametrize("provider", ["compose", "ssh"])
def test_plans_on_compose_and_ssh_are_refused(provider: str, tmp_path: Path) -> None:
    inventory = ""
    if provider == "ssh":  # a valid inventory: the plan reads it, nothing connects
        (tmp_path / "id_ed25519").write_text("not read by the plan\n")
        (tmp_path / "known_hosts").write_text("")
        hosts = "".join(f"  - 192.0.2.{10 + i}\n" for i in range(1, 4))
        doc = f"private_key: id_ed25519\nknown_hosts: known_hosts\nhosts:\n{hosts}"
        (tmp_path / "hosts.yaml").write_text(doc)
        inventory = str(tmp_path / "hosts.yaml")
    spec = TestSpec(db="postgres", provider=provider, nemesis=("power-loss",), inventory=inventory)
    with pytest.raises(SpecError, match=f"provider {provider} cannot power-loss"):
        prepare(spec)


@needs_generic
def test_a_local_plan_is_accepted() -> None:
    spec = TestSpec(db="postgres", provider="local", nemesis=("power-loss",))
    assert [f.name for f in prepare(spec).faults.values()] == ["power-loss"]


def test_the_contract_refuses_by_default(tmp_path: Path) -> None:
    _, cluster = up(memory_spec(), tmp_path)
    try:
        with pytest.raises(Unsupported, match="power loss"):
            Cluster.power_loss(cluster, "n1")
    finally:
        cluster.teardown()


def test_begin_takes_the_primary_first_then_distinct_nodes_and_end_restarts(
    tmp_path: Path,
) -> None:
    spec = memory_spec(options={"power_loss_nodes": 3, "power_loss_gap_ms": 0})
    db, cluster = up(spec, tmp_path)
    try:
        f, target = PowerLoss(spec), Target(cluster, db)
        primary = db.primary(cluster)
        params = {**f.plan(random.Random(3)), "target": "primary"}
        state = f.begin(target, params)
        assert state["nodes"][0] == primary
        assert sorted(state["nodes"]) == sorted(cluster.nodes)
        assert set(state["dropped"]) == set(cluster.nodes)
        assert not any(cluster.is_running(n) for n in cluster.nodes)
        assert ("n2", "power-loss") in cluster.events
        f.end(target, params, state)
        assert all(cluster.is_running(n) for n in cluster.nodes)
    finally:
        cluster.teardown()


def test_one_node_by_default(tmp_path: Path) -> None:
    spec = memory_spec()
    db, cluster = up(spec, tmp_path)
    try:
        f = PowerLoss(spec)
        state = f.begin(Target(cluster, db), f.plan(random.Random(5)))
        assert len(state["nodes"]) == 1
        down = [n for n in cluster.nodes if not cluster.is_running(n)]
        assert down == state["nodes"]
    finally:
        cluster.teardown()


def test_leftover_mounts_are_found_below_a_root_only(tmp_path: Path) -> None:
    table = tmp_path / "mounts"
    table.write_text(
        "splitbrain-lossyfs /var/tmp/splitbrain/abc123/nodes/n1 fuse.splitbrain-powerloss rw 0 0\n"
        "splitbrain-lossyfs /var/tmp/splitbrain/abc123/nodes/n\\0402 fuse.splitbrain-powerloss rw 0 0\n"
        "other /var/tmp/splitbrain/abc123/nodes/n3 fuse.sshfs rw 0 0\n"
        "splitbrain-lossyfs /elsewhere/n1 fuse.splitbrain-powerloss rw 0 0\n"
    )
    found = leftovers.mounts(Path("/var/tmp/splitbrain"), table)
    assert sorted(found) == [
        "/var/tmp/splitbrain/abc123/nodes/n 2",
        "/var/tmp/splitbrain/abc123/nodes/n1",
    ]
    assert leftovers.mounts(Path("/var/tmp/splitbrain/abc12"), table) == []
