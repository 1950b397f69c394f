"""One node's lossyfs mount: start it, tell it the power is gone, take it away."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from harness.errors import ClusterError
from harness.powerloss import build, leftovers

# lossyfs lets the kernel cache a file's attributes (its size) for 1 s (attr_timeout in
# lossyfs.c); after a power loss the node restarts no sooner than this, so that it sees the
# restored sizes. Measured: 1.0 s after a power loss 22% of reads (44 of 200) still saw the
# size a truncate had cached; 1.3 s and more after it, none of 180.
ATTR_TIMEOUT_S = 1.5
MOUNT_OPTIONS = (
    "allow_other,default_permissions,fsname=splitbrain-lossyfs,subtype=splitbrain-powerloss"
)


class Layer:
    """lossyfs mounted over `mountpoint`, its data in `backing`, controlled over `control`."""

    def __init__(
        self, mountpoint: Path, backing: Path, control: Path, log: Path, writeback_s: float = 0
    ) -> None:
        self.mountpoint, self.backing, self.control, self.log = mountpoint, backing, control, log
        self.writeback_ms = round(writeback_s * 1000)
        self._lost_at = float("-inf")  # monotonic time of the last power loss
        self._proc: subprocess.Popen[bytes] | None = None

    def mounted(self) -> bool:
        return str(self.mountpoint) in leftovers.mounts(self.mountpoint.parent)

    def mount(self, timeout: float = 10) -> None:
        exe = build.binary()
        for d in (self.mountpoint, self.backing, self.control.parent):
            d.mkdir(parents=True, exist_ok=True)
        # the mount point's own attributes are the backing dir's from now on
        st = self.mountpoint.stat()
        self.backing.chmod(st.st_mode & 0o7777)
        os.chown(self.backing, st.st_uid, st.st_gid)
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [str(exe), str(self.backing), str(self.control), str(self.writeback_ms)]
                + [str(self.mountpoint), "-f", "-o", MOUNT_OPTIONS],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the harness must not unmount a live node
            )
        deadline = time.monotonic() + timeout
        while not (self.mounted() and self.control.exists()):
            if self._proc.poll() is not None:
                raise ClusterError(f"power-loss layer on {self.mountpoint} exited: {self._why()}")
            if time.monotonic() > deadline:
                self.unmount()
                raise ClusterError(f"power-loss layer on {self.mountpoint} did not mount")
            time.sleep(0.02)

    def _why(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log.read_text(errors="replace").strip().splitlines()
            if lines:
                return lines[-1]
        return "no output"

    def request(self, command: str, timeout: float = 60) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(str(self.control))
                s.sendall(command.encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError as e:
            raise ClusterError(f"power-loss layer on {self.mountpoint}: {command}: {e}") from None
        try:
            reply: dict[str, Any] = json.loads(data)
        except ValueError:
            raise ClusterError(
                f"power-loss layer on {self.mountpoint}: bad reply to {command}: {data[:80]!r}"
            ) from None
        if "error" in reply:
            raise ClusterError(f"power-loss layer on {self.mountpoint}: {reply['error']}")
        return reply

    def power_loss(self, settle: bool = True) -> dict[str, Any]:
        """Undo every write not fsynced (the node's processes must be gone already). With
        settle, return only once the kernel's cached sizes have expired; without, the caller
        calls settle() before the node's files are used again (several nodes then lose power
        as close together as asked)."""
        dropped = self.request("power-loss")
        self._lost_at = time.monotonic()
        if settle:
            self.settle()
        return dropped

    def settle(self) -> None:
        """Wait until ATTR_TIMEOUT_S has passed since the last power loss."""
        left = self._lost_at + ATTR_TIMEOUT_S - time.monotonic()
        if left > 0:
            time.sleep(left)

    def status(self) -> dict[str, Any]:
        """What a power loss now would undo (files, blocks, bytes)."""
        return self.request("status")

    def unmount(self) -> None:
        """Idempotent; ClusterError if the mount could not be removed."""
        gone = not self.mounted() or leftovers.unmount(str(self.mountpoint))
        if self._proc is not None:
            leftovers.stop_daemon(self._proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(1)
            self._proc = None
        if not gone:
            raise ClusterError(f"could not unmount the power-loss layer on {self.mountpoint}")
