"""A run's plan: the spec resolved into its components and validated as a whole, before any
cluster starts. Every option given (--opt, a suite's options:) must be declared by one of the
components this run uses, with a value of the declared type; every requested fault must be
possible for this database on this provider and fit in the time limit."""

from __future__ import annotations

import random
from dataclasses import dataclass

import workloads
from harness import providers
from harness.db import Database, database_class
from harness.options import Owners, listing, validate
from harness.spec import TestSpec
from nemesis import faults, schedule
from workloads import Workload


@dataclass
class Plan:
    spec: TestSpec  # with typed options
    db: Database
    workload: Workload
    faults: dict[str, faults.Fault]  # the run's fault kinds, made once
    provider: providers.Provider
    schedule: list[schedule.Step]


def owners(spec: TestSpec) -> Owners:
    """(component, its declared options) for every component the spec names."""
    out: list[tuple[str, tuple]] = []
    out.append((f"--db {spec.db}", database_class(spec.db).options))
    out.append((f"--workload {spec.workload}", workloads.workload_class(spec.workload).options))
    for f in spec.nemesis:
        out.append((f"--nemesis {f}", faults.fault_class(f).options))
    if spec.provider != "auto":
        out.append((f"--provider {spec.provider}", providers.get(spec.provider).OPTIONS))
    return out


def describe_options(spec: TestSpec) -> list[str]:
    return listing(owners(spec))


def prepare(spec: TestSpec) -> Plan:
    """Validate everything that can be validated without touching a machine."""
    typed = validate(spec.options, owners(spec))
    spec = spec.replace(options=typed, name=spec.name)
    db = database_class(spec.db)(spec)
    db.validate()
    provider = providers.get(spec.provider)
    provider.validate(spec)  # its own input (ssh: the inventory file)
    capabilities: frozenset[str] = provider.CAPABILITIES
    fs = {f: faults.get(f, spec) for f in spec.nemesis}
    for f in fs.values():
        f.validate(db, capabilities)
    workload = workloads.get(spec, random.Random(spec.seed))
    plan = schedule.build(spec, random.Random(spec.seed + 1), fs)
    schedule.check_steps(spec, plan, fs)
    schedule.check_fits(spec, plan)
    return Plan(spec, db, workload, fs, provider, plan)


def check_spec(spec: TestSpec) -> None:
    """For suites: everything prepare() checks (provider auto is judged as local)."""
    if spec.provider == "auto":
        spec = spec.replace(provider="local", name=spec.name)
    prepare(spec)
