"""A request in the database's own protocol, with a deadline: the readiness check, and the
observation that a paused node answers nothing.

A database gives `Database.probe(cluster, node)`: a connection opened now, whose `request`
asks one trivial question (SELECT 1, an OPTIONS frame, a ping command). `answer` runs a
request on a thread and says how it ended within the deadline: an answer, an error, or
silence. A silent request is abandoned by shutting its socket down (never a server-side
cancel), as the workers abandon ops.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Answer = Literal["answered", "error", "silent"]


@dataclass
class Probe:
    request: Callable[[], object]  # one trivial request over the open connection
    abandon: Callable[[], None]  # makes a blocked request return (shut its socket down)
    close: Callable[[], None]

    def ask(self, timeout: float) -> Answer:
        return answer(self.request, timeout, abandon=self.abandon)


def shutdown(fileno: Callable[[], int | None]) -> Callable[[], None]:
    """An abandon() that shuts the socket down: the fd is dup'ed, so the driver's own
    descriptor (and its close) is left alone."""

    def abandon() -> None:
        fd = fileno()
        if fd is None or fd < 0:
            return
        with contextlib.suppress(OSError):
            s = socket.socket(fileno=os.dup(fd))
            try:
                s.shutdown(socket.SHUT_RDWR)
            finally:
                s.close()

    return abandon


def answer(
    fn: Callable[[], object], timeout: float, abandon: Callable[[], None] | None = None
) -> Answer:
    """How fn() ends within timeout. On silence, abandon() is called and the thread left to
    finish on its own (it is a daemon)."""
    done = threading.Event()
    outcome: list[Answer] = []

    def go() -> None:
        try:
            fn()
            outcome.append("answered")
        except Exception:  # noqa: BLE001 - an error is an answer of its own kind
            outcome.append("error")
        finally:
            done.set()

    threading.Thread(target=go, name="probe", daemon=True).start()
    if done.wait(timeout):
        return outcome[0]
    if abandon is not None:
        with contextlib.suppress(Exception):
            abandon()
    return "silent"
