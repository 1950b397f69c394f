"""A database's processes on a node, controlled over any Remote: start, list, signal, kill.

A service is started with `setsid -f`: it leads a session of its own, whose id is its pid,
recorded in a pid file. Its members are the processes of that session and all their
descendants, read from /proc/<pid>/stat (session and parent), which the kernel keeps and no
process can overwrite. Two earlier ways missed processes: a marker in the environment
(PostgreSQL overwrites that memory with its process titles) and the process group or
session alone (each PostgreSQL backend calls setsid()), so a "paused" PostgreSQL kept
answering on its open connections. Signals go to every live member, so whatever the
database forked gets them too and nothing else on the node does.

Only POSIX sh, coreutils' sleep and util-linux's setsid are assumed on the node; the
process table is read from /proc with the shell's own `read` (no fork per process, so a
host with a thousand processes is scanned in milliseconds).
"""

from __future__ import annotations

import shlex
import signal
import time
from collections.abc import Sequence

from harness.errors import ClusterError
from harness.remote import Remote, RemoteTimeout

PIDFILE = "splitbrain-service.pid"
KILL_WAIT = 10.0  # seconds for SIGKILLed processes to be gone
STOPPED = ("T", "t")  # a stopped process' state letters in /proc/<pid>/stat

# Defines members(): "pid:state " for every live process of the service whose session is
# $sid: the processes of that session and all their descendants. Descendants count because
# PostgreSQL's children each call setsid() (to be signalled as a group by the postmaster),
# so the session alone holds only the postmaster; the session counts because a process
# whose parent died is re-parented to init and leaves the tree, but not its session.
_MEMBERS = r"""members() {
  tab=
  for d in /proc/[0-9]*; do
    { read -r st < "$d/stat"; } 2>/dev/null || continue
    st=${st##*) }
    set -- $st
    case $1 in Z|X|x) continue;; esac
    tab="$tab${d#/proc/} $2 $4 $1
"
  done
  in=" "
  grew=1
  while [ -n "$grew" ]; do
    grew=
    while read -r pid ppid ses state; do
      [ -n "$pid" ] || continue
      case "$in" in *" $pid "*) continue;; esac
      case "$ses $in" in "$sid "*|*" $ppid "*) in="$in$pid "; grew=1;; esac
    done <<EOF
$tab
EOF
  done
  while read -r pid ppid ses state; do
    case "$in" in *" $pid "*) printf '%s:%s ' "$pid" "$state";; esac
  done <<EOF
$tab
EOF
}"""

# $1 pidfile, $2 log, then argv. Prints the new session's id.
_SPAWN = r"""p=$1; l=$2; shift 2
rm -f "$p"
setsid -f sh -c 'p=$0; l=$1; shift; echo $$ >"$p"; exec "$@" >>"$l" 2>&1 </dev/null' \
  "$p" "$l" "$@" </dev/null >/dev/null 2>&1 || exit $?
i=0
while [ ! -s "$p" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
cat "$p"
"""

# $1 sid, $2 signal name, $3 rounds of 0.05 s to wait for the members to be gone (0: no
# wait), $4 a user name or "" (then only that user's processes count: cleanup after a crash,
# when a recorded session id may have been reused). Signals every member until no new one
# shows up (a postmaster may fork between the listing and the signal); prints the members
# left as "pid:state ...".
_SIGNAL = (
    "sid=$1; sig=$2; rounds=$3; owner=$4\n"
    + _MEMBERS
    + r"""
uid=
[ -n "$owner" ] && { uid=$(id -u "$owner" 2>/dev/null) || exit 0; }
mine() {
  for m in $(members); do
    [ -z "$uid" ] || [ "$(stat -c %u "/proc/${m%%:*}" 2>/dev/null)" = "$uid" ] && printf '%s ' "$m"
  done
}
done=" "
for _ in 1 2 3 4 5 6 7 8 9 10; do
  new=
  for m in $(mine); do
    pid=${m%%:*}
    case "$done" in *" $pid "*) ;; *) new="$new $pid"; done="$done$pid ";; esac
  done
  [ -n "$new" ] || break
  kill -s "$sig" $new 2>/dev/null
done
while [ "$rounds" -gt 0 ]; do
  [ -n "$(mine)" ] || break
  [ "$sig" = KILL ] && for m in $(mine); do kill -s KILL "${m%%:*}" 2>/dev/null; done
  sleep 0.05; rounds=$((rounds - 1))
done
mine
"""
)

# $1 sid: exit 0 while the session's leader lives (stopped counts, a zombie does not).
_ALIVE = r"""sid=$1
{ read -r st < "/proc/$sid/stat"; } 2>/dev/null || exit 1
st=${st##*) }; set -- $st
case $1 in Z|X|x) exit 1;; esac
[ "$4" = "$sid" ]
"""


def spawn_argv(pidfile: str, log: str, argv: Sequence[str]) -> list[str]:
    return ["sh", "-c", _SPAWN, "sh", pidfile, log, *argv]


def signal_argv(sid: int, sig: signal.Signals, wait: float = 0, owner: str = "") -> list[str]:
    rounds = max(0, round(wait / 0.05))
    name = sig.name.removeprefix("SIG")
    return ["sh", "-c", _SIGNAL, "sh", str(int(sid)), name, str(rounds), owner]


def kill_script(sids: Sequence[int], owner: str = "", wait: float = KILL_WAIT) -> str:
    """A shell line that SIGKILLs every listed service (only `owner`'s processes when given)
    and fails naming the survivors (cleanup of a crashed run's leftovers)."""
    parts = [
        f"left=$({shlex.join(signal_argv(s, signal.SIGKILL, wait, owner))}); "
        f'[ -z "$left" ] || {{ echo "processes $left survive SIGKILL" >&2; exit 3; }}'
        for s in sids
    ]
    return "; ".join(parts) or "true"


def alive_argv(sid: int) -> list[str]:
    return ["sh", "-c", _ALIVE, "sh", str(int(sid))]


def parse_members(text: str) -> dict[int, str]:
    """pid -> state letter, from the scripts' "pid:state ..." output."""
    out = {}
    for item in text.split():
        pid, _, state = item.partition(":")
        if pid.isdigit():
            out[int(pid)] = state
    return out


def alive(remote: Remote, sid: int) -> bool:
    return remote.run(alive_argv(sid), timeout=15).rc == 0


def members(remote: Remote, sid: int) -> dict[int, str]:
    """The session's live processes and their state letters (signal 0 sends nothing)."""
    r = remote.run(["sh", "-c", f"sid=$1\n{_MEMBERS}\nmembers", "sh", str(int(sid))], timeout=15)
    return parse_members(r.out)


def send(remote: Remote, sid: int, sig: signal.Signals) -> dict[int, str]:
    """Send sig to every process of the session; returns its members afterwards."""
    r = remote.run(signal_argv(sid, sig), timeout=30)
    if r.rc != 0:
        raise ClusterError(f"{remote.label}: could not send {sig.name}: {r.err.strip() or r.rc}")
    return parse_members(r.out)


def kill(remote: Remote, sid: int, wait: float = KILL_WAIT) -> None:
    """SIGKILL every process of the session and return once none is left."""
    try:
        r = remote.run(signal_argv(sid, signal.SIGKILL, wait), timeout=wait + 30)
    except RemoteTimeout:
        raise ClusterError(
            f"{remote.label}: SIGKILL did not finish within {wait + 30:g} s"
        ) from None
    left = parse_members(r.out)
    if left:
        raise ClusterError(
            f"{remote.label}: processes {', '.join(map(str, sorted(left)))} survive SIGKILL"
        )
    remote.reap(sid)


def pause(remote: Remote, sid: int, settle: float = 2.0) -> dict[int, str]:
    """SIGSTOP every process of the session; returns the members still not stopped after
    `settle` seconds (empty when the pause took effect everywhere). A signal is delivered
    when its process is next scheduled, so a loaded node may show a runner for a moment."""
    running = {p: s for p, s in send(remote, sid, signal.SIGSTOP).items() if s not in STOPPED}
    deadline = time.monotonic() + settle
    while running and time.monotonic() < deadline:
        time.sleep(0.05)
        running = {p: s for p, s in members(remote, sid).items() if s not in STOPPED}
    return running
