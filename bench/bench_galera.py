"""Galera on the local provider: how long the cluster takes to come up, notice a partition,
rejoin after it heals, rejoin after a kill -9 (IST), and go away. Prints figures.

    sudo python bench/bench_galera.py [--subnet 198.18.2.0/24] [--rounds 1]

Needs root, mariadbd and galera-4. Every namespace and process is removed at the end."""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import time
from collections.abc import Callable

import harness.db as dbs
from harness.db.galera import Galera
from harness.providers import local
from harness.spec import TestSpec


def _until(cond: Callable[[], bool], timeout: float = 120) -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - t0


def one_round(subnet: str) -> dict[str, float]:
    spec = TestSpec(db="galera", mode="multi-primary", subnet=subnet, nemesis=(), workload="set")
    db = dbs.get(spec)
    assert isinstance(db, Galera)
    local.preflight(db)
    out: dict[str, float] = {}
    t = time.monotonic()
    cluster = local.create(spec, secrets.token_hex(3))
    try:
        db.setup(cluster)
        out["up_s"] = time.monotonic() - t
        nodes = list(cluster.nodes)
        n = len(nodes)
        victim, others = nodes[-1], nodes[:-1]

        def state(node: str) -> tuple[str, str, str]:
            s = db.status(cluster, node) or {}
            return (
                s.get("wsrep_cluster_status", "?"),
                s.get("wsrep_local_state_comment", "?"),
                s.get("wsrep_cluster_size", "?"),
            )

        def all_synced() -> bool:
            return all(state(x) == ("Primary", "Synced", str(n)) for x in nodes)

        cluster.partition({victim: set(others), **{o: {victim} for o in others}})
        out["partition_noticed_s"] = _until(lambda: state(victim)[0] == "non-Primary")
        out["majority_resized_s"] = out["partition_noticed_s"] + _until(
            lambda: all(state(o)[2] == str(n - 1) for o in others)
        )
        cluster.heal()
        out["rejoin_after_heal_s"] = _until(all_synced)

        cluster.kill(victim)
        _until(lambda: all(state(o)[2] == str(n - 1) for o in others))
        t = time.monotonic()
        db.start(cluster, victim)
        _until(all_synced)
        out["rejoin_after_kill_s"] = time.monotonic() - t
        log = cluster.read_file(victim, cluster.node_dir(victim) / "mariadbd.log")
        restart = log.rsplit("Starting MariaDB", 1)[-1]  # the log of the restarted server
        # rsync's script runs either way; it says "rsync IST completed" when it copied nothing
        out["rejoin_by_ist"] = float(
            "IST received" in restart and "rsync SST completed on joiner" not in restart
        )
    finally:
        t = time.monotonic()
        cluster.teardown()
        out["down_s"] = time.monotonic() - t
        shutil.rmtree(cluster.workdir, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subnet", default="198.18.2.0/24")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    rounds = [one_round(args.subnet) for _ in range(args.rounds)]
    for key in rounds[0]:
        xs = [r[key] for r in rounds]
        extra = f"  (min {min(xs):.2f}, max {max(xs):.2f})" if len(xs) > 1 else ""
        print(f"{key:24s} {statistics.median(xs):7.2f}{extra}")


if __name__ == "__main__":
    main()
