"""Declared knobs: every database, workload, fault and checker lists its options (name, type,
default, one line of help), and `--opt KEY=VALUE` / a suite's `options:` are validated once,
against the options of the components a run actually uses, before anything starts.

A component reads a value with `OPTION.get(spec.options)`: the parsed value when given, the
declared default otherwise. There is one default per knob, here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import SpecError

_TRUE = ("true", "on", "yes", "1")
_FALSE = ("false", "off", "no", "0")


@dataclass(frozen=True)
class Option:
    name: str
    type: type  # int | float | bool | str | list (comma-separated names)
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, raw: Any, flag: str = "--opt") -> Any:
        """The typed value of raw, or a one-line SpecError naming the key and what it takes."""
        where = f"{flag} {self.name}={_show(raw)}"
        v: Any
        if self.type is bool:
            if isinstance(raw, bool):
                v = raw
            elif str(raw).lower() in _TRUE:
                v = True
            elif str(raw).lower() in _FALSE:
                v = False
            else:
                raise SpecError(f"{where}: expected true or false")
        elif self.type is int:
            if isinstance(raw, bool) or not _is_int(raw):
                raise SpecError(f"{where}: expected an integer")
            v = int(raw)
        elif self.type is float:
            try:
                v = float(raw) if not isinstance(raw, bool) else math.nan
            except (TypeError, ValueError):
                v = math.nan
            if not math.isfinite(v):
                raise SpecError(f"{where}: expected a number")
        elif self.type is list:
            if isinstance(raw, str):
                v = tuple(p.strip() for p in raw.split(",") if p.strip())
            elif isinstance(raw, list | tuple) and all(isinstance(x, str) for x in raw):
                v = tuple(raw)
            else:
                raise SpecError(f"{where}: expected a comma-separated list of names")
            if self.choices is not None:
                bad = [x for x in v if x not in self.choices]
                if bad:
                    raise SpecError(f"{where}: {bad[0]!r} is not one of: {_names(self.choices)}")
            return v
        else:
            if isinstance(raw, dict | list):
                raise SpecError(f"{where}: expected a single value")
            v = str(raw)
        if self.choices is not None and v not in self.choices:
            raise SpecError(f"{where}: expected one of: {_names(self.choices)}")
        if self.minimum is not None and v < self.minimum:
            raise SpecError(f"{where}: must be >= {self.minimum:g}")
        if self.maximum is not None and v > self.maximum:
            raise SpecError(f"{where}: must be <= {self.maximum:g}")
        return v

    def get(self, options: Mapping[str, Any]) -> Any:
        """The value in a spec's (validated) options, or the default."""
        if self.name in options:
            return self.parse(options[self.name])
        return self.default

    def describe(self) -> str:
        kind = (
            "|".join(map(str, self.choices))
            if self.choices is not None and self.type is not list
            else {int: "int", float: "number", bool: "bool", str: "text", list: "names"}[self.type]
        )
        default = _show(self.default)
        return f"{self.name}={kind} (default {default}): {self.help}"


def _is_int(raw: Any) -> bool:
    if isinstance(raw, int):
        return True
    if isinstance(raw, float):
        return raw.is_integer()
    try:
        int(str(raw))
    except ValueError:
        return False
    return True


def _show(v: Any) -> str:
    if isinstance(v, list | tuple):
        return ",".join(map(str, v)) or "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    return "none" if v is None else str(v)


def _names(xs: Iterable[Any]) -> str:
    return ", ".join(map(str, xs))


Owners = Sequence[tuple[str, Sequence[Option]]]  # (component, its options)


def validate(given: Mapping[str, Any], owners: Owners, flag: str = "--opt") -> dict[str, Any]:
    """Parse every given option against the options its components declare. An unknown key
    or a bad value is a SpecError naming the key (and, for an unknown one, the known keys)."""
    known: dict[str, Option] = {}
    for _owner, opts in owners:
        for o in opts:
            known.setdefault(o.name, o)
    out: dict[str, Any] = {}
    for key, raw in given.items():
        opt = known.get(key)
        if opt is None:
            names = ", ".join(sorted(known)) or "none"
            raise SpecError(f"{flag} {key}: unknown option here; known: {names}")
        out[key] = opt.parse(raw, flag)
    return out


def listing(owners: Owners) -> list[str]:
    """Human lines: each component, then its options."""
    lines: list[str] = []
    for owner, opts in owners:
        if not opts:
            continue
        lines.append(f"{owner}:")
        lines += [f"  {o.describe()}" for o in opts]
    return lines


def parse_pairs(pairs: tuple[str, ...]) -> dict[str, Any]:
    """--opt KEY=VALUE pairs as a dict, numbers and booleans read as such (validated later
    against the declared options)."""
    out: dict[str, Any] = {}
    for p in pairs:
        if "=" not in p:
            raise SpecError(f"--opt {p!r} must look like KEY=VALUE")
        k, v = p.split("=", 1)
        out[k.strip().replace("-", "_")] = _scalar(v.strip())
    return out


def _scalar(v: str) -> Any:
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)
