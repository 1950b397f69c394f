"""The check pipeline: one history file -> a verdict document, or one line saying why not.

Used by `splitbrain check` (and meant for the runner): read the history (any format), refuse
what is not a history (harness.history.validate), choose the checkers (the one named, else
spec.json beside the history, else what the ops look like), validate the options given for
them, run each checker so that a crashing one is an "unknown" verdict, never a traceback.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import checkers
from harness import options as opts
from harness.checkers.linearizable.calls import OpError
from harness.errors import SpecError, SplitbrainError, one_line
from harness.history import NEMESIS, Op, is_edn_file, load_lines
from harness.verdict import Verdict, compose

DEFAULT_APPEND_MODEL = "strict-serializable"  # Elle's default model
DEFAULT_REGISTER_MODEL = "cas-register"
_REGISTER_FS = frozenset(("read", "write", "cas"))


def check_file(
    path: Path | str, checker: str | None = None, options: Mapping[str, Any] | None = None
) -> dict[str, Any] | str:
    """The verdict document of the history at `path` (a file or a run folder), with the
    pipeline's notes under "notes"; or, if it cannot be judged, the problem in one line."""
    path = Path(path)
    history_file = path / "history.jsonl" if path.is_dir() else path
    tried, first = _native_first(history_file, checker, options or {})
    if first is not None:
        return first
    notes: list[str] = []
    try:
        history, line_of = load_lines(history_file, notes=notes, validate=True)
        plan = plan_checks(history, history_file.parent / "spec.json", checker, options or {})
        notes.extend(plan.notes)
        verdicts = judge(history, plan.runs, history_file, native=not tried)
    except OpError as e:  # a checker refused one op: name its line in the file
        return f"{history_file}: line {line_of(e.position)}: {one_line(e)}"
    except SplitbrainError as e:
        return one_line(e)
    doc = compose(verdicts)
    doc["notes"] = notes
    return doc


def _native_first(
    history_file: Path, checker: str | None, given: Mapping[str, Any]
) -> tuple[bool, dict[str, Any] | None]:
    """(tried, the document) by the native core before anything is loaded in Python, when
    the plan is list-append without looking at the ops: --checker list-append; or no
    --checker and no spec.json, where the plan guessed is list-append exactly when every
    client op is a list-append transaction, which the core tells (`guessable`). A None
    document: load and plan (without asking the core again if it was tried)."""
    notes: list[str] = []
    if checker == "list-append":
        fast = native_list_append(history_file, given)
    elif checker is None and not (history_file.parent / "spec.json").exists():
        try:
            plan = _append_plan(given)
        except SplitbrainError:
            return False, None  # the planned path names the problem
        ((_, o),) = plan.runs
        notes = plan.notes
        fast = native_list_append(history_file, o, guessed=True)
    else:
        return False, None
    if fast is None:
        return True, None
    doc = compose([fast])
    doc["notes"] = notes
    return True, doc


def judge(
    history: Sequence[Op],
    runs: Sequence[tuple[str, Mapping[str, Any]]],
    path: Path,
    native: bool = True,
    refused: str = "raise",
) -> list[Verdict]:
    """The planned checkers' verdicts, for `splitbrain check` and for a run's own check (one
    pipeline): list-append's by the native core when it can decide (`native` False: it was
    tried already). A checker that refuses the history (SplitbrainError) makes the check
    fail in one line, or, with refused="unknown" (a run's own history), an unknown verdict
    with the reason, the run's other results kept."""
    out = []
    for name, options in runs:
        fast = native_list_append(path, options, history) if name == "list-append" and native else None
        if fast is not None:
            out.append(fast)
            continue
        try:
            out.append(run_checker(name, history, options))
        except SplitbrainError as e:
            if refused != "unknown":
                raise
            msg = f"checker refused the history: {one_line(e)}"
            out.append(Verdict(checker=name, valid="unknown", stats={"error": msg}, notes=[msg]))
    return out


def workload_runs(workload: Any, checker: str | None = None, **options: Any) -> list[tuple[str, dict[str, Any]]]:
    """A run's checkers: its workload's (with their options), or the one named."""
    if checker is not None:
        return [(checker, dict(options))]
    return [(n, {**workload.checker_options(), **options}) for n in workload.checkers]


def native_list_append(
    path: Path,
    options: Mapping[str, Any],
    history: Sequence[Op] | None = None,
    guessed: bool = False,
) -> Verdict | None:
    """The list-append verdict by the native core when it is installed and reads the file
    (with the Python stages on the part of it that holds the anomalies, if any: `history` is
    the file's ops when they are loaded already); None otherwise: the Python path then runs
    exactly as without it. guessed: only for a history guess_kind calls list-append."""
    from harness.checkers.elle import native

    if not native.available() or not path.is_file():
        return None
    try:
        from harness.checkers.elle.listappend import check_native

        opts = validate_options("list-append", options)
        v = check_native(str(path), is_edn_file(path), history, guessed, **opts)
        return None if v is None else _judged_something("list-append", v)
    except SplitbrainError:
        return None  # the Python path says what is wrong, in its words
    except Exception:  # noqa: BLE001 (a bug of the fast path must never cost the verdict)
        return None


def _append_plan(given: Mapping[str, Any]) -> Plan:
    """The plan for a history guess_kind calls list-append."""
    o = validate_options("list-append", given)
    o.setdefault("models", (DEFAULT_APPEND_MODEL,))
    note = (
        "no spec.json and no --checker: a list-append history, judged by list-append "
        f"against {', '.join(o['models'])}"
    )
    return Plan([("list-append", o)], [note])


class Plan:
    """Which checkers to run, each with its options, and why (notes for the user)."""

    def __init__(self, runs: list[tuple[str, dict[str, Any]]], notes: list[str]) -> None:
        self.runs = runs
        self.notes = notes


def plan_checks(
    history: Sequence[Op],
    spec_file: Path | None,
    checker: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Plan:
    """The checkers for a history: the one named; else those of the spec beside it; else,
    for a list-append or register history, the checker Jepsen would use (Elle's list-append
    against strict-serializable; Knossos's linearizability against cas-register, or
    multi-register for transactions of reads and writes). SpecError if none."""
    given = dict(options or {})
    if checker is not None:
        return Plan([(checker, validate_options(checker, given))], [])
    if spec_file is not None and spec_file.exists():
        from harness import spec as specs
        from workloads import get as workload

        spec = specs.TestSpec.load(spec_file)
        wl = workload(spec, random.Random(spec.seed))
        return Plan(
            [(n, {**wl.checker_options(), **validate_options(n, given)}) for n in wl.checkers],
            [],
        )
    kind = guess_kind(history)
    if kind == "list-append":
        return _append_plan(given)
    if kind in ("register", "multi-register"):
        o = validate_options("linearizable", given)
        o.setdefault("model", DEFAULT_REGISTER_MODEL if kind == "register" else kind)
        note = (
            "no spec.json and no --checker: a register history, judged linearizable "
            f"against the {o['model']} model"
        )
        return Plan([("linearizable", o)], [note])
    raise SpecError(
        "no spec.json beside it, and neither a list-append nor a register history: "
        "choose --checker (or --model)"
    )


def guess_kind(history: Sequence[Op]) -> str | None:
    """ "list-append" if every client op is a transaction of append/r micro-ops (Elle),
    "multi-register" if of read/write micro-ops (Knossos), "register" if every client op is
    a read, write or cas; else None."""
    fs = {op.f for op in history if op.process != NEMESIS}
    if fs and fs <= _REGISTER_FS:
        return "register"
    if fs != {"txn"}:
        return None
    heads: set[Any] = set()
    for op in history:
        if op.process == NEMESIS:
            continue
        if type(op.value) is not list:
            return None
        for m in op.value:
            if type(m) is not list or not m:
                return None
            heads.add(m[0])
    if heads and heads <= {"append", "r"}:
        return "list-append"
    if heads and heads <= {"read", "write"}:
        return "multi-register"
    return None


def validate_options(checker: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The typed options for `checker` (SpecError naming a bad or unknown one)."""
    return opts.validate(given, [(checker, checkers.options_of(checker))])


# The stat in which a checker counts the ops it judged: list-append skips the ops that are
# not list-append transactions, so on another workload's history it would find nothing wrong.
_JUDGED = {"list-append": "txns", "linearizable": "ops"}


def run_checker(name: str, history: Sequence[Op], options: Mapping[str, Any]) -> Verdict:
    """One checker's verdict; a checker that crashes gives "unknown" with the error, and so
    does one that judged no op at all (not "valid": it checked nothing)."""
    return _judged_something(name, checkers.check_safely(name, list(history), **options))


def _judged_something(name: str, v: Verdict) -> Verdict:
    """v, made "unknown" if it is valid but judged no op at all (it checked nothing)."""
    if v.valid is True and v.stats.get(_JUDGED.get(name, ""), 1) == 0:
        v.valid = "unknown"
        v.notes.append(f"{name} judged no op of this history: it is not a {name} history")
    return v
