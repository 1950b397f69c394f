"""Hunt the open PostgreSQL SERIALIZABLE G2-item (docs/postgres-g2.md): seeded list-append
runs on a healthy 3-node cluster, all transactions on the primary, with the server tracing
every statement (`--opt trace_transactions=true`) and the primary's commit records read from
its WAL (pg_waldump) before teardown. Prints one line per run (anomalies, ok txns) and, for
every cycle found, each transaction as the server saw it: its backend, xid, first statement,
COMMIT and whether an error followed it, and its commit record's position and time.

    sudo python3 bench/pg_g2_hunt.py --runs 10 --concurrency 10 --keys 3 [--load 2] [--trace]

Run on the local provider, one cluster at a time. `--load N` runs N CPU-bound processes beside
the cluster (a loaded machine, as CI's), stopped by their pids at the end of each run.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.history import load  # noqa: E402
from harness.providers.local import LocalCluster  # noqa: E402
from harness.runner import run  # noqa: E402
from harness.spec import TestSpec  # noqa: E402

WALDUMP = "/usr/lib/postgresql/15/bin/pg_waldump"
LINE = re.compile(
    r"^(?P<ts>\S+ \S+) \S+ \[(?P<pid>\d+)\] x=(?P<xid>\d+) v=(?P<vxid>\S*) (?P<rest>.*)$"
)
COMMIT_REC = re.compile(r"tx:\s+(\d+), lsn: ([0-9A-F]+/[0-9A-F]+).*desc: COMMIT (\S+ \S+)")


def _waldump_before_teardown() -> None:
    """The primary's commit records, written into its node dir (collected with the logs)."""
    original = LocalCluster.collect_logs

    def collect(self: LocalCluster, dest: Path) -> None:
        node = self.nodes[0]
        wal = f"{self.node_dir(node)}/data/pg_wal"
        out = f"{self.node_dir(node)}/waldump.log"
        self.exec(
            node,
            # from the first segment to the last: given one, pg_waldump reads that one only
            ["sh", "-c", f'segs=$(ls {wal} | grep -E "^[0-9A-F]{{24}}$"); '
             f'first=$(echo "$segs" | head -1); last=$(echo "$segs" | tail -1); '
             f'{WALDUMP} -r Transaction -p {wal} "$first" "$last" > {out} 2>&1; true'],
            user="postgres",
            timeout=120,
        )  # fmt: skip
        original(self, dest)

    LocalCluster.collect_logs = collect  # type: ignore[method-assign]


def parse_log(path: Path) -> list[dict[str, Any]]:
    """Statement, detail and error lines of postgres.log, with their backend and xid."""
    out: list[dict[str, Any]] = []
    for n, raw in enumerate(path.read_text(errors="replace").splitlines()):
        m = LINE.match(raw)
        if m is None:
            continue
        rest = m["rest"]
        kind = next((k for k in ("LOG:", "DETAIL:", "ERROR:", "STATEMENT:") if k in rest), None)
        if kind is None:
            continue
        out.append(
            {
                "n": n,
                "ts": m["ts"],
                "pid": int(m["pid"]),
                "xid": int(m["xid"]),
                "kind": kind[:-1],
                "text": rest.split(kind, 1)[1].strip(),
            }
        )
    return out


def by_backend(lines: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Each backend's statements in order, a DETAIL's parameters joined to its statement."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ln in lines:
        mine = out[ln["pid"]]
        if ln["kind"] == "DETAIL" and mine and ln["text"].startswith("parameters:"):
            mine[-1]["params"] = dict(re.findall(r"\$(\d+) = '([^']*)'", ln["text"]))
        elif ln["kind"] in ("LOG", "ERROR"):
            mine.append(dict(ln))
    return out


def server_txns(stmts: dict[int, list[dict[str, Any]]]) -> dict[tuple[int, int], dict[str, Any]]:
    """(key, value) appended -> the server's transaction that ran that INSERT: backend, the
    BEGIN..COMMIT span, the xid at COMMIT, and any ERROR after the COMMIT statement."""
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for pid, seq in stmts.items():
        begin = None
        appends: list[tuple[int, int]] = []
        first = None
        for i, s in enumerate(seq):
            text = s["text"]
            if s["kind"] == "LOG" and "BEGIN" in text.upper():
                begin, appends, first = s, [], None
                continue
            if s["kind"] == "LOG" and first is None and ("execute" in text or "statement" in text):
                first = s
            if s["kind"] == "LOG" and "INSERT INTO lists" in text and "params" in s:
                p = s["params"]
                appends.append((int(p["1"]), int(p["2"])))
            if s["kind"] == "LOG" and text.endswith(("COMMIT", "ROLLBACK")):
                nxt = seq[i + 1] if i + 1 < len(seq) else None
                error = nxt["text"] if nxt is not None and nxt["kind"] == "ERROR" else None
                info = {
                    "pid": pid,
                    "begin_line": begin["n"] if begin else None,
                    "first_line": first["n"] if first else None,
                    "first_ts": first["ts"] if first else None,
                    "end": text.rsplit(" ", 1)[-1],
                    "end_line": s["n"],
                    "end_ts": s["ts"],
                    "xid": s["xid"],
                    "error_after_end": error,
                }
                for a in appends:
                    out[a] = info
                begin, appends, first = None, [], None
    return out


def commit_records(path: Path) -> dict[int, tuple[str, str, int]]:
    """xid -> (lsn, time, position among commit records) from pg_waldump's output."""
    out = {}
    if not path.exists():
        return out
    for i, m in enumerate(COMMIT_REC.finditer(path.read_text(errors="replace"))):
        out[int(m[1])] = (m[2], m[3], i)
    return out


def audit(run_dir: Path) -> dict[str, Any]:
    """Every client transaction with an append, as the history says it ended, against the
    server: an `ok` must have run COMMIT with no error after it and have a commit record in
    the WAL; a `fail` must have none. The harness's record of outcomes, checked whole."""
    logs = run_dir / "logs" / "n1"
    log = next(iter(sorted(logs.glob("postgres*.log"))), None) if logs.exists() else None
    if log is None:
        return {"error": "no server log"}
    txns = server_txns(by_backend(parse_log(log)))
    commits = commit_records(logs / "waldump.log")
    out: dict[str, int] = defaultdict(int)
    invoked: dict[Any, Any] = {}
    for op in load(run_dir):
        if op.f != "txn":
            continue
        if op.type == "invoke":
            invoked[op.process] = op
            continue
        appends = [(k, v) for f, k, v in invoked[op.process].value if f == "append"]
        if not appends:
            continue
        info = next((txns[a] for a in appends if a in txns), None)
        if info is None:
            # a txn whose first append never ran (e.g. a deadlock on an earlier statement)
            out[f"{op.type}: no append reached the server"] += 1
            continue
        said = info["end"] == "COMMIT" and info["error_after_end"] is None
        record = info["xid"] in commits
        word = {(True, True): "committed", (False, False): "not committed"}.get(
            (said, record),
            f"COMMIT {'ok' if said else 'refused'} but commit record "
            f"{'present' if record else 'absent'}",
        )
        out[f"{op.type}: {word}"] += 1
    out["commit records"] = len(commits)
    return dict(out)


def explain(run_dir: Path, anomaly: dict[str, Any]) -> list[str]:
    logs = run_dir / "logs" / "n1"
    log = next(iter(sorted(logs.glob("postgres*.log"))), None) if logs.exists() else None
    if log is None:
        return ["  (no server log)"]
    txns = server_txns(by_backend(parse_log(log)))
    commits = commit_records(logs / "waldump.log")
    history = {op.index: op for op in load(run_dir)}
    lines = []
    for step in anomaly["data"]["cycle"]:
        op = history[step["op"]]
        appends = [(k, v) for f, k, v in op.value if f == "append"]
        info = next((txns[a] for a in appends if a in txns), None)
        if info is None:
            lines.append(f"  op {op.index} {op.value}: no server transaction found (read-only?)")
            continue
        rec = commits.get(info["xid"])
        lines.append(
            f"  op {op.index} -{step['edge']}-> op {step['to']}: backend {info['pid']} xid "
            f"{info['xid']} first stmt {info['first_ts']} (line {info['first_line']}), "
            f"{info['end']} at {info['end_ts']} (line {info['end_line']}), error after: "
            f"{info['error_after_end']}; commit record "
            + (f"#{rec[2]} at {rec[0]} {rec[1]}" if rec else "NOT IN WAL")
        )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--keys", type=int, default=3)
    ap.add_argument("--time", type=float, default=15)
    ap.add_argument("--load", type=int, default=0, help="CPU-bound processes beside the cluster")
    ap.add_argument("--trace", action="store_true", help="server-side statement log + WAL")
    ap.add_argument("--results", default="/tmp/pg-g2-hunt")
    ap.add_argument("--out", default="", help="append one JSON line per run here")
    a = ap.parse_args()
    if a.trace:
        _waldump_before_teardown()
    found = 0
    for seed in range(a.first_seed, a.first_seed + a.runs):
        options: dict[str, Any] = {"keys": a.keys}
        if a.trace:
            options["trace_transactions"] = True
        spec = TestSpec(
            db="postgres", mode="async", workload="append", isolation="serializable",
            nemesis=(), concurrency=a.concurrency, seed=seed, time_limit=a.time,
            op_timeout=5, recovery_timeout=60, subnet="198.18.3.0/24", options=options,
        )  # fmt: skip
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.load)]
        try:
            t = time.monotonic()
            result = run(spec, Path(a.results), echo=lambda s: None, progress=False)
        finally:
            for h in hogs:
                h.kill()
                h.wait()
        doc = json.loads((result.dir / "verdict.json").read_text())
        la = doc["checkers"]["list-append"]
        found += bool(la["counts"])
        print(
            f"seed {seed} c={a.concurrency} keys={a.keys} load={a.load} trace={a.trace}: "
            f"ok {la['stats']['ok']} fail {la['stats']['fail']} counts {la['counts']} "
            f"({time.monotonic() - t:.0f} s) {result.dir}",
            flush=True,
        )
        if a.out:
            with open(a.out, "a") as f:
                row = {"seed": seed, "concurrency": a.concurrency, "keys": a.keys,
                       "load": a.load, "trace": a.trace, "ok": la["stats"]["ok"],
                       "fail": la["stats"]["fail"], "counts": la["counts"],
                       "dir": str(result.dir)}  # fmt: skip
                f.write(json.dumps(row) + "\n")
        if a.trace:
            print(f" server audit: {audit(result.dir)}", flush=True)
        for an in la["anomalies"]:
            print(f" {an['type']} ops {an['ops']}: {an['explanation']}")
            if a.trace:
                print("\n".join(explain(result.dir, an)), flush=True)
    print(f"{found} of {a.runs} runs had an anomaly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
