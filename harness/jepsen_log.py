"""Jepsen's log lines as a history: `INFO  jepsen.util - 3	:invoke	:cas	[1 2]`.

Older Jepsen tests (the etcd histories that Knossos and Porcupine test against) kept only
this log: one op per line, the process, its type, f and value as EDN, no time and no index
(both are the line's position). Other lines of the log are skipped.

The native core reads the same ops (splitbrain_native.read_log_ops) when it is there and the
log has only the shapes it reads (register values, printable ASCII); else this module does."""

from __future__ import annotations

import re
from array import array
from pathlib import Path

from harness import edn
from harness.errors import HistoryError
from harness.ops import LineOf, Op, make_op

_LINE = re.compile(r"^\S+\s+jepsen\.util\s+-\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*?)\s*$")
_NO_EXTRA: dict[str, object] = {}


def looks_like(head: bytes) -> bool:
    """Whether a file starting with `head` is a Jepsen log (its first line is an op line)."""
    first = head.lstrip().split(b"\n", 1)[0].decode("utf-8", "replace")
    return _LINE.match(first) is not None


def read(path: Path, native: bool = True) -> tuple[list[Op], LineOf]:
    got = _read_native(path) if native else None
    if got is not None:
        return got
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise HistoryError(f"cannot read history {path}: {e}") from None
    ops: list[Op] = []
    lines: list[int] = []
    for n, line in enumerate(text.splitlines(), start=1):
        m = _LINE.match(line)
        if m is None:
            continue
        process, typ, f, value = m.groups()
        try:
            p = int(process) if process.isdigit() else edn.loads(process)
            v = _value(value)
            op = make_op(len(ops), -1, p, _name(typ), _name(f), v, None, None, _NO_EXTRA, ":")
        except (ValueError, HistoryError) as e:
            raise HistoryError(f"{path}: line {n}: {e}") from None
        ops.append(op)
        lines.append(n)
    return ops, lines.__getitem__


def _read_native(path: Path) -> tuple[list[Op], LineOf] | None:
    from harness import native

    read_log_ops = getattr(native.module(), "read_log_ops", None)
    if read_log_ops is None:
        return None
    try:
        out = read_log_ops(str(path), Op, _NO_EXTRA)
    except Exception:  # noqa: BLE001 (any doubt: the Python reader decides)
        return None
    if isinstance(out, str):
        return None
    ops, raw = out
    lines = array("q")
    lines.frombytes(raw)
    return ops, lines.__getitem__


_PAIR = re.compile(r"^\[(-?\d+)\s+(-?\d+)\]$")


def _name(text: str) -> object:
    """A keyword's name (the log's types and fs are keywords)."""
    if text.startswith(":") and text[1:].replace("-", "").isalnum():
        return text[1:]
    return edn.loads(text)


def _value(text: str) -> object:
    """The EDN value, read directly in the shapes registers log (nil, 3, [1 2], :timed-out)."""
    if not text or text == "nil":
        return None
    if text.isdigit():
        return int(text)
    m = _PAIR.match(text)
    if m is not None:
        return [int(m.group(1)), int(m.group(2))]
    return edn.loads(text)
