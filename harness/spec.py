"""TestSpec: a test as plain data. Loaded from CLI flags or a suite YAML, stored as spec.json."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import registry
from harness.errors import SpecError
from nemesis.grudges import SHAPES as PARTITION_SHAPES

MIN_PREFIX = 16  # a larger node network only slows setup (every address is a candidate)
READ_FROM = ("primary", "replica", "any")
ISOLATION = ("read-committed", "repeatable-read", "serializable")


def default_mode(db: str) -> str:
    """A database's first mode (its definition lists them); "" for an unknown database."""
    if db not in registry.DATABASES:
        return ""
    modes: tuple[str, ...] = registry.resolve(registry.DATABASES, db, "--db").modes
    return modes[0]


def _f(default: Any, help: str, flag: str = "", names: str = "") -> Any:
    """A spec field with what its command-line flag says (harness/cli_spec.py makes the
    flags of `run`, `hunt` and the like from these): its help, the flag when it is not the
    field's name, and the registry whose names the help lists ({} in the help)."""
    return field(default=default, metadata={"help": help, "flag": flag, "names": names})


@dataclass(frozen=True)
class TestSpec:
    __test__ = False  # not a pytest test class, despite the name

    db: str = _f("postgres", "one of {}", names="DATABASES")
    mode: str = _f("", "the database's mode (default: its first): {}", names="MODES")
    provider: str = _f("local", "where the nodes run: {}", names="PROVIDERS")
    workload: str = _f("set", "one of {}", names="WORKLOADS")
    nemesis: tuple[str, ...] = _f(
        ("partition", "kill", "failover"), "comma-separated faults ({}) or none", names="FAULTS"
    )
    partition: tuple[str, ...] = _f(
        ("isolate-primary", "halves", "isolate-one"),
        "partition shapes to draw from ({})",
        names="PARTITION_SHAPES",
    )
    time_limit: float = _f(60.0, "seconds of workload", flag="--time")
    concurrency: int = _f(10, "client workers")
    rate: float = _f(0.0, "total ops/s over all workers (0 = as fast as the database answers)")
    seed: int = _f(0, "seed of the operations and the fault schedule")
    read_from: str = _f("primary", "primary | replica | any")
    nodes: int = _f(3, "nodes in the cluster")
    subnet: str = _f("198.18.0.0/24", "local provider's node network")
    fault_interval: float = _f(8.0, "seconds each fault lasts, and each healthy gap between faults")
    schedule: str = _f(
        "",
        "explicit fault schedule instead of one drawn from the seed: FAULT@AT+SECONDS"
        "[:KEY=VALUE,...] steps joined by ';' (--nemesis names exactly their faults)",
    )
    isolation: str = _f("serializable", "read-committed | repeatable-read | serializable")
    op_timeout: float = _f(5.0, "seconds before an op is abandoned as indeterminate (info)")
    recovery_timeout: float = _f(60.0, "seconds the cluster may take to recover after the faults")
    # database, workload, fault and provider knobs (--opt KEY=VALUE; harness.options)
    options: dict[str, Any] = field(default_factory=dict)
    name: str = _f("", "test name (default: derived from the spec)")
    inventory: str = _f("", "ssh provider: YAML file of the hosts and how to log in (docs/ssh.md)")

    def __post_init__(self) -> None:
        if not self.mode:
            object.__setattr__(self, "mode", default_mode(self.db))
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
        _one_of("--db", self.db, tuple(registry.DATABASES))
        _one_of("--provider", self.provider, (*registry.PROVIDERS, registry.AUTO))
        if self.provider == "ssh" and not self.inventory:
            raise SpecError("--provider ssh needs --inventory FILE (the hosts and how to log in)")
        if self.inventory and self.provider != "ssh":
            raise SpecError(f"--inventory is for --provider ssh, not {self.provider}")
        _one_of("--workload", self.workload, tuple(registry.WORKLOADS))
        _one_of("--read-from", self.read_from, READ_FROM)
        _one_of("--isolation", self.isolation, ISOLATION)
        for f in self.nemesis:
            _one_of("--nemesis", f, tuple(registry.FAULTS))
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
        if self.schedule:
            self._validate_schedule()
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

    def _validate_schedule(self) -> None:
        from nemesis.steps import parse_steps

        steps = parse_steps(self.schedule)
        for st in steps:
            _one_of("--schedule", st.fault, tuple(registry.FAULTS))
        named = {st.fault for st in steps}
        if named != set(self.nemesis):
            raise SpecError(
                f"--schedule has faults {', '.join(sorted(named))}; --nemesis must name exactly "
                f"those, not {','.join(self.nemesis) or 'none'}"
            )
        last = steps[-1]
        if last.at + last.duration > self.time_limit:
            raise SpecError(
                f"--schedule: {last.fault} at {last.at:g} s lasting {last.duration:g} s ends after "
                f"--time {self.time_limit:g}"
            )

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["nemesis"] = list(self.nemesis)
        d["partition"] = list(self.partition)
        if not self.schedule:  # a spec.json without it stays readable by older versions
            del d["schedule"]
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


def _one_of(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SpecError(f"{flag} {value!r} is not one of: {', '.join(allowed)}")
