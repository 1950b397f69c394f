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
