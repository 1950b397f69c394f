"""Jepsen EDN histories: a small, fast EDN reader and writer, and the mapping to `Op`.

The reader is a single regex tokenizer plus an explicit stack (no recursion), so a 3 MB
history parses in well under a second in pure Python. Values map to JSON-like Python data:

- keywords and symbols -> str without the colon (`:invoke` -> "invoke", `:foo/bar` -> "foo/bar")
- nil/true/false -> None/True/False; `42N` -> int; `1.5M` -> float; `##Inf` -> inf
- vectors and lists -> list; sets -> sorted list (insertion order if not comparable)
- maps -> dict (vector keys become tuples, so they are hashable)
- tagged literals (`#inst "..."`, `#uuid "..."`, any other tag) -> the tagged value itself
- `#_ form` is discarded; `;` comments and commas are whitespace

A history file is either one top-level vector (or list) of op maps, or a sequence of op maps
(one per line in Jepsen's history.edn); both may be mixed with comments.

The writer emits one op map per line. `:type`, `:f`, the "nemesis" process, op-level keys
and the first element of each micro-op in a transaction (`[:append 1 2]`) are keywords; every
other string is an EDN string, so export then import gives back the same ops.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.errors import HistoryError
from harness.ops import (
    _NO_EXTRA,
    MAX_DEPTH,
    NEMESIS,
    LineOf,
    Op,
    _plain_op,
    make_op,
    no_gc,
    plain_op,
)

__all__ = [
    "EdnError",
    "loads",
    "loads_all",
    "dumps",
    "dumps_value",
    "read_edn_history",
    "parse_history",
    "write_edn_history",
]


class EdnError(ValueError):
    """Malformed EDN; `pos` is the character offset of the problem."""

    def __init__(self, msg: str, pos: int) -> None:
        super().__init__(msg)
        self.pos = pos


_DELIM = r"\s,\[\]{}()\"';\\"
_TOKEN = re.compile(
    rf"""
    [\s,]+ | ;[^\n]*                                   # whitespace, commas, comments
    | (?P<str>"(?:[^"\\]|\\[\s\S])*")
    | (?P<open>\#\{{|[\[{{(])
    | (?P<close>[\]}})])
    | (?P<disc>\#_)
    | (?P<atom>\#\#(?:Inf|-Inf|NaN)|[^\#{_DELIM}][^{_DELIM}]*)
    | (?P<tag>\#[A-Za-z][^{_DELIM}]*)
    | (?P<char>\\(?:newline|return|space|tab|formfeed|backspace|u[0-9a-fA-F]{{4}}|[^\s]))
    | (?P<bad>[\s\S])
    """,
    re.VERBOSE,
)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?M?")
_RATIO = re.compile(r"[+-]?\d+/\d+")
_STR_ESC = re.compile(r"\\(u[0-9a-fA-F]{4}|[\s\S])")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f", "/": "/"}
_CHARS = {
    "newline": "\n",
    "return": "\r",
    "space": " ",
    "tab": "\t",
    "formfeed": "\f",
    "backspace": "\b",
}
_CLOSER = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_SPECIAL = {
    "nil": None,
    "true": True,
    "false": False,
    "##Inf": math.inf,
    "##-Inf": -math.inf,
    "##NaN": math.nan,
}


def _unescape(m: re.Match[str]) -> str:
    e = m.group(1)
    if len(e) == 5:  # uXXXX
        return chr(int(e[1:], 16))
    try:
        return _ESCAPES[e]
    except KeyError:
        raise ValueError(f"unknown string escape \\{e}") from None


def _atom(tok: str, pos: int) -> Any:
    if tok in _SPECIAL:
        return _SPECIAL[tok]
    c = tok[0]
    if c == ":":
        if len(tok) == 1:
            raise EdnError("empty keyword ':'", pos)
        return tok[1:]
    if c.isdigit() or (c in "+-" and len(tok) > 1 and tok[1].isdigit()):
        try:
            if _INT.fullmatch(tok):
                return int(tok.rstrip("N"))
            if _FLOAT.fullmatch(tok):
                return float(tok.rstrip("M"))
            if _RATIO.fullmatch(tok):
                n, d = tok.split("/")
                if int(d) == 0:
                    raise EdnError(f"ratio {tok} divides by zero", pos)
                return int(n) / int(d)
        except EdnError:
            raise
        except (ValueError, OverflowError):  # past Python's digit limit, or a float's range
            kind = "ratio" if "/" in tok else "number"
            raise EdnError(f"{kind} {_short(tok)} is too large", pos) from None
        raise EdnError(f"malformed number {_short(tok)}", pos)
    return tok  # a symbol


def _short(tok: str) -> str:
    return repr(tok) if len(tok) <= 40 else repr(tok[:20] + "..." + tok[-10:])


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted(((_hashable(k), _hashable(x)) for k, x in v.items()), key=repr))
    return v


def _as_set(items: list[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        return items


def _parse(text: str, op_positions: list[int] | None = None) -> list[Any]:
    """All top-level forms of `text`. If `op_positions` is given, the start offset of every
    would-be op is appended to it: each top-level form that is not a vector, and each element
    of a top-level vector or list (so they align with the flattened ops)."""
    top: list[Any] = []
    # frames: [kind, items, start]; kind is "[", "(", "{", "#{", "#_" or "#tag"
    stack: list[list[Any]] = []
    cache: dict[str, Any] = {}
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind is None:
            continue
        pos = m.start()
        if kind == "atom":
            tok = m.group()
            try:
                value = cache[tok]
            except KeyError:
                value = cache[tok] = _atom(tok, pos)
        elif kind == "str":
            s = m.group()[1:-1]
            if "\\" in s:
                try:
                    s = _STR_ESC.sub(_unescape, s)
                except ValueError as e:
                    raise EdnError(str(e), pos) from None
            value = s
        elif kind == "open":
            if len(stack) >= MAX_DEPTH:
                raise EdnError(f"values nested too deep (more than {MAX_DEPTH} levels)", pos)
            stack.append([m.group(), [], pos])
            continue
        elif kind == "close":
            if not stack or stack[-1][0] not in _CLOSER:
                raise EdnError(f"unexpected {m.group()!r}", pos)
            opener, items, pos = stack.pop()
            if _CLOSER[opener] != m.group():
                raise EdnError(f"{opener!r} closed by {m.group()!r}", pos)
            if opener == "{":
                if len(items) % 2:
                    raise EdnError("map with an odd number of forms", pos)
                it = iter(items)
                value = {}
                for k in it:
                    if isinstance(k, list | dict):
                        k = _hashable(k)
                    value[k] = next(it)
            elif opener == "#{":
                value = _as_set(items)
            else:
                value = items
        elif kind in ("disc", "tag"):
            if len(stack) >= MAX_DEPTH:
                raise EdnError(f"values nested too deep (more than {MAX_DEPTH} levels)", pos)
            stack.append([m.group(), None, pos])
            continue
        elif kind == "char":
            c = m.group()[1:]
            value = _CHARS.get(c) or (chr(int(c[1:], 16)) if len(c) == 5 and c[0] == "u" else c)
        else:
            if m.group() == '"':
                raise EdnError("unterminated string", pos)
            raise EdnError(f"unexpected character {m.group()!r}", pos)

        # Deliver the value to its container; tag and discard frames each consume one value.
        while True:
            if not stack:
                if op_positions is not None and type(value) is not list:
                    op_positions.append(pos)
                top.append(value)
                break
            frame = stack[-1]
            if frame[1] is None:  # #_ or #tag: waits for exactly one form
                stack.pop()
                if frame[0] == "#_":
                    break
                pos = frame[2]
                continue  # a tagged literal is its value
            if op_positions is not None and len(stack) == 1 and frame[0] in ("[", "("):
                op_positions.append(pos)
            frame[1].append(value)
            break
    if stack:
        opener, _, pos = stack[-1]
        what = f"tag {opener}" if opener[0] == "#" and opener not in _CLOSER else repr(opener)
        raise EdnError(f"{what} is never closed", pos)
    return top


def loads_all(text: str) -> list[Any]:
    """Every top-level form in `text`."""
    return _parse(text)


def loads(text: str) -> Any:
    """Exactly one EDN form."""
    forms = _parse(text)
    if len(forms) != 1:
        raise EdnError(f"expected one form, found {len(forms)}", 0)
    return forms[0]


# -- history --------------------------------------------------------------------------------


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def read_edn_history(path: Path | str, notes: list[str] | None = None) -> list[Op]:
    """Read a Jepsen EDN history (a top-level vector of op maps, or one op map per line).
    A truncated last line is dropped, with a one-line note appended to `notes`."""
    with no_gc():
        return _read_edn(Path(path), notes)[0]


def _native_reader() -> Any:
    """splitbrain_native.read_ops when the native core has it (SPLITBRAIN_NATIVE=0: never)."""
    from harness import native

    return getattr(native.module(), "read_ops", None)


last_native_reason: str | None = None  # why the native reader gave up last (tests, benches)


def _read_native(path: Path) -> tuple[list[Op], LineOf] | None:
    """The ops and lines of a history read by the native core (registers, and transactions
    with their micro-ops shared as _intern_heads shares them), or None (it is not built, or it
    gave up on something: then the Python reader reads the file from scratch)."""
    global last_native_reason
    read_ops = _native_reader()
    if read_ops is None:
        last_native_reason = "the native core has no read_ops"
        return None
    try:
        out = read_ops(str(path), Op, _NO_EXTRA)
    except Exception as e:  # noqa: BLE001 (any doubt: the Python reader decides)
        last_native_reason = f"native error: {e}"
        return None
    if isinstance(out, str):
        last_native_reason = out
        return None
    last_native_reason = None
    ops, raw = out
    lines = array("q")
    lines.frombytes(raw)
    return ops, lines.__getitem__


def _read_edn(path: Path, notes: list[str] | None, native: bool = True) -> tuple[list[Op], LineOf]:
    if native:
        got = _read_native(path)
        if got is not None:
            return got

    def read_lines() -> list[str]:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise HistoryError(f"cannot read history {path}: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise HistoryError(f"{path}: not UTF-8 text (byte {e.start})") from None
        return text.split("\n")  # the lines are all that is kept: not the text twice

    try:
        return _parse_lines(read_lines(), str(path), read_lines)
    except HistoryError:
        # An interrupted writer leaves a cut last line: drop it, if the rest reads.
        lines = read_lines()
        if len(lines) < 2 or not lines[-1].strip():
            raise
        try:
            ops, line_of = _parse_lines([*lines[:-1], ""], str(path))
        except HistoryError:
            raise  # noqa: B904 (the error of the whole text is the one to show)
        if notes is not None:
            notes.append(
                f"{path}: dropped truncated last line {len(lines)} (the run was interrupted)"
            )
        return ops, line_of


def parse_history(text: str, name: str = "<string>") -> list[Op]:
    """Ops from the text of an EDN history; `name` is used in error messages."""
    with no_gc():
        return _parse_lines(text.split("\n"), name)[0]


def _parse_history_slow(text: str, name: str = "<string>") -> list[Op]:
    """The general reader alone (what the fast path must agree with)."""
    return _parse_slow(text, name)[0]


def _parse_slow(
    text: str, name: str, first_line: int = 1, first_op: int = 0
) -> tuple[list[Op], list[int]]:
    """Ops and the line of each, by the general reader; an op without :index gets its
    position in the whole history (first_op: ops read before this text)."""
    positions: list[int] = []
    try:
        forms = _parse(text, positions)
    except EdnError as e:
        line = _line_of(text, e.pos) + first_line - 1
        raise HistoryError(f"{name}: malformed EDN at line {line}: {e}") from None
    maps: list[Any] = []
    for form in forms:
        if isinstance(form, list):
            maps.extend(form)
        else:
            maps.append(form)
    if len(positions) != len(maps):  # a top-level set or tagged vector: no place for its ops
        raise HistoryError(
            f"{name}: malformed EDN: a top-level form that is neither an op map nor a vector"
            " or list of them (a set, or a tagged literal)"
        )
    ops: list[Op] = []
    for i, d in enumerate(maps):
        try:
            if type(d) is not dict:
                raise ValueError(f"an op must be a map, got {_edn_type(d)}")
            ops.append(_op(d, first_op + i))
        except ValueError as e:
            line = _line_of(text, positions[i]) + first_line - 1
            raise HistoryError(f"{name}: malformed op at line {line}: {e}") from None
    lines = _lines_of(text, positions, first_line)
    return ops, lines


def _lines_of(text: str, positions: list[int], first_line: int) -> list[int]:
    out: list[int] = []
    line, at = first_line, 0
    for pos in positions:
        line += text.count("\n", at, pos)
        at = pos
        out.append(line)
    return out


# The fast path: a line holding one op map made of keywords, numbers, nil/true/false, vectors
# and plain strings (Jepsen's and our own history.edn, nearly every line) is rewritten to JSON
# by a few regex passes over the whole text and read by orjson at C speed: the map's braces
# become a vector of alternating keys and values. Anything else on a line (tags, sets, nested
# maps, comments, escapes, big integers, symbols) goes to the general reader, line by line;
# any doubt at all, and the whole text does.
_PLAIN = r'[^"{}#;\\()\'\n]'
_PLAIN_STR = r'"[^"\s,\[\]{}:;()#\\]*"'
_FAST_LINE = re.compile(rf"(?!.*\d{{19}})\{{{_PLAIN}*(?:{_PLAIN_STR}{_PLAIN}*)*\}}")
_PLAIN_STRS = re.compile(_PLAIN_STR)
_DIGITS = str.maketrans("123456789", "000000000")
_KW_SPLIT = re.compile(r""":([^\s,\[\]{}()"';\\]+)""")
_SEP_JSON = re.compile(r"(?:[^\S\n]|,)+")
_BRACES = str.maketrans("{}", "[]")
_CHUNK = 20_000  # lines rewritten at a time: bounds the transient strings


def _to_json(lines: list[str]) -> str:
    t = "\n".join(lines).translate(_BRACES)
    # separators: str.replace is 15x faster than a regex; odd whitespace (several spaces,
    # tabs...) leaves ",," or a bare character behind, which orjson refuses: the slow path
    t = t.replace(", ", ",").replace(" ", ",")
    if ",," in t:
        t = _SEP_JSON.sub(",", t)
    t = t.replace("[,", "[").replace(",]", "]")
    # [text, keyword, text, keyword, ..., text] joined by quotes: every keyword quoted, in C
    t = '"'.join(_KW_SPLIT.split(t))
    if "nil" in t:
        for a, b in (
            (",nil,", ",null,"),
            (",nil]", ",null]"),
            ("[nil,", "[null,"),
            ("[nil]", "[null]"),
        ):
            while a in t:
                t = t.replace(a, b)
    return t


def _fast_lines(chunk: list[str]) -> list[bool]:
    """Which (stripped) lines of a chunk the fast path may read."""
    joined = "\n".join(chunk)
    n = len(chunk)
    if (
        joined.startswith("{")
        and joined.endswith("}")
        and joined.count("{") == n
        and joined.count("}") == n
        and joined.count("\n{") == n - 1
        and joined.count("}\n") == n - 1
        and not any(c in joined for c in "#;\\()'")
        and "0" * 19 not in joined.translate(_DIGITS)  # orjson makes big integers floats
        and ('"' not in joined or '"' not in _PLAIN_STRS.sub("", joined))
    ):
        ok = [True] * n  # the common case: every line one flat op map, no per-line regex
    else:
        match = _FAST_LINE.fullmatch
        ok = [bool(s) and s[0] == "{" and match(s) is not None for s in chunk]
    lim = 2 * MAX_DEPTH  # a line this short cannot nest deeper than MAX_DEPTH
    for i, s in enumerate(chunk):
        if len(s) > lim and s.count("[") > MAX_DEPTH:
            ok[i] = False  # the general reader measures the depth
    return ok


def _fast_flats(lines: list[str]) -> list[Any]:
    """For each fast line, its op map as a flat [key, value, key, value...] list (or whatever
    orjson made of the line; None if it could not read it)."""
    import orjson

    js = _to_json(lines)
    try:
        return orjson.loads("[" + js.replace("\n", ",") + "]")
    except orjson.JSONDecodeError:
        flats = []
        for s in js.split("\n"):
            try:
                flats.append(orjson.loads(s))
            except orjson.JSONDecodeError:
                flats.append(None)
        return flats


# The key orders of nearly every history.edn: ours, and Jepsen's. A line in one of them
# becomes an Op without a dict in between.
_OUR_KEYS = ["index", "time", "type", "process", "f", "value"]
_JEPSEN_KEYS = ["type", "f", "value", "process", "time", "index"]


def _map_of(flat: Any) -> Op | dict[Any, Any] | None:
    """A fast line's op straight from its flat list when it is a plain op in a usual key
    order; else its map as a dict (for `_op`); None if it is no map the fast path can read."""
    if type(flat) is not list or len(flat) % 2:
        return None
    if len(flat) == 12:
        keys = flat[0::2]
        op = None
        if keys == _OUR_KEYS:
            op = plain_op(flat[1], flat[3], flat[7], flat[5], flat[9], flat[11])
        elif keys == _JEPSEN_KEYS:
            op = plain_op(flat[11], flat[9], flat[7], flat[1], flat[3], flat[5])
        if op is not None:
            return op
    it = iter(flat)
    try:
        return dict(zip(it, it, strict=True))
    except TypeError:  # a vector as a key: the general reader makes it a tuple
        return None


def _parse_lines(
    lines: list[str], name: str, reread: Callable[[], list[str]] | None = None
) -> tuple[list[Op], LineOf]:
    """Ops from the lines of an EDN text (split on newlines), and the line of each op.

    A chunk of lines at a time: the fast lines go through JSON and orjson, the others (and
    any line the fast path cannot read) through the general reader, with the lines around
    them. With `reread` (which gives the lines again), lines already read are blanked as the
    parse moves on, so that a big history's text is not held beside all of its ops."""
    ops: list[Op] = []
    fast_at = array("q")  # line (0-based) of each op, while every op is on a fast line
    at: list[int] | None = None  # line (1-based) of each op, once some op is not
    prev = 0  # first line not yet read
    freed = 0  # lines before this one are blanked
    any_fast = False
    try:
        for c in range(0, len(lines), _CHUNK):
            chunk = [s.strip() for s in lines[c : c + _CHUNK]]
            where = [i for i, ok in enumerate(_fast_lines(chunk)) if ok]
            if not where:
                continue
            any_fast = True
            flats = _fast_flats([chunk[i] for i in where])
            del chunk
            for i, flat in zip(where, flats, strict=True):
                n = c + i
                d = _map_of(flat)
                if d is None or (n > prev and any(x.strip() for x in lines[prev:n])):
                    if at is None:
                        at = [j + 1 for j in fast_at]
                    if d is None:
                        continue  # read with the slow lines around it
                    chunk_ops, chunk_at = _parse_slow(
                        "\n".join(lines[prev:n]), name, prev + 1, len(ops)
                    )
                    ops.extend(chunk_ops)
                    at.extend(chunk_at)
                prev = n + 1
                ops.append(d if type(d) is Op else _op(d, len(ops)))  # type: ignore[arg-type]
                if at is None:
                    fast_at.append(n)
                else:
                    at.append(n + 1)
            del flats
            if reread is not None and prev > freed:
                lines[freed:prev] = [""] * (prev - freed)
                freed = prev
        if not any_fast:
            slow_ops, slow_at = _parse_slow("\n".join(lines), name)
            return slow_ops, slow_at.__getitem__
        if prev < len(lines) and any(x.strip() for x in lines[prev:]):
            if at is None:
                at = [j + 1 for j in fast_at]
            chunk_ops, chunk_at = _parse_slow("\n".join(lines[prev:]), name, prev + 1, len(ops))
            ops.extend(chunk_ops)
            at.extend(chunk_at)
    except (HistoryError, ValueError):
        # A form across a fast line, or a bad op: the general reader gives the true error.
        del ops
        whole = reread() if reread is not None and freed else lines
        slow_ops, slow_at = _parse_slow("\n".join(whole), name)
        return slow_ops, slow_at.__getitem__
    if at is None:
        return ops, lambda i: fast_at[i] + 1
    return ops, at.__getitem__


def _edn_type(v: Any) -> str:
    return {str: "a string/keyword", int: "a number", float: "a number", list: "a vector"}.get(
        type(v), type(v).__name__
    )


_CORE = frozenset(("index", "time", "process", "type", "f", "value", "node", "error"))


def _op(d: dict[Any, Any], position: int) -> Op:
    op = _plain_op(d)
    if op is not None:
        return op
    value = d.get("value")
    f = d.get("f")
    if f is None:
        # Elle's histories may omit :f; a list of micro-ops is a transaction
        f = "txn" if "f" not in d and _is_txn(value) else ""
    if d.keys() <= _CORE:
        extra = _NO_EXTRA
    else:
        extra = {}
        for k, v in d.items():
            if k not in _CORE:
                extra[k if isinstance(k, str) else dumps_value(k)] = v
    return make_op(
        d.get("index", position),
        d.get("time", -1),
        d.get("process"),
        d.get("type"),
        f,
        value,
        _text(d.get("node")),
        _text(d.get("error")),
        extra,
        ":",
    )


def _text(v: Any) -> str | None:
    """Op.node and Op.error are strings: a structured Jepsen error keeps its EDN text."""
    if v is None or isinstance(v, str):
        return v
    return dumps_value(v)


def _is_txn(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(m, list) and m and isinstance(m[0], str) for m in value
    )


# -- writer ---------------------------------------------------------------------------------

_KEYWORD = re.compile(r"[A-Za-z*!_?<>=.+-][A-Za-z0-9*!_?<>=.+/:#'-]*")


def _kw_ok(s: str) -> bool:
    # a keyword must read back as itself: not a number-like "+1", not ending in ":"
    return (
        bool(_KEYWORD.fullmatch(s))
        and not s.endswith(":")
        and not (s[0] in "+-." and s[1:2].isdigit())
    )


def _str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _kw_or_str(s: str) -> str:
    return ":" + s if _kw_ok(s) else _str(s)


def dumps_value(v: Any, txn: bool = False) -> str:
    """EDN text of a JSON-like value. With `txn`, v is a list of micro-ops whose first elements
    are written as keywords."""
    if v is None:
        return "nil"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "##NaN"
        if math.isinf(v):
            return "##Inf" if v > 0 else "##-Inf"
        return repr(v)
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, list | tuple):
        if txn:
            parts = []
            for m in v:
                if isinstance(m, list | tuple) and m and isinstance(m[0], str):
                    head = _kw_or_str(m[0])
                    parts.append("[" + " ".join([head, *(dumps_value(x) for x in m[1:])]) + "]")
                else:
                    parts.append(dumps_value(m))
            return "[" + " ".join(parts) + "]"
        return "[" + " ".join(dumps_value(x) for x in v) + "]"
    if isinstance(v, set | frozenset):
        return dumps_value(_as_set(list(v)))
    if isinstance(v, dict):
        return "{" + ", ".join(f"{dumps_value(k)} {dumps_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as EDN")


def _op_edn(op: Op) -> str:
    parts = [f":index {op.index}"]
    if op.time >= 0:
        parts.append(f":time {op.time}")
    parts.append(f":type :{op.type}")
    p = op.process
    if p is not None:  # Elle's histories may have no :process
        parts.append(f":process {':' + p if p == NEMESIS else dumps_value(p)}")
    parts.append(f":f {_kw_or_str(op.f)}")
    parts.append(f":value {dumps_value(op.value, txn=_is_txn(op.value))}")
    if op.node is not None:
        parts.append(f":node {_str(op.node)}")
    if op.error is not None:
        parts.append(f":error {_str(op.error)}")
    for k, v in op.extra.items():
        parts.append(f"{_kw_or_str(k)} {dumps_value(v)}")
    return "{" + ", ".join(parts) + "}"


def dumps(ops: Iterable[Op]) -> str:
    """EDN text of a history: one op map per line."""
    return "".join(_op_edn(op) + "\n" for op in ops)


def write_edn_history(ops: Iterable[Op], path: Path | str) -> None:
    Path(path).write_text(dumps(ops), encoding="utf-8")
