"""Declared options: parsing, one-line errors naming the key, validation against owners."""

from __future__ import annotations

import pytest

from harness.errors import SpecError
from harness.options import Option, listing, validate

N = Option("n", int, 3, "a count", minimum=1, maximum=10)
R = Option("r", float, 0.5, "a ratio", minimum=0, maximum=1)
B = Option("b", bool, False, "a flag")
C = Option("c", str, "x", "a choice", choices=("x", "y"))
L = Option("l", list, (), "names", choices=("a", "b"))


@pytest.mark.parametrize(
    "opt, raw, want",
    [(N, "4", 4), (N, 4, 4), (N, 4.0, 4), (R, "0.25", 0.25), (R, 1, 1.0), (B, "on", True),
     (B, "false", False), (B, True, True), (C, "y", "y"), (L, "a,b", ("a", "b")), (L, ["b"], ("b",))],
)  # fmt: skip
def test_parse(opt: Option, raw: object, want: object) -> None:
    assert opt.parse(raw) == want


@pytest.mark.parametrize(
    "opt, raw, why",
    [(N, "x", "expected an integer"), (N, 4.5, "expected an integer"), (N, 0, ">= 1"),
     (N, 11, "<= 10"), (N, True, "expected an integer"), (R, "nan", "expected a number"),
     (R, "inf", "expected a number"), (R, "1e400", "expected a number"), (R, 2, "<= 1"),
     (B, "maybe", "true or false"), (C, "z", "one of: x, y"), (L, "a,c", "'c' is not one of"),
     (C, {"k": 1}, "single value"), (L, [1], "list of names")],
)  # fmt: skip
def test_bad_values_are_one_line_naming_the_key(opt: Option, raw: object, why: str) -> None:
    with pytest.raises(SpecError) as e:
        opt.parse(raw)
    assert f"--opt {opt.name}=" in str(e.value) and why in str(e.value)
    assert "\n" not in str(e.value)


def test_validate_refuses_unknown_keys_listing_the_known_ones() -> None:
    owners = [("--db x", (N, B)), ("--workload y", (R,))]
    assert validate({"n": "2", "r": "0.1"}, owners) == {"n": 2, "r": 0.1}
    with pytest.raises(SpecError, match=r"--opt m: unknown option here; known: b, n, r$"):
        validate({"m": 1}, owners)


def test_get_uses_the_one_declared_default() -> None:
    assert N.get({}) == 3 and N.get({"n": "5"}) == 5


def test_listing_names_components_and_defaults() -> None:
    lines = listing([("--db x", (N, C)), ("--workload y", ())])
    assert lines[0] == "--db x:"
    assert "n=int (default 3): a count" in lines[1]
    assert "c=x|y (default x): a choice" in lines[2]
    assert len(lines) == 3  # a component without options is not listed
