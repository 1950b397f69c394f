"""Partitions and packet loss on a node: iptables rules in a chain the run owns, over any
Remote (a namespace, a container, a real host), written once.

The chain `SB-<run id>` lives in the filter table and is jumped to from the top of INPUT
(first, so that a host's own ACCEPT rules for established connections cannot bypass a cut).
A node's own rules are never flushed, reordered or edited: we only insert our one jump, fill
our chain, and at the end delete the jump and the chain. Never the nat table (Docker's DNS
lives there). A grudge is about packets a node *receives*: {a: {b}} makes a drop what comes
from b. A symmetric grudge cuts both ways; an asymmetric one is a one-way cut (b's packets
never reach a's stack; a TCP handshake from either side fails, UDP from a still reaches b).
The harness' own address is never in a rule, so its clients and control stay up.

Every change rewrites the whole chain from the run's one state of cuts and lossy links
(harness.providers.drop_rules), atomically with iptables-restore: a partition and packet
loss hold together, and heal clears both.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping

from harness.errors import ClusterError
from harness.remote import Remote


def chain_name(run_id: str) -> str:
    return f"SB-{run_id}"


def chain_rules(chain: str, sources: Iterable[str], lossy: Mapping[str, float]) -> list[str]:
    """Replace the chain's rules: drop everything from `sources`, and from each address in
    `lossy` a random fraction of packets (the statistic match: netem is not needed)."""
    rules = [f"-F {chain}", *(f"-A {chain} -s {s} -j DROP" for s in sorted(set(sources)))]
    for src, p in sorted(lossy.items()):
        rules.append(
            f"-A {chain} -s {src} -m statistic --mode random --probability {p:.6f} -j DROP"
        )
    return rules


def restore_text(lines: Iterable[str]) -> str:
    """iptables-restore input for the filter table (applied atomically)."""
    return "*filter\n" + "".join(f"{ln}\n" for ln in lines) + "COMMIT\n"


def install_script(chain: str) -> str:
    """Create the chain (empty) and jump to it from the top of INPUT, once."""
    c = shlex.quote(chain)
    return (
        f"iptables -w -N {c} 2>/dev/null || iptables -w -F {c}; "
        f"iptables -w -C INPUT -j {c} 2>/dev/null || iptables -w -I INPUT 1 -j {c}"
    )


def remove_script(chain: str) -> str:
    """Delete our jump(s) from INPUT and the chain; fine when neither exists."""
    c = shlex.quote(chain)
    return (
        f"while iptables -w -D INPUT -j {c} 2>/dev/null; do :; done; "
        f"iptables -w -F {c} 2>/dev/null; iptables -w -X {c} 2>/dev/null; "
        f"! iptables -w -n -L {c} >/dev/null 2>&1"
    )


def _root(remote: Remote, script: str, what: str, input: str | None = None) -> str:
    r = remote.run(["sh", "-c", script], input=input, timeout=30)
    if r.rc != 0:
        lines = (r.err or r.out).strip().splitlines()
        raise ClusterError(f"{remote.label}: could not {what}: {lines[-1] if lines else r.rc}")
    return r.out


def install(remote: Remote, chain: str) -> None:
    _root(remote, install_script(chain), "set up iptables (is iptables there, with NET_ADMIN?)")


def set_drops(
    remote: Remote, chain: str, sources: Iterable[str], lossy: Mapping[str, float]
) -> None:
    text = restore_text(chain_rules(chain, sources, lossy))
    _root(remote, "exec iptables-restore -w --noflush", "set iptables rules", input=text)


def remove(remote: Remote, chain: str) -> None:
    _root(remote, remove_script(chain), f"remove iptables chain {chain}")


def drops(listing: str) -> dict[str, int]:
    """Packets dropped per source address, from `iptables -L <chain> -v -n -x`."""
    out: dict[str, int] = {}
    for line in listing.splitlines()[2:]:
        f = line.split()
        if len(f) >= 8 and f[2] == "DROP":
            out[f[7]] = out.get(f[7], 0) + int(f[0])
    return out


def counters(remote: Remote, chain: str) -> dict[str, int]:
    """Packets dropped so far per source address by the chain's rules."""
    return drops(_root(remote, f"iptables -w -L {shlex.quote(chain)} -v -n -x", "read counters"))


def parse_rules(listing: str, chain: str) -> dict[str, float]:
    """source -> drop probability (1.0: every packet), from `iptables -S <chain>`."""
    out: dict[str, float] = {}
    for line in listing.splitlines():
        f = line.split()
        if len(f) < 2 or f[:2] != ["-A", chain] or "DROP" not in f or "-s" not in f:
            continue
        src = f[f.index("-s") + 1].removesuffix("/32")
        p = float(f[f.index("--probability") + 1]) if "--probability" in f else 1.0
        out[src] = max(p, out.get(src, 0.0))  # a full drop of a source dominates its loss
    return out


def rules(remote: Remote, chain: str) -> dict[str, float]:
    """What the node's kernel holds in the run's chain: source -> drop probability."""
    return parse_rules(_root(remote, f"iptables -w -S {shlex.quote(chain)}", "list rules"), chain)
