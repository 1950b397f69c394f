"""The Postgres definition's compose path, by command construction only.

This is NOT an integration test: no Docker engine runs on this project's machines, so nothing
here starts a container or a PostgreSQL server. A small fake Cluster (the Cluster ABC plus the
compose provider's `port`) records exec/kill/start calls, and a fake psycopg connection answers
the definition's admin queries from canned per-node state. What is verified: which connection
parameters the harness and the nodes use per provider, which SQL runs on which node, and which
commands setup/failover/end_failover/start would exec in which container, as which user, with
which paths. What is not: that the postgres image, its entrypoint and PostgreSQL behave as
these commands assume (see docs/compose.md).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from harness.cluster import Cluster, Grudge
from harness.db import postgres as pgmod
from harness.db.postgres import Postgres
from harness.db.postgres_clients import make_client
from harness.errors import ClusterError
from harness.spec import TestSpec

PORTS = {"n1": 41001, "n2": 41002, "n3": 41003}
PGDATA = "/var/lib/postgresql/data/pgdata"
PG_BASEBACKUP = "/usr/lib/postgresql/15/bin/pg_basebackup"


class FakeCluster(Cluster):
    """Records what the definition asks of the provider. compose=True adds `port` (what
    ComposeCluster has and LocalCluster has not)."""

    def __init__(self, compose: bool = True) -> None:
        self.run_id = "abc123"
        self.nodes = ("n1", "n2", "n3")
        self.calls: list[tuple[str, str, Any]] = []  # (what, node, detail)
        self.running = dict.fromkeys(self.nodes, True)
        self.files: dict[tuple[str, str], str] = {}  # (node, path) -> content
        self.on_start: dict[str, Any] = {}  # node -> callback (the server comes up)
        if compose:
            self.port = lambda node: PORTS[node]  # type: ignore[method-assign]

    def host(self, node: str) -> str:
        return "127.0.0.1" if hasattr(self, "port") else f"198.18.9.{self.nodes.index(node) + 2}"

    def node_dir(self, node: str) -> Path:
        return Path(PGDATA) if hasattr(self, "port") else Path(f"/var/tmp/sb/{node}")

    def spawn(
        self,
        node: str,
        argv: Sequence[str],
        *,
        user: str,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.calls.append(("spawn", node, list(argv)))

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
        argv = list(argv)
        self.calls.append(("exec", node, {"argv": argv, "user": user, "input": input}))
        out = ""
        if argv[:2] == ["sh", "-c"] and argv[2].startswith("cat "):
            path = argv[-1]
            if input is not None:  # cat > "$1"
                self.files[(node, path)] = input
            else:  # cat "$1" 2>/dev/null || true
                out = self.files.get((node, path), "")
        return subprocess.CompletedProcess(argv, 0, out, "")

    def execs(self, node: str | None = None) -> list[list[str]]:
        return [c[2]["argv"] for c in self.calls if c[0] == "exec" and node in (None, c[1])]

    def kill(self, node: str) -> None:
        self.calls.append(("kill", node, None))
        self.running[node] = False

    def start(self, node: str) -> None:
        self.calls.append(("start", node, None))
        self.running[node] = True
        if node in self.on_start:
            self.on_start[node]()

    def pause(self, node: str) -> None:
        self.calls.append(("pause", node, None))

    def resume(self, node: str) -> None:
        self.calls.append(("resume", node, None))

    def is_running(self, node: str) -> bool:
        return self.running[node]

    def partition(self, grudge: Grudge) -> None:
        self.calls.append(("partition", "", {k: sorted(v) for k, v in grudge.items()}))

    def heal(self) -> None:
        self.calls.append(("heal", "", None))

    def teardown(self) -> None:
        pass


# ---------------------------------------------------------------- fake servers behind psycopg


class Server:
    """Canned state of one node's PostgreSQL, as the admin queries see it."""

    def __init__(self, node: str, primary: bool, upstream: str = "n1", lsn: int = 0x3000000):
        self.node = node
        self.primary = primary
        self.timeline = 1
        self.lsn = lsn
        self.upstream = upstream
        self.up = True
        self.settings = {"synchronous_standby_names": "", "max_connections": "100"}
        self.replicas: dict[str, str] = {}  # application_name -> state


class FakeSQL:
    """Stands in for psycopg.connect in harness.db.postgres: routes each connection by
    (host, port) to a Server and records (node, sql) pairs."""

    def __init__(self, cluster: FakeCluster, servers: dict[str, Server]) -> None:
        self.cluster = cluster
        self.servers = servers
        self.log: list[tuple[str, str]] = []
        self.dsns: list[dict[str, str]] = []

    def sql(self, node: str | None = None) -> list[str]:
        return [q for n, q in self.log if node in (None, n)]

    def connect(self, dsn: str, autocommit: bool = False) -> _Conn:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
        self.dsns.append(params)  # type: ignore[arg-type]
        by_addr = {}
        for n in self.cluster.nodes:
            port = PORTS[n] if hasattr(self.cluster, "port") else 5432
            by_addr[(self.cluster.host(n), str(port))] = n
        node = by_addr[(params["host"], str(params["port"]))]
        srv = self.servers[node]
        if not srv.up or not self.cluster.running[node]:
            raise psycopg.OperationalError(f"connection to {node} refused")
        return _Conn(self, srv)


class _Cursor:
    def __init__(self, rows: list[tuple] | None) -> None:
        self.rows = rows
        self.description = None if rows is None else [("c",)]

    def fetchall(self) -> list[tuple]:
        return self.rows or []

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None


class _Conn:
    def __init__(self, fake: FakeSQL, srv: Server) -> None:
        self.fake, self.srv = fake, srv

    def __enter__(self) -> _Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def transaction(self) -> _Conn:
        return self

    def execute(self, q: Any, args: Any = None) -> _Cursor:
        text = q.as_string(None) if isinstance(q, sql.Composable) else q
        self.fake.log.append((self.srv.node, text))
        return _Cursor(self._answer(text))

    def _answer(self, q: str) -> list[tuple] | None:
        s = self.srv
        lsn = f"0/{s.lsn:X}"
        if q == "SELECT 1":
            return [(1,)]
        if q == "SELECT pg_is_in_recovery()":
            return [(not s.primary,)]
        if q.startswith("SELECT pg_walfile_name"):
            return [(f"{s.timeline:08X}0000000000000003", lsn)]
        if q.startswith("SELECT pg_last_wal_receive_lsn"):
            return [(lsn, lsn, f"host={s.upstream} port=5432 user=replicator", s.timeline)]
        if q.startswith("SELECT pg_promote"):
            s.primary, s.timeline = True, s.timeline + 1
            return [(True,)]
        if q.startswith("SELECT application_name, state, replay_lsn"):
            return [(name, state, lsn) for name, state in s.replicas.items()]
        if q == "SELECT pg_current_wal_lsn()::text":
            return [(lsn,)]
        if q.startswith("SELECT current_setting('synchronous_standby_names')"):
            return [(s.settings["synchronous_standby_names"], int(s.settings["max_connections"]))]
        if q.startswith(("SELECT pg_reload_conf", "SELECT pg_terminate_backend")):
            return [(True,)]
        return None  # DDL, ALTER SYSTEM, INSERT


def _setup(mode: str = "async", compose: bool = True) -> tuple[Postgres, FakeCluster, FakeSQL]:
    c = FakeCluster(compose=compose)
    servers = {
        "n1": Server("n1", primary=True),
        "n2": Server("n2", primary=False),
        "n3": Server("n3", primary=False),
    }
    servers["n1"].replicas = {"n2": "streaming", "n3": "streaming"}
    if mode == "sync":
        servers["n1"].settings["synchronous_standby_names"] = "ANY 1 (n1, n2, n3)"
    fake = FakeSQL(c, servers)
    spec = TestSpec(mode=mode, provider="compose" if compose else "local", nodes=3)
    return Postgres(spec), c, fake


@pytest.fixture
def sqlfake(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def make(mode: str = "async", compose: bool = True) -> tuple[Postgres, FakeCluster, FakeSQL]:
        pg, c, fake = _setup(mode, compose)
        monkeypatch.setattr(pgmod.psycopg, "connect", fake.connect)
        monkeypatch.setattr(pgmod.time, "sleep", lambda s: None)
        return pg, c, fake

    return make


# ---------------------------------------------------------------- connection parameters


def test_harness_connects_to_the_published_port_with_the_compose_login() -> None:
    pg, c, _ = _setup()
    info = psycopg.conninfo.conninfo_to_dict(pg.conninfo(c, "n2", connect_timeout=2))
    assert info == {
        "host": "127.0.0.1",
        "port": "41002",
        "user": "postgres",
        "password": "splitbrain",
        "dbname": "splitbrain",
        "connect_timeout": "2",
    }


def test_local_connection_parameters_are_unchanged() -> None:
    pg, c, _ = _setup(compose=False)
    old = psycopg.conninfo.make_conninfo(
        host=c.host("n2"), port=5432, user="postgres", dbname="postgres", connect_timeout=2
    )
    assert pg.conninfo(c, "n2", connect_timeout=2) == old
    assert pg.peer_host(c, "n2") == "198.18.9.3"
    streaming = psycopg.conninfo.make_conninfo(
        host=c.host("n2"),
        port=5432,
        user="postgres",
        dbname="postgres",
        application_name="n1",
        connect_timeout=2,
        keepalives=1,
        keepalives_idle=2,
        keepalives_interval=1,
        keepalives_count=3,
    )
    assert pg._primary_conninfo(c, "n2", "n1") == streaming


def test_replicas_stream_from_the_service_name_not_from_the_host() -> None:
    pg, c, _ = _setup()
    info = psycopg.conninfo.conninfo_to_dict(pg._primary_conninfo(c, "n2", "n1"))
    assert info["host"] == "n2" and info["port"] == "5432"
    assert (info["user"], info["password"]) == ("replicator", "replicator")
    assert info["application_name"] == "n1"  # what synchronous_standby_names names
    assert "dbname" not in info


def test_clients_use_host_and_port_per_node() -> None:
    pg, c, _ = _setup()
    client = make_client(pg, c, process=1)
    write = psycopg.conninfo.conninfo_to_dict(client.dsn["write"])
    assert write["host"] == "127.0.0.1,127.0.0.1,127.0.0.1"
    assert write["port"] == "41002,41003,41001"  # rotated by process, paired with the hosts
    assert (write["user"], write["password"], write["dbname"]) == (
        "postgres",
        "splitbrain",
        "splitbrain",
    )
    assert write["target_session_attrs"] == "read-write"
    # every node has the same host: the history's node comes from (host, port)
    assert client.by_addr == {("127.0.0.1", p): n for n, p in PORTS.items()}
    one = psycopg.conninfo.conninfo_to_dict(make_client(pg, c, 0, node="n3").dsn["read"])
    assert (one["host"], one["port"]) == ("127.0.0.1", "41003")


def test_local_client_dsn_is_the_same_as_before() -> None:
    pg, c, _ = _setup(compose=False)
    client = make_client(pg, c, process=1)
    info = psycopg.conninfo.conninfo_to_dict(client.dsn["write"])
    assert info["host"] == "198.18.9.3,198.18.9.4,198.18.9.2"
    assert info["port"] == "5432"
    assert (info["user"], info["dbname"]) == ("postgres", "postgres")
    assert "password" not in info
    assert client.by_addr[("198.18.9.2", 5432)] == "n1"


# ---------------------------------------------------------------- setup


def test_setup_waits_tunes_checks_the_mode_and_creates_the_schema(sqlfake) -> None:
    pg, c, fake = sqlfake(mode="sync")
    pg.setup(c)
    assert c.execs() == [] and not [x for x in c.calls if x[0] == "spawn"]  # no initdb/spawn
    for node in c.nodes:
        alters = [q for q in fake.sql(node) if q.startswith("ALTER SYSTEM")]
        assert "ALTER SYSTEM SET \"wal_receiver_timeout\" = '5s'" in alters
        assert "ALTER SYSTEM SET \"tcp_user_timeout\" = '5000'" in alters
        assert not any("synchronous_standby_names" in q for q in alters)  # the command line's
    assert any(q.startswith("CREATE TABLE registers") for q in fake.sql("n1"))
    assert not any(q.startswith("CREATE") for q in fake.sql("n2") + fake.sql("n3"))
    assert {d["dbname"] for d in fake.dsns} == {"splitbrain"}


def test_setup_refuses_a_cluster_whose_replication_mode_differs(sqlfake) -> None:
    pg, c, fake = sqlfake(mode="sync")
    fake.servers["n1"].settings["synchronous_standby_names"] = ""
    with pytest.raises(ClusterError, match="SB_PG_SYNC_STANDBYS"):
        pg.setup(c)


def test_setup_waits_for_both_replicas_to_stream(sqlfake, monkeypatch) -> None:
    pg, c, fake = sqlfake()
    fake.servers["n1"].replicas = {"n2": "streaming", "n3": "catchup"}
    clock = iter(range(0, 100_000, 50))  # each look at the clock: 50 s later
    monkeypatch.setattr(pgmod.time, "monotonic", lambda: next(clock))
    with pytest.raises(ClusterError, match="replicas n3 not streaming from n1"):
        pg.setup(c)


# ---------------------------------------------------------------- failover


def test_failover_kill_fences_the_old_primary_then_promotes_over_sql(sqlfake) -> None:
    pg, c, fake = sqlfake(mode="sync")
    fake.servers["n3"].lsn = 0x2000000  # n2 is the most advanced replica
    state = pg.failover(c, "kill")
    assert (state["old_primary"], state["new_primary"]) == ("n1", "n2")
    assert state["fenced_on_restart"] is True
    # ALTER SYSTEM without a reload (the running server is unchanged), then the kill
    assert fake.sql("n1")[-1] == "ALTER SYSTEM SET default_transaction_read_only = on"
    assert "SELECT pg_reload_conf()" not in fake.sql("n1")
    assert [x[:2] for x in c.calls if x[0] == "kill"] == [("kill", "n1")]
    assert "SELECT pg_promote(true, 25)" in fake.sql("n2")
    # n3 follows n2 by its service name; nobody sets synchronous_standby_names
    (repoint,) = [q for q in fake.sql("n3") if q.startswith('ALTER SYSTEM SET "primary_conninfo"')]
    assert "host=n2 port=5432 user=replicator" in repoint
    assert not any("synchronous_standby_names" in q for q in fake.sql())
    assert c.execs() == []


def test_failover_isolate_partitions_both_sides(sqlfake) -> None:
    pg, c, fake = sqlfake()
    pg.failover(c, "isolate")
    (part,) = [x for x in c.calls if x[0] == "partition"]
    assert part[2] == {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}
    assert not any("default_transaction_read_only" in q for q in fake.sql("n1"))  # split brain


def _promoted(fake: FakeSQL, new: str = "n2") -> None:
    for name, s in fake.servers.items():
        s.upstream = new
        s.primary = name in ("n1", new)
    fake.servers[new].timeline = 2
    fake.servers[new].replicas = {"n3": "streaming"}


def test_end_failover_rejoins_the_old_primary_inside_its_container(sqlfake) -> None:
    pg, c, fake = sqlfake()
    _promoted(fake)
    c.kill("n1")  # failover by kill: the container is down

    def comes_up_as_standby() -> None:  # what the swapped-in clone starts as
        fake.servers["n1"].primary = False
        fake.servers["n2"].replicas["n1"] = "streaming"

    c.calls.clear()
    c.files[("n1", f"{PGDATA}.rejoin/postgresql.auto.conf")] = (
        "wal_receiver_timeout = '5s'\ndefault_transaction_read_only = 'on'\n"
    )
    starts = iter([lambda: None, comes_up_as_standby])
    c.on_start["n1"] = lambda: next(starts)()
    out = pg.end_failover(c, {"old_primary": "n1", "new_primary": "n2"})
    assert out["rejoined"] == "n1" and out["primary"] == "n2"

    assert [x[:2] for x in c.calls if x[0] != "exec"] == [
        ("heal", ""),
        ("start", "n1"),  # to exec, a container must run
        ("kill", "n1"),  # after the swap: the old server still runs in pgdata.old
        ("start", "n1"),
    ]
    # the running old primary is fenced before anything else
    assert fake.sql("n1")[1:4] == [
        "ALTER SYSTEM SET default_transaction_read_only = on",
        "SELECT pg_reload_conf()",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    ]
    execs = [x for x in c.calls if x[0] == "exec"]
    assert {x[1] for x in execs} == {"n1"}  # only in the old primary's container
    assert {x[2]["user"] for x in execs} == {"postgres"}
    argvs = [x[2]["argv"] for x in execs]
    assert argvs[0] == ["sh", "-c", 'rm -rf "$1"', "sh", f"{PGDATA}.rejoin"]
    bb = argvs[1]
    assert bb[0] == PG_BASEBACKUP
    assert bb[bb.index("-D") + 1] == f"{PGDATA}.rejoin"
    assert {"-R", "stream"} <= set(bb)
    src = psycopg.conninfo.conninfo_to_dict(bb[bb.index("-d") + 1])
    assert (src["host"], src["port"], src["user"], src["application_name"]) == (
        "n2",
        "5432",
        "replicator",
        "n1",
    )
    assert not any("pg_rewind" in a for argv in argvs for a in argv)
    assert [
        "sh",
        "-c",
        'rm -rf "$2" && mv "$1" "$2" && mv "$3" "$1"',
        "sh",
        PGDATA,
        f"{PGDATA}.old",
        f"{PGDATA}.rejoin",
    ] in argvs
    assert argvs[-1] == ["sh", "-c", 'rm -rf "$1"', "sh", f"{PGDATA}.old"]
    conf = c.files[("n1", f"{PGDATA}.rejoin/postgresql.auto.conf")]
    assert "default_transaction_read_only" not in conf  # the clone takes writes once promoted
    assert "wal_receiver_timeout = '5s'" in conf
    assert "primary_conninfo = 'host=n2 port=5432 user=replicator" in conf


def test_start_of_a_killed_old_primary_rejoins_when_another_primary_exists(sqlfake) -> None:
    pg, c, fake = sqlfake()
    _promoted(fake)
    c.kill("n1")
    calls = []
    pg._rejoin_compose = lambda cl, node, primary: calls.append((node, primary))  # type: ignore[method-assign]
    pg.start(c, "n1")
    assert calls == [("n1", "n2")]


def test_start_of_the_only_primary_lifts_the_fence(sqlfake) -> None:
    pg, c, fake = sqlfake()
    c.kill("n1")
    pg.start(c, "n1")
    assert fake.sql("n1")[-2:] == [
        "ALTER SYSTEM RESET default_transaction_read_only",
        "SELECT pg_reload_conf()",
    ]


def test_start_of_a_replica_repoints_it_by_service_name(sqlfake) -> None:
    pg, c, fake = sqlfake()
    _promoted(fake)
    fake.servers["n1"].primary = False  # n1 already rejoined
    fake.servers["n3"].upstream = "n1"  # n3 still names the old primary
    c.kill("n3")
    pg.start(c, "n3")
    (repoint,) = [q for q in fake.sql("n3") if q.startswith('ALTER SYSTEM SET "primary_conninfo"')]
    assert "host=n2 port=5432" in repoint
    assert c.execs() == []


def test_recover_does_not_repoint_replicas_that_already_name_the_service(sqlfake) -> None:
    pg, c, fake = sqlfake()
    fake.servers["n1"].replicas = {"n2": "streaming", "n3": "streaming"}
    out = pg.recover(c, timeout=5)
    assert out["primary"] == "n1" and out["repointed"] == []
