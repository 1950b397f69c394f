"""pymongo clients for the set, register and append workloads, and error classification.

Every member is reached directly (directConnection=true) at cluster.address(node, 27017):
the replica set's member names are peer addresses (compose service names, say), which the
harness's host may not resolve. The client finds the primary itself with `hello` (the member claiming
to be writable primary with the highest electionId) and keeps using it until an error says
otherwise, as a driver does; a primary cut off from the majority therefore keeps taking
w=1 writes until it steps down, which is the behaviour under test.

retryWrites/retryReads are off so each op is attempted exactly once.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Literal

import pymongo
from pymongo import errors as E
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference
from pymongo.write_concern import WriteConcern

from harness.cluster import Cluster
from workloads import Client, Fail

DB = "splitbrain"
PORT = 27017  # every member's port (the definition declares it to providers)
# Rejections sent before the op ran: a secondary (or stepped-down primary) refused a write.
NOT_PRIMARY_DEFINITE = {
    10107,
    13435,
    10058,
}  # NotWritablePrimary, NotPrimaryNoSecondaryOk, LegacyNotPrimary
# Server errors that may interrupt an op half way: it may have been applied.
MAYBE_APPLIED = {
    6,
    7,
    89,
    9001,  # HostUnreachable, HostNotFound, NetworkTimeout, SocketException
    50,
    262,  # MaxTimeMSExpired, ExceededTimeLimit
    91,
    189,
    11600,
    11602,
    13436,  # shutdown / stepped down / interrupted mid-op
    64,
    100,  # WriteConcernFailed, UnsatisfiableWriteConcern (applied on the primary)
}


@dataclass(frozen=True)
class Knobs:
    w: int | str  # 1 | "majority"
    read_concern: str  # local | majority | linearizable | snapshot
    read_preference: str  # primary | secondary | any (the client's own node)
    timeout_ms: int


def classify(exc: BaseException) -> Literal["fail", "info"]:
    """fail: certainly not applied; info: may have been applied."""
    if isinstance(exc, Fail):
        return "fail"
    if isinstance(exc, E.PyMongoError):
        if exc.has_error_label("UnknownTransactionCommitResult"):
            return "info"
        if exc.has_error_label("TransientTransactionError"):
            return "fail"  # the server aborted the transaction: nothing of it committed
    if isinstance(exc, E.ServerSelectionTimeoutError):
        return "fail"  # no server was selected: the op was never sent
    if isinstance(exc, E.NotPrimaryError):  # an AutoReconnect: check before the generic case
        return "fail" if _code(exc) in NOT_PRIMARY_DEFINITE else "info"
    if isinstance(exc, E.WriteConcernError):
        return "info"  # applied on the primary, not (yet) replicated as asked: may survive
    if isinstance(exc, E.BulkWriteError):
        return "info" if (exc.details or {}).get("writeConcernErrors") else "fail"
    if isinstance(exc, E.ConnectionFailure):
        return "info"  # AutoReconnect, NetworkTimeout: lost mid-op
    if isinstance(exc, E.WriteError):
        return "fail"  # DuplicateKeyError and other definite per-document rejections
    if isinstance(exc, E.OperationFailure):
        return "info" if exc.code in MAYBE_APPLIED else "fail"
    return "info"


def _code(exc: E.PyMongoError) -> int | None:
    details = getattr(exc, "details", None)
    if isinstance(details, dict):
        return details.get("code")
    return getattr(exc, "code", None)


def connect(cluster: Cluster, node: str, timeout_ms: int, **kw: Any) -> pymongo.MongoClient:
    host, port = cluster.address(node, PORT)
    return pymongo.MongoClient(
        host,
        port,
        directConnection=True,
        retryWrites=False,
        retryReads=False,
        serverSelectionTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        **kw,
    )


def hello_all(cluster: Cluster, timeout_ms: int = 1500) -> dict[str, dict[str, Any] | None]:
    """`hello` of every member (None if it did not answer)."""
    out: dict[str, dict[str, Any] | None] = {}

    def one(node: str) -> None:
        c = connect(cluster, node, timeout_ms)
        try:
            out[node] = c.admin.command("hello")
        except E.PyMongoError:
            out[node] = None
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in cluster.nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def pick_primary(hellos: dict[str, dict[str, Any] | None]) -> str | None:
    """The member that claims to be writable primary with the newest election (a stale primary
    cut off from the majority may still claim it for up to electionTimeoutMillis)."""
    claims = [
        (h.get("electionId"), h.get("setVersion", 0), n)
        for n, h in hellos.items()
        if h and h.get("isWritablePrimary")
    ]
    if not claims:
        return None
    return max(claims, key=lambda c: (c[0].binary if c[0] is not None else b"", c[1]))[2]


class MongoClientBase(Client):
    ops: dict[str, str] = {}

    def __init__(self, cluster: Cluster, knobs: Knobs, node: str) -> None:
        self.cluster = cluster
        self.knobs = knobs
        self.node = node
        self._conns: dict[str, pymongo.MongoClient] = {}
        self._primary: str | None = None
        self._lock = threading.Lock()

    # ---- routing

    def _conn(self, node: str) -> pymongo.MongoClient:
        with self._lock:
            c = self._conns.get(node)
            if c is None:
                c = connect(self.cluster, node, self.knobs.timeout_ms, appname="splitbrain")
                self._conns[node] = c
            return c

    def _coll(self, node: str, name: str, read_concern: str | None = None) -> Any:
        return self._conn(node)[DB].get_collection(
            name,
            write_concern=WriteConcern(w=self.knobs.w),
            read_concern=ReadConcern(read_concern or self.knobs.read_concern),
        )

    def primary(self) -> str:
        if self._primary is None:
            self._primary = pick_primary(hello_all(self.cluster, self.knobs.timeout_ms))
            if self._primary is None:
                raise Fail("no member claims to be primary")  # nothing was sent
        return self._primary

    def read_node(self) -> str:
        pref = self.knobs.read_preference
        if pref == "primary":
            return self.primary()
        if pref == "any":
            return self.node
        # secondary: this client's node unless it is the primary we write to
        nodes = list(self.cluster.nodes)
        i = nodes.index(self.node)
        for n in nodes[i:] + nodes[:i]:
            if n != self._primary:
                return n
        return self.node

    # ---- Client protocol

    def invoke(self, f: str, value: Any) -> Any:
        name = self.ops.get(f)
        if name is None:
            raise Fail(f"unknown op {f!r} for {type(self).__name__}")
        try:
            return getattr(self, name)(value)
        except E.ConnectionFailure:  # includes NotPrimaryError
            self._primary = None  # find the primary again on the next op
            raise
        except E.OperationFailure as e:
            if e.code in MAYBE_APPLIED:
                self._primary = None
            raise

    def abort(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            with contextlib.suppress(Exception):
                c.close()

    def close(self) -> None:
        self.abort()


class SetClient(MongoClientBase):
    """One document per element: {_id: v, k: k}; values are unique across the run."""

    ops = {"add": "add", "read": "read", "final-read": "final_read"}

    def add(self, value: list[int]) -> None:
        k, v = value
        self._coll(self.primary(), "set").insert_one({"_id": v, "k": k})

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        docs = self._coll(self.read_node(), "set").find({"k": k}, {"_id": 1})
        return [k, sorted(d["_id"] for d in docs)]

    def final_read(self, value: Any) -> list[list[Any]]:
        # What this very node holds, after healing: lost writes show up here.
        pipeline = [{"$group": {"_id": "$k", "vs": {"$push": "$_id"}}}, {"$sort": {"_id": 1}}]
        coll = self._coll(self.node, "set", read_concern="local")
        return [[d["_id"], sorted(d["vs"])] for d in coll.aggregate(pipeline)]


class RegisterClient(MongoClientBase):
    """One document per register: {_id: k, v: v}."""

    ops = {"read": "read", "write": "write", "cas": "cas", "final-read": "final_read"}

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        doc = self._coll(self.read_node(), "registers").find_one({"_id": k})
        return [k, doc["v"] if doc else None]

    def write(self, value: list[Any]) -> list[Any]:
        k, v = value
        self._coll(self.primary(), "registers").update_one(
            {"_id": k}, {"$set": {"v": v}}, upsert=True
        )
        return value

    def cas(self, value: list[Any]) -> list[Any]:
        k, (old, new) = value
        r = self._coll(self.primary(), "registers").update_one(
            {"_id": k, "v": old}, {"$set": {"v": new}}
        )
        if r.matched_count == 0:
            raise Fail(f"cas: register {k} is not {old}")
        return value

    def final_read(self, value: Any) -> list[list[Any]]:
        coll = self._coll(self.node, "registers", read_concern="local")
        return [[d["_id"], d.get("v")] for d in coll.find({}).sort("_id", 1)]


class AppendClient(MongoClientBase):
    """Lists as {_id: k, v: [..]}, one multi-document transaction per op, snapshot reads."""

    ops = {"txn": "txn"}

    def txn(self, value: list[list[Any]]) -> list[list[Any]]:
        conn = self._conn(self.primary())
        coll = conn[DB]["lists"]
        with conn.start_session(causal_consistency=False) as s:
            s.start_transaction(
                read_concern=ReadConcern("snapshot"),
                write_concern=WriteConcern(w=self.knobs.w),
                read_preference=ReadPreference.PRIMARY,
            )
            try:
                out = []
                for f, k, v in value:
                    if f == "append":
                        coll.update_one({"_id": k}, {"$push": {"v": v}}, upsert=True, session=s)
                        out.append([f, k, v])
                    elif f == "r":
                        doc = coll.find_one({"_id": k}, session=s)
                        out.append([f, k, list(doc["v"]) if doc else []])
                    else:
                        raise Fail(f"unknown micro-op {f!r}")
            except Fail:
                with contextlib.suppress(E.PyMongoError):
                    s.abort_transaction()
                raise
            except E.PyMongoError as e:
                # Failed before commitTransaction was sent: the transaction cannot commit.
                with contextlib.suppress(E.PyMongoError):
                    s.abort_transaction()
                self._primary = None
                raise Fail(f"transaction aborted before commit: {type(e).__name__}: {e}") from e
            s.commit_transaction()  # errors here are classified: they may have committed
        return out
