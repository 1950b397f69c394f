"""Thin wrappers over `ip` for the local provider (lists, never a shell).

Everything here runs in the root namespace except what is explicitly wrapped in
`ip netns exec <ns>`; no iptables rule is ever added to the root namespace.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence

from harness.errors import ClusterError


def run(
    argv: Sequence[str], *, check: bool = True, input: str | None = None, timeout: float = 30
) -> str:
    """Run a command, return stdout; on failure raise ClusterError with one line."""
    try:
        p = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ClusterError(f"`{' '.join(argv)}` did not finish within {timeout:g} s") from None
    except FileNotFoundError:
        raise ClusterError(f"`{argv[0]}` not found") from None
    if check and p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        raise ClusterError(
            f"`{' '.join(argv)}` failed: {msg[-1] if msg else f'exit {p.returncode}'}"
        )
    return p.stdout


def namespaces() -> list[str]:
    out = run(["ip", "-j", "netns", "list"], check=False).strip()
    if not out:
        return []
    try:
        return [n["name"] for n in json.loads(out)]
    except (ValueError, KeyError, TypeError):
        return [line.split()[0] for line in out.splitlines() if line.strip()]


def links() -> list[str]:
    out = run(["ip", "-j", "link", "show"], check=False).strip()
    return [li["ifname"] for li in json.loads(out)] if out else []


def root_addresses() -> list[tuple[str, str]]:
    """(interface, address/prefix) of every IPv4 address in the root namespace."""
    out = run(["ip", "-j", "-4", "addr", "show"], check=False).strip()
    res = []
    for li in json.loads(out) if out else []:
        for a in li.get("addr_info", []):
            res.append((li["ifname"], f"{a['local']}/{a['prefixlen']}"))
    return res


def ns_pids(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in out.split() if x.isdigit()]


def _gone(pid: int) -> bool:
    """Dead and reaped, or a zombie (it holds nothing but its process-table entry)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in (b"Z", b"X")


def kill_ns(ns: str, timeout: float = 10) -> int:
    """SIGKILL every process in the namespace; return once every one of them is gone.

    A dying process leaves its namespace before it finishes exiting, so an empty namespace is
    not enough: the pids signalled are waited for too."""
    deadline = time.monotonic() + timeout
    signalled: set[int] = set()
    while True:
        pids = ns_pids(ns)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                signalled.add(pid)
            except ProcessLookupError:
                pass
        alive = sorted(p for p in signalled if not _gone(p))
        if not pids and not alive:
            return len(signalled)
        if time.monotonic() > deadline:
            raise ClusterError(
                f"processes {sorted(set(pids) | set(alive))} of namespace {ns} survive SIGKILL"
            )
        time.sleep(0.02)


def delete_ns(ns: str) -> None:
    kill_ns(ns)
    run(["ip", "netns", "del", ns], check=False)


def delete_link(name: str) -> None:
    run(["ip", "link", "del", name], check=False)
