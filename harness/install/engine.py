"""A Docker engine for the compose provider: the user's own when one answers, else Debian's
dockerd started here inside this project's network rules, and stopped again afterwards.

    with engine.running(say):   # the README's test command and .ci/run
        ...

Started here, dockerd adds no iptables rule anywhere (`--iptables=false`, no masquerading,
no IPv6 rules) and uses only addresses inside 198.19.0.0/16: its default bridge
198.19.255.1/24 and /24 networks from 198.19.0.0/16 (compose/*.yaml ask for one of those).
It keeps its own data root (images survive between runs on one machine) and pid file; a
flag may not also be in /etc/docker/daemon.json, so it reads an empty config file of its own.

Standard library only (harness.quickstart runs it before dependencies are installed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

SOCKET = "/var/run/docker.sock"
DATA_ROOT = Path(os.environ.get("SPLITBRAIN_DOCKER_ROOT", "/var/lib/splitbrain-docker"))
STATE = Path("/run/splitbrain-dockerd")  # pid file, empty config, log
FLAGS = [
    "--bip", "198.19.255.1/24",
    "--default-address-pool", "base=198.19.0.0/16,size=24",
    "--iptables=false", "--ip-masq=false", "--ip6tables=false", "--ip-forward=false",
]  # fmt: skip
START_TIMEOUT = 60.0
HINT = (
    "start Docker (systemctl start docker), or let `python3 -m harness.quickstart install` "
    "start Debian's dockerd"
)


def address() -> str:
    return os.environ.get("DOCKER_HOST") or f"unix://{SOCKET}"


def answers(timeout: float = 2.0) -> bool:
    """Whether an engine answers GET /_ping on the unix socket (DOCKER_HOST when it is one)."""
    addr = address()
    if not addr.startswith("unix://"):
        return False  # a remote engine: docker-py finds out (harness.providers.compose_engine)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(addr.removeprefix("unix://"))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = s.recv(4096)
    except OSError:
        return False
    return b" 200 " in reply.split(b"\r\n", 1)[0]


def start(say: Callable[[str], None]) -> subprocess.Popen[bytes]:
    """dockerd in the background; returns once it answers. RuntimeError, one line, if not."""
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not os.path.exists(dockerd):
        raise RuntimeError(f"no dockerd: apt-get install docker.io ({HINT})")
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "daemon.json").write_text("{}\n")
    log = open(STATE / "dockerd.log", "ab")  # noqa: SIM115 - the daemon's, closed by stop()
    argv = [
        dockerd, "--config-file", str(STATE / "daemon.json"), "--data-root", str(DATA_ROOT),
        "--pidfile", str(STATE / "dockerd.pid"), "--host", f"unix://{SOCKET}", *FLAGS,
    ]  # fmt: skip
    say(f"starting dockerd (data root {DATA_ROOT}, log {STATE / 'dockerd.log'})")
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C of the tests reaches it only through stop()
    )  # fmt: skip
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while not answers():
        if proc.poll() is not None:
            tail = (STATE / "dockerd.log").read_text(errors="replace").strip().splitlines()
            raise RuntimeError(f"dockerd exited ({proc.returncode}): {tail[-1] if tail else ''}")
        if time.monotonic() > deadline:
            stop(proc, say)
            raise RuntimeError(f"dockerd did not answer within {START_TIMEOUT:.0f} s")
        time.sleep(0.2)
    return proc


def stop(proc: subprocess.Popen[bytes], say: Callable[[str], None]) -> None:
    """SIGTERM (dockerd stops its containers and its containerd), SIGKILL after 30 s."""
    if proc.poll() is not None:
        return
    say("stopping the dockerd started for this run")
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def running(say: Callable[[str], None]) -> Iterator[bool]:
    """An engine for the block: the one that answers, else one started here and stopped at
    the end, also on failure or Ctrl-C. Yields whether it was started here."""
    if answers():
        yield False
        return
    proc = start(say)
    try:
        yield True
    finally:
        stop(proc, say)
