"""What a machine must install for a run, a suite's cases, or the test suite, read from the
components' own declarations (Database.packages and prepare_host, Fault.packages, a
provider's PACKAGES), so that the one install path, `python3 -m harness.quickstart install`,
keeps no list of packages of its own (and neither does any workflow).

    python3 -m harness.install.needs --tests
    python3 -m harness.install.needs --suite suites/nightly.yaml [--case NAME ...]
    python3 -m harness.install.needs --run '{"db": "cassandra"}'   # TestSpec fields
print one JSON object: {"apt": [...], "prepare": [databases], "engine": bool, "images": [...]}.

    python3 -m harness.install.needs --prepare cassandra   # Database.prepare_host()
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import SplitbrainError
from harness.spec import TestSpec

# What only the project's own tests need: the browser tests' chromium, sshd hosts in
# namespaces and a sudo login for the ssh provider's tests.
TEST_ONLY = ("chromium", "openssh-server", "sudo")
# The compose tests' images (MongoDB's cannot be built where MongoDB's repository is not
# reachable, as on this project's machines; its cases build it where it is).
TEST_IMAGES = ("postgres", "galera", "mariadb", "cassandra")
TEST_PROVIDERS = ("local", "compose", "ssh")


@dataclass
class Needs:
    apt: set[str] = field(default_factory=set)
    prepare: set[str] = field(default_factory=set)  # databases whose prepare_host runs
    engine: bool = False  # a Docker engine (the compose provider)
    images: set[str] = field(default_factory=set)  # databases whose image is built

    def to_json(self) -> str:
        return json.dumps({
            "apt": sorted(self.apt), "prepare": sorted(self.prepare),
            "engine": self.engine, "images": sorted(self.images),
        })  # fmt: skip


def _add_database(n: Needs, name: str) -> None:
    from harness.db import Database, database_class

    cls = database_class(name)
    n.apt.update(cls.packages)
    if cls.prepare_host.__func__ is not Database.prepare_host.__func__:  # type: ignore[attr-defined]
        n.prepare.add(name)


def _add_provider(n: Needs, name: str) -> None:
    from harness import providers

    mod = providers.get(name)
    n.apt.update(getattr(mod, "PACKAGES", ()))
    n.engine = n.engine or name == "compose"


def for_specs(specs: Iterable[TestSpec]) -> Needs:
    from nemesis import faults

    n = Needs()
    for s in specs:
        provider = "local" if s.provider == "auto" else s.provider
        _add_provider(n, provider)
        if provider == "local":  # the database runs on this machine
            _add_database(n, s.db)
        if provider == "compose":
            n.images.add(s.db)
        for f in s.nemesis:
            n.apt.update(faults.fault_class(f).packages)
    return n


def for_tests() -> Needs:
    from harness.registry import DATABASES
    from nemesis import faults

    n = Needs(apt=set(TEST_ONLY), images=set(TEST_IMAGES))
    for p in TEST_PROVIDERS:
        _add_provider(n, p)
    for db in DATABASES:
        _add_database(n, db)
    for f in faults.names():
        n.apt.update(faults.fault_class(f).packages)
    return n


def for_suite(path: Path, cases: Iterable[str] = ()) -> Needs:
    from harness.suite_load import load_suite, select

    suite = load_suite(path)
    chosen = select(suite, list(cases)) if cases else suite.cases
    return for_specs(c.spec for c in chosen)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m harness.install.needs")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--tests", action="store_true")
    what.add_argument("--suite", type=Path)
    what.add_argument("--run", help="a run's TestSpec fields as JSON")
    what.add_argument("--prepare", help="run this database's prepare_host()")
    ap.add_argument("--case", action="append", default=[])
    args = ap.parse_args(argv)
    try:
        if args.prepare:
            from harness.db import database_class

            database_class(args.prepare).prepare_host()
            return 0
        if args.tests:
            n = for_tests()
        elif args.suite:
            n = for_suite(args.suite, args.case)
        else:
            n = for_specs([TestSpec(**json.loads(args.run))])
    except SplitbrainError as e:
        print(f"needs: {e}", file=sys.stderr)
        return e.exit_code
    print(n.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
