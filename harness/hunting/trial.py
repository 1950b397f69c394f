"""One run of a hunt or a shrink, through an injected RunFn, and the folders they keep.

RunFn is what harness.suite injects too: run a spec with the given results root and return
something with .dir, .valid and .doc (harness.runner.RunResult). A Ctrl-C during a run is
handled by the runner (it tears the cluster down and returns an aborted result); one between
runs raises KeyboardInterrupt here. Either way the loop stops after the current run."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.errors import ClusterError, SplitbrainError, one_line
from harness.spec import TestSpec
from harness.verdict import Validity

Echo = Callable[[str], None]
MAX_ERRORS_IN_A_ROW = 3  # runs that raised (the cluster did not come up...) before giving up


class RunLike(Protocol):
    dir: Path
    valid: Validity
    doc: dict[str, Any]


RunFn = Callable[[TestSpec, Path], RunLike]


@dataclass
class Outcome:
    dir: Path | None
    doc: dict[str, Any]
    seconds: float
    error: str | None = None  # the run raised: it completed nothing
    interrupted: bool = False  # Ctrl-C / SIGTERM during (or just around) it

    @property
    def completed(self) -> bool:
        return self.error is None and not self.interrupted and not self.aborted

    @property
    def aborted(self) -> str | None:
        return (self.doc.get("run") or {}).get("aborted")

    @property
    def ops(self) -> int:
        ops = (self.doc.get("run") or {}).get("ops") or {}
        return sum(int(ops.get(k, 0)) for k in ("ok", "fail", "info"))


def attempt(run_fn: RunFn, spec: TestSpec, root: Path, clock: Callable[[], float]) -> Outcome:
    """Run once. KeyboardInterrupt between runs comes back as an interrupted Outcome; a
    SplitbrainError the user must fix (bad spec, environment) is raised; any other failure
    of the run (the cluster did not come up, a bug) is this run's error."""
    t = clock()
    try:
        r = run_fn(spec, root)
    except KeyboardInterrupt:
        return Outcome(None, {}, clock() - t, interrupted=True)
    except SplitbrainError as e:
        if not isinstance(e, ClusterError) and not str(e).startswith("run aborted"):
            raise
        return Outcome(None, {}, clock() - t, error=one_line(e))
    except Exception as e:  # noqa: BLE001 - one broken run is reported, the loop goes on
        return Outcome(None, {}, clock() - t, error=f"{type(e).__name__}: {one_line(e)}")
    out = Outcome(Path(r.dir), dict(r.doc), clock() - t)
    aborted = out.aborted or ""
    out.interrupted = aborted.startswith("interrupted")
    if aborted and not out.interrupted:
        out.error = aborted
    return out


def new_dir(results_root: Path, kind: str, name: str) -> Path:
    """RESULTS/<kind>/<test-name>/<timestamp>/ (kind: hunts | shrinks)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(results_root) / kind / name
    d = base / stamp
    n = 1
    while d.exists():
        n += 1
        d = base / f"{stamp}-{n}"
    d.mkdir(parents=True)
    return d


def write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def monotonic() -> float:
    return time.monotonic()
