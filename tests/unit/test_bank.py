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
