"""SshCluster: the node contract on real hosts over SSH (see harness.providers.ssh for the
layout on each host, and the ssh_* modules for the pieces it is made of)."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from harness.cluster import failure_line
from harness.errors import ClusterError, EnvironmentProblem, one_line
from harness.providers import ssh_state
from harness.providers.remote_cluster import RemoteCluster, first_error, parallel
from harness.providers.ssh_conn import HostGone, SshHost
from harness.providers.ssh_inventory import Inventory
from harness.remote import firewall
from harness.remote.ssh import SshRemote

log = logging.getLogger("splitbrain.ssh")
SECRET = re.compile(r"(password=)\S+")


def _hide(s: str) -> str:
    """Messages may quote a command line; a conninfo's password never reaches a message."""
    return SECRET.sub(r"\1***", s)


class SshCluster(RemoteCluster):
    capabilities = frozenset({"partition", "packet-loss", "kill", "pause", "clock"})

    def __init__(self, inv: Inventory, run_id: str, nodes: int, db_user: str) -> None:
        if not ssh_state.RUN_ID.match(run_id):
            raise ClusterError(f"run id {run_id!r} must be 6 hex characters")
        super().__init__()
        self.inv = inv
        self.run_id = run_id
        self.db_user = db_user
        hosts = inv.hosts[:nodes]
        self.nodes = tuple(h.name for h in hosts)
        self.hosts = {h.name: h for h in hosts}
        self.conns = {h.name: SshHost(inv, h) for h in hosts}  # the connections
        self._remotes = {n: SshRemote(c) for n, c in self.conns.items()}
        self.chain = firewall.chain_name(run_id)
        self._states: dict[str, dict[str, Any]] = {}  # written to each host
        self._torn_down = False

    # -- bring-up -------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect to every host at once; the first problem, naming its host, is raised."""
        err = first_error(parallel(lambda n: self.conns[n].connect(), self.nodes))
        if err is not None:
            self.close()
            raise err

    def _build(self) -> None:
        self.connect()
        err = first_error(parallel(self._claim, self.nodes))
        if err is not None:
            raise err
        err = first_error(parallel(self._prepare_host, self.nodes))
        if err is not None:
            raise err

    def _claim(self, node: str) -> None:
        """Refuse a host another live run uses; remove leftovers of dead runs."""
        r = self.conns[node]
        for s in ssh_state.read_states(r):
            if ssh_state.harness_alive(s):
                raise EnvironmentProblem(
                    f"{ssh_state.describe(s, r)} is still using it: wait for it, or "
                    f"`splitbrain cleanup --inventory {self.inv.path} --force` if it is gone"
                )
            line = ssh_state.remove(s, r)
            if line.startswith("NOT"):
                raise EnvironmentProblem(line)
            log.warning("ssh: %s (leftover of a crashed run)", line)

    def _prepare_host(self, node: str) -> None:
        r, h = self.conns[node], self.hosts[node]
        state = ssh_state.new_state(r, self.run_id, self.db_user)
        self._states[node] = state  # from here on teardown has something to undo
        q = shlex.quote
        run_dir = q(str(h.data_root / self.run_id))
        d = q(state["node_dir"])
        # the state file first: from then on cleanup knows about everything that follows
        script = (
            f"set -e; umask 022; mkdir -p {run_dir}; chmod 755 {run_dir}; "
            f"{ssh_state.write_script(state, h.data_root)}; "
            f"mkdir -p {d}; chown {q(self.db_user)}: {d}; chmod 700 {d}; "
            f"{firewall.install_script(self.chain)}"
        )
        self._root(node, script, input=json.dumps(state), what="prepare the host")

    def _root(
        self, node: str, script: str, *, input: str | None = None, what: str, timeout: float = 60
    ) -> str:
        rc, out, err = self.conns[node].shell(script, input=input, timeout=timeout)
        if rc != 0:
            why = failure_line(err or out, rc)
            raise ClusterError(f"{self.hosts[node].label}: could not {what}: {_hide(why)}")
        return out

    def _save_state(self, node: str) -> None:
        h = self.hosts[node]
        self._root(
            node,
            ssh_state.write_script(self._states[node], h.data_root),
            input=json.dumps(self._states[node]),
            what="record the run's state",
        )

    # -- where things are ---------------------------------------------------------------
    def remote(self, node: str) -> SshRemote:
        return self._remotes[self.check_node(node)]

    def drop_address(self, node: str) -> str:
        return self._ip(self.check_node(node))

    def address(self, node: str, port: int) -> tuple[str, int]:
        return self.hosts[self.check_node(node)].address, port

    def peer_address(self, node: str) -> str:
        return self.hosts[self.check_node(node)].address

    def _ip(self, node: str) -> str:
        r = self.conns[node]
        return r.peer_ip or self.hosts[node].address

    def peer_network(self) -> str:
        """The smallest IPv4 network holding every host and the control node (as the hosts
        see it: the local end of each SSH connection); 0.0.0.0/0 if that cannot be told."""
        addrs = [self._ip(n) for n in self.nodes]
        addrs += [r.local_address for r in self.conns.values() if r.local_address]
        try:
            ips = [ipaddress.IPv4Address(a) for a in addrs]
        except ValueError:
            return "0.0.0.0/0"
        net = ipaddress.IPv4Network(f"{ips[0]}/32")
        while not all(ip in net for ip in ips):
            net = net.supernet()
        return str(net)

    def node_dir(self, node: str) -> PurePosixPath:
        h = self.hosts[self.check_node(node)]
        return ssh_state.node_dir(h.data_root, self.run_id, node)

    def setting(self, node: str, key: str, default: str) -> str:
        return self.hosts[self.check_node(node)].settings.get(key, default)

    def said(self, message: str) -> str:
        return _hide(message)  # a conninfo's password never reaches a message

    def no_logs(self, node: str, error: BaseException) -> None:
        # a host that went away is named once, by the run's error, not again here
        (log.info if isinstance(error, HostGone) else log.warning)(
            "ssh: no logs from %s: %s", self.hosts[node].label, one_line(error)
        )

    def spawned(self, node: str, sid: int) -> None:
        """Record the service's session on the host, for cleanup after a crash."""
        state = self._states.get(node)
        if state is not None:
            state["sids"] = sorted({*state.get("sids", ()), int(sid)})
            self._save_state(node)

    # -- life -------------------------------------------------------------------------------
    def teardown(self) -> None:
        """Idempotent: on every host, kill the run's services, remove its chain, node
        directory and state file. A host that cannot be reached is named in the error (its
        leftovers stay recorded there for `splitbrain cleanup --inventory`)."""
        if self._torn_down:
            return

        def one(node: str) -> None:
            script = ssh_state.remove_script(self._states[node], self.hosts[node].data_root)
            self._root(node, script, what="clean up", timeout=60)

        results = parallel(one, [n for n in self.nodes if n in self._states])
        self.close()
        self._torn_down = True
        failed = [(n, r) for n, r in results.items() if isinstance(r, BaseException)]
        if failed:
            n, e = failed[0]
            more = f" (and {len(failed) - 1} more host(s))" if len(failed) > 1 else ""
            raise ClusterError(
                f"{one_line(e)}{more}; once it answers: "
                f"splitbrain cleanup --inventory {self.inv.path}"
            )

    def close(self) -> None:
        for r in self.conns.values():
            r.close()

    def __repr__(self) -> str:
        hosts = ", ".join(f"{n}={h.address}" for n, h in self.hosts.items())
        return f"SshCluster({self.run_id}, {hosts})"
