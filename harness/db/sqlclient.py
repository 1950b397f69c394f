"""What the SQL clients (PostgreSQL, Galera) share: op dispatch, the connection the watchdog
may abort, and closing. Driver-specific parts (connecting, transactions, rollback, error
classification) stay in each database's clients module.

abort() shuts the socket down instead of asking the server to cancel: a cancelled COMMIT may
still be applied (a Postgres COMMIT waiting for a sync standby is committed locally; a KILLed
Galera COMMIT may have been certified), and the op is recorded as info anyway.
"""

from __future__ import annotations

import contextlib
import os
import socket
from abc import abstractmethod
from collections.abc import Iterator
from typing import Any

from workloads import Client, Fail


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
