"""The history: every operation of a run, one JSON object per line, append-only.

Field names follow Jepsen (index, time, process, type, f, value, node, error); see DESIGN.md.
`time` is integer nanoseconds since the run started (monotonic clock).
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HistoryError

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
TYPES = frozenset((INVOKE, OK, FAIL, INFO))
NEMESIS = "nemesis"
_CORE = ("index", "time", "process", "type", "f", "value", "node", "error")


@dataclass(slots=True)
class Op:
    index: int
    time: int
    process: int | str
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
    def from_dict(cls, d: dict[str, Any], index: int) -> Op:
        typ = d.get("type")
        if typ not in TYPES:
            raise ValueError(f"type must be one of invoke/ok/fail/info, got {typ!r}")
        if "process" not in d or "f" not in d:
            raise ValueError("op needs 'process' and 'f'")
        extra = {k: v for k, v in d.items() if k not in _CORE}
        return cls(
            index=int(d.get("index", index)),
            time=int(d.get("time", -1)),
            process=d["process"],
            type=typ,
            f=str(d["f"]),
            value=d.get("value"),
            node=d.get("node"),
            error=d.get("error"),
            extra=extra,
        )

    @property
    def seconds(self) -> float:
        return self.time / 1e9


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


def read_jsonl(path: Path | str) -> list[Op]:
    """Read a JSONL history. A truncated last line is dropped with a warning; a malformed line
    anywhere else is an error naming the line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise HistoryError(f"cannot read history {path}: {e.strerror}") from None
    lines = raw.split(b"\n")
    ops: list[Op] = []
    last = len(lines) - 1
    while last >= 0 and not lines[last].strip():
        last -= 1
    for n, line in enumerate(lines[: last + 1], start=1):
        if not line.strip():
            continue
        try:
            ops.append(Op.from_dict(json.loads(line), len(ops)))
        except (ValueError, TypeError) as e:
            if n == last + 1 and not raw.endswith(b"\n"):
                warnings.warn(
                    f"{path}: dropped truncated last line {n} (the run was interrupted)",
                    stacklevel=2,
                )
                break
            raise HistoryError(f"{path}: malformed history line {n}: {e}") from None
    return ops


def write_jsonl(ops: Iterable[Op], path: Path | str) -> None:
    with open(path, "w") as fh:
        for op in ops:
            fh.write(json.dumps(op.to_dict(), separators=(",", ":"), default=_json_default))
            fh.write("\n")


def load(path: Path | str) -> list[Op]:
    """Load a history of any supported format: JSONL, or Jepsen EDN (by extension or content)."""
    path = Path(path)
    if path.is_dir():
        path = path / "history.jsonl"
    if path.suffix == ".edn":
        from harness.edn import read_edn_history

        return read_edn_history(path)
    if path.suffix in (".jsonl", ".json"):
        return read_jsonl(path)
    try:
        head = path.read_bytes()[:4096].lstrip()
    except OSError as e:
        raise HistoryError(f"cannot read history {path}: {e.strerror}") from None
    if head.startswith((b'{"', b'{ "')):
        return read_jsonl(path)
    from harness.edn import read_edn_history

    return read_edn_history(path)


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
    for inv, c in pairs(history):
        if c is not None:
            inv_of[c.index] = inv
    rows = []
    for op in history:
        inv = inv_of.get(op.index)
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
