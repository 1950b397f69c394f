"""Name -> "module:attr" registries (databases, workloads, checkers), imported on demand so
that a database's driver is only needed when that database is used."""

from __future__ import annotations

import importlib
from typing import Any

from harness.errors import SpecError


def resolve(table: dict[str, str], name: str, flag: str) -> Any:
    target = table.get(name)
    if target is None:
        raise SpecError(f"{flag} {name!r} is not one of: {', '.join(table)}")
    module, attr = target.split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise SpecError(f"{flag} {name}: not available (missing module {e.name})") from None
    return getattr(mod, attr)
