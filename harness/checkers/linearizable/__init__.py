"""Linearizability checker: Wing & Gong's search with Lowe's improvements.

Semantics are Jepsen's (Knossos): an `ok` op took effect exactly once between its invocation
and its completion; a `fail` op never took effect (dropped); an `info` op, or an invocation
that never completed, took effect at some point after its invocation or never (its
completion is at +infinity, and the search need not linearise it). Indeterminate reads carry
no information and are dropped. Nemesis ops are ignored. Real-time order is history order.

Modules: calls.py turns the history into calls per key, search.py decides each key,
evidence.py shrinks a failed key to the ops that prove it, explain.py words the anomaly.

P-compositionality: with `independent=True` (Jepsen's independent form, value [key value])
every key is a separate register and is checked on its own.

Options (OPTIONS below): `model`, `independent` (unset = detect), `initial` (model initial
value), `time_limit` (s), `max_states` (memoised configurations held for one key),
`max_memory_mb` (lowers max_states for long keys, whose bitsets are large). A budget that
runs out gives valid "unknown", never a guess.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from harness.checkers import models as models_
from harness.checkers.linearizable import calls, evidence, explain, search
from harness.checkers.shapes import read_options
from harness.errors import SpecError
from harness.history import Op
from harness.options import Option
from harness.verdict import Anomaly, Verdict

NAME = "linearizable"
_EVIDENCE_TIME = 1.0  # s at most to shrink the evidence of one key...
_EVIDENCE_TOTAL = 10.0  # ...and of all keys (after that, one cheap attempt each)
# The shrinks of a history's failed keys may spend together this share of the search
# iterations that decided all its keys, plus a floor per failed key: the evidence costs less
# than the decision (bench/bench_linearizable.py shows both), and the same history always
# gets the same evidence, whatever the machine.
_EVIDENCE_SHARE = 0.5
_EVIDENCE_FLOOR = 1000


@dataclass(frozen=True)
class _ValueOption(Option):
    """An option whose value is any JSON value (a register's initial value: 0, nil, "a")."""

    def parse(self, raw: Any, flag: str = "--opt") -> Any:
        if isinstance(raw, str):
            try:
                return json.loads(raw)
            except ValueError:
                return raw
        if raw is None or isinstance(raw, bool | int | str | list | tuple | dict):
            return raw
        if isinstance(raw, float) and raw == raw and abs(raw) != float("inf"):
            return raw
        raise SpecError(f"{flag} {self.name}={raw!r}: expected a JSON value")


MODEL = Option(
    "model", str, "cas-register", "sequential specification", choices=tuple(models_.MODELS)
)
INDEPENDENT = Option(
    "independent", bool, None, "split [key value] values by key (unset: detect the form)"
)
INITIAL = _ValueOption("initial", str, None, "the model's initial value (JSON; model default)")
TIME_LIMIT = Option("time_limit", float, 60.0, "seconds for the whole check (0: none)", minimum=0)
MAX_STATES = Option(
    "max_states", int, 2_000_000, "memoised configurations held for one key", minimum=1
)
MAX_MEMORY_MB = Option(
    "max_memory_mb", float, 1024.0, "memory for one key's search", minimum=1, maximum=1e9
)
OPTIONS: tuple[Option, ...] = (MODEL, INDEPENDENT, INITIAL, TIME_LIMIT, MAX_STATES, MAX_MEMORY_MB)
# the anomaly types its verdicts report (harness.checkers.anomalies_of: hunt and shrink targets)
ANOMALIES = ("nonlinearizable",)


def check(history: list[Op], **options: Any) -> Verdict:
    """Is the history linearizable for `model`? See the module docstring for options."""
    t0 = time.monotonic()
    opts = read_options(NAME, OPTIONS, options)
    model = MODEL.get(opts)
    margs = {"initial": opts["initial"]} if "initial" in opts else {}
    try:
        m = models_.get(model, **margs)
    except ValueError as e:  # an initial value nested too deeply
        raise SpecError(f"{NAME} option initial: {e}") from None
    budget = search.Budget(TIME_LIMIT.get(opts), MAX_STATES.get(opts), MAX_MEMORY_MB.get(opts))

    prep = calls.prepare(history, m, INDEPENDENT.get(opts))
    by_key, keyed, counts, notes = prep.by_key, prep.independent, prep.counts, prep.notes

    states = 0
    checked = 0
    steps = 0
    by_order = searched = 0  # keys decided by the order writes reveal (unique.py), by search
    found_fast: list[tuple[int, Anomaly]] = []
    unknown_keys: list[str] = []
    failed: list[tuple[int, Any, list[calls.Call], search.Result]] = []
    for n_key, (key, ops) in enumerate(by_key.items()):
        name = f"key {models_.show(key)}" if keyed else "the history"
        if budget.expired():
            left = len(by_key) - n_key
            notes.append(f"time budget ran out before {left} of {len(by_key)} keys were checked")
            unknown_keys.extend(models_.show(k) for k in list(by_key)[n_key:])
            break
        if isinstance(m, models_.KV):
            from harness.checkers.linearizable import unique  # kv only

            d = unique.decide_key(ops, m.initial)
            if d is not None:
                by_order += 1
                checked += len(ops)
                if not d.valid:
                    proof = unique.prove(ops, m.initial)
                    a = (
                        explain.unique_anomaly(key, ops, proof, m)
                        if proof is not None
                        else explain.whole_key_anomaly(key, ops)
                    )
                    found_fast.append((n_key, a))
                continue
        res = search.search(ops, m, budget)
        searched += 1
        states += res.states
        checked += len(ops)
        steps += res.steps
        if res.status is False:
            failed.append((n_key, key, ops, res))
        elif res.status is not True:
            why = (
                "time budget"
                if res.status == "budget-time"
                else f"states budget ({res.max_states})"
            )
            notes.append(
                f"{why} ran out on {name} ({len(ops)} ops) after exploring {res.states} "
                f"configurations; at most {res.linearised} ops were linearised in one order"
                + _unordered(ops, res)
            )
            unknown_keys.append(models_.show(key))

    # Evidence, from a pool of work proportional to the decision's: keys decided cheaply go
    # first, and what they leave unspent goes to the harder ones after them.
    pool = _EVIDENCE_SHARE * steps + _EVIDENCE_FLOOR * len(failed)
    evidence_left = _EVIDENCE_TOTAL
    evidence_s = 0.0
    found: list[tuple[int, Anomaly]] = []
    for n, (n_key, key, ops, res) in enumerate(sorted(failed, key=lambda f: f[3].steps)):
        t = time.monotonic()
        shrink_time = min(_EVIDENCE_TIME, evidence_left)
        ev = evidence.prove(ops, res, m, budget.within(shrink_time), pool / (len(failed) - n))
        pool -= ev.work
        found.append((n_key, explain.anomaly(key, keyed, ops, ev, m)))
        spent = time.monotonic() - t
        evidence_left -= spent
        evidence_s += spent
    anomalies = [a for _, a in sorted(found + found_fast, key=lambda f: f[0])]

    valid: bool | str = False if anomalies else ("unknown" if unknown_keys else True)
    if not prep.calls:
        valid = "unknown"
        notes.append(f"no client op ({'/'.join(m.fs)}) in the history: nothing to check")
    return Verdict(
        checker=NAME,
        valid=valid,  # type: ignore[arg-type]
        anomalies=anomalies,
        stats={
            "model": model,
            "ops": checked,
            "keys": len(by_key),
            "independent": keyed,
            "states": states,
            "dropped_fail": counts["fail"],
            "dropped_info_reads": counts["info-dropped"],
            "indeterminate": counts["info"],
            "unknown_keys": unknown_keys,
            "keys_by_write_order": by_order,
            "keys_by_search": searched,
            "elapsed": round(time.monotonic() - t0, 4),
            "evidence_s": round(evidence_s, 6),
        },
        notes=notes,
    )


def _unordered(ops: list[calls.Call], res: search.Result, most: int = 10) -> str:
    """The ops the search could not order, for a key it gave up on: those invoked before the
    furthest point any order reached and not in that order."""
    if not res.unordered:
        return ""
    shown = ", ".join(str(ops[i].inv.index) for i in res.unordered[:most])
    more = f" and {len(res.unordered) - most} more" if len(res.unordered) > most else ""
    return f"; it could not order the ops invoked at indices {shown}{more}"
