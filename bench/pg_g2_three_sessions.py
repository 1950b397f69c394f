"""The open SERIALIZABLE G2-item of docs/postgres-g2.md, outside the harness: three sessions
against a fresh PostgreSQL 15 (initdb in a temporary directory, unix socket only), running
the 2026-12-02 CI case's transactions in the orders its edges allow, with the table and
statements the harness uses. For each order it prints which transactions committed; a
correct SSI aborts at least one of the three in every order.

    sudo python3 bench/pg_g2_three_sessions.py [--bin /usr/lib/postgresql/15/bin]

The cycle: T1 -rw-> T2 (T1 read key 213 without T2's append of 13), T2 -rw-> T3 (T2 read key
211 without T3's appends 28, 29), T3 -ww-> T1 (T1 appended 20 to key 212 right after T3's 15).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import IsolationLevel

APPEND = (
    "INSERT INTO lists (k, v) VALUES (%s, ARRAY[%s]::int[])"
    " ON CONFLICT (k) DO UPDATE SET v = lists.v || EXCLUDED.v"
)
READ = "SELECT v FROM lists WHERE k = %s"
# the transactions as the history recorded them (micro-ops in order)
TXNS = {
    "T1": [("append", 212, 20), ("r", 213)],
    "T2": [("append", 213, 13), ("r", 211), ("r", 213)],
    "T3": [("append", 211, 28), ("append", 212, 15), ("r", 212), ("r", 212), ("append", 211, 29)],
}
START = {211: [12, 16, 24], 212: [6, 10], 213: [1, 2, 5]}


@contextlib.contextmanager
def fresh_server(bindir: str) -> Iterator[str]:
    """initdb + postgres as the postgres user on a unix socket in a temporary directory."""
    pw = pwd.getpwnam("postgres")
    root = tempfile.mkdtemp(prefix="pg-g2-")
    os.chown(root, pw.pw_uid, pw.pw_gid)
    data = f"{root}/data"

    def as_pg(argv: list[str], **kw: Any) -> Any:
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, **kw)

    proc = None
    try:
        as_pg([f"{bindir}/initdb", "-D", data, "-A", "trust", "--no-sync"], capture_output=True)
        proc = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", f"{bindir}/postgres", "-D", data,
             "-c", "listen_addresses=", "-c", f"unix_socket_directories={root}",
             "-c", "deadlock_timeout=50ms", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        dsn = f"host={root} user=postgres dbname=postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(dsn).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield dsn
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def reset(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS lists")
        c.execute("CREATE TABLE lists (k int PRIMARY KEY, v int[] NOT NULL)")
        for k, v in START.items():
            c.execute("INSERT INTO lists VALUES (%s, %s)", (k, v))


def run_order(dsn: str, order: list[tuple[str, int]]) -> dict[str, str]:
    """order: (txn, step) pairs; step len(ops) is COMMIT. A session whose statement fails is
    rolled back and skips its remaining steps. Returns txn -> committed | error."""
    reset(dsn)
    conns = {}
    for t in TXNS:
        c = psycopg.connect(dsn)
        c.isolation_level = IsolationLevel.SERIALIZABLE
        conns[t] = c
    out: dict[str, str] = {}
    seen: dict[str, list[Any]] = {t: [] for t in TXNS}
    try:
        for t, i in order:
            if t in out:
                continue
            c = conns[t]
            try:
                if i == len(TXNS[t]):
                    c.commit()
                    out[t] = "committed"
                    continue
                op = TXNS[t][i]
                if op[0] == "append":
                    c.execute(APPEND, (op[1], op[2]))
                else:
                    row = c.execute(READ, (op[1],)).fetchone()
                    seen[t].append((op[1], row[0] if row else None))
            except psycopg.Error as e:
                out[t] = f"{type(e).__name__}: {str(e).splitlines()[0]}"
                c.rollback()
    finally:
        for c in conns.values():
            c.close()
    return {t: out.get(t, "?") + (f" read {seen[t]}" if seen[t] else "") for t in TXNS}


def orders() -> Iterator[list[tuple[str, int]]]:
    """Interleavings the edges allow, each session's steps in order and its COMMIT last:
    T2 starts (its append) before T3 commits; T3 commits before T1 starts; T2's read of 211
    after T2 started; T2 commits after T1 started (T1 did not see 13); T1 commits last."""
    t3 = [("T3", i) for i in range(len(TXNS["T3"]) + 1)]
    t1 = [("T1", i) for i in range(len(TXNS["T1"]) + 1)]
    t2_rest = [("T2", i) for i in range(1, len(TXNS["T2"]))]
    # where T2's two reads go: before T3's commit, between T3's commit and T1's start, or
    # among T1's statements (before its commit); T2 commits before or after T1's read
    for split in itertools.product(range(3), repeat=len(t2_rest)):
        if list(split) != sorted(split):
            continue
        before = [s for s, w in zip(t2_rest, split, strict=True) if w == 0]
        middle = [s for s, w in zip(t2_rest, split, strict=True) if w == 1]
        during = [s for s, w in zip(t2_rest, split, strict=True) if w == 2]
        for commit_first in (True, False):
            tail = [t1[0], *during]
            if commit_first:  # T2 commits between T1's append and T1's read
                tail += [("T2", len(TXNS["T2"])), *t1[1:]]
            else:  # T2 commits after T1's read, before T1's commit
                tail += [t1[1], ("T2", len(TXNS["T2"])), t1[2]]
            yield [("T2", 0), *before, *t3, *middle, *tail]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="/usr/lib/postgresql/15/bin")
    a = ap.parse_args()
    version = subprocess.run(
        [f"{a.bin}/postgres", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(version)
    all_committed = 0
    with fresh_server(a.bin) as dsn:
        for n, order in enumerate(orders(), start=1):
            result = run_order(dsn, order)
            ok = all(v.startswith("committed") for v in result.values())
            all_committed += ok
            shown = " ".join(f"{t}{i if i < len(TXNS[t]) else 'C'}" for t, i in order)
            print(f"order {n}: {shown}")
            for t, r in result.items():
                print(f"  {t}: {r}")
            if ok:
                print("  ALL THREE COMMITTED: the cycle SSI should prevent")
    print(f"{all_committed} order(s) committed all three")
    return 1 if all_committed else 0


if __name__ == "__main__":
    sys.exit(main())
