"""iptables text shared by the providers that cut packets with iptables-restore (local
namespaces, ssh hosts): a chain's drop and loss rules, and its drop counters. Pure text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


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


def drops(listing: str) -> dict[str, int]:
    """Packets dropped per source address, from `iptables -L <chain> -v -n -x`."""
    out: dict[str, int] = {}
    for line in listing.splitlines()[2:]:
        f = line.split()
        if len(f) >= 8 and f[2] == "DROP":
            out[f[7]] = out.get(f[7], 0) + int(f[0])
    return out
