"""The code written once over a Remote, run for real by this machine's /bin/sh (the same
scripts go to namespaces, containers and SSH hosts): a service and everything it forks is
found, paused, and killed as a whole, whatever its processes do to their sessions; quoting
survives hostile arguments; the iptables text; the ssh transport's command line."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.errors import ClusterError
from harness.providers.ssh_cluster import SshCluster, _hide
from harness.remote import Remote, environment, firewall, service
from harness.remote.local import HostRemote
from harness.remote.ssh import exec_script

# A service shaped like a postmaster: a child that leaves the session (each PostgreSQL
# backend calls setsid), one that stays, and an orphan whose parent exited (re-parented to
# init: out of the tree, still in the session). It also overwrites its environment area, as
# PostgreSQL does with its process titles.
TREE = r"""
setsid sleep 300 &
sleep 300 &
( sleep 300 & )
echo "started $1"
exec sleep 300
"""


@pytest.fixture
def svc(tmp_path: Path):
    remote = HostRemote("host")
    argv = ["sh", "-c", TREE, "x", "a 'b' $c"]
    sid = remote.spawn(argv, user="root", log=f"{tmp_path}/s.log", cwd=str(tmp_path),
                       env={"K": "v w"})  # fmt: skip
    deadline = time.monotonic() + 5
    while len(service.members(remote, sid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    yield remote, sid, tmp_path
    service.kill(remote, sid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def test_spawn_detaches_into_its_own_session_and_logs(svc) -> None:
    remote, sid, d = svc
    assert service.alive(remote, sid)
    assert os.getsid(sid) == sid != os.getsid(0)
    members = service.members(remote, sid)
    assert len(members) == 4, members  # leader, the setsid child, the child, the orphan
    escaped = [p for p in members if os.getsid(p) != sid]
    assert len(escaped) == 1  # found through the tree, not the session
    assert (d / "s.log").read_text() == "started a 'b' $c\n"  # quoting survived
    assert (d / service.PIDFILE).read_text().strip() == str(sid)


def test_pause_stops_every_member_and_kill_leaves_none(svc) -> None:
    remote, sid, _ = svc
    members = service.members(remote, sid)
    assert service.pause(remote, sid) == {}
    assert {_state(p) for p in members} == {"T"}
    assert service.alive(remote, sid)  # stopped counts as alive
    assert set(service.send(remote, sid, signal.SIGCONT).values()) <= {"S", "R"}
    service.kill(remote, sid)
    assert service.members(remote, sid) == {}
    assert {_state(p) for p in members} <= {"gone", "Z"}  # every one, not only the leader
    assert not service.alive(remote, sid)


def test_a_foreign_owner_leaves_the_service_alone(svc) -> None:
    remote, sid, _ = svc
    r = remote.run(["sh", "-c", service.kill_script([sid], owner="nobody")])
    assert r.rc == 0, r.err
    assert len(service.members(remote, sid)) == 4  # root's processes are not nobody's
    r = remote.run(["sh", "-c", service.kill_script([sid], owner="root")])
    assert r.rc == 0, r.err
    assert service.members(remote, sid) == {}


def test_a_binary_that_cannot_start_is_said(tmp_path: Path) -> None:
    remote = HostRemote("host")
    with pytest.raises(ClusterError, match="cannot start /nonexistent/db"):
        remote.spawn(["/nonexistent/db"], user="root", log=f"{tmp_path}/l.log",
                     cwd=str(tmp_path))  # fmt: skip
    # detached with setsid (containers, ssh hosts): it dies at once, and its log says why
    sid = Remote.spawn(remote, ["/nonexistent/db"], user="root", log=f"{tmp_path}/l.log",
                       cwd=str(tmp_path))  # fmt: skip
    deadline = time.monotonic() + 5
    while service.alive(remote, sid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not service.alive(remote, sid)
    assert "nonexistent" in (tmp_path / "l.log").read_text()


def test_ssh_exec_script_environment_and_timeout(tmp_path: Path) -> None:
    env = environment("u", str(tmp_path), {"A": "1 2"})
    script = exec_script(str(tmp_path), env, ["sh", "-c", "pwd; env | sort"], timeout=10)
    lines = subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout.splitlines()
    assert lines[0] == str(tmp_path)
    assert "A=1 2" in lines and "USER=u" in lines and f"HOME={tmp_path}" in lines
    assert not any(x.startswith("SSH_") for x in lines)  # env -i: nothing leaks in
    t = time.monotonic()
    script = exec_script(str(tmp_path), env, ["sleep", "30"], timeout=0.5)
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert r.returncode == 124 and time.monotonic() - t < 5  # ended on the host


def test_firewall_text() -> None:
    c = firewall.chain_name("abc123")
    text = firewall.restore_text(firewall.chain_rules(c, ["10.0.0.2", "10.0.0.3"], {"10.0.0.4": 0.25}))
    assert text.splitlines() == [
        "*filter",
        "-F SB-abc123",
        "-A SB-abc123 -s 10.0.0.2 -j DROP",
        "-A SB-abc123 -s 10.0.0.3 -j DROP",
        "-A SB-abc123 -s 10.0.0.4 -m statistic --mode random --probability 0.250000 -j DROP",
        "COMMIT",
    ]
    assert "-I INPUT 1 -j SB-abc123" in firewall.install_script(c)
    assert "-D INPUT -j SB-abc123" in firewall.remove_script(c)
    listing = (
        "Chain SB-abc123 (1 references)\n"
        "    pkts      bytes target prot opt in out source destination\n"
        "      12      720 DROP   all  --  *  *   10.0.0.2 0.0.0.0/0\n"
    )
    assert firewall.drops(listing) == {"10.0.0.2": 12}


def test_rules_read_back_as_probabilities_a_full_drop_dominating() -> None:
    listing = "\n".join(
        [
            "-N SB-abc123",
            "-A SB-abc123 -s 10.0.0.2/32 -j DROP",
            "-A SB-abc123 -s 10.0.0.2/32 -m statistic --mode random --probability 0.25000000000 -j DROP",
            "-A SB-abc123 -s 10.0.0.4/32 -m statistic --mode random --probability 0.25000000000 -j DROP",
            "-A INPUT -j SB-abc123",
        ]
    )
    assert firewall.parse_rules(listing, "SB-abc123") == {"10.0.0.2": 1.0, "10.0.0.4": 0.25}


def test_secrets_never_reach_a_message() -> None:
    assert _hide("pg_basebackup -d 'host=a password=s3cret user=p'") == (
        "pg_basebackup -d 'host=a password=*** user=p'"
    )


def test_capabilities() -> None:
    assert SshCluster.capabilities == {"partition", "packet-loss", "kill", "pause", "clock"}
