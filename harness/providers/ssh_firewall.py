"""Partitions and packet loss on a real host: iptables rules in a chain the run owns.

The chain `SB-<run id>` lives in the filter table and is jumped to from the top of INPUT
(first, so that a host's own ACCEPT rules for established connections cannot bypass a cut).
The host's own rules are never flushed, reordered or edited: we only insert our one jump,
fill our chain, and at teardown delete the jump and the chain. A grudge is about packets a
node *receives* (as on the local provider): {a: {b}} makes host a drop what comes from b.
The control node's address is never in a rule, so SSH and the harness' clients stay up.

Pure text here; the provider runs it on the host, as root.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping

from harness.providers import iptables_rules
from harness.providers.iptables_rules import chain_rules, restore_text

CHAIN_RE = re.compile(r"^SB-[0-9a-f]{6}$")


def chain_name(run_id: str) -> str:
    return f"SB-{run_id}"


RESTORE = "iptables-restore -w --noflush"  # reads set_drops() text on stdin


def install(chain: str) -> str:
    """Create the chain (empty) and jump to it from the top of INPUT, once."""
    c = shlex.quote(chain)
    return (
        f"iptables -w -N {c} 2>/dev/null || iptables -w -F {c}; "
        f"iptables -w -C INPUT -j {c} 2>/dev/null || iptables -w -I INPUT 1 -j {c}"
    )


def set_drops(chain: str, sources: Iterable[str], lossy: Mapping[str, float]) -> str:
    """iptables-restore input replacing the chain's rules (atomically): drop everything from
    `sources`, and from each address in `lossy` a random fraction of packets."""
    return restore_text(chain_rules(chain, sources, lossy))


def remove(chain: str) -> str:
    """Delete our jump(s) from INPUT and the chain; fine when neither exists."""
    c = shlex.quote(chain)
    return (
        f"while iptables -w -D INPUT -j {c} 2>/dev/null; do :; done; "
        f"iptables -w -F {c} 2>/dev/null; iptables -w -X {c} 2>/dev/null; "
        f"! iptables -w -n -L {c} >/dev/null 2>&1"
    )


def drops(listing: str) -> dict[str, int]:
    """Packets dropped per source address (for tests)."""
    return iptables_rules.drops(listing)
