"""The history: every operation of a run, one JSON object per line, append-only.

Field names follow Jepsen (index, time, process, type, f, value, node, error); see DESIGN.md.
`time` is integer nanoseconds since the run started (monotonic clock).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import HistoryError

# the op and its constants live in harness.ops (the leaf every reader builds on); here too,
# as the names the rest of the code has always imported from the history
from harness.ops import FAIL as FAIL
from harness.ops import INFO as INFO
from harness.ops import INVOKE as INVOKE
from harness.ops import MAX_DEPTH as MAX_DEPTH
from harness.ops import NEMESIS as NEMESIS
from harness.ops import OK as OK
from harness.ops import LineOf as LineOf
from harness.ops import Op as Op
from harness.ops import encode
from harness.ops import make_op as make_op
from harness.ops import no_gc as no_gc


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
        tail = encode(value)
        if node is not None:
            tail += ',"node":' + encode(node)
        if error is not None:
            tail += ',"error":' + encode(error)
        for k, v in extra.items():
            tail += f",{encode(k)}:{encode(v)}"
        head = f',"process":{encode(process)},"type":"{type}","f":{encode(f)},"value":'
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
            fh.write(encode(op.to_dict()))
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
