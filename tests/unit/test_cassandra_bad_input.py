"""Cassandra's bad input without a JVM: a run on a host without java or without the jars is
one line and exit 4 before anything is created; a node that does not open its port in time,
or dies during start, is a one-line ClusterError (exit 5) quoting the end of its log."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.db.cassandra import Cassandra
from harness.errors import ClusterError
from harness.spec import TestSpec
from tests.dir_cluster import DirCluster

ROOT = Path(__file__).resolve().parents[2]
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip"), reason="the local provider's preflight needs root"
)


def _cli(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "harness.cli", "run", "--db", "cassandra", "--nemesis", "none"]
    argv += ["--time", "5", "--results", str(tmp_path / "results"), "--no-progress"]
    return subprocess.run(
        argv, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def _path_without_java(tmp_path: Path) -> str:
    """A PATH with the local provider's tools but no java."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("ip", "iptables", "iptables-restore", "setpriv"):
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed")
        (bin_ / tool).symlink_to(found)
    return str(bin_)


@needs_root
def test_a_host_without_java_is_one_line_exit_4_naming_the_package(tmp_path: Path) -> None:
    r = _cli(tmp_path, {"PATH": _path_without_java(tmp_path)})
    assert r.returncode == 4, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines == ["splitbrain: error: `java` not found: apt-get install openjdk-17-jre-headless"]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.jsonl"))


@needs_root
def test_a_host_without_the_jars_is_one_line_exit_4_naming_the_installer(tmp_path: Path) -> None:
    home = tmp_path / "no-cassandra"
    r = _cli(tmp_path, {"SPLITBRAIN_CASSANDRA_HOME": str(home)})
    assert r.returncode == 4, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"splitbrain: error: {home}/lib not found: python3 -m harness.install")


LOG = """INFO  [main] 2026-12-01 21:17:27,742 CassandraDaemon.java:1 - Starting
WARN  [main] 2026-12-01 21:17:28,000 StartupChecks.java:2 - slow disk
ERROR [main] 2026-12-01 21:17:29,000 CassandraDaemon.java:3 - Exception encountered during startup
java.lang.IllegalStateException: boom
\tat org.apache.cassandra.Foo.bar(Foo.java:1)
\tat org.apache.cassandra.Foo.baz(Foo.java:2)
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens on it


@pytest.mark.parametrize(
    ("running", "says"),
    [
        (True, "cassandra: n1 not answering on port 9042 after 1 s: "),
        (False, "cassandra: n1 exited: "),
    ],
)
def test_a_node_that_does_not_come_up_names_the_end_of_its_log(
    tmp_path: Path, running: bool, says: str
) -> None:
    node = DirCluster(tmp_path, port=_closed_port(), running=running)
    (tmp_path / "n1" / "logs").mkdir()
    (tmp_path / "n1" / "logs" / "cassandra.log").write_text(LOG)
    db = Cassandra(TestSpec(db="cassandra", nemesis=()))
    with pytest.raises(ClusterError) as e:
        db._wait_native(node, "n1", timeout=1)
    msg = str(e.value)
    assert says in msg and "\n" not in msg
    # the last three log lines without their prefixes, stack frames left out
    assert msg.endswith(
        "slow disk | Exception encountered during startup | java.lang.IllegalStateException: boom"
    ), msg
    assert e.value.exit_code == 5
