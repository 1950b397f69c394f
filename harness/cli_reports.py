"""`splitbrain report | suite | compare`: thin click layers over harness.report and
harness.suite (the lead's harness/cli.py adds COMMANDS to the main group)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.errors import SplitbrainError

_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


def _fail(e: SplitbrainError) -> None:
    click.echo(f"error: {e}", err=True)
    sys.exit(e.exit_code)


@click.command()
@click.argument("run_dir", type=_DIR)
def report(run_dir: Path) -> None:
    """Regenerate report.html and junit.xml of RUN_DIR from its files."""
    from harness.report.junit import write_run_junit
    from harness.report.run_report import write_report

    if not (run_dir / "verdict.json").is_file():
        _fail(SplitbrainError(f"{run_dir}: no verdict.json here (is it a run folder?)"))
    try:
        click.echo(write_report(run_dir))
        click.echo(write_run_junit(run_dir))
    except SplitbrainError as e:
        _fail(e)


@click.command()
@click.argument("suite_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--results",
    "results",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Results root.",
)
@click.option("--seed", type=int, default=None, help="Run every case with this seed only.")
def suite(suite_file: Path, results: Path, seed: int | None) -> None:
    """Run the cases of SUITE_FILE one after another; exit 0 if none surprised."""
    from harness import suite as suites
    from harness.runner import run_to_dir  # lazy: the runner pulls in providers and drivers

    try:
        res = suites.run_suite(
            suite_file, results, run_to_dir, click.echo, seed=seed, db_check=suites.database_check
        )
    except SplitbrainError as e:
        _fail(e)
        return
    sys.exit(0 if res.passed else 1)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for compare.html and compare.csv.",
)
def compare(paths: tuple[Path, ...], out: Path) -> None:
    """Compare run folders or suite folders (searched for verdict.json)."""
    from harness.report.compare import compare as do_compare

    try:
        html, csv = do_compare(list(paths), out)
    except SplitbrainError as e:
        _fail(e)
        return
    click.echo(html)
    click.echo(csv)


COMMANDS = [report, suite, compare]
