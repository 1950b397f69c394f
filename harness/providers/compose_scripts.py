"""Shell run inside the node containers (or in a helper sharing a node's network namespace).

Pure functions returning argv or script text, so they can be tested here with a local `sh`.
Only POSIX sh, coreutils and GNU grep are assumed: the Debian/Ubuntu bases of the official
database images all have them (no procps: `pkill`/`pgrep` are not in every image).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence

CHAIN = "SPLITBRAIN"
IPT = "iptables -w 5 -t filter"  # filter table only: Docker's embedded DNS lives in nat
# Every process of a node's database carries MARK=<node> in its environment (inherited by
# its children, also by daemonised ones, which leave the process tree and the session).
MARK = "SPLITBRAIN_SERVICE"


def spawn_argv(argv: Sequence[str], log: str) -> list[str]:
    """Run argv with output appended to log; `exec` so that the Engine's exec *is* the
    database process and its exec inspect says whether the database still runs."""
    return ["sh", "-c", 'exec "$@" >>"$0" 2>&1 </dev/null', log, *argv]


# Lists the pids of the marked processes, with one grep over every environ file (GNU grep:
# -z reads NUL-separated entries). Never this shell (it is not marked); a zombie has no
# environment left, so a dead process never counts; unreadable files are skipped.
_MARKED = r"""marked() {
  grep -lzxF "$tag" /proc/[0-9]*/environ 2>/dev/null |
    while IFS=/ read -r _ _ pid _; do printf '%s ' "$pid"; done
}"""


def signal_argv(node: str, signum: int, wait: float = 0) -> list[str]:
    """Send signum to every marked process of node; with wait > 0, poll until none is left
    (exit 1 with their pids if some are still there after `wait` seconds)."""
    tries = max(0, math.ceil(wait * 10))
    script = "\n".join(
        [
            f'tag="{MARK}=$1"; sig=$2; tries=$3',
            _MARKED,
            "pids=$(marked)",
            '[ -z "$pids" ] || kill -"$sig" $pids 2>/dev/null || true',
            'echo "$pids"',
            'while [ "$tries" -gt 0 ] && [ -n "$(marked)" ]; do',
            "  sleep 0.1; tries=$((tries - 1))",
            "done",
            'if [ "$3" -gt 0 ]; then',
            '  left=$(marked); [ -z "$left" ] || { echo "still running: $left" >&2; exit 1; }',
            "fi",
        ]
    )
    return ["sh", "-c", script, "sh", node, str(int(signum)), str(tries)]


def prepare_argv(node_dir: str, user: str) -> list[str]:
    """Create the node directory, owned by the database's user (and its login group)."""
    script = (
        'id -u "$2" >/dev/null 2>&1 || { echo "no user $2 in this image" >&2; exit 1; }\n'
        'mkdir -p "$1" && chown "$2:" "$1"'
    )
    return ["sh", "-c", script, "sh", node_dir, user]


def missing_argv(binaries: Sequence[str], files: Sequence[str] = ()) -> list[str]:
    """Print each binary (a path, or a command on PATH) and each file (a library, say) the
    image lacks."""
    script = (
        'for b in "$@"; do [ "$b" = -- ] && break; shift; case "$b" in '
        '*/*) [ -x "$b" ] || echo "$b";; *) command -v "$b" >/dev/null 2>&1 || echo "$b";; '
        "esac; done\n"
        '[ "${1:-}" = -- ] && shift; for f in "$@"; do [ -e "$f" ] || echo "$f"; done'
    )
    return ["sh", "-c", script, "sh", *binaries, "--", *files]


def drop_script(drop_from: Sequence[str], probability: float | None = None) -> str:
    """For one node: (re)create our chain, hook it first into INPUT, drop packets from these
    sources (each with `probability` when given, via the statistic match)."""
    lines = [
        "set -e",
        f"{IPT} -N {CHAIN} 2>/dev/null || true",
        f"{IPT} -C INPUT -j {CHAIN} 2>/dev/null || {IPT} -I INPUT 1 -j {CHAIN}",
        f"{IPT} -F {CHAIN}",
    ]
    match = ""
    if probability is not None:
        if not 0 < probability <= 1:
            raise ValueError(f"packet loss probability {probability} is not in (0, 1]")
        match = f" -m statistic --mode random --probability {probability:.6f}"
    for ip in drop_from:
        ipaddress.ip_address(ip)  # never interpolate anything but an address
        lines.append(f"{IPT} -A {CHAIN} -s {ip}{match} -j DROP")
    return "\n".join(lines)


def heal_script() -> str:
    return f"{IPT} -F {CHAIN} 2>/dev/null || true"
