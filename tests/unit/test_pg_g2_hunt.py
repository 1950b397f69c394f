"""bench/pg_g2_hunt.py's reading of a traced PostgreSQL log and of pg_waldump's output: which
server transaction ran each append, how it ended, and its commit record."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("pg_g2_hunt", ROOT / "bench" / "pg_g2_hunt.py")
assert spec is not None and spec.loader is not None
hunt = importlib.util.module_from_spec(spec)
sys.modules["pg_g2_hunt"] = hunt
spec.loader.exec_module(hunt)

P = "2026-12-06 06:50:00.{ms:03d} UTC [{pid}] x={xid} v=3/{pid} splitbrain-1 "
LOG = "\n".join(
    [
        P.format(ms=1, pid=101, xid=0) + "LOG:  statement: BEGIN ISOLATION LEVEL SERIALIZABLE",
        P.format(ms=2, pid=101, xid=0) + "LOG:  execute <unnamed>: INSERT INTO lists (k, v) "
        "VALUES ($1, ARRAY[$2]::int[]) ON CONFLICT (k) DO UPDATE SET v = lists.v || EXCLUDED.v",
        P.format(ms=2, pid=101, xid=0) + "DETAIL:  parameters: $1 = '212', $2 = '20'",
        P.format(ms=3, pid=102, xid=0) + "LOG:  statement: BEGIN ISOLATION LEVEL SERIALIZABLE",
        P.format(ms=4, pid=102, xid=0) + "LOG:  execute _pg3_0: INSERT INTO lists (k, v) "
        "VALUES ($1, ARRAY[$2]::int[]) ON CONFLICT (k) DO UPDATE SET v = lists.v || EXCLUDED.v",
        P.format(ms=4, pid=102, xid=0) + "DETAIL:  parameters: $1 = '213', $2 = '13'",
        P.format(ms=5, pid=101, xid=777)
        + "LOG:  execute <unnamed>: SELECT v FROM lists WHERE k = $1",
        P.format(ms=5, pid=101, xid=777) + "DETAIL:  parameters: $1 = '213'",
        P.format(ms=6, pid=101, xid=777) + "LOG:  statement: COMMIT",
        P.format(ms=7, pid=102, xid=778) + "LOG:  statement: COMMIT",
        P.format(ms=7, pid=102, xid=778) + "ERROR:  could not serialize access due to read/write "
        "dependencies among transactions",
        P.format(ms=7, pid=102, xid=778) + "STATEMENT:  COMMIT",
    ]
)
WAL = (
    "rmgr: Transaction len (rec/tot):     34/    34, tx:        777, lsn: 0/0301A2B8, "
    "prev 0/0301A280, desc: COMMIT 2026-12-06 06:50:00.006123 UTC\n"
)


def test_each_append_is_tied_to_its_server_transaction_and_how_it_ended(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text(LOG + "\n")
    txns = hunt.server_txns(hunt.by_backend(hunt.parse_log(log)))
    t1, t2 = txns[(212, 20)], txns[(213, 13)]
    assert t1["pid"] == 101 and t1["xid"] == 777 and t1["end"] == "COMMIT"
    assert t1["error_after_end"] is None and t1["first_ts"].endswith("00.002")
    assert t2["pid"] == 102 and t2["xid"] == 778
    assert t2["error_after_end"].startswith("could not serialize access")


def test_commit_records_from_waldump(tmp_path: Path) -> None:
    (tmp_path / "waldump.log").write_text(WAL)
    recs = hunt.commit_records(tmp_path / "waldump.log")
    assert recs == {777: ("0/0301A2B8", "2026-12-06 06:50:00.006123", 0)}
    assert hunt.commit_records(tmp_path / "missing.log") == {}
