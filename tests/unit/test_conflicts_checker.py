"""The conflicts checker: a known-valid and a known-invalid history, and wrong shapes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.checkers import check
from harness.errors import HistoryError
from tests.builder import H


def _final(h: H, t: float, content: Any, node: str = "n1") -> H:
    return h.call(t, t + 0.01, f"final-{node}", "final-read", None, content, node=node)


def test_known_valid_and_known_invalid() -> None:
    h = H().call(0, 0.1, 0, "write", [0, "a"]).call(0.2, 0.3, 1, "write", [0, "b"])
    assert check("conflicts", _final(h, 1, [[0, "b"]]).ops).valid is True
    h = H().call(0, 0.1, 0, "write", [0, "a"]).call(0.2, 0.3, 1, "write", [0, "b"])
    v = check("conflicts", _final(h, 1, [[0, "a"]]).ops)
    assert v.valid is False and v.counts == {"lost-to-lww": 1}


def test_a_final_read_as_a_map_and_list_keys() -> None:
    h = H().call(0, 0.1, 0, "write", [[0, 1], "a"])
    assert check("conflicts", _final(h, 1, [[[0, 1], "a"]]).ops).valid is True
    h = H().call(0, 0.1, 0, "write", ["k", "a"])
    assert check("conflicts", _final(h, 1, {"k": "a"}).ops).valid is True


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda h: h.call(0, 0.1, 0, "write", {"k": 0}), r"op 0 \(invoke write\): value must be"),
        (lambda h: h.call(0, 0.1, 0, "write", "v"), r"value must be \[key value\], got 'v'"),
        (lambda h: h.call(0, 0.1, 0, "write", [{"a": 1}, 1]), "a key must be a scalar or a list"),
        (lambda h: h.call(0, 0.1, 0, "write", [0, math.nan]), "a value must be finite"),
        (lambda h: _final(h, 0, 17), r"op 1 \(ok final-read\): a final read is \[\[key value\]"),
        (lambda h: _final(h, 0, [[0, 1, 2]]), r"value must be \[key value\] for each key"),
        (lambda h: _final(h, 0, {"k": {"x": 1}}), "a value must be a scalar or a list"),
    ],
)
def test_wrong_shapes_are_history_errors(build: Any, message: str) -> None:
    with pytest.raises(HistoryError, match=message):
        check("conflicts", build(H()).ops)


def test_a_history_without_conflicts_ops_is_unknown() -> None:
    v = check("conflicts", H().call(0, 0.1, 0, "add", 1).ops)
    assert v.valid == "unknown"
    assert "no write or final-read op in the history: nothing to check" in v.notes
