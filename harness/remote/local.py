"""Remotes on this host: a plain one (tests of the scripts), and one inside a network
namespace (the local provider's nodes). Files are this host's files, read and written
directly; commands run as the user through setpriv."""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import ClusterError, EnvironmentProblem
from harness.remote import PATH, Remote, Result, environment, shown
from harness.remote.service import PIDFILE


def _ids(user: str) -> tuple[int, int]:
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise EnvironmentProblem(f"user {user!r} does not exist on this host") from None
    return pw.pw_uid, pw.pw_gid


class HostRemote(Remote):
    """Commands on this host, as any user (needs root for other users)."""

    def __init__(self, label: str = "localhost", prefix: Sequence[str] = ()) -> None:
        self.label = label
        self.prefix = list(prefix)  # e.g. ["ip", "netns", "exec", ns]
        self.path = os.environ.get("PATH", PATH)  # the harness' own tools first
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def argv(self, argv: Sequence[str], user: str | None) -> list[str]:
        cmd = list(self.prefix)
        if user and user != "root":
            uid, gid = _ids(user)
            cmd += ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--"]
        return cmd + list(argv)

    def execute(self, argv: list[str], user: str | None, input: str | None, timeout: float,
                env: dict[str, str], cwd: str | None) -> Result | None:  # fmt: skip
        try:
            p = subprocess.run(
                self.argv(argv, user),
                capture_output=True,
                text=True,
                input=input,
                timeout=timeout,
                env=env,
                cwd=cwd if cwd and os.path.isdir(cwd) else "/",
            )
        except subprocess.TimeoutExpired:
            return None
        except OSError as e:
            raise ClusterError(f"{self.label}: cannot run `{shown(argv)}`: {e.strerror}") from None
        return Result(p.returncode, p.stdout, p.stderr)

    def spawn(
        self,
        argv: Sequence[str],
        *,
        user: str,
        log: str,
        cwd: str,
        env: Mapping[str, str] | None = None,
    ) -> int:
        """The harness' own child in a session of its own: the harness reaps it when it dies
        (this host's init may be slow to, and a zombie postmaster blocks a restart)."""
        with open(log, "ab") as f:
            if user != "root":
                os.chown(log, *_ids(user))
            # `ip netns exec` and setpriv both exec(): the Popen pid is the service itself.
            try:
                p = subprocess.Popen(
                    self.argv(argv, user),
                    stdin=subprocess.DEVNULL,
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    env=environment(user, cwd, env, self.path),
                    cwd=cwd,
                    start_new_session=True,  # a Ctrl-C of the harness must not hit the database
                )
            except OSError as e:
                raise ClusterError(f"{self.label}: cannot start {argv[0]}: {e.strerror}") from None
        self._children[p.pid] = p
        Path(cwd, PIDFILE).write_text(f"{p.pid}\n")
        return p.pid

    def reap(self, pid: int, timeout: float = 5) -> None:
        p = self._children.pop(pid, None)
        if p is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout)

    def reap_all(self, timeout: float = 1) -> None:
        for pid in list(self._children):
            self.reap(pid, timeout)

    def put(self, path: str, data: bytes, *, user: str | None = None) -> None:
        p = Path(path)
        tmp = p.with_name(f".{p.name}.splitbrain-new")
        try:
            tmp.write_bytes(data)
            if user and user != "root":
                os.chown(tmp, *_ids(user))
            os.replace(tmp, p)
        except OSError as e:
            raise ClusterError(f"{self.label}: cannot write {path}: {e.strerror}") from None

    def get(self, path: str, limit: int | None = None) -> bytes | None:
        try:
            with open(path, "rb") as f:
                if limit is not None:
                    size = f.seek(0, os.SEEK_END)
                    f.seek(max(0, size - limit))
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ClusterError(f"{self.label}: cannot read {path}: {e.strerror}") from None


def netns_remote(label: str, namespace: str) -> HostRemote:
    """A node of the local provider: this host's files, its own network namespace."""
    return HostRemote(label, ["ip", "netns", "exec", namespace])
