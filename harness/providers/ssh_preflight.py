"""The ssh provider's preflight: before anything is created, connect to every host at once
and check what the run will need there (the database's binaries and user, this provider's
tools, sudo); one line naming the first host and what it lacks. With `install: apt`, the
inventory's packages are apt-get installed on every host first."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable

from harness import clock
from harness.cluster import failure_line
from harness.db import Database
from harness.errors import EnvironmentProblem
from harness.providers.remote_cluster import first_error, parallel
from harness.providers.ssh_cluster import SshCluster
from harness.providers.ssh_inventory import Inventory
from harness.remote import PATH

log = logging.getLogger("splitbrain.ssh")
# Tools every host needs, beyond the database's own binaries.
HOST_TOOLS = ("sh", "bash", "env", "timeout", "setsid", "stat", "iptables", "iptables-restore")


def preflight(db: Database, inv: Inventory) -> None:
    """Connect to every host (in parallel); check the database's binaries and user, the tools
    this provider uses, and sudo. One line naming the first host and what it lacks."""
    probe = SshCluster(inv, "000000", db.spec.nodes, db.deployment.user)
    try:
        probe.connect()
        if inv.install == "apt":
            _parallel_raise(probe, lambda n: _install(probe, n))
        _parallel_raise(probe, lambda n: _check_host(probe, db, n))
    finally:
        probe.close()


def _parallel_raise(cluster: SshCluster, fn: Callable[[str], None]) -> None:
    err = first_error(parallel(fn, cluster.nodes))
    if err is not None:
        raise err


def _missing(cluster: SshCluster, db: Database, node: str) -> tuple[list[tuple[str, str]], bool]:
    """(required things the host lacks, whether the database's user exists there)."""
    h = cluster.hosts[node]
    wanted = [(t, "") for t in HOST_TOOLS]
    wanted += db.deployment.required(lambda key, default: h.settings.get(key, default))
    if clock.wanted(db.spec.nemesis):  # clock faults preload libfaketime into the database
        wanted.append((h.settings.get("libfaketime", clock.LIBFAKETIME), clock.INSTALL_HINT))
    checks = [
        (
            f"[ -e {shlex.quote(b)} ] || echo {shlex.quote(b)}"
            if "/" in b
            else f"command -v {shlex.quote(b)} >/dev/null || echo {shlex.quote(b)}"
        )
        for b, _ in wanted
    ]
    checks.append(f"id -u {shlex.quote(db.deployment.user)} >/dev/null 2>&1 || echo '?user'")
    script = f"PATH={PATH}; " + "; ".join(checks) + "; true"
    gone = set(cluster._root(node, script, what="check binaries").split())
    return [(b, hint) for b, hint in wanted if b in gone], "?user" not in gone


def _check_host(cluster: SshCluster, db: Database, node: str) -> None:
    h = cluster.hosts[node]
    r = cluster.conns[node]
    if cluster.inv.user != "root":
        rc, _, err = r.shell("true", timeout=30)  # sudo -n works (or says why not)
        if rc != 0:
            raise EnvironmentProblem(f"{h.label}: cannot become root: {err.strip() or rc}")
    missing, user_ok = _missing(cluster, db, node)
    if missing:
        b, hint = missing[0]
        setting = " (the inventory's setting)" if b not in dict(db.deployment.required()) else ""
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        fix = f": {hint}" if hint else ": install it (Debian: coreutils, util-linux, iptables, bash)"
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


APT = "apt-get -q -o DPkg::Lock::Timeout=120"  # a fresh VM's unattended-upgrades holds the lock


def apt_script(packages: tuple[str, ...]) -> str:
    """apt-get install of the packages (a no-op success, offline too, when they are installed
    and current); the package lists are fetched first only where there are none (a fresh
    image), so that an installed host needs no mirror."""
    pkgs = " ".join(shlex.quote(p) for p in packages)
    return (
        f"export DEBIAN_FRONTEND=noninteractive PATH={PATH}; "
        f"ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || {APT} update; "
        f"{APT} install -y --no-install-recommends {pkgs}"
    )


def _install(cluster: SshCluster, node: str) -> None:
    """install: apt: the inventory's packages on every host, before its binaries are checked
    (through sudo when the inventory says so)."""
    h, packages = cluster.hosts[node], cluster.inv.packages
    rc, out, err = cluster.conns[node].shell(apt_script(packages), timeout=600)
    if rc != 0:
        why = failure_line(err or out, rc)
        raise EnvironmentProblem(f"{h.label}: apt-get install {' '.join(packages)} failed: {why}")
    log.info("ssh: %s: apt-get install %s: done", h.label, " ".join(packages))
