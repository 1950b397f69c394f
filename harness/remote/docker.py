"""A container as a Remote, through the Docker Engine API (Jepsen's docker remote).

Commands are execs, bounded by coreutils' `timeout` inside the container (an exec the
harness stops waiting for would otherwise run on). Files go in and out as tar archives
(put_archive/get_archive), owned by the user they are for; a command's input is staged as
such a file first, so input of any size works without a stdin stream.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from harness.errors import ClusterError, one_line
from harness.remote import Remote, Result

# cd into the wanted directory when it exists (a node dir not made yet), then the command
_IN_DIR = 'cd "$0" 2>/dev/null || cd /; exec "$@"'
_WITH_INPUT = 'f=$1; shift; "$@" <"$f"; rc=$?; rm -f "$f"; exit $rc'


@contextlib.contextmanager
def engine_errors(label: str) -> Iterator[None]:
    """An Engine API refusal (no such user in the image, container gone) in one line."""
    import docker
    import requests

    try:
        yield
    except docker.errors.APIError as e:
        why = (str(e.explanation or e).strip().splitlines() or [type(e).__name__])[0]
        raise ClusterError(f"{label}: Docker engine: {why}") from None
    except requests.RequestException as e:
        raise ClusterError(f"{label}: Docker engine did not answer: {one_line(e)}") from None


def _text(b: bytes | None) -> str:
    return (b or b"").decode(errors="replace")


class DockerRemote(Remote):
    def __init__(self, client: Any, container: str, label: str) -> None:
        self.client = client  # a docker.DockerClient
        self.container = container  # id
        self.label = label
        self._ids: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def _exec(self, cmd: Sequence[str], user: str, env: Mapping[str, str]) -> Result:
        api = self.client.api
        with engine_errors(self.label):
            ex = api.exec_create(
                self.container, list(cmd), user=user, environment=dict(env), stdout=True,
                stderr=True,
            )  # fmt: skip
            out, err = api.exec_start(ex["Id"], demux=True)
            rc = api.exec_inspect(ex["Id"])["ExitCode"]
        return Result(int(rc if rc is not None else -1), _text(out), _text(err))

    def execute(self, argv: list[str], user: str | None, input: str | None, timeout: float,
                env: dict[str, str], cwd: str | None) -> Result | None:  # fmt: skip
        limit = ["timeout", "-k", "5", str(max(1, round(timeout)))]
        cmd = ["sh", "-c", _IN_DIR, cwd or "/", *limit, *argv]
        if input is not None:
            staged = self._stage(input.encode(), user)
            cmd = ["sh", "-c", _IN_DIR, cwd or "/", "sh", "-c", _WITH_INPUT, "sh", staged,
                   *limit, *argv]  # fmt: skip
        r = self._exec(cmd, user or "root", env)
        return None if r.rc == 124 else r  # timeout(1)'s exit status

    def _stage(self, data: bytes, user: str | None) -> str:
        path = f"/tmp/splitbrain-input-{threading.get_ident()}-{time.monotonic_ns()}"
        self.put(path, data, user=user)
        return path

    def owner(self, user: str | None) -> tuple[int, int]:
        """uid and gid of a user of the image (looked up once)."""
        if not user or user == "root":
            return 0, 0
        with self._lock:
            if user not in self._ids:
                r = self._exec(["sh", "-c", 'id -u "$1" && id -g "$1"', "sh", user], "root", {})
                ids = r.out.split()
                if r.rc != 0 or len(ids) != 2:
                    raise ClusterError(f"{self.label}: no user {user!r} in the image")
                self._ids[user] = (int(ids[0]), int(ids[1]))
            return self._ids[user]

    def put(self, path: str, data: bytes, *, user: str | None = None) -> None:
        p = PurePosixPath(path)
        uid, gid = self.owner(user)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(p.name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o644, uid, gid
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
        with engine_errors(self.label):
            ok = self.client.api.put_archive(self.container, str(p.parent), buf.getvalue())
        if not ok:
            raise ClusterError(f"{self.label}: cannot write {path}")

    def get(self, path: str, limit: int | None = None) -> bytes | None:
        import docker

        with engine_errors(self.label):
            try:
                stream, _ = self.client.api.get_archive(self.container, path)
                raw = b"".join(stream)
            except docker.errors.NotFound as e:
                if "no such container" in str(e.explanation or e).lower():
                    raise
                return None  # the container is there, the file is not
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            member = tar.next()
            f = tar.extractfile(member) if member is not None else None
            data = f.read() if f is not None else b""
        return data[-limit:] if limit is not None else data
