"""classify() of the Galera clients against PyMySQL's real exception types: the exceptions are
made by PyMySQL itself from MariaDB error packets (err.raise_mysql_exception), as a live
server answer would make them, or raised by PyMySQL's own socket handling."""

from __future__ import annotations

import socket
import struct

import pymysql
import pytest
from pymysql import err

from harness.db.galera_clients import classify, route
from harness.errors import SpecError
from harness.spec import TestSpec
from workloads import Fail


def server_error(code: int, message: str, sqlstate: str = "HY000") -> pymysql.Error:
    """The exception PyMySQL raises for a MariaDB ERR packet with this code."""
    packet = b"\xff" + struct.pack("<h", code) + b"#" + sqlstate.encode() + message.encode()
    with pytest.raises(pymysql.Error) as e:
        err.raise_mysql_exception(packet)
    return e.value


@pytest.mark.parametrize(
    "code, message, expected",
    [
        (1213, "Deadlock found when trying to get lock; try restarting transaction", "fail"),
        (1047, "WSREP has not yet prepared node for application use", "fail"),
        (1205, "Lock wait timeout exceeded; try restarting transaction", "fail"),
        (1062, "Duplicate entry '1-2' for key 'PRIMARY'", "fail"),
        (1180, 'Got error 6 "No such device or address" during COMMIT', "info"),
        (1927, "Connection was killed", "info"),
        (1053, "Server shutdown in progress", "info"),
    ],
)
def test_server_answers(code: int, message: str, expected: str) -> None:
    e = server_error(code, message)
    assert classify(e) == expected, (type(e).__name__, code)


def test_certification_failure_is_pymysql_operational_error() -> None:
    e = server_error(1213, "Deadlock found when trying to get lock; try restarting transaction")
    assert type(e) is err.OperationalError and e.args[0] == 1213


def test_connection_refused_before_sending_is_fail() -> None:
    # nothing listens on port 1 of localhost: PyMySQL raises 2003 from connect()
    with pytest.raises(pymysql.Error) as e:
        pymysql.connect(host="127.0.0.1", port=1, connect_timeout=1)
    assert e.value.args[0] == 2003
    assert classify(e.value) == "fail"


def _lost_mid_query(shutdown_before_answer: bool) -> pymysql.Error:
    """A fake server that greets nothing and closes: PyMySQL's read path raises 2013."""
    a, b = socket.socketpair()
    conn = pymysql.connections.Connection(defer_connect=True)
    conn._sock = a
    conn._rfile = a.makefile("rb")
    conn._next_seq_id = 0
    conn._read_timeout = 1
    conn._current_timeout = 1
    if shutdown_before_answer:
        b.close()
    else:
        b.sendall(b"\x05\x00\x00")  # half a packet header, then gone
        b.close()
    with pytest.raises(pymysql.Error) as e:
        conn._read_packet()
    a.close()
    return e.value


@pytest.mark.parametrize("partial", [False, True])
def test_lost_connection_mid_op_is_info(partial: bool) -> None:
    e = _lost_mid_query(shutdown_before_answer=not partial)
    assert e.args[0] == 2013, e.args
    assert classify(e) == "info"


def test_gone_away_on_write_is_info() -> None:
    a, b = socket.socketpair()
    b.close()
    conn = pymysql.connections.Connection(defer_connect=True)
    conn._sock = a
    conn._write_timeout = 1
    conn._current_timeout = None
    with pytest.raises(pymysql.Error) as e:
        for _ in range(100):  # the first send may still be buffered
            conn._write_bytes(b"x" * 65536)
    a.close()
    assert e.value.args[0] == 2006
    assert classify(e.value) == "info"


def test_closed_connection_and_other_errors() -> None:
    conn = pymysql.connections.Connection(defer_connect=True)
    with pytest.raises(err.InterfaceError) as e:
        conn.cursor().execute("SELECT 1")  # never connected: nothing sent
    assert classify(e.value) == "fail"
    assert classify(Fail("cas: register 1 is not 3")) == "fail"
    assert classify(TimeoutError("timed out")) == "info"
    assert classify(ConnectionResetError()) == "info"


def _galera(**kw):  # type: ignore[no-untyped-def]
    from harness.db.galera import Galera

    spec = TestSpec(db="galera", mode="multi-primary", nemesis=(), **kw)
    g = Galera(spec)
    g.validate()
    return g


class _C:
    nodes = ("n1", "n2", "n3")


def test_routing_write_to_all_spreads_workers_over_nodes() -> None:
    g = _galera()
    assert [route(g, _C(), p) for p in range(4)] == [
        ("n1", "n1"), ("n2", "n2"), ("n3", "n3"), ("n1", "n1"),
    ]  # fmt: skip
    assert route(g, _C(), 5, node="n2") == ("n2", "n2")


def test_routing_write_to_one() -> None:
    g = _galera(options={"write_to": "one"}, read_from="replica")
    assert {route(g, _C(), p) for p in range(4)} == {("n1", "n2"), ("n1", "n3")}
    g = _galera(options={"write_to": "one"}, read_from="primary")
    assert route(g, _C(), 7) == ("n1", "n1")


@pytest.mark.parametrize(
    "options, flag",
    [({"wsrep_sync_wait": 16}, "wsrep_sync_wait"), ({"wsrep_sync_wait": "x"}, "wsrep_sync_wait"),
     ({"write_to": "two"}, "write_to")],
)  # fmt: skip
def test_bad_options_are_one_line_spec_errors(options: dict, flag: str) -> None:
    from harness.plan import prepare

    with pytest.raises(SpecError) as e:
        prepare(TestSpec(db="galera", mode="multi-primary", nemesis=(), options=options))
    assert flag in str(e.value) and "\n" not in str(e.value)


def test_failover_is_refused_for_peer_to_peer() -> None:
    with pytest.raises(SpecError, match="no primary to fail over"):
        from harness.db.galera import Galera

        Galera(TestSpec(db="galera", mode="multi-primary", nemesis=("failover",))).validate()
