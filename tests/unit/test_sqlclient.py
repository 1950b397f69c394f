"""The shared SQL client machinery: dispatch, abort by socket shutdown, close."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pymysql
import pytest

from harness.db.galera import Galera
from harness.db.galera_clients import CLIENTS as GALERA_CLIENTS
from harness.db.sqlclient import SqlClient
from harness.spec import TestSpec
from workloads import Fail

GaleraSet = GALERA_CLIENTS["set"]


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closed = False

    def close(self) -> None:
        self.closed = True


class _Client(SqlClient):
    ops = {"echo": "echo"}

    def echo(self, value: Any) -> Any:
        return value

    def _socket_fd(self, conn: _Conn) -> int | None:
        return None if conn.closed else conn.sock.fileno()


def test_dispatch_and_unknown_op() -> None:
    c = _Client()
    assert c.invoke("echo", [1]) == [1]
    with pytest.raises(Fail, match="unknown op 'nope' for _Client"):
        c.invoke("nope", None)


def test_abort_shuts_the_active_socket_down_and_leaves_the_fd_to_the_driver() -> None:
    a, b = socket.socketpair()
    c = _Client()
    conn = _Conn(a)
    got: list[bytes] = []
    with c._running(conn):
        t = threading.Thread(target=lambda: got.append(a.recv(10)))  # blocked like a query
        t.start()
        c.abort()
        t.join(5)
    assert got == [b""]  # the blocked read returned: the socket was shut down
    assert a.fileno() != -1  # our dup was closed, the driver's descriptor was not
    assert c.active is None
    c.abort()  # nothing active: nothing to do
    a.close()
    b.close()


def test_close_drops_every_connection() -> None:
    a, b = socket.socketpair()
    c = _Client()
    c.conns = {"write": _Conn(a), "read": _Conn(b)}
    conns = list(c.conns.values())
    c.close()
    assert c.conns == {} and all(x.closed for x in conns)
    a.close()
    b.close()


def test_galera_abort_uses_pymysqls_socket() -> None:
    spec = TestSpec(db="galera", mode="multi-primary", workload="set", nemesis=())

    class _C:
        nodes = ("n1", "n2", "n3")

    client = GaleraSet(Galera(spec), _C(), 0)  # type: ignore[arg-type]
    a, b = socket.socketpair()
    conn = pymysql.connections.Connection(defer_connect=True)
    conn._sock = a
    with client._running(conn):
        client.abort()
    assert a.recv(10) == b""
    conn._sock = None  # PyMySQL's state once it closed the connection
    with client._running(conn):
        client.abort()
    a.close()
    b.close()


# ---------------------------------------------------------------- one family over a dialect


class _Cursor:
    """A DB-API cursor over canned rows that records the statements it was given."""

    def __init__(self, rows: dict[str, list[tuple[Any, ...]]], rowcount: int = 1) -> None:
        self.rows, self.rowcount, self.seen = rows, rowcount, []
        self._last: list[tuple[Any, ...]] = []

    def execute(self, q: str, args: tuple[Any, ...]) -> None:
        self.seen.append((q, args))
        self._last = next((r for k, r in self.rows.items() if q.startswith(k)), [])

    def fetchone(self) -> Any:
        return self._last[0] if self._last else None

    def fetchall(self) -> list[Any]:
        return self._last


def _client(dialect_clients: dict[str, type], workload: str, cur: _Cursor) -> Any:
    cls = dialect_clients[workload]
    c = cls.__new__(cls)  # the connection layer is replaced: body(cursor) runs on ours
    c._txn = lambda role, body: body(cur)
    return c


@pytest.mark.parametrize("db", ["postgres", "galera"])
def test_the_same_ops_run_over_each_dialect(db: str) -> None:
    if db == "postgres":
        from harness.db.postgres_clients import CLIENTS
        from harness.db.postgres_clients import PG as dialect

        stored = [1, 2]
    else:
        from harness.db.galera_clients import CLIENTS
        from harness.db.galera_clients import MARIADB as dialect

        stored = "1,2"
    cur = _Cursor({"SELECT v FROM lists": [(stored,)]})
    c = _client(CLIENTS, "append", cur)
    out = c.invoke("txn", [["append", 3, 3], ["r", 3, None], ["r", 4, None]])
    assert out == [["append", 3, 3], ["r", 3, [1, 2]], ["r", 4, [1, 2]]]
    assert cur.seen[0] == (dialect.statements["list_append"], (3, dialect.encode_element(3)))
    cur = _Cursor({}, rowcount=0)
    with pytest.raises(Fail, match="cas: register 1 is not 2"):
        _client(CLIENTS, "register", cur).invoke("cas", [1, [2, 3]])
    with pytest.raises(Fail, match="account 0 has less than 5"):
        _client(CLIENTS, "bank", cur).invoke("transfer", {"from": 0, "to": 1, "amount": 5})
    cur = _Cursor({"SELECT k, v FROM sets": [(1, 10), (1, 11), (2, 20)]})
    assert _client(CLIENTS, "set", cur).invoke("final-read", None) == [[1, [10, 11]], [2, [20]]]


def test_each_dialect_has_every_statement() -> None:
    from harness.db.galera_clients import MARIADB
    from harness.db.postgres_clients import PG

    assert set(PG.statements) == set(MARIADB.statements)


def test_each_workload_sets_up_its_own_tables() -> None:
    """Jepsen's setup!: the run's workload makes its tables (and the bank its accounts, from
    the workload's own opening balances); no database module lists another workload's."""
    import random

    import workloads
    from harness.db.galera_clients import MARIADB
    from harness.db.postgres_clients import PG
    from harness.db.sqlclient import WORKLOAD_OPS, setup_statements
    from harness.spec import TestSpec

    for dialect in (PG, MARIADB):
        assert set(dialect.tables) == set(WORKLOAD_OPS)
        for name in WORKLOAD_OPS:
            wl = workloads.get(TestSpec(workload=name, nemesis=()), random.Random(0))
            stmts = setup_statements(dialect, wl)
            assert stmts[: len(dialect.tables[name])] == list(dialect.tables[name])
            assert all(s.startswith(("CREATE", "INSERT")) for s in stmts)
    bank = workloads.get(
        TestSpec(workload="bank", nemesis=(), options={"accounts": 3, "initial_balance": 7}),
        random.Random(0),
    )
    assert setup_statements(PG, bank)[-1] == "INSERT INTO accounts VALUES (0, 7), (1, 7), (2, 7)"
