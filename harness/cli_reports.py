"""`splitbrain report | suite | compare | scale`: thin click layers over harness.report,
harness.suite and harness.scale (the lead's harness/cli.py adds COMMANDS to the main group)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.errors import SplitbrainError

_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


def _fail(e: SplitbrainError) -> None:
    click.echo(f"splitbrain: error: {e}", err=True)
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
@click.option(
    "--case",
    "cases",
    multiple=True,
    help="Run only this case (as the file names it: every run of its matrix; or one run by "
    "its full name). Repeatable.",
)
@click.option("--list", "list_", is_flag=True, help="List the suite's cases; run nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --list: one JSON array (a CI matrix).")
@click.option(
    "--merge",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Gather the results of cases run apart (folders under MERGE) into one summary and "
    "JUnit file; exit 1 when a planned run failed or never reported.",
)
def suite(
    suite_file: Path,
    results: Path,
    seed: int | None,
    cases: tuple[str, ...],
    list_: bool,
    as_json: bool,
    merge: Path | None,
) -> None:
    """Run the cases of SUITE_FILE one after another; exit 0 if none surprised."""
    from harness import suite as suites

    try:
        if list_:
            click.echo(suites.listing(suite_file, as_json))
            return
        if merge is not None:
            res = suites.merged(suite_file, merge, click.echo)
        else:
            from harness.runner import run_to_dir  # lazy: it pulls in providers and drivers

            res = suites.run_suite(
                suite_file, results, run_to_dir, click.echo, seed=seed,
                db_check=suites.database_check, cases=list(cases),
            )  # fmt: skip
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


@click.command()
@click.option(
    "--db",
    "dbs",
    multiple=True,
    default=("postgres", "galera", "cassandra"),
    show_default=True,
    help="Database to measure (repeatable).",
)
@click.option(
    "--nodes",
    "node_counts",
    multiple=True,
    type=click.IntRange(1, 9),
    default=(3,),
    show_default=True,
    help="Cluster size (repeatable, e.g. --nodes 3 --nodes 5).",
)
@click.option(
    "--time", "time_limit", type=float, default=20.0, show_default=True, help="Seconds per run."
)
@click.option(
    "--concurrency", type=int, default=10, show_default=True, help="Clients per run (all points)."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of every run.")
@click.option("--provider", default="local", show_default=True, help="Where the nodes run.")
@click.option(
    "--results",
    "results",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/scale"),
    show_default=True,
    help="Results root for the runs.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for compare.html (default: the results root).",
)
def scale(
    dbs: tuple[str, ...],
    node_counts: tuple[int, ...],
    time_limit: float,
    concurrency: int,
    seed: int,
    provider: str,
    results: Path,
    out: Path | None,
) -> None:
    """Acknowledged writes/s with writes sent to 1 node vs to every node, one run per point;
    then compare.html over the results root (its write-scaling section plots them)."""
    from harness import scale as sc
    from harness.report.compare import compare as do_compare

    try:
        for p in sc.points(list(dbs), list(node_counts)):
            click.echo(f"scale: {p.db}, {p.nodes} nodes, writes to {p.write_nodes}")
            sc.run_point(p, results, time_limit, concurrency, seed, provider, click.echo)
        html, _ = do_compare([results], out or results)
    except SplitbrainError as e:
        _fail(e)
        return
    click.echo(html)


COMMANDS = [report, suite, compare, scale]
