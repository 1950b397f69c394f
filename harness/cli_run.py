"""`splitbrain run`: one test (loaded only when asked for, so that `splitbrain check`
imports none of the run's machinery)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from harness.cli_spec import spec_flags, spec_from
from harness.verdict import VERDICT_WORD, exit_code


@click.command()
@spec_flags
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
def run(results: Path, no_progress: bool, list_options: bool, **flags: Any) -> None:
    """Run one test: bring a cluster up, run a workload under faults, check, report."""
    from harness.plan import describe_options
    from harness.runner import run as run_test

    spec = spec_from(flags)
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
