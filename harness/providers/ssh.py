"""The SSH provider: each node is a real host named in an inventory (Jepsen's control node
driving its database hosts over SSH). The database definitions, faults and checkers are the
same as on the local provider; only this module knows that the nodes are remote.

On each host, for run <id> and node <n> (data root /var/tmp/splitbrain-ssh by default):
  <data root>/<id>/<n>/            node_dir: data, config, logs; owned by the database user
  <data root>/<id>/<n>.state.json  what the run created there (see ssh_state), for cleanup
  iptables chain SB-<id>           partitions and packet loss (harness.remote.firewall)
  the session of each spawn()      the database's processes (harness.remote.service)
teardown() removes all four; `splitbrain cleanup --inventory FILE` does it for crashed runs.

Modules: ssh_inventory (the YAML file), ssh_conn (connections, sudo), ssh_cluster (what is
this provider's own: hosts, addresses, the state files; the rest of the node contract is
harness.providers.remote_cluster over harness.remote.ssh), ssh_state (records and cleanup),
ssh_preflight (what each host must have). This module is the provider interface.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness import clock
from harness.db import Database, Deployment, database_class
from harness.errors import ClusterError, EnvironmentProblem, SpecError, SplitbrainError, one_line
from harness.options import Option
from harness.providers import ssh_preflight, ssh_state
from harness.providers.ssh_cluster import SshCluster
from harness.providers.ssh_conn import SshHost
from harness.providers.ssh_inventory import Inventory, load
from harness.spec import TestSpec


def _inventory(spec: TestSpec) -> Inventory:
    if not spec.inventory:
        raise SpecError("--provider ssh needs --inventory FILE (the hosts and how to log in)")
    inv = load(spec.inventory)
    if spec.nodes > len(inv.hosts):
        raise SpecError(
            f"--nodes {spec.nodes}: the inventory {inv.path} lists only {len(inv.hosts)} hosts"
        )
    return inv


def validate(spec: TestSpec) -> None:
    """At plan time (also for every case of a suite), before anything connects: the inventory
    file, every field of it, and enough hosts for --nodes."""
    _inventory(spec)


def create(spec: TestSpec, run_id: str, deployment: Deployment | None = None) -> SshCluster:
    """The hosts prepared for the run (the deployment's facts: the database's OS user owns
    the node directories)."""
    inv = _inventory(spec)
    db_user = (deployment or database_class(spec.db).deployment).user
    cluster = SshCluster(inv, run_id, spec.nodes, db_user)
    if clock.wanted(spec.nemesis):
        cluster.fake_clocks(clock.LIBFAKETIME, db_user)
    try:
        cluster._build()
    except BaseException as e:
        # nothing is left on the hosts that did come up (their state file says what to undo)
        with contextlib.suppress(Exception):
            cluster.teardown()
        cluster.close()
        if isinstance(e, SplitbrainError) and not isinstance(e, EnvironmentProblem | SpecError):
            raise ClusterError(f"could not prepare the hosts: {one_line(e)}") from None
        raise
    return cluster


def preflight(db: Database) -> None:
    """Connect to every host (in parallel); check the database's binaries and user, the tools
    this provider uses, and sudo. One line naming the first host and what it lacks."""
    ssh_preflight.preflight(db, _inventory(db.spec))


def _hosts_for_cleanup(inventory: str) -> list[SshHost]:
    inv = load(inventory)
    return [SshHost(inv, h) for h in inv.hosts]


def _leftovers(inventory: str, force: bool) -> list[tuple[SshHost, dict[str, Any] | None, str]]:
    """(host, state, line): each leftover run on each host; an unreachable host is a line."""
    out: list[tuple[SshHost, dict[str, Any] | None, str]] = []
    remotes = _hosts_for_cleanup(inventory)

    def one(i: int) -> list[tuple[SshHost, dict[str, Any] | None, str]]:
        r = remotes[i]
        try:
            r.connect()
            return [
                (r, s, ssh_state.describe(s, r))
                for s in ssh_state.read_states(r)
                if force or not ssh_state.harness_alive(s)
            ]
        except SplitbrainError as e:
            return [(r, None, f"NOT checked {r.label}: {one_line(e)}")]

    with ThreadPoolExecutor(max_workers=max(1, len(remotes))) as ex:
        for res in ex.map(one, range(len(remotes))):
            out += res
    return out


def find_leftovers(force: bool = False, inventory: str = "") -> list[str]:
    """One line per leftover run on the inventory's hosts (without an inventory: none, as
    there is nothing to know where to look)."""
    if not inventory:
        return []
    items = _leftovers(inventory, force)
    try:
        return [line for _, _, line in items]
    finally:
        for r in {id(r): r for r, _, _ in items}.values():
            r.close()


def cleanup(force: bool = False, inventory: str = "") -> list[str]:
    """Remove leftovers of runs whose harness is dead (every run with force) from the
    inventory's hosts; one line each."""
    if not inventory:
        return []
    items = _leftovers(inventory, force)
    done = []
    try:
        for r, s, line in items:
            if s is None:
                done.append(line)
                continue
            try:
                done.append(ssh_state.remove(s, r))
            except SplitbrainError as e:
                done.append(f"NOT removed {line}: {one_line(e)}")
    finally:
        for r in {id(r): r for r, _, _ in items}.values():
            r.close()
    return done


OPTIONS: tuple[Option, ...] = ()  # everything is in the inventory
# Debian packages the machine running the harness needs for this provider
PACKAGES: tuple[str, ...] = ()
CAPABILITIES = SshCluster.capabilities
