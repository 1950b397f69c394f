"""The one list of each kind of component: name -> "module:attr", imported on demand so that a
database's driver is only needed when that database is used.

The CLI's help, spec validation, suites, the installer and the docs read these tables and
nothing else; a new database, workload, fault, provider or checker is a module plus a line
here. Tests add their doubles (tests/doubles) to them at start-up; no production table lists
a test double.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.errors import SpecError

DATABASES: dict[str, str] = {
    "postgres": "harness.db.postgres:Postgres",
    "galera": "harness.db.galera:Galera",
    "mariadb": "harness.db.mariadb:MariaDB",
    "mongodb": "harness.db.mongodb:MongoDB",
    "cassandra": "harness.db.cassandra:Cassandra",
}
WORKLOADS: dict[str, str] = {
    "set": "workloads.set:SetWorkload",
    "register": "workloads.register:RegisterWorkload",
    "kv": "workloads.kv:KVWorkload",
    "append": "workloads.append:AppendWorkload",
    "bank": "workloads.bank:BankWorkload",
    "counter": "workloads.counter:CounterWorkload",
    "conflicts": "workloads.conflicts:ConflictsWorkload",
}
FAULTS: dict[str, str] = {
    "partition": "nemesis.faults.partition:Partition",
    "packet-loss": "nemesis.faults.packet_loss:PacketLoss",
    "kill": "nemesis.faults.kill:Kill",
    "pause": "nemesis.faults.pause:Pause",
    "failover": "nemesis.faults.failover:Failover",
    "power-loss": "nemesis.faults.power_loss:PowerLoss",
    "clock": "nemesis.faults.clock:Clock",
}
PROVIDERS: dict[str, str] = {  # modules that are a harness.providers.Provider
    "local": "harness.providers.local",
    "compose": "harness.providers.compose",
    "ssh": "harness.providers.ssh",  # real hosts from an inventory (--inventory FILE)
}
AUTO = "auto"  # --provider auto: compose when a Docker engine answers, else local
CHECKERS: dict[str, str] = {
    "set": "harness.checkers.set:check",
    "linearizable": "harness.checkers.linearizable:check",
    "list-append": "harness.checkers.elle:check",
    "bank": "harness.checkers.bank:check",
    "counter": "harness.checkers.counter:check",
    "conflicts": "harness.checkers.conflicts:check",
}


def resolve(table: dict[str, str], name: str, flag: str) -> Any:
    target = table.get(name)
    if target is None:
        raise SpecError(f"{flag} {name!r} is not one of: {', '.join(table)}")
    module, attr = target.split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise SpecError(f"{flag} {name}: not available (missing module {e.name})") from None
    return getattr(mod, attr)
