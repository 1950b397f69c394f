"""A fault schedule's steps, and the text one command line carries for an explicit one
(`--schedule`): `FAULT@AT+SECONDS[:KEY=VALUE,...]` steps joined by `;`, e.g.
`failover@2+4:how=isolate;kill@8+2:target=primary,seed=17`. Plain data and its text only
(nemesis/schedule.py makes and checks schedules), so the spec can read one without the
nemesis."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from harness.errors import SpecError


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the workload started
    fault: str  # a name in harness.registry.FAULTS
    duration: float
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
                f"--schedule: {b.fault}@{show_number(b.at)} starts before {a.fault}@{show_number(a.at)} "
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
        out.append(
            f"{s.fault}@{show_number(s.at)}+{show_number(s.duration)}"
            + (f":{params}" if params else "")
        )
    return ";".join(out)


def show_number(x: float) -> str:
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
