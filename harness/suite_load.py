"""Loading a suite file: every case expanded (matrix) and validated before anything runs."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from harness.errors import SpecError
from harness.spec import TestSpec
from harness.suite_model import Expect, Suite, SuiteCase, SuiteError

DbCheck = Callable[[TestSpec], None]

SPEC_FIELDS = {f.name: f for f in dataclasses.fields(TestSpec)}
CASE_KEYS = {"name", "expect", "allow_unknown", "matrix"}
TOP_KEYS = {"name", "description", "defaults", "cases"}
_FLAG_FIELD = {"time": "time_limit"}  # TestSpec errors name CLI flags; suites name fields


# ---------------------------------------------------------------- loading and validation


def load_suite(path: Path, seed: int | None = None, db_check: DbCheck | None = None) -> Suite:
    """Parse and validate every case before anything runs; errors are one SuiteError line."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise SuiteError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SuiteError(f"{path}:{where} not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(doc, dict):
        raise SuiteError(f"{path}: a suite is a mapping with 'cases' (and optional name, defaults)")
    _no_unknown(doc, TOP_KEYS, f"{path}: top level")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SuiteError(f"{path}: defaults must be a mapping")
    _no_unknown(
        defaults,
        (set(SPEC_FIELDS) - {"name"}) | {"allow_unknown", "matrix", "expect"},
        f"{path}: defaults",
    )
    raw_cases = doc.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise SuiteError(f"{path}: 'cases' must be a non-empty list")
    name = str(doc.get("name") or path.stem)
    cases: list[SuiteCase] = []
    seen: set[str] = set()
    for n, raw in enumerate(raw_cases, start=1):
        where = f"{path}: case {n}"
        if not isinstance(raw, dict):
            raise SuiteError(f"{where}: must be a mapping of spec fields plus expect")
        if raw.get("name"):
            where = f"{path}: case {raw['name']!r}"
        for case in _expand(raw, defaults, where, seed):
            case = _anchor_inventory(case, path)
            if case.name in seen:
                raise SuiteError(
                    f"{where}: name {case.name!r} is used twice (give cases distinct names)"
                )
            seen.add(case.name)
            if db_check is not None:
                try:
                    db_check(case.spec)
                except SpecError as e:
                    raise SuiteError(f"{where}: {_field_message(str(e))}") from None
            cases.append(case)
    return Suite(name, path, cases, str(doc.get("description") or ""))


def groups(suite: Suite) -> list[str]:
    """The suite's cases as its file names them, in order (each may make several runs)."""
    return list(dict.fromkeys(c.group or c.name for c in suite.cases))


def select(suite: Suite, names: list[str]) -> list[SuiteCase]:
    """The runs of the named cases (a case as the file names it: all its matrix's runs; or
    one run by its full name). An unknown name is a SuiteError listing the known ones."""
    known = groups(suite)
    unknown = [n for n in names if n not in known and n not in {c.name for c in suite.cases}]
    if unknown:
        raise SuiteError(
            f"{suite.path}: no case {', '.join(map(repr, unknown))}; cases: {', '.join(known)}"
        )
    return [c for c in suite.cases if c.name in names or (c.group or c.name) in names]


def _anchor_inventory(case: SuiteCase, suite: Path) -> SuiteCase:
    """A relative `inventory:` is relative to the suite file, not to where it is run from."""
    inv = case.spec.inventory
    if not inv or Path(inv).expanduser().is_absolute():
        return case
    spec = case.spec.replace(inventory=str(suite.parent / inv), name=case.spec.name)
    return dataclasses.replace(case, spec=spec)


def _no_unknown(d: dict[str, Any], known: set[str], where: str) -> None:
    for key in d:
        if key not in known:
            raise SuiteError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")


def _expand(
    raw: dict[str, Any], defaults: dict[str, Any], where: str, seed: int | None
) -> list[SuiteCase]:
    _no_unknown(raw, (set(SPEC_FIELDS) - {"name"}) | CASE_KEYS, where)
    merged = {k: v for k, v in defaults.items() if k not in ("matrix",)}
    merged.update({k: v for k, v in raw.items() if k not in ("matrix", "options")})
    merged["options"] = {**(defaults.get("options") or {}), **(raw.get("options") or {})}
    if "expect" not in merged:
        raise SuiteError(
            f"{where}: expect: missing (write `expect: valid` or `expect: {{anomalies: [...]}}`)"
        )
    expect = _expect(merged.pop("expect"), where)
    allow_unknown = merged.pop("allow_unknown", False)
    if not isinstance(allow_unknown, bool):
        raise SuiteError(f"{where}: allow_unknown: must be true or false, got {allow_unknown!r}")
    base_name = str(merged.pop("name", "") or "")
    matrix = {
        **_matrix(defaults.get("matrix"), f"{where}: defaults.matrix"),
        **_matrix(raw.get("matrix"), f"{where}: matrix"),
    }
    if seed is not None:
        matrix.pop("seed", None)
        merged["seed"] = seed
    axes = list(matrix)
    out = []
    for combo in itertools.product(*(matrix[a] for a in axes)) if axes else [()]:
        values = dict(merged)
        values["options"] = dict(merged["options"])
        for axis, v in zip(axes, combo, strict=True):
            if axis.startswith("options."):
                values["options"][axis[len("options.") :]] = v
            else:
                values[axis] = v
        varying = [
            (a.removeprefix("options."), v)
            for a, v in zip(axes, combo, strict=True)
            if len(matrix[a]) > 1
        ]
        spec = _spec(
            values, where + (f" ({', '.join(f'{a}={v}' for a, v in varying)})" if varying else "")
        )
        group = re.sub(r"[^A-Za-z0-9_+.-]", "_", base_name or spec.name)
        name = group + "".join(f"-{a}{_flat(v)}" for a, v in varying)
        name = re.sub(r"[^A-Za-z0-9_+.-]", "_", name)
        out.append(SuiteCase(name, spec.replace(name=name), expect, allow_unknown, group))
    return out


def _flat(v: Any) -> str:
    return "+".join(map(str, v)) if isinstance(v, list | tuple) else str(v)


def _matrix(m: Any, where: str) -> dict[str, list[Any]]:
    if m is None:
        return {}
    if not isinstance(m, dict):
        raise SuiteError(f"{where}: must map a spec field to a list of values")
    for axis, values in m.items():
        if axis not in SPEC_FIELDS and not str(axis).startswith("options."):
            raise SuiteError(f"{where}: unknown axis {axis!r} (a spec field or options.<knob>)")
        if axis == "name":
            raise SuiteError(f"{where}: name cannot be a matrix axis")
        if not isinstance(values, list) or not values:
            raise SuiteError(f"{where}: {axis}: must be a non-empty list of values")
    return dict(m)


def _expect(v: Any, where: str) -> Expect:
    if v == "valid":
        return Expect()
    if isinstance(v, dict) and v and set(v) <= {"anomalies", "may"}:
        must, may = v.get("anomalies", []), v.get("may", [])
        if all(
            isinstance(t, list) and all(isinstance(x, str) for x in t) for t in (must, may)
        ) and (must or may):
            return Expect(frozenset(must), frozenset(may))
    raise SuiteError(
        f"{where}: expect: must be `valid` or `{{anomalies: [type, ...], may: [type, ...]}}`, got {v!r}"
    )


def _spec(values: dict[str, Any], where: str) -> TestSpec:
    for key, v in values.items():
        problem = _type_problem(key, v)
        if problem:
            raise SuiteError(f"{where}: {key}: {problem}")
    try:
        return TestSpec.from_dict(values)
    except SpecError as e:
        raise SuiteError(f"{where}: {_field_message(str(e))}") from None


def _type_problem(key: str, v: Any) -> str | None:
    default = SPEC_FIELDS[key].default
    if default is dataclasses.MISSING:  # options: a factory
        return None if isinstance(v, dict) else f"must be a mapping, got {v!r}"
    if isinstance(default, bool) or isinstance(v, bool):
        return None if type(v) is type(default) else f"must be {type(default).__name__}, got {v!r}"
    if isinstance(default, float):
        return None if isinstance(v, int | float) else f"must be a number, got {v!r}"
    if isinstance(default, int):
        return None if isinstance(v, int) else f"must be an integer, got {v!r}"
    if isinstance(default, tuple):
        ok = (
            v is None
            or isinstance(v, str)
            or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        )
        return None if ok else f"must be a list of names, got {v!r}"
    if isinstance(default, str):
        return None if isinstance(v, str) else f"must be a string, got {v!r}"
    return None


def _field_message(msg: str) -> str:
    """'--read-from 'x' is not one of...' -> 'read_from: 'x' is not one of...'"""
    m = re.match(r"--([a-z-]+) ?(.*)", msg)
    if not m:
        return msg
    flag = m.group(1)
    return f"{_FLAG_FIELD.get(flag, flag.replace('-', '_'))}: {m.group(2)}"


def database_check(spec: TestSpec) -> None:
    """Everything a run refuses before it starts: the database's mode, workload and faults,
    declared options and their values, and whether the schedule fits every fault."""
    from harness.plan import check_spec

    check_spec(spec)
