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

GaleraSet = GALERA_CLIENTS["set"]
from workloads import Fail


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
