"""The ssh provider's shell scripts, run for real by this machine's /bin/sh (the same scripts
go to the hosts over SSH): spawn detaches into its own process group, the group is signalled
and killed as a whole, and quoting survives hostile arguments. And the iptables text."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.providers import ssh_firewall, ssh_procs
from harness.providers.ssh_cluster import SshCluster, _hide
from harness.providers.ssh_preflight import _binary_candidates


def sh(script: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=timeout)


def _members(pgid: int) -> list[str]:
    out = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout
    live = []
    for p in out.split():
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            live.append(p)
    return live


@pytest.fixture
def group(tmp_path: Path):
    """A detached group of 4 processes started by spawn_script; killed in any case."""
    argv = ["sh", "-c", 'sleep 60 & sleep 60 & sleep 60 & echo "started $1"; wait', "x", "a 'b' $c"]
    script = ssh_procs.spawn_script(str(tmp_path), "root", {"K": "v w"}, argv, f"{tmp_path}/s.log")
    r = sh(script)
    assert r.returncode == 0, r.stderr
    pgid = int(r.stdout.strip())
    yield pgid, tmp_path
    sh(ssh_procs.kill_group_script([pgid]))


def test_spawn_detaches_into_its_own_group_and_logs(group) -> None:
    pgid, d = group
    assert sh(ssh_procs.alive_script(pgid)).returncode == 0
    assert len(_members(pgid)) == 4
    deadline = time.monotonic() + 5
    while "started" not in (d / "s.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (d / "s.log").read_text() == "started a 'b' $c\n"  # quoting survived
    assert (d / ssh_procs.PIDFILE).read_text().strip() == str(pgid)


def test_pause_is_alive_and_kill_waits_until_all_are_gone(group) -> None:
    pgid, _ = group
    sh(ssh_procs.signal_script(pgid, signal.SIGSTOP))
    assert sh(ssh_procs.alive_script(pgid)).returncode == 0  # stopped counts as alive
    r = sh(ssh_procs.kill_group_script([pgid]))
    assert r.returncode == 0, r.stderr
    assert _members(pgid) == []  # every member, not only the leader, and at once
    assert sh(ssh_procs.alive_script(pgid)).returncode != 0


def test_kill_only_touches_the_recorded_user(group) -> None:
    pgid, _ = group
    r = sh(ssh_procs.kill_group_script([pgid], user="nobody"))
    assert r.returncode == 0
    assert len(_members(pgid)) == 4  # root's processes are not nobody's: untouched


def test_exec_script_environment(tmp_path: Path) -> None:
    argv = ["sh", "-c", "pwd; env | sort"]
    r = sh(ssh_procs.exec_script(str(tmp_path), "u", {"A": "1 2"}, argv, timeout=10))
    lines = r.stdout.splitlines()
    assert lines[0] == str(tmp_path)
    assert "A=1 2" in lines and "USER=u" in lines and f"HOME={tmp_path}" in lines
    assert not any(x.startswith("SSH_") for x in lines)  # env -i: nothing leaks in


def test_exec_ends_on_the_host_when_the_harness_stops_waiting(tmp_path: Path) -> None:
    t = time.monotonic()
    r = sh(ssh_procs.exec_script(str(tmp_path), "u", None, ["sleep", "30"], timeout=0.5))
    assert r.returncode == 124 and time.monotonic() - t < 5  # timeout(1)'s "timed out"


def test_firewall_text() -> None:
    c = ssh_firewall.chain_name("abc123")
    text = ssh_firewall.set_drops(c, ["10.0.0.2", "10.0.0.3"], {"10.0.0.4": 0.25})
    assert text.splitlines() == [
        "*filter",
        "-F SB-abc123",
        "-A SB-abc123 -s 10.0.0.2 -j DROP",
        "-A SB-abc123 -s 10.0.0.3 -j DROP",
        "-A SB-abc123 -s 10.0.0.4 -m statistic --mode random --probability 0.250000 -j DROP",
        "COMMIT",
    ]
    assert "-I INPUT 1 -j SB-abc123" in ssh_firewall.install(c)
    assert "-F" not in ssh_firewall.install(c).split("||")[0].replace("-N", "")
    assert "-D INPUT -j SB-abc123" in ssh_firewall.remove(c)
    listing = (
        "Chain SB-abc123 (1 references)\n"
        "    pkts      bytes target prot opt in out source destination\n"
        "      12      720 DROP   all  --  *  *   10.0.0.2 0.0.0.0/0\n"
    )
    assert ssh_firewall.drops(listing) == {"10.0.0.2": 12}


def test_binary_overrides_and_secrets() -> None:
    pg = "/usr/lib/postgresql/15/bin/initdb"
    assert _binary_candidates(pg, {}) == pg
    assert _binary_candidates(pg, {"postgres_bin": "/opt/pg/bin"}) == "/opt/pg/bin/initdb"
    assert _binary_candidates("/usr/sbin/mariadbd", {"mariadbd": "/opt/m/mariadbd"}) == (
        "/opt/m/mariadbd"
    )
    assert _binary_candidates("rsync", {"postgres_bin": "/x"}) == "rsync"
    assert _hide("pg_basebackup -d 'host=a password=s3cret user=p'") == (
        "pg_basebackup -d 'host=a password=*** user=p'"
    )


def test_capabilities() -> None:
    assert SshCluster.capabilities == {"partition", "packet-loss", "kill", "pause", "clock"}
