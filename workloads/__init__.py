"""Workloads: one module per workload, with its op generator, the client protocol a database
must implement for it, and the checkers that judge it. Registered by name."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any

from harness.options import Option
from harness.registry import WORKLOADS, resolve
from harness.spec import TestSpec


class Fail(Exception):
    """Raised by a client when the database certainly did not apply the op."""


class Workload(ABC):
    name: str
    checkers: tuple[str, ...]  # names in harness.registry.CHECKERS
    read_only: frozenset[str] = frozenset()  # fs with no effect: an indeterminate one is a fail
    options: tuple[Option, ...] = ()  # declared knobs (harness.options)
    keys_knob: Option | None = None  # the knob of how many keys are in use (what shrink lowers)

    def __init__(self, spec: TestSpec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng

    def opt(self, option: Option) -> Any:
        return option.get(self.spec.options)

    @abstractmethod
    def next_op(self, process: int) -> tuple[str, Any]:
        """(f, value) of the next op for this worker. Called from worker threads."""

    def final_ops(self) -> list[tuple[str, Any]]:
        """Ops run once against every reachable node after the cluster healed."""
        return []

    def checker_options(self) -> dict[str, Any]:
        return {}


class Client(ABC):
    """What a database gives a worker: invoke one op, return the completion value.

    Raise Fail for a definite rejection; any other exception is classified by the database
    definition (fail if certainly not applied, info otherwise)."""

    @abstractmethod
    def invoke(self, f: str, value: Any) -> Any: ...

    def abort(self) -> None:  # noqa: B027
        """Called from the watchdog thread when an op overran spec.op_timeout: make the blocked
        invoke() raise soon (e.g. shut the socket down). Never ask the server to cancel: a
        cancelled commit may still have been applied, and the op is recorded as info anyway."""

    def close(self) -> None:  # noqa: B027
        pass


def workload_class(name: str) -> type[Workload]:
    cls: type[Workload] = resolve(WORKLOADS, name, "--workload")
    return cls


def get(spec: TestSpec, rng: random.Random) -> Workload:
    return workload_class(spec.workload)(spec, rng)
