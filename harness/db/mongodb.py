"""MongoDB: a three-member replica set (primary-replica), compose provider only.

Modes are the write concern: `w1` (acknowledged by the primary alone) or `majority`.
Knobs (spec.options):
- read_concern: local | majority | linearizable | snapshot
  (default: local for w1, majority for majority)
- read_preference: primary | secondary (default from --read-from: primary -> primary,
  replica -> secondary, any -> the client's own member whatever its role)
- write_concern: 1 | majority, an alternative spelling of --mode that must agree with it.
Known answers (docs/compose.md): w1 with the primary isolated and replaced loses acknowledged
writes (rolled back); majority + linearizable loses none and reads are linearizable;
read_preference=secondary reads stale data.

Failover: kill or isolate the primary; the set elects a new primary by itself
(electionTimeoutMillis=2000 in compose/mongodb/initiate.js); end_failover restarts or heals
the old primary, which rolls back what the majority never saw and rejoins as a secondary.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from harness.cluster import Cluster
from harness.db import Database
from harness.errors import ClusterError, SpecError

WRITE_CONCERNS: dict[str, int | str] = {"w1": 1, "majority": "majority"}
READ_CONCERNS = ("local", "majority", "linearizable", "snapshot")
READ_PREFERENCES = ("primary", "secondary")
_FROM_READ_FROM = {"primary": "primary", "replica": "secondary", "any": "any"}


class MongoDB(Database):
    name = "mongodb"
    topology = "primary-replica"
    modes = ("w1", "majority")
    providers = ("compose",)
    workloads = ("set", "register", "append")
    faults = ("partition", "kill", "pause", "failover")

    def validate(self) -> None:
        super().validate()
        if self.spec.provider == "local":
            raise SpecError(
                "--db mongodb runs only with --provider compose (or auto): it needs Docker"
            )
        self.knobs()

    def knobs(self) -> Any:
        from harness.db.mongodb_clients import Knobs

        s = self.spec
        w = WRITE_CONCERNS[s.mode]
        given = s.option("write_concern")
        if given is not None and str(given) != str(w):
            raise SpecError(
                f"option write_concern={given} disagrees with --mode {s.mode} (write concern {w})"
            )
        rc = str(s.option("read_concern", "local" if w == 1 else "majority"))
        if rc not in READ_CONCERNS:
            raise SpecError(f"option read_concern={rc!r} is not one of: {', '.join(READ_CONCERNS)}")
        rp = s.option("read_preference")
        if rp is not None and rp not in READ_PREFERENCES:
            raise SpecError(
                f"option read_preference={rp!r} is not one of: {', '.join(READ_PREFERENCES)}"
            )
        pref = rp or _FROM_READ_FROM[s.read_from]
        if rc == "linearizable" and pref != "primary":
            raise SpecError(
                "option read_concern=linearizable needs read_preference=primary (MongoDB serves it only there)"
            )
        if s.workload == "append" and pref != "primary":
            raise SpecError(
                "--workload append runs transactions, which MongoDB serves only on the primary: use read_preference=primary"
            )
        return Knobs(
            w=w, read_concern=rc, read_preference=pref, timeout_ms=int(s.op_timeout * 1000)
        )

    def required_binaries(self) -> list[tuple[str, str]]:
        return []  # everything runs in the mongo image

    # -- lifecycle ------------------------------------------------------------------------

    def setup(self, cluster: Cluster) -> None:
        """compose up --wait already initiated the set; make the collections and indexes."""
        from harness.db.mongodb_clients import connect

        primary = self._wait_primary(cluster, max(60.0, self.spec.recovery_timeout))
        c = connect(cluster, primary, 10_000, w="majority")
        try:
            db = c["splitbrain"]
            existing = set(db.list_collection_names())
            for name in ("set", "registers", "lists"):
                if name not in existing:
                    db.create_collection(name)
            db["set"].create_index("k")
        finally:
            c.close()

    def _wait_primary(self, cluster: Cluster, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            p = self.primary(cluster)
            if p is not None:
                return p
            if time.monotonic() > deadline:
                raise ClusterError(f"mongodb: no primary elected within {timeout:g} s")
            time.sleep(0.5)

    def primary(self, cluster: Cluster) -> str | None:
        from harness.db.mongodb_clients import hello_all, pick_primary

        return pick_primary(hello_all(cluster))

    def failover(self, cluster: Cluster, how: str) -> dict[str, Any]:
        if how not in ("isolate", "kill"):
            raise ClusterError(f"failover how={how!r}: expected isolate or kill")
        old = self.primary(cluster)
        if old is None:
            raise ClusterError("failover: no primary found")
        others = [n for n in cluster.nodes if n != old]
        if how == "isolate":
            cluster.partition({old: set(others), **{n: {old} for n in others}})
        else:
            cluster.kill(old)
        # No promotion step: the remaining majority elects a new primary by itself.
        return {"how": how, "old_primary": old}

    def end_failover(self, cluster: Cluster, state: dict[str, Any]) -> dict[str, Any]:
        old = state.get("old_primary")
        if state.get("how") == "kill" and old and not cluster.is_running(old):
            cluster.start(old)
        else:
            cluster.heal()
        return {"rejoining": old, "primary": self.primary(cluster)}

    def recover(self, cluster: Cluster, timeout: float) -> dict[str, Any]:
        """Start dead members, then wait until one primary, every member PRIMARY/SECONDARY
        and every secondary's applied optime equal to the primary's."""
        from harness.db.mongodb_clients import connect

        t0 = time.monotonic()
        restarted = [n for n in cluster.nodes if not cluster.is_running(n)]
        for n in restarted:
            cluster.start(n)
        last = "no status"
        while time.monotonic() - t0 < timeout:
            p = self.primary(cluster)
            if p is None:
                last = "no primary"
            else:
                c = connect(cluster, p, 3000)
                try:
                    st = c.admin.command("replSetGetStatus")
                except Exception as e:  # noqa: BLE001 - any failure means: not yet
                    last = f"replSetGetStatus on {p}: {e}"
                else:
                    members = {m["name"].split(":")[0]: m for m in st["members"]}
                    states = {n: m["stateStr"] for n, m in members.items()}
                    op = {n: m.get("optime", {}).get("ts") for n, m in members.items()}
                    if (
                        all(s in ("PRIMARY", "SECONDARY") for s in states.values())
                        and len(set(op.values())) == 1
                    ):
                        return {
                            "primary": p,
                            "states": states,
                            "restarted": restarted,
                            "duration_s": round(time.monotonic() - t0, 3),
                        }
                    last = f"states {states}"
                finally:
                    c.close()
            time.sleep(0.5)
        raise ClusterError(f"mongodb did not recover within {timeout:g} s: {last}")

    # -- clients --------------------------------------------------------------------------

    def client(self, cluster: Cluster, process: int, node: str | None = None) -> Any:
        from harness.db import mongodb_clients as mc

        kinds = {"set": mc.SetClient, "register": mc.RegisterClient, "append": mc.AppendClient}
        node = node or cluster.nodes[process % len(cluster.nodes)]
        return kinds[self.spec.workload](cluster, self.knobs(), node)

    def classify(self, exc: BaseException) -> Literal["fail", "info"]:
        from harness.db.mongodb_clients import classify

        return classify(exc)
