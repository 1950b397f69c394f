"""compose provider: each node is a long-lived container used as a host (Jepsen's docker model).

`docker compose -f compose/<db>/compose.yaml --env-file <run>.env up -d` (through
testcontainers' DockerCompose) starts three containers n1..n3 of the database's image,
built by the project (`splitbrain images build`, harness.images), whose PID 1 is an idle
init, not the database. The database definition then runs its database inside them exactly
as on the local provider: everything on a node goes through a DockerRemote (Engine API
exec, put/get archive) and the code written once over it (harness.providers.remote_cluster:
processes, iptables in the container's own network namespace, logs, clock).

- address(node, port) is 127.0.0.1 and the host port published for that container port;
  the harness picks them free and passes them as SB_PORT_N<i>_<port>. peer_address(node) is
  the compose service name. The project network gets a free /24 inside 198.19.0.0/16
  (SB_SUBNET), never an address outside it.
- Containers never restart, so their namespaces and rules live as long as the run; `down -v`
  and a sweep of whatever carries the project's label remove everything at the end.

This module imports no database definition and knows no database's name: what it needs from
one is the data of its Deployment (user, ports, image, binaries).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from harness import clock, images
from harness.cluster import failure_line
from harness.db import Deployment
from harness.errors import ClusterError, EnvironmentProblem, SpecError, one_line
from harness.options import Option
from harness.providers.compose_engine import (
    compose_command,
    connect,
    free_port,
    owner,
    project_name,
)
from harness.providers.compose_leftovers import (
    PROJECT_LABEL,
    SERVICE_LABEL,
    leftovers,
    remove,
)
from harness.providers.compose_leftovers import cleanup as cleanup  # this provider's own
from harness.providers.compose_leftovers import find_leftovers as find_leftovers
from harness.providers.remote_cluster import RemoteCluster, parallel, raise_first
from harness.remote import firewall
from harness.remote.docker import DockerRemote, engine_errors
from harness.spec import TestSpec

log = logging.getLogger(__name__)

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "compose"
NODES = ("n1", "n2", "n3")  # every compose/<db>/compose.yaml defines these three hosts
NODE_ROOT = PurePosixPath("/var/lib/splitbrain")
SETTING_LABEL = "splitbrain.setting."  # + key: an image's override of a database fact
POOL = ipaddress.ip_network("198.19.0.0/16")  # the only addresses our networks may use
BRIDGE = ipaddress.ip_network("198.19.255.0/24")  # dockerd's --bip in this project's setup

# $1 node dir, $2 the database's user, then what must be there (a path, or a command)
_PREPARE = r"""d=$1; u=$2; shift 2
id -u "$u" >/dev/null 2>&1 || { echo "no user $u in this image" >&2; exit 1; }
mkdir -p "$d" && chown "$u:" "$d" || exit 1
for p in "$@"; do
  case "$p" in */*) [ -e "$p" ];; *) command -v "$p";; esac >/dev/null 2>&1 || echo "$p"
done"""

IMAGE = Option(
    "image",
    str,
    "",
    "compose: the image the nodes run (default: the database's splitbrain/<db>:<version>; "
    "it must hold the database's binaries, iptables and bash)",
)


def free_subnet(client: Any, rng: random.Random | None = None) -> str:
    """A /24 inside 198.19.0.0/16 that no Docker network uses (nor dockerd's bridge)."""
    used = [BRIDGE]
    for net in client.api.networks():
        for cfg in (net.get("IPAM") or {}).get("Config") or []:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
    free = [s for s in POOL.subnets(new_prefix=24) if not any(s.overlaps(u) for u in used)]
    if not free:
        raise EnvironmentProblem("no free /24 left in 198.19.0.0/16 for a compose network")
    return str((rng or random.Random()).choice(free))


class ComposeCluster(RemoteCluster):
    capabilities = frozenset({"partition", "packet-loss", "kill", "pause", "clock"})

    def __init__(self, spec: TestSpec, run_id: str, deployment: Deployment, *, client: Any = None) -> None:
        super().__init__()
        self.compose_file = COMPOSE_DIR / spec.db / "compose.yaml"
        if spec.nodes != len(NODES):
            raise SpecError(
                f"--nodes {spec.nodes}: compose/{spec.db}/compose.yaml defines 3 nodes "
                "(n1..n3); use --nodes 3"
            )
        if not self.compose_file.is_file():
            raise EnvironmentProblem(f"no compose file for --db {spec.db} at {self.compose_file}")
        self.spec = spec
        self.run_id = run_id
        self.project = project_name(run_id)
        self.nodes = NODES
        self.chain = firewall.chain_name(run_id)
        self.deployment = deployment
        self.image = IMAGE.get(spec.options) or deployment.image
        self.client = client or connect()
        ports = sorted(set(deployment.ports.values()))
        self._chosen = {(n, p): free_port() for n in self.nodes for p in ports}
        self._ports: dict[tuple[str, int], int] = {}
        self._ids: dict[str, str] = {}
        self._ips: dict[str, str] = {}
        self._labels: dict[str, dict[str, str]] = {}
        self._remotes: dict[str, DockerRemote] = {}
        self._envdir = Path(tempfile.mkdtemp(prefix=f"{self.project}-"))
        self._compose: Any = None
        self._torn_down = False

    # ---- bring-up

    def env_file(self, subnet: str) -> Path:
        env = {
            "COMPOSE_PROJECT_NAME": self.project,
            "SB_OWNER": owner(),
            "SB_IMAGE": self.image,
            "SB_SUBNET": subnet,
        }
        for i, n in enumerate(self.nodes, start=1):
            for (node, port), host_port in self._chosen.items():
                if node == n:
                    env[f"SB_PORT_N{i}_{port}"] = str(host_port)
        path = self._envdir / "compose.env"
        path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        return path

    def up(self) -> None:
        """Start the three hosts, learn their ports and addresses, make the node directories,
        install the run's firewall chain and check the image has the database's binaries."""
        from testcontainers.compose import DockerCompose

        logging.getLogger("testcontainers").setLevel(logging.CRITICAL)  # we say why, once
        docker = compose_command()[0]
        for attempt in range(3):  # another run may take the same free subnet at the same time
            self._compose = DockerCompose(
                context=str(self.compose_file.parent),
                compose_file_name=self.compose_file.name,
                env_file=str(self.env_file(free_subnet(self.client))),
                docker_command_path=docker,
                wait=False,  # `up -d`: the hosts run once started (no health check to wait on)
            )
            try:
                self._compose.start()
                break
            except subprocess.CalledProcessError as e:
                why = _why(e)
                if "overlap" in why.lower() and attempt < 2:
                    self._down()
                    continue
                raise ClusterError(f"{self.project}: docker compose up failed: {why}") from None
        for node in self.nodes:
            self._learn(node)
        raise_first(parallel(self._prepare, self.nodes))
        self.install_firewall()

    def _learn(self, node: str) -> None:
        flt = {"label": [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={node}"]}
        with engine_errors(node):
            found = self.client.api.containers(all=True, filters=flt)
            if not found:
                raise ClusterError(f"{self.project}: no container for node {node}")
            info = self.client.api.inspect_container(found[0]["Id"])
        self._ids[node] = info["Id"]
        net = info.get("NetworkSettings") or {}
        ips = [n["IPAddress"] for n in (net.get("Networks") or {}).values() if n.get("IPAddress")]
        if not ips:
            raise ClusterError(f"{node}: the container has no address")
        self._ips[node] = ips[0]
        for key, bindings in (net.get("Ports") or {}).items():
            port, _, proto = key.partition("/")
            if bindings and proto == "tcp":
                self._ports[(node, int(port))] = int(bindings[0]["HostPort"])
        self._labels[node] = dict((info.get("Config") or {}).get("Labels") or {})
        self._remotes[node] = DockerRemote(self.client, info["Id"], node)
        missing = sorted({p for (_, p) in self._chosen} - {p for (n, p) in self._ports if n == node})
        if missing:
            raise ClusterError(
                f"{node}: compose/{self.spec.db}/compose.yaml does not publish port(s) "
                f"{', '.join(map(str, missing))} of the database"
            )

    def _prepare(self, node: str) -> None:
        """The node directory, owned by the database's user; and what the image lacks of
        the database's binaries (its labels' settings applied), iptables and bash."""
        remote, d, user = self._remotes[node], str(self.node_dir(node)), self.deployment.user
        need = self.deployment.required(lambda key, default: self.setting(node, key, default))
        need += [("iptables", "apt-get install iptables"), ("bash", "apt-get install bash")]
        if self.clock_lib is not None:
            need.append((self.setting(node, "libfaketime", self.clock_lib), clock.INSTALL_HINT))
        r = remote.run(["sh", "-c", _PREPARE, "sh", d, user, *(p for p, _ in need)], timeout=30)
        if r.rc != 0:
            raise EnvironmentProblem(f"image {self.image}: {node}: {failure_line(r.err or r.out, r.rc)}")
        lacking = r.out.split()
        if lacking:
            hints = dict(need)
            what = "; ".join(f"{p} ({hints.get(p, '?')})" for p in lacking)
            raise EnvironmentProblem(f"image {self.image} lacks {what}")

    def _down(self) -> None:
        if self._compose is None:
            return
        try:
            self._compose.stop(down=True)
        except (subprocess.CalledProcessError, OSError) as e:
            log.warning("%s: docker compose down failed: %s", self.project, _why(e))

    def teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        self._down()
        # whatever compose did not remove (a half-made project, say): sweep it by label
        with contextlib.suppress(EnvironmentProblem):
            remove(leftovers(self.client, project=self.project), self.client)
        with contextlib.suppress(OSError):
            for f in self._envdir.iterdir():
                f.unlink()
            self._envdir.rmdir()

    # ---- where things are

    def remote(self, node: str) -> DockerRemote:
        remote = self._remotes.get(self.check_node(node))
        if remote is None:
            raise ClusterError(f"{self.project}: node {node} is not up")
        return remote

    def drop_address(self, node: str) -> str:
        return self._ips[self.check_node(node)]

    def address(self, node: str, port: int) -> tuple[str, int]:
        host_port = self._ports.get((self.check_node(node), port))
        if host_port is None:
            raise ClusterError(f"{node}: container port {port} is not published")
        return "127.0.0.1", host_port

    def peer_address(self, node: str) -> str:
        return self.check_node(node)  # the compose service name, resolved by Docker's DNS

    def node_dir(self, node: str) -> PurePosixPath:
        return NODE_ROOT / self.check_node(node)

    def setting(self, node: str, key: str, default: str) -> str:
        return self._labels.get(self.check_node(node), {}).get(SETTING_LABEL + key, default)

    def __repr__(self) -> str:
        return f"ComposeCluster({self.project}, {', '.join(f'{n}={a}' for n, a in self._ips.items())})"


def _why(e: BaseException) -> str:
    if isinstance(e, subprocess.CalledProcessError):
        out = e.stderr or e.stdout or b""
        text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
        return failure_line(text, e.returncode)
    return one_line(e)


def create(spec: TestSpec, run_id: str, deployment: Deployment, **kwargs: Any) -> ComposeCluster:
    """Three running host containers for spec.db, node directories made. Torn down again if
    bringing them up fails or is interrupted (Ctrl-C)."""
    cluster = ComposeCluster(spec, run_id, deployment, **kwargs)
    if clock.wanted(spec.nemesis):
        cluster.fake_clocks(clock.LIBFAKETIME, deployment.user)
    try:
        cluster.up()
    except BaseException:
        cluster.teardown()
        raise
    return cluster


# Debian packages the machine running the harness needs for this provider
PACKAGES: tuple[str, ...] = ("docker.io", "debootstrap")
CAPABILITIES = ComposeCluster.capabilities
OPTIONS: tuple[Option, ...] = (IMAGE,)


def validate(spec: TestSpec) -> None:
    """Three nodes: each compose file defines n1..n3."""
    if spec.nodes != len(NODES):
        raise SpecError(f"--nodes {spec.nodes}: the compose files define 3 nodes (n1..n3)")


def preflight(db: Any) -> None:
    """A Docker engine and the compose CLI answer, and the image the project builds is there
    (an image of the user's own, --opt image=..., is pulled by compose if it can be)."""
    client = connect(timeout=5)
    try:
        compose_command()
        image = IMAGE.get(db.spec.options) or db.deployment.image
        if image.startswith("splitbrain/") and not images.present(client, image):
            raise EnvironmentProblem(
                f"image {image} is missing: splitbrain images build --db {db.spec.db}"
            )
    finally:
        client.close()
