"""Apache Cassandra: a three-node ring (peer-to-peer), keyspace RF=3, compose provider only.

Modes are the consistency level of reads and writes: quorum (default) | one | all.
Knobs (spec.options):
- lwt: true -> register writes and cas are lightweight transactions (IF ...), reads at SERIAL.
- clock_skew_ms: each client process gets a fixed clock offset in [-skew, +skew] ms for its
  client-side write timestamps (0 = none), to show last-write-wins losses.
Known answers (docs/compose.md): plain writes with skewed client clocks lose acknowledged
writes to last-write-wins (conflicts workload); the LWT register at SERIAL is linearizable in a
healthy cluster. There is no primary, hence no failover fault.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from harness.cluster import Cluster
from harness.db import Database
from harness.errors import ClusterError, SpecError


class Cassandra(Database):
    name = "cassandra"
    topology = "peer-to-peer"
    modes = ("quorum", "one", "all")  # the first is the CLI default
    providers = ("compose",)
    workloads = ("set", "register", "counter", "conflicts")
    faults = ("partition", "kill", "pause")

    def validate(self) -> None:
        super().validate()
        if self.spec.provider == "local":
            raise SpecError(
                "--db cassandra runs only with --provider compose (or auto): it needs Docker"
            )
        self.knobs()

    def knobs(self) -> Any:
        from harness.db.cassandra_clients import Knobs

        s = self.spec
        lwt = s.option("lwt", False)
        if isinstance(lwt, str):
            if lwt.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise SpecError(f"option lwt={lwt!r} must be true or false")
            lwt = lwt.lower() in ("true", "1", "yes")
        skew = s.option("clock_skew_ms", 0)
        try:
            skew = float(skew)
        except (TypeError, ValueError):
            raise SpecError(
                f"option clock_skew_ms={skew!r} must be a number of milliseconds"
            ) from None
        if skew < 0:
            raise SpecError(f"option clock_skew_ms must be >= 0, got {skew:g}")
        if lwt and s.workload != "register":
            raise SpecError(f"option lwt=true applies to --workload register, not {s.workload}")
        return Knobs(s.mode, bool(lwt), skew, s.seed, float(s.op_timeout))

    def required_binaries(self) -> list[tuple[str, str]]:
        return []  # everything runs in the cassandra image

    def setup(self, cluster: Cluster) -> None:
        """compose up --wait already joined the ring; create the keyspace and tables."""
        from harness.db.cassandra_clients import SCHEMA, connect

        knobs = self.knobs()
        deadline = time.monotonic() + max(60.0, self.spec.recovery_timeout)
        while True:
            try:
                dc, session = connect(cluster, cluster.nodes[0], knobs, keyspace=None)
                break
            except Exception as e:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise ClusterError(f"cassandra: cannot connect to n1: {e}") from None
                time.sleep(2)
        try:
            for stmt in SCHEMA:
                session.execute(stmt, timeout=60)  # the driver waits for schema agreement
        finally:
            dc.shutdown()

    def recover(self, cluster: Cluster, timeout: float) -> dict[str, Any]:
        """Start dead nodes, then wait until a full scan at consistency ALL succeeds through
        every node: all replicas up and reachable from every coordinator."""
        from harness.db.cassandra_clients import connect

        t0 = time.monotonic()
        restarted = [n for n in cluster.nodes if not cluster.is_running(n)]
        for n in restarted:
            cluster.start(n)
        knobs = self.knobs()
        pending = list(cluster.nodes)
        last = ""
        while pending and time.monotonic() - t0 < timeout:
            node = pending[0]
            try:
                dc, session = connect(cluster, node, knobs)
                try:
                    from cassandra import ConsistencyLevel
                    from cassandra.query import SimpleStatement

                    q = SimpleStatement(
                        "SELECT k FROM registers", consistency_level=ConsistencyLevel.ALL
                    )
                    session.execute(q, timeout=10)
                finally:
                    dc.shutdown()
                pending.pop(0)
            except Exception as e:  # noqa: BLE001 - any failure means: not yet
                last = f"{node}: {type(e).__name__}: {e}"
                time.sleep(1)
        if pending:
            raise ClusterError(f"cassandra did not recover within {timeout:g} s: {last}")
        return {"restarted": restarted, "duration_s": round(time.monotonic() - t0, 3)}

    def client(self, cluster: Cluster, process: int, node: str | None = None) -> Any:
        from harness.db import cassandra_clients as cc

        kinds = {
            "set": cc.SetClient,
            "register": cc.RegisterClient,
            "counter": cc.CounterClient,
            "conflicts": cc.ConflictsClient,
        }
        node = node or cluster.nodes[process % len(cluster.nodes)]
        return kinds[self.spec.workload](cluster, self.knobs(), node, process)

    def classify(self, exc: BaseException) -> Literal["fail", "info"]:
        from harness.db.cassandra_clients import classify

        return classify(exc)
