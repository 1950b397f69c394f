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

import random
import threading
from typing import Any

from harness.options import Option
from harness.spec import TestSpec
from workloads import Workload

ACCOUNTS = Option("accounts", int, 5, "number of accounts", minimum=2, maximum=10_000)
INITIAL_BALANCE = Option(
    "initial_balance", int, 100, "each account's balance at the start", minimum=0
)
MAX_TRANSFER = Option("max_transfer", int, 5, "largest amount moved by one transfer", minimum=1)
READ_RATIO = Option("read_ratio", float, 0.5, "fraction of ops that read", minimum=0, maximum=1)
NEGATIVE_OK = Option("negative_ok", bool, False, "a negative balance is not an anomaly")


class BankWorkload(Workload):
    name = "bank"
    checkers = ("bank",)
    read_only = frozenset({"read"})
    options = (ACCOUNTS, INITIAL_BALANCE, MAX_TRANSFER, READ_RATIO, NEGATIVE_OK)
    keys_knob = ACCOUNTS

    def __init__(self, spec: TestSpec, rng: random.Random) -> None:
        super().__init__(spec, rng)
        self.accounts = self.opt(ACCOUNTS)
        self.initial_balance = self.opt(INITIAL_BALANCE)
        self.max_transfer = self.opt(MAX_TRANSFER)
        self.read_ratio = self.opt(READ_RATIO)
        self.negative_ok = self.opt(NEGATIVE_OK)
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
