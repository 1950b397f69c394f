"""TestSpec: a test as plain data. Loaded from CLI flags or a suite YAML, stored as spec.json."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import SpecError
from nemesis.faults import names as _fault_names
from nemesis.grudges import SHAPES as PARTITION_SHAPES

DATABASES = ("postgres", "galera", "mariadb", "mongodb", "cassandra")  # harness.db.REGISTRY
PROVIDERS = ("local", "compose", "ssh", "auto")  # harness.providers.REGISTRY + auto
# Test doubles (in-process nodes and a dict-backed database): accepted, never advertised.
TEST_DOUBLES = ("memory",)
WORKLOADS = ("set", "register", "kv", "append", "bank", "counter", "conflicts")  # workloads.REGISTRY
FAULTS = _fault_names()
MIN_PREFIX = 16  # a larger node network only slows setup (every address is a candidate)
READ_FROM = ("primary", "replica", "any")
ISOLATION = ("read-committed", "repeatable-read", "serializable")
DEFAULT_MODE = {
    "postgres": "async",
    "galera": "multi-primary",
    "mariadb": "async",
    "mongodb": "majority",
    "cassandra": "quorum",
    "memory": "async",
}


@dataclass(frozen=True)
class TestSpec:
    __test__ = False  # not a pytest test class, despite the name

    db: str = "postgres"
    mode: str = ""  # "" = the database's default mode (DEFAULT_MODE)
    provider: str = "local"
    workload: str = "set"
    nemesis: tuple[str, ...] = ("partition", "kill", "failover")
    partition: tuple[str, ...] = ("isolate-primary", "halves", "isolate-one")
    time_limit: float = 60.0
    concurrency: int = 10
    rate: float = 0.0  # total ops/s over all workers; 0 = as fast as the database answers
    seed: int = 0
    read_from: str = "primary"
    nodes: int = 3
    subnet: str = "198.18.0.0/24"
    fault_interval: float = 8.0  # a fault lasts this long, then the cluster is healthy as long
    isolation: str = "serializable"
    op_timeout: float = 5.0
    recovery_timeout: float = 60.0
    options: dict[str, Any] = field(default_factory=dict)  # database knobs (see docs)
    name: str = ""
    inventory: str = ""  # the ssh provider's hosts (YAML file: harness/providers/ssh_inventory)

    def __post_init__(self) -> None:
        if not self.mode:
            object.__setattr__(self, "mode", DEFAULT_MODE.get(self.db, ""))
        if not self.name:
            faults = "+".join(self.nemesis) if self.nemesis else "none"
            iso = "" if self.isolation == "serializable" else f"-{self.isolation}"
            # read_from is named only when it differs from the default: "primary" means
            # nothing for peer-to-peer databases.
            reads = "" if self.read_from == "primary" else f"-{self.read_from}-reads"
            object.__setattr__(
                self, "name", f"{self.db}-{self.mode}-{self.workload}{iso}-{faults}{reads}"
            )
        self.validate()

    def validate(self) -> None:
        _one_of("--db", self.db, DATABASES, TEST_DOUBLES)
        _one_of("--provider", self.provider, PROVIDERS, TEST_DOUBLES)
        if self.provider == "ssh" and not self.inventory:
            raise SpecError("--provider ssh needs --inventory FILE (the hosts and how to log in)")
        if self.inventory and self.provider != "ssh":
            raise SpecError(f"--inventory is for --provider ssh, not {self.provider}")
        _one_of("--workload", self.workload, WORKLOADS)
        _one_of("--read-from", self.read_from, READ_FROM)
        _one_of("--isolation", self.isolation, ISOLATION)
        for f in self.nemesis:
            _one_of("--nemesis", f, FAULTS)
        for s in self.partition:
            _one_of("--partition", s, PARTITION_SHAPES)
        if self.time_limit <= 0:
            raise SpecError(f"--time must be > 0 seconds, got {self.time_limit}")
        if not 1 <= self.concurrency <= 1000:
            raise SpecError(f"--concurrency must be between 1 and 1000, got {self.concurrency}")
        if self.rate < 0:
            raise SpecError(f"--rate must be >= 0, got {self.rate}")
        if not 1 <= self.nodes <= 9:
            raise SpecError(f"--nodes must be between 1 and 9, got {self.nodes}")
        if self.fault_interval <= 0:
            raise SpecError(f"--fault-interval must be > 0 seconds, got {self.fault_interval}")
        if self.op_timeout <= 0:
            raise SpecError(f"--op-timeout must be > 0 seconds, got {self.op_timeout}")
        try:
            net = ipaddress.ip_network(self.subnet)
        except ValueError:
            raise SpecError(
                f"--subnet {self.subnet!r} is not a network like 198.18.0.0/24"
            ) from None
        if net.version != 4 or net.num_addresses < self.nodes + 16:
            raise SpecError(
                f"--subnet {self.subnet} must be an IPv4 network with room for the nodes"
            )
        if net.prefixlen < MIN_PREFIX:
            raise SpecError(
                f"--subnet {self.subnet} is larger than /{MIN_PREFIX}: the node network needs "
                "only a few addresses (e.g. 198.18.0.0/24)"
            )
        if (
            not self.name.replace("-", "")
            .replace("_", "")
            .replace("+", "")
            .replace(".", "")
            .isalnum()
        ):
            raise SpecError(f"--name {self.name!r} may only hold letters, digits, - _ + .")

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["nemesis"] = list(self.nemesis)
        d["partition"] = list(self.partition)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TestSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SpecError(
                f"unknown spec field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        d = dict(d)
        for key in ("nemesis", "partition"):
            if key in d:
                d[key] = tuple(_as_list(d[key]))
        return cls(**d)

    def replace(self, **changes: Any) -> TestSpec:
        if "name" not in changes:
            changes["name"] = ""
        return dataclasses.replace(self, **changes)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> TestSpec:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise SpecError(f"cannot read spec {path}: {e}") from None


def _as_list(v: Any) -> list[str]:
    if v is None or v == "none" or v == "":
        return []
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip() and p.strip() != "none"]
    return [str(x) for x in v]


def parse_list(v: str | None) -> tuple[str, ...]:
    return tuple(_as_list(v))


def _one_of(flag: str, value: str, allowed: tuple[str, ...], hidden: tuple[str, ...] = ()) -> None:
    if value not in allowed and value not in hidden:
        raise SpecError(f"{flag} {value!r} is not one of: {', '.join(allowed)}")
