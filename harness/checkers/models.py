"""Sequential specifications for the linearizability checker, in Porcupine's style.

A model is a small object of pure functions over hashable states:

- `init()` -> the initial state (never None: None means "illegal" in `step`)
- `prepare(f, invoke_value, complete_value, ok)` -> (input, output) of one operation, or None
  when the operation carries no information (an indeterminate read). `ok` is False for an
  `info` op or one that never completed; its output is unknown.
- `step(state, f, input, output)` -> the state after the op, or None if the op cannot happen
  in `state`.
- `describe_op(f, input, output, where)` / `describe_state(state)` -> text for explanations.

Registers hold their value in a 1-tuple, so that a nil register is a state and not "illegal".
Values are frozen (lists -> tuples) so states hash.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

State = Hashable
Effects = tuple[tuple[tuple[Any, Any], ...], tuple[tuple[Any, Any], ...]]


MAX_DEPTH = 100  # nesting of a value: no database value is deeper; Python's stack is finite


def freeze(v: Any, depth: int = 0) -> Any:
    """v, hashable: lists become tuples, maps and sets frozensets. ValueError if it is nested
    deeper than MAX_DEPTH."""
    t = type(v)
    if (t is int or t is str or v is None) and depth <= MAX_DEPTH:
        return v  # the common case, first
    if depth > MAX_DEPTH:
        raise ValueError(f"value nested more than {MAX_DEPTH} deep")
    if isinstance(v, list | tuple):
        return tuple(freeze(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return frozenset((freeze(k, depth + 1), freeze(x, depth + 1)) for k, x in v.items())
    if isinstance(v, set | frozenset):
        return frozenset(freeze(x, depth + 1) for x in v)
    return v


def show(v: Any, depth: int = 0) -> str:
    """A value as a database engineer reads it (nil, 3, [1 2])."""
    if v is None:
        return "nil"
    if isinstance(v, tuple | list):
        if depth >= MAX_DEPTH:
            return "[...]"
        return "[" + " ".join(show(x, depth + 1) for x in v) + "]"
    if isinstance(v, str):
        return v
    try:
        return repr(v)
    except ValueError:  # an integer too long to print as text
        return f"<{v.bit_length()}-bit integer>" if isinstance(v, int) else "<unprintable>"


class Model:
    name = "model"
    fs: tuple[str, ...] = ()
    keyed = False  # every op names a key, and keys are checked apart

    def init(self) -> State:
        raise NotImplementedError

    def prepare(
        self, f: str, invoke_value: Any, complete_value: Any, ok: bool
    ) -> tuple[Any, Any] | None:
        raise NotImplementedError

    def step(self, state: State, f: str, input: Any, output: Any) -> State | None:
        raise NotImplementedError

    def describe_op(self, f: str, input: Any, output: Any, where: str = "") -> str:
        return f"{f}{where} {show(input)} -> {show(output)}"

    def describe_state(self, state: State) -> str:
        return show(state)

    # Register models answer these two so explanations can name the missing write.
    def needs(self, f: str, input: Any, output: Any) -> tuple[bool, Any]:
        """(True, v) if the op can only happen when the value is v."""
        return False, None

    def writes(self, f: str, input: Any) -> tuple[bool, Any]:
        """(True, v) if the op sets the value to v."""
        return False, None

    # Evidence shrinking drops an op only when that provably cannot hide a linearisation;
    # it needs to know which (register, value) pairs an op depends on and which it sets.
    def effects(self, f: str, input: Any, output: Any) -> Effects | None:
        """(needs, sets): the (register, value) pairs the op can only happen with, and those
        it writes. None if unknown (the op is then never dropped from evidence)."""
        return None

    def _unknown(self, f: str) -> ValueError:
        return ValueError(
            f"model {self.name} has no operation {f!r} (it knows {', '.join(self.fs)})"
        )


class Register(Model):
    """A read/write register."""

    name = "register"
    fs: tuple[str, ...] = ("read", "write")

    def __init__(self, initial: Any = None) -> None:
        self.initial = freeze(initial)

    def init(self) -> State:
        return (self.initial,)

    def prepare(
        self, f: str, invoke_value: Any, complete_value: Any, ok: bool
    ) -> tuple[Any, Any] | None:
        if f == "read":
            # an indeterminate read tells nothing; an ok read's value is in its completion
            return (None, freeze(complete_value)) if ok else None
        if f == "write":
            return freeze(complete_value if ok else invoke_value), None
        return self._prepare_other(f, invoke_value, complete_value, ok)

    def _prepare_other(self, f: str, iv: Any, cv: Any, ok: bool) -> tuple[Any, Any] | None:
        raise self._unknown(f)

    def step(self, state: State, f: str, input: Any, output: Any) -> State | None:
        if f == "read":
            return state if state[0] == output else None  # type: ignore[index]
        if f == "write":
            return (input,)
        return None

    def describe_op(self, f: str, input: Any, output: Any, where: str = "") -> str:
        if f == "read":
            return f"read{where} returned {show(output)}"
        if f == "write":
            return f"write of {show(input)}{where}"
        if f == "cas":
            return f"cas{where} from {show(input[0])} to {show(input[1])}"
        return super().describe_op(f, input, output, where)

    def describe_state(self, state: State) -> str:
        return show(state[0])  # type: ignore[index]

    def needs(self, f: str, input: Any, output: Any) -> tuple[bool, Any]:
        if f == "read":
            return True, output
        if f == "cas":
            return True, input[0]
        return False, None

    def writes(self, f: str, input: Any) -> tuple[bool, Any]:
        if f == "write":
            return True, input
        if f == "cas":
            return True, input[1]
        return False, None

    def effects(self, f: str, input: Any, output: Any) -> Effects | None:
        needs, v = self.needs(f, input, output)
        sets, w = self.writes(f, input)
        return ((None, v),) if needs else (), ((None, w),) if sets else ()


class CasRegister(Register):
    """A register with compare-and-set: cas [old new] sets new if the value is old. A cas that
    did not match completes as `fail` (and is dropped before checking)."""

    name = "cas-register"
    fs = ("read", "write", "cas")

    def _prepare_other(self, f: str, iv: Any, cv: Any, ok: bool) -> tuple[Any, Any] | None:
        if f != "cas":
            raise self._unknown(f)
        v = cv if ok and cv is not None else iv
        if not isinstance(v, list | tuple) or len(v) != 2:
            raise ValueError(f"cas value must be [old new], got {show(v)}")
        return freeze(v), None

    def step(self, state: State, f: str, input: Any, output: Any) -> State | None:
        if f == "cas":
            return (input[1],) if state[0] == input[0] else None  # type: ignore[index]
        return Register.step(self, state, f, input, output)


class MultiRegister(Model):
    """Several named registers read and written in transactions: f "txn", value a list of
    ["read", k, v] / ["write", k, v] (Knossos also accepts "r"/"w"). The state is the frozenset
    of (k, v) for registers not holding the initial value, so equal maps are equal states."""

    name = "multi-register"
    fs = ("txn",)
    _READ = frozenset(("read", "r"))
    _WRITE = frozenset(("write", "w"))

    def __init__(self, initial: Any = 0) -> None:
        self.initial = freeze(initial)

    def init(self) -> State:
        return frozenset()

    def prepare(
        self, f: str, invoke_value: Any, complete_value: Any, ok: bool
    ) -> tuple[Any, Any] | None:
        if f != "txn":
            raise self._unknown(f)
        # reads in the invocation carry nil; the completion holds what they returned
        txn = complete_value if ok and complete_value is not None else invoke_value
        if not isinstance(txn, list | tuple):
            raise ValueError(f"txn value must be a list of micro-ops, got {show(txn)}")
        out = []
        for mop in txn:
            if not isinstance(mop, list | tuple) or len(mop) != 3:
                raise ValueError(f"micro-op must be [f k v], got {show(mop)}")
            mf, k, v = mop
            if mf in self._READ:
                if ok:  # an indeterminate txn's reads tell nothing
                    out.append(("r", freeze(k), freeze(v)))
            elif mf in self._WRITE:
                out.append(("w", freeze(k), freeze(v)))
            else:
                raise ValueError(f"micro-op {show(mf)} is not read or write")
        return (tuple(out), None) if out else None

    def step(self, state: State, f: str, input: Any, output: Any) -> State | None:
        d = dict(state)  # type: ignore[call-overload]
        init = self.initial
        for mf, k, v in input:
            if mf == "r":
                if d.get(k, init) != v:
                    return None
            elif v == init:
                d.pop(k, None)
            else:
                d[k] = v
        return frozenset(d.items())

    def effects(self, f: str, input: Any, output: Any) -> Effects | None:
        # a read after the txn's own write of the key counts too: conservative, never wrong
        needs = tuple((k, v) for mf, k, v in input if mf == "r")
        return needs, tuple((k, v) for mf, k, v in input if mf == "w")

    def describe_op(self, f: str, input: Any, output: Any, where: str = "") -> str:
        mops = ", ".join(
            f"{'read' if mf == 'r' else 'write'} {show(k)} {show(v)}" for mf, k, v in input
        )
        return f"txn{where} [{mops}]"

    def describe_state(self, state: State) -> str:
        d = dict(state)  # type: ignore[call-overload]
        if not d:
            return f"every register {show(self.initial)}"
        items = sorted(d.items(), key=lambda kv: repr(kv[0]))
        return (
            "{"
            + ", ".join(f"{show(k)}={show(v)}" for k, v in items)
            + f", others {show(self.initial)}}}"
        )


class KV(Model):
    """One string per key (Porcupine's kv model): it starts empty, `get` returns it, `put v`
    replaces it, `append v` concatenates v. Keys are checked apart (P-compositionality); the
    key is the op's `:key` field or the first element of Jepsen's independent [key value].
    Values are strings: anything else is a HistoryError naming the op."""

    name = "kv"
    fs = ("get", "put", "append")
    keyed = True

    def __init__(self, initial: Any = "") -> None:
        if not isinstance(initial, str):
            raise ValueError(f"the kv model's initial value is a string, got {show(initial)}")
        self.initial = initial

    def init(self) -> State:
        return self.initial

    def prepare(
        self, f: str, invoke_value: Any, complete_value: Any, ok: bool
    ) -> tuple[Any, Any] | None:
        if f == "get":
            if not ok:
                return None  # an indeterminate get tells nothing
            if not isinstance(complete_value, str):
                raise ValueError(f"get returned {show(complete_value)}, not a string")
            return None, complete_value
        if f in ("put", "append"):
            v = complete_value if ok and complete_value is not None else invoke_value
            if not isinstance(v, str):
                raise ValueError(f"{f} value must be a string, got {show(v)}")
            return v, None
        raise self._unknown(f)

    def step(self, state: State, f: str, input: Any, output: Any) -> State | None:
        if f == "get":
            return state if state == output else None
        if f == "put":
            return input
        return state + input

    def describe_op(self, f: str, input: Any, output: Any, where: str = "") -> str:
        if f == "get":
            return f"get{where} returned {quote(output)}"
        return f"{f} of {quote(input)}{where}"

    def describe_state(self, state: State) -> str:
        return quote(state)

    def needs(self, f: str, input: Any, output: Any) -> tuple[bool, Any]:
        return (True, output) if f == "get" else (False, None)

    def writes(self, f: str, input: Any) -> tuple[bool, Any]:
        return (True, input) if f == "put" else (False, None)

    def effects(self, f: str, input: Any, output: Any) -> Effects | None:
        # a get can always be dropped from evidence; what an append sets depends on the
        # state before it, which (register, value) pairs cannot say
        return (((None, output),), ()) if f == "get" else None


def quote(v: Any) -> str:
    """A string value as text a reader can tell from the words around it ("" visible)."""
    return json.dumps(v, ensure_ascii=False) if isinstance(v, str) else show(v)


MODELS: dict[str, type[Model]] = {
    "register": Register,
    "cas-register": CasRegister,
    "multi-register": MultiRegister,
    "kv": KV,
}


def get(name: str, **kwargs: Any) -> Model:
    """A model by name; `initial=` overrides the initial value."""
    cls = MODELS.get(name)
    if cls is None:
        raise ValueError(f"model {name!r} is not one of: {', '.join(MODELS)}")
    return cls(**kwargs)
