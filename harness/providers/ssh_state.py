"""What a run leaves on a host, recorded on the host itself, and how to remove it.

Before the harness creates anything on a host it writes <data root>/<run id>/<node>.state.json
there: the run id, the harness' host and pid, the database user, the iptables chain, the
node directory, and (updated on every spawn) the session of every service it started. `splitbrain
cleanup --inventory FILE` reads these files back: a run whose harness process is gone
(asked on this control node; a run driven from another control node only with --force) has
its services killed (only processes of the recorded user), its chain removed and its
files deleted. Nothing else on the host is touched.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from harness.providers import owner
from harness.providers.ssh_conn import SshHost
from harness.providers.ssh_inventory import NODE_NAME, SAFE_WORD
from harness.remote import firewall, service

RUN_ID = re.compile(r"^[0-9a-f]{6}$")
SEP = "\x1e"


def state_path(root: PurePosixPath, run_id: str, node: str) -> PurePosixPath:
    return root / run_id / f"{node}.state.json"


def node_dir(root: PurePosixPath, run_id: str, node: str) -> PurePosixPath:
    return root / run_id / node


def new_state(remote: SshHost, run_id: str, db_user: str) -> dict[str, Any]:
    h = remote.host
    host, pid = owner.me()
    return {
        "run_id": run_id,
        "node": h.name,
        "address": h.address,
        "harness_host": host,
        "harness_pid": pid,
        "db_user": db_user,
        "chain": firewall.chain_name(run_id),
        "node_dir": str(node_dir(h.data_root, run_id, h.name)),
        "sids": [],
    }


def write_script(state: dict[str, Any], root: PurePosixPath) -> str:
    """Write the state file (JSON on stdin) atomically, as root."""
    p = shlex.quote(str(state_path(root, state["run_id"], state["node"])))
    return f"cat > {p}.tmp && mv -f {p}.tmp {p}"


def read_states(remote: SshHost) -> list[dict[str, Any]]:
    """Every valid state file of this host under its data root."""
    root = shlex.quote(str(remote.host.data_root))
    script = (
        f'for f in {root}/*/*.state.json; do [ -f "$f" ] && cat "$f" && '
        f"printf '\\n{SEP}\\n'; done; true"
    )
    rc, out, err = remote.shell(script, timeout=30)
    states = []
    for chunk in out.split(SEP):
        try:
            s = json.loads(chunk)
        except ValueError:
            continue
        if _valid(s, remote) and (
            s["node"] == remote.host.name or s.get("address") == remote.host.address
        ):
            states.append(s)
    return states


def _valid(s: Any, remote: SshHost) -> bool:
    """Only a state we could have written is acted upon (paths and names are checked, since
    cleanup kills and deletes what it names)."""
    try:
        root = remote.host.data_root
        return (
            isinstance(s, dict)
            and bool(RUN_ID.match(s["run_id"]))
            and bool(NODE_NAME.match(s["node"]))
            and bool(SAFE_WORD.match(s["db_user"]))
            and s["chain"] == firewall.chain_name(s["run_id"])
            and s["node_dir"] == str(node_dir(root, s["run_id"], s["node"]))
            and all(isinstance(g, int) and g > 1 for g in sessions(s))
        )
    except (KeyError, TypeError):
        return False


def harness_alive(s: dict[str, Any]) -> bool:
    """Whether the run's harness still runs (on another control node: assumed so)."""
    return owner.alive(s.get("harness_host"), s.get("harness_pid"))


def describe(s: dict[str, Any], remote: SshHost) -> str:
    who = f"{s.get('harness_host')}:{s.get('harness_pid')}"
    return f"{remote.label}: run {s['run_id']} (harness {who})"


def sessions(s: dict[str, Any]) -> list[Any]:
    """The services the run started (state files of older versions call them pgids)."""
    return list(s.get("sids", s.get("pgids", [])))


def remove_script(s: dict[str, Any], root: PurePosixPath) -> str:
    """As root: kill the run's services (only the database user's processes), remove
    its chain, delete its node directory and state file, and the run dir once empty."""
    q = shlex.quote
    run_dir = q(str(root / s["run_id"]))
    return (
        f"( {service.kill_script(sessions(s), owner=s['db_user'])} ) || exit 3; "
        f"( {firewall.remove_script(s['chain'])} ) || {{ echo 'chain {s['chain']} stays' >&2; exit 4; }}; "
        f"rm -rf {q(s['node_dir'])} && "
        f"rm -f {q(str(state_path(root, s['run_id'], s['node'])))} && "
        f"{{ rmdir {run_dir} 2>/dev/null; true; }}"
    )


def remove(s: dict[str, Any], remote: SshHost) -> str:
    """Remove one leftover run from its host; one line saying what was done (or not)."""
    rc, out, err = remote.shell(remove_script(s, remote.host.data_root), timeout=60)
    if rc != 0:
        why = (err or out).strip().splitlines()
        return f"NOT removed {describe(s, remote)}: {why[-1] if why else f'exit {rc}'}"
    return (
        f"removed {describe(s, remote)}: {len(sessions(s))} service(s) killed, "
        f"chain {s['chain']} and {s['node_dir']} removed"
    )
