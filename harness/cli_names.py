"""Help text that names what a registry lists, read only when help is shown: a command's
module imports no component to say its flags' choices."""

from __future__ import annotations

from typing import Any

import click

from harness import registry


class NamesHelp(click.Option):
    """An option whose help names what a registry lists, read only when help is shown (the
    mode of each database asks its definition)."""

    def __init__(self, *args: Any, names: str, text: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names, self.text = names, text

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = self.text.format(", ".join(names(self.names)))
        return super().get_help_record(ctx)


def names(kind: str) -> list[str]:
    if kind == "PARTITION_SHAPES":
        from nemesis.grudges import SHAPES

        return list(SHAPES)
    if kind == "MODES":
        return [
            f"{db} {'|'.join(registry.resolve(registry.DATABASES, db, '--db').modes)}"
            for db in registry.DATABASES
        ]
    if kind == "PROVIDERS":
        return [*registry.PROVIDERS, registry.AUTO]
    return list(getattr(registry, kind))
