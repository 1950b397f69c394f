"""The flags of a test spec, made once from TestSpec's fields (their help is on the fields):
`splitbrain run`, `splitbrain hunt` and any command that runs tests take the same flags,
and a new spec field is a flag everywhere without restating it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from harness.cli_names import NamesHelp
from harness.options import parse_pairs
from harness.spec import TestSpec, parse_list

F = Callable[..., Any]
LISTS = ("nemesis", "partition")  # comma-separated on the command line


def spec_flags(f: F) -> F:
    """Decorate a command with one option per TestSpec field, and --opt KEY=VALUE."""
    f = click.option(
        "--opt", "opts", multiple=True, metavar="KEY=VALUE",
        help="a database, workload, fault or provider knob, repeatable (e.g. "
        "failover_how=isolate); --list-options lists them",
    )(f)  # fmt: skip
    for fld in reversed(dataclasses.fields(TestSpec)):
        meta = fld.metadata
        if "help" not in meta:
            continue
        flag = meta["flag"] or "--" + fld.name.replace("_", "-")
        default = fld.default
        if fld.name in LISTS:
            default = ",".join(default) if default else "none"
        kw: dict[str, Any] = {"default": default, "show_default": default not in ("", None)}
        if type(default) in (int, float):
            kw["type"] = type(default)
        if meta["names"]:
            kw |= {"cls": NamesHelp, "names": meta["names"], "text": meta["help"]}
        else:
            kw["help"] = meta["help"]
        f = click.option(flag, fld.name, **kw)(f)
    return f


def spec_from(values: dict[str, Any]) -> TestSpec:
    """The TestSpec of a command's spec flags (the other keyword arguments are left alone)."""
    fields = {f.name for f in dataclasses.fields(TestSpec)}
    kw = {k: v for k, v in values.items() if k in fields}
    for k in LISTS:
        if k in kw:
            kw[k] = parse_list(kw[k])
    kw["options"] = parse_pairs(values.get("opts", ()))
    return TestSpec(**kw)


def command_line(spec: TestSpec, prog: str = "splitbrain run") -> str:
    """One shell line that `splitbrain run` reads back into this very spec (spec_from of its
    flags): every field that differs from its default (the mode and name only when not the
    ones derived), every option, the explicit schedule. Tested to round-trip."""
    import shlex

    from harness.spec import default_mode

    words: list[str] = []
    for fld in dataclasses.fields(TestSpec):
        meta = fld.metadata
        if "help" not in meta:
            continue
        value = getattr(spec, fld.name)
        if fld.name == "mode":
            if value == default_mode(spec.db):
                continue
        elif fld.name == "name":
            if value == spec.replace(name="").name:
                continue
        elif value == fld.default:
            continue
        flag = meta["flag"] or "--" + fld.name.replace("_", "-")
        if fld.name in LISTS:
            value = ",".join(value) if value else "none"
        elif isinstance(value, float):
            value = f"{value:g}" if float(f"{value:g}") == value else repr(value)
        words += [flag, str(value)]
    for key, value in spec.options.items():
        words += ["--opt", f"{key}={_opt_text(value)}"]
    return " ".join([prog, *(shlex.quote(w) for w in words)])


def _opt_text(v: Any) -> str:
    """An option's value as --opt reads it back (lists comma-separated, booleans as words)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return ",".join(map(str, v))
    return str(v)
