"""One SQL client family for PostgreSQL and MariaDB Galera: the workloads' ops are written
once over a small dialect (statement texts, how a list is stored), and each database's
clients module adds only its connection layer (routing, transactions, rollback) and error
classification.

abort() shuts the socket down instead of asking the server to cancel: a cancelled COMMIT may
still be applied (a Postgres COMMIT waiting for a sync standby is committed locally; a KILLed
Galera COMMIT may have been certified), and the op is recorded as info anyway.
"""

from __future__ import annotations

import contextlib
import os
import socket
from abc import abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from workloads import Client, Fail

T = TypeVar("T")


class SqlClient(Client):
    # f -> method name; each workload's client class fills it in
    ops: dict[str, str] = {}

    def __init__(self) -> None:
        self.conns: dict[str, Any] = {}  # key (role or node) -> driver connection
        self.active: Any = None  # the connection an op is blocked on, for abort()

    def invoke(self, f: str, value: Any) -> Any:
        name = self.ops.get(f)
        if name is None:
            raise Fail(f"unknown op {f!r} for {type(self).__name__}")
        return getattr(self, name)(value)

    @contextlib.contextmanager
    def _running(self, conn: Any) -> Iterator[None]:
        """Mark conn as the one abort() may shut down while the body runs. A plain attribute:
        its assignment and abort()'s single read are atomic, and a lock here would sit on
        every op's path."""
        self.active = conn
        try:
            yield
        finally:
            self.active = None

    @abstractmethod
    def _socket_fd(self, conn: Any) -> int | None:
        """The connection's socket file descriptor, or None when it has none (closed)."""

    def abort(self) -> None:
        """Watchdog thread: shut the active connection's socket down so the blocked call raises.
        The fd is dup'ed: shutdown acts on the socket shared by both descriptors, and closing
        our copy leaves the driver's descriptor (and its own close) alone."""
        conn = self.active
        if conn is None:
            return
        fd = self._socket_fd(conn)
        if fd is None:
            return
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            return
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            s.close()

    def _drop(self, conn: Any) -> None:
        """Close a connection (it may be broken already) and forget it."""
        with contextlib.suppress(Exception):
            conn.close()
        for k, c in list(self.conns.items()):
            if c is conn:
                del self.conns[k]

    def close(self) -> None:
        for conn in list(self.conns.values()):
            self._drop(conn)


# ---------------------------------------------------------------- one family over a dialect


@dataclass(frozen=True)
class SqlDialect:
    """What differs between the SQL databases for the workloads: the tables each workload
    needs (DDL), the text of each statement (DB-API `%s` placeholders) and how a list is
    stored."""

    name: str
    statements: dict[str, str]
    tables: dict[str, tuple[str, ...]]  # workload -> its CREATE statements
    encode_element: Callable[[int], Any] = int
    decode_list: Callable[[Any], list[int]] = list


class SqlWorkloadClient(SqlClient):
    """Workload ops written once; the connection layer (`_txn`) is the database's."""

    dialect: SqlDialect

    @classmethod
    def setup(cls, dialect: SqlDialect, workload: Any) -> list[str]:
        """The statements that make the workload's tables (Jepsen's setup!), in plain SQL
        (a definition may run them over a socket before any client can log in)."""
        return list(dialect.tables[workload.name])

    @abstractmethod
    def _txn(self, role: str, body: Callable[[Any], T]) -> T:
        """Run body(cursor) in one transaction on the connection for role (read | write)."""

    def _one(self, cur: Any, name: str, *args: Any) -> Any:
        cur.execute(self.dialect.statements[name], args)
        return cur.fetchone()

    def _all(self, cur: Any, name: str, *args: Any) -> list[Any]:
        cur.execute(self.dialect.statements[name], args)
        return list(cur.fetchall())

    def _changed(self, cur: Any, name: str, *args: Any) -> int:
        cur.execute(self.dialect.statements[name], args)
        return int(cur.rowcount)


class SetOps(SqlWorkloadClient):
    ops = {"add": "add", "read": "read", "final-read": "final_read"}

    def add(self, value: list[int]) -> None:
        k, v = value
        self._txn("write", lambda cur: self._changed(cur, "set_add", k, v))

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]
        return [k, self._txn("read", lambda cur: [r[0] for r in self._all(cur, "set_read", k)])]

    def final_read(self, value: Any) -> list[list[Any]]:
        def body(cur: Any) -> list[list[Any]]:
            out: dict[int, list[int]] = {}
            for k, v in self._all(cur, "set_all"):
                out.setdefault(k, []).append(v)
            return [[k, vs] for k, vs in out.items()]

        return self._txn("read", body)


class RegisterOps(SqlWorkloadClient):
    """read [k, None] -> [k, v]; write [k, v]; cas [k, [old, new]] (Fail if k is not old)."""

    ops = {"read": "read", "write": "write", "cas": "cas"}

    def read(self, value: list[Any]) -> list[Any]:
        k = value[0]

        def body(cur: Any) -> Any:
            row = self._one(cur, "register_read", k)
            return row[0] if row else None

        return [k, self._txn("read", body)]

    def write(self, value: list[Any]) -> list[Any]:
        k, v = value
        self._txn("write", lambda cur: self._changed(cur, "register_upsert", k, v))
        return value

    def cas(self, value: list[Any]) -> list[Any]:
        k, (old, new) = value

        def body(cur: Any) -> None:
            # the row count must be the rows *matched*: cas(v, v) changes nothing yet succeeds
            if self._changed(cur, "register_cas", new, k, old) == 0:
                raise Fail(f"cas: register {k} is not {old}")

        self._txn("write", body)
        return value


class KVOps(SqlWorkloadClient):
    """get [k, None] -> [k, v] ("" for no row); put [k, v]; append [k, v] (one statement)."""

    ops = {"get": "get", "put": "put", "append": "append"}

    def get(self, value: list[Any]) -> list[Any]:
        k = value[0]

        def body(cur: Any) -> str:
            row = self._one(cur, "kv_get", k)
            return str(row[0]) if row else ""

        return [k, self._txn("read", body)]

    def put(self, value: list[Any]) -> list[Any]:
        k, v = value
        self._txn("write", lambda cur: self._changed(cur, "kv_put", k, v))
        return value

    def append(self, value: list[Any]) -> list[Any]:
        k, v = value
        self._txn("write", lambda cur: self._changed(cur, "kv_append", k, v))
        return value


class AppendOps(SqlWorkloadClient):
    ops = {"txn": "txn"}

    def txn(self, value: list[list[Any]]) -> list[list[Any]]:
        read_only = all(mop[0] == "r" for mop in value)
        d = self.dialect

        def body(cur: Any) -> list[list[Any]]:
            out: list[list[Any]] = []
            for f, k, v in value:
                if f == "append":
                    self._changed(cur, "list_append", k, d.encode_element(v))
                    out.append([f, k, v])
                elif f == "r":
                    row = self._one(cur, "list_read", k)
                    out.append([f, k, d.decode_list(row[0]) if row else []])
                else:
                    raise Fail(f"unknown micro-op {f!r}")
            return out

        return self._txn("read" if read_only else "write", body)


class BankOps(SqlWorkloadClient):
    ops = {"transfer": "transfer", "read": "read"}

    @classmethod
    def setup(cls, dialect: SqlDialect, workload: Any) -> list[str]:
        """The accounts table with the workload's opening balances (integers only)."""
        rows = ", ".join(f"({int(i)}, {int(b)})" for i, b in workload.initial_balances().items())
        return [*super().setup(dialect, workload), f"INSERT INTO accounts VALUES {rows}"]

    def transfer(self, value: dict[str, Any]) -> dict[str, Any]:
        src, dst, amount = value["from"], value["to"], value["amount"]

        def body(cur: Any) -> None:
            if self._changed(cur, "bank_debit", amount, src, amount) == 0:
                raise Fail(f"transfer: account {src} has less than {amount}")
            if self._changed(cur, "bank_credit", amount, dst) == 0:
                raise Fail(f"transfer: no account {dst}")

        self._txn("write", body)
        return value

    def read(self, value: Any) -> dict[int, int]:
        return self._txn("read", lambda cur: {i: b for i, b in self._all(cur, "bank_read")})


WORKLOAD_OPS: dict[str, type[Any]] = {  # mixins: abstract until joined to connections
    "set": SetOps,
    "register": RegisterOps,
    "kv": KVOps,
    "append": AppendOps,
    "bank": BankOps,
}


def setup_statements(dialect: SqlDialect, workload: Any) -> list[str]:
    """What a database runs once, before any client, for the run's workload."""
    ops: type[SqlWorkloadClient] = WORKLOAD_OPS[workload.name]
    return ops.setup(dialect, workload)


def run_setup_statements(dialect: SqlDialect, spec: Any) -> list[str]:
    """setup_statements for the workload a run of `spec` makes (Jepsen's setup!)."""
    import random

    import workloads

    return setup_statements(dialect, workloads.get(spec, random.Random(spec.seed)))


def client_classes(connection: type[SqlWorkloadClient]) -> dict[str, type[SqlWorkloadClient]]:
    """workload -> a client class combining the workload's ops with a database's connections."""
    return {
        wl: type(f"{connection.__name__}{ops.__name__}", (ops, connection), {})
        for wl, ops in WORKLOAD_OPS.items()
    }
