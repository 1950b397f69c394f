"""`splitbrain shrink RESULTS_DIR`: the smallest run that still shows its anomaly
(harness.hunting.shrink)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from harness.cli_hunt import budget_from, budget_options, kinds_of, run_fn
from harness.errors import SpecError

DEFAULT_RUNS = 40


def _run_dir(path: Path) -> Path:
    """A run folder, or a hunt folder (its first detection)."""
    hunt = path / "hunt.json"
    if hunt.is_file() and not (path / "verdict.json").is_file():
        try:
            first = json.loads(hunt.read_text()).get("first_detection")
        except (OSError, ValueError) as e:
            raise SpecError(f"{hunt}: cannot read: {e}") from None
        if not first:
            raise SpecError(f"{path}: this hunt found nothing: nothing to shrink")
        return Path(first["dir"])
    return path


@click.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--anomaly", "anomalies", multiple=True, metavar="KIND[,KIND]",
    help="the kind to keep (default: the one the run shows most often)",
)  # fmt: skip
@click.option("--tries", type=int, default=3, show_default=True,
              help="runs of each candidate (races: one run proves little)")  # fmt: skip
@click.option(
    "--min-rate", type=float, default=0.34, show_default=True,
    help="a candidate is kept when it reproduced in at least this share of --tries "
    "(0.34 of 3 = 2 of 3; 0.3 of 3 = 1 of 3)",
)  # fmt: skip
@click.option("--confirm", type=int, default=3, show_default=True,
              help="runs of the shrunk spec at the end, for its reproduction rate (0: none)")  # fmt: skip
@click.option(
    "--min-seconds", type=float, default=2.0, show_default=True,
    help="floor of the timing: lead before the first fault, each fault window and the tail "
    "after the last (gaps: half of it)",
)  # fmt: skip
@budget_options
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True,
              help="results root; the shrink goes to RESULTS/shrinks/<test-name>/<timestamp>/")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="show each run's own lines")
def shrink(
    results_dir: Path,
    anomalies: tuple[str, ...],
    tries: int,
    min_rate: float,
    confirm: int,
    min_seconds: float,
    max_runs: int | None,
    max_time: str | None,
    results: Path,
    verbose: bool,
) -> None:
    """Search for a smaller run than RESULTS_DIR's (a run folder, or a hunt's) that still
    shows the same anomaly kind: fewer faults, shorter windows and time, fewer workers, keys,
    ops and nodes. Ends with the smallest spec, its reproduction rate, one `splitbrain run`
    line and its evidence. Exit 1 reproduced, 2 interrupted or not reproduced at the end."""
    from harness.hunting.candidates import Limits
    from harness.hunting.shrink import ShrinkConfig, load_original
    from harness.hunting.shrink import shrink as do_shrink
    from harness.hunting.stats import Acceptance
    from harness.plan import check_spec

    if confirm < 0:
        raise SpecError(f"--confirm must be >= 0, got {confirm}")
    if min_seconds <= 0:
        raise SpecError(f"--min-seconds must be > 0, got {min_seconds:g}")
    run_dir = _run_dir(results_dir)
    kinds = kinds_of(anomalies)
    spec, _, _ = load_original(run_dir, kinds)  # bad input is refused before any run
    acceptance = Acceptance.at(tries, min_rate)
    budget = budget_from(max_runs, max_time, spec.time_limit, DEFAULT_RUNS)
    limits = Limits(min_seconds, min_seconds / 2, min_seconds, min_seconds, 2.5 * min_seconds)
    config = ShrinkConfig(acceptance, budget, kinds, confirm, limits, validate=check_spec)
    result = do_shrink(run_dir, results, run_fn(verbose), config, echo=_err)
    click.echo(result.text(), nl=False)
    sys.exit(2 if result.interrupted or not result.rate.k else 1)


def _err(line: str) -> None:
    click.echo(line, err=True)
