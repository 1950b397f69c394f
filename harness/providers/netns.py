"""Thin wrappers over `ip` and `iptables` for the local provider (lists, never a shell).

Everything here runs in the root namespace except what is explicitly wrapped in
`ip netns exec <ns>`; no iptables rule is ever added to the root namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence

from harness.errors import ClusterError
from harness.providers import iptables_rules

CHAIN = "SPLITBRAIN"


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


def signal_ns(ns: str, sig: signal.Signals) -> int:
    """Send sig to every process in the namespace, repeating until no new process shows up
    (a postmaster may fork between listing and signalling). Returns how many were signalled."""
    done: set[int] = set()
    for _ in range(20):
        new = [p for p in ns_pids(ns) if p not in done]
        if not new:
            break
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            done.add(pid)
    return len(done)


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


def iptables_restore(ns: str, rules: Iterable[str]) -> None:
    """Apply filter-table commands atomically inside the namespace (one process per node)."""
    run(
        ["ip", "netns", "exec", ns, "iptables-restore", "-w", "--noflush"],
        input=iptables_rules.restore_text(rules),
    )


def init_chain(ns: str) -> None:
    """Our own chain, jumped to from INPUT only: a grudge is about packets a node *receives*."""
    iptables_restore(ns, [f":{CHAIN} - [0:0]", f"-A INPUT -j {CHAIN}"])


def set_drops(ns: str, sources: Iterable[str], lossy: Mapping[str, float] | None = None) -> None:
    """Replace the chain's rules: drop everything from `sources`, and from each address in
    `lossy` a random fraction of packets (iptables' statistic match: netem is not needed)."""
    iptables_restore(ns, iptables_rules.chain_rules(CHAIN, sources, lossy or {}))


def counters(ns: str) -> dict[str, int]:
    """Packets dropped so far per source address by the chain's rules (for tests)."""
    out = run(["ip", "netns", "exec", ns, "iptables", "-w", "-L", CHAIN, "-v", "-n", "-x"])
    return iptables_rules.drops(out)


def delete_ns(ns: str) -> None:
    kill_ns(ns)
    run(["ip", "netns", "del", ns], check=False)


def delete_link(name: str) -> None:
    run(["ip", "link", "del", name], check=False)
