"""Cassandra definition: declared options, skewed client timestamps, and error classification against
cassandra-driver's real exception types (no Cassandra server runs here)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cassandra import (
    ConsistencyLevel,
    InvalidRequest,
    OperationTimedOut,
    ReadFailure,
    ReadTimeout,
    Unavailable,
    WriteFailure,
    WriteTimeout,
)
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionShutdown
from cassandra.policies import WriteType
from cassandra.protocol import OverloadedErrorMessage

from harness.db import get
from harness.db.cassandra import Cassandra
from harness.db.cassandra_clients import (
    ClientClock,
    Knobs,
    RegisterClient,
    SetClient,
    classify,
    clock_offset_ms,
)
from harness.errors import SpecError
from harness.spec import TestSpec
from workloads import Fail

Q = ConsistencyLevel.QUORUM


def spec(**kw) -> TestSpec:
    base = {
        "db": "cassandra",
        "mode": "quorum",
        "provider": "compose",
        "workload": "conflicts",
        "nemesis": ("partition",),
    }
    return TestSpec(**{**base, **kw})


@pytest.mark.parametrize(
    "exc, want",
    [
        (
            WriteTimeout(
                "timed out",
                consistency=Q,
                required_responses=2,
                received_responses=1,
                write_type=WriteType.SIMPLE,
            ),
            "info",
        ),
        (
            WriteTimeout(
                "cas timed out",
                consistency=ConsistencyLevel.SERIAL,
                required_responses=2,
                received_responses=0,
                write_type=WriteType.CAS,
            ),
            "info",
        ),
        (
            WriteFailure(
                "replica failed",
                consistency=Q,
                required_responses=2,
                received_responses=1,
                failures=1,
            ),
            "info",
        ),
        (
            OperationTimedOut(errors={"127.0.0.1:9042": "timed out"}, last_host="127.0.0.1:9042"),
            "info",
        ),
        (ConnectionShutdown("connection to 127.0.0.1 was closed"), "info"),
        (NoHostAvailable("Unable to complete", {"127.0.0.1:9042": OperationTimedOut()}), "info"),
        (
            Unavailable(
                "not enough replicas", consistency=Q, required_replicas=2, alive_replicas=1
            ),
            "fail",
        ),
        (
            ReadTimeout(
                "timed out",
                consistency=Q,
                required_responses=2,
                received_responses=1,
                data_retrieved=False,
            ),
            "fail",
        ),
        (
            ReadFailure(
                "replica failed",
                consistency=Q,
                required_responses=2,
                received_responses=1,
                failures=1,
            ),
            "fail",
        ),
        (
            NoHostAvailable(
                "Unable to connect to any servers",
                {"127.0.0.1:9042": ConnectionRefusedError(111, "refused")},
            ),
            "fail",
        ),
        (InvalidRequest("unconfigured table"), "fail"),
        (OverloadedErrorMessage(0x1001, "overloaded", None), "fail"),
        (Fail("cas: register 1 is not 3"), "fail"),
        (RuntimeError("anything else"), "info"),
    ],
)
def test_classify(exc: BaseException, want: str) -> None:
    assert classify(exc) == want
    assert Cassandra(spec()).classify(exc) == want


def test_knobs_and_spec_errors() -> None:
    k = Cassandra(spec(workload="register", options={"lwt": "true", "clock_skew_ms": 250})).knobs()
    assert (k.write_cl, k.read_cl, k.serial_cl, k.lwt, k.clock_skew_ms) == (
        "QUORUM",
        "QUORUM",
        "SERIAL",
        True,
        250.0,
    )
    k = Cassandra(spec(mode="one", options={"write_cl": "ALL"})).knobs()
    assert (k.write_cl, k.read_cl) == ("ALL", "ONE")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"mode": "serial"}, "--mode 'serial' is not one of cassandra's: quorum, one, all"),
        (
            {"nemesis": ("failover",)},
            "--nemesis 'failover' does not apply to cassandra (peer-to-peer",
        ),
        ({"workload": "append"}, "--workload 'append' is not supported on cassandra"),
        ({"options": {"clock_skew_ms": -1}}, "--opt clock_skew_ms=-1: must be >= 0"),
        ({"options": {"clock_skew_ms": "lots"}}, "--opt clock_skew_ms=lots: expected a number"),
        (
            {"options": {"lwt": "maybe"}, "workload": "register"},
            "--opt lwt=maybe: expected true or false",
        ),
        ({"options": {"lwt": True}}, "--opt lwt=true applies to --workload register"),
        ({"options": {"write_cl": "EACH_QUORUM"}}, "--opt write_cl=EACH_QUORUM: expected one of"),
        ({"options": {"serial_cl": "QUORUM"}}, "expected one of: SERIAL, LOCAL_SERIAL"),
        ({"options": {"replication_factor": 5}}, "replication_factor=5: more than the 3 nodes"),
        ({"options": {"heap": "lots"}}, "--opt heap=lots: expected a size like 512M or 1G"),
    ]
    for kw, msg in cases:
        with pytest.raises(SpecError) as e:
            get(spec(**kw))
        assert msg in str(e.value), (kw, str(e.value))


def test_clock_is_skewed_and_strictly_increasing() -> None:
    clock = ClientClock(offset_us=-5_000_000)
    now = time.time_ns() // 1000
    stamps = [clock() for _ in range(1000)]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    assert -5_100_000 < stamps[0] - now < -4_900_000


def test_per_process_offsets_are_deterministic_and_bounded() -> None:
    k = Knobs("QUORUM", "QUORUM", "SERIAL", False, 200.0, seed=7, timeout_s=5)
    offs = [clock_offset_ms(k, p) for p in range(20)]
    assert offs == [clock_offset_ms(k, p) for p in range(20)]
    assert all(-200 <= o <= 200 for o in offs) and len(set(offs)) == 20
    assert clock_offset_ms(Knobs("QUORUM", "QUORUM", "SERIAL", False, 0.0, 7, 5), 3) == 0.0


def test_plain_register_refuses_cas_without_sending() -> None:
    c = RegisterClient(
        cluster=None,  # type: ignore[arg-type]  # never reached: cas is refused before connecting
        knobs=Knobs("QUORUM", "QUORUM", "SERIAL", False, 0.0, 0, 5),
        node="n1",
        process=0,
    )
    with pytest.raises(Fail, match="cas needs lightweight transactions"):
        c.invoke("cas", [1, [2, 3]])


class _Bound:
    consistency_level = None


class _Stmt:
    def bind(self, args: Any) -> _Bound:
        return _Bound()


class _DownSession:
    """What the driver's session does once it holds the only coordinator for down."""

    def execute(self, bound: Any) -> Any:
        raise NoHostAvailable("Unable to complete the operation against any hosts", {})


def test_a_coordinator_down_for_the_driver_is_a_fail_and_a_fresh_connect_later() -> None:
    c = SetClient(
        cluster=None,  # type: ignore[arg-type]  # never reached: the session is given
        knobs=Knobs("QUORUM", "QUORUM", "SERIAL", False, 0.0, 0, 5),
        node="n2",
        process=0,
    )
    c._session, c._prepared = _DownSession(), {"add": _Stmt()}
    t = time.monotonic()
    with pytest.raises(Fail, match="n2 is down for the driver"):
        c.invoke("add", [1, 2])
    assert c._session is None  # the next op connects afresh, after RECONNECT_PAUSE_S
    assert c._refused_at >= t
