from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from tests.doubles import register

register()  # the memory provider and database, for the tests only

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPLITBRAIN_SHARED", ROOT.parent / "shared"))
REFERENCE = SHARED / "reference-histories"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def reference() -> Path:
    """The public reference histories (../shared/reference-histories); skipped in a user's clone."""
    if not REFERENCE.is_dir():
        pytest.skip(
            f"reference histories not present at {REFERENCE} (only CI and dev machines have ../shared)"
        )
    return REFERENCE


def needs_root() -> pytest.MarkDecorator:
    return pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def _our_leftover_namespaces() -> list[str]:
    """Namespaces of runs started by this very test process (others' runs are not ours)."""
    import json
    import subprocess

    work = Path("/var/tmp/splitbrain")
    ours = set()
    for run_json in work.glob("*/run.json") if work.is_dir() else []:
        try:
            if json.loads(run_json.read_text()).get("harness_pid") == os.getpid():
                ours.add(run_json.parent.name)
        except (OSError, ValueError):
            continue
    try:
        names = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True
        ).stdout.split()
    except OSError:
        return []
    return [n for n in names if any(n.startswith(f"sb-{rid}-") for rid in ours)]


def _ssh_test_namespaces() -> set[str]:
    """The ssh tests' hosts (tests/sshd_hosts.py): namespaces sbssh-<id>-<node>, each with an
    sshd and whatever ran over it inside."""
    import subprocess

    try:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    except OSError:
        return set()
    return {line.split()[0] for line in out.splitlines() if line.startswith("sbssh-")}


def _ssh_hosts_made_here() -> set[str]:
    """Namespaces tests/sshd_hosts.py made in this process (another session's are not ours)."""
    import sys

    mod = sys.modules.get("tests.sshd_hosts")
    return set(mod.MADE) if mod is not None else set()


def pytest_sessionstart(session: pytest.Session) -> None:
    # `.ci/run &` from a script without job control starts Python with SIGINT ignored, and
    # then tests of Ctrl-C handling cannot see one: give the session Python's own handler.
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _remove_ssh_hosts(names: set[str]) -> None:
    """SIGKILL every process in each namespace (its sshd, the databases), then delete the
    namespaces, their bridge and veths, and their data roots."""
    import shutil
    import signal
    import subprocess

    for ns in names:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        for pid in pids.split():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    ids = {ns.split("-")[1] for ns in names}
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if any(name.startswith(f"sbssh{i}") for i in ids):
            subprocess.run(["ip", "link", "del", name], capture_output=True)
    for i in ids:
        shutil.rmtree(f"/var/tmp/splitbrain-ssh-test/{i}", ignore_errors=True)
        for d in Path("/tmp").glob(f"sbssh-{i}-*"):  # keys, configs, inventories
            shutil.rmtree(d, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that leaves a namespace behind fails the session (and the leak is removed)."""
    if os.geteuid() != 0:
        return
    leaked = _our_leftover_namespaces()
    if leaked:
        from harness.providers import local

        local.cleanup(force=True)
        print(f"\nLEAK: tests left network namespaces behind: {', '.join(leaked)} (removed now)")
        session.exitstatus = 1
    ssh_leaked = _ssh_test_namespaces() & _ssh_hosts_made_here()
    if ssh_leaked:
        _remove_ssh_hosts(ssh_leaked)
        print(
            "\nLEAK: ssh tests left hosts (namespaces with sshd and their processes) behind: "
            f"{', '.join(sorted(ssh_leaked))} (removed now)"
        )
        session.exitstatus = 1
