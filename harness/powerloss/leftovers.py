"""Find and remove lossyfs mounts and daemons below a directory (runs that are gone)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

FSTYPE = "fuse.splitbrain-powerloss"
DAEMON_PREFIX = "lossyfs-"  # the built binary is lossyfs-<source digest>


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def _below(path: str, root: Path) -> bool:
    root_s = str(root).rstrip("/") + "/"
    return path.startswith(root_s)


def mounts(root: Path, table: Path = Path("/proc/mounts")) -> list[str]:
    """Mount points of this layer below root, deepest first."""
    found = []
    with contextlib.suppress(OSError):
        for line in table.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2] == FSTYPE:
                target = _unescape(parts[1])
                if _below(target, root):
                    found.append(target)
    return sorted(set(found), key=len, reverse=True)


def daemons(root: Path) -> dict[int, str]:
    """pid -> mount point of every lossyfs daemon whose mount point is below root (mounted
    or not: a daemon whose mount was lazily detached still runs)."""
    out: dict[int, str] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # lossyfs BACKING CONTROL WRITEBACK_MS MOUNTPOINT ...
        if len(argv) >= 5 and os.path.basename(argv[0].decode(errors="replace")).startswith(
            DAEMON_PREFIX
        ):
            mountpoint = argv[4].decode(errors="replace")
            if _below(mountpoint, root):
                out[int(d.name)] = mountpoint
    return out


def unmount(mountpoint: str) -> bool:
    """fusermount3 -u, or a lazy umount when something still holds it; True once gone."""
    for argv in (["fusermount3", "-u", "-q", mountpoint], ["umount", "-l", mountpoint]):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(argv, capture_output=True, timeout=20)
        if mountpoint not in mounts(Path(mountpoint).parent):
            return True
    return False


def stop_daemon(pid: int, timeout: float = 5) -> None:
    """The daemon exits by itself once unmounted; SIGKILL if it did not within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def remove(root: Path) -> list[str]:
    """Unmount every mount of this layer below root and stop its daemons; one line each."""
    done = []
    for m in mounts(root):
        done.append(("removed" if unmount(m) else "NOT removed") + f" power-loss mount {m}")
    for pid, m in daemons(root).items():
        stop_daemon(pid)
        done.append(f"stopped power-loss daemon {pid} ({m})")
    return done
