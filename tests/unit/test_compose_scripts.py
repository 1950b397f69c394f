"""The shell the compose provider runs inside node containers, run for real with this
machine's sh, coreutils and grep (Debian, as the images' bases), on local processes.

What this shows: the spawn wrapper appends the service's output to its log, the signal script
finds every process carrying the mark (also one that left the process tree and its session)
and no other, and kill's wait ends once they are gone. What it does not: the same inside a
container (PID 1 there is docker-init, which reaps the orphans; here it is this sandbox's).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.providers import compose_scripts as sh


def _marked(tag: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if f"{sh.MARK}={tag}".encode() in (d / "environ").read_bytes().split(b"\0"):
                    out.append(int(d.name))
    return sorted(out)


def _state(pid: int) -> str:
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def node() -> Iterator[str]:
    tag = f"unit-{uuid.uuid4().hex[:8]}"
    yield tag
    for pid in _marked(tag):  # whatever a failed test left behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def _comm(pid: int) -> str:
    with contextlib.suppress(OSError):
        return (Path("/proc") / str(pid) / "comm").read_text().strip()
    return ""


def _wait_for(tag: str, n: int) -> list[int]:
    """The marked pids once n of them run and all are `sleep` (the shells have exec'd or
    exited)."""
    deadline = time.monotonic() + 10
    while True:
        pids = _marked(tag)
        if len(pids) == n and all(_comm(p) == "sleep" for p in pids):
            return pids
        assert time.monotonic() < deadline, f"marked: {[(p, _comm(p)) for p in pids]}"
        time.sleep(0.05)


def _states(pids: list[int], want: str | None) -> set[str]:
    """Their states once the signal took effect (delivery is asynchronous)."""
    deadline = time.monotonic() + 5
    while True:
        states = {_state(p) for p in pids}
        if (want is None and "T" not in states) or states == {want} or time.monotonic() > deadline:
            return states
        time.sleep(0.02)


def test_signals_reach_every_marked_process_and_no_other(node: str, tmp_path: Path) -> None:
    log = tmp_path / "db.log"
    # a service with a child, a daemonised grandchild (own session, parent gone) and a
    # long-lived main process; plus an unmarked process of the same user beside it
    tree = "echo started; sleep 300 & (setsid sleep 301 &); exec sleep 302"
    svc = subprocess.Popen(
        sh.spawn_argv(["sh", "-c", tree], str(log)), env={**os.environ, sh.MARK: node}
    )
    other = subprocess.Popen(["sleep", "303"])
    try:
        pids = _wait_for(node, 3)
        assert svc.pid in pids  # `exec`: the spawned process is the service itself
        r = _run(sh.signal_argv(node, signal.SIGSTOP))
        assert r.returncode == 0, r.stderr
        assert sorted(map(int, r.stdout.split())) == pids
        assert _states(pids, "T") == {"T"} and _state(other.pid) != "T"
        assert _run(sh.signal_argv(node, signal.SIGCONT)).returncode == 0
        assert "T" not in _states(pids, None)
        # SIGKILL with a wait: returns once every marked process is gone
        r = _run(sh.signal_argv(node, signal.SIGKILL, wait=10))
        assert r.returncode == 0, r.stderr
        assert _marked(node) == []
        assert svc.wait(5) == -signal.SIGKILL
        assert other.poll() is None  # not marked: untouched
        assert log.read_text() == "started\n"
        # nothing left: the script says so with an empty line and exit 0
        r = _run(sh.signal_argv(node, signal.SIGKILL, wait=1))
        assert (r.returncode, r.stdout.strip()) == (0, "")
    finally:
        other.kill()
        other.wait()
        with contextlib.suppress(ProcessLookupError):
            svc.kill()
        svc.wait()


def test_the_log_is_appended_across_restarts(node: str, tmp_path: Path) -> None:
    log = tmp_path / "db.log"
    for word in ("one", "two"):
        p = subprocess.run(sh.spawn_argv(["sh", "-c", f"echo {word}; echo err >&2"], str(log)))
        assert p.returncode == 0
    assert log.read_text() == "one\nerr\ntwo\nerr\n"


def test_a_wait_that_runs_out_names_the_survivors(node: str) -> None:
    svc = subprocess.Popen(["sleep", "300"], env={**os.environ, sh.MARK: node})
    try:
        _wait_for(node, 1)
        r = _run(sh.signal_argv(node, 0, wait=0.3))  # signal 0 kills nothing
        assert r.returncode == 1
        assert r.stderr.strip() == f"still running: {svc.pid}"
    finally:
        svc.kill()
        svc.wait()


def test_prepare_makes_the_node_dir_for_the_user(tmp_path: Path) -> None:
    d = tmp_path / "splitbrain" / "n1"
    me = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    r = _run(sh.prepare_argv(str(d), me))
    assert r.returncode == 0, r.stderr
    assert d.is_dir() and d.stat().st_uid == os.getuid()
    r = _run(sh.prepare_argv(str(tmp_path / "n2"), "no-such-user-zz"))
    assert (r.returncode, r.stderr.strip()) == (1, "no user no-such-user-zz in this image")
    assert not (tmp_path / "n2").exists()


def test_missing_lists_absent_paths_and_commands(tmp_path: Path) -> None:
    lib = tmp_path / "libdb.so"
    lib.write_text("")
    lib.chmod(0o644)
    binaries = ["/bin/sh", "sh", "/nonexistent/dbd", "no-such-command-zz", str(lib)]
    r = _run(sh.missing_argv(binaries, [str(lib), "/nonexistent/libdb.so"]))
    assert r.returncode == 0, r.stderr
    # the library exists but is no executable: fine as a file, missing as a binary
    assert r.stdout.split() == [
        "/nonexistent/dbd",
        "no-such-command-zz",
        str(lib),
        "/nonexistent/libdb.so",
    ]
    assert _run(sh.missing_argv([])).stdout == ""


def test_drop_rules_stay_in_our_filter_chain() -> None:
    script = sh.drop_script(["10.0.0.2"], 0.1)
    rules = [line for line in script.splitlines() if " -A " in line]
    assert rules == [
        "iptables -w 5 -t filter -A SPLITBRAIN -s 10.0.0.2 "
        "-m statistic --mode random --probability 0.100000 -j DROP"
    ]
    assert "nat" not in script and "-F INPUT" not in script
    for bad in (0, -0.5, 1.01):
        with pytest.raises(ValueError, match="probability"):
            sh.drop_script(["10.0.0.2"], bad)
