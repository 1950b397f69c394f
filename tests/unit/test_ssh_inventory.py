"""The ssh provider's inventory: what it accepts, and one SpecError line naming the file and
the field for everything it refuses. Pure parsing: no connection is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

from harness.errors import SpecError
from harness.providers.ssh_inventory import DEFAULT_DATA_ROOT, load
from harness.spec import TestSpec


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "id_ed25519").write_text("not read by the parser\n")
    (tmp_path / "known_hosts").write_text("")
    return tmp_path


def _write(d: Path, doc: object) -> Path:
    p = d / "inventory.yaml"
    p.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return p


def _base(**extra: object) -> dict:
    doc = {
        "private_key": "id_ed25519",
        "known_hosts": "known_hosts",
        "hosts": ["192.0.2.11", {"address": "192.0.2.12", "name": "db2", "port": 2222}],
    }
    doc.update(extra)
    return doc


def test_defaults_and_relative_paths(files: Path) -> None:
    inv = load(_write(files, _base(settings={"postgres_bin": "/opt/pg/bin"})))
    assert inv.user == "root" and inv.sudo is False and inv.install == "assume"
    assert inv.private_key == files / "id_ed25519"  # relative to the inventory file
    assert inv.known_hosts == files / "known_hosts"
    h1, h2 = inv.hosts
    assert (h1.name, h1.address, h1.port) == ("n1", "192.0.2.11", 22)
    assert (h2.name, h2.address, h2.port) == ("db2", "192.0.2.12", 2222)
    assert h1.data_root == PurePosixPath(DEFAULT_DATA_ROOT)
    assert h2.settings == {"postgres_bin": "/opt/pg/bin"}


def test_per_host_overrides_win(files: Path) -> None:
    doc = _base(settings={"postgres_bin": "/a/b/c", "x": "1"}, data_root="/srv/sb/data")
    doc["hosts"] = [
        {"address": "192.0.2.11", "settings": {"postgres_bin": "/opt/pg15/bin"}},
        {"address": "192.0.2.12", "data_root": "/var/lib/sb/root"},
    ]
    inv = load(_write(files, doc))
    assert inv.hosts[0].settings == {"postgres_bin": "/opt/pg15/bin", "x": "1"}
    assert inv.hosts[0].data_root == PurePosixPath("/srv/sb/data")
    assert inv.hosts[1].data_root == PurePosixPath("/var/lib/sb/root")


@pytest.mark.parametrize(
    "change, field",
    [
        ({"hosts": []}, "hosts"),
        ({"hosts": [{"address": "bad address!"}]}, "hosts[1].address"),
        ({"hosts": [{"address": "192.0.2.1", "name": "N 1"}]}, "hosts[1].name"),
        ({"hosts": [{"address": "192.0.2.1", "port": 0}]}, "hosts[1].port"),
        ({"hosts": [{"address": "192.0.2.1", "colour": "red"}]}, "hosts[1].colour"),
        ({"hosts": ["192.0.2.1", "192.0.2.1"]}, "hosts[2].address"),
        ({"hosts": [{"address": "192.0.2.1", "name": "a"}, {"address": "192.0.2.2", "name": "a"}]},
         "hosts[2].name"),
        ({"private_key": "missing_key"}, "private_key"),
        ({"sudo": "yes"}, "sudo"),
        ({"install": "yum"}, "install"),
        ({"install": "apt"}, "packages"),
        ({"packages": ["postgresql; rm -rf /"]}, "packages"),
        ({"user": "root; reboot"}, "user"),
        ({"data_root": "relative/path"}, "data_root"),
        ({"data_root": "/tmp"}, "data_root"),
        ({"data_root": "/var/tmp/$(x)"}, "data_root"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"max_channels": 100}, "max_channels"),
        ({"settings": {"postgres_bin": ["a"]}}, "settings.postgres_bin"),
        ({"known_hosts": "nowhere"}, "known_hosts"),
        ({"colour": "red"}, "colour"),
    ],
)  # fmt: skip
def test_every_problem_is_one_line_naming_file_and_field(
    files: Path, change: dict, field: str
) -> None:
    path = _write(files, _base(**change))
    with pytest.raises(SpecError) as e:
        load(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"--inventory {path}: {field}: "), msg


def test_missing_known_hosts_is_fine_when_new_keys_are_accepted(files: Path) -> None:
    inv = load(_write(files, _base(known_hosts="new_known_hosts", accept_new_host_keys=True)))
    assert inv.accept_new_host_keys and inv.known_hosts == files / "new_known_hosts"


def test_unreadable_and_malformed_files(files: Path) -> None:
    with pytest.raises(SpecError, match=r"^--inventory .*nope.yaml: cannot read"):
        load(files / "nope.yaml")
    with pytest.raises(SpecError, match=r"line \d+: not valid YAML"):
        load(_write(files, "hosts: [a, b\n"))
    with pytest.raises(SpecError, match="a mapping with `hosts:`"):
        load(_write(files, "- 1\n- 2\n"))


def test_spec_asks_for_an_inventory_with_ssh_only() -> None:
    with pytest.raises(SpecError, match="--provider ssh needs --inventory FILE"):
        TestSpec(provider="ssh")
    with pytest.raises(SpecError, match="--inventory is for --provider ssh, not local"):
        TestSpec(provider="local", inventory="hosts.yaml")
    spec = TestSpec(provider="ssh", inventory="hosts.yaml")
    assert TestSpec.from_dict(spec.to_dict()).inventory == "hosts.yaml"


def test_ssh_without_inventory_cleans_nothing() -> None:
    from harness.providers import ssh

    assert ssh.cleanup(force=True) == [] and ssh.find_leftovers(force=True) == []


def test_more_nodes_than_hosts_is_refused(files: Path) -> None:
    from harness.providers.ssh import _inventory

    spec = TestSpec(provider="ssh", inventory=str(_write(files, _base())), nodes=3)
    with pytest.raises(SpecError, match="--nodes 3: the inventory .* lists only 2 hosts"):
        _inventory(spec)


def test_suites_accept_ssh_and_anchor_the_inventory_to_the_suite_file(files: Path) -> None:
    from harness.suite_load import database_check, load_suite

    inv = _write(files, _base())
    suite = files / "suites" / "over-ssh.yaml"
    suite.parent.mkdir()
    suite.write_text(
        "defaults: {provider: ssh, inventory: ../inventory.yaml, time_limit: 60, nodes: 2}\n"
        "cases:\n"
        "  - {name: pg-async, db: postgres, nemesis: [partition, kill], expect: valid}\n"
    )
    s = load_suite(suite, db_check=database_check)
    (case,) = s.cases
    assert case.spec.provider == "ssh"
    assert Path(case.spec.inventory).resolve() == inv.resolve()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=root
    )


def test_cli_refuses_bad_inventories_in_one_line(files: Path) -> None:
    bad = _write(files, _base(hosts=[{"address": "192.0.2.1", "port": 70000}]))
    for args in (
        ["cleanup", "--inventory", str(files / "nope.yaml")],
        ["cleanup", "--inventory", str(bad)],
        ["run", "--provider", "ssh", "--inventory", str(bad), "--time", "5", "--nemesis", "none"],
        ["run", "--provider", "ssh", "--time", "5"],
        ["run", "--inventory", str(bad), "--time", "5"],
    ):
        r = _cli(*args)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert r.returncode == 3 and len(lines) == 1, (args, r.stdout, r.stderr)
        assert "inventory" in lines[0], lines
    r = _cli(
        "run", "--provider", "ssh", "--inventory", str(bad), "--time", "5", "--nemesis", "none"
    )
    assert "hosts[1].port: must be a TCP port (1-65535), got 70000" in r.stderr


# -- at plan time: before anything connects (the hosts here are TEST-NET addresses) ----------
def test_plan_refuses_bad_inventories_before_connecting(files: Path) -> None:
    from harness.plan import prepare

    two = str(_write(files, _base()))
    with pytest.raises(SpecError, match=r"^--nodes 3: the inventory .* lists only 2 hosts$"):
        prepare(TestSpec(provider="ssh", inventory=two, nodes=3))
    (files / "typo.yaml").write_text(yaml.safe_dump(_base(sudoo=True)))
    with pytest.raises(SpecError, match=r"typo.yaml: sudoo: unknown field; known: "):
        prepare(TestSpec(provider="ssh", inventory=str(files / "typo.yaml"), nodes=2))
    with pytest.raises(SpecError, match=r"nope.yaml: cannot read"):
        prepare(TestSpec(provider="ssh", inventory=str(files / "nope.yaml"), nodes=2))
    plan = prepare(TestSpec(provider="ssh", inventory=two, nodes=2, nemesis=("partition",)))
    assert plan.provider.__name__ == "harness.providers.ssh"


def test_a_suite_case_with_too_few_hosts_is_refused_when_the_suite_loads(files: Path) -> None:
    from harness.suite_load import database_check, load_suite

    _write(files, _base())
    suite = files / "five.yaml"
    suite.write_text(
        "defaults: {provider: ssh, inventory: inventory.yaml, time_limit: 60}\n"
        "cases:\n"
        "  - {name: pg-five, db: postgres, nodes: 5, nemesis: [partition], expect: valid}\n"
    )
    with pytest.raises(
        SpecError,
        match=r"five.yaml: case 'pg-five': nodes: 5: the inventory .* lists only 2 hosts$",
    ):
        load_suite(suite, db_check=database_check)


def test_cli_too_few_hosts_is_exit_3_before_connecting(files: Path) -> None:
    r = _cli("run", "--provider", "ssh", "--inventory", str(_write(files, _base())),
             "--nodes", "3", "--time", "5", "--nemesis", "none")  # fmt: skip
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 3 and len(lines) == 1, r.stderr
    assert "--nodes 3: the inventory" in lines[0] and "lists only 2 hosts" in lines[0]
