"""summary.txt of a run: the verdict in a few lines a person reads first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.spec import TestSpec

WORD = {True: "VALID", False: "INVALID", "unknown": "UNKNOWN"}


def summary(spec: TestSpec, doc: dict[str, Any], run_dir: Path) -> str:
    run = doc["run"]
    from harness.report.results import mode_label

    mode = mode_label(spec.to_dict())
    lines = [
        f"{spec.name}  ({spec.db} {run['topology']}, mode {mode}, provider {spec.provider}, "
        f"seed {spec.seed})",
        f"ops: ok {run['ops']['ok']}, fail {run['ops']['fail']}, info {run['ops']['info']} "
        f"in {run['duration_s']} s (setup {run.get('setup_s', '?')} s)",
    ]
    for reason in run.get("unknown_because", []):
        lines.append(f"UNKNOWN: {reason}")
    for e in run.get("nemesis_events", []):
        what = {k: v for k, v in e.items() if k not in ("f", "at_s", "at_ns", "fault")}
        lines.append(f"nemesis saw {e['f']} at {e['at_s']:g} s during {e['fault']}: {what}")
    for name, v in doc["checkers"].items():
        counts = ", ".join(f"{k} {n}" for k, n in sorted(v["counts"].items())) or "no anomalies"
        models = (v.get("stats") or {}).get("models")  # what a transactional check judged
        judged = f" ({', '.join(models)})" if isinstance(models, list) and models else ""
        lines.append(f"{name}{judged}: {WORD[v['valid']]} ({counts})")
        for a in v["anomalies"][:3]:
            lines.append(f"  - {a['type']}: {a['explanation']}")
        if len(v["anomalies"]) > 3:
            lines.append(f"  ... {len(v['anomalies']) - 3} more in verdict.json")
        for note in v.get("notes", []):
            lines.append(f"  note: {note}")
    c = doc.get("conflicts")
    if c:
        rej = c["certification_rejects"]
        lines.append(
            f"conflicts (peer-to-peer): {rej['count']} of {rej['of_writes']} writes refused by "
            f"certification; lost updates {c['lost_updates']['count']}, G-single "
            f"{c['g_single']['count']}, G2 {c['g2']['count']}, lost acknowledged writes "
            f"{c['lost_acknowledged_writes']['count']}"
        )
    for e in run.get("errors", []):
        lines.append(f"warning: {e}")
    lines.append(f"results: {run_dir}")
    return "\n".join(lines) + "\n"
