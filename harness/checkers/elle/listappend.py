"""Elle-style list-append checker: infer version orders from reads, build the dependency graph,
find cycles, and explain them.

Transactions are lists of micro-ops ["append", k, v] (v unique per key) and ["r", k, [v...]].
Because lists only grow, every read of a key is a prefix of the key's final version, so:
- the longest read of a key is its version order, and every other read must be a prefix of it;
- a committed (ok) append that no read saw comes after every value any read saw;
- a txn that read k = [.. x] depends (wr) on the appender of x, and anti-depends (rw) on the
  appender of the value right after x (or on every unseen committed append when x is the last
  value seen).
ok txns committed; fail txns never happened (seeing their writes is G1a); info txns are in the
graph only through writes that some read proves took effect.

Stages: scan.py (shape, indexes) -> internal.py (within a txn) -> versions.py (orders and
direct anomalies) -> edges.py (edges, SCCs) -> cycles.py (search) -> explain.py (words).
"""

from __future__ import annotations

import gc
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checkers.elle import anomalies as taxonomy
from harness.history import FAIL, INFO, OK, Op
from harness.options import Option, validate
from harness.verdict import Anomaly, Verdict

if TYPE_CHECKING:
    from harness.checkers.elle.scan import Scan

CHECKER = "list-append"

OPTIONS: tuple[Option, ...] = (
    Option(
        "models",
        list,
        taxonomy.DEFAULT_MODELS,
        "consistency models to judge the history against (Elle's default: strict-serializable)",
        choices=taxonomy.MODELS + tuple(taxonomy.ALIASES),
    ),
    Option(
        "realtime",
        bool,
        None,
        "add real-time order edges (default: only when strict-serializable is judged)",
    ),
    Option("process", bool, False, "add per-process order edges (session guarantees)"),
    Option(
        "time_limit",
        float,
        30.0,
        "seconds the cycle search may take before the verdict becomes unknown",
        minimum=0,
    ),
)
_OWNERS = [(CHECKER, OPTIONS)]


class _Findings:
    def __init__(self, s: Scan) -> None:
        self.s = s
        self.anomalies: list[Anomaly] = []

    def report(self, kind: str, ops: list[int], explanation: str, **data: Any) -> None:
        data["models_ruled_out"] = list(taxonomy.KINDS[kind].rules_out)
        self.anomalies.append(Anomaly(kind, ops, explanation, data))


def _models(models: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(taxonomy.normalize_model(m) for m in models))
    return out or taxonomy.DEFAULT_MODELS


def check(history: list[Op], **options: Any) -> Verdict:
    """Check a list-append history against consistency models (option `models`; Elle's
    default strict-serializable when not given).

    realtime=None adds real-time edges only when strict-serializable is judged. valid is
    False only if an anomaly rules out a judged model; others are reported anyway."""
    # The check allocates millions of small acyclic objects: the cyclic collector would
    # rescan them over and over (a third of the time on 1M txns) and free nothing.
    with _gc_off():
        return _check(history, options)


@contextmanager
def _gc_off() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class _Judging:
    """What one check judges against, and what it has to say (both paths share it)."""

    want: tuple[str, ...]  # the models judged
    realtime: bool
    process: bool
    time_limit: float
    notes: list[str]
    started: float = field(default_factory=time.monotonic)


def _settings(options: dict[str, Any]) -> _Judging:
    """The judging of the options given (validated)."""
    # None stands for "not given" (realtime=None: decide from the models), as it always has
    given = {k: v for k, v in options.items() if v is not None}
    opts = validate(given, _OWNERS, flag="list-append option")
    notes: list[str] = []
    if "models" in opts:
        want = _models(opts["models"])
    else:
        want = taxonomy.DEFAULT_MODELS
        notes.append(
            "no consistency models were given: judged against strict-serializable, "
            "Elle's default (real-time order included)"
        )
    realtime = opts.get("realtime")
    if realtime is None:
        realtime = "strict-serializable" in want
    process = bool(opts.get("process", False))
    time_limit = float(opts.get("time_limit", 30.0))
    return _Judging(want, bool(realtime), process, time_limit, notes)


def _check(history: list[Op], options: dict[str, Any]) -> Verdict:
    # The stages are imported where they are used, not at the top: `splitbrain check` on the
    # native path needs only the options and the verdict's words (a cheaper start).
    from harness.checkers.elle.scan import scan

    j = _settings(options)
    s = scan(history, events=bool(j.realtime or j.process))
    if not s.txns:
        j.notes.append(
            "the history has no list-append transactions (ops with f 'txn' and a list of "
            "[f k v] micro-ops): nothing to judge"
            + (f"; {s.skipped} other op(s) ignored" if s.skipped else "")
        )
        return Verdict(
            CHECKER,
            "unknown",
            [],
            {"txns": 0, "models": list(j.want), "complete": False},
            j.notes,
        )
    v = _analyse(s, j)
    assert v is not None
    return v


def _analyse(
    s: Scan,
    j: _Judging,
    native: dict[str, Any] | None = None,
    native_comps: list[list[int]] | None = None,
) -> Verdict | None:
    """The stages after the scan. `native`: the core's counts of the whole history, of which
    `s` is a focused part, and `native_comps` its components (then None if the part's edges
    do not make them strongly connected)."""
    from harness.checkers.elle.cycles import Budget, search_scc, shorten
    from harness.checkers.elle.edges import (
        Edges,
        components,
        data_edges,
        inside,
        loose_edges,
        order_edges,
    )
    from harness.checkers.elle.explain import Explainer
    from harness.checkers.elle.graph import PROC, RT, OutOfTime
    from harness.checkers.elle.internal import internal_findings
    from harness.checkers.elle.versions import Versions

    realtime, process, notes = j.realtime, j.process, j.notes
    found = _Findings(s)
    for tid in s.repeats:
        for kind, ops, text, data in internal_findings(s.txns[tid]):
            found.report(kind, ops, text, **data)
    ver = Versions(s, found.report)
    ver.infer()
    ver.lost_updates()
    e = Edges()
    data_edges(s, ver, e)
    loose = loose_edges(s, ver, e)
    if realtime or process:
        order_edges(s, e, realtime, process)
    n_edges = len(e)
    if native_comps is None:
        comps, g, distinct = components(len(s.txns), e)
    else:
        comps = native_comps
        inner = inside(len(s.txns), comps, e)
        if inner is None:
            return None  # not the whole history's cycles: a bug of the focus; `check` decides
        g = inner
    del e
    largest = max((len(c) for c in comps), default=0)

    budget = Budget(j.time_limit)
    explain = Explainer(s, ver, loose)
    orders = (RT if realtime else 0) | (PROC if process else 0)
    before = _before(s)
    complete = True
    for i, comp in enumerate(comps):
        try:
            budget.check()
            for cyc in search_scc(g, set(comp), orders, budget.check):
                if realtime:
                    cyc = shorten(cyc, before)
                found.anomalies.append(explain.cycle(cyc))
        except OutOfTime:
            complete = False
            unexplored = sum(len(c) for c in comps[i:])
            notes.append(
                f"cycle search ran out of its {j.time_limit:g} s budget: {len(comps) - i} of "
                f"{len(comps)} strongly connected components ({unexplored} txns) were not fully "
                "searched; anomalies there are unknown"
            )
            break

    if s.reused:
        notes.append(
            f"{s.reused} append(s) reused a value already appended to the same key: values must "
            "be unique per key, so evidence involving them may be wrong"
        )
    if ver.loose:
        notes.append(
            f"{len(ver.loose)} key(s) had no single version order (incompatible, duplicated or "
            "reversed reads): only the edges each of their reads proves on its own were used"
        )
    if s.skipped:
        notes.append(f"{s.skipped} op(s) were not list-append transactions and were ignored")
    if native is not None:
        return _verdict(found.anomalies, native, j, complete, "focus")
    by_type = {t: 0 for t in (OK, INFO, FAIL)}
    for t in s.txns:
        by_type[t.type] += 1
    counts = {
        "txns": len(s.txns),
        "ok": by_type[OK],
        "info": by_type[INFO],
        "fail": by_type[FAIL],
        "keys": len(ver.order) + len(ver.loose),
        "edges": distinct,
        "edge_records": n_edges,
        "sccs": len(comps),
        "largest_scc": largest,
    }
    return _verdict(found.anomalies, counts, j, complete)


def _verdict(
    anomalies: list[Anomaly],
    counts: dict[str, int],
    j: _Judging,
    complete: bool,
    engine: str = "python",
) -> Verdict:
    """The verdict of the anomalies found (the Python path and the native one share it)."""
    want, realtime = j.want, j.realtime
    types = {an.type for an in anomalies}
    ruled_out = taxonomy.rules_out(types)
    valid: bool | str = True
    if any(m in ruled_out for m in want):
        valid = False
    elif not complete:
        valid = "unknown"
    undetermined = []
    consistent = []
    for m in taxonomy.MODELS:
        if m in ruled_out:
            continue
        if not complete or (m == "strict-serializable" and not realtime):
            undetermined.append(m)
        else:
            consistent.append(m)
    elapsed = time.monotonic() - j.started
    return Verdict(
        checker=CHECKER,
        valid=valid,  # type: ignore[arg-type]
        anomalies=anomalies,
        stats={
            **counts,
            "counts": dict(sorted(Counter(x.type for x in anomalies).items())),
            "models": list(want),
            "models_ruled_out": ruled_out,
            "consistent_with": consistent,
            "undetermined": undetermined,
            "realtime": realtime,
            "process": j.process,
            "complete": complete,
            "engine": engine,
            "elapsed": round(elapsed, 3),
            "txns_per_second": round(counts["txns"] / elapsed) if elapsed > 0 else None,
        },
        notes=j.notes,
    )


def check_native(
    path: str,
    edn: bool,
    history: Sequence[Op] | None = None,
    guessed: bool = False,
    **options: Any,
) -> Verdict | None:
    """The verdict of the history file at `path` with the native core (harness/checkers/elle/
    native.py): by the core alone for a well-formed history with no anomaly and no cycle; for
    any other well-formed one, by the Python stages on the part of it the core chose (see
    _focused: the anomalies and their words are those of `check`). None when the core is
    missing or gives up: then run `check` as always. Its reason is in native.last_reason.
    `history`: the file's ops, when the caller has read them already. `guessed`: the caller
    planned list-append without looking (None unless every client op is a list-append txn,
    as harness.checking.guess_kind requires)."""
    from harness.checkers.elle import native

    j = _settings(options)
    counts = native.check_list_append(path, edn, j.realtime, j.process)
    if counts is None:
        return None
    if not counts.pop("guessable") and guessed:
        native.last_reason = "not every client op is a list-append transaction"
        return None
    focus = counts.pop("focus", None)
    if focus is None:
        return _verdict([], counts, j, True, "native")
    ops = _focus_ops(path, edn, history, focus["indices"], focus["spans"])
    if ops is None:
        return None
    with _gc_off():
        return _focused(ops, focus, counts, j)


def _focus_ops(
    path: str, edn: bool, history: Sequence[Op] | None, indices: list[int], spans: list[Any]
) -> list[Op] | None:
    """The ops with these indices (increasing), from `history` or read from the file."""
    from harness.checkers.elle import native

    if history is None and edn:
        got = native.read_ops(path, indices, spans)
        if got is not None:
            same = [op.index for op in got] == indices
            return got if same else None
    if history is None:
        from harness.history import load

        history = load(path)
    wanted = set(indices)
    out = [op for op in history if op.index in wanted]
    return out if len(out) == len(indices) else None


def _focused(
    ops: list[Op], focus: dict[str, Any], counts: dict[str, Any], j: _Judging
) -> Verdict | None:
    """The Python stages on the txns the native core chose (check.rs, Focus), each with its
    id in the whole history, indexed on the chosen keys only:
    - txns in a strongly connected component of more than one txn, and txns with an internal
      or future-read finding;
    - every txn on a key with a finding of its own (garbage, G1a, G1b, dirty update, lost
      update, duplicates, incompatible or reversed orders): its findings and its edges come
      from all its reads and appends, as in the whole history;
    - for a key some edge inside a component is on: its appenders, the read that is its
      version order, and its first reads (its place among the keys); then its version order,
      unread appends and edges between txns of a component are the whole history's. An edge's
      words come only from keys that edge is on.
    Order edges are built between txns of the components alone: an order edge between two of
    them that a txn outside would replace passes through that txn, which is then in their
    component. So the components, the edges inside them and the search are the whole
    history's, and so are the anomalies and their words; the counts are the core's.
    None (the caller runs `check`) if a component is not strongly connected by those edges."""
    from harness.checkers.elle.scan import scan

    by_index = {op.index: op for op in ops}
    keys = {by_index[i].value[m][1] for i, m in focus["keys"]}
    s = scan(ops, j.realtime or j.process, focus["tids"], counts["txns"], keys)
    s.proven = set(focus["proven"])
    # Only the txns the core found an internal finding in are looked at again (the clean
    # verdict trusts that same decision), and only the order edges between txns of one
    # component: those are the whole history's (a txn that an order edge between two of
    # them would pass through is in their component too).
    s.repeats = list(focus["internal"])
    if s.events:
        members = {t for comp in focus["comps"] for t in comp}
        tid_of = s.tid_of_pair
        s.events = array("q", (c for c in s.events if tid_of[c >> 1] in members))
    return _analyse(s, j, counts, focus["comps"])


def _before(s: Scan) -> Any:
    txns = s.txns

    def before(a: int, b: int) -> bool:
        """Real-time order: a completed ok before b was invoked."""
        ta, tb = txns[a], txns[b]
        return ta.type == OK and ta.done is not None and ta.done.index < tb.inv.index

    return before
