"""The SSH provider: each node is a real host named in an inventory (Jepsen's control node
driving its database hosts over SSH). The database definitions, faults and checkers are the
same as on the local provider; only this module knows that the nodes are remote.

On each host, for run <id> and node <n> (data root /var/tmp/splitbrain-ssh by default):
  <data root>/<id>/<n>/            node_dir: data, config, logs; owned by the database user
  <data root>/<id>/<n>.state.json  what the run created there (see ssh_state), for cleanup
  iptables chain SB-<id>           partitions and packet loss (see ssh_firewall)
  process group of each spawn()    the database's processes (see ssh_procs)
teardown() removes all four; `splitbrain cleanup --inventory FILE` does it for crashed runs.

Modules: ssh_inventory (the YAML file), ssh_conn (connections, sudo), ssh_procs (process
scripts), ssh_firewall (iptables), ssh_state (records and cleanup).
"""

from __future__ import annotations

import contextlib
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

from harness.cluster import Cluster, Grudge
from harness.db import Database, database_class
from harness.errors import ClusterError, EnvironmentProblem, SpecError, SplitbrainError, one_line
from harness.options import Option
from harness.providers import ssh_firewall, ssh_procs, ssh_state
from harness.providers.ssh_conn import HostGone, Remote
from harness.providers.ssh_inventory import Inventory, load
from harness.spec import TestSpec

log = logging.getLogger("splitbrain.ssh")
T = TypeVar("T")
SECRET = re.compile(r"(password=)\S+")
# Tools every host needs, beyond the database's own binaries.
HOST_TOOLS = ("sh", "env", "timeout", "setsid", "nohup", "pgrep", "iptables", "iptables-restore")


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


class SshCluster(Cluster):
    capabilities = frozenset({"partition", "packet-loss", "kill", "pause"})

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
        self._cuts: dict[str, frozenset[str]] = {}
        self._loss: tuple[dict[str, frozenset[str]], float] = ({}, 0.0)
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
            lines = (err or out).strip().splitlines()
            why = lines[-1] if lines else f"exit status {rc}"
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
            lines = (err or out).strip().splitlines()
            why = _hide(lines[-1] if lines else f"exit status {rc}")
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
            self._spawned[node] = (list(argv), user, str(log), dict(env) if env else None)
            self._spawn_locked(node)

    def _spawn_locked(self, node: str) -> None:
        argv, user, logfile, env = self._spawned[node]
        script = ssh_procs.spawn_script(str(self.node_dir(node)), user, env, argv, logfile)
        rc, out, err = self.remotes[node].shell(script, user=user, timeout=30)
        pid = out.strip().splitlines()[-1] if out.strip() else ""
        if rc != 0 or not pid.isdigit():
            why = (err or out).strip().splitlines()
            raise ClusterError(
                f"{node}: could not start {argv[0]}: {_hide(why[-1] if why else f'exit {rc}')}"
            )
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
        """Each node's *.log files (under its node dir, and the spawn() log) to dest/<node>/."""

        def one(node: str) -> None:
            d = shlex.quote(str(self.node_dir(node)))
            out = self._root(node, f"find {d} -name '*.log' -type f 2>/dev/null; true",
                             what="list the logs")  # fmt: skip
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
            if isinstance(res, BaseException):
                log.warning("ssh: no logs from %s: %s", self.hosts[n].label, one_line(res))

    # -- network faults -------------------------------------------------------------------
    def _grudge(self, grudge: Grudge) -> dict[str, frozenset[str]]:
        for n in grudge:
            self._check(n)
            for m in grudge[n]:
                self._check(m)
        return {n: frozenset(m for m in grudge[n] if m != n) for n in grudge}

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

    def partition(self, grudge: Grudge) -> None:
        self._cuts = self._grudge(grudge)
        self._apply()

    def lose_packets(self, grudge: Grudge, probability: float) -> None:
        if not 0 < probability <= 1:
            raise ClusterError(f"packet loss probability must be in (0, 1], got {probability}")
        self._loss = (self._grudge(grudge), probability)
        self._apply()

    def heal(self) -> None:
        self._cuts, self._loss = {}, ({}, 0.0)
        self._apply()

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


# -- the provider module's interface ---------------------------------------------------------
def _inventory(spec: TestSpec) -> Inventory:
    if not spec.inventory:
        raise SpecError("--provider ssh needs --inventory FILE (the hosts and how to log in)")
    inv = load(spec.inventory)
    if spec.nodes > len(inv.hosts):
        raise SpecError(
            f"--nodes {spec.nodes}: the inventory {inv.path} lists only {len(inv.hosts)} hosts"
        )
    return inv


def create(spec: TestSpec, run_id: str) -> SshCluster:
    inv = _inventory(spec)
    db_user = database_class(spec.db).deployment.user
    cluster = SshCluster(inv, run_id, spec.nodes, db_user)
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


def _binary_candidates(path: str, settings: Mapping[str, str]) -> str:
    """Where a host keeps a required binary: an inventory setting naming that file, or a
    `<db>_bin` directory setting, overrides the database's default path."""
    if "/" not in path:
        return path
    name = PurePosixPath(path).name
    for value in settings.values():
        if PurePosixPath(value).name == name and value.startswith("/"):
            return value
    for key, value in settings.items():
        if key.endswith("_bin") and value.startswith("/"):
            return f"{value.rstrip('/')}/{name}"
    return path


def preflight(db: Database) -> None:
    """Connect to every host (in parallel); check the database's binaries and user, the tools
    this provider uses, and sudo. One line naming the first host and what it lacks."""
    spec = db.spec
    inv = _inventory(spec)
    probe = SshCluster(inv, "000000", spec.nodes, db.deployment.user)
    try:
        probe.connect()
        if inv.install == "apt":
            _parallel_raise(probe, lambda n: _install(probe, db, n))
        _parallel_raise(probe, lambda n: _check_host(probe, db, n))
    finally:
        probe.close()


def _parallel_raise(cluster: SshCluster, fn: Callable[[str], None]) -> None:
    err = _first_error(_parallel(fn, cluster.nodes))
    if err is not None:
        raise err


def _missing(cluster: SshCluster, db: Database, node: str) -> tuple[list[tuple[str, str]], bool]:
    """(required things the host lacks, whether the database's user exists there)."""
    h = cluster.hosts[node]
    wanted = [(t, "") for t in HOST_TOOLS]
    wanted += [(_binary_candidates(b, h.settings), hint) for b, hint in db.required_binaries()]
    wanted += [(f, hint) for f, hint in db.deployment.files]
    checks = [
        (
            f"[ -e {shlex.quote(b)} ] || echo {shlex.quote(b)}"
            if "/" in b
            else f"command -v {shlex.quote(b)} >/dev/null || echo {shlex.quote(b)}"
        )
        for b, _ in wanted
    ]
    checks.append(f"id -u {shlex.quote(db.deployment.user)} >/dev/null 2>&1 || echo '?user'")
    script = f"PATH={ssh_procs.PATH}; " + "; ".join(checks) + "; true"
    gone = set(cluster._root(node, script, what="check binaries").split())
    return [(b, hint) for b, hint in wanted if b in gone], "?user" not in gone


def _check_host(cluster: SshCluster, db: Database, node: str) -> None:
    h = cluster.hosts[node]
    r = cluster.remotes[node]
    if cluster.inv.user != "root":
        rc, _, err = r.shell("true", timeout=30)  # sudo -n works (or says why not)
        if rc != 0:
            raise EnvironmentProblem(f"{h.label}: cannot become root: {err.strip() or rc}")
    missing, user_ok = _missing(cluster, db, node)
    if missing:
        b, hint = missing[0]
        setting = " (the inventory's setting)" if b not in dict(db.required_binaries()) else ""
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        fix = f": {hint}" if hint else ": install it (Debian: procps, util-linux, iptables)"
        raise EnvironmentProblem(f"{h.label}: {b}{setting} not found{more}{fix}")
    if not user_ok:
        raise EnvironmentProblem(
            f"{h.label}: user {db.deployment.user!r} does not exist there (it runs {db.name}): "
            "install the database's package, or create the user"
        )
    if cluster.inv.sudo and db.deployment.user != cluster.inv.user:
        rc, _, err = r.shell("true", user=db.deployment.user, timeout=30)
        if rc != 0:
            raise EnvironmentProblem(
                f"{h.label}: cannot run commands as {db.deployment.user}: {err.strip() or rc}"
            )
    if str(h.data_root).startswith("/tmp"):
        log.warning("ssh: %s: data root %s may be cleaned by the host", h.label, h.data_root)


def _install(cluster: SshCluster, db: Database, node: str) -> None:
    """install: apt: install the inventory's packages where something is missing."""
    missing, _ = _missing(cluster, db, node)
    if not missing:
        return
    pkgs = " ".join(shlex.quote(p) for p in cluster.inv.packages)
    cluster._root(
        node,
        f"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {pkgs}",
        what=f"apt-get install {' '.join(cluster.inv.packages)}",
        timeout=600,
    )


def _hosts_for_cleanup(inventory: str) -> list[Remote]:
    inv = load(inventory)
    return [Remote(inv, h) for h in inv.hosts]


def _leftovers(inventory: str, force: bool) -> list[tuple[Remote, dict[str, Any] | None, str]]:
    """(host, state, line): each leftover run on each host; an unreachable host is a line."""
    out: list[tuple[Remote, dict[str, Any] | None, str]] = []
    remotes = _hosts_for_cleanup(inventory)

    def one(i: int) -> list[tuple[Remote, dict[str, Any] | None, str]]:
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
CAPABILITIES = SshCluster.capabilities
