"""classify(): fail = certainly not applied, info = may have been; on psycopg's real types."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import psycopg.errors as E
import pytest

from harness.cluster import Cluster
from harness.db.pg_config import lsn
from harness.db.postgres import Postgres
from harness.db.postgres_clients import classify
from harness.spec import TestSpec
from workloads import Fail


def err(sqlstate: str, msg: str = "x") -> psycopg.Error:
    return E.lookup(sqlstate)(msg)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (err("40001", "could not serialize access due to concurrent update"), "fail"),
        (err("40P01", "deadlock detected"), "fail"),
        (err("25006", "cannot execute INSERT in a read-only transaction"), "fail"),
        (err("23505", "duplicate key value violates unique constraint"), "fail"),
        (err("42601", "syntax error"), "fail"),
        (err("42P01", 'relation "sets" does not exist'), "fail"),
        (err("22003", "integer out of range"), "fail"),
        (err("25P02", "current transaction is aborted"), "fail"),
        (err("0A000", "cannot use serializable mode in a hot standby"), "fail"),
        (Fail("cas: register 1 is not 3"), "fail"),
        (psycopg.InterfaceError("the cursor is closed"), "fail"),
        # the server went away or the op was cut short: may have committed
        (
            psycopg.OperationalError(
                "consuming input failed: server closed the connection unexpectedly"
            ),
            "info",
        ),
        (psycopg.OperationalError("sending query failed: Broken pipe"), "info"),
        (E.ConnectionTimeout("connection timeout expired"), "info"),
        (err("57P01", "terminating connection due to administrator command"), "info"),
        (err("57P02", "terminating connection because of crash of another server process"), "info"),
        (err("57014", "canceling statement due to user request"), "info"),
        (err("08006", "connection failure"), "info"),
        (err("XX000", "internal error"), "info"),
        (TimeoutError(), "info"),
        (OSError("EPIPE"), "info"),
        (RuntimeError("anything unexpected"), "info"),
    ],
)
def test_classify(exc: BaseException, expected: str) -> None:
    assert classify(exc) == expected
    assert Postgres(TestSpec()).classify(exc) == expected


def test_sqlstate_types_are_psycopg_classes() -> None:
    assert isinstance(err("40001"), E.SerializationFailure)
    assert isinstance(err("25006"), E.ReadOnlySqlTransaction)
    assert isinstance(err("57P01"), E.AdminShutdown)


class _Loopback(Cluster):
    """Only what a client needs (addresses); nothing listens there."""

    run_id = "000000"
    nodes = ("n1",)

    def __init__(self, addr: str) -> None:
        self.addr = addr

    def address(self, node: str, port: int) -> tuple[str, int]:
        return self.addr, port

    def peer_address(self, node: str) -> str:
        return self.addr

    def node_dir(self, node: str) -> Path:
        return Path("/nonexistent")

    spawn = exec = signal = start = is_running = None  # type: ignore[assignment]
    partition = heal = teardown = None  # type: ignore[assignment]


_Loopback.__abstractmethods__ = frozenset()


def test_connect_failure_is_a_fail() -> None:
    addr = "127.0.0.77"
    with socket.socket() as s:
        if s.connect_ex((addr, 5432)) == 0:
            pytest.skip(f"something listens on {addr}:5432")
    client = Postgres(TestSpec()).client(_Loopback(addr), 0)
    with pytest.raises(Fail, match="connect"):
        client.invoke("add", [0, 1])
    client.abort()  # no connection: nothing to do, no error
    client.close()


def test_lsn() -> None:
    assert lsn("0/0") == 0
    assert lsn("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert lsn(None) == -1
