"""MongoDB definition: knob validation and error classification against pymongo's real
exception types (no MongoDB server runs here)."""

from __future__ import annotations

import pytest
from bson import ObjectId
from pymongo import errors as E

from harness.db import get
from harness.db.mongodb import MongoDB
from harness.db.mongodb_clients import classify, pick_primary
from harness.errors import SpecError
from harness.spec import TestSpec
from workloads import Fail


def spec(**kw) -> TestSpec:
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
    assert (
        get(spec(options={"read_preference": "secondary"})).knobs().read_preference == "secondary"
    )
    assert get(spec(mode="w1", options={"write_concern": 1})).knobs().w == 1


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"mode": "async"}, "--mode 'async' is not one of mongodb's: w1, majority"),
        (
            {"options": {"read_concern": "available"}},
            "option read_concern='available' is not one of: local, majority, linearizable, snapshot",
        ),
        (
            {"options": {"read_preference": "nearest"}},
            "option read_preference='nearest' is not one of: primary, secondary",
        ),
        (
            {"options": {"write_concern": 1}},
            "option write_concern=1 disagrees with --mode majority",
        ),
        (
            {"options": {"read_concern": "linearizable", "read_preference": "secondary"}},
            "needs read_preference=primary",
        ),
        ({"workload": "append", "read_from": "replica"}, "transactions"),
        ({"provider": "local"}, "--db mongodb runs only with --provider compose"),
        ({"workload": "counter"}, "--workload 'counter' is not supported on mongodb"),
    ],
)
def test_spec_errors_are_one_line(kw: dict, msg: str) -> None:
    with pytest.raises(SpecError) as e:
        get(spec(**kw))
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_pick_primary_prefers_the_newest_election() -> None:
    old, new = ObjectId("7fffffff0000000000000003"), ObjectId("7fffffff0000000000000004")
    hellos = {
        "n1": {"isWritablePrimary": True, "electionId": old, "setVersion": 1},  # stale, cut off
        "n2": {"isWritablePrimary": True, "electionId": new, "setVersion": 1},
        "n3": {"isWritablePrimary": False, "secondary": True},
    }
    assert pick_primary(hellos) == "n2"
    assert pick_primary({"n1": None, "n2": {"isWritablePrimary": False}}) is None


def test_auto_picks_compose_for_mongodb(tmp_path, monkeypatch) -> None:
    from harness.providers.compose import pick_provider

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert pick_provider(spec(provider="auto")) == "compose"
