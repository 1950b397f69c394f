"""The bank checker, over hand-made histories in tests/data/bank/ (3 accounts of 100)."""

from __future__ import annotations

import pytest

from harness.checkers import check as run_checker
from harness.checkers.bank import check
from harness.history import Op, read_jsonl
from tests.conftest import DATA

BANK = DATA / "bank"
OPTS = {"accounts": [0, 1, 2], "total": 300}

CASES = [
    ("valid", OPTS, {}, True),
    ("wrong-total", OPTS, {"wrong-total": 1}, False),
    ("negative-balance", OPTS, {"negative-balance": 1}, False),
    ("negative-balance", {**OPTS, "negative_ok": True}, {}, True),
    ("missing-account", OPTS, {"missing-account": 1}, False),
    ("unexpected-account", OPTS, {"unexpected-account": 1}, False),
]


def _load(name: str) -> list[Op]:
    return read_jsonl(BANK / f"{name}.jsonl")


@pytest.mark.parametrize("name,options,counts,valid", CASES, ids=[c[0] for c in CASES])
def test_table(name: str, options: dict, counts: dict, valid: bool) -> None:
    v = check(_load(name), **options)
    assert v.counts == counts, [a.explanation for a in v.anomalies]
    assert v.valid is valid
    assert v.stats["reads_checked"] == 3  # the failed read is not evidence


def test_wrong_total_evidence() -> None:
    v = run_checker("bank", _load("wrong-total"), **OPTS)
    (a,) = v.anomalies
    assert a.ops == [7]
    assert a.data["expected"] == 300 and a.data["seen"] == 270 and a.data["deviation"] == -30
    assert "expected 300 (-30)" in a.explanation and "lost" in a.explanation
    assert v.stats["worst_deviation"] == -30
    assert v.stats["worst_deviation_at"] == pytest.approx(1.75)
    assert v.stats["transfers"] == {"ok": 1, "fail": 1, "info": 1}


def test_string_and_int_account_keys_agree() -> None:
    ops = _load("valid")
    assert check(ops, accounts=["0", "1", "2"], total=300).valid is True


def test_defaults_infer_accounts_and_total_and_still_catch_the_odd_read() -> None:
    v = check(_load("wrong-total"))
    assert v.counts == {"wrong-total": 1}
    assert v.stats["total"] == 300
    assert any("total not given" in n for n in v.notes)


def test_no_ok_read_is_unknown() -> None:
    ops = [Op(0, 0, 0, "invoke", "read", None), Op(1, 1, 0, "fail", "read", None)]
    v = check(ops, **OPTS)
    assert v.valid == "unknown" and v.stats["reads_checked"] == 0


def test_malformed_read() -> None:
    ops = [Op(0, 0, 0, "invoke", "read", None), Op(1, 1, 0, "ok", "read", [100, 100, 100])]
    v = check(ops, **OPTS)
    assert v.counts == {"malformed-read": 1} and v.valid is False


# -- wrong shapes and options (issue 11) ----------------------------------------------------


def _read(value: object) -> list[Op]:
    return [Op(0, 0, 0, "invoke", "read", None), Op(1, 1, 0, "ok", "read", value)]


@pytest.mark.parametrize(
    "value",
    [
        {"0": float("inf"), "1": 100, "2": 100},
        {"0": float("nan"), "1": 100, "2": 100},
        {"0": 10**400, "1": 100, "2": 100},
        {"0": "100", "1": 100, "2": 100},
        {"0": [100], "1": 100, "2": 100},
        [[0, 100], [1, 100], [2, 100]],
        "300",
    ],
)
def test_a_read_of_the_wrong_shape_is_a_malformed_read(value: object) -> None:
    v = check(_read(value), **OPTS)
    assert v.counts == {"malformed-read": 1} and v.valid is False
    assert "\n" not in v.anomalies[0].explanation and len(v.anomalies[0].explanation) < 200


def test_accounts_as_a_number_and_totals_as_text() -> None:
    v = run_checker("bank", _load("valid"), accounts=3, total="300")
    assert v.valid is True and v.stats["accounts"] == 3 and v.stats["total"] == 300


def test_bad_options_are_spec_errors_naming_the_option() -> None:
    from harness.errors import SpecError

    with pytest.raises(SpecError, match="bank option accounts=-1"):
        check(_load("valid"), accounts=-1)
    with pytest.raises(SpecError, match="bank option total=inf: expected a number"):
        check(_load("valid"), total=float("inf"))
    with pytest.raises(SpecError, match="bank option overdraft: unknown option here; known: "):
        check(_load("valid"), overdraft=True)


def test_a_history_without_bank_ops_is_unknown() -> None:
    v = check([Op(0, 0, 0, "invoke", "add", [0, 1]), Op(1, 1, 0, "ok", "add", [0, 1])])
    assert v.valid == "unknown"
    assert "no transfer or read op in the history: nothing to check" in v.notes
