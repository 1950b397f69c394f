"""A Remote runs commands on one node and moves files to and from it (Jepsen's control/remote).

Three transports implement it: a network namespace on this host (harness.remote.local), a
container through the Docker Engine API (harness.remote.docker) and an SSH connection
(harness.remote.ssh). Everything a provider does *on* a node (the database's processes, the
firewall, clock offsets, logs) is written once over this protocol (harness.remote.service,
firewall, probe); a provider only creates and removes nodes and says how to reach them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.errors import ClusterError

# The PATH every command on a node gets (a transport may put the harness' own first).
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str


class RemoteTimeout(ClusterError):
    """A command did not finish in time (it was ended on the node)."""


class Remote(ABC):
    """One node's transport. A transport writes `execute` (and put/get); what a command's
    environment, timeout and failure to start mean is written here once."""

    label: str  # names the node in messages: "n1", "n1 (db1.example.com)"
    path = PATH  # the PATH its commands get

    def run(
        self,
        argv: Sequence[str],
        *,
        user: str | None = None,
        input: str | None = None,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Result:
        """Run argv (no shell) as user (root when None) and wait for it. The command gets a
        small clean environment (PATH, LANG, HOME=cwd, USER) plus env. RemoteTimeout when it
        overruns; any other failure to run it at all is a ClusterError."""
        r = self.execute(
            list(argv), user, input, timeout, environment(user, cwd, env, self.path), cwd
        )
        if r is None:
            raise RemoteTimeout(
                f"{self.label}: `{shown(argv)}` did not finish within {timeout:g} s"
            )
        return r

    @abstractmethod
    def execute(self, argv: list[str], user: str | None, input: str | None, timeout: float,
                env: dict[str, str], cwd: str | None) -> Result | None:  # fmt: skip
        """Run argv as `run` says, in cwd when it exists (else /), with exactly env; None
        when it overran timeout (and was ended on the node)."""

    def spawn(
        self,
        argv: Sequence[str],
        *,
        user: str,
        log: str,
        cwd: str,
        env: Mapping[str, str] | None = None,
    ) -> int:
        """Start argv detached, leading a session of its own, output appended to log;
        return its pid (= the session's id). By default `setsid -f` on the node, whose init
        reaps it (a container's docker-init, a host's systemd)."""
        from harness.remote.service import PIDFILE, spawn_argv  # written over this class

        r = self.run(spawn_argv(f"{cwd}/{PIDFILE}", log, argv), user=user, env=env, cwd=cwd,
                     timeout=30)  # fmt: skip
        pid = r.out.strip().splitlines()[-1] if r.out.strip() else ""
        if r.rc != 0 or not pid.isdigit():
            why = (r.err or r.out).strip().splitlines()
            raise ClusterError(
                f"{self.label}: could not start {argv[0]}: {why[-1] if why else f'exit {r.rc}'}"
            )
        return int(pid)

    def reap(self, pid: int) -> None:  # noqa: B027 - a no-op unless the harness is the parent
        """Collect a dead service's exit status if the harness is its parent (so that a
        restart does not find a zombie holding its pid file)."""

    @abstractmethod
    def put(self, path: str, data: bytes, *, user: str | None = None) -> None:
        """Write a file (replacing it), owned by user (root when None)."""

    @abstractmethod
    def get(self, path: str, limit: int | None = None) -> bytes | None:
        """A file's bytes (its last `limit` bytes when given), or None when it is absent."""


def environment(user: str | None, home: str | None, env: Mapping[str, str] | None,
                path: str = PATH) -> dict[str, str]:  # fmt: skip
    """The environment of a command on a node: the same small one on every transport."""
    return {"PATH": path, "LANG": "C.UTF-8", "HOME": home or "/", "USER": user or "root",
            **(env or {})}  # fmt: skip


def shown(argv: Sequence[str], limit: int = 160) -> str:
    """A command on one line, cut to a readable length (scripts hold newlines)."""
    text = " ".join(" ".join(a.split()) for a in argv)
    return text if len(text) <= limit else text[: limit - 1] + "…"
