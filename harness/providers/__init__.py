"""Providers: where nodes live. A provider is a module that is a Provider (below), listed in
harness.registry.PROVIDERS; a new provider is a module plus a line there, and no database
module changes. mypy checks every listed module against the protocol (the end of this file).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, cast

from harness.errors import SpecError
from harness.options import Option
from harness.registry import PROVIDERS

if TYPE_CHECKING:
    from harness.cluster import Cluster
    from harness.db import Database, Deployment
    from harness.spec import TestSpec


class Provider(Protocol):
    CAPABILITIES: frozenset[str]  # harness.cluster.CAPABILITIES its clusters have
    OPTIONS: tuple[Option, ...]  # its own knobs (--opt), validated with the run's others
    PACKAGES: tuple[str, ...]  # Debian packages the harness' machine needs for it

    def validate(self, spec: TestSpec) -> None:
        """Its own input, checked before anything connects (ssh: the inventory file)."""

    def preflight(self, db: Database) -> None:
        """EnvironmentProblem (one line) naming the first thing missing for this database."""

    def create(self, spec: TestSpec, run_id: str, deployment: Deployment) -> Cluster:
        """A cluster that implements the node contract (harness.cluster), torn down again if
        bringing it up fails or is interrupted."""

    def find_leftovers(self, force: bool = False, inventory: str = "") -> list[str]:
        """One line per leftover of a crashed run (of every run with force)."""

    def cleanup(self, force: bool = False, inventory: str = "") -> list[str]:
        """Remove leftovers of runs whose harness is gone (every run with force); a line each."""


def get(name: str) -> Provider:
    target = PROVIDERS.get(name)
    if target is None:
        raise SpecError(f"--provider {name!r} is not one of: {', '.join(PROVIDERS)}")
    try:
        return cast(Provider, importlib.import_module(target))
    except ModuleNotFoundError as e:
        raise SpecError(f"--provider {name}: not available (missing module {e.name})") from None


if TYPE_CHECKING:  # every provider module is a Provider
    from harness.providers import compose, local, ssh

    _local: Provider = local
    _compose: Provider = compose
    _ssh: Provider = ssh
