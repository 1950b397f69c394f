"""The checker registry (harness.checkers): declared options, validation before a checker
runs, check_safely; and the shape table of issue 11: every checker, given a history of the
wrong shape, raises HistoryError or SpecError, or returns a verdict, and nothing else."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from harness import checkers
from harness.checkers import check, check_safely, options_of
from harness.errors import HistoryError, SpecError
from harness.history import Op, read_jsonl
from harness.options import Option
from harness.verdict import Verdict

DATA = Path(__file__).resolve().parents[1] / "data"
OURS = ["set", "linearizable", "bank", "counter", "conflicts"]  # list-append: see test_elle


# -- declared options ------------------------------------------------------------------------


@pytest.mark.parametrize("name", OURS)
def test_every_checker_declares_its_options(name: str) -> None:
    opts = options_of(name)
    assert isinstance(opts, tuple) and all(isinstance(o, Option) for o in opts)
    assert len({o.name for o in opts}) == len(opts)


def test_declared_options_are_the_ones_checkers_take() -> None:
    assert {o.name for o in options_of("linearizable")} == {
        "model",
        "independent",
        "initial",
        "time_limit",
        "max_states",
        "max_memory_mb",
    }
    model = next(o for o in options_of("linearizable") if o.name == "model")
    assert model.choices == ("register", "cas-register", "multi-register", "kv")
    assert {o.name for o in options_of("bank")} == {"accounts", "total", "negative_ok"}


def test_unknown_checker_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="'nope' is not one of"):
        options_of("nope")
    with pytest.raises(SpecError, match="'nope' is not one of"):
        check("nope", [])


@pytest.mark.parametrize("name", OURS)
def test_unknown_option_names_the_key_and_the_known_ones(name: str) -> None:
    with pytest.raises(SpecError) as e:
        check(name, [], bogus=1)
    known = ", ".join(sorted(o.name for o in options_of(name))) or "none"
    assert str(e.value) == f"{name} option bogus: unknown option here; known: {known}"


@pytest.mark.parametrize(
    "name,options,message",
    [
        ("linearizable", {"model": "queue"}, "linearizable option model=queue: expected one of"),
        ("linearizable", {"time_limit": math.inf}, "option time_limit=inf: expected a number"),
        ("linearizable", {"time_limit": -1}, "option time_limit=-1: must be >= 0"),
        ("linearizable", {"max_states": 0}, "option max_states=0: must be >= 1"),
        ("linearizable", {"max_states": 1.5}, "option max_states=1.5: expected an integer"),
        ("linearizable", {"max_memory_mb": 1e300}, "option max_memory_mb=1e+300: must be <="),
        ("linearizable", {"independent": "perhaps"}, "option independent=perhaps: expected true"),
        ("linearizable", {"initial": math.nan}, "option initial=nan: expected a JSON value"),
        ("bank", {"accounts": -3}, "bank option accounts=-3: a number of accounts from 0"),
        ("bank", {"accounts": 10**9}, "bank option accounts=1000000000: a number of accounts"),
        ("bank", {"accounts": [[1]]}, "bank option accounts=[[1]]: [1] is not an account"),
        ("bank", {"accounts": {"a": 1}}, "bank option accounts={'a': 1}: expected a number"),
        ("bank", {"total": "lots"}, "bank option total=lots: expected a number"),
        ("bank", {"total": math.inf}, "bank option total=inf: expected a number"),
        ("bank", {"negative_ok": "sometimes"}, "option negative_ok=sometimes: expected true"),
    ],
)
def test_bad_option_values_are_spec_errors(
    name: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("+", r"\+")):
        check(name, [], **options)
    with pytest.raises(SpecError):  # the checker called directly validates too
        checkers.get(name)([], **options)


def test_valid_options_reach_the_checker_parsed_either_way() -> None:
    h = read_jsonl(DATA / "bank" / "valid.jsonl")
    assert check("bank", h, accounts=3, total="300", negative_ok="false").valid is True
    assert check("bank", h, accounts="0,1,2", total=300.0).valid is True
    assert check("bank", h, accounts=[0, 1, 2], total=None).valid is True  # None: unset


# -- check_safely ----------------------------------------------------------------------------


def test_check_safely_turns_a_crash_into_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def crashing(history: list[Op], **options: Any) -> Verdict:
        empty: dict[str, Verdict] = {}
        return empty["no such key"]

    monkeypatch.setattr("harness.checkers.counter.check", crashing)
    v = check_safely("counter", [])
    assert v.checker == "counter" and v.valid == "unknown" and v.anomalies == []
    assert v.notes == ["checker crashed: KeyError: 'no such key'"]
    assert v.stats["error"] == "KeyError: 'no such key'"
    with pytest.raises(KeyError):  # check() itself still raises: only check_safely absorbs
        check("counter", [])


def test_check_safely_lets_history_and_spec_errors_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def bad_history(history: list[Op], **options: Any) -> Verdict:
        raise HistoryError("op 3: value must be [key value], got 7")

    monkeypatch.setattr("harness.checkers.counter.check", bad_history)
    with pytest.raises(HistoryError, match="op 3"):
        check_safely("counter", [])
    with pytest.raises(SpecError, match="counter option bogus"):
        check_safely("counter", [], bogus=1)


def test_check_safely_returns_the_verdict_of_a_checker_that_works() -> None:
    h = read_jsonl(DATA / "bank" / "wrong-total.jsonl")
    assert check_safely("bank", h, accounts=3, total=300).counts == {"wrong-total": 1}


# -- the shape table (issue 11) --------------------------------------------------------------

FS = ["add", "read", "final-read", "write", "cas", "transfer", "txn"]
BAD_VALUES: dict[str, Any] = {
    "a map for a [k v] pair": {"key": 1, "value": 2},
    "a list key": [[1, 2], 3],
    "a map key": [{"a": 1}, 3],
    "a list element list": [1, [[1], [2, [3]]]],
    "text": "seven",
    "nil": None,
    "true": True,
    "a triple": [1, 2, 3],
    "an empty list": [],
    "Infinity": math.inf,
    "NaN": math.nan,
    "a pair with Infinity": [1, -math.inf],
    "a huge number": 10**400,
    "a number too long to print": 10**5000,
    "a pair with a huge number": [10**5000, 10**5000],
    "a deep list": None,  # filled below
    "a map of lists": {"0": [1, 2], "1": {"x": None}},
}
deep: Any = 1
for _ in range(5000):
    deep = [deep]
BAD_VALUES["a deep list"] = deep


def _call(f: str, value_in: Any, value_out: Any, typ: str = "ok") -> list[Op]:
    return [Op(0, 0, 0, "invoke", f, value_in), Op(1, 10, 0, typ, f, value_out)]


def _outcome(name: str, history: list[Op], **options: Any) -> str:
    """What the checker did: a verdict, or a one-line HistoryError/SpecError. Anything else
    (TypeError, KeyError, RecursionError, OverflowError...) fails the test by propagating."""
    try:
        v = check(name, history, **options)
    except HistoryError as e:
        msg = str(e)
        assert "\n" not in msg and msg.startswith("op "), msg  # names the op
        return "HistoryError"
    except SpecError as e:
        assert "\n" not in str(e), str(e)
        return "SpecError"
    assert isinstance(v, Verdict) and v.valid in (True, False, "unknown")
    return f"valid={v.valid}"


SHAPES = [
    (f, label, where)
    for f in FS
    for label in BAD_VALUES
    for where in ("invoke", "completion", "both")
]


VARIANTS: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in OURS] + [
    ("linearizable", {"independent": True}),
    ("linearizable", {"model": "register"}),
    ("linearizable", {"model": "multi-register"}),
]


@pytest.mark.parametrize("name,options", VARIANTS)
def test_wrong_shapes_give_history_errors_or_verdicts(name: str, options: dict[str, Any]) -> None:
    seen: dict[str, int] = {}
    for f, label, where in SHAPES:
        bad = BAD_VALUES[label]
        good = {"add": [0, 1], "write": [0, 1], "cas": [0, [1, 2]], "transfer": {}}.get(f)
        history = _call(
            f, bad if where != "completion" else good, bad if where != "invoke" else good
        )
        out = _outcome(name, history, **options)
        seen[out] = seen.get(out, 0) + 1
        # the same op inside a well-formed history of the checker's own workload
        out = _outcome(name, _own(name) + [_shift(op, 1000) for op in history], **options)
        seen[out] = seen.get(out, 0) + 1
    # the table does reach the shape checks (bank reports a read of the wrong shape as a
    # malformed-read anomaly: its verdict is false)
    assert seen.get("valid=False" if name == "bank" else "HistoryError", 0) > 0, seen


def _shift(op: Op, by: int) -> Op:
    return Op(op.index + by, op.time + by, f"p{op.process}", op.type, op.f, op.value)


def _own(name: str) -> list[Op]:
    return {
        "set": _call("add", [0, 1], [0, 1]) + _shifted(_call("read", [0, None], [0, [1]]), 2),
        "linearizable": _call("write", 1, 1) + _shifted(_call("read", None, 1), 2),
        "bank": _call("read", None, {"0": 50, "1": 50}),
        "counter": _call("add", 1, 1) + _shifted(_call("read", None, 1), 2),
        "conflicts": _call("write", [0, 1], [0, 1])
        + _shifted(_call("final-read", None, [[0, 1]]), 2),
    }[name]


def _shifted(ops: list[Op], by: int) -> list[Op]:
    return [Op(op.index + by, op.time + by, op.process, op.type, op.f, op.value) for op in ops]


HISTORIES = sorted(p.relative_to(DATA) for p in DATA.rglob("*.jsonl"))  # every workload's


@pytest.mark.parametrize("name,options", VARIANTS)
def test_other_workloads_histories_give_history_errors_or_verdicts(
    name: str, options: dict[str, Any]
) -> None:
    outcomes = {str(p): _outcome(name, read_jsonl(DATA / p), **options) for p in HISTORIES}
    assert len(outcomes) >= 40
    assert set(outcomes.values()) != {"valid=True"}, outcomes


@pytest.mark.parametrize("name", OURS)
def test_a_history_without_the_checkers_ops_is_unknown(name: str) -> None:
    nemesis = [Op(0, 0, "nemesis", "info", "start-partition", None)]
    for history in ([], nemesis):
        v = check(name, history)
        assert v.valid == "unknown", (name, v)
        assert any("nothing to check" in n for n in v.notes), v.notes


def test_verdict_to_dict_is_asdict_with_counts() -> None:
    """Verdict.to_dict copies plain data directly; it must stay what asdict gives (types,
    copies, and asdict's rules for anything else)."""
    import random
    from collections import OrderedDict, namedtuple
    from dataclasses import asdict

    from harness.verdict import Anomaly, Verdict

    nt = namedtuple("nt", "a b")
    rng = random.Random(3)

    def value(depth: int = 0) -> object:
        kinds = [None, True, 1, -(2**70), 1.5, "s", "ü"]
        if depth < 3:
            kinds += ["list", "dict", "tuple", "nt", "od", "set"]
        k = rng.choice(kinds)
        if k == "list":
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        if k == "dict":
            return {rng.choice([1, "k", None, (1, 2)]): value(depth + 1) for _ in range(2)}
        if k == "tuple":
            return tuple(value(depth + 1) for _ in range(rng.randrange(3)))
        if k == "nt":
            return nt(value(depth + 1), [value(depth + 1)])
        if k == "od":
            return OrderedDict(a=value(depth + 1))
        if k == "set":
            return {1, 2}
        return k

    for _ in range(300):
        a = Anomaly("t", [1, 2], "why", {"x": value(), "y": value()})
        v = Verdict("c", rng.choice([True, False, "unknown"]), [a], {"s": value()}, ["n"])
        want = asdict(v)
        want["counts"] = v.counts
        got = v.to_dict()
        assert got == want and repr(got) == repr(want)
        assert got["anomalies"][0]["data"] is not a.data
