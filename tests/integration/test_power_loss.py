"""The power-loss layer for real (a lossyfs mount: what survives, what does not, ownership,
cleanup of a dead run's mount) and the known answers of issue 15 on PostgreSQL 15.

Postgres figures behind the assertions (set workload, 20 s, power loss of the primary, 3 seeds
each): defaults valid with 0 lost writes; synchronous_commit=off 336, 178, 194 lost writes.
fsync=off lost writes in 2 of 3 seeds (7437, 8334; one valid: a writeback had just run), so
it is not asserted here (docs/power-loss.md)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness.db import GENERIC_FAULTS
from harness.powerloss import leftovers
from harness.powerloss.layer import Layer
from harness.providers import local
from harness.runner import run
from harness.spec import TestSpec

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (FUSE mounts, namespaces)"),
]
needs_generic = pytest.mark.skipif(
    "power-loss" not in GENERIC_FAULTS,
    reason="needs 'power-loss' in harness.db.GENERIC_FAULTS (requested of the lead)",
)


@pytest.fixture
def layer(tmp_path: Path):
    base = Path("/var/tmp/splitbrain-pltest") / tmp_path.name
    lay = Layer(base / "mnt", base / "backing", base / "ctl" / "c.sock", base / "ctl" / "d.log")
    lay.mount()
    try:
        yield lay
    finally:
        lay.unmount()
        assert leftovers.mounts(base) == [] and leftovers.daemons(base) == {}
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_only_fsynced_data_survives_a_power_loss(layer: Layer) -> None:
    m = layer.mountpoint
    (m / "kept").write_bytes(b"A" * 10000)
    fd = os.open(m / "kept", os.O_RDWR)
    os.fsync(fd)
    os.pwrite(fd, b"B" * 100, 5000)  # overwrite of durable bytes: undone
    os.pwrite(fd, b"C" * 3000, 10000)  # extension: cut
    assert os.pread(fd, 100, 5000) == b"B" * 100  # readers see writes at once
    os.close(fd)
    (m / "new").write_bytes(b"x" * 5000)  # never fsynced: empty after
    os.rename(m / "new", m / "renamed")  # metadata is durable at once
    dsync = os.open(m / "dsync", os.O_WRONLY | os.O_CREAT | os.O_DSYNC, 0o644)
    os.write(dsync, b"D" * 4096)  # O_DSYNC: durable on return
    os.close(dsync)
    os.link(m / "kept", m / "hard")
    status = layer.status()
    assert status["files"] == 2 and status["bytes"] >= 5000 + 3000 + 100
    dropped = layer.power_loss()
    assert dropped["files"] == 2 and dropped["bytes_cut"] == 3000 + 5000, dropped
    assert dropped["errors"] == 0
    assert (m / "kept").read_bytes() == b"A" * 10000 == (m / "hard").read_bytes()
    assert (m / "renamed").stat().st_size == 0
    assert (m / "dsync").read_bytes() == b"D" * 4096
    assert layer.status()["files"] == 0


def test_truncate_of_durable_bytes_is_undone_and_fsync_keeps_it(layer: Layer) -> None:
    m = layer.mountpoint
    p = m / "f"
    p.write_bytes(b"z" * 9000)
    fd = os.open(p, os.O_RDWR)
    os.fsync(fd)
    os.ftruncate(fd, 10)
    layer.power_loss()
    assert p.read_bytes() == b"z" * 9000
    os.ftruncate(fd, 10)
    os.fdatasync(fd)
    os.close(fd)
    assert layer.power_loss()["files"] == 0
    assert p.stat().st_size == 10


def test_files_belong_to_their_creator(layer: Layer) -> None:
    user = pwd.getpwnam("nobody")
    os.chmod(layer.mountpoint, 0o777)
    subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
         "sh", "-c", f"mkdir -m 700 {layer.mountpoint}/d && echo hi > {layer.mountpoint}/d/f"],
        check=True,
    )  # fmt: skip
    for p in (layer.mountpoint / "d", layer.mountpoint / "d" / "f", layer.backing / "d" / "f"):
        assert p.stat().st_uid == user.pw_uid
    assert (layer.mountpoint / "d").stat().st_mode & 0o777 == 0o700


def test_writeback_makes_old_dirty_data_durable(tmp_path: Path) -> None:
    base = Path("/var/tmp/splitbrain-pltest") / f"wb-{tmp_path.name}"
    lay = Layer(base / "mnt", base / "backing", base / "c.sock", base / "d.log", writeback_s=0.5)
    lay.mount()
    try:
        (lay.mountpoint / "f").write_bytes(b"w" * 5000)
        time.sleep(1.6)
        assert lay.power_loss()["files"] == 0
        assert (lay.mountpoint / "f").stat().st_size == 5000
    finally:
        lay.unmount()
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_cleanup_removes_the_mount_of_a_dead_run(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "work"
    monkeypatch.setattr(local, "WORK_ROOT", root)
    run_dir = root / "abcdef"
    run_dir.mkdir(parents=True)
    # a pid above pid_max (2^22 at most): this run's harness is certainly gone
    (run_dir / "run.json").write_text(json.dumps({"harness_pid": 2**22 + 7, "run_id": "abcdef"}))
    lay = Layer(run_dir / "nodes" / "n1", run_dir / "backing" / "n1", run_dir / "c.sock",
                run_dir / "d.log")  # fmt: skip
    lay.mount()
    try:
        found = local.find_leftovers()
        assert any("power-loss mount" in line for line in found), found
        done = local.cleanup()
        assert any(line.startswith("removed power-loss mount") for line in done), done
        assert leftovers.mounts(root) == [] and leftovers.daemons(root) == {}
        assert not run_dir.exists()
    finally:
        lay.unmount()


# -- known answers (PostgreSQL 15) ---------------------------------------------------------
BASE: dict[str, Any] = dict(
    db="postgres",
    workload="set",
    concurrency=8,
    seed=1,
    time_limit=20,
    fault_interval=5,
    op_timeout=3,
    recovery_timeout=60,
    nemesis=("power-loss",),
)


def _run(tmp_path: Path, **options) -> tuple[dict, dict]:
    spec = TestSpec(**{**BASE, "options": {"power_loss_target": "primary", **options}})
    result = run(spec, tmp_path, echo=lambda s: None, progress=False)
    doc = json.loads((result.dir / "verdict.json").read_text())
    assert doc["run"]["aborted"] is None, doc["run"]
    began = [
        json.loads(line)
        for line in (result.dir / "history.jsonl").read_text().splitlines()
        if '"start-power-loss"' in line and '"info"' in line
    ]
    assert began, "the power loss never happened"
    return doc, began[0]["value"]


@needs_generic
def test_postgres_defaults_lose_no_acknowledged_write(tmp_path: Path) -> None:
    doc, value = _run(tmp_path)
    assert value["nodes"] and value["dropped"][value["nodes"][0]]["errors"] == 0
    lost = [a for a in doc["checkers"]["set"]["anomalies"] if a["type"] == "lost-write"]
    assert lost == []
    assert doc["valid"] is True, doc["run"]


@needs_generic
def test_postgres_synchronous_commit_off_loses_acknowledged_writes(tmp_path: Path) -> None:
    doc, value = _run(tmp_path, synchronous_commit="off")
    node = value["nodes"][0]
    assert value["dropped"][node]["bytes_cut"] + value["dropped"][node]["bytes_restored"] > 0
    lost = [a for a in doc["checkers"]["set"]["anomalies"] if a["type"] == "lost-write"]
    assert lost and doc["valid"] is False
    assert doc["run"]["recovery"].get("error") is None, doc["run"]["recovery"]
