"""Providers: where nodes live. One module per provider, registered by name; each exposes

    create(spec, run_id, deployment) -> Cluster   a cluster that implements the node contract
    preflight(db) -> None                  EnvironmentProblem naming what is missing
    cleanup(force=False) -> list[str]      remove leftovers of crashed runs, one line each
    find_leftovers(force=False) -> list[str]

A new provider is one module plus a line here; no database module changes.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.errors import SpecError

REGISTRY = {
    "local": "harness.providers.local",
    "compose": "harness.providers.compose",
    "ssh": "harness.providers.ssh",  # real hosts from an inventory (--inventory FILE)
    "memory": "harness.providers.memory",  # test double: in-process nodes (tests only)
}


def get(name: str) -> ModuleType:
    target = REGISTRY.get(name)
    if target is None:
        raise SpecError(f"--provider {name!r} is not one of: {', '.join(REGISTRY)}")
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        raise SpecError(f"--provider {name}: not available (missing module {e.name})") from None
