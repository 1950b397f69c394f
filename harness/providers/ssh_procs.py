"""Shell scripts (POSIX sh, procps, util-linux) for the database's processes on a host.

A service is started with `setsid -f nohup`: it leads a new session and process group of its
own, whose id is the pid recorded in a pid file; its children (a postmaster's backends) stay
in that group. Signals go to the group, so whatever the database forked gets them too, and
nothing else on the host does. Every value is shell-quoted here.
"""

from __future__ import annotations

import shlex
import signal
from collections.abc import Mapping, Sequence

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PIDFILE = "splitbrain-spawn.pid"


def env_argv(home: str, user: str, env: Mapping[str, str] | None, argv: Sequence[str]) -> str:
    """`env -i ...` argv: the same small environment as the local provider gives."""
    e = {"PATH": PATH, "LANG": "C.UTF-8", "HOME": home, "USER": user, **(env or {})}
    pairs = " ".join(shlex.quote(f"{k}={v}") for k, v in e.items())
    return f"env -i {pairs} " + " ".join(shlex.quote(a) for a in argv)


def exec_script(
    home: str, user: str, env: Mapping[str, str] | None, argv: Sequence[str], timeout: float
) -> str:
    """Run argv in the node dir; timeout(1) ends it on the host when the harness stops
    waiting (a closed SSH channel alone would let it run on)."""
    limit = f"timeout -k 2 {max(1, int(timeout + 1.5))}"
    return (
        f"cd {shlex.quote(home)} 2>/dev/null || cd /; "
        f"exec {limit} {env_argv(home, user, env, argv)}"
    )


def spawn_script(
    home: str, user: str, env: Mapping[str, str] | None, argv: Sequence[str], log: str
) -> str:
    """Start argv detached (own session, output appended to log) and print its pid."""
    q = shlex.quote
    pidfile = q(f"{home}/{PIDFILE}")
    inner = q('echo $$ > "$0"; exec "$@"')
    return (
        f"cd {q(home)} || exit 1; rm -f {pidfile}; "
        f"setsid -f nohup sh -c {inner} {pidfile} {env_argv(home, user, env, argv)} "
        f">> {q(log)} 2>&1 < /dev/null; "
        f"i=0; while [ ! -s {pidfile} ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i+1)); done; "
        f"cat {pidfile}"
    )


def _state(pid: int) -> str:
    """Sets $st to the process' state letter and $pg to its process group ('' if gone)."""
    return (
        f"st=; pg=; s=$(cat /proc/{pid}/stat 2>/dev/null) && "
        "{ s=${s##*) }; set -- $s; st=$1; pg=$3; }; "
    )


def alive_script(pid: int) -> str:
    """Exit 0 while the group leader lives (stopped counts, a zombie does not)."""
    return _state(pid) + f'[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] && [ "$pg" = {pid} ]'


def signal_script(pgid: int, sig: signal.Signals) -> str:
    return f"kill -s {sig.name.removeprefix('SIG')} -- -{pgid} 2>/dev/null; true"


def kill_group_script(pgids: Sequence[int], user: str | None = None, timeout: float = 10) -> str:
    """SIGKILL each process group and wait until no live (non-zombie) member is left; exit 3
    naming the survivors if some are still there after the timeout. With user, only groups
    whose members belong to that user are touched (a recorded pid reused after a reboot)."""
    if not pgids:
        return "true"
    groups = " ".join(str(int(g)) for g in pgids)
    only = f"-u {shlex.quote(user)} " if user else ""
    rounds = max(1, int(timeout / 0.05))
    return (
        f"left=; for r in $(seq {rounds}); do left=; "
        f"for g in {groups}; do for p in $(pgrep {only}-g $g); do "
        "s=$(cat /proc/$p/stat 2>/dev/null) || continue; s=${s##*) }; "
        'case "$s" in Z*|X*) ;; *) left="$left $p"; kill -s KILL -- -$g 2>/dev/null;; esac; '
        "done; done; "
        '[ -z "$left" ] && exit 0; sleep 0.05; done; '
        'echo "processes$left survive SIGKILL" >&2; exit 3'
    )
