"""The native list-append core (native/, harness/checkers/elle/native.py) against the Python
checker: on every list-append history we have, the native path gives None or exactly
Python's verdict (elapsed aside), and None wherever Python reports any anomaly; mutated bytes
never crash it nor make it say "clean" where Python does not. No speed is asserted.

Skipped when the module is not built, unless SPLITBRAIN_REQUIRE_NATIVE=1 (quickstart test sets
it when it built the module), so that CI cannot lose these tests silently."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from harness import checking
from harness.checkers.elle import check, native
from harness.checkers.elle.listappend import check_native
from harness.edn import write_edn_history
from harness.errors import HistoryError
from harness.history import Op, load, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from bench_elle import inject, simulate  # noqa: E402

from tests.native_gate import require_native  # noqa: E402

require_native(
    native.available(),
    "the native core (splitbrain_native) is not importable: build it with `pip install ./native`",
    "the native core is not built (pip install ./native, or quickstart install with cargo)",
)

VOLATILE = ("elapsed", "txns_per_second", "engine")
OPTIONS: list[dict[str, Any]] = [
    {},
    {"models": ["serializable"]},
    {"models": ["serializable"], "process": True},
    {"models": ["snapshot-isolation"], "realtime": True, "process": True},
    {"models": ["read-committed"]},
]


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    out = {**doc, "checkers": {}}
    for name, v in doc["checkers"].items():
        stats = {k: x for k, x in v["stats"].items() if k not in VOLATILE}
        out["checkers"][name] = {**v, "stats": stats}
    return out


def _python_doc(path: Path, options: dict[str, Any]) -> dict[str, Any] | str:
    with mock.patch.object(native, "_core", None):
        return checking.check_file(path, "list-append", options)


def assert_equivalent(path: Path, options: dict[str, Any]) -> str:
    """Native or not, `splitbrain check` gives Python's verdict; the engine that gave it:
    "native" (the core alone: clean), "focus" (the Python stages on the core's focus: not
    clean) or "python" (the core gave up, or refused)."""
    fast = checking.check_file(path, "list-append", options)
    slow = _python_doc(path, options)
    if isinstance(fast, str) or fast["checkers"]["list-append"]["stats"].get("engine") != "native":
        assert isinstance(slow, str) == isinstance(fast, str)
        if isinstance(fast, str):
            assert fast == slow
            return "python"
        assert isinstance(slow, dict)
        assert _strip(fast) == _strip(slow)
        engine = fast["checkers"]["list-append"]["stats"].get("engine", "python")
        assert engine in ("focus", "python")
        if engine == "focus":
            assert fast["checkers"]["list-append"]["anomalies"], "a focus without anomalies"
        return str(engine)
    assert isinstance(slow, dict), f"native said clean, Python: {slow}"
    assert slow["checkers"]["list-append"]["anomalies"] == [], "native clean, Python anomalies"
    assert _strip(fast) == _strip(slow)
    return "native"


def _write(ops: list[Op], path: Path) -> Path:
    if path.suffix == ".edn":
        write_edn_history(ops, path)
    else:
        write_jsonl(ops, path)
    return path


# -- the project's fixtures --------------------------------------------------------------

FIXTURES = sorted((ROOT / "tests" / "data" / "elle").glob("*.jsonl")) + sorted(
    (ROOT / "tests" / "data" / "edn").glob("*.edn")
)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixtures_native_none_or_python_verdict(path: Path, tmp_path: Path) -> None:
    for options in OPTIONS[:3]:
        assert_equivalent(path, options)
    if path.suffix == ".jsonl":  # the same ops as EDN
        try:
            ops = load(path)
        except HistoryError:
            return
        for options in OPTIONS[:2]:
            assert_equivalent(_write(ops, tmp_path / (path.stem + ".edn")), options)


def test_fixture_anomalies_never_native(tmp_path: Path) -> None:
    """Every fixture named after an anomaly (not *-valid) is never called clean by the core:
    it falls back to Python, or the Python stages judge its focus with Python's anomalies."""
    bad = [p for p in FIXTURES if p.parent.name == "elle" and not p.stem.endswith("-valid")]
    assert len(bad) >= 15
    engines = []
    for path in bad:
        v = check_native(str(path), False)
        if v is None:
            assert native.last_reason
            engines.append("python")
            continue
        assert v.stats["engine"] == "focus", f"{path.name}: native said clean"
        py = check(load(path))
        assert py.anomalies and v.anomalies == py.anomalies, path.name
        assert (v.valid, v.notes) == (py.valid, py.notes)
        engines.append("focus")
    assert "focus" in engines


# -- generated histories (bench_elle's simulation) ---------------------------------------


@pytest.fixture(params=["whole", "split"])
def split(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Big files are read in two halves on two threads: "split" makes small ones split too."""
    if request.param == "split":
        monkeypatch.setenv("SPLITBRAIN_NATIVE_SPLIT_BYTES", "1")
    return str(request.param)


@pytest.mark.parametrize("fmt", ["edn", "jsonl"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_valid_histories_decided_natively(
    fmt: str, seed: int, split: str, tmp_path: Path
) -> None:
    path = _write(simulate(1500, seed), tmp_path / f"valid.{fmt}")
    for options in OPTIONS:
        assert assert_equivalent(path, options) == "native", native.last_reason


def test_split_inside_a_form_reads_whole(split: str, tmp_path: Path) -> None:
    """A split point inside a top-level vector, or inside a string spanning lines, is no
    boundary: the file is read again in one piece, with the same verdict."""
    ops = simulate(400, 4)
    for op in ops:
        op.index *= 2  # room for a nemesis op below
    path = _write(ops, tmp_path / "lines.edn")
    lines = path.read_text().splitlines()
    vec = tmp_path / "vector.edn"
    vec.write_text("[" + "\n".join(lines) + "]\n")
    assert assert_equivalent(vec, {}) == "native", native.last_reason
    mid = len(lines) // 2
    head, tail = "\n".join(lines[:mid]) + "\n", "\n" + "\n".join(lines[mid:]) + "\n"
    pad = "x" * (2 * (len(head) + len(tail)))  # the file's middle falls inside this string
    nemesis = (
        f"{{:index {ops[mid].index - 1}, :time 1, :type :info, :process :nemesis, "
        f':f :start, :value "{pad}\n{{:x 1}}\n"}}'
    )
    odd = tmp_path / "string.edn"
    odd.write_text(head + nemesis + tail)
    assert assert_equivalent(odd, {}) == "native", native.last_reason


def test_elle_shapes_without_time_process_f(split: str, tmp_path: Path) -> None:
    """Elle's histories may lack :time, :process (one None process) and :f, and :index (then
    an op's index is its position in the whole history, as Python numbers it)."""
    ops = simulate(300, 6, concurrency=1)
    lines = [
        f"{{:index {i} :type :{o.type} :value {_edn_value(o.value)}}}" for i, o in enumerate(ops)
    ]
    path = tmp_path / "elle.edn"
    path.write_text("\n".join(lines) + "\n")
    assert assert_equivalent(path, {}) == "native", native.last_reason
    assert assert_equivalent(path, {"models": ["serializable"], "process": True}) == "native"
    bare = tmp_path / "no-index.edn"
    bare.write_text("\n".join(f"{{:type :{o.type} :value {_edn_value(o.value)}}}" for o in ops))
    assert assert_equivalent(bare, {}) == "native", native.last_reason
    assert assert_equivalent(bare, {"models": ["serializable"], "process": True}) == "native"
    if_jsonl = tmp_path / "no-index.jsonl"  # JSONL numbers ops by position, one way
    if_jsonl.write_text(
        "\n".join(
            json.dumps(
                {"time": o.time, "process": o.process, "type": o.type, "f": o.f, "value": o.value}
            )
            for o in ops
        )
    )
    assert assert_equivalent(if_jsonl, {}) == "native", native.last_reason


def test_edn_without_index_concurrent_and_mixed(split: str, tmp_path: Path) -> None:
    """Concurrent ops without :index, with a nemesis line Python's fast EDN path cannot read
    (a float) in the middle: both readers number the ops by position in the whole history,
    so the real-time edges (strict-serializable, the default) are the same."""

    def without_index(ops: list[Op]) -> list[str]:
        return [
            f"{{:type :{o.type} :process {o.process} :time {o.time} :f :txn "
            f":value {_edn_value(o.value)}}}"
            for o in ops
        ]

    ops = simulate(400, 5, concurrency=5)
    lines = without_index(ops)
    lines.insert(len(lines) // 2, "{:type :info :process :nemesis :f :start :value 1.5}")
    path = tmp_path / "no-index-mixed.edn"
    path.write_text("\n".join(lines) + "\n")
    assert assert_equivalent(path, {}) == "native", native.last_reason
    bad = tmp_path / "no-index-invalid.edn"
    wrong, injected = inject(ops, 3, 0.05)
    assert injected > 0
    bad.write_text("\n".join(without_index(wrong)) + "\n")
    assert assert_equivalent(bad, {}) == "focus"


def _edn_value(v: Any) -> str:
    from harness.edn import dumps_value

    return dumps_value(v, txn=True)


NEMESIS_VALUES = [
    None,
    1.5,
    -2e-3,
    'a string with "escapes" \\ and \n',
    {"isolated": {"n1": ["n2", "n3"]}, "at": 12.25},
    [["n1", "n2"], ["n3"]],
    True,
]


@pytest.mark.parametrize("fmt", ["edn", "jsonl"])
def test_nemesis_ops_of_any_value_are_read(fmt: str, split: str, tmp_path: Path) -> None:
    ops = simulate(400, 8)
    out: list[Op] = []
    for i, o in enumerate(ops):
        if i % 50 == 25:
            value = NEMESIS_VALUES[(i // 50) % len(NEMESIS_VALUES)]
            out.append(Op(len(out), o.time, "nemesis", "info", "start-partition", value))
        out.append(Op(len(out), o.time, o.process, o.type, o.f, o.value))
    path = _write(out, tmp_path / f"nemesis.{fmt}")
    if fmt == "edn":  # a set, and a float with an exponent and M, as Jepsen may write them
        text = path.read_text().replace(":value nil", ':value #{:a "b" 1} :extra 1.5e3M', 1)
        path.write_text(text)
    assert assert_equivalent(path, {}) == "native", native.last_reason


def _direct(path: Path, **options: Any) -> None:
    """check_native vs check on the loaded history: stats equal when native decides."""
    v = check_native(str(path), path.suffix == ".edn", **options)
    py = check(load(path), **options)
    if v is None:
        return
    assert py.anomalies == []
    assert v.valid == py.valid
    assert v.notes == py.notes
    assert {k: x for k, x in v.stats.items() if k not in VOLATILE} == {
        k: x for k, x in py.stats.items() if k not in VOLATILE
    }


def test_engine_stat_names_the_path(tmp_path: Path) -> None:
    path = _write(simulate(300, 5), tmp_path / "h.edn")
    fast = checking.check_file(path, "list-append", {})
    assert isinstance(fast, dict)
    assert fast["checkers"]["list-append"]["stats"]["engine"] == "native"
    slow = _python_doc(path, {})
    assert isinstance(slow, dict)
    assert slow["checkers"]["list-append"]["stats"]["engine"] == "python"
    _direct(path)
    _direct(path, models=["serializable"], process=True)


def _mutate_ops(ops: list[Op], kind: str, rng: random.Random) -> list[Op]:
    """A copy of a valid history with one anomaly of `kind` injected (where it applies)."""
    out = [Op(o.index, o.time, o.process, o.type, o.f, o.value) for o in ops]
    oks = [o for o in out if o.type == "ok" and any(m[0] == "r" and m[2] for m in o.value)]
    rng.shuffle(oks)
    target = oks[0]
    mops = [list(m) for m in target.value]
    r = next(m for m in mops if m[0] == "r" and m[2])
    k, seen = r[1], list(r[2])
    if kind == "stale":  # a read missing its last value: cycles (G-single, G2...)
        r[2] = seen[:-1]
    elif kind == "garbage":
        r[2] = seen + [-7]
    elif kind == "duplicate":
        r[2] = seen + seen[-1:]
    elif kind == "incompatible":
        r[2] = seen[::-1] if len(seen) > 1 else [-8]
    elif kind == "future":  # a read showing the value its own txn appends later
        mops.append(["append", k, 10_000_001])
        r[2] = seen + [10_000_001]
    elif kind == "internal":  # a second read of the key disagreeing with the first
        mops.append(["r", k, seen[:-1]])
    elif kind == "reused":  # an append of a value already appended to the key
        mops.append(["append", k, seen[0]])
    elif kind == "aborted":  # the writer of a value read by others failed: G1a
        writer = next(o for o in out if o.type == "ok" and any(m[0] == "append" for m in o.value))
        writer.type = "fail"
    elif kind == "nil-completion":  # an ok completion without value: its invocation's is used
        target.value = None
        return out
    elif kind == "lost":  # two rmw txns at one version
        mops.append(["append", k, 10_000_002])
        other = next(o for o in oks[1:] if any(m[0] == "r" and m[1] == k for m in o.value))
        om = [list(m) for m in other.value]
        for m in om:
            if m[0] == "r" and m[1] == k:
                m[2] = seen
        om.append(["append", k, 10_000_003])
        other.value = om
    target.value = mops
    return out


KINDS = [
    "stale",
    "garbage",
    "duplicate",
    "incompatible",
    "future",
    "internal",
    "reused",
    "aborted",
    "lost",
]


@pytest.mark.parametrize("kind", KINDS)
def test_injected_anomalies_fall_back(kind: str, tmp_path: Path) -> None:
    rng = random.Random(kind)
    ops = simulate(800, 11)
    engines = []
    for trial in range(3):
        bad = _mutate_ops(ops, kind, rng)
        for fmt in ("edn", "jsonl"):
            path = _write(bad, tmp_path / f"{kind}{trial}.{fmt}")
            for options in (OPTIONS[0], OPTIONS[2], OPTIONS[4]):
                engines.append(assert_equivalent(path, options))
    if kind not in NEUTRAL:  # the injection did make an anomaly Python reports
        assert set(engines) - {"native"}
    if kind == "reused":  # values must be unique per key: the core gives up on a repeat
        assert "focus" not in engines
    elif kind not in NEUTRAL:  # the core reads every other kind and hands Python its focus
        assert "focus" in engines


NEUTRAL = ["nil-completion"]  # changes that need not make an anomaly


@pytest.mark.parametrize("kind", NEUTRAL)
def test_neutral_changes_keep_equivalence(kind: str, tmp_path: Path) -> None:
    test_injected_anomalies_fall_back(kind, tmp_path)


def test_bench_injections_and_snapshot_databases(tmp_path: Path) -> None:
    seen_python = 0
    for seed in (1, 2):
        bad, _ = inject(simulate(800, seed), seed, rate=0.01)
        for ops, name in ((bad, "injected"), (simulate(800, seed, snapshot=True), "snapshot")):
            for fmt in ("edn", "jsonl"):
                path = _write(ops, tmp_path / f"{name}{seed}.{fmt}")
                for options in OPTIONS[1:4]:
                    seen_python += assert_equivalent(path, options) == "focus"
    assert seen_python > 0


def test_realtime_only_cycle_falls_back(tmp_path: Path) -> None:
    """Serializable but not strict: a read of stale data after the write completed (a
    real-time cycle only): native must not call it clean with real-time edges on (its
    focus, judged by the Python stages, holds the cycle)."""
    ops = [
        Op(0, 1, 0, "invoke", "txn", [["append", 1, 1]]),
        Op(1, 2, 0, "ok", "txn", [["append", 1, 1]]),
        Op(2, 3, 1, "invoke", "txn", [["r", 1, None]]),
        Op(3, 4, 1, "ok", "txn", [["r", 1, []]]),
    ]
    path = _write(ops, tmp_path / "rt.edn")
    assert assert_equivalent(path, {}) == "focus"
    v = check_native(str(path), True)
    assert v is not None and v.stats["engine"] == "focus" and v.valid is False
    assert [a.type for a in v.anomalies] == ["G-single-realtime"]
    assert assert_equivalent(path, {"models": ["serializable"]}) == "native"


# -- reference histories (../shared/reference-histories) ---------------------------------


def _shared() -> Path:
    return Path(os.environ.get("SPLITBRAIN_SHARED", ROOT.parent / "shared"))


def test_reference_histories() -> None:
    where = _shared() / "reference-histories" / "elle"
    files = sorted(where.glob("*.edn")) if where.is_dir() else []
    if not files:
        pytest.skip(f"no reference histories at {where} (set SPLITBRAIN_SHARED to the shared/ dir)")
    for path in files:
        for options in (
            {"models": ["snapshot-isolation"], "time_limit": 5.0},
            {"models": ["serializable"], "time_limit": 5.0},
        ):
            assert_equivalent(path, options)


# -- fuzz: mutated bytes -----------------------------------------------------------------


def _mutations(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    out = []
    lines = data.split(b"\n")
    alphabet = b'0123456789 -:[]{}()#",;\\\nabfnrtx\x00\xff.eN'
    for _ in range(n):
        b = bytearray(data)
        what = rng.randrange(6)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(b))
            if what == 0:
                b[i] = rng.choice(alphabet)
            elif what == 1:
                del b[i : i + rng.randint(1, 4)]
            elif what == 2:
                b[i:i] = bytes([rng.choice(alphabet)])
            elif what == 3 and b[i : i + 1].isdigit():
                b[i] = rng.choice(b"0123456789")
        if what == 4:  # a line dropped or duplicated
            j = rng.randrange(len(lines))
            ls = list(lines)
            if rng.random() < 0.5:
                del ls[j]
            else:
                ls.insert(j, ls[j])
            b = bytearray(b"\n".join(ls))
        elif what == 5:  # two lines swapped
            j = rng.randrange(len(lines) - 1)
            ls = list(lines)
            ls[j], ls[j + 1] = ls[j + 1], ls[j]
            b = bytearray(b"\n".join(ls))
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("fmt", ["edn", "jsonl"])
def test_fuzz_reader_never_crashes_nor_lies(fmt: str, split: str, tmp_path: Path) -> None:
    src = _write(simulate(60, 3), tmp_path / f"src.{fmt}")
    rng = random.Random(fmt)
    decided = 0
    for i, data in enumerate(_mutations(src.read_bytes(), rng, 250)):
        path = tmp_path / f"m{i}.{fmt}"
        path.write_bytes(data)
        out = native._core.check_list_append(str(path), fmt == "edn", True, False)
        assert isinstance(out, dict | str)
        if isinstance(out, dict):
            decided += 1
            assert_equivalent(path, {})
        path.unlink()
    assert decided > 0  # some mutations (a digit of a time, say) keep the history clean


def test_carriage_returns_read_as_python_reads_them(tmp_path: Path) -> None:
    """EDN is read as text with universal newlines: a lone \\r ends a comment, and a string
    key with \\r in it would equal one with \\n (native gives up on those)."""
    op = "{{:index {} :type :{} :process 0 :f :txn :value [[:append {} 1]]}}"
    path = tmp_path / "cr.edn"
    path.write_bytes((op.format(0, "invoke", 1) + " ; c\r" + op.format(1, "ok", 1) + "\n").encode())
    assert assert_equivalent(path, {}) == "native", native.last_reason
    keyed = tmp_path / "cr-key.edn"
    keyed.write_bytes((op.format(0, "invoke", '"a\rb"') + "\n").encode())
    assert assert_equivalent(keyed, {}) == "python"
    crlf = tmp_path / "crlf.edn"
    crlf.write_bytes(
        _write(simulate(200, 9), tmp_path / "lf.edn").read_bytes().replace(b"\n", b"\r\n")
    )
    assert assert_equivalent(crlf, {}) == "native", native.last_reason


def _random_history(rng: random.Random) -> list[Op]:
    """A tiny history of random txns over 2-3 keys: reads drawn from each key's true order,
    now and then a stale, reordered, cut or invented one; random fail/info outcomes."""
    keys = rng.randint(1, 3)
    order: dict[int, list[int]] = {k: [] for k in range(keys)}
    nxt = dict.fromkeys(range(keys), 0)
    ops: list[Op] = []
    pending: dict[int, list[list[Any]]] = {}
    t = 0
    for _ in range(rng.randint(2, 14)):
        p = rng.randrange(3)
        t += rng.randint(1, 5)
        if p not in pending:
            txn: list[list[Any]] = []
            for _ in range(rng.randint(1, 4)):
                k = rng.randrange(keys)
                if rng.random() < 0.5:
                    nxt[k] += 1
                    txn.append(["append", k, nxt[k] if rng.random() > 0.03 else 1])
                else:
                    txn.append(["r", k, None])
            pending[p] = txn
            ops.append(Op(len(ops), t, p, "invoke", "txn", [list(m) for m in txn]))
            continue
        txn = pending.pop(p)
        roll = rng.random()
        typ = "fail" if roll < 0.1 else "info" if roll < 0.2 else "ok"
        done = []
        for f, k, v in txn:
            if f == "append":
                if typ != "fail":
                    order[k].append(v)
                done.append([f, k, v])
            else:
                seen = list(order[k])
                x = rng.random()
                if x < 0.05 and seen:
                    seen = seen[:-1]
                elif x < 0.08 and len(seen) > 1:
                    seen[0], seen[1] = seen[1], seen[0]
                elif x < 0.1:
                    seen = seen + [99]
                done.append([f, k, seen])
        ops.append(Op(len(ops), t, p, typ, "txn", done if typ == "ok" else txn))
    return ops


def test_random_tiny_histories(tmp_path: Path) -> None:
    rng = random.Random(14)
    engines = []
    for i in range(150):
        ops = _random_history(rng)
        fmt = "edn" if i % 2 else "jsonl"
        path = _write(ops, tmp_path / f"r{i}.{fmt}")
        for options in (OPTIONS[0], OPTIONS[2]):
            engines.append(assert_equivalent(path, options))
    assert "native" in engines and "focus" in engines


# -- a run's own check (harness/runner.py) ---------------------------------------------------


def test_a_runs_check_uses_the_native_core_when_it_can(tmp_path: Path) -> None:
    """The runner hands its history file along: a clean list-append history is decided
    natively, with the verdict the Python checker gives; an invalid one by the Python stages
    on the core's focus, with the same verdict."""
    from harness.checking import judge

    opts = {"models": ("serializable",)}
    ops = simulate(500, 6, concurrency=4)
    wrong, injected = inject(ops, 5, 0.05)
    assert injected > 0
    for history, engine in ((ops, "native"), (wrong, "focus")):
        path = _write(history, tmp_path / f"{engine}.jsonl")
        loaded = load(path)
        (fast,) = judge(loaded, [("list-append", opts)], path, refused="unknown")
        (slow,) = judge(loaded, [("list-append", opts)], path, native=False, refused="unknown")
        assert fast.stats["engine"] == engine
        assert slow.stats["engine"] == "python"
        got, want = fast.to_dict(), slow.to_dict()
        for d in (got, want):
            for k in VOLATILE:
                d["stats"].pop(k)
        assert got == want
        assert (fast.valid is True) == (engine == "native")


# -- planned checks: no --checker (a guessed plan) and a run folder's spec.json ----------------


def _planned(path: Path, native_on: bool) -> dict[str, Any] | str:
    if native_on:
        return checking.check_file(path)
    with mock.patch.object(native, "_core", None):
        return checking.check_file(path)


def _assert_planned_equivalent(path: Path) -> str:
    fast, slow = _planned(path, True), _planned(path, False)
    if isinstance(fast, str) or isinstance(slow, str):
        assert fast == slow
        return "refused"
    assert _strip(fast) == _strip(slow)
    engines = {v["stats"].get("engine") for v in fast["checkers"].values()}
    return "native" if "native" in engines else "focus" if "focus" in engines else "python"


def test_guessed_plan_takes_the_native_path_with_pythons_verdict(tmp_path: Path) -> None:
    valid = _write(simulate(1200, 8), tmp_path / "valid.edn")
    assert _assert_planned_equivalent(valid) == "native"
    doc = _planned(valid, True)
    assert isinstance(doc, dict) and doc["notes"] and "strict-serializable" in doc["notes"][0]
    bad = _write(inject(simulate(1200, 8), 8, rate=0.02)[0], tmp_path / "bad.edn")
    assert _assert_planned_equivalent(bad) == "focus"
    for path in FIXTURES:
        _assert_planned_equivalent(path)


def test_spec_plan_takes_the_native_path_with_pythons_verdict(tmp_path: Path) -> None:
    from harness.spec import TestSpec

    TestSpec(workload="append", nemesis=(), isolation="serializable").save(tmp_path / "spec.json")
    _write(simulate(1200, 9), tmp_path / "history.jsonl")
    assert _assert_planned_equivalent(tmp_path) == "native"
    doc = _planned(tmp_path, True)
    assert isinstance(doc, dict)
    assert doc["checkers"]["list-append"]["stats"]["models"] == ["serializable"]


# -- the focus: invalid histories judged by the Python stages on the part the core chose ------


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_focus_gives_pythons_anomalies_on_injected_histories(seed: int, tmp_path: Path) -> None:
    """Stale and garbage reads at three rates, a snapshot database, and few or many keys: the
    Python stages on the core's focus give the whole Python path's document, for every
    option set (real-time and process edges included)."""
    rng = random.Random(seed)
    cases = [
        inject(simulate(2000, seed, concurrency=rng.choice([3, 10, 20])), seed, rate)[0]
        for rate in (0.002, 0.02, 0.1)
    ]
    cases.append(simulate(1500, seed, snapshot=True))
    cases.append(inject(simulate(1500, seed, keys=2, per_key=200), seed, 0.01)[0])
    engines = []
    for i, ops in enumerate(cases):
        path = _write(ops, tmp_path / f"case{i}.{'edn' if i % 2 else 'jsonl'}")
        for options in OPTIONS:
            engines.append(assert_equivalent(path, options))
    assert engines.count("focus") >= len(engines) // 2, engines


def test_focus_is_a_small_part_of_a_big_history(tmp_path: Path) -> None:
    """On 20k txns with anomalies in 0.2% of them, the Python stages see far fewer txns
    than the history holds (else the focus would save nothing), and still give the whole
    path's document."""
    ops, injected = inject(simulate(20_000, 3), 3, 0.002)
    assert injected > 0
    path = _write(ops, tmp_path / "big.edn")
    out = native.check_list_append(str(path), True, True, False)
    assert out is not None and "focus" in out, native.last_reason
    focus = out["focus"]
    assert 0 < len(focus["tids"]) < out["txns"] // 3
    assert len(focus["indices"]) == len(focus["spans"]) >= len(focus["tids"])
    assert assert_equivalent(path, {}) == "focus"
    assert assert_equivalent(path, {"models": ["serializable"], "process": True}) == "focus"


def test_guessed_plan_is_tried_natively_only_where_python_guesses_list_append(
    tmp_path: Path,
) -> None:
    """No --checker, no spec: the core decides before anything is loaded only when every
    client op is a list-append txn; an ok completion without value (the core reads it, the
    guess refuses it) still gets the planned path's one-line refusal."""
    ops = simulate(600, 9)
    nil = _write(_mutate_ops(ops, "nil-completion", random.Random(3)), tmp_path / "nil.edn")
    assert _assert_planned_equivalent(nil) == "refused"
    assert native.check_list_append(str(nil), True, True, False) is not None  # it does read it
    empty = [Op(o.index, o.time, o.process, o.type, o.f, o.value) for o in ops]
    for op in empty:
        op.value = []
    assert _assert_planned_equivalent(_write(empty, tmp_path / "empty.edn")) == "refused"
    assert _assert_planned_equivalent(_write(ops, tmp_path / "ok.edn")) == "native"
