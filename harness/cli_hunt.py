"""`splitbrain hunt`: repeat a run with fresh seeds until it shows an anomaly (harness.hunting.hunt)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from harness.cli_spec import spec_flags, spec_from
from harness.errors import SpecError
from harness.spec import TestSpec

DEFAULT_RUNS = 20


def budget_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--max-time", default=None, metavar="DURATION",
        help="wall-time budget: seconds, or 30m, 2h (no run is started that would overrun it)",
    )(f)  # fmt: skip
    f = click.option(
        "--max-runs", type=int, default=None,
        help=f"run budget (default {DEFAULT_RUNS} when no --max-time is given)",
    )(f)  # fmt: skip
    return f


def budget_from(max_runs: int | None, max_time: str | None, one_run: float, default: int) -> Any:
    from harness.hunting.stats import Budget, parse_duration

    seconds = parse_duration(max_time) if max_time is not None else None
    if seconds is not None and seconds < one_run:
        raise SpecError(f"--max-time {max_time} is shorter than one run (--time {one_run:g})")
    if max_runs is None and seconds is None:
        max_runs = default
    return Budget(max_runs=max_runs, max_seconds=seconds)


def kinds_of(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(k.strip() for v in values for k in v.split(",") if k.strip())


def run_fn(verbose: bool) -> Any:
    """The production RunFn: harness.runner.run, its lines shown with --verbose (warnings and
    removed leftovers always)."""
    from harness.runner import run

    def echo(line: str) -> None:
        if verbose or line.startswith(("warning", "removed", "provider")):
            click.echo("    | " + line, err=True)

    def fn(spec: TestSpec, root: Path) -> Any:
        return run(spec, root, echo=echo, progress=False)

    return fn


def _from_suite(suite: Path, case: str) -> TestSpec:
    from harness.suite_load import database_check, load_suite, select

    s = load_suite(suite, db_check=database_check)
    runs = select(s, [case])
    if len(runs) != 1:
        raise SpecError(
            f"--case {case} makes {len(runs)} runs (its matrix); name one: "
            + ", ".join(r.name for r in runs)
        )
    return runs[0].spec


@click.command()
@spec_flags
@click.option("--suite", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="take the spec from this suite's --case instead of flags")  # fmt: skip
@click.option("--case", default=None, help="with --suite: the case (one run) to hunt with")
@click.option(
    "--anomaly", "anomalies", multiple=True, metavar="KIND[,KIND]",
    help="what to look for (repeatable); default: any anomaly (a suite case: its expected ones)",
)  # fmt: skip
@budget_options
@click.option(
    "--stop-after", type=int, default=1, show_default=True,
    help="stop after this many detections (0: spend the whole budget, for the rate)",
)  # fmt: skip
@click.option(
    "--steer", is_flag=True,
    help="also vary what the flags leave open (fault timing and targets, concurrency, keys) "
    "and favour the variations that came closer",
)  # fmt: skip
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True,
              help="results root; the hunt goes to RESULTS/hunts/<test-name>/<timestamp>/")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="show each run's own lines")
@click.pass_context
def hunt(
    ctx: click.Context,
    suite: Path | None,
    case: str | None,
    anomalies: tuple[str, ...],
    max_runs: int | None,
    max_time: str | None,
    stop_after: int,
    steer: bool,
    results: Path,
    verbose: bool,
    **flags: Any,
) -> None:
    """Repeat a run (the same flags as `run`, or a suite case) with fresh seeds until it shows
    the anomaly or the budget ends; report the runs and time to the first detection and the
    detection rate with its 95% interval. Exit 1 found, 0 not found, 2 interrupted."""
    from harness.hunting.hunt import HuntConfig
    from harness.hunting.hunt import hunt as do_hunt
    from harness.hunting.targets import target_for
    from harness.plan import check_spec

    given = {
        name for name in [*flags, "opts"]
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
    }  # fmt: skip
    kinds = kinds_of(anomalies)
    if (suite is None) != (case is None):
        raise SpecError("--suite and --case go together")
    if suite is not None and case is not None:
        if given:
            raise SpecError(
                f"give either spec flags or --suite/--case, not both (got --{sorted(given)[0].replace('_', '-')})"
            )
        spec = _from_suite(suite, case)
        fixed = frozenset(
            f.name for f in dataclasses.fields(TestSpec)
            if f.name != "options" and getattr(spec, f.name) != f.default
        )  # fmt: skip
        if not kinds:
            from harness.suite_load import load_suite, select

            kinds = tuple(sorted(select(load_suite(suite), [case])[0].expect.anomalies))
    else:
        spec = spec_from(flags)
        fixed = frozenset(given)
    if stop_after < 0:
        raise SpecError(f"--stop-after must be >= 0, got {stop_after}")
    check_spec(spec)
    target = target_for(spec, kinds)
    budget = budget_from(max_runs, max_time, spec.time_limit, DEFAULT_RUNS)
    config = HuntConfig(target, budget, stop_after, steer, fixed)
    result = do_hunt(spec, results, run_fn(verbose), config, echo=lambda s: click.echo(s, err=True))
    click.echo(result.text(), nl=False)
    if result.interrupted:
        sys.exit(2)
    if result.first is not None:
        sys.exit(1)
    sys.exit(0 if result.rate.n else 2)
