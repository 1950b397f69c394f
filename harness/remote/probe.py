"""Can one node reach another? A TCP connect from inside the first node (bash's /dev/tcp),
the observation that a partition took effect: across a cut the handshake gets no answer at
all; within a side it gets one, a connection or a refusal (a refused connect is a reachable
host whose port is closed, e.g. a killed database)."""

from __future__ import annotations

from typing import Literal

from harness.errors import ClusterError
from harness.remote import Remote, RemoteTimeout

Reach = Literal["open", "refused", "silent"]

_CONNECT = 'exec 3<>"/dev/tcp/$0/$1"'


def reach(remote: Remote, host: str, port: int, timeout: float = 1.5) -> Reach:
    """How a TCP connect from the node to host:port ends within timeout."""
    argv = ["timeout", f"{timeout:g}", "bash", "-c", _CONNECT, host, str(int(port))]
    try:
        r = remote.run(argv, timeout=timeout + 15)
    except RemoteTimeout:
        return "silent"
    if r.rc == 0:
        return "open"
    if r.rc == 124:
        return "silent"
    why = (r.err or r.out).strip()
    if "refused" in why or "reset" in why:
        return "refused"  # an answer all the same
    if "No route to host" in why or "unreachable" in why:
        return "silent"
    raise ClusterError(f"{remote.label}: cannot probe {host}:{port}: {why or f'exit {r.rc}'}")
