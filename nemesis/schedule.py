"""Seeded fault schedules: healthy for d seconds, a fault for d seconds, and so on.

A schedule is plain data (a list of Step) computed up front from the spec and the seed, so a
run's faults are reproducible and visible in spec.json/history before they happen.

A spec may instead hold its schedule explicitly (`--schedule`, TestSpec.schedule), as text
that one command line carries: `FAULT@AT+SECONDS[:KEY=VALUE,...]` steps joined by `;`, e.g.
`failover@2+4:how=isolate;kill@8+2:target=primary,seed=17`. `splitbrain shrink` makes such
specs (fewer faults, shorter windows); a run of one uses exactly those steps."""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import asdict, dataclass
from typing import Any

from harness.errors import SpecError
from harness.spec import TestSpec
from nemesis import faults
from nemesis.grudges import SHAPES as PARTITION_SHAPES


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the workload started
    fault: str  # a name in harness.registry.FAULTS
    duration: float
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build(
    spec: TestSpec,
    rng: random.Random | None = None,
    kinds: dict[str, faults.Fault] | None = None,
) -> list[Step]:
    """The spec's explicit schedule (--schedule) if it has one; else alternate healthy and
    faulty periods of spec.fault_interval seconds, cycling through the requested faults in a
    seeded random order; no fault starts in the last interval so the cluster is healthy
    before the run ends. `kinds`: the run's Fault objects (its plan's)."""
    if spec.schedule:
        return parse_steps(spec.schedule)
    if not spec.nemesis:
        return []
    rng = rng or random.Random(spec.seed)
    kinds = kinds or {f: faults.get(f, spec) for f in spec.nemesis}
    d = spec.fault_interval
    steps: list[Step] = []
    t = d  # start healthy: clients warm up first
    order: list[str] = []
    while t + 2 * d <= spec.time_limit:
        if not order:
            order = list(spec.nemesis)
            rng.shuffle(order)
        fault = order.pop()
        steps.append(Step(round(t, 3), fault, d, kinds[fault].plan(rng)))
        t += 2 * d
    return steps


def minimum_time(spec: TestSpec) -> float:
    """The shortest --time that schedules every requested fault once: a healthy interval,
    then fault and healthy interval in turn, and a healthy last interval."""
    return (2 * len(spec.nemesis) + 1) * spec.fault_interval


def check_steps(
    spec: TestSpec, plan: list[Step], kinds: dict[str, faults.Fault] | None = None
) -> None:
    """An explicit schedule's steps carry the parameters their fault plans (a step written by
    hand with a missing or extra key is refused before any cluster starts)."""
    if not spec.schedule:
        return
    kinds = kinds or {f: faults.get(f, spec) for f in spec.nemesis}
    for st in plan:
        want = set(kinds[st.fault].plan(random.Random(0)))
        if set(st.params) != want:
            raise SpecError(
                f"--schedule {st.fault}@{_num(st.at)}: its parameters must be "
                f"{', '.join(sorted(want)) or 'none'}, got {', '.join(sorted(st.params)) or 'none'}"
            )
        shape = st.params.get("shape")
        if shape is not None and shape not in PARTITION_SHAPES:
            raise SpecError(
                f"--schedule {st.fault}@{_num(st.at)}: shape {shape!r} is not one of: "
                f"{', '.join(PARTITION_SHAPES)}"
            )


def check_fits(spec: TestSpec, plan: list[Step]) -> None:
    """A schedule that leaves out a requested fault is refused before any cluster starts."""
    missing = [f for f in spec.nemesis if f not in {s.fault for s in plan}]
    if missing:
        raise SpecError(
            f"--time {spec.time_limit:g} leaves no room for {', '.join(missing)}: each fault "
            f"needs a healthy --fault-interval ({spec.fault_interval:g} s) before and after it; "
            f"use --time >= {minimum_time(spec):g} or a shorter --fault-interval"
        )


# ---------------------------------------------------------------- the explicit schedule's text

_STEP = re.compile(r"^([a-z][a-z0-9-]*)@([0-9.eE+-]+?)\+([0-9.eE+-]+)(?::(.*))?$")
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")  # a string value written without quotes


def parse_steps(text: str) -> list[Step]:
    """The steps of an explicit schedule (format_steps' text), or a one-line SpecError. Values
    are JSON scalars (numbers, true/false, "quoted text") or bare words (text)."""
    steps: list[Step] = []
    for part in (p.strip() for p in _split(text, ";")):
        if not part:
            continue
        m = _STEP.match(part)
        if not m:
            raise SpecError(
                f"--schedule {part!r}: a step is FAULT@AT+SECONDS[:KEY=VALUE,...], "
                "e.g. failover@2+4:how=isolate"
            )
        fault, at_s, dur_s, params_s = m.groups()
        try:
            at, duration = float(at_s), float(dur_s)
        except ValueError:
            raise SpecError(f"--schedule {part!r}: AT and SECONDS must be numbers") from None
        if not (math.isfinite(at) and math.isfinite(duration)) or at < 0 or duration <= 0:
            raise SpecError(f"--schedule {part!r}: AT must be >= 0 and SECONDS > 0")
        params: dict[str, Any] = {}
        for kv in _split(params_s or "", ","):
            if not kv.strip():
                continue
            if "=" not in kv:
                raise SpecError(f"--schedule {part!r}: {kv!r} must look like KEY=VALUE")
            k, v = (x.strip() for x in kv.split("=", 1))
            params[k] = _value(v, part)
        steps.append(Step(at, fault, duration, params))
    if not steps:
        raise SpecError("--schedule is empty: give at least one FAULT@AT+SECONDS step")
    for a, b in zip(steps, steps[1:], strict=False):
        if b.at < a.at + a.duration:
            raise SpecError(
                f"--schedule: {b.fault}@{_num(b.at)} starts before {a.fault}@{_num(a.at)} "
                "ends: steps run one after another"
            )
    return steps


def _split(text: str, sep: str) -> list[str]:
    """text split at `sep` outside "quoted text" (where a backslash escapes)."""
    parts: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def format_steps(steps: list[Step]) -> str:
    """The text parse_steps reads back into the same steps (values keep their types)."""
    out = []
    for s in steps:
        params = ",".join(f"{k}={_show(v)}" for k, v in s.params.items())
        out.append(f"{s.fault}@{_num(s.at)}+{_num(s.duration)}" + (f":{params}" if params else ""))
    return ";".join(out)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _show(v: Any) -> str:
    if isinstance(v, str):
        # bare only if it cannot be read back as anything but this text
        return v if _BARE.match(v) and v not in ("true", "false", "null") else json.dumps(v)
    if isinstance(v, bool | int | float) and not (isinstance(v, float) and not math.isfinite(v)):
        return json.dumps(v)
    raise SpecError(f"--schedule: value {v!r} is not a number, true/false or text")


def _value(v: str, part: str) -> Any:
    if _BARE.match(v) and v not in ("true", "false", "null"):
        return v
    try:
        x = json.loads(v)
    except ValueError:
        raise SpecError(
            f'--schedule {part!r}: value {v!r} is not a number, true/false, a word or "quoted text"'
        ) from None
    if not isinstance(x, str | bool | int | float):
        raise SpecError(f"--schedule {part!r}: value {v!r} is not a scalar")
    return x
