"""MongoDB definition against the node contract: setup, initiation and recovery driven
through a recording Cluster and a scripted stand-in for pymongo's MongoClient (no MongoDB
server runs here); option validation; error classification against pymongo's real exception
types; the real MongoClient's connection options."""

from __future__ import annotations

import shlex
import signal
import subprocess
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

import pytest
from bson import ObjectId
from pymongo import errors as E

from harness.cluster import Cluster, Command, Grudge, Service
from harness.db import get
from harness.db import mongodb_clients as mc
from harness.db.mongodb import MongoDB
from harness.db.mongodb_clients import classify, pick_primary
from harness.errors import ClusterError, SpecError
from harness.spec import TestSpec
from workloads import Fail


def spec(**kw: Any) -> TestSpec:
    base = {"db": "mongodb", "mode": "majority", "provider": "compose", "workload": "register"}
    return TestSpec(**{**base, **kw})


@pytest.mark.parametrize(
    "exc, want",
    [
        # never sent / definitely rejected
        (E.ServerSelectionTimeoutError("no servers"), "fail"),
        (E.NotPrimaryError("not primary", {"code": 10107, "errmsg": "not primary"}), "fail"),
        (
            E.NotPrimaryError(
                "not primary", {"code": 13435, "errmsg": "not primary and secondaryOk=false"}
            ),
            "fail",
        ),
        (E.DuplicateKeyError("E11000 duplicate key", 11000), "fail"),
        (E.WriteError("Document failed validation", 121), "fail"),
        (E.OperationFailure("bad query", 2), "fail"),
        (
            E.OperationFailure(
                "NoSuchTransaction", 251, {"errorLabels": ["TransientTransactionError"]}
            ),
            "fail",
        ),
        (E.BulkWriteError({"writeErrors": [{"code": 11000}], "writeConcernErrors": []}), "fail"),
        (Fail("cas: register 1 is not 3"), "fail"),
        # may have been applied
        (
            E.NotPrimaryError(
                "interrupted", {"code": 11602, "errmsg": "InterruptedDueToReplStateChange"}
            ),
            "info",
        ),
        (E.NotPrimaryError("stepped down", {"code": 189, "errmsg": "PrimarySteppedDown"}), "info"),
        (E.AutoReconnect("connection closed"), "info"),
        (E.NetworkTimeout("timed out"), "info"),
        (E.ConnectionFailure("reset"), "info"),
        (
            E.WriteConcernError(
                "waiting for replication timed out", 64, {"errInfo": {"wtimeout": True}}
            ),
            "info",
        ),
        (E.WTimeoutError("waiting for replication timed out", 64), "info"),
        (E.ExecutionTimeout("operation exceeded time limit", 50), "info"),
        (E.BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64}]}), "info"),
        (
            E.OperationFailure("commit", 91, {"errorLabels": ["UnknownTransactionCommitResult"]}),
            "info",
        ),
        (E.OperationFailure("shutdown", 11600), "info"),
        (RuntimeError("something else"), "info"),
    ],
)
def test_classify(exc: BaseException, want: str) -> None:
    assert classify(exc) == want
    assert MongoDB(spec()).classify(exc) == want


def test_labels_win_over_types() -> None:
    # A network error during commitTransaction carries UnknownTransactionCommitResult,
    # an aborted transaction's network error TransientTransactionError.
    # (pymongo labels network errors the same way, with _add_error_label)
    e = E.AutoReconnect("connection lost during commitTransaction")
    e._add_error_label("UnknownTransactionCommitResult")
    assert classify(e) == "info"
    e = E.AutoReconnect("connection lost inside the transaction")
    e._add_error_label("TransientTransactionError")
    assert classify(e) == "fail"
    e = E.DuplicateKeyError("E11000", 11000, {"errorLabels": ["UnknownTransactionCommitResult"]})
    assert classify(e) == "info"


def test_knobs_defaults_and_validation() -> None:
    k = get(spec(mode="w1")).knobs()
    assert (k.w, k.read_concern, k.read_preference, k.timeout_ms) == (1, "local", "primary", 5000)
    k = get(spec(options={"read_concern": "linearizable"})).knobs()
    assert (k.w, k.read_concern) == ("majority", "linearizable")
    assert get(spec(read_from="replica")).knobs().read_preference == "secondary"
    assert get(spec(read_from="any")).knobs().read_preference == "any"
    assert (
        get(spec(options={"read_preference": "secondary"})).knobs().read_preference == "secondary"
    )
    assert get(spec(mode="w1", options={"write_concern": 1})).knobs().w == 1
    assert get(spec(options={"write_concern": "majority"})).knobs().w == "majority"


def test_options_are_declared() -> None:
    names = [o.name for o in MongoDB.options]
    assert names == [
        "read_concern",
        "read_preference",
        "write_concern",
        "election_timeout_ms",
        "wiredtiger_cache_gb",
    ]
    assert all(o.help for o in MongoDB.options)


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"mode": "async"}, "--mode 'async' is not one of mongodb's: majority, w1"),
        (
            {"options": {"read_concern": "available"}},
            "--opt read_concern=available: expected one of: auto, local, majority, "
            "linearizable, snapshot",
        ),
        (
            {"options": {"read_preference": "nearest"}},
            "--opt read_preference=nearest: expected one of: auto, primary, secondary",
        ),
        (
            {"options": {"write_concern": 1}},
            "--opt write_concern=1 disagrees with --mode majority (write concern majority)",
        ),
        (
            {"options": {"read_concern": "linearizable", "read_preference": "secondary"}},
            "needs read_preference=primary",
        ),
        ({"workload": "append", "read_from": "replica"}, "transactions"),
        ({"workload": "counter"}, "--workload 'counter' is not supported on mongodb"),
        ({"options": {"election_timeout_ms": 100}}, "election_timeout_ms=100: must be >= 500"),
    ],
)
def test_spec_errors_are_one_line(kw: dict, msg: str) -> None:
    with pytest.raises(SpecError) as e:
        get(spec(**kw))
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_any_provider_is_accepted() -> None:
    """The definition never asks which provider it runs on (issue 10)."""
    for provider in ("local", "compose", "auto"):
        assert get(spec(provider=provider)).knobs().w == "majority"
    import inspect

    import harness.db.mongodb as m

    src = inspect.getsource(m) + inspect.getsource(mc)
    for asks in (
        "spec.provider",
        "cluster.port(",
        "cluster.host(",
        "isinstance(cluster",
        "getattr(cluster",
    ):
        assert asks not in src, asks


def test_pick_primary_prefers_the_newest_election() -> None:
    old, new = ObjectId("7fffffff0000000000000003"), ObjectId("7fffffff0000000000000004")
    hellos = {
        "n1": {"isWritablePrimary": True, "electionId": old, "setVersion": 1},  # stale, cut off
        "n2": {"isWritablePrimary": True, "electionId": new, "setVersion": 1},
        "n3": {"isWritablePrimary": False, "secondary": True},
    }
    assert pick_primary(hellos) == "n2"
    assert pick_primary({"n1": None, "n2": {"isWritablePrimary": False}}) is None


# ---------------------------------------------------------------- through the contract


class RecordingCluster(Cluster):
    """The node contract with nothing behind it: records what the definition asks."""

    def __init__(self) -> None:
        self.run_id = "unit"
        self.nodes = ("n1", "n2", "n3")
        self.calls: list[tuple[Any, ...]] = []
        self.running: set[str] = set()
        self.files: dict[tuple[str, str], str] = {}

    def address(self, node: str, port: int) -> tuple[str, int]:
        return "127.0.0.1", 40000 + 10 * int(node[1:]) + port % 10

    def peer_address(self, node: str) -> str:
        return f"peer-{node}"

    def node_dir(self, node: str) -> PurePosixPath:
        return PurePosixPath("/nodes") / node

    def setting(self, node: str, key: str, default: str) -> str:
        return "/opt/mongo/bin/mongod" if key == "mongod" else default

    def run_command(self, node: str, cmd: Command) -> subprocess.CompletedProcess[str]:
        argv, user = cmd.argv, cmd.user
        self.calls.append(("exec", node, list(argv), user))
        if argv[:2] == ["sh", "-c"] and "cat" in argv[2]:  # read_file
            path = shlex.split(argv[2])[1]
            return subprocess.CompletedProcess(list(argv), 0, self.files.get((node, path), ""))
        return subprocess.CompletedProcess(list(argv), 0, "", "")

    def launch(self, node: str, service: Service) -> None:
        self.calls.append(("spawn", node, service.argv, service.user, str(service.log)))
        self.running.add(node)

    def start(self, node: str) -> None:
        self.calls.append(("start", node))
        self.running.add(node)

    def is_running(self, node: str) -> bool:
        return node in self.running

    def signal(self, node: str, sig: signal.Signals) -> None:
        self.calls.append(("signal", node, sig))
        if sig == signal.SIGKILL:
            self.running.discard(node)

    def partition(self, grudge: Grudge) -> None:
        self.calls.append(("partition", {n: set(v) for n, v in grudge.items()}))

    def heal(self) -> None:
        self.calls.append(("heal",))

    def teardown(self) -> None:
        pass


class FakeSet:
    """Scripted answers of three mongod members, keyed by the node a client connected to."""

    def __init__(self, cluster: RecordingCluster, initiated: bool = False) -> None:
        self.cluster = cluster
        self.initiated = initiated
        self.commands: list[tuple[str, str, Any]] = []  # (node, command, argument)
        self.collections: list[str] = []
        self.primary = "n1"
        by_addr = {cluster.address(n, 27017): n for n in cluster.nodes}
        self.by_addr = by_addr

    def connect(self, cluster: Cluster, node: str, timeout_ms: int, **kw: Any) -> Any:
        return _FakeClient(self, node)


class _FakeClient:
    def __init__(self, s: FakeSet, node: str) -> None:
        self.s, self.node = s, node
        self.admin = self

    def command(self, name: str, arg: Any = None) -> dict[str, Any]:
        s = self.s
        s.commands.append((self.node, name, arg))
        if self.node not in s.cluster.running:
            raise E.ServerSelectionTimeoutError(f"{self.node}: connection refused")
        if name == "ping":
            return {"ok": 1}
        if name == "replSetGetStatus":
            if not s.initiated:
                raise E.OperationFailure("no replset config has been received", 94)
            return {
                "ok": 1,
                "members": [
                    {
                        "name": f"peer-{n}:27017",
                        "stateStr": "PRIMARY" if n == s.primary else "SECONDARY",
                        "optime": {"ts": 7},
                    }
                    for n in s.cluster.nodes
                ],
            }
        if name == "replSetInitiate":
            s.initiated = True
            return {"ok": 1}
        if name == "hello":
            return {"isWritablePrimary": s.initiated and self.node == s.primary}
        raise AssertionError(f"unexpected command {name}")

    def __getitem__(self, name: str) -> Any:
        return self

    def list_collection_names(self) -> list[str]:
        return list(self.s.collections)

    def create_collection(self, name: str) -> None:
        self.s.collections.append(name)

    def create_index(self, key: str) -> None:
        self.s.collections.append(f"index:{key}")

    def close(self) -> None:
        pass


@pytest.fixture
def rs(monkeypatch: pytest.MonkeyPatch) -> tuple[RecordingCluster, FakeSet]:
    cluster = RecordingCluster()
    fake = FakeSet(cluster)
    monkeypatch.setattr(mc, "connect", fake.connect)
    return cluster, fake


def test_setup_spawns_mongod_per_node_and_initiates_the_set(rs) -> None:
    cluster, fake = rs
    MongoDB(spec(options={"election_timeout_ms": 1500})).setup(cluster)
    spawns = [c for c in cluster.calls if c[0] == "spawn"]
    assert spawns == [
        (
            "spawn",
            n,
            [
                "/opt/mongo/bin/mongod",
                *("--replSet", "rs0", "--bind_ip_all", "--port", "27017"),
                *("--dbpath", f"/nodes/{n}/data"),
                *("--unixSocketPrefix", f"/nodes/{n}"),
                *("--wiredTigerCacheSizeGB", "0.25", "--oplogSize", "256"),
            ],
            "mongodb",
            f"/nodes/{n}/mongod.log",
        )
        for n in ("n1", "n2", "n3")
    ]
    # the data directory is made as the database's user before mongod starts
    first = cluster.calls[0]
    assert first == ("exec", "n1", ["mkdir", "-p", "/nodes/n1/data"], "mongodb")
    assert {c[1] for c in cluster.calls if c[0] == "exec"} == {"n1", "n2", "n3"}
    inits = [(n, arg) for n, cmd, arg in fake.commands if cmd == "replSetInitiate"]
    assert inits == [
        (
            "n1",
            {
                "_id": "rs0",
                "members": [
                    {"_id": 0, "host": "peer-n1:27017"},
                    {"_id": 1, "host": "peer-n2:27017"},
                    {"_id": 2, "host": "peer-n3:27017"},
                ],
                "settings": {"electionTimeoutMillis": 1500},
            },
        )
    ]
    assert {n for n, cmd, _ in fake.commands if cmd == "ping"} == {"n1", "n2", "n3"}
    assert fake.collections == ["set", "registers", "lists", "index:k"]


def test_setup_leaves_an_initiated_set_alone(rs) -> None:
    cluster, fake = rs
    fake.initiated = True
    MongoDB(spec()).setup(cluster)
    assert [c for _, c, _ in fake.commands if c == "replSetInitiate"] == []


def test_a_mongod_that_exits_is_one_line_with_its_log(rs, monkeypatch) -> None:
    cluster, fake = rs
    cluster.files[("n2", "/nodes/n2/mongod.log")] = "starting\nDBPathInUse: lock file taken\n"
    real_spawn = cluster.spawn

    def spawn(node: str, argv: Sequence[str], **kw: Any) -> None:
        real_spawn(node, argv, **kw)
        if node == "n2":
            cluster.running.discard(node)  # died at once

    monkeypatch.setattr(cluster, "spawn", spawn)
    with pytest.raises(ClusterError) as e:
        MongoDB(spec()).setup(cluster)
    assert str(e.value) == "mongodb: n2 exited: DBPathInUse: lock file taken"


def test_recover_restarts_dead_members_and_maps_members_to_nodes(rs) -> None:
    cluster, fake = rs
    fake.initiated, fake.primary = True, "n3"
    cluster.running = {"n1", "n3"}
    out = MongoDB(spec()).recover(cluster, timeout=5)
    assert ("start", "n2") in cluster.calls
    assert out["primary"] == "n3" and out["restarted"] == ["n2"]
    assert out["states"] == {"n1": "SECONDARY", "n2": "SECONDARY", "n3": "PRIMARY"}


def test_failover_kills_or_isolates_the_primary(rs) -> None:
    cluster, fake = rs
    fake.initiated, fake.primary = True, "n2"
    cluster.running = {"n1", "n2", "n3"}
    db = MongoDB(spec())
    assert db.failover(cluster, "isolate") == {"how": "isolate", "old_primary": "n2"}
    assert cluster.calls[-1] == ("partition", {"n2": {"n1", "n3"}, "n1": {"n2"}, "n3": {"n2"}})
    state = db.failover(cluster, "kill")
    assert cluster.calls[-1] == ("signal", "n2", signal.SIGKILL)
    fake.primary = "n1"
    assert db.end_failover(cluster, state) == {"rejoining": "n2", "primary": "n1"}
    assert ("start", "n2") in cluster.calls


def test_clients_connect_directly_to_the_nodes_address() -> None:
    cluster = RecordingCluster()
    c = mc.connect(cluster, "n2", 1234)
    try:
        assert c._topology_settings.seeds == {cluster.address("n2", 27017)}
        assert c.options.direct_connection is True
        assert c.options.retry_writes is False and c.options.retry_reads is False
        assert c.options.server_selection_timeout == 1.234
    finally:
        c.close()


def test_deployment_is_data_for_the_provider() -> None:
    d = MongoDB.deployment
    assert (d.user, d.ports, d.image) == ("mongodb", {"client": 27017}, "splitbrain/mongodb:7.0")
    assert d.required() == [("mongod", "the MongoDB server (mongodb-org-server)")]
    assert d.required(lambda key, default: {"mongod": "/opt/m/mongod"}[key]) == [
        ("/opt/m/mongod", "the MongoDB server (mongodb-org-server)")
    ]
