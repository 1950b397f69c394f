"""SshCluster: the node contract on real hosts over SSH (see harness.providers.ssh for the
layout on each host, and the ssh_* modules for the pieces it is made of)."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from harness.cluster import Cluster, failure_line
from harness.errors import ClusterError, EnvironmentProblem, one_line
from harness.providers import ssh_firewall, ssh_procs, ssh_state
from harness.providers.drop_rules import DropRules
from harness.providers.ssh_conn import HostGone, Remote
from harness.providers.ssh_inventory import Inventory

log = logging.getLogger("splitbrain.ssh")
T = TypeVar("T")
SECRET = re.compile(r"(password=)\S+")


def _hide(s: str) -> str:
    """Messages may quote a command line; a conninfo's password never reaches a message."""
    return SECRET.sub(r"\1***", s)


def _parallel(fn: Callable[[str], T], nodes: Sequence[str]) -> dict[str, T | BaseException]:
    """fn on every node at once; each result, or the exception it raised."""
    out: dict[str, T | BaseException] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as ex:
        futs = {n: ex.submit(fn, n) for n in nodes}
        for n, f in futs.items():
            try:
                out[n] = f.result()
            except BaseException as e:  # noqa: BLE001 - collected and reported per host
                out[n] = e
    return out


def _first_error(results: Mapping[str, Any]) -> BaseException | None:
    errs = [r for r in results.values() if isinstance(r, BaseException)]
    env = [e for e in errs if isinstance(e, EnvironmentProblem)]
    return (env or errs or [None])[0]


class SshCluster(DropRules, Cluster):
    capabilities = frozenset({"partition", "packet-loss", "kill", "pause", "clock"})

    def __init__(self, inv: Inventory, run_id: str, nodes: int, db_user: str) -> None:
        if not ssh_state.RUN_ID.match(run_id):
            raise ClusterError(f"run id {run_id!r} must be 6 hex characters")
        self.inv = inv
        self.run_id = run_id
        self.db_user = db_user
        hosts = inv.hosts[:nodes]
        self.nodes = tuple(h.name for h in hosts)
        self.hosts = {h.name: h for h in hosts}
        self.remotes = {h.name: Remote(inv, h) for h in hosts}
        self.chain = ssh_firewall.chain_name(run_id)
        self._states: dict[str, dict[str, Any]] = {}  # written to each host
        self._spawned: dict[str, tuple[list[str], str, str, dict[str, str] | None]] = {}
        self._pgid: dict[str, int] = {}
        self._lock = threading.Lock()
        self._init_drops()
        self._ids: dict[tuple[str, str], tuple[int, int]] = {}  # (node, user) -> uid, gid
        self._torn_down = False

    # -- bring-up -------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect to every host at once; the first problem, naming its host, is raised."""
        err = _first_error(_parallel(lambda n: self.remotes[n].connect(), self.nodes))
        if err is not None:
            self.close()
            raise err

    def _build(self) -> None:
        self.connect()
        err = _first_error(_parallel(self._claim, self.nodes))
        if err is not None:
            raise err
        err = _first_error(_parallel(self._prepare_host, self.nodes))
        if err is not None:
            raise err

    def _claim(self, node: str) -> None:
        """Refuse a host another live run uses; remove leftovers of dead runs."""
        r = self.remotes[node]
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
        r, h = self.remotes[node], self.hosts[node]
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
            f"{ssh_firewall.install(self.chain)}"
        )
        self._root(node, script, input=json.dumps(state), what="prepare the host")

    def _root(
        self, node: str, script: str, *, input: str | None = None, what: str, timeout: float = 60
    ) -> str:
        rc, out, err = self.remotes[node].shell(script, input=input, timeout=timeout)
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
    def _check(self, node: str) -> str:
        if node not in self.hosts:
            raise ClusterError(f"unknown node {node!r}; nodes are {', '.join(self.nodes)}")
        return node

    def address(self, node: str, port: int) -> tuple[str, int]:
        return self.hosts[self._check(node)].address, port

    def peer_address(self, node: str) -> str:
        return self.hosts[self._check(node)].address

    def _ip(self, node: str) -> str:
        r = self.remotes[node]
        return r.peer_ip or self.hosts[node].address

    def peer_network(self) -> str:
        """The smallest IPv4 network holding every host and the control node (as the hosts
        see it: the local end of each SSH connection); 0.0.0.0/0 if that cannot be told."""
        addrs = [self._ip(n) for n in self.nodes]
        addrs += [r.local_address for r in self.remotes.values() if r.local_address]
        try:
            ips = [ipaddress.IPv4Address(a) for a in addrs]
        except ValueError:
            return "0.0.0.0/0"
        net = ipaddress.IPv4Network(f"{ips[0]}/32")
        while not all(ip in net for ip in ips):
            net = net.supernet()
        return str(net)

    def node_dir(self, node: str) -> PurePosixPath:
        h = self.hosts[self._check(node)]
        return ssh_state.node_dir(h.data_root, self.run_id, node)

    def setting(self, node: str, key: str, default: str) -> str:
        return self.hosts[self._check(node)].settings.get(key, default)

    # -- processes ----------------------------------------------------------------------
    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        user: str | None = None,
        timeout: float = 60,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self._check(node)
        who = user or "root"
        script = ssh_procs.exec_script(str(self.node_dir(node)), who, env, argv, timeout)
        try:
            rc, out, err = self.remotes[node].shell(script, user=user, input=input, timeout=timeout)
        except ClusterError as e:
            if isinstance(e, HostGone):
                raise
            raise ClusterError(f"{node}: `{_hide(' '.join(argv))}`: {one_line(e)}") from None
        p = subprocess.CompletedProcess(list(argv), rc, out, err)
        if check and rc != 0:
            why = _hide(failure_line(err or out, rc))
            if rc in (126, 127):  # env(1): not found / not executable
                raise EnvironmentProblem(
                    f"{self.hosts[node].label}: cannot run {argv[0]}: {why} "
                    "(install it there, or point the inventory's settings at it)"
                )
            raise ClusterError(f"{node}: `{_hide(' '.join(argv))}` failed: {why}")
        return p

    def spawn(
        self,
        node: str,
        argv: Sequence[str],
        *,
        user: str,
        log: PurePosixPath,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._check(node)
        with self._lock:
            if self._alive(node):
                raise ClusterError(f"{node}: service already running (pid {self._pgid[node]})")
            argv = self.clocked_argv(node, argv)  # under libfaketime in clock runs
            self._spawned[node] = (argv, user, str(log), dict(env) if env else None)
            self._spawn_locked(node)

    def _spawn_locked(self, node: str) -> None:
        argv, user, logfile, env = self._spawned[node]
        script = ssh_procs.spawn_script(str(self.node_dir(node)), user, env, argv, logfile)
        rc, out, err = self.remotes[node].shell(script, user=user, timeout=30)
        pid = out.strip().splitlines()[-1] if out.strip() else ""
        if rc != 0 or not pid.isdigit():
            why = failure_line(err or out, rc)
            raise ClusterError(f"{node}: could not start {argv[0]}: {_hide(why)}")
        self._pgid[node] = int(pid)
        state = self._states.get(node)
        if state is not None:
            state["pgids"] = sorted({*state["pgids"], int(pid)})
            self._save_state(node)

    def start(self, node: str) -> None:
        self._check(node)
        with self._lock:
            if node not in self._spawned:
                raise ClusterError(f"{node}: nothing to start (spawn() was never called)")
            if self._alive(node):
                return
            self._spawn_locked(node)

    def _alive(self, node: str) -> bool:
        pid = self._pgid.get(node)
        if pid is None:
            return False
        rc, _, _ = self.remotes[node].shell(
            ssh_procs.alive_script(pid), user=self.inv.user, timeout=15
        )
        return rc == 0

    def is_running(self, node: str) -> bool:
        return self._alive(self._check(node))

    def signal(self, node: str, sig: signal.Signals) -> None:
        self._check(node)
        if sig == signal.SIGKILL:
            self.kill(node)
            return
        pid = self._pgid.get(node)
        if pid is not None:
            self.remotes[node].shell(ssh_procs.signal_script(pid, sig), timeout=15)

    def kill(self, node: str) -> None:
        self._check(node)
        pid = self._pgid.get(node)
        if pid is not None:
            self._root(node, ssh_procs.kill_group_script([pid]), what="kill the database")

    # -- files ----------------------------------------------------------------------------
    # Logged in as root, files go over SFTP (then chowned to the database user); otherwise
    # through `sudo -u <user> sh -c 'cat ...'` (SFTP runs as the login user).
    def _sftp_ok(self) -> bool:
        return self.inv.user == "root"

    def _uid_gid(self, node: str, user: str) -> tuple[int, int]:
        key = (node, user)
        if key not in self._ids:
            out = self._root(node, f"id -u {shlex.quote(user)}; id -g {shlex.quote(user)}",
                             what=f"look up user {user}")  # fmt: skip
            uid, gid = (int(x) for x in out.split()[:2])
            self._ids[key] = (uid, gid)
        return self._ids[key]

    def write_file(
        self, node: str, path: PurePosixPath | str, text: str, *, user: str, append: bool = False
    ) -> None:
        self._check(node)
        if not self._sftp_ok():
            super().write_file(node, path, text, user=user, append=append)
            return
        ids = self._uid_gid(node, user) if user != "root" else None
        try:
            with self.remotes[node].sftp() as sftp:
                with sftp.open(str(path), "a" if append else "w") as f:
                    f.write(text.encode())
                if ids is not None:
                    sftp.chown(str(path), *ids)
        except OSError as e:
            raise ClusterError(
                f"{node}: cannot write {path}: {e.strerror or one_line(e)}"
            ) from None

    def read_file(self, node: str, path: PurePosixPath | str, *, user: str | None = None) -> str:
        self._check(node)
        if not self._sftp_ok():
            return super().read_file(node, path, user=user)
        try:
            with self.remotes[node].sftp() as sftp, sftp.open(str(path), "r") as f:
                data: bytes = f.read()
        except OSError:
            return ""
        return data.decode(errors="replace")

    def exists(self, node: str, path: PurePosixPath | str, *, user: str | None = None) -> bool:
        self._check(node)
        if not self._sftp_ok():
            return super().exists(node, path, user=user)
        try:
            with self.remotes[node].sftp() as sftp:
                sftp.stat(str(path))
        except OSError:
            return False
        return True

    def collect_logs(self, dest: Path) -> None:
        """Each node's *.log files (in its node dir and its logs/, and the spawn() log) to
        dest/<node>/, over SFTP."""

        def one(node: str) -> None:
            d = shlex.quote(str(self.node_dir(node)))
            # the node dir's own logs and a logs/ folder: not every *.log below it (a
            # database's data files may end in .log too, e.g. Cassandra's commit log)
            out = self._root(
                node,
                f"find {d} {d}/logs -maxdepth 1 -name '*.log' -type f 2>/dev/null; true",
                what="list the logs",
            )
            files = set(out.split())
            if node in self._spawned:
                files.add(self._spawned[node][2])
            target = Path(dest) / node
            for f in sorted(files):
                text = self.read_file(node, f)
                if text:
                    target.mkdir(parents=True, exist_ok=True)
                    (target / PurePosixPath(f).name).write_text(text)

        for n, res in _parallel(one, self.nodes).items():
            # a host that went away is named once, by the run's error, not again here
            if isinstance(res, BaseException):
                (log.info if isinstance(res, HostGone) else log.warning)(
                    "ssh: no logs from %s: %s", self.hosts[n].label, one_line(res)
                )

    # -- network faults -------------------------------------------------------------------
    def _apply(self) -> None:
        lossy, p = self._loss

        def one(node: str) -> None:
            text = ssh_firewall.set_drops(
                self.chain,
                (self._ip(m) for m in self._cuts.get(node, ())),
                {self._ip(m): p for m in lossy.get(node, ())},
            )
            self._root(node, ssh_firewall.RESTORE, input=text, what="set iptables rules")

        err = _first_error(_parallel(one, self.nodes))
        if err is not None:
            raise err

    def drop_counts(self, node: str) -> dict[str, int]:
        """Packets dropped so far per source address by this run's chain on the node."""
        out = self._root(node, f"iptables -w -L {self.chain} -v -n -x", what="read counters")
        return ssh_firewall.drops(out)

    # -- life -------------------------------------------------------------------------------
    def teardown(self) -> None:
        """Idempotent: on every host, kill the run's process groups, remove its chain, node
        directory and state file. A host that cannot be reached is named in the error (its
        leftovers stay recorded there for `splitbrain cleanup --inventory`)."""
        if self._torn_down:
            return

        def one(node: str) -> None:
            state = self._states[node]
            state = {**state, "pgids": sorted({*state["pgids"], *self._known_pgids(node)})}
            script = ssh_state.remove_script(state, self.hosts[node].data_root)
            self._root(node, script, what="clean up", timeout=60)

        results = _parallel(one, [n for n in self.nodes if n in self._states])
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

    def _known_pgids(self, node: str) -> list[int]:
        pid = self._pgid.get(node)
        return [pid] if pid is not None else []

    def close(self) -> None:
        for r in self.remotes.values():
            r.close()

    def __repr__(self) -> str:
        hosts = ", ".join(f"{n}={h.address}" for n, h in self.hosts.items())
        return f"SshCluster({self.run_id}, {hosts})"
