"""The history: every operation of a run, one JSON object per line, append-only.

Field names follow Jepsen (index, time, process, type, f, value, node, error); see DESIGN.md.
`time` is integer nanoseconds since the run started (monotonic clock).
"""

from __future__ import annotations

import gc
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from sys import intern
from typing import Any

from harness.errors import HistoryError

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
TYPES = frozenset((INVOKE, OK, FAIL, INFO))
NEMESIS = "nemesis"
_CORE = ("index", "time", "process", "type", "f", "value", "node", "error")


MAX_DEPTH = 100  # nesting of values: deeper ones would break recursive code further on
_MAX_INT = 2**63 - 1  # index, time and process are 64-bit in Jepsen and in every tool after us


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
            error = _encode(error)  # a structured error keeps its JSON text: Op.error is text
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


class HistoryWriter:
    """Thread-safe append-only JSONL writer.

    Each op is written with one os.write on an O_APPEND fd, so a crash of the harness loses
    at most the op being written (a truncated last line, which the reader tolerates).
    The index is assigned under the lock, so it equals the line number.
    """

    def __init__(self, path: Path, clock_origin_ns: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()
        self._next = 0
        self.origin = clock_origin_ns if clock_origin_ns is not None else time.monotonic_ns()
        self.counts = {INVOKE: 0, OK: 0, FAIL: 0, INFO: 0}

    def now(self) -> int:
        return time.monotonic_ns() - self.origin

    def append(
        self,
        process: int | str,
        type: str,
        f: str,
        value: Any = None,
        node: str | None = None,
        error: str | None = None,
        **extra: Any,
    ) -> int:
        """Record one op; returns its index. This is on every worker's hot path, so the line
        is built directly rather than through an Op and a dict."""
        tail = _dumps(value)
        if node is not None:
            tail += ',"node":' + _dumps(node)
        if error is not None:
            tail += ',"error":' + _dumps(error)
        for k, v in extra.items():
            tail += f",{_dumps(k)}:{_dumps(v)}"
        head = f',"process":{_dumps(process)},"type":"{type}","f":{_dumps(f)},"value":'
        with self._lock:
            index = self._next
            line = f'{{"index":{index},"time":{time.monotonic_ns() - self.origin}{head}{tail}}}\n'
            os.write(self._fd, line.encode())
            self._next = index + 1
            self.counts[type] += 1
        return index

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_default(o: Any) -> Any:
    if isinstance(o, set | frozenset | tuple):
        return sorted(o) if isinstance(o, set | frozenset) else list(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


_encode = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode


def _dumps(v: Any) -> str:
    return _encode(v)


_BIG_INT = re.compile(rb"\d{19}")  # orjson reads integers past 64 bits as floats: not those
_DIGITS = bytes.maketrans(b"123456789", b"000000000")


def _has_big_int(raw: bytes) -> bool:
    return b"0" * 19 in raw.translate(_DIGITS)  # 8x faster than the regex


def _depth(line: bytes) -> int:
    """Nesting depth of a JSON text (brackets inside strings do not count)."""
    depth = top = 0
    for b in _JSON_STRING.sub(b'""', line).translate(None, _NOT_BRACKET):
        if b in b"[{":
            depth += 1
            top = max(top, depth)
        else:
            depth -= 1
    return top


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def _json_line(line: bytes) -> Any:
    if (
        len(line) > 2 * MAX_DEPTH
        and line.count(b"[") + line.count(b"{") > MAX_DEPTH
        and _depth(line) > MAX_DEPTH
    ):
        raise ValueError(f"values nested too deep (more than {MAX_DEPTH} levels)")
    if not _BIG_INT.search(line):
        import orjson  # JSONL only (it brings zoneinfo and sysconfig along)

        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass  # Python's reader takes NaN, Infinity and 1e400: the field checks name them
    try:
        return json.loads(line)  # also: exact big integers
    except json.JSONDecodeError as e:
        raise ValueError(f"{e.msg} at column {e.colno}") from None


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


_CHUNK = 50_000  # lines read by one orjson call: bounds the transient copies of the text


def _read_jsonl(path: Path, notes: list[str] | None) -> tuple[list[Op], LineOf]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise HistoryError(f"cannot read history {path}: {e.strerror}") from None
    ends_in_newline = raw.endswith(b"\n")
    lines = raw.split(b"\n")
    del raw
    numbers: list[int] | None = None  # line numbers, kept only when blank lines break n == i+1
    body = [x for x in lines if x.strip()]
    if len(body) != len(lines) - (not lines[-1]):
        numbers = [n for n, x in enumerate(lines, start=1) if x.strip()]
    truncated = bool(body) and not ends_in_newline and bool(lines[-1].strip())
    del lines

    def line_of(i: int) -> int:
        return numbers[i] if numbers is not None else i + 1

    ops: list[Op] = []
    from_dict = Op.from_dict
    lim = 2 * MAX_DEPTH  # a shorter line cannot nest deeper than MAX_DEPTH
    n_body = len(body)
    chunks = [body[c : c + _CHUNK] for c in range(0, n_body, _CHUNK)]
    del body  # each chunk's text is freed once read: the peak holds one chunk, not the file
    for k in range(len(chunks)):
        c = k * _CHUNK
        chunk = chunks[k]
        chunks[k] = []
        docs: list[Any] | None = None
        joined = b",".join(chunk)
        if not _has_big_int(joined) and all(
            len(x) <= lim or x.count(b"[") + x.count(b"{") <= MAX_DEPTH or _depth(x) <= MAX_DEPTH
            for x in chunk
        ):
            import orjson

            try:  # one call for many lines: the common case, at C speed
                docs = orjson.loads(b"[" + joined + b"]")
            except orjson.JSONDecodeError:
                docs = None  # find the bad line below
        del joined
        if docs is None:
            docs = []
            for i, line in enumerate(chunk, start=c):
                try:
                    docs.append(_json_line(line))
                except (ValueError, RecursionError) as e:
                    if truncated and i == n_body - 1:
                        break
                    msg = "values nested too deep" if isinstance(e, RecursionError) else str(e)
                    raise HistoryError(
                        f"{path}: malformed history line {line_of(i)}: {msg}"
                    ) from None
        try:
            for d in docs:
                ops.append(from_dict(d, len(ops)))
        except (ValueError, TypeError) as e:
            i = len(ops)
            if not (truncated and i == n_body - 1):
                raise HistoryError(f"{path}: malformed history line {line_of(i)}: {e}") from None
        del chunk, docs
    if len(ops) < n_body and notes is not None:
        notes.append(
            f"{path}: dropped truncated last line {line_of(n_body - 1)} (the run was interrupted)"
        )
    return ops, line_of


def read_jsonl(path: Path | str, notes: list[str] | None = None) -> list[Op]:
    """Read a JSONL history. A truncated last line is dropped, with a one-line note appended to
    `notes`; a malformed line anywhere else is an error naming the line."""
    with no_gc():
        return _read_jsonl(Path(path), notes)[0]


def write_jsonl(ops: Iterable[Op], path: Path | str) -> None:
    with open(path, "w") as fh:
        for op in ops:
            fh.write(json.dumps(op.to_dict(), separators=(",", ":"), default=_json_default))
            fh.write("\n")


def is_edn_file(path: Path) -> bool:
    """Whether `load` reads this file as EDN: by its extension, else by its first bytes."""
    if path.suffix in (".edn", ".jsonl", ".json"):
        return path.suffix == ".edn"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip()
    except OSError as e:
        raise HistoryError(f"cannot read history {path}: {e.strerror}") from None
    return not head.startswith((b'{"', b'{ "'))


def _is_jepsen_log(path: Path) -> bool:
    from harness import jepsen_log

    try:
        with open(path, "rb") as fh:
            return jepsen_log.looks_like(fh.read(4096))
    except OSError:
        return False  # the reader names the problem


def _read_any(path: Path, notes: list[str] | None, native: bool = True) -> tuple[list[Op], LineOf]:
    if path.is_dir():
        path = path / "history.jsonl"
    is_edn = is_edn_file(path)
    with no_gc():
        if is_edn and _is_jepsen_log(path):
            from harness import jepsen_log

            return jepsen_log.read(path, native)
        if is_edn:
            from harness.edn import _read_edn

            return _read_edn(path, notes, native)
        return _read_jsonl(path, notes)


def load(path: Path | str, notes: list[str] | None = None, validate: bool = False) -> list[Op]:
    """Load a history of any supported format: JSONL, or Jepsen EDN (by extension or content).
    Notes for the user (a dropped truncated last line) are appended to `notes`. With
    `validate`, a history that is not one (see `validate`) is a HistoryError naming the line."""
    return load_lines(path, notes, validate)[0]


def load_lines(
    path: Path | str, notes: list[str] | None = None, validate: bool = False
) -> tuple[list[Op], LineOf]:
    """`load`, and the line of the file each op (by position) was read from."""
    path = Path(path)
    ops, line_of = _read_any(path, notes)
    if validate:
        name = str(path / "history.jsonl" if path.is_dir() else path)
        try:
            _validate(ops, name, line_of)
        except HistoryError:
            # the error is the Python reader's, whichever reader read the ops
            ops, line_of = _read_any(path, notes, native=False)
            _validate(ops, name, line_of)
    return ops, line_of


def validate(history: list[Op], name: str = "history", line_of: LineOf | None = None) -> None:
    """Refuse what is not a history of invocations and their completions (HistoryError naming
    the line): no ops, no client invocation, indices that do not increase, a completion with
    no invocation outstanding on its process (or one before its invocation), a second
    invocation while one is outstanding, a completion whose f or time differs from its
    invocation's. Nemesis ops pair the same way; a lone nemesis info is an event (Jepsen).
    One pass, a dict of outstanding invocations: cheap enough to run on every history."""
    if not history:
        raise HistoryError(f"{name}: empty history (no ops)")

    def fail(i: int, problem: str) -> HistoryError:
        where = f"line {line_of(i)}" if line_of is not None else f"op {i}"
        return HistoryError(f"{name}: {where}: {problem}")

    pending: dict[Any, int] = {}
    invocations = 0
    last_index = -1
    for i, op in enumerate(history):
        if op.index <= last_index:
            raise fail(i, f"index {op.index} does not follow index {last_index}")
        last_index = op.index
        p = op.process
        if op.type == INVOKE:
            j = pending.get(p)
            if j is not None:
                where = f"line {line_of(j)}" if line_of is not None else f"op {j}"
                raise fail(i, f"process {p} invokes while its invocation at {where} is outstanding")
            pending[p] = i
            if p != NEMESIS:
                invocations += 1
            continue
        j = pending.pop(p, None)
        if j is None:
            if p == NEMESIS and op.type == INFO:
                continue  # Jepsen records many nemesis events as a single info op
            raise fail(i, f"{op.type} of process {p} without an invocation outstanding")
        inv = history[j]
        if inv.f != op.f:
            raise fail(i, f"completion f {op.f!r} differs from its invocation's f {inv.f!r}")
        if op.time < inv.time and op.time >= 0 and inv.time >= 0:
            raise fail(i, f"completion at {op.time} ns is timed before its invocation")
    if invocations == 0:
        raise HistoryError(f"{name}: no invocations: not a history of client operations")


_validate = validate  # `load` has a parameter of that name


def pairs(history: list[Op]) -> Iterator[tuple[Op, Op | None]]:
    """(invocation, completion) for every client invocation; completion None if it never came.

    Nemesis ops are skipped. A process has at most one op outstanding (Jepsen's rule)."""
    pending: dict[Any, Op] = {}
    out: list[tuple[Op, Op | None]] = []
    slot: dict[int, int] = {}
    for op in history:
        if op.process == NEMESIS:
            continue
        if op.type == INVOKE:
            pending[op.process] = op
            slot[op.index] = len(out)
            out.append((op, None))
        else:
            inv = pending.pop(op.process, None)
            if inv is not None:
                out[slot[inv.index]] = (inv, op)
    return iter(out)


def complete(history: list[Op]) -> dict[int, Op]:
    """Map invocation index -> completion op (only for invocations that completed)."""
    return {inv.index: c for inv, c in pairs(history) if c is not None}


def to_dataframe(history: list[Op]):  # -> pandas.DataFrame (import is slow; kept lazy)
    """One row per op; plus, on completions, the invocation time and latency (ns)."""
    import pandas as pd

    inv_of: dict[int, Op] = {}
    for i, c in pairs(history):
        if c is not None:
            inv_of[c.index] = i
    rows = []
    for op in history:
        inv: Op | None = inv_of.get(op.index)
        rows.append(
            {
                "index": op.index,
                "time": op.time,
                "process": op.process,
                "type": op.type,
                "f": op.f,
                "value": op.value,
                "node": op.node,
                "error": op.error,
                "invoke_time": inv.time if inv else None,
                "latency": (op.time - inv.time) if inv else None,
            }
        )
    return pd.DataFrame(rows)


def nemesis_windows(history: list[Op]) -> list[dict[str, Any]]:
    """Fault windows [start, end) in ns from nemesis ops: ops whose f starts with 'start-'
    or is a fault name open a window closed by the matching 'stop-' op (see nemesis/)."""
    from nemesis.record import windows

    return windows(history)
