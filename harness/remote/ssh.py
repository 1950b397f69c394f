"""A real host as a Remote, over one reused SSH connection (harness.providers.ssh_conn).

Commands are sent as a small sh script (never in any local process' argv), with a clean
environment (`env -i`), bounded by timeout(1) on the host (a closed channel alone would let
a command run on). Logged in as root, files go over SFTP (then chowned); otherwise through
`sudo -u <user> sh -c 'cat ...'`, as SFTP runs as the login user.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import ClusterError, one_line
from harness.remote import Remote, Result


def env_argv(env: Mapping[str, str], argv: Sequence[str]) -> str:
    pairs = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    return f"env -i {pairs} " + " ".join(shlex.quote(a) for a in argv)


def exec_script(
    cwd: str | None, env: Mapping[str, str], argv: Sequence[str], timeout: float
) -> str:
    """Run argv in cwd (or /); timeout(1) ends it on the host when the harness stops waiting."""
    limit = f"timeout -k 2 {max(1, int(timeout + 1.5))}"
    here = shlex.quote(cwd or "/")
    return f"cd {here} 2>/dev/null || cd /; exec {limit} {env_argv(env, argv)}"


class SshRemote(Remote):
    def __init__(self, conn: Any) -> None:
        self.conn = conn  # harness.providers.ssh_conn.SshHost: the connection
        self.label = conn.label

    def execute(self, argv: list[str], user: str | None, input: str | None, timeout: float,
                env: dict[str, str], cwd: str | None) -> Result | None:  # fmt: skip
        script = exec_script(cwd, env, argv, timeout)
        try:
            rc, out, err = self.conn.shell(script, user=user, input=input, timeout=timeout + 5)
        except ClusterError as e:
            if "did not finish within" in str(e):
                return None
            raise
        return None if rc == 124 else Result(rc, out, err)  # 124: timeout(1)'s exit status

    def _sftp_ok(self) -> bool:
        return bool(self.conn.inv.user == "root")

    def put(self, path: str, data: bytes, *, user: str | None = None) -> None:
        if not self._sftp_ok():
            # through sudo: base64 on stdin keeps any bytes intact through the text channel
            script = 'base64 -d > "$1"'
            r = self.run(["sh", "-c", script, "sh", path], user=user,
                         input=base64.b64encode(data).decode())  # fmt: skip
            if r.rc != 0:
                raise ClusterError(f"{self.label}: cannot write {path}: {r.err.strip() or r.rc}")
            return
        try:
            with self.conn.sftp() as sftp:
                with sftp.open(path, "w") as f:
                    f.write(data)
                if user and user != "root":
                    r = self.run(["sh", "-c", 'id -u "$1"; id -g "$1"', "sh", user])
                    uid, gid = (int(x) for x in r.out.split()[:2])
                    sftp.chown(path, uid, gid)
        except OSError as e:
            raise ClusterError(
                f"{self.label}: cannot write {path}: {e.strerror or one_line(e)}"
            ) from None

    def get(self, path: str, limit: int | None = None) -> bytes | None:
        if not self._sftp_ok():
            tail = f"tail -c {int(limit)}" if limit is not None else "cat"
            script = f'[ -e "$1" ] || exit 3; {tail} "$1" | base64'
            r = self.run(["sh", "-c", script, "sh", path], timeout=120)
            if r.rc == 3:
                return None
            if r.rc != 0:
                raise ClusterError(f"{self.label}: cannot read {path}: {r.err.strip() or r.rc}")
            return base64.b64decode(r.out)
        try:
            with self.conn.sftp() as sftp, sftp.open(path, "r") as f:
                if limit is not None:
                    size = f.stat().st_size
                    f.seek(max(0, size - limit))
                data: bytes = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ClusterError(
                f"{self.label}: cannot read {path}: {e.strerror or one_line(e)}"
            ) from None
        return data
