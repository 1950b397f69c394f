"""`splitbrain images ...`: the node images the project builds itself (harness.images)."""

from __future__ import annotations

import click

from harness import images
from harness.errors import EnvironmentProblem


@click.group("images")
def images_group() -> None:
    """The container images the compose provider runs (splitbrain/<db>:<version>)."""


@images_group.command("build")
@click.option(
    "--db",
    "dbs",
    multiple=True,
    help=f"a database to build for (repeatable; default: all of {', '.join(images.databases())})",
)
@click.option("--rebuild", is_flag=True, help="Build even when the image is there and current.")
def build(dbs: tuple[str, ...], rebuild: bool) -> None:
    """Build what is missing or out of date; say what was built and how long it took."""
    from harness.providers.compose_engine import connect

    client = connect()
    failed: list[str] = []
    for db in dbs or tuple(images.databases()):
        try:
            b = images.build(client, db, rebuild=rebuild, echo=click.echo)
        except EnvironmentProblem as e:
            if dbs:  # asked for by name: its failure is the command's
                raise
            failed.append(f"{db}: {e}")
            click.echo(f"images: {db}: NOT built: {e}", err=True)
            continue
        took = f" in {b.seconds:.0f} s" if b.action != "present" else ""
        click.echo(f"images: {b.tag} {b.action}{took}")
    if failed:
        raise EnvironmentProblem(f"{len(failed)} image(s) not built: {'; '.join(failed)}")


@images_group.command("list")
def list_() -> None:
    """Each database's image and whether the engine has it."""
    from harness.providers.compose_engine import connect

    client = connect()
    for db in images.databases():
        tag = images.tag_of(db)
        here = images.present(client, tag) is not None
        click.echo(f"{db:10} {tag:32} {'present' if here else 'missing: splitbrain images build --db ' + db}")


COMMANDS = [images_group]
