"""The local provider: each node is a Linux network namespace on a bridge, running real
database processes as an unprivileged user.

Layout for run <id> (6 hex chars) on subnet 198.18.1.0/24 with nodes n1..n3:
  bridge  sb-<id>            198.18.1.1/24   (root namespace: the harness and its clients)
  netns   sb-<id>-n1         eth0 198.18.1.11/24, lo up      veth host side: sb<id>n1
  workdir /var/tmp/splitbrain/<id>/{run.json, nodes/<node>/}

Everything on a node (the database's processes, iptables in its namespace, files, logs,
clocks) goes through harness.providers.remote_cluster over a Remote that runs commands with
`ip netns exec` (harness.remote.local); this module only makes and removes the namespaces,
the bridge and the work dir, and mounts the power-loss layers. The bridge address (harness
clients) is never dropped.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pwd
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from harness import clock
from harness.cluster import Unsupported
from harness.db import Database, Deployment, database_class
from harness.errors import ClusterError, EnvironmentProblem
from harness.options import Option
from harness.powerloss import build as powerloss_build
from harness.powerloss import leftovers as powerloss_leftovers
from harness.powerloss.layer import Layer
from harness.powerloss.options import WRITEBACK_S
from harness.providers import netns, owner
from harness.providers.remote_cluster import RemoteCluster
from harness.remote import firewall
from harness.remote.local import HostRemote, netns_remote
from harness.spec import TestSpec

WORK_ROOT = Path(os.environ.get("SPLITBRAIN_WORKDIR", "/var/tmp/splitbrain"))
RUN_ID = re.compile(r"^[0-9a-f]{6}$")
NS_RE = re.compile(r"^sb-([0-9a-f]{6})-(\w+)$")
LINK_RE = re.compile(r"^sb-?([0-9a-f]{6})(n\d+)?$")


def preflight(db: Database) -> None:
    """Raise EnvironmentProblem (one line) naming the first missing thing and how to get it."""
    required = db.deployment.required(files=False)
    if os.geteuid() != 0:
        raise EnvironmentProblem("run as root: the local provider creates network namespaces")
    for binary, hint in (("ip", "install iproute2"), ("iptables", "apt-get install iptables")):
        if shutil.which(binary) is None:
            raise EnvironmentProblem(f"`{binary}` not found: {hint}")
    if shutil.which("iptables-restore") is None:
        raise EnvironmentProblem("`iptables-restore` not found: apt-get install iptables")
    if shutil.which("setpriv") is None:
        raise EnvironmentProblem("`setpriv` not found: apt-get install util-linux")
    for binary, hint in required:
        found = os.access(binary, os.X_OK) if "/" in binary else shutil.which(binary) is not None
        if not found:
            raise EnvironmentProblem(f"`{binary}` not found: {hint}")
    binaries = set(required)
    for path, hint in db.deployment.required():
        if (path, hint) not in binaries and not os.path.exists(path):
            raise EnvironmentProblem(f"{path} not found: {hint}")
    if clock.wanted(db.spec.nemesis) and not os.path.exists(clock.LIBFAKETIME):
        raise EnvironmentProblem(f"--nemesis clock needs {clock.LIBFAKETIME}: {clock.INSTALL_HINT}")
    try:
        pwd.getpwnam(db.deployment.user)
    except KeyError:
        raise EnvironmentProblem(
            f"user {db.deployment.user!r} does not exist on this host (it runs {db.name}): "
            "install the database's package, or create the user"
        ) from None


class LocalCluster(RemoteCluster):
    capabilities = frozenset({"partition", "packet-loss", "kill", "pause", "clock", "power-loss"})

    def __init__(
        self,
        run_id: str,
        nodes: Sequence[str],
        subnet: str,
        *,
        power_loss: bool = False,
        writeback_s: float = 0,
    ) -> None:
        if not RUN_ID.match(run_id):
            raise ClusterError(f"run id {run_id!r} must be 6 hex characters")
        super().__init__()
        self.run_id = run_id
        self.nodes = tuple(nodes)
        self.chain = firewall.chain_name(run_id)
        self.subnet = ipaddress.ip_network(subnet)
        hosts = list(self.subnet.hosts())
        self.bridge_addr = str(hosts[0])
        self.addrs = {n: str(hosts[9 + i]) for i, n in enumerate(self.nodes, start=1)}
        self.bridge = f"sb-{run_id}"
        self.ns = {n: f"sb-{run_id}-{n}" for n in self.nodes}
        self.veth = {n: f"sb{run_id}{n}" for n in self.nodes}
        self.workdir = WORK_ROOT / run_id
        self._remotes = {n: netns_remote(n, self.ns[n]) for n in self.nodes}
        self._torn_down = False
        self._logs_collected = False
        # power loss: a lossyfs layer over each node dir, mounted only when the run asks
        self._power_loss, self._writeback_s = power_loss, writeback_s
        self._layers: dict[str, Layer] = {}
        for v in self.veth.values():
            if len(v) > 15:
                raise ClusterError(f"interface name {v} is longer than 15 characters")

    # -- bring-up -------------------------------------------------------------------------
    def _write_run_json(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)  # the database user must traverse it to its node dir
        info = {
            "run_id": self.run_id,
            "harness_pid": os.getpid(),
            "subnet": str(self.subnet),
            "nodes": list(self.nodes),
            "addresses": self.addrs,
            "namespaces": list(self.ns.values()),
            "bridge": self.bridge,
            "veths": list(self.veth.values()),
            "power_loss_layers": self._power_loss,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (self.workdir / "run.json").write_text(json.dumps(info, indent=2) + "\n")

    def _build(self) -> None:
        # run.json first: from now on `splitbrain cleanup` can find whatever we create.
        self._write_run_json()
        for n in self.nodes:
            d = self._dir(n)
            d.mkdir(parents=True, exist_ok=True)
        if self._power_loss:
            self._mount_layers()
        prefix = self.subnet.prefixlen
        netns.run(["ip", "link", "add", self.bridge, "type", "bridge"])
        netns.run(["ip", "addr", "add", f"{self.bridge_addr}/{prefix}", "dev", self.bridge])
        netns.run(["ip", "link", "set", self.bridge, "up"])
        for n in self.nodes:
            ns, veth = self.ns[n], self.veth[n]
            netns.run(["ip", "netns", "add", ns])
            netns.run(
                ["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns]
            )
            netns.run(["ip", "link", "set", veth, "master", self.bridge, "up"])
            netns.run(
                ["ip", "-n", ns, "-batch", "-"],
                input=(
                    f"addr add {self.addrs[n]}/{prefix} dev eth0\n"
                    "link set lo up\n"
                    "link set eth0 up\n"
                    f"route add default via {self.bridge_addr}\n"
                ),
            )
        self.install_firewall()

    # -- power loss -------------------------------------------------------------------------
    def _mount_layers(self) -> None:
        for n in self.nodes:
            layer = Layer(
                self._dir(n),
                self.workdir / "backing" / n,
                self.workdir / "powerloss" / f"{n}.sock",
                self.workdir / "powerloss" / f"{n}-lossyfs.log",
                self._writeback_s,
            )
            self._layers[n] = layer  # before mount(): teardown unmounts a half-made one
            layer.mount()

    def power_loss(self, node: str) -> dict[str, int]:
        layer = self._layers.get(self.check_node(node))
        if layer is None:
            raise Unsupported(
                f"{node}: no power-loss layer (mounted only when the run's nemesis has power-loss)"
            )
        self.kill(node)
        if self.is_running(node):
            raise ClusterError(f"power-loss: {node} is still running after SIGKILL")
        return layer.power_loss(settle=False)  # before() settles it when it is next used

    def before(self, node: str, user: str | None = None) -> None:
        """The node dir belongs to the user a command runs as (chowned on first use); after
        a power loss, the kernel's cached file sizes are waited out before the node's files
        are read or its database restarted (harness.powerloss.layer.ATTR_TIMEOUT_S)."""
        if user and user != "root":
            self._own(node, user)
        layer = self._layers.get(node)
        if layer is not None:
            layer.settle()

    def _unmount_layers(self) -> list[str]:
        errors = []
        for layer in self._layers.values():
            try:
                layer.unmount()
            except ClusterError as e:
                errors.append(str(e))
        return errors

    # -- where things are -----------------------------------------------------------------
    def remote(self, node: str) -> HostRemote:
        return self._remotes[self.check_node(node)]

    def drop_address(self, node: str) -> str:
        return self.addrs[self.check_node(node)]

    def address(self, node: str, port: int) -> tuple[str, int]:
        return self.addrs[self.check_node(node)], port

    def peer_address(self, node: str) -> str:
        return self.addrs[self.check_node(node)]

    def peer_network(self) -> str:
        return str(self.subnet)

    def node_dir(self, node: str) -> PurePosixPath:
        return PurePosixPath(self._dir(node))

    def _dir(self, node: str) -> Path:
        return self.workdir / "nodes" / self.check_node(node)


    def _own(self, node: str, user: str) -> None:
        """Node dirs belong to the database user (chowned on first use)."""
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise EnvironmentProblem(f"user {user!r} does not exist on this host") from None
        d = self._dir(node)
        d.mkdir(parents=True, exist_ok=True)
        if d.stat().st_uid != pw.pw_uid:
            os.chown(d, pw.pw_uid, pw.pw_gid)

    def collect_logs(self, dest: Path) -> None:
        super().collect_logs(dest)
        self._logs_collected = True
        if self._torn_down:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def teardown(self) -> None:
        """Idempotent. Kills, deletes namespaces/veths/bridge; deletes the work dir unless logs
        were not collected yet, in which case only *.log files (and run.json) remain until
        collect_logs() runs (or `splitbrain cleanup`)."""
        errors: list[str] = []
        for n in self.nodes:
            ns = self.ns[n]
            try:
                if ns in netns.namespaces():
                    netns.delete_ns(ns)
            except ClusterError as e:
                errors.append(str(e))
            self._remotes[n].reap_all()
        errors += self._unmount_layers()  # the node's processes are gone; before rmtree
        existing = set(netns.links())
        for name in [*self.veth.values(), self.bridge]:
            if name in existing:
                netns.delete_link(name)
        self._torn_down = True
        if self._logs_collected or not self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            _remove_all_but_logs(self.workdir)
            with contextlib.suppress(OSError, ValueError):
                info = json.loads((self.workdir / "run.json").read_text())
                info["torn_down"] = True
                (self.workdir / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        if errors:
            raise ClusterError(errors[0])

    def __repr__(self) -> str:
        return (
            f"LocalCluster({self.run_id}, {', '.join(f'{n}={a}' for n, a in self.addrs.items())})"
        )


def _remove_all_but_logs(root: Path) -> None:
    for p in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        try:
            if p.is_symlink() or p.is_file():
                if p.suffix != ".log" and p.name != "run.json":
                    p.unlink()
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()
        except OSError:
            pass


def _subnet_in_use(subnet: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
    for ifname, cidr in netns.root_addresses():
        iface = ipaddress.ip_interface(cidr)
        if iface.network.overlaps(subnet):
            return f"{ifname} has {cidr}"
    return None


def create(spec: TestSpec, run_id: str, deployment: Deployment | None = None) -> LocalCluster:
    """A built cluster of network namespaces (the deployment's facts are checked by
    preflight: binaries and the OS user live on this host)."""
    nodes = [f"n{i}" for i in range(1, spec.nodes + 1)]
    cluster = LocalCluster(
        run_id,
        nodes,
        spec.subnet,
        power_loss="power-loss" in spec.nemesis,
        writeback_s=WRITEBACK_S.get(spec.options),
    )
    if clock.wanted(spec.nemesis):
        user = (deployment or database_class(spec.db).deployment).user
        cluster.fake_clocks(clock.LIBFAKETIME, user)
    used = _subnet_in_use(cluster.subnet)
    if used:
        raise EnvironmentProblem(
            f"subnet {spec.subnet} is already in use on this host ({used}): "
            "pick another with --subnet, or run `splitbrain cleanup` if a crashed run left it"
        )
    if (WORK_ROOT / run_id).exists() or cluster.bridge in netns.links():
        raise EnvironmentProblem(f"run id {run_id} is already in use; run `splitbrain cleanup`")
    if cluster._power_loss:
        powerloss_build.binary()  # EnvironmentProblem now, before anything is created
    try:
        cluster._build()
    except BaseException as e:
        with contextlib.suppress(Exception):
            cluster.teardown()
        shutil.rmtree(cluster.workdir, ignore_errors=True)
        if isinstance(e, ClusterError):
            raise ClusterError(f"could not build the local cluster: {e}") from None
        raise
    return cluster


# -- leftovers of crashed runs ------------------------------------------------------------
def _torn_down(run_id: str) -> bool:
    """A finished run whose logs were never collected: harmless, but cleanup() removes it."""
    try:
        return bool(json.loads((WORK_ROOT / run_id / "run.json").read_text()).get("torn_down"))
    except (OSError, ValueError, AttributeError):
        return False


def _run_alive(run_id: str) -> bool:
    """A run is alive while the harness process named in its run.json is; a namespace or link
    without a run.json is an orphan (run.json is written before anything else is created)."""
    try:
        info: dict[str, Any] = json.loads((WORK_ROOT / run_id / "run.json").read_text())
        return owner.alive(None, info["harness_pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _plan(force: bool, logs: bool = True) -> tuple[list[str], list[str], list[str]]:
    """(namespaces, links, work dirs) of dead runs (all runs with force); with logs=False,
    work dirs that only hold the logs of a run that was torn down properly are left out."""

    def dead(rid: str) -> bool:
        return force or not _run_alive(rid)

    nss = [ns for ns in netns.namespaces() if (m := NS_RE.match(ns)) and dead(m.group(1))]
    lks = [li for li in netns.links() if (m := LINK_RE.match(li)) and dead(m.group(1))]
    dirs = []
    if WORK_ROOT.is_dir():
        dirs = [
            str(d)
            for d in sorted(WORK_ROOT.iterdir())
            if d.is_dir() and dead(d.name) and (logs or not _torn_down(d.name))
        ]
    return nss, lks, dirs


def validate(spec: TestSpec) -> None:
    """Nothing of its own to check before a run (the subnet is the spec's)."""


def find_leftovers(force: bool = False, inventory: str = "") -> list[str]:
    """One human line per leftover of a crashed run (namespace, its processes, link, work dir).
    Logs kept by a proper teardown are not reported (cleanup() still removes them)."""
    nss, lks, dirs = _plan(force, logs=False)
    out = []
    for ns in nss:
        pids = netns.ns_pids(ns)
        out.append(f"namespace {ns}" + (f" ({len(pids)} processes)" if pids else ""))
    out += [f"link {li}" for li in lks]
    out += _power_loss_leftovers(force)
    out += [f"work dir {d}" for d in dirs]
    return out


def cleanup(force: bool = False, inventory: str = "") -> list[str]:
    """Remove leftovers of runs whose harness is dead (every run with force); one line each."""
    nss, lks, dirs = _plan(force)
    done = []
    for ns in nss:
        try:
            n = netns.kill_ns(ns)
        except ClusterError as e:  # said, not hidden: the namespace stays for another try
            done.append(f"NOT removed namespace {ns}: {e}")
            continue
        netns.run(["ip", "netns", "del", ns], check=False)
        done.append(f"removed namespace {ns}" + (f" (killed {n} processes, all gone)" if n else ""))
    present = set(netns.links())  # veths vanished with their namespace
    for li in lks:
        if li in present:
            netns.delete_link(li)
            done.append(f"removed link {li}")
    for root in _power_loss_roots(force):  # unmounted before their work dir goes
        done += powerloss_leftovers.remove(root)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
        done.append(f"removed work dir {d}")
    return done


def _power_loss_roots(force: bool) -> list[Path]:
    """Work dirs of dead runs (every run with force) that hold power-loss mounts or daemons."""
    found = {Path(m) for m in powerloss_leftovers.mounts(WORK_ROOT)}
    found |= {Path(m) for m in powerloss_leftovers.daemons(WORK_ROOT).values()}
    roots = set()
    for p in found:
        rel = p.relative_to(WORK_ROOT).parts
        if rel and (force or not _run_alive(rel[0])):
            roots.add(WORK_ROOT / rel[0])
    return sorted(roots)


def _power_loss_leftovers(force: bool) -> list[str]:
    out = []
    for root in _power_loss_roots(force):
        out += [f"power-loss mount {m}" for m in powerloss_leftovers.mounts(root)]
        out += [
            f"power-loss daemon {pid} ({m})" for pid, m in powerloss_leftovers.daemons(root).items()
        ]
    return out


OPTIONS: tuple[Option, ...] = ()  # no knobs beyond the spec's own (--subnet)
# Debian packages the machine running the harness needs for this provider
PACKAGES: tuple[str, ...] = ("iproute2", "iptables", "util-linux")
CAPABILITIES = LocalCluster.capabilities
