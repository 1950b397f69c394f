"""Bank checker: transfers between accounts must conserve the total, as every read sees it.

History (workloads/bank.py): "transfer" {"from": a, "to": b, "amount": n};
"read" None -> ok {account: balance, ...} (JSON object keys are strings: "3" means account 3).

Anomalies, each on one ok read:
- wrong-total: the balances of a complete read do not add up to the conserved total
  (a transfer seen half-applied, a lost or doubled update).
- negative-balance: an account below zero, unless negative_ok (the workload never overdraws).
- missing-account: the read lacks accounts that exist (its total is then not checked).
- unexpected-account: the read holds accounts nobody created.
- malformed-read: the value is not an {account: number} map.
Reads that did not complete ok prove nothing and are skipped; transfers only count in stats.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from harness.checkers import shapes
from harness.errors import SpecError
from harness.history import FAIL, INFO, OK, Op, pairs
from harness.options import Option
from harness.verdict import Anomaly, Validity, Verdict

CHECKER = "bank"
_MAX_ACCOUNTS = 1_000_000


def _account(k: Any) -> Any:
    """JSON turns account 3 into key "3": compare int-like keys as ints."""
    if isinstance(k, str):
        s = k.strip()
        if s.lstrip("-").isdigit() and len(s) <= 100:
            return int(s)
    return k


def _num(x: Any) -> bool:
    """A balance: a finite number (Infinity, NaN or a thousand-digit integer is no balance)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return False
    return math.isfinite(x) if isinstance(x, float) else x.bit_length() <= 1024


@dataclass(frozen=True)
class _AccountsOption(Option):
    """The accounts: a number n (accounts 0..n-1), or a list of account names or numbers."""

    def parse(self, raw: Any, flag: str = "--opt") -> Any:
        where = f"{flag} {self.name}={shapes.shown(raw)}"
        if isinstance(raw, int) and not isinstance(raw, bool):
            if not 0 <= raw <= _MAX_ACCOUNTS:
                raise SpecError(f"{where}: a number of accounts from 0 to {_MAX_ACCOUNTS:,}")
            return tuple(range(raw))
        items: Any = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple | range) or len(items) > _MAX_ACCOUNTS:
            raise SpecError(f"{where}: expected a number of accounts or a list of accounts")
        out = []
        for a in items:
            if isinstance(a, str) and a.strip():
                out.append(_account(a))
            elif isinstance(a, int) and not isinstance(a, bool):
                out.append(a)
            else:
                raise SpecError(f"{where}: {shapes.shown(a)} is not an account name or number")
        return tuple(out)


ACCOUNTS = _AccountsOption(
    "accounts", list, None, "the accounts, or their number (default: those reads return)"
)
TOTAL = Option("total", float, None, "the conserved total (default: the one most reads see)")
NEGATIVE_OK = Option("negative_ok", bool, False, "balances may go below zero")
OPTIONS: tuple[Option, ...] = (ACCOUNTS, TOTAL, NEGATIVE_OK)
# the anomaly types its verdicts report (harness.checkers.anomalies_of: hunt and shrink targets)
ANOMALIES = (
    "wrong-total", "negative-balance", "missing-account", "unexpected-account", "malformed-read",
)  # fmt: skip


def _where(op: Op) -> str:
    at = f" at {op.seconds:.3f} s" if op.time >= 0 else ""
    on = f" on {op.node}" if op.node else ""
    return f"read (op {op.index}{at}{on})"


def check(history: list[Op], **options: Any) -> Verdict:
    opts = shapes.read_options(CHECKER, OPTIONS, options)
    accounts = opts.get("accounts")
    total: int | float | None = opts.get("total")
    if isinstance(total, float) and total.is_integer():
        total = int(total)
    negative_ok = NEGATIVE_OK.get(opts)
    notes: list[str] = []
    anomalies: list[Anomaly] = []
    reads: list[tuple[Op, dict[Any, Any]]] = []
    transfers: Counter[str] = Counter()
    malformed = 0
    seen_kind = False
    for inv, done in pairs(history):
        seen_kind = seen_kind or inv.f in ("transfer", "read")
        if inv.f == "transfer":
            transfers[done.type if done is not None else INFO] += 1
        elif inv.f == "read" and done is not None and done.type == OK:
            value = done.value
            if not isinstance(value, dict) or not all(_num(b) or b is None for b in value.values()):
                malformed += 1
                anomalies.append(
                    Anomaly(
                        "malformed-read",
                        [done.index],
                        f"{_where(done)} returned {shapes.shown(value)}, not a map of account "
                        "to balance",
                        {"value": value},
                    )
                )
                continue
            reads.append((done, {_account(k): b for k, b in value.items()}))

    known = {_account(a) for a in accounts} if accounts is not None else None
    if known is None:
        known = {a for _, r in reads for a in r}
        notes.append("accounts not given: taken as every account any read returned")
    if total is None and reads:
        sums = Counter(sum(b for b in r.values() if b is not None) for _, r in reads)
        total = sums.most_common(1)[0][0]
        notes.append(f"total not given: assumed {total}, the total most reads saw")

    worst_dev: float = 0
    worst_op: Op | None = None
    wrong = 0
    for op, r in reads:
        present = {a for a, b in r.items() if b is not None}
        missing = sorted(known - present, key=str)
        extra = sorted(set(r) - known, key=str)
        if missing:
            anomalies.append(
                Anomaly(
                    "missing-account",
                    [op.index],
                    f"{_where(op)} has no balance for account(s) {', '.join(map(str, missing))} "
                    f"of {len(known)}; its total is not checked",
                    {"missing": missing},
                )
            )
        if extra:
            anomalies.append(
                Anomaly(
                    "unexpected-account",
                    [op.index],
                    f"{_where(op)} returned account(s) {', '.join(map(str, extra))} that the "
                    "test never created",
                    {"unexpected": extra, "balances": {str(a): r[a] for a in extra}},
                )
            )
        if not negative_ok:
            neg = {a: b for a, b in r.items() if b is not None and b < 0}
            if neg:
                anomalies.append(
                    Anomaly(
                        "negative-balance",
                        [op.index],
                        f"{_where(op)} saw negative balance(s) "
                        + ", ".join(f"account {a} = {b}" for a, b in sorted(neg.items(), key=str))
                        + " although no transfer may overdraw an account",
                        {"negative": {str(a): b for a, b in neg.items()}},
                    )
                )
        if missing or total is None:
            continue
        seen = sum(b for a, b in r.items() if a in known)
        dev = seen - total
        if dev:
            wrong += 1
            anomalies.append(
                Anomaly(
                    "wrong-total",
                    [op.index],
                    f"{_where(op)} saw a total of {seen} across {len(known)} accounts, "
                    f"expected {total} ({'+' if dev > 0 else ''}{dev}): money was "
                    f"{'created' if dev > 0 else 'lost'} — a transfer seen half-applied, or an "
                    "update lost or applied twice",
                    {
                        "expected": total,
                        "seen": seen,
                        "deviation": dev,
                        "balances": {str(a): b for a, b in r.items()},
                    },
                )
            )
            if abs(dev) > abs(worst_dev):
                worst_dev, worst_op = dev, op

    if anomalies:
        valid: Validity = False
    elif not seen_kind:
        valid = "unknown"
        notes.append("no transfer or read op in the history: nothing to check")
    elif not reads:
        valid = "unknown"
        notes.append("no read completed ok: nothing shows whether the total was conserved")
    else:
        valid = True
    return Verdict(
        checker=CHECKER,
        valid=valid,
        anomalies=anomalies,
        stats={
            "reads_checked": len(reads),
            "reads_malformed": malformed,
            "reads_wrong_total": wrong,
            "transfers": {t: transfers[t] for t in (OK, FAIL, INFO)},
            "accounts": len(known),
            "total": total,
            "worst_deviation": worst_dev,
            "worst_deviation_at": (worst_op.seconds if worst_op and worst_op.time >= 0 else None),
            "worst_deviation_op": worst_op.index if worst_op else None,
        },
        notes=notes,
    )
