"""The ssh provider against real OpenSSH servers: each host is a network namespace running its
own sshd (tests/sshd_hosts.py). No mocks: the node contract, partitions, cleanup of a crashed
run, every refusal (unreachable, refused key, host key mismatch, no sudo, missing binary, a
host that disappears), and PostgreSQL's known answers through harness.runner.run, as on the
local provider. Every test also checks that nothing is left on the hosts."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import clock
from harness.db import get as get_db
from harness.errors import ClusterError, EnvironmentProblem
from harness.history import load, pairs
from harness.providers import ssh
from harness.providers.ssh_conn import SshHost
from harness.runner import run
from harness.spec import TestSpec
from tests.integration.test_postgres_known_answers import BASE as PG_BASE
from tests.sshd_hosts import NET, SshdHosts, available

WHY = available()
pytestmark = [
    pytest.mark.ssh,
    pytest.mark.integration,
    pytest.mark.skipif(WHY is not None, reason=WHY or ""),
]
ROOT = Path(__file__).resolve().parents[2]


def _test_namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith("sbssh-")}


@pytest.fixture(scope="module", autouse=True)
def no_leaked_hosts() -> Iterator[None]:
    """Every namespace (with its sshd and database processes) made here is gone at the end."""
    before = _test_namespaces()
    yield
    assert _test_namespaces() - before == set()


@pytest.fixture(scope="module")
def hosts() -> Iterator[SshdHosts]:
    with SshdHosts(3) as h:
        yield h


@pytest.fixture
def clean(hosts: SshdHosts) -> Iterator[SshdHosts]:
    """The shared hosts, checked clean after the test (what a test leaves fails it)."""
    yield hosts
    left = hosts.leftovers()
    if left:
        ssh.cleanup(force=True, inventory=str(hosts.inventory()))
    assert left == [], left


def _spec(inventory: Path, **kw) -> TestSpec:
    return TestSpec(provider="ssh", inventory=str(inventory), **{"nemesis": (), **kw})


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def _live(pids: Iterable[int]) -> list[int]:
    """The pids that are still processes and not zombies (a zombie holds nothing but its pid)."""
    live = []
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            live.append(int(p))
    return live


def _connects(c: ssh.SshCluster, src: str, dst: str, tries: int = 1) -> bool:
    """Whether src opens TCP connections to dst's sshd (port 22): all of `tries`, each
    within a second."""
    code = (
        "import socket, sys\n"
        f"for _ in range({tries}):\n"
        f"    socket.create_connection(({c.peer_address(dst)!r}, 22), 1).close()\n"
    )
    return c.exec(src, ["python3", "-c", code], check=False, timeout=60).returncode == 0


# -- the node contract on real hosts ----------------------------------------------------------
def test_node_contract(clean: SshdHosts) -> None:
    spec = _spec(clean.inventory())
    c = ssh.create(spec, "a1b2c3")
    try:
        assert c.nodes == ("n1", "n2", "n3")
        assert c.address("n2", 5432) == (clean.addr["n2"], 5432)
        assert c.peer_address("n3") == c.listen_address("n3") == clean.addr["n3"]
        assert c.peer_network() == f"{NET}.{clean.base}/29"  # the hosts and the control
        d = c.node_dir("n1")
        assert str(d) == f"{clean.data_root}/a1b2c3/n1"
        assert Path(d).stat().st_uid == pwd.getpwnam("postgres").pw_uid  # the database's user

        # the state file says what to undo, before anything else exists
        state = json.loads(Path(f"{clean.data_root}/a1b2c3/n1.state.json").read_text())
        assert state["harness_pid"] == os.getpid() and state["chain"] == "SB-a1b2c3"

        # exec: on the host (its own network), as the user asked, with input
        assert c.exec("n1", ["id", "-un"], user="postgres").stdout.strip() == "postgres"
        assert clean.addr["n2"] in c.exec("n2", ["ip", "-br", "addr"]).stdout
        assert c.exec("n3", ["cat"], input="over stdin").stdout == "over stdin"
        with pytest.raises(ClusterError, match=r"^n1: `false` failed: exit status 1$"):
            c.exec("n1", ["false"])

        # files over SFTP, chowned to the user
        f = d / "conf.txt"
        c.write_file("n1", f, "a\n", user="postgres")
        c.write_file("n1", f, "b\n", user="postgres", append=True)
        assert c.read_file("n1", f) == "a\nb\n" and c.exists("n1", f)
        assert Path(f).stat().st_uid == Path(d).stat().st_uid
        assert c.read_file("n1", d / "nope") == "" and not c.exists("n1", d / "nope")

        # processes: one session per service and every process it forks (one leaves the
        # session, as PostgreSQL's backends do); pause stops them all and counts as running;
        # kill waits until none is left; start respawns
        log = d / "svc.log"
        c.spawn(
            "n1", ["sh", "-c", "echo up; setsid sleep 300 & sleep 300"], user="postgres", log=log
        )
        time.sleep(0.3)
        procs = c.processes("n1")
        assert len(procs) == 3, procs
        sid = c._sid("n1")  # the session's leader
        assert sid in procs
        assert c.is_running("n1")
        c.pause("n1")
        assert set(c.processes("n1").values()) == {"T"} and c.is_running("n1")
        c.resume("n1")
        c.kill("n1")
        assert not c.is_running("n1") and c.processes("n1") == {}
        assert _live(procs) == []  # every one of them, not only the leader
        c.start("n1")
        assert c.is_running("n1") and c._sid("n1") != sid
        assert c.read_file("n1", log).count("up") == 2  # same argv, same log
        state = json.loads(Path(f"{clean.data_root}/a1b2c3/n1.state.json").read_text())
        assert state["sids"] == sorted([sid, c._sid("n1")])

        # partitions: iptables in the run's own chain, first in INPUT
        assert _connects(c, "n1", "n2")
        c.partition({"n1": {"n2"}, "n2": {"n1"}})
        assert not _connects(c, "n1", "n2") and not _connects(c, "n2", "n1")
        assert _connects(c, "n1", "n3") and _connects(c, "n3", "n2")
        rules = subprocess.run(
            ["ip", "netns", "exec", clean.ns["n1"], "iptables", "-S", "INPUT"],
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        assert rules[1] == "-A INPUT -j SB-a1b2c3"
        assert c.drop_counts("n1").get(clean.addr["n2"], 0) > 0
        c.lose_packets({"n1": {"n3"}}, 0.5)
        assert set(c.drop_counts("n1").values()) == {0}  # rules rewritten: fresh counters
        _connects(c, "n1", "n3", tries=20)  # fails at the first dropped SYN-ACK
        assert c.drop_counts("n1").get(clean.addr["n3"], 0) > 0
        c.heal()
        assert _connects(c, "n1", "n2")

        c.collect_logs(clean.dir / "logs")
        assert "up" in (clean.dir / "logs" / "n1" / "svc.log").read_text()
    finally:
        c.teardown()
    c.teardown()  # idempotent


def test_clock_offsets_reach_the_database_process_only(clean: SshdHosts) -> None:
    """A clock run spawns the database under libfaketime; set_clock_offset moves the clock
    it sees (within ~1 s, the preload's cache) and 0 puts it back; the host keeps real time."""
    if not Path(clock.LIBFAKETIME).exists():
        pytest.skip(f"{clock.LIBFAKETIME} missing: {clock.INSTALL_HINT}")
    c = ssh.create(_spec(clean.inventory(), db="cassandra", nemesis=("clock",)), "c10c4f")
    try:
        assert "clock" in c.capabilities
        d = c.node_dir("n1")
        now = d / "now"
        loop = f"while :; do date +%s > {now}.new && mv -f {now}.new {now}; sleep 0.2; done"
        c.spawn("n1", ["sh", "-c", loop], user="cassandra", log=d / "clock.log")

        def seen_offset() -> float:
            deadline = time.time() + 5
            while not c.read_file("n1", now).strip() and time.time() < deadline:
                time.sleep(0.1)
            return int(c.read_file("n1", now)) - time.time()

        assert abs(seen_offset()) < 2
        c.set_clock_offset("n1", 3600)
        time.sleep(2.5)
        assert 3597 < seen_offset() < 3602 and c.clock_offset("n1") == 3600
        host = int(c.exec("n1", ["date", "+%s"]).stdout)  # the provider's tools: real time
        assert abs(host - time.time()) < 2
        c.set_clock_offset("n1", 0)
        time.sleep(2.5)
        assert abs(seen_offset()) < 2
    finally:
        c.teardown()


def _crash(inventory: Path, run_id: str) -> None:
    """A harness that creates a cluster, starts a service on every host, cuts n1 from n2,
    and dies without a teardown."""
    crash = textwrap.dedent(
        f"""
        import os
        from harness.providers import ssh
        from harness.spec import TestSpec
        c = ssh.create(TestSpec(provider="ssh", inventory={str(inventory)!r}), {run_id!r})
        for n in c.nodes:
            c.spawn(n, ["sleep", "300"], user="postgres", log=c.node_dir(n) / "s.log")
        c.partition({{"n1": {{"n2"}}}})
        os._exit(9)
        """
    )
    r = subprocess.run([sys.executable, "-c", crash], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 9, r.stderr


def test_cleanup_removes_a_crashed_run(clean: SshdHosts) -> None:
    inv = clean.inventory()
    _crash(inv, "dead01")
    left = clean.leftovers()
    assert any("SB-dead01" in x for x in left) and sum("process" in x for x in left) == 3

    found = ssh.find_leftovers(inventory=str(inv))
    assert len(found) == 3 and all("run dead01" in x for x in found), found
    out = _cli("cleanup", "--inventory", str(inv))
    assert out.returncode == 0, out.stderr
    removed = [x for x in out.stdout.splitlines() if x.startswith("removed host")]
    assert len(removed) == 3, out.stdout
    assert clean.leftovers() == []
    assert ssh.find_leftovers(inventory=str(inv)) == []


def test_a_new_run_clears_dead_runs_and_refuses_live_ones(clean: SshdHosts) -> None:
    inv = clean.inventory()
    _crash(inv, "dead02")
    c = ssh.create(_spec(inv), "11fe01")  # the crashed run's leftovers go first
    try:
        left = clean.leftovers()
        assert left and not any("dead02" in x for x in left), left
        with pytest.raises(
            EnvironmentProblem, match=r"run 11fe01 \(harness .*\) is still using it"
        ):
            ssh.create(_spec(inv), "22fe02")
    finally:
        c.teardown()


def test_host_keys_new_ones_are_recorded_only_when_allowed(clean: SshdHosts, tmp_path) -> None:
    kh = tmp_path / "fresh_known_hosts"
    db = get_db(
        _spec(clean.inventory("accept.yaml", known_hosts=str(kh), accept_new_host_keys=True))
    )
    ssh.preflight(db)
    recorded = sorted(kh.read_text().splitlines())
    assert recorded == sorted(clean.known_hosts.read_text().splitlines())
    ssh.preflight(get_db(_spec(clean.inventory("reuse.yaml", known_hosts=str(kh)))))


def _record_commands(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(node, command line) of every command the harness sends to a host, in order."""
    sent: list[tuple[str, str]] = []
    real = SshHost.run

    def recorded(r: SshHost, command: str, **kw: Any) -> tuple[int, str, str]:
        sent.append((r.host.name, command))
        return real(r, command, **kw)

    monkeypatch.setattr(SshHost, "run", recorded)
    return sent


def _skip_unless_apt_noop(pkgs: list[str]) -> None:
    """The test hosts are this machine: apt-get install must change nothing here."""
    sim = subprocess.run(
        ["apt-get", "install", "-s", "-y", "--no-install-recommends", *pkgs],
        capture_output=True,
        text=True,
    )
    if "0 upgraded, 0 newly installed" not in sim.stdout:
        pytest.skip(f"apt-get install {pkgs} would change this machine: {sim.stdout[-200:]}")


def test_install_apt_runs_before_the_checks_and_assume_never_installs(
    clean: SshdHosts, monkeypatch
) -> None:
    """The hosts here have no package mirror: what is tested for real is apt-get install of
    packages that are installed (a no-op success offline) and of one that does not exist."""
    pkgs = ["postgresql-15"]
    _skip_unless_apt_noop(pkgs)
    sent = _record_commands(monkeypatch)
    ssh.preflight(get_db(_spec(clean.inventory())))  # install: assume (the default)
    assert sent and not any("apt-get" in c for _, c in sent)

    sent.clear()
    ssh.preflight(get_db(_spec(clean.inventory("apt.yaml", install="apt", packages=pkgs))))
    for n in clean.nodes:
        mine = [c for node, c in sent if node == n]
        apt = [
            i for i, c in enumerate(mine) if "apt-get -q -o DPkg::Lock::Timeout=120 install -y" in c
        ]
        check = [i for i, c in enumerate(mine) if "command -v" in c and "initdb" in c]
        assert len(apt) == 1 and "postgresql-15" in mine[apt[0]], mine
        assert check and apt[0] < check[0], mine  # installed first, then checked

    msg = _refused(clean.inventory("apt-bad.yaml", install="apt", packages=["sb-no-such-pkg"]))
    assert re.fullmatch(
        r"host 198\.18\.0\.\d+ \(n\d\): apt-get install sb-no-such-pkg failed: "
        r"E: Unable to locate package sb-no-such-pkg",
        msg,
    ), msg


# -- refusals: one line naming the host, exit 4, nothing left ----------------------------------
def _refused(inventory: Path) -> str:
    with pytest.raises(EnvironmentProblem) as e:
        ssh.preflight(get_db(_spec(inventory)))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_host_key_mismatch_and_unknown_key(clean: SshdHosts) -> None:
    lines = clean.known_hosts.read_text().splitlines()
    other = clean.dir / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    fake = Path(f"{other}.pub").read_text().split()
    wrong = clean.dir / "wrong_known_hosts"
    wrong.write_text(f"{lines[0]}\n{clean.addr['n2']} {fake[0]} {fake[1]}\n{lines[2]}\n")
    msg = _refused(clean.inventory("mismatch.yaml", known_hosts=str(wrong)))
    assert msg.startswith(f"host {clean.addr['n2']} (n2), port 22: host key mismatch"), msg

    partial = clean.dir / "partial_known_hosts"
    partial.write_text(f"{lines[0]}\n{lines[1]}\n")
    msg = _refused(clean.inventory("unknown.yaml", known_hosts=str(partial)))
    assert msg.startswith(f"host {clean.addr['n3']} (n3), port 22: host key unknown"), msg
    assert partial.read_text() == f"{lines[0]}\n{lines[1]}\n"  # never silently accepted


def test_refused_key(clean: SshdHosts) -> None:
    key = clean.dir / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    msg = _refused(clean.inventory("stranger.yaml", private_key=str(key)))
    assert msg == (
        f"host {clean.addr['n1']} (n1), port 22: user 'root' was refused with the key {key} "
        "(key authentication only: is its public key in the user's authorized_keys?)"
    )


def test_sudo_as_root(clean: SshdHosts) -> None:
    """sudo: true while logged in as root: the database's commands go through sudo -n -u."""
    inv = clean.inventory("sudo.yaml", sudo=True)
    if shutil.which("sudo") is None:  # a host without sudo: said, before anything starts
        msg = _refused(inv)
        assert msg.endswith("sudo is not installed (the inventory says sudo: true)"), msg
        return
    ssh.preflight(get_db(_spec(inv)))
    c = ssh.create(_spec(inv), "5d0001")
    try:
        assert c.exec("n1", ["id", "-un"], user="postgres").stdout.strip() == "postgres"
        c.spawn("n2", ["sleep", "300"], user="postgres", log=c.node_dir("n2") / "s.log")
        assert c.is_running("n2")
    finally:
        c.teardown()


@pytest.mark.skipif(shutil.which("sudo") is None, reason="sudo not installed")
def test_non_root_login_with_sudo(monkeypatch) -> None:
    """Logged in as a user who is not root (here postgres, through PAM): without sudo rights
    the run is refused in one line; with NOPASSWD rights the whole contract works through
    sudo -n, files included (no SFTP as root then)."""
    with SshdHosts(3, use_pam=True) as h:
        inv = h.inventory(user="postgres", sudo=True)
        msg = _refused(inv)
        assert msg == (
            f"host {h.addr['n1']} (n1): sudo needs a password for postgres: the harness uses "
            "`sudo -n`; give the user NOPASSWD rights, or log in as root"
        )
        rule = Path(f"/etc/sudoers.d/sbssh-{h.id}")
        try:
            rule.write_text("postgres ALL=(ALL) NOPASSWD: ALL\n")
            rule.chmod(0o440)
            ssh.preflight(get_db(_spec(inv)))
            # install: apt goes through sudo -n as well (an installed package: a no-op)
            _skip_unless_apt_noop(["postgresql-15"])
            sent = _record_commands(monkeypatch)
            apt = h.inventory("apt.yaml", user="postgres", sudo=True, install="apt",
                              packages=["postgresql-15"])  # fmt: skip
            ssh.preflight(get_db(_spec(apt)))
            apt_cmds = [c for _, c in sent if "apt-get" in c]
            assert len(apt_cmds) == 3, sent
            assert all(c.startswith("sudo -n -u root -- sh -c") for c in apt_cmds), apt_cmds
            c = ssh.create(_spec(inv), "5d0002")
            try:
                assert c.exec("n1", ["id", "-un"]).stdout.strip() == "root"
                f = c.node_dir("n2") / "f.txt"
                c.write_file("n2", f, "x\n", user="postgres")
                c.write_file("n2", f, "y\n", user="postgres", append=True)
                assert c.read_file("n2", f) == "x\ny\n" and c.exists("n2", f)
                assert Path(f).stat().st_uid == pwd.getpwnam("postgres").pw_uid
                c.spawn("n3", ["sleep", "300"], user="postgres", log=c.node_dir("n3") / "s.log")
                assert c.is_running("n3")
                c.kill("n3")
                assert not c.is_running("n3")
                c.partition({"n1": {"n2"}, "n2": {"n1"}})
                assert not _connects(c, "n1", "n2") and _connects(c, "n1", "n3")
            finally:
                c.teardown()
            assert h.leftovers() == []
        finally:
            rule.unlink(missing_ok=True)


def test_missing_binary_on_one_host_via_cli(clean: SshdHosts) -> None:
    hosts = [{"address": clean.addr[n], "name": n} for n in clean.nodes]
    hosts[1]["settings"] = {"postgres_bin": "/nonexistent/pg/bin"}
    inv = clean.inventory("missing.yaml", hosts=hosts)
    r = _cli("run", "--provider", "ssh", "--inventory", str(inv), "--time", "5",
             "--nemesis", "none", "--results", str(clean.dir / "results"), "--no-progress")  # fmt: skip
    assert r.returncode == 4, r.stdout + r.stderr
    err = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(err) == 1, r.stderr
    assert (
        f"host {clean.addr['n2']} (n2): /nonexistent/pg/bin/initdb (the inventory's setting)"
        in (err[0])
    )


def test_unreachable_host_refused_before_anything_is_created(tmp_path) -> None:
    with SshdHosts(3, sshd_on={"n1", "n2"}) as h:
        inv = h.inventory()
        r = _cli("run", "--provider", "ssh", "--inventory", str(inv), "--time", "5",
                 "--nemesis", "none", "--results", str(tmp_path), "--no-progress")  # fmt: skip
        assert r.returncode == 4, r.stdout + r.stderr
        assert f"host {h.addr['n3']} (n3), port 22: unreachable: connection refused" in r.stderr
        assert len([x for x in r.stderr.splitlines() if x.strip()]) == 1, r.stderr
        with pytest.raises(EnvironmentProblem, match="unreachable"):
            ssh.create(_spec(inv), "0a0b0c")
        assert h.leftovers() == []


def test_host_that_disappears_mid_run() -> None:
    with SshdHosts(3) as h:
        inv = h.inventory()
        c = ssh.create(_spec(inv), "f00d01")
        for n in c.nodes:
            c.spawn(n, ["sleep", "300"], user="postgres", log=c.node_dir(n) / "s.log")
        h.vanish("n3")
        t = time.monotonic()
        with pytest.raises(ClusterError) as e:
            c.exec("n3", ["true"])
        assert str(e.value).startswith(f"host {h.addr['n3']} (n3): lost the SSH connection")
        with pytest.raises(ClusterError) as e:
            c.teardown()
        took = time.monotonic() - t
        msg = str(e.value)
        assert msg.startswith(f"host {h.addr['n3']} (n3)") and "\n" not in msg
        assert msg.endswith(f"once it answers: splitbrain cleanup --inventory {inv}")
        assert took < 30, took
        left = h.leftovers()
        mine = ("/n3", "/f00d01")  # n3's files, and the run dir they are in (one filesystem here)
        assert left and all(x.startswith("n3 ") or x.endswith(mine) or "/n3" in x for x in left)

        # the host comes back: cleanup --force (this harness is alive) removes the rest
        subprocess.run(["ip", "link", "set", h.veth["n3"], "up"], check=True)
        h.start_sshd("n3")
        h._wait_port("n3")
        out = _cli("cleanup", "--force", "--inventory", str(inv))
        assert "removed host" in out.stdout and "run f00d01" in out.stdout, out.stdout + out.stderr
        assert h.leftovers() == []


PROGRESS = ("run ", "cluster: ", "cluster up in ", "workload done: ")  # the run's own lines


def test_host_that_disappears_during_a_run_via_cli(tmp_path) -> None:
    """A whole run (Postgres, no faults) whose replica n3 vanishes (its sshd and sessions
    killed, its link down) while the workload runs: one line on stderr naming n3, the exit
    code of a problem of the environment, and nothing left on n1 and n2."""
    with SshdHosts(3) as h:
        inv = h.inventory()
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", "--provider", "ssh", "--inventory",
             str(inv), "--time", "30", "--nemesis", "none", "--concurrency", "4",
             "--recovery-timeout", "20", "--results", str(tmp_path), "--no-progress"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert proc.stderr is not None  # the run's progress lines go to stderr
        err = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            err += line
            if "running set" in line or not line:
                break
        assert "running set" in err, err
        time.sleep(3)
        h.vanish("n3")
        t = time.monotonic()
        out, rest = proc.communicate(timeout=150)
        took = time.monotonic() - t
        err += rest
        print(err)
        assert proc.returncode == 4, out + err
        problems = [x for x in err.splitlines() if x.strip() and not x.startswith(PROGRESS)]
        assert len(problems) == 1, err
        assert problems[0].startswith(f"splitbrain: error: host {h.addr['n3']} (n3): "), err
        assert "lost the SSH connection" in problems[0]
        left = h.leftovers()
        assert not any(x.startswith(("n1 ", "n2 ")) or "/n1" in x or "/n2" in x for x in left)
        print(f"vanished mid-run: exit {proc.returncode} after {took:.1f} s: {problems[0]}")
        verdict = json.loads(next(tmp_path.rglob("verdict.json")).read_text())
        assert verdict["valid"] == "unknown" and "n3" in verdict["run"]["aborted"]
        subprocess.run(["ip", "link", "set", h.veth["n3"], "up"], check=True)
        h.start_sshd("n3")
        h._wait_port("n3")
        assert "run " in _cli("cleanup", "--inventory", str(inv)).stdout  # its harness is gone
        assert h.leftovers() == []


# -- PostgreSQL's known answers over SSH ---------------------------------------------------------
# the same runs as on the local provider (test_postgres_known_answers)
BASE = {**PG_BASE, "nemesis": ("failover",), "options": {"failover_how": "isolate"}}


SECRET = re.compile(r"password=|passwd=|--password|IDENTIFIED BY|postgres:splitbrain", re.I)


class ArgvWatch:
    """Where a password could show on the hosts: every command line the harness sends them
    (each is the argv of a shell there, so all its processes start from one), and the argv of
    every process in the hosts' namespaces, sampled every 20 ms while the run goes on (the
    database's own children too). Also the mode of each passfile seen, and whether a
    postgresql.auto.conf ever held a password."""

    def __init__(self, hosts: SshdHosts, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        self.argvs: set[str] = set()
        self.passfiles: set[tuple[str, int, int]] = set()  # (path, mode, uid)
        self.auto_conf_secrets: set[str] = set()
        self.root = Path(hosts.data_root)
        self.netns = {os.stat(f"/run/netns/{ns}").st_ino for ns in hosts.ns.values()}
        real = SshHost.run

        def recorded(r: SshHost, command: str, **kw: Any) -> tuple[int, str, str]:
            self.sent.append(command)
            return real(r, command, **kw)

        monkeypatch.setattr(SshHost, "run", recorded)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                with contextlib.suppress(OSError):
                    if os.stat(f"/proc/{pid}/ns/net").st_ino in self.netns:
                        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                        self.argvs.add(raw.replace(b"\0", b" ").decode(errors="replace"))
            for f in self.root.glob("*/n*/pgpass"):
                with contextlib.suppress(OSError):
                    st = f.stat()
                    self.passfiles.add((str(f), st.st_mode & 0o777, st.st_uid))
            for f in self.root.glob("*/n*/data/postgresql.auto.conf"):
                with contextlib.suppress(OSError):
                    if "password" in f.read_text():
                        self.auto_conf_secrets.add(str(f))

    def check(self) -> None:
        assert [c for c in self.sent if SECRET.search(c)] == []
        assert [a for a in self.argvs if SECRET.search(a)] == []
        # the watch saw what it is about: the clones' conninfo, the servers' processes
        assert any("pg_basebackup" in c and "passfile=" in c for c in self.sent)
        assert any("walreceiver" in a for a in self.argvs), sorted(self.argvs)[:20]
        assert self.auto_conf_secrets == set()
        uid = pwd.getpwnam("postgres").pw_uid
        assert self.passfiles and {(m, u) for _, m, u in self.passfiles} == {(0o600, uid)}


def _run(
    hosts: SshdHosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **changes
) -> tuple[dict, list]:
    spec = _spec(hosts.inventory(), **{**BASE, **changes})
    with ArgvWatch(hosts, monkeypatch) as watch:
        result = run(spec, tmp_path, echo=lambda s: None, progress=False)
    watch.check()  # no password on a command line or in postgresql.auto.conf, ever
    doc = json.loads((result.dir / "verdict.json").read_text())
    assert doc["run"]["aborted"] is None, doc["run"]
    assert doc["run"]["errors"] == [], doc["run"]["errors"]
    assert doc["run"]["faults"]["done"] == ["failover"] * len(doc["run"]["faults"]["done"])
    assert doc["run"]["faults"]["done"] and not doc["run"]["faults"]["failed"]
    for n in hosts.nodes:  # the database's log came back from every host
        assert (result.dir / "logs" / n / "postgres.log").stat().st_size > 0
    print(f"ssh {spec.mode}: setup {doc['run']['setup_s']} s, ops {doc['run']['ops']}")
    return doc, load(result.dir)


def test_async_failover_loses_acknowledged_writes_over_ssh(
    clean: SshdHosts, tmp_path, monkeypatch
) -> None:
    doc, history = _run(clean, tmp_path, monkeypatch, mode="async")
    assert doc["valid"] is False
    lost = [a for a in doc["checkers"]["set"]["anomalies"] if a["type"] == "lost-write"]
    assert lost, doc["checkers"]["set"]["counts"]
    by_index = {op.index: op for op in history}
    for a in lost[:20]:  # each lost value was acknowledged by an ok add in the history
        oks = [by_index[i] for i in a["ops"] if by_index[i].type == "ok" and by_index[i].f == "add"]
        assert oks and oks[0].value[1] == a["data"]["value"]
    print(f"ssh async: {doc['checkers']['set']['counts']['lost-write']} lost writes")


def test_sync_failover_loses_no_acknowledged_write_over_ssh(
    clean: SshdHosts, tmp_path, monkeypatch
) -> None:
    doc, history = _run(clean, tmp_path, monkeypatch, mode="sync")
    assert "lost-write" not in doc["checkers"]["set"]["counts"]
    assert doc["checkers"]["set"]["stats"]["final_reads"] >= 3
    adds = [(i, c) for i, c in pairs(history) if i.f == "add"]
    assert any(c is None or c.type == "info" for _, c in adds)
    assert sum(1 for _, c in adds if c is not None and c.type == "ok") > 100


def test_ctrl_c_leaves_nothing_on_the_hosts(clean: SshdHosts, tmp_path) -> None:
    inv = clean.inventory()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--provider", "ssh", "--inventory", str(inv),
         "--time", "60", "--nemesis", "partition", "--concurrency", "4",
         "--results", str(tmp_path), "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    out = ""
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        out += line
        if "running set" in line or not line:
            break
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=90)
    assert proc.returncode == 2, out + rest
    assert clean.leftovers() == []


# -- Galera over SSH: the same definition, the same known answer as on the local provider ------
@pytest.mark.skipif(
    not os.path.exists("/usr/sbin/mariadbd")
    or not os.path.exists("/usr/lib/galera/libgalera_smm.so"),
    reason="needs mariadb-server and galera-4",
)
def test_galera_isolated_node_refuses_and_nothing_is_lost_over_ssh(
    clean: SshdHosts, tmp_path, monkeypatch
) -> None:
    """isolate-one over SSH (iptables chains on the hosts): the minority node goes non-Primary
    and refuses writes (1047), the majority serves; after heal nothing acknowledged is lost,
    and no password reached a host's command line (CREATE USER goes over stdin)."""
    spec = _spec(
        clean.inventory(),
        db="galera",
        mode="multi-primary",
        nemesis=("partition",),
        partition=("isolate-one",),
        concurrency=6,
        seed=1,
        time_limit=20,
        fault_interval=6,
        op_timeout=3,
        recovery_timeout=60,
    )
    sent = _record_commands(monkeypatch)
    result = run(spec, tmp_path, echo=lambda s: None, progress=False)
    doc = json.loads((result.dir / "verdict.json").read_text())
    assert doc["run"]["aborted"] is None and doc["run"]["errors"] == [], doc["run"]
    history = load(result.dir)
    nem = [op for op in history if op.process == "nemesis" and op.type == "info"]
    start = next(op for op in nem if op.f == "start-partition")
    stop = next(op for op in nem if op.f == "stop-partition")
    grudge = start.value["grudge"]
    isolated = next(n for n, drops in grudge.items() if len(drops) == len(grudge) - 1)
    adds = [
        c
        for i, c in pairs(history)
        if i.f == "add" and start.time <= i.time and c is not None and c.time <= stop.time
    ]
    on_isolated = [c for c in adds if c.node == isolated]
    assert on_isolated and all(c.type in ("fail", "info") for c in on_isolated)
    assert any(c.error and "1047" in c.error for c in on_isolated)
    assert sum(1 for c in adds if c.node != isolated and c.type == "ok") > 100
    s = doc["checkers"]["set"]
    assert "lost-write" not in s["counts"] and "divergence" not in s["counts"], s["counts"]
    assert s["stats"]["final_reads"] == 3
    assert sent and [c for _, c in sent if SECRET.search(c)] == []
    for n in clean.nodes:
        assert (result.dir / "logs" / n / "mariadbd.log").stat().st_size > 0
    print(f"ssh galera: setup {doc['run']['setup_s']} s, ops {doc['run']['ops']}, {s['counts']}")
