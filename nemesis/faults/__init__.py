"""Fault kinds, one module each, listed in harness.registry.FAULTS, which the CLI, the
schedule, the nemesis thread and the reports read. Adding a fault is one module plus one
line there.

A fault module defines a Fault subclass: its declared options, what it needs from the
cluster (capabilities, harness.cluster.CAPABILITIES), how one occurrence is planned (seeded,
before the run), begun and ended, and how reports draw it. begin() returns what was done; it
is recorded in the history as the value of the nemesis op `start-<fault>`.
"""

from __future__ import annotations

import contextlib
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import ClusterError, SpecError, one_line
from harness.options import Option
from harness.registry import FAULTS, resolve

if TYPE_CHECKING:
    from harness.cluster import Cluster
    from harness.db import Database
    from harness.spec import TestSpec


class NotObserved(ClusterError):
    """A fault was injected but its effect was not seen (harness.nemesis.observe)."""


@dataclass
class Target:
    """What a fault acts on: the cluster, and the database definition for database-aware
    faults (failover) and for finding the primary."""

    cluster: Cluster
    db: Database


class Fault(ABC):
    name: ClassVar[str]
    help: ClassVar[str]  # one line, for --help and reports
    colour: ClassVar[str]  # the shading of its windows in plots
    needs: ClassVar[frozenset[str]] = frozenset()  # cluster capabilities
    options: ClassVar[tuple[Option, ...]] = ()
    packages: ClassVar[tuple[str, ...]] = ()  # Debian packages the hosts need for it

    def __init__(self, spec: TestSpec) -> None:
        self.spec = spec

    def opt(self, option: Option) -> Any:
        return option.get(self.spec.options)

    def validate(self, db: Database, capabilities: frozenset[str]) -> None:
        """SpecError when this fault cannot be done to this database on this provider."""
        missing = sorted(self.needs - capabilities)
        if missing:
            raise SpecError(
                f"--nemesis {self.name}: provider {self.spec.provider} cannot {', '.join(missing)}"
            )

    @abstractmethod
    def plan(self, rng: random.Random) -> dict[str, Any]:
        """Parameters of one occurrence (plain JSON data, stored in schedule.json)."""

    @abstractmethod
    def begin(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        """Inject the fault; raise if it could not be injected. Returns what was done."""

    @abstractmethod
    def observe(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> Any:
        """Check that the fault took effect (nemesis.observe): return what was seen, raise
        (NotObserved) when it was not. Every fault says how it is observed."""

    @abstractmethod
    def end(self, target: Target, params: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        """Undo it (state: what begin returned)."""

    def watch(
        self, target: Target, params: dict[str, Any], state: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Polled while the fault is in effect: events seen since the last call, each
        {"f": name, ...} and optionally "at_monotonic" (time.monotonic() when it happened);
        the nemesis records each as an event (a lone info op) with its time as "at_ns" in
        the history's clock."""
        return []

    def start(self, target: Target, params: dict[str, Any]) -> dict[str, Any]:
        """begin, then observe; a fault whose effect is not observed is undone and raises, so
        the run that asked for it is never judged valid on the strength of it."""
        state = self.begin(target, params)
        try:
            seen = self.observe(target, params, state)
        except Exception as e:
            with contextlib.suppress(Exception):
                self.end(target, params, state)
            raise NotObserved(f"{self.name} did not take effect: {one_line(e)}") from None
        return {**state, "observed": seen}


def names() -> tuple[str, ...]:
    return tuple(FAULTS)


def fault_class(name: str) -> type[Fault]:
    cls: type[Fault] = resolve(FAULTS, name, "--nemesis")
    return cls


def get(name: str, spec: TestSpec) -> Fault:
    return fault_class(name)(spec)


def colour(name: str) -> str:
    """The report colour of a fault kind (grey for one this version does not know)."""
    try:
        return fault_class(name).colour
    except SpecError:
        return "#cfd8dc"


def pick_node(target: Target, how: str, rng: random.Random) -> str:
    """primary (when there is one) | random."""
    if how == "primary":
        p = target.db.primary(target.cluster)
        if p is not None:
            return p
    return rng.choice(list(target.cluster.nodes))
