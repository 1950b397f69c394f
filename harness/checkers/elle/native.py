"""The native core (native/, a Rust extension module `splitbrain_native`), when installed.

`check_list_append(path, edn, realtime, process)` reads a history file straight from bytes
into columns, builds the dependency graph the Python checker builds (the same edges,
real-time and process ones included) and finds its cycles and the findings of single keys
and txns. It returns the counts the Python checker would give; for a history that is not
clean (an anomaly or a cycle), with "focus": which ops the Python stages must see to find and
explain them (listappend.check_native). For anything else (a shape it does not read, a value
appended twice, any doubt) it returns None and the caller runs the Python path, whose errors
and explanations are unchanged. Why it gave up is in `last_reason` (for tests and benches).
SPLITBRAIN_NATIVE=0 in the environment turns it off (the Python path only).
"""

from __future__ import annotations

from typing import Any

from harness import native as core
from harness.history import Op

_core: Any = core.module()  # as the process started: a run does not switch paths midway
DISABLED = core.disabled()

last_reason: str | None = None


def available() -> bool:
    return _core is not None


def version() -> str | None:
    return getattr(_core, "VERSION", None) if _core is not None else None


def check_list_append(path: str, edn: bool, realtime: bool, process: bool) -> dict[str, Any] | None:
    """Counts (txns, ok, info, fail, keys, edges, edge_records, sccs, largest_scc), guessable
    and, if the history is not clean, "focus" (indices, spans, tids, keys, proven, internal,
    comps: native/src/check.rs Focus); None if the core gave up."""
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


def read_ops(path: str, indices: list[int], spans: list[tuple[int, int]]) -> list[Op] | None:
    """The ops of an EDN history file with these indices, as harness.edn reads them: only
    their bytes (spans, when given), else the whole file; None if the core's reader gives up
    (then read it in Python)."""
    global last_reason
    if _core is None:
        return None
    from harness.edn import _NO_EXTRA

    if spans:
        out = _core.read_ops_at(str(path), Op, _NO_EXTRA, spans)
    else:
        out = _core.read_ops(str(path), Op, _NO_EXTRA, list(indices))
        out = out if isinstance(out, str) else out[0]
    if isinstance(out, str):
        last_reason = out
        return None
    return list(out)
