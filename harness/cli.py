"""The command line: a thin layer over harness.runner and friends.

Exit codes: 0 valid, 1 anomalies found, 2 unknown or aborted, 3 bad usage/spec/history,
4 environment problem (not root, missing binary, no Docker), 5 cluster failed to come up."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from harness.checkers import models as linear_models
from harness.errors import SpecError, SplitbrainError
from harness.verdict import exit_code, worst

VERDICT_WORD = {True: "valid", False: "INVALID", "unknown": "unknown"}


class SplitbrainGroup(click.Group):
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


def _options(pairs: tuple[str, ...]) -> dict[str, Any]:
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


class _NamesHelp(click.Option):
    """An option whose help names what harness.spec lists, read only when help is shown:
    `splitbrain check` never imports the spec, the fault registry or the grudges."""

    def __init__(self, *args: Any, names: str, text: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names = names
        self.text = text

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from harness import spec as specs

        self.help = self.text.format(", ".join(getattr(specs, self.names)))
        return super().get_help_record(ctx)


@main.command()
@click.option(
    "--db",
    cls=_NamesHelp,
    default="postgres",
    show_default=True,
    names="DATABASES",
    text="one of {}",
)
@click.option(
    "--mode",
    default=None,
    help="database mode: postgres async|sync (default: the database's first)",
)
@click.option("--provider", default="local", show_default=True, help="local | compose | ssh | auto")
@click.option(
    "--inventory",
    default="",
    metavar="FILE",
    help="ssh provider: YAML file of the hosts and how to log in (docs/ssh.md)",
)
@click.option(
    "--workload",
    cls=_NamesHelp,
    default="set",
    show_default=True,
    names="WORKLOADS",
    text="one of {}",
)
@click.option(
    "--nemesis",
    default="partition,kill,failover",
    show_default=True,
    cls=_NamesHelp,
    names="FAULTS",
    text="comma-separated faults ({}) or none",
)
@click.option(
    "--partition",
    "partition",
    default="isolate-primary,halves,isolate-one",
    show_default=True,
    cls=_NamesHelp,
    names="PARTITION_SHAPES",
    text="partition shapes to draw from ({})",
)
@click.option(
    "--time", "time_limit", type=float, default=60, show_default=True, help="seconds of workload"
)
@click.option("--concurrency", type=int, default=10, show_default=True, help="client workers")
@click.option(
    "--rate", type=float, default=0, show_default=True, help="total ops/s (0 = unlimited)"
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--read-from", default="primary", show_default=True, help="primary | replica | any")
@click.option("--nodes", type=int, default=3, show_default=True)
@click.option(
    "--subnet", default="198.18.0.0/24", show_default=True, help="local provider's node network"
)
@click.option(
    "--fault-interval",
    type=float,
    default=8,
    show_default=True,
    help="seconds each fault lasts, and each healthy gap between faults",
)
@click.option(
    "--isolation",
    default="serializable",
    show_default=True,
    help="read-committed | repeatable-read | serializable",
)
@click.option(
    "--op-timeout",
    type=float,
    default=5,
    show_default=True,
    help="seconds before an op is abandoned as indeterminate (info)",
)
@click.option("--recovery-timeout", type=float, default=60, show_default=True)
@click.option(
    "--opt",
    "opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="database/workload knob, repeatable (e.g. failover_how=isolate)",
)
@click.option("--name", default="", help="test name (default: derived from the spec)")
@click.option(
    "--results",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results"),
    show_default=True,
    help="results root; each run goes to RESULTS/<test-name>/<timestamp>/",
)
@click.option("--no-progress", is_flag=True, help="no live progress display")
@click.option(
    "--list-options",
    is_flag=True,
    help="list the --opt knobs of this database, workload, faults and provider, and exit",
)
def run(
    db: str,
    mode: str | None,
    provider: str,
    inventory: str,
    workload: str,
    nemesis: str,
    partition: str,
    time_limit: float,
    concurrency: int,
    rate: float,
    seed: int,
    read_from: str,
    nodes: int,
    subnet: str,
    fault_interval: float,
    isolation: str,
    op_timeout: float,
    recovery_timeout: float,
    opts: tuple[str, ...],
    name: str,
    results: Path,
    no_progress: bool,
    list_options: bool,
) -> None:
    """Run one test: bring a cluster up, run a workload under faults, check, report."""
    from harness import spec as specs
    from harness.plan import describe_options
    from harness.runner import run as run_test

    spec = specs.TestSpec(
        db=db,
        mode=mode or "",
        provider=provider,
        inventory=inventory,
        workload=workload,
        nemesis=specs.parse_list(nemesis),
        partition=specs.parse_list(partition),
        time_limit=time_limit,
        concurrency=concurrency,
        rate=rate,
        seed=seed,
        read_from=read_from,
        nodes=nodes,
        subnet=subnet,
        fault_interval=fault_interval,
        isolation=isolation,
        op_timeout=op_timeout,
        recovery_timeout=recovery_timeout,
        options=_options(opts),
        name=name,
    )
    if list_options:
        for line in describe_options(spec) or ["no options"]:
            click.echo(line)
        return
    result = run_test(
        spec, results, echo=lambda s: click.echo(s, err=True), progress=not no_progress
    )
    click.echo((result.dir / "summary.txt").read_text(), nl=False)
    click.echo(f"verdict: {VERDICT_WORD[result.valid]}")
    sys.exit(exit_code(result.valid))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--checker",
    default=None,
    help="set | linearizable | list-append | bank (default: from spec.json)",
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

    options = _options(opts)
    if model:
        checker = checker or "linearizable"
        options["model"] = model
    if models:
        checker = checker or "list-append"
        from harness.spec import parse_list

        options["models"] = tuple(parse_list(models))
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
    for name in providers.REGISTRY:
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
