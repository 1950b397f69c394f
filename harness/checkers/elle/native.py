"""The native core (native/, a Rust extension module `splitbrain_native`), when installed.

`check_list_append(path, edn, realtime, process)` reads a history file straight from bytes
into columns and decides the list-append verdict in the common case: a well-formed history
with no anomaly of any kind the Python checker reports and an acyclic dependency graph (the
same edges, real-time and process ones included). It returns that verdict's counts (the stats
the Python checker would give); for anything else (a shape it does not read, any anomaly, any
cycle, any doubt) it returns None and the caller runs the Python path, whose errors and
explanations are unchanged. Why it gave up is in `last_reason` (for tests and benches).
SPLITBRAIN_NATIVE=0 in the environment turns it off (the Python path only).
"""

from __future__ import annotations

from typing import Any

from harness import native as core

_core: Any = core.module()  # as the process started: a run does not switch paths midway
DISABLED = core.disabled()

last_reason: str | None = None


def available() -> bool:
    return _core is not None


def version() -> str | None:
    return getattr(_core, "VERSION", None) if _core is not None else None


def check_list_append(path: str, edn: bool, realtime: bool, process: bool) -> dict[str, Any] | None:
    """Counts of a clean history (txns, ok, info, fail, keys, edges, edge_records), else None."""
    global last_reason
    if _core is None:
        last_reason = "the native core is not installed"
        return None
    out = _core.check_list_append(str(path), bool(edn), bool(realtime), bool(process))
    if isinstance(out, str):
        last_reason = out
        return None
    last_reason = None
    return dict(out)
