"""The command line: a thin layer over harness.runner and friends.

Exit codes: 0 valid, 1 anomalies found, 2 unknown or aborted, 3 bad usage/spec/history,
4 environment problem (not root, missing binary, no Docker), 5 cluster failed to come up."""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from harness import registry
from harness.checkers import models as linear_models
from harness.cli_names import NamesHelp
from harness.errors import SpecError, SplitbrainError
from harness.options import parse_pairs
from harness.verdict import VERDICT_WORD, exit_code, worst

# commands in modules of their own, imported only when used (`check` stays lean)
LAZY = {
    "run": "harness.cli_run:run",
    "hunt": "harness.cli_hunt:hunt",
    "shrink": "harness.cli_shrink:shrink",
}


class SplitbrainGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY and name not in self.commands:
            module, attr = LAZY[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    """Print SplitbrainError, and click's own usage errors, as one line (never a traceback)
    with the exit code the README documents (3 for bad usage; click's own would be 2, the
    code of an unknown verdict)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SplitbrainError as e:
            click.echo(f"splitbrain: error: {e}", err=True)
            sys.exit(e.exit_code)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("splitbrain: interrupted", err=True)
            sys.exit(2)
        except click.ClickException as e:
            click.echo(f"splitbrain: error: {e.format_message()}", err=True)
            sys.exit(3)


@click.group(cls=SplitbrainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="splitbrain")
def main() -> None:
    """Jepsen-style fault injection for real databases."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--checker",
    default=None,
    cls=NamesHelp,
    names="CHECKERS",
    text="one of {} (default: the spec.json beside it, or what the ops look like)",
)
@click.option(
    "--model", default=None, help="linearizable model: " + " | ".join(linear_models.MODELS)
)
@click.option(
    "--consistency-models",
    "models",
    default=None,
    help="list-append: comma-separated models to check against, e.g. serializable, "
    "snapshot-isolation, repeatable-read, read-committed (default: strict-serializable, as "
    "Elle's; a run's own history: the model of the isolation it asked for)",
)
@click.option(
    "--opt", "opts", multiple=True, metavar="KEY=VALUE", help="checker option, repeatable"
)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per history on stdout")
@click.option("-v", "--verbose", is_flag=True, help="print each anomaly's explanation")
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="also write one self-contained page with each anomaly's evidence drawn",
)
def check(
    paths: tuple[Path, ...],
    checker: str | None,
    model: str | None,
    models: str | None,
    opts: tuple[str, ...],
    as_json: bool,
    verbose: bool,
    html_out: Path | None,
) -> None:
    """Check stored histories: results folders, history.jsonl or Jepsen .edn files, or folders
    of them. One line per history; the exit code is that of the worst verdict (3 if a history
    could not be read or checked: that history gets a line PATH<tab>error<tab>PROBLEM)."""
    from harness.checking import check_file, validate_options

    options = parse_pairs(opts)
    if model:
        checker = checker or "linearizable"
        options["model"] = model
    if models:
        checker = checker or "list-append"
        options["models"] = tuple(m.strip() for m in models.split(",") if m.strip())
    if checker is not None:
        validate_options(checker, options)  # a bad flag is one error, not one per history
    histories = _find_histories(paths)
    if not histories:
        raise SpecError("no history found in " + ", ".join(map(str, paths)))
    valids = []
    errors = 0
    drawn: list[tuple[Path, dict[str, Any]]] = []
    for path in histories:
        t = time.monotonic()
        doc = check_file(path, checker, options)
        if isinstance(doc, str):  # one bad file must not hide the verdicts of the others
            errors += 1
            if as_json:
                click.echo(json.dumps({"path": str(path), "error": doc}))
            else:
                click.echo(f"{path}\terror\t{doc}", err=True)
            continue
        valids.append(doc["valid"])
        elapsed = time.monotonic() - t
        if html_out is not None:
            drawn.append((path, doc))
        if as_json:
            click.echo(
                json.dumps({"path": str(path), "elapsed_s": round(elapsed, 3), **doc}, default=str)
            )
            continue
        checked = doc["checkers"].values()
        counts = {k: n for v in checked for k, n in v["counts"].items()}
        shown = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
        click.echo(
            f"{path}\t{VERDICT_WORD[doc['valid']]}\t{elapsed:.2f}s"
            + (f"\t{shown}" if shown else "")
        )
        for note in doc["notes"]:
            click.echo(f"  note: {note}", err=True)
        for v in checked:
            if verbose:
                for a in v["anomalies"]:
                    click.echo(f"  {v['checker']} {a['type']}: {a['explanation']}")
            if verbose or v["valid"] == "unknown":
                for note in v["notes"]:
                    click.echo(f"  {v['checker']} note: {note}")
    if html_out is not None:
        from harness.report import check_html

        check_html.write(html_out, drawn)
        click.echo(f"wrote {html_out}", err=True)
    sys.exit(3 if errors else exit_code(worst(valids)))


def _find_histories(paths: tuple[Path, ...]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_file():
            out.append(p)
        elif (p / "history.jsonl").exists():
            out.append(p / "history.jsonl")
        else:
            found = sorted([*p.rglob("history.jsonl"), *p.rglob("*.edn")], key=lambda x: str(x))
            out.extend(x for x in found if x.is_file())
    return out


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--to",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="output file (default: beside the input, with the other extension)",
)
def export(path: Path, out: Path | None) -> None:
    """Convert a history between splitbrain's JSONL and Jepsen's EDN (one map per line), so
    it can be cross-checked with Jepsen's tools, or a Jepsen history kept as JSONL."""
    from harness.edn import write_edn_history
    from harness.history import load, write_jsonl

    notes: list[str] = []
    ops = load(path, notes=notes)
    for note in notes:
        click.echo(f"splitbrain: note: {note}", err=True)
    src = path / "history.jsonl" if path.is_dir() else path
    to_edn = src.suffix != ".edn"
    out = out or src.with_suffix(".edn" if to_edn else ".jsonl")
    if out.resolve() == src.resolve():
        raise SpecError(f"--to {out} would overwrite the input")
    (write_edn_history if to_edn else write_jsonl)(ops, out)
    click.echo(f"{len(ops)} ops -> {out}")


@main.command()
@click.option(
    "--force", is_flag=True, help="also remove resources of runs whose harness is still alive"
)
@click.option(
    "--inventory",
    default="",
    metavar="FILE",
    help="also clean the ssh provider's hosts listed in this inventory",
)
def cleanup(force: bool, inventory: str) -> None:
    """Remove what crashed runs left behind (namespaces, links, processes, work dirs, containers)."""
    from harness import providers

    removed: list[str] = []
    if inventory:  # its problems (a bad file) are said, not skipped
        removed += providers.get("ssh").cleanup(force=force, inventory=inventory)
    for name in registry.PROVIDERS:
        if name == "ssh":
            continue
        with contextlib.suppress(SplitbrainError):  # e.g. no Docker engine: nothing to clean
            removed += providers.get(name).cleanup(force=force)
    for line in removed:
        click.echo(line)
    click.echo(f"{len(removed)} leftover(s) removed" if removed else "nothing to clean up")


@main.command()
def doctor() -> None:
    """What is installed, what is missing, whether we are root."""
    from harness.doctor import report

    ok = True
    for status, what, hint in report():
        mark = {"ok": "ok     ", "missing": "MISSING", "info": "info   "}[status]
        click.echo(f"{mark} {what}" + (f"  ({hint})" if hint else ""))
        ok = ok and status != "missing"
    sys.exit(0 if ok else 4)


def _register_extra_commands() -> None:
    from harness.cli_images import COMMANDS as IMAGES
    from harness.cli_reports import COMMANDS as REPORTS

    for cmd in (*REPORTS, *IMAGES):
        main.add_command(cmd)


_register_extra_commands()

if __name__ == "__main__":
    main()
