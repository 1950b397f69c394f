"""PostgreSQL replication through the node contract: cloning, failover, and bringing an old
primary back as a replica (pg_rewind, else a fresh base backup).

Failover has no fencing on purpose: the isolated old primary keeps taking writes from the
clients connected to it. That split brain is what the tests observe."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psycopg

from harness.cluster import Cluster
from harness.db.pg_admin import PgAdmin, last_line
from harness.db.pg_config import fmt_lsn
from harness.errors import ClusterError, one_line


class PgReplication(PgAdmin):
    def sync_names(self, cluster: Cluster, primary: str) -> str:
        if self.spec.mode != "sync":
            return ""
        others = [n for n in cluster.nodes if n != primary]
        return f"ANY 1 ({', '.join(others)})" if others else ""

    def set_sync_names(self, cluster: Cluster, primary: str) -> None:
        """Sync mode: name the standbys a (new) primary waits for."""
        if self.spec.mode == "sync":
            self.alter_system(
                cluster, primary, "synchronous_standby_names", self.sync_names(cluster, primary)
            )

    def basebackup(self, cluster: Cluster, node: str, primary: str) -> None:
        """Clone `primary` into the node's PGDATA, as a standby of it."""
        data = self.data_dir(cluster, node)
        self.remove_dir(cluster, node, data)
        self.write_passfile(cluster, node)
        conninfo = self.peer_conninfo(cluster, primary, node)
        self.run_tool(
            cluster,
            node,
            [self.tool(cluster, node, "pg_basebackup"), "-d", conninfo, "-D", data,
             "-R", "-X", "stream", "-c", "fast", "--no-sync"],
            timeout=300,
        )  # fmt: skip
        self.set_conf(cluster, node, {"primary_conninfo": conninfo})

    def stop(self, cluster: Cluster, node: str) -> None:
        if cluster.is_running(node):
            with contextlib.suppress(ClusterError):
                self.run_tool(
                    cluster,
                    node,
                    [self.tool(cluster, node, "pg_ctl"), "stop", "-D",
                     self.data_dir(cluster, node), "-m", "fast", "-w", "-t", "10"],
                    timeout=15,
                )  # fmt: skip
        cluster.kill(node)  # whatever is left (and lets the provider reap the process)

    def rejoin(self, cluster: Cluster, node: str, primary: str) -> dict[str, Any]:
        """Make a (former primary) node a replica of `primary`: stop, pg_rewind (fall back to a
        fresh base backup), standby.signal + primary_conninfo, start, wait until it follows."""
        data = self.data_dir(cluster, node)
        method = ""
        for attempt in ("pg_rewind", "pg_basebackup"):
            self.stop(cluster, node)
            if attempt == "pg_rewind":
                # PG 15's pg_rewind takes the source's timeline from its control file, which a
                # fresh promotion updates only at its next checkpoint: without this it says "no
                # rewind required" and the node cannot follow the new timeline (fixed in PG 16).
                self.query(cluster, primary, "CHECKPOINT", timeout=60)
                self.write_passfile(cluster, node)  # a first primary never had one
                source = self.peer_conninfo(cluster, primary, node)
                r = self.run_tool(
                    cluster,
                    node,
                    [self.tool(cluster, node, "pg_rewind"), "-D", data,
                     f"--source-server={source}", "--no-sync"],
                    timeout=300,
                    check=False,
                )  # fmt: skip
                method = "pg_rewind: " + last_line(r.stderr or r.stdout)
                if r.returncode != 0:
                    continue
            else:
                self.basebackup(cluster, node, primary)
                method = f"pg_basebackup (after {method})"
            cluster.write_file(node, f"{data}/standby.signal", "", user="postgres")
            conninfo = self.peer_conninfo(cluster, primary, node)
            self.set_conf(
                cluster, node, {"primary_conninfo": conninfo, "synchronous_standby_names": ""}
            )
            cluster.start(node)
            try:
                self.wait_ready(cluster, node)
                # streaming *and* replayed up to the primary's position: a replica that cannot
                # follow the timeline shows as streaming for a moment, then restarts forever
                upto = self.current_lsn(cluster, primary)
                self.wait_streaming(cluster, primary, [node], timeout=20, upto=upto)
            except (ClusterError, psycopg.Error) as e:
                if attempt == "pg_basebackup":
                    raise ClusterError(
                        f"{node} could not rejoin {primary}: {one_line(e)}"
                    ) from None
                method += f"; then not following: {one_line(e)}"
                continue
            break
        return {"rejoined": node, "primary": primary, "method": method}

    # -- faults -----------------------------------------------------------------------------
    def failover(self, cluster: Cluster, how: str) -> dict[str, Any]:
        t0 = time.monotonic()
        old, others = self.depose(cluster, how)
        st = {n: s for n, s in self.statuses(cluster, others).items() if s and not s["primary"]}
        if not st:
            raise ClusterError(f"failover: no reachable replica to promote ({old} was {how}d)")
        # most advanced by WAL received (then replayed; then name for determinism)
        new = max(st, key=lambda n: (st[n]["receive"], st[n]["replay"], n))
        ok = self.query(cluster, new, "SELECT pg_promote(true, 25)", timeout=30)[0][0]
        if not ok:
            raise ClusterError(f"failover: {new} did not finish promotion within 25 s")
        repointed = []
        for n in st:
            if n != new:
                with contextlib.suppress(psycopg.Error):
                    self.alter_system(
                        cluster, n, "primary_conninfo", self.peer_conninfo(cluster, new, n)
                    )
                    repointed.append(n)
        self.set_sync_names(cluster, new)
        return {
            "how": how,
            "old_primary": old,
            "new_primary": new,
            "lsns": {
                n: {"receive": fmt_lsn(s["receive"]), "replay": fmt_lsn(s["replay"])}
                for n, s in st.items()
            },
            "repointed": repointed,
            "duration_s": round(time.monotonic() - t0, 3),
        }

    def end_failover(self, cluster: Cluster, state: dict[str, Any]) -> dict[str, Any]:
        t0 = time.monotonic()
        cluster.heal()
        old, new = state.get("old_primary"), state.get("new_primary")
        if not old or not new:
            return {"healed": True}
        out = self.rejoin(cluster, old, new)
        out["duration_s"] = round(time.monotonic() - t0, 3)
        return out

    def start(self, cluster: Cluster, node: str) -> None:
        """Bring a killed node back as it was, or as a replica if another node was promoted."""
        if cluster.is_running(node):
            return
        others = self.primaries(cluster, [n for n in cluster.nodes if n != node])
        standby = cluster.exists(node, f"{self.data_dir(cluster, node)}/standby.signal")
        if not standby and others:
            self.rejoin(cluster, node, others[0])
            return
        if standby and others:
            self.set_conf(
                cluster, node, {"primary_conninfo": self.peer_conninfo(cluster, others[0], node)}
            )
        cluster.start(node)
        self.wait_ready(cluster, node)

    def recover(self, cluster: Cluster, timeout: float) -> dict[str, Any]:
        t0 = time.monotonic()
        deadline = t0 + timeout
        out: dict[str, Any] = {"restarted": [], "rejoined": [], "promoted": None, "repointed": []}
        self.restart_stopped(cluster, out)
        stuck: dict[str, tuple[float, int]] = {}  # node -> (since, replay LSN seen)
        no_primary_since: float | None = None
        while True:
            now = time.monotonic()
            if now > deadline:
                raise ClusterError(
                    f"postgres did not recover within {timeout:g} s: {out.get('last', 'no status')}"
                )
            st = self.statuses(cluster)
            prims = sorted(
                (s for s in st.values() if s and s["primary"]),
                key=lambda s: (s["timeline"], s["lsn"]),
                reverse=True,
            )
            if not prims:
                out["last"] = "no primary"
                no_primary_since = no_primary_since or now
                reps = {n: s for n, s in st.items() if s}
                if now - no_primary_since > 5 and reps:
                    new = max(reps, key=lambda n: (reps[n]["receive"], reps[n]["replay"], n))
                    self.query(cluster, new, "SELECT pg_promote(true, 25)", timeout=30)
                    self.set_sync_names(cluster, new)
                    out["promoted"] = new
                time.sleep(0.3)
                continue
            primary = prims[0]["node"]
            for s in prims[1:]:  # split brain left over: the newest timeline wins
                out["rejoined"].append(self.rejoin(cluster, s["node"], primary))
            if len(prims) > 1:
                continue
            addr = cluster.peer_address(primary)  # what primary_conninfo names
            for n, sn in st.items():
                if sn and not sn["primary"] and sn["upstream"] != addr:
                    with contextlib.suppress(psycopg.Error):
                        self.alter_system(
                            cluster, n, "primary_conninfo", self.peer_conninfo(cluster, primary, n)
                        )
                        out["repointed"].append(n)
            replicas = [n for n in cluster.nodes if n != primary]
            try:
                target = self.current_lsn(cluster, primary, timeout=5)
                rep = self.replication(cluster, primary)
            except psycopg.Error as e:
                out["last"] = f"primary {primary}: {one_line(e)}"
                time.sleep(0.3)
                continue
            behind = [
                n for n in replicas if rep.get(n, ("", -1))[0] != "streaming" or rep[n][1] < target
            ]
            if not behind:
                out.update(
                    primary=primary,
                    timeline=prims[0]["timeline"],
                    lsn=fmt_lsn(target),
                    replicas={
                        n: {"state": rep[n][0], "replay_lsn": fmt_lsn(rep[n][1])} for n in replicas
                    },
                    duration_s=round(time.monotonic() - t0, 2),
                )
                out.pop("last", None)
                return out
            out["last"] = f"primary {primary}; behind: " + ", ".join(
                f"{n} ({rep.get(n, ('absent', -1))[0]})" for n in behind
            )
            for n in behind:
                # no progress for 10 s with no load: it cannot follow (e.g. it has WAL the
                # primary lacks, or sits on an abandoned timeline): rewind it
                sn = st.get(n)
                pos = sn["replay"] if sn and not sn["primary"] else -1
                since, seen = stuck.get(n, (now, -2))
                if pos != seen:
                    stuck[n] = (now, pos)
                elif now - since > 10 and sn is not None:
                    stuck.pop(n, None)
                    out["rejoined"].append(self.rejoin(cluster, n, primary))
            time.sleep(0.2)
