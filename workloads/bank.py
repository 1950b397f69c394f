"""Bank workload: money moves between accounts; every read must see the same total.

`accounts` accounts (default 5), numbered 0..N-1, each starting with `initial_balance`
(default 100). Ops: "transfer" {"from": a, "to": b, "amount": n} with a != b and
1 <= n <= `max_transfer` (default 5); "read" None -> {account: balance} for all accounts.
`read_ratio` (default 0.5) of the ops are reads. After healing, each node is read once more.

Client protocol:
- setup: create the N accounts with their initial balances (`initial_balances()`).
- invoke("transfer", {"from", "to", "amount"}): in ONE transaction, debit `from` and credit
  `to`. If the debit would make `from` negative, abort and raise workloads.Fail (no overdraft:
  a negative balance in a read is then an anomaly, unless the spec option `negative_ok`).
  Raise Fail for any definite abort (serialization failure); other errors are indeterminate.
- invoke("read", None): read every account in ONE transaction -> {account: balance}.

Checked by "bank": every ok read must sum to N * initial_balance.
"""

from __future__ import annotations

import threading
from typing import Any

from harness.errors import SpecError
from workloads import Workload


class BankWorkload(Workload):
    name = "bank"
    checkers = ("bank",)
    read_only = frozenset({"read"})

    def __init__(self, spec, rng) -> None:  # type: ignore[no-untyped-def]
        super().__init__(spec, rng)
        self.accounts = int(spec.option("accounts", 5))
        self.initial_balance = int(spec.option("initial_balance", 100))
        self.max_transfer = int(spec.option("max_transfer", 5))
        self.read_ratio = float(spec.option("read_ratio", 0.5))
        self.negative_ok = bool(spec.option("negative_ok", False))
        if self.accounts < 2:
            raise SpecError("bank: needs at least 2 accounts to transfer between")
        if self.max_transfer < 1 or self.initial_balance < 0:
            raise SpecError("bank: max_transfer must be >= 1 and initial_balance >= 0")
        self._lock = threading.Lock()

    def initial_balances(self) -> dict[int, int]:
        return {a: self.initial_balance for a in range(self.accounts)}

    def next_op(self, process: int) -> tuple[str, Any]:
        with self._lock:
            if self.rng.random() < self.read_ratio:
                return "read", None
            src = self.rng.randrange(self.accounts)
            dst = self.rng.randrange(self.accounts - 1)
            dst += dst >= src  # any account but src, uniformly
            return "transfer", {
                "from": src,
                "to": dst,
                "amount": self.rng.randint(1, self.max_transfer),
            }

    def final_ops(self) -> list[tuple[str, Any]]:
        return [("read", None)]

    def checker_options(self) -> dict[str, Any]:
        return {
            "accounts": list(range(self.accounts)),
            "total": self.accounts * self.initial_balance,
            "negative_ok": self.negative_ok,
        }
