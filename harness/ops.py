"""One operation of a history (Jepsen's fields: index, time, process, type, f, value, node,
error), and how ops are made from what a reader parsed, whatever the format: the leaf that
every reader (JSONL in harness.history, EDN in harness.edn, Jepsen's log lines in
harness.jepsen_log) builds on. `time` is integer nanoseconds since the run started."""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from sys import intern
from typing import Any

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
TYPES = frozenset((INVOKE, OK, FAIL, INFO))
NEMESIS = "nemesis"
_CORE = ("index", "time", "process", "type", "f", "value", "node", "error")


MAX_DEPTH = 100  # nesting of values: deeper ones would break recursive code further on
_MAX_INT = 2**63 - 1  # index, time and process are 64-bit in Jepsen and in every tool after us


def _json_default(o: Any) -> Any:
    if isinstance(o, set | frozenset | tuple):
        return sorted(o) if isinstance(o, set | frozenset) else list(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


# a value's JSON text, compact (the history's lines; a structured error kept as text)
encode = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode


@dataclass(slots=True)
class Op:
    """One operation. Values read from a file are read-only: equal micro-ops may be one list
    (see _intern_heads)."""

    index: int
    time: int
    process: int | str | None
    type: str
    f: str
    value: Any = None
    node: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "value": self.value,
        }
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: Any, index: int) -> Op:
        """The op of one JSONL object; ValueError (one line) for anything that is not one."""
        if type(d) is not dict:
            raise ValueError(f"not a JSON object but {_kind(d)}")
        op = _plain_op(d)
        if op is not None:
            return op
        if "process" not in d or "f" not in d:
            raise ValueError("op needs 'process' and 'f'")
        error = d.get("error")
        if error is not None and type(error) is not str:
            error = encode(error)  # a structured error keeps its JSON text: Op.error is text
        return make_op(
            d.get("index", index),
            d.get("time", -1),
            d["process"],
            d.get("type"),
            d["f"],
            d.get("value"),
            d.get("node"),
            error,
            _NO_EXTRA if d.keys() <= _CORE_SET else {k: v for k, v in d.items() if k not in _CORE},
        )

    @property
    def seconds(self) -> float:
        return self.time / 1e9


# Parsed ops without extra fields share this (never mutated) dict: a million empty dicts
# would cost 64 MB.
_NO_EXTRA: dict[str, Any] = {}
_CORE_SET = frozenset(_CORE)


def _plain_op(d: dict[Any, Any]) -> Op | None:
    """The op of a map in the usual shape (all of index, time, process, type, f; only core
    keys; every field of its kind and in range), else None: the general path decides."""
    try:
        i = d["index"]
        t = d["time"]
        p = d["process"]
        typ = d["type"]
        f = d["f"]
    except KeyError:
        return None
    if d.keys() <= _CORE_SET:
        return plain_op(i, t, p, typ, f, d.get("value"), d.get("node"), d.get("error"))
    return None


def plain_op(
    i: Any, t: Any, p: Any, typ: Any, f: Any, value: Any, node: Any = None, error: Any = None
) -> Op | None:
    """The op of these fields if each is of its kind and in range, else None. The same checks
    as make_op, inline: this runs for every op of every history."""
    if (
        type(i) is int
        and type(t) is int
        and type(f) is str
        and type(typ) is str
        and typ in TYPES
        and 0 <= i <= _MAX_INT
        and 0 <= t <= _MAX_INT
        and (type(p) is str or (type(p) is int and -_MAX_INT <= p <= _MAX_INT))
        and (node is None or type(node) is str)
        and (error is None or type(error) is str)
    ):
        if f == "txn" and type(value) is list:
            _intern_heads(value, typ, p)
        return Op(i, t, p, _TYPE_OF[typ], intern(f), value, node, error, _NO_EXTRA)
    return None


_TYPE_OF = {t: t for t in TYPES}
_HEADS = {"append": "append", "r": "r"}
# While a history is read (cleared after, by no_gc): one int object per key; one list per
# key for invocations' reads ["r", k, None]; each process's pending invocation micro-ops.
_KEYS: dict[int, int] = {}
_READS: dict[Any, list[Any]] = {}
_PENDING: dict[Any, list[Any]] = {}
_EXACT = (int, str, type(None))  # equal values of these types are the same value (not 1.0)


def _intern_heads(txn: list[Any], typ: str, p: Any) -> None:
    """Shares what a parser makes anew for each micro-op of a million-txn history: the strings
    "append" and "r" (300 MB), key ints (32 bytes each, 190 MB), and, 96 bytes each (280 MB),
    micro-op lists equal to one already read: an invocation's read of a key, and a
    completion's micro-op equal to its invocation's (the appends of an ok txn). Only equal
    lists of scalars of the same types are shared, so no op's value changes."""
    named = type(p) is int or type(p) is str  # a process that can key the pending table
    if typ == INVOKE:
        reads = _READS
        for i, m in enumerate(txn):
            if type(m) is list and len(m) == 3 and m[2] is None and m[0] == "r":
                k = m[1]
                if type(k) is int or type(k) is str:  # equal keys of these types: same key
                    shared = reads.get(k)
                    if shared is not None:
                        txn[i] = shared
                        continue
                    reads[k] = m
            _intern(m)
        if named:
            _PENDING[p] = txn
        return
    inv = _PENDING.pop(p, None) if named else None
    if inv is None:
        for m in txn:
            _intern(m)
        return
    n_inv = len(inv)
    for i, m in enumerate(txn):
        if i < n_inv:
            n = inv[i]
            if m == n and _same(m, n):
                txn[i] = n
                continue
        _intern(m)


def _intern(m: Any) -> None:
    if type(m) is list and m:
        h = m[0]
        if type(h) is str:
            m[0] = _HEADS.get(h) or intern(h)
        if len(m) > 1:
            k = m[1]
            if type(k) is int and k > 256:  # CPython shares the ints up to 256 already
                m[1] = _KEYS.setdefault(k, k)


def _same(m: Any, n: Any) -> bool:
    """For m == n: both micro-ops [f k v] of scalars of the same types (1 == 1.0 == True, but
    they are not the same value)."""
    return (
        type(m) is list
        and type(n) is list
        and len(m) == 3
        and type(m[1]) is type(n[1])
        and type(m[2]) is type(n[2])
        and type(m[1]) in _EXACT
        and type(m[2]) in _EXACT
    )


def _kind(v: Any) -> str:
    if v is None:
        return "null/nil"
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        tuple: "a list",
        dict: "a map",
    }.get(type(v), type(v).__name__)


def _int_field(name: str, v: Any) -> int:
    if type(v) is int:
        if 0 <= v <= _MAX_INT:
            return v
    elif type(v) is float and math.isfinite(v) and 0 <= v <= _MAX_INT:
        return int(v)
    if type(v) in (int, float):
        raise ValueError(f"{name} {v!r} is out of range (0 to 2^63-1)")
    raise ValueError(f"{name} must be a non-negative integer, got {_kind(v)}")


def make_op(
    index: Any,
    t: Any,
    process: Any,
    typ: Any,
    f: Any,
    value: Any,
    node: Any,
    error: Any,
    extra: dict[str, Any],
    kw: str = "",
) -> Op:
    """An Op from parsed fields, refusing (ValueError, one line) any field of the wrong kind,
    so that no checker sees an unhashable type or an infinite time. `t` -1 means no time; `kw`
    prefixes the field names in messages (":" for EDN)."""
    if type(typ) is not str or typ not in TYPES:
        shown = repr(typ) if type(typ) is str else _kind(typ)
        raise ValueError(f"{kw}type must be one of invoke/ok/fail/info, got {shown}")
    if type(index) is not int or not 0 <= index <= _MAX_INT:
        index = _int_field(f"{kw}index", index)
    if type(t) is not int or not -1 <= t <= _MAX_INT:
        t = _int_field(f"{kw}time", t)
    if type(process) is int:
        if not -_MAX_INT <= process <= _MAX_INT:
            raise ValueError(f"{kw}process {process} is out of range (64-bit)")
    elif process is not None and type(process) is not str:
        raise ValueError(f"{kw}process must be an integer or a name, got {_kind(process)}")
    if type(f) is not str:
        raise ValueError(f"{kw}f must be a name, got {_kind(f)}")
    if node is not None and type(node) is not str:
        raise ValueError(f"{kw}node must be a string, got {_kind(node)}")
    if error is not None and type(error) is not str:
        raise ValueError(f"{kw}error must be a string, got {_kind(error)}")
    return Op(index, t, process, typ, f, value, node, error, extra)


LineOf = Callable[[int], int]


@contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic GC off while a history is built, and a big one frozen after (moved to the
    permanent generation, still freed by reference counting): its millions of containers
    hold no cycles, yet each collection would traverse them again and again (5x the parse
    time, then a 1.5 s full collection at 100k txns, then more during the check)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _KEYS.clear()
        _READS.clear()
        _PENDING.clear()
        if gc.get_count()[0] > 100_000:  # a big history (a small one is not worth a freeze)
            gc.freeze()
        if was:
            gc.enable()
