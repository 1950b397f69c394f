"""Fuzzing the check pipeline (issue 11): thousands of mutated histories, both formats, every
registered checker. Every input must end in a verdict or a one-line HistoryError/SpecError:
never a traceback, and never "valid" for something that is not a history.

Two sources of inputs, both reproducible:
- a seeded mutator of the test data (bytes flipped, lines cut, dropped, duplicated or
  swapped, fields retyped with values of the wrong kind, deep nesting, huge numbers);
- hypothesis, generating op lists whose fields and values take any JSON-like shape.

The pipeline runs checkers through check_safely (a crash is "unknown"); a separate
test calls the checkers directly: none may raise anything but HistoryError or SpecError.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import checkers, registry
from harness.checking import check_file
from harness.edn import dumps
from harness.errors import HistoryError, SpecError
from harness.history import Op, load, read_jsonl, validate

DATA = Path(__file__).resolve().parents[1] / "data"
SEED = 20261201
CHECKERS = sorted(registry.CHECKERS)
# small budgets: a mutated history may be hard to search, and speed is not what is tested
BUDGET = {"linearizable": {"time_limit": 0.5}, "list-append": {"time_limit": 0.5}}

# values of the wrong kind for any field
ODD: list[Any] = [
    None,
    True,
    -1,
    0,
    2**64,
    1.5,
    float("inf"),
    "x",
    "",
    [],
    {},
    [None],
    [[1, 2]],
    {"a": [1]},
    [["append"]],
    [["r", [1], 2]],
    [["append", {"k": 1}, 1]],
    [["r", 1, {"a": 1}]],
    [["r", 1, 5]],
    [["append", 1, [1]]],
    [[1, 2, 3]],
    [[]],
    [["x", 1, 2, 3, 4]],
    {"from": "a", "to": None, "amount": "lots"},
    {"0": "x"},
    [1, [2, 3]],
]
JSON_TOKENS = [
    "1e400",
    "Infinity",
    "-Infinity",
    "NaN",
    "[" * 300 + "]" * 300,
    "1" * 30,
    '"\\ud800"',
]
EDN_TOKENS = ["1/0", "##Inf", "##NaN", "1e400", "[" * 300 + "]" * 300, "9" * 5000, "#{1 1}", "#_"]


def _seeds() -> list[tuple[str, list[Op]]]:
    out = []
    for p in sorted(DATA.rglob("*.jsonl")):
        out.append((p.name, read_jsonl(p)))
    for p in sorted((DATA / "edn").glob("*.edn")):
        out.append((p.name, load(p)))
    return out


def _line_json(op: Op) -> str:
    return json.dumps(op.to_dict(), separators=(",", ":"), default=str)


def _mutate(rng: random.Random, ops: list[Op], fmt: str) -> bytes:
    """One mutated file of `ops` in format `fmt` ("jsonl" or "edn")."""
    ops = [Op(o.index, o.time, o.process, o.type, o.f, o.value, o.node, o.error) for o in ops]
    for _ in range(rng.choice((1, 1, 1, 2, 3))):  # mutations of the ops
        if not ops:
            break
        i = rng.randrange(len(ops))
        # half retype a value (the history stays one, for the checkers to judge)
        kind = 6 if rng.random() < 0.5 else rng.randrange(8)
        if kind == 0:
            field = rng.choice(("index", "time", "process", "type", "f", "value", "node"))
            setattr(ops[i], field, rng.choice(ODD))
        elif kind == 1:
            del ops[i]
        elif kind == 2:
            ops.insert(i, ops[rng.randrange(len(ops))])
        elif kind == 3:
            j = rng.randrange(len(ops))
            ops[i], ops[j] = ops[j], ops[i]
        elif kind == 4:
            ops[i].type = rng.choice(("invoke", "ok", "fail", "info"))
        elif kind == 5:
            ops[i].process = rng.choice((0, 1, "nemesis", None, ops[0].process))
        elif kind == 6:
            ops[i].value = rng.choice(ODD)
        else:
            ops[i].f = rng.choice(("txn", "read", "write", "cas", "add", "transfer", "x"))
    try:
        lines = [_line_json(o) for o in ops] if fmt == "jsonl" else dumps(ops).splitlines()
    except (TypeError, ValueError):
        lines = [repr(o) for o in ops]
    text = "\n".join(lines) + "\n"
    data = bytearray(text.encode())
    for _ in range(rng.choice((0, 0, 0, 1, 2))):  # textual mutations
        kind = rng.randrange(6)
        if not data:
            break
        if kind == 0:  # flip bytes
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:  # cut: a truncated last line
            data = data[: rng.randrange(len(data))]
        elif kind == 2:  # a number or value replaced by an odd token
            tokens = JSON_TOKENS if fmt == "jsonl" else EDN_TOKENS
            s = data.decode("utf-8", "replace")
            digits = [k for k, c in enumerate(s) if c.isdigit()]
            if digits:
                k = rng.choice(digits)
                s = s[:k] + rng.choice(tokens) + s[k + 1 :]
            data = bytearray(s.encode())
        elif kind == 3:  # a line that is not an op
            ls = data.split(b"\n")
            ls.insert(rng.randrange(len(ls)), rng.choice([b"[1,2]", b'"s"', b"42", b"{}", b"nil"]))
            data = bytearray(b"\n".join(ls))
        elif kind == 4:  # swap two lines
            ls = data.split(b"\n")
            a, b = rng.randrange(len(ls)), rng.randrange(len(ls))
            ls[a], ls[b] = ls[b], ls[a]
            data = bytearray(b"\n".join(ls))
        else:  # a deep value
            s = data.decode("utf-8", "replace").replace("null", "[" * 150 + "]" * 150, 1)
            data = bytearray(s.encode())
    return bytes(data)


def _corpus(n: int) -> Iterator[tuple[str, str, bytes]]:
    rng = random.Random(SEED)
    seeds = _seeds()
    for k in range(n):
        name, ops = seeds[k % len(seeds)]
        fmt = rng.choice(("jsonl", "edn"))
        yield name, fmt, _mutate(rng, ops, fmt)


def _judge(path: Path, checker: str | None) -> Any:
    doc = check_file(path, checker, BUDGET.get(checker or "", {}))
    assert isinstance(doc, str | dict), doc
    if isinstance(doc, str):
        assert "\n" not in doc and doc, repr(doc)
    else:
        assert doc["valid"] in (True, False, "unknown")
    return doc


def test_parsers_raise_only_history_errors(tmp_path: Path) -> None:
    parsed = errors = 0
    for k, (_, fmt, data) in enumerate(_corpus(6000)):
        path = tmp_path / f"{k}.{fmt}"
        path.write_bytes(data)
        notes: list[str] = []
        try:
            ops = load(path, notes=notes)
            validate(ops)
            parsed += 1
        except HistoryError as e:
            msg = str(e)
            assert msg and "\n" not in msg, msg
            errors += 1
        assert all("\n" not in n for n in notes)
        path.unlink()
    assert parsed > 100 and errors > 100  # the corpus holds both kinds


def test_every_checker_gives_a_verdict_or_one_line(tmp_path: Path) -> None:
    kinds: dict[str, int] = {}
    for k, (_, fmt, data) in enumerate(_corpus(1500)):
        path = tmp_path / f"{k}.{fmt}"
        path.write_bytes(data)
        for checker in [None, *CHECKERS]:
            doc = _judge(path, checker)
            key = "error" if isinstance(doc, str) else str(doc["valid"])
            kinds[key] = kinds.get(key, 0) + 1
        path.unlink()
    assert kinds.get("error", 0) > 100 and kinds.get("True", 0) + kinds.get("False", 0) > 100


_value = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["r", "append", "x", ""]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("ab"), inner),
    max_leaves=8,
)
_op = st.fixed_dictionaries(
    {
        "process": st.sampled_from([0, 1, 2, "nemesis"]),
        "type": st.sampled_from(["invoke", "ok", "fail", "info"]),
        "f": st.sampled_from(["txn", "read", "write", "cas", "add", "transfer", "inc"]),
        "value": _value,
    }
)


@settings(
    max_examples=600,
    deadline=None,
    derandomize=True,  # the same inputs in every run
    database=None,  # nothing written beside the tests
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(_op, min_size=1, max_size=12), fmt=st.sampled_from(["jsonl", "edn"]))
def test_generated_histories_get_a_verdict_or_one_line(
    tmp_path: Path, ops: list[dict[str, Any]], fmt: str
) -> None:
    history = [
        Op(i, i * 10, o["process"], o["type"], o["f"], o["value"]) for i, o in enumerate(ops)
    ]
    path = tmp_path / f"h.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(_line_json(o) + "\n" for o in history))
    else:
        path.write_text(dumps(history))
    for checker in [None, *CHECKERS]:
        _judge(path, checker)


def _crash(name: str, history: list[Op]) -> str | None:
    """'checker: ExcType: message' if the checker raises anything but our errors."""
    try:
        checkers.check(name, history, **BUDGET.get(name, {}))
    except (HistoryError, SpecError):
        return None
    except Exception as e:  # noqa: BLE001 (collecting what escapes)
        return f"{name}: {type(e).__name__}: {str(e)[:60]}"
    return None


def _shrink(name: str, key: str, history: list[Op]) -> list[Op]:
    """A smaller history (still one) on which the checker crashes the same way."""
    i = 0
    while i < len(history):
        smaller = history[:i] + history[i + 1 :]
        try:
            validate(smaller)
        except HistoryError:
            i += 1
            continue
        if _crash(name, smaller) == key:
            history = smaller
        else:
            i += 1
    return history


def _crash_classes() -> dict[str, str]:
    """Checker crashes on the parsed, validated corpus: 'checker: ExcType: message' -> a
    minimal reproducing history (JSONL lines), shrunk from the first one found."""
    import tempfile

    found: dict[str, list[Op]] = {}
    with tempfile.TemporaryDirectory() as d:
        for k, (_, fmt, data) in enumerate(_corpus(700)):
            path = Path(d) / f"{k}.{fmt}"
            path.write_bytes(data)
            try:
                history = load(path, validate=True)
            except HistoryError:
                continue
            for name in CHECKERS:
                key = _crash(name, history)
                if key is not None and key not in found:
                    found[key] = _shrink(name, key, history)
    return {k: " | ".join(_line_json(o) for o in h) for k, h in found.items()}


def test_no_checker_raises_anything_but_history_or_spec_errors() -> None:
    crashes = _crash_classes()
    assert not crashes, "checker crash classes:\n" + "\n".join(
        f"{k}\n    {v}" for k, v in sorted(crashes.items())
    )
